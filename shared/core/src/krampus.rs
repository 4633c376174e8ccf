//! The contract with Krampus, the executor: what its actions really do per resource type, the
//! task format it reads from `tasks.json`, and the merge of the judge's changes into a file
//! Krampus (and people) also write.
//!
//! Read from Krampus's `lib/krampus_tasks.py` and `kinder/*.py`: it dispatches on the ARN's
//! service (`ec2`, `s3`, `iam`, `rds`, `lambda`) and, for ec2, on its resource type (`instance`,
//! `security-group`, `volume`); it assumes a role in the ARN's account; it defers a task while
//! `action_time >= now`, comparing numbers, and drops it from the file once run.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::item::hash_parts;
use crate::rules::Remedy;
use crate::state::RiskState;

/// An action as written in a task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskAction {
    Disable,
    Kill,
}

impl TaskAction {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskAction::Disable => "disable",
            TaskAction::Kill => "kill",
        }
    }
}

/// What Krampus really does when it runs an action on a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Effect {
    /// Stops the instance; the owner can start it again.
    Stop,
    /// Revokes one IPv4 ingress rule (`cidr_range`, ports, protocol).
    RevokeIngressRule,
    /// Revokes every ingress and egress rule of the group.
    RevokeAllRules,
    /// Removes one S3 ACL grant (`s3_principal`, `s3_permission`).
    RemoveGrant,
    /// Detaches and deletes policies, removes group memberships, deletes access keys.
    StripAccess,
    /// Deletes the resource.
    Delete,
    /// Krampus refuses the action or does not understand it: never write it.
    Refused,
}

impl Effect {
    /// Cannot be undone by the owner: such a task gets the destructive grace period.
    pub fn irreversible(self) -> bool {
        matches!(
            self,
            Effect::Delete | Effect::RevokeAllRules | Effect::StripAccess
        )
    }
}

/// Krampus's handling of one resource type.
#[derive(Debug)]
pub struct KrampusKind {
    pub resource_type: &'static str,
    /// The ARN's service, which Krampus dispatches on.
    pub service: &'static str,
    /// The ARN's resource type (`arnparse`'s `resource_type`), where Krampus checks it.
    pub arn_resource_type: Option<&'static str>,
    pub disable: Effect,
    pub kill: Effect,
}

/// Every type Krampus can act on. Any other type gets no task: Krampus would drop it.
pub static KRAMPUS_KINDS: &[KrampusKind] = &[
    KrampusKind {
        resource_type: "AWS::EC2::Instance",
        service: "ec2",
        arn_resource_type: Some("instance"),
        disable: Effect::Stop,
        kill: Effect::Delete,
    },
    KrampusKind {
        resource_type: "AWS::EC2::SecurityGroup",
        service: "ec2",
        arn_resource_type: Some("security-group"),
        disable: Effect::RevokeIngressRule,
        kill: Effect::RevokeAllRules,
    },
    // Krampus's "disable" on a volume deletes it.
    KrampusKind {
        resource_type: "AWS::EC2::Volume",
        service: "ec2",
        arn_resource_type: Some("volume"),
        disable: Effect::Delete,
        kill: Effect::Delete,
    },
    // Lambda has no disable in Krampus: it deletes instead.
    KrampusKind {
        resource_type: "AWS::Lambda::Function",
        service: "lambda",
        arn_resource_type: Some("function"),
        disable: Effect::Delete,
        kill: Effect::Delete,
    },
    // "kill" on RDS is refused ("too dangerous") and dequeued.
    KrampusKind {
        resource_type: "AWS::RDS::DBInstance",
        service: "rds",
        arn_resource_type: Some("db"),
        disable: Effect::Stop,
        kill: Effect::Refused,
    },
    // S3 is disable-only: a grant removed, or every grant when none is named.
    KrampusKind {
        resource_type: "AWS::S3::Bucket",
        service: "s3",
        arn_resource_type: None,
        disable: Effect::RemoveGrant,
        kill: Effect::Refused,
    },
    KrampusKind {
        resource_type: "AWS::IAM::User",
        service: "iam",
        arn_resource_type: Some("user"),
        disable: Effect::StripAccess,
        kill: Effect::Delete,
    },
    KrampusKind {
        resource_type: "AWS::IAM::Role",
        service: "iam",
        arn_resource_type: Some("role"),
        disable: Effect::StripAccess,
        kill: Effect::Delete,
    },
    KrampusKind {
        resource_type: "AWS::IAM::Group",
        service: "iam",
        arn_resource_type: Some("group"),
        disable: Effect::StripAccess,
        kill: Effect::Delete,
    },
];

pub fn kind_of(resource_type: &str) -> Option<&'static KrampusKind> {
    KRAMPUS_KINDS
        .iter()
        .find(|k| k.resource_type == resource_type)
}

impl KrampusKind {
    pub fn effect(&self, action: TaskAction) -> Effect {
        match action {
            TaskAction::Disable => self.disable,
            TaskAction::Kill => self.kill,
        }
    }
}

/// Marks the tasks the judge owns; the judge never touches a task without it.
pub const TASK_SOURCE: &str = "justice-engine";

/// One Krampus task. The first five fields are the ones Krampus requires; the optional rule
/// and grant fields are the ones it reads per type; the rest are for people and for the
/// judge's own bookkeeping (Krampus ignores unknown keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KrampusTask {
    pub action: TaskAction,
    /// Unix seconds; Krampus acts on its first run after it.
    pub action_time: i64,
    pub aws_resource_name: String,
    pub aws_region: String,
    pub aws_object_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr_range: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proto: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_principal: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3_permission: Option<Vec<String>>,
    pub score: u32,
    /// Unix seconds of the decision that scheduled the task.
    pub audited_time: i64,
    pub aws_account: String,
    pub human_readable_name: String,
    pub issues: Vec<String>,
    pub unique_id: String,
    pub rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The `team` tag, as a filter-policy value: the digest groups tasks by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<String>,
    pub verdict_id: String,
    /// The resource key of the risk table.
    pub resource_key: String,
    pub source: String,
}

/// What a single task does, beyond the resource as a whole.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum TaskTarget {
    Resource,
    IngressRule {
        proto: String,
        from_port: i64,
        to_port: i64,
        cidr: String,
    },
    Grant {
        principal: String,
        permissions: Vec<String>,
    },
}

impl TaskTarget {
    /// The stable id of the task: the same resource, action and target always give the same id.
    pub fn unique_id(&self, resource_key: &str, action: TaskAction) -> String {
        let h = match self {
            TaskTarget::Resource => hash_parts(&[resource_key, action.as_str()]),
            TaskTarget::IngressRule {
                proto,
                from_port,
                to_port,
                cidr,
            } => hash_parts(&[
                resource_key,
                action.as_str(),
                "ingress",
                proto,
                &from_port.to_string(),
                &to_port.to_string(),
                cidr,
            ]),
            TaskTarget::Grant {
                principal,
                permissions,
            } => {
                let perms = permissions.join(",");
                hash_parts(&[resource_key, action.as_str(), "grant", principal, &perms])
            }
        };
        format!("je-{h:016x}")
    }
}

/// The ARN Krampus needs. Config's own ARN, checked against what Krampus parses out of it,
/// except for S3: a bucket's real ARN has neither region nor account, and Krampus assumes its
/// role in the ARN's account, so it is written in Krampus's documented form
/// `arn:aws:s3:<region>:<account>:<bucket>`.
pub fn task_arn(state: &RiskState, kind: &KrampusKind) -> Result<String, String> {
    if kind.service == "s3" {
        return Ok(format!(
            "arn:{}:s3:{}:{}:{}",
            partition_of(state.arn.as_deref()),
            state.region,
            state.account,
            state.resource_id
        ));
    }
    let arn = state
        .arn
        .as_deref()
        .ok_or_else(|| "Config recorded no ARN for it".to_owned())?;
    let parsed = Arn::parse(arn).ok_or_else(|| format!("its ARN `{arn}` cannot be parsed"))?;
    if parsed.service != kind.service || parsed.resource_type.as_deref() != kind.arn_resource_type {
        return Err(format!(
            "its ARN `{arn}` does not name a {} {} as Krampus expects",
            kind.service,
            kind.arn_resource_type.unwrap_or("resource")
        ));
    }
    if kind.service == "iam" && parsed.resource.contains('/') {
        // Krampus takes everything after `role/` as the name: a path would name another one.
        return Err(format!(
            "its ARN `{arn}` has an IAM path, which Krampus would read as part of the name"
        ));
    }
    if parsed.account != state.account {
        return Err(format!(
            "its ARN's account `{}` is not the resource's account {}",
            parsed.account, state.account
        ));
    }
    Ok(arn.to_owned())
}

fn partition_of(arn: Option<&str>) -> &str {
    arn.and_then(|a| a.split(':').nth(1))
        .filter(|p| !p.is_empty())
        .unwrap_or("aws")
}

/// An ARN split the way Python's `arnparse` (which Krampus uses) splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn {
    pub partition: String,
    pub service: String,
    pub region: String,
    pub account: String,
    pub resource_type: Option<String>,
    pub resource: String,
}

impl Arn {
    pub fn parse(arn: &str) -> Option<Arn> {
        let mut it = arn.splitn(6, ':');
        if it.next()? != "arn" {
            return None;
        }
        let partition = it.next()?.to_owned();
        let service = it.next()?.to_owned();
        let region = it.next()?.to_owned();
        let account = it.next()?.to_owned();
        let rest = it.next()?;
        // arnparse: "type/resource" or "type:resource"; otherwise the whole is the resource.
        let (resource_type, resource) = match rest.find(['/', ':']) {
            Some(i) => (Some(rest[..i].to_owned()), rest[i + 1..].to_owned()),
            None => (None, rest.to_owned()),
        };
        if service.is_empty() || resource.is_empty() {
            return None;
        }
        Some(Arn {
            partition,
            service,
            region,
            account,
            resource_type,
            resource,
        })
    }
}

/// The targets of an action on a resource: one per offending IPv4 ingress rule for a
/// security-group disable, one per public grant for an S3 disable, the resource otherwise.
/// `Err` says why Krampus cannot carry the action out.
pub fn targets(state: &RiskState, effect: Effect) -> Result<Vec<TaskTarget>, String> {
    let mut out = BTreeSet::new();
    match effect {
        Effect::Refused => return Err("Krampus refuses that action on this type".into()),
        Effect::RevokeIngressRule => {
            let mut ipv6 = false;
            for f in &state.findings {
                for r in &f.finding.remedies {
                    if let Remedy::RevokeIngress {
                        proto,
                        from_port,
                        to_port,
                        cidr,
                    } = r
                    {
                        if cidr.contains(':') {
                            ipv6 = true;
                            continue;
                        }
                        // Config omits the ports of "all traffic" and of some ICMP rules; -1 is
                        // what the EC2 API takes for "all" there.
                        out.insert(TaskTarget::IngressRule {
                            proto: proto.clone(),
                            from_port: from_port.unwrap_or(-1),
                            to_port: to_port.unwrap_or(-1),
                            cidr: cidr.clone(),
                        });
                    }
                }
            }
            if out.is_empty() {
                return Err(if ipv6 {
                    "its open rules are IPv6, and Krampus revokes IPv4 rules only".into()
                } else {
                    "no finding names a rule Krampus could revoke".into()
                });
            }
        }
        Effect::RemoveGrant => {
            for f in &state.findings {
                for r in &f.finding.remedies {
                    if let Remedy::RemoveS3Grant {
                        principal,
                        permissions,
                    } = r
                    {
                        let mut permissions = permissions.clone();
                        permissions.sort();
                        permissions.dedup();
                        out.insert(TaskTarget::Grant {
                            principal: principal.clone(),
                            permissions,
                        });
                    }
                }
            }
            if out.is_empty() {
                // Without a grant Krampus removes every grant, the owner's too, and still
                // would not fix a bucket policy: the owner must.
                return Err("no public ACL grant: Krampus cannot fix a bucket policy".into());
            }
        }
        _ => {
            out.insert(TaskTarget::Resource);
        }
    }
    Ok(out.into_iter().collect())
}

/// `tasks.json` as read: the `tasks` list and every other top-level key, kept as they are.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TasksFile {
    pub tasks: Vec<Value>,
    pub rest: Map<String, Value>,
}

impl TasksFile {
    /// A file the judge cannot read is never overwritten: the caller fails and retries.
    pub fn parse(bytes: &[u8]) -> Result<TasksFile, String> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(mut rest) = v else {
            return Err("not a JSON object".into());
        };
        let tasks = match rest.remove("tasks") {
            Some(Value::Array(t)) => t,
            None => Vec::new(),
            Some(_) => return Err("`tasks` is not a list".into()),
        };
        Ok(TasksFile { tasks, rest })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.rest.clone();
        out.insert("tasks".into(), Value::Array(self.tasks.clone()));
        match serde_json::to_vec_pretty(&Value::Object(out)) {
            Ok(b) => b,
            // A Value always serializes.
            Err(_) => b"{\"tasks\":[]}".to_vec(),
        }
    }

    /// The judge's tasks in the file, by resource key: unique id → action_time.
    pub fn ours(&self) -> BTreeMap<String, BTreeMap<String, i64>> {
        let mut out: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
        for t in &self.tasks {
            if t.get("source").and_then(Value::as_str) != Some(TASK_SOURCE) {
                continue;
            }
            let (Some(id), Some(at), Some(key)) = (
                t.get("unique_id").and_then(Value::as_str),
                t.get("action_time").and_then(Value::as_i64),
                t.get("resource_key").and_then(Value::as_str),
            ) else {
                continue;
            };
            out.entry(key.to_owned())
                .or_default()
                .insert(id.to_owned(), at);
        }
        out
    }

    fn has_ours(&self, id: &str) -> bool {
        self.tasks.iter().any(|t| {
            t.get("source").and_then(Value::as_str) == Some(TASK_SOURCE)
                && t.get("unique_id").and_then(Value::as_str) == Some(id)
        })
    }

    /// Removes the judge's tasks named in `remove` and adds `add` (unless a task with that id
    /// is already there). Everything else stays as it was. True when the file changed.
    pub fn apply(&mut self, remove: &BTreeSet<String>, add: &[KrampusTask]) -> bool {
        let before = self.tasks.len();
        self.tasks.retain(|t| {
            let ours = t.get("source").and_then(Value::as_str) == Some(TASK_SOURCE);
            let id = t.get("unique_id").and_then(Value::as_str);
            !(ours && id.is_some_and(|id| remove.contains(id)))
        });
        let mut changed = self.tasks.len() != before;
        for task in add {
            if self.has_ours(&task.unique_id) {
                continue;
            }
            if let Ok(v) = serde_json::to_value(task) {
                self.tasks.push(v);
                changed = true;
            }
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_split_as_arnparse_does() {
        let a =
            Arn::parse("arn:aws:ec2:us-east-1:123456789012:security-group/sg-1").expect("valid");
        assert_eq!(
            (
                a.service.as_str(),
                a.resource_type.as_deref(),
                a.resource.as_str()
            ),
            ("ec2", Some("security-group"), "sg-1")
        );
        let l = Arn::parse("arn:aws:lambda:us-east-1:123456789012:function:f").expect("valid");
        assert_eq!(l.resource_type.as_deref(), Some("function"));
        let s = Arn::parse("arn:aws:s3:::bucket").expect("valid");
        assert_eq!((s.account.as_str(), s.resource_type), ("", None));
        let i = Arn::parse("arn:aws:iam::123456789012:role/path/r").expect("valid");
        assert_eq!(
            (i.resource_type.as_deref(), i.resource.as_str()),
            (Some("role"), "path/r")
        );
        assert!(Arn::parse("not:an:arn").is_none());
    }

    #[test]
    fn the_file_keeps_what_the_judge_did_not_write() {
        let mut f = TasksFile::parse(
            br#"{"tasks":[{"action":"kill","action_time":1,"aws_resource_name":"x","unique_id":"je-1"},
                {"source":"justice-engine","unique_id":"je-2","action_time":5,"resource_key":"k"}],"note":"hand"}"#,
        )
        .expect("valid");
        let ours = f.ours();
        assert_eq!(ours.len(), 1);
        assert_eq!(ours["k"].get("je-2"), Some(&5));
        // A hand-added task that happens to carry one of our ids is not ours.
        let changed = f.apply(&["je-1".to_owned(), "je-2".to_owned()].into(), &[]);
        assert!(changed);
        assert_eq!(f.tasks.len(), 1);
        assert_eq!(f.rest.get("note"), Some(&Value::String("hand".into())));
        assert!(TasksFile::parse(b"[]").is_err());
        assert!(TasksFile::parse(br#"{"tasks":{}}"#).is_err());
    }
}
