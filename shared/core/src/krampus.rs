//! The contract with Krampus, the executor: what its actions really do per resource type, the
//! task format it reads from `tasks.json`, and the merge of the judge's changes into a file
//! Krampus (and people) also write.
//!
//! Read from Krampus 0.3.8's own code (`lib/krampus_tasks.py`, `kinder/*.py`) and checked by
//! running it against moto: it dispatches on the ARN alone (arnparse: service, account,
//! region, name); it assumes its role in the ARN's account for every due task before running
//! any, so one malformed account stops every run; it defers a task while
//! `action_time >= now`; and it writes back every task it ran successfully (its success log
//! line raises), so a task runs again on every run until someone removes it. The judge removes
//! a task once a Config item shows its effect (`effects_shown`).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::identity::{self, Arn};
use crate::item::{hash_parts, ConfigItem};
use crate::rules::Remedy;
use crate::state::RiskState;
use crate::text::quote;
pub use crate::types::{Effect, KrampusKind, TaskAction};
use crate::{refuse, Refused};

/// Marks the tasks the judge owns; the judge never touches a task without it.
pub const TASK_SOURCE: &str = "justice-engine";

/// One Krampus task. The first five fields are the ones Krampus requires; the optional rule
/// and grant fields are the ones it reads per type; the rest are for people and for the
/// judge's own bookkeeping (Krampus ignores unknown keys).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KrampusTask {
    pub action: TaskAction,
    /// Unix seconds; Krampus acts on its first run after it.
    pub action_time: i64,
    pub aws_resource_name: String,
    pub aws_region: String,
    pub aws_object_type: String,
    pub cidr_range: Option<String>,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub proto: Option<String>,
    pub s3_principal: Option<String>,
    pub s3_permission: Option<Vec<String>>,
    pub score: u32,
    /// Unix seconds of the decision that scheduled the task.
    pub audited_time: i64,
    pub aws_account: String,
    pub human_readable_name: String,
    pub issues: Vec<String>,
    pub unique_id: String,
    pub rules: Vec<String>,
    pub owner: Option<String>,
    /// The `team` tag, as a filter-policy value: the digest groups tasks by it.
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
    /// The stable id of the task: the same resource, name (the task's ARN), action and target
    /// always give the same id. A renamed resource (an RDS instance, an IAM user) gets tasks
    /// with other ids: the task written under the old name, which another resource may take
    /// next, is withdrawn, never left for Krampus to run.
    pub fn unique_id(&self, resource_key: &str, arn: &str, action: TaskAction) -> String {
        let h = match self {
            TaskTarget::Resource => hash_parts(&[resource_key, arn, action.as_str()]),
            TaskTarget::IngressRule {
                proto,
                from_port,
                to_port,
                cidr,
            } => hash_parts(&[
                resource_key,
                arn,
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
                hash_parts(&[
                    resource_key,
                    arn,
                    action.as_str(),
                    "grant",
                    principal,
                    &perms,
                ])
            }
        };
        format!("je-{h:016x}")
    }
}

/// The ARN written in a task, built from the resource's checked identity (never copied from
/// the event): Krampus reads the service, account, region and name from it alone. S3 uses
/// Krampus's documented form `arn:aws:s3:<region>:<account>:<bucket>`, because a bucket's
/// real ARN has no account and Krampus assumes its role in the ARN's account. `Err` says why
/// Krampus cannot be given a task for this resource.
pub fn task_arn(state: &RiskState) -> Result<String, Refused> {
    let shape = crate::types::arn_shape(&state.resource_type)
        .ok_or_else(|| format!("Krampus has no action for {}", state.resource_type))?;
    let who = identity::Named {
        account: &state.account,
        region: &state.region,
        resource_type: &state.resource_type,
        resource_id: &state.resource_id,
        resource_name: state.resource_name.as_deref(),
    };
    let name = who.arn_name(shape).ok_or_else(|| {
        "Config recorded no name for it, and Krampus names it by its name".to_owned()
    })?;
    if !name_ok(&state.resource_type, name) {
        return refuse(format!(
            "its name `{}` is not one Krampus can act on safely",
            quote(name, 80)
        ));
    }
    // Config's ARN was checked at intake to name this resource; checked again here, as the
    // state may come from a store. An IAM ARN's path is left out of the task: Krampus reads
    // everything after `role/` as the name, and an IAM name is unique in its account whatever
    // its path.
    if let Some(arn) = state.arn.as_deref() {
        identity::check_config_arn(arn, &who)
            .map_err(|e| format!("its ARN is inconsistent: {e}"))?;
    }
    let config = state.arn.as_deref().and_then(Arn::parse);
    let partition = identity::partition_of(&state.region)
        .or_else(|| {
            config
                .as_ref()
                .map(|a| a.partition)
                .and_then(|p| identity::PARTITIONS.iter().copied().find(|k| *k == p))
        })
        .unwrap_or("aws");
    let (region, account) = (&state.region, &state.account);
    Ok(match (shape.service, shape.arn_type) {
        ("iam", Some(t)) => format!("arn:{partition}:iam::{account}:{t}/{name}"),
        (service, Some(t)) => format!(
            "arn:{partition}:{service}:{region}:{account}:{t}{}{name}",
            shape.separator
        ),
        (service, None) => format!("arn:{partition}:{service}:{region}:{account}:{name}"),
    })
}

/// The names Krampus is given: each type's own naming rules, and nothing a CSV, arnparse or a
/// wildcard match could read as more than one name. EC2 ids carry their type's prefix.
fn name_ok(resource_type: &str, name: &str) -> bool {
    let all = |f: fn(u8) -> bool| name.bytes().all(f);
    let hex_id = |prefix: &str| {
        name.strip_prefix(prefix).is_some_and(|h| {
            (8..=17).contains(&h.len())
                && h.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    };
    let first_last_alnum = |n: &str| {
        n.as_bytes().first().is_some_and(u8::is_ascii_alphanumeric)
            && n.as_bytes().last().is_some_and(u8::is_ascii_alphanumeric)
    };
    match resource_type {
        "AWS::EC2::Instance" => hex_id("i-"),
        "AWS::EC2::SecurityGroup" => hex_id("sg-"),
        "AWS::EC2::Volume" => hex_id("vol-"),
        "AWS::Lambda::Function" => {
            (1..=64).contains(&name.len())
                && all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        }
        "AWS::RDS::DBInstance" => {
            (1..=63).contains(&name.len())
                && name.as_bytes()[0].is_ascii_alphabetic()
                && all(|b| b.is_ascii_alphanumeric() || b == b'-')
        }
        // Buckets made before 2018 in us-east-1 may hold capitals and underscores.
        "AWS::S3::Bucket" => {
            (3..=255).contains(&name.len())
                && all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
                && first_last_alnum(name)
        }
        "AWS::IAM::User" | "AWS::IAM::Role" | "AWS::IAM::Group" => {
            (1..=128).contains(&name.len())
                && all(|b| b.is_ascii_alphanumeric() || b"+=.@_-".contains(&b))
        }
        _ => false,
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
            let remedies = state.findings.iter().flat_map(|f| &f.finding.remedies);
            let rules: Vec<&Remedy> = remedies
                .filter(|r| matches!(r, Remedy::RevokeIngress { .. }))
                .collect();
            out.extend(rules.iter().filter_map(|r| target_of(r)));
            if out.is_empty() {
                return Err(if !rules.is_empty() {
                    "its open rules are IPv6, and Krampus revokes IPv4 rules only".into()
                } else {
                    "no finding names a rule Krampus could revoke".into()
                });
            }
        }
        Effect::RemoveGrant => {
            out.extend(
                state
                    .findings
                    .iter()
                    .flat_map(|f| &f.finding.remedies)
                    .filter(|r| matches!(r, Remedy::RemoveS3Grant { .. }))
                    .filter_map(target_of),
            );
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

/// The task target that carries out one remedy, as Krampus is given it: `None` for an IPv6
/// rule (Krampus revokes IPv4 rules only).
pub fn target_of(remedy: &Remedy) -> Option<TaskTarget> {
    match remedy {
        Remedy::RevokeIngress {
            proto,
            from_port,
            to_port,
            cidr,
        } => {
            if cidr.contains(':') {
                return None;
            }
            // Config omits the ports of "all traffic" and of some ICMP rules; -1 is what the
            // EC2 API takes for "all" there. Protocol numbers are written by name, as EC2
            // reports them and the gate expects.
            let proto = match proto.to_ascii_lowercase().as_str() {
                "6" => "tcp".to_owned(),
                "17" => "udp".to_owned(),
                "1" => "icmp".to_owned(),
                "all" => "-1".to_owned(),
                p => p.to_owned(),
            };
            // All traffic is revoked with ports -1, whatever Config recorded.
            let all = proto == "-1";
            Some(TaskTarget::IngressRule {
                proto,
                from_port: if all { -1 } else { from_port.unwrap_or(-1) },
                to_port: if all { -1 } else { to_port.unwrap_or(-1) },
                cidr: cidr.clone(),
            })
        }
        Remedy::RemoveS3Grant {
            principal,
            permissions,
        } => {
            let mut permissions = permissions.clone();
            permissions.sort();
            permissions.dedup();
            Some(TaskTarget::Grant {
                principal: principal.clone(),
                permissions,
            })
        }
    }
}

/// S3's names of ACL permissions, which Krampus compares exactly (AWS Config spells them
/// `Read`, `Write`, `ReadAcp`, `WriteAcp`, `FullControl`).
pub const S3_PERMISSIONS: &[&str] = &["READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"];

/// The grantees of a public ACL grant, as Krampus matches them (`Group` grantees by URI).
pub const S3_PUBLIC_GRANTEES: &[&str] = &[
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
];

/// The services Krampus dispatches on (`SERVICES` in `lib/krampus_tasks.py`).
pub const SERVICES: &[&str] = &["ec2", "s3", "iam", "rds", "lambda"];

/// Checks a task exactly as Krampus will read it, before it is ever written: the fields it
/// needs, the ARN as `arnparse` splits it (service and type it dispatches on, a 12-digit
/// account on the allowed list in which it will assume its role, the region), the ARN being
/// the one derived from this resource's own identity, and each type's parameters (a canonical
/// IPv4 range, whole ports in range, S3's permission names). A task that fails is never
/// written. `Err` says why, naming the field. One check after another, in the order Krampus
/// reads the task: long, and kept in one place so that the contract reads as one.
pub fn gate(task: &Value, accounts: &[String], state: &RiskState) -> Result<(), Refused> {
    let obj = task.as_object().ok_or("the task is not a JSON object")?;
    // The state's fields are the ones its key was built from (a state read back from a store
    // is checked again here).
    let (account, region, resource_type, id) = state.key.parts();
    if (account, region, resource_type, id)
        != (
            state.account.as_str(),
            state.region.as_str(),
            state.resource_type.as_str(),
            state.resource_id.as_str(),
        )
    {
        return refuse("the state's identity is not its key's");
    }
    let text = |k: &str| obj.get(k).and_then(Value::as_str);
    let int = |k: &str| obj.get(k).filter(|v| v.is_i64()).and_then(Value::as_i64);
    let action = text("action").ok_or("`action` is missing")?;
    if !matches!(action, "kill" | "disable") {
        return refuse(format!(
            "`action` `{}` is neither kill nor disable",
            quote(action, 20)
        ));
    }
    if int("action_time").is_none_or(|t| t <= 0) {
        return refuse("`action_time` is not a whole number of Unix seconds");
    }
    let arn_text = text("aws_resource_name").ok_or("`aws_resource_name` is missing")?;
    plain("aws_resource_name", arn_text)?;
    let expected = task_arn(state)?;
    if arn_text != expected {
        return refuse(format!(
            "`aws_resource_name` `{}` is not the ARN of this resource ({expected})",
            quote(arn_text, 200)
        ));
    }
    let arn = Arn::parse(arn_text).ok_or("`aws_resource_name` does not parse as an ARN")?;
    let shape = crate::types::arn_shape(&state.resource_type)
        .ok_or_else(|| format!("Krampus has no action for {}", state.resource_type))?;
    if !SERVICES.contains(&arn.service) || arn.service != shape.service {
        return refuse(format!(
            "Krampus would not dispatch service `{}`",
            arn.service
        ));
    }
    if shape.service != "s3" && arn.resource_type != shape.arn_type {
        return refuse("Krampus would not dispatch the ARN's resource type");
    }
    let account = arn
        .account
        .ok_or("the ARN has no account for Krampus to assume its role in")?;
    identity::check_account("account", account).map_err(|e| e.to_string())?;
    if account != state.account || !accounts.iter().any(|a| a == account) {
        return refuse(format!(
            "account {account} is not one the engine may act in"
        ));
    }
    let region = match shape.service {
        "iam" => None,
        _ => Some(state.region.as_str()),
    };
    if arn.region != region {
        return refuse("the ARN's region is not the resource's");
    }
    // Krampus calls the ARN's region's endpoint: a regional type needs a real region there.
    if region == Some("global") {
        return refuse(format!("{} is regional, not global", state.resource_type));
    }
    if text("aws_region") != Some(state.region.as_str())
        || text("aws_object_type") != Some(shape.service)
    {
        return refuse("`aws_region` or `aws_object_type` does not match the ARN");
    }
    let kind =
        crate::types::kind_of(&state.resource_type).ok_or("Krampus has no action for this type")?;
    let written = if action == "kill" {
        TaskAction::Kill
    } else {
        TaskAction::Disable
    };
    let effect = kind.effect(written);
    if effect == Effect::Refused {
        return refuse(format!(
            "Krampus refuses `{action}` on {}",
            state.resource_type
        ));
    }
    if effect == Effect::Delete && written == TaskAction::Disable {
        return refuse("Krampus's `disable` deletes this type: the task must say kill");
    }
    match effect {
        Effect::RevokeIngressRule => gate_rule(obj),
        Effect::RemoveGrant => gate_grant(obj),
        _ => Ok(()),
    }
}

/// Text Krampus reads as one name: no whitespace, control character, wildcard, comma, quote
/// or escape.
fn plain(field: &str, s: &str) -> Result<(), Refused> {
    match s
        .chars()
        .find(|&c| c.is_whitespace() || crate::text::is_hidden(c) || "*?[],\\\"'".contains(c))
    {
        Some(c) => refuse(format!("`{field}` holds {c:?}")),
        None => Ok(()),
    }
}

/// What part of its resource a task of `tasks.json` touches, as people read it: `tcp/22-22
/// from 0.0.0.0/0` (an ingress rule), `grant of <grantee>` (an S3 grant); `None` for the whole
/// resource. The task's own text: quote it where it is shown.
pub fn target_text(task: &Value) -> Option<String> {
    let s = |k: &str| task.get(k).and_then(Value::as_str).unwrap_or("");
    let n = |k: &str| task.get(k).unwrap_or(&Value::Null).to_string();
    if task.get("cidr_range").is_some() {
        Some(format!(
            "{}/{}-{} from {}",
            s("proto"),
            n("from_port"),
            n("to_port"),
            s("cidr_range")
        ))
    } else if task.get("s3_principal").is_some() {
        Some(format!("grant of {}", s("s3_principal")))
    } else {
        None
    }
}

/// A security-group rule revocation: `proto`, a canonical IPv4 `cidr_range` (Krampus revokes
/// IPv4 only) and whole ports as EC2 takes them.
fn gate_rule(obj: &Map<String, Value>) -> Result<(), Refused> {
    let proto = obj
        .get("proto")
        .and_then(Value::as_str)
        .ok_or("`proto` is missing")?;
    let cidr = obj
        .get("cidr_range")
        .and_then(Value::as_str)
        .ok_or("`cidr_range` is missing")?;
    plain("cidr_range", cidr)?;
    if canonical_ipv4(cidr).as_deref() != Some(cidr) {
        return refuse(format!(
            "`cidr_range` `{}` is not a canonical IPv4 range",
            quote(cidr, 60)
        ));
    }
    let port = |k: &str| -> Result<i64, Refused> {
        match obj.get(k) {
            Some(v @ Value::Number(_)) if v.is_i64() => Ok(v.as_i64().unwrap_or_default()),
            _ => refuse(format!("`{k}` is not a whole number")),
        }
    };
    let (from, to) = (port("from_port")?, port("to_port")?);
    match proto {
        "-1" if from == -1 && to == -1 => Ok(()),
        "-1" => refuse("an all-traffic rule is revoked with ports -1"),
        "icmp" if (-1..=255).contains(&from) && (-1..=255).contains(&to) => Ok(()),
        "tcp" | "udp" if (0..=65535).contains(&from) && (0..=65535).contains(&to) && from <= to => {
            Ok(())
        }
        "icmp" | "tcp" | "udp" => refuse(format!("ports {from}-{to} are not valid for {proto}")),
        other => refuse(format!(
            "`proto` `{}` is not tcp, udp, icmp or -1",
            quote(other, 20)
        )),
    }
}

/// An S3 grant removal: a public grantee and S3's permission names.
fn gate_grant(obj: &Map<String, Value>) -> Result<(), Refused> {
    let principal = obj
        .get("s3_principal")
        .and_then(Value::as_str)
        .ok_or("`s3_principal` is missing: Krampus would remove every grant")?;
    if !S3_PUBLIC_GRANTEES.contains(&principal) {
        return refuse(format!(
            "`s3_principal` `{}` is not a public group",
            quote(principal, 80)
        ));
    }
    let perms = obj
        .get("s3_permission")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or("`s3_permission` is not a list of permissions")?;
    for p in perms {
        match p.as_str() {
            Some(p) if S3_PERMISSIONS.contains(&p) => {}
            _ => {
                return refuse(format!(
                    "`s3_permission` {p} is not one of S3's names {S3_PERMISSIONS:?}, which Krampus compares exactly"
                ))
            }
        }
    }
    Ok(())
}

/// `a.b.c.d/n` with its host bits clear, in the one spelling EC2 reports; `None` when `s` is
/// not an IPv4 range.
pub fn canonical_ipv4(s: &str) -> Option<String> {
    let (addr, len) = s.split_once('/')?;
    let len: u32 = (!len.is_empty() && len.len() <= 2 && len.bytes().all(|b| b.is_ascii_digit()))
        .then(|| len.parse().ok())
        .flatten()
        .filter(|l| *l <= 32)?;
    let mut ip: u32 = 0;
    let octets: Vec<&str> = addr.split('.').collect();
    if octets.len() != 4 {
        return None;
    }
    for o in octets {
        if o.is_empty() || o.len() > 3 || !o.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        ip = (ip << 8) | o.parse::<u8>().ok()? as u32;
    }
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    let net = ip & mask;
    Some(format!(
        "{}.{}.{}.{}/{len}",
        net >> 24,
        (net >> 16) & 0xff,
        (net >> 8) & 0xff,
        net & 0xff
    ))
}

/// The entries of a tasks file that would stop Krampus's whole run, every run (it reads and
/// prepares every due task before it runs any, and one it cannot read raises), or that it
/// would never run as written. Everyone's tasks are checked, not only the judge's: one bad
/// hand-written task stops all remediation.
pub fn hazards(file: &TasksFile) -> Vec<String> {
    file.with_derived(|d| d.hazards.as_ref().clone())
}

/// What is wrong, for Krampus, with task `i` of a file.
fn task_hazards(i: usize, t: &Value, out: &mut Vec<String>) {
    let Some(obj) = t.as_object() else {
        out.push(format!(
            "task {i} is not an object: Krampus's run stops on it"
        ));
        return;
    };
    let name = obj.get("aws_resource_name");
    // The label is built only for a task found wrong: the file may hold thousands.
    let mut why = |what: &str| {
        let label = name
            .and_then(Value::as_str)
            .map_or_else(|| "?".to_owned(), |n| quote(n, 200));
        out.push(format!("task {i} ({label}): {what}"));
    };
    match name {
        Some(Value::String(arn)) => match Arn::parse(arn) {
            None => {
                why("`aws_resource_name` is not an ARN arnparse reads: Krampus's run stops on it")
            }
            Some(a) => {
                if a.account
                    .is_none_or(|acct| identity::check_account("a", acct).is_err())
                {
                    why("the ARN has no 12-digit account: Krampus's run stops when it is due (AssumeRole fails)");
                }
            }
        },
        _ => why("no `aws_resource_name` string: Krampus's run stops on it"),
    }
    match obj.get("action_time") {
        None => why("no `action_time`: Krampus's run stops on it"),
        Some(Value::Number(_)) => {}
        Some(_) => why("`action_time` is not a number: Krampus never runs it (or stops on it)"),
    }
    if !obj.get("action").is_some_and(Value::is_string) {
        why("no `action`: Krampus's run stops when it is due");
    }
}

/// What a configuration item shows of Krampus's actions on the resource: how the judge knows a
/// task has taken effect (Krampus re-queues the tasks it ran, so it cannot tell).
pub fn effects_shown(item: &ConfigItem) -> Vec<Effect> {
    if item.status.is_deletion() {
        return vec![
            Effect::Stop,
            Effect::RevokeIngressRule,
            Effect::RevokeAllRules,
            Effect::RemoveGrant,
            Effect::StripAccess,
            Effect::Delete,
        ];
    }
    let text = |ptr: &str| {
        item.configuration
            .as_ref()
            .and_then(|c| c.pointer(ptr))
            .and_then(Value::as_str)
    };
    let empty = |key: &str| {
        item.config(key)
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
    };
    match item.resource_type.as_str() {
        "AWS::EC2::Instance" => match text("/state/name") {
            Some("stopping" | "stopped") => vec![Effect::Stop],
            Some("shutting-down" | "terminated") => vec![Effect::Stop, Effect::Delete],
            _ => vec![],
        },
        "AWS::RDS::DBInstance" => match text("/dBInstanceStatus") {
            Some("stopping" | "stopped") => vec![Effect::Stop],
            _ => vec![],
        },
        "AWS::EC2::SecurityGroup" if empty("ipPermissions") && empty("ipPermissionsEgress") => {
            vec![Effect::RevokeAllRules]
        }
        "AWS::IAM::User"
            if empty("attachedManagedPolicies")
                && empty("userPolicyList")
                && empty("groupList") =>
        {
            vec![Effect::StripAccess]
        }
        "AWS::IAM::Role" if empty("attachedManagedPolicies") && empty("rolePolicyList") => {
            vec![Effect::StripAccess]
        }
        "AWS::IAM::Group" if empty("attachedManagedPolicies") && empty("groupPolicyList") => {
            vec![Effect::StripAccess]
        }
        _ => vec![],
    }
}

/// What Krampus's action does besides its purpose, as its code does it, for the owner's
/// notice and the verdict record.
pub fn side_effects(resource_type: &str, effect: Effect) -> &'static str {
    match (resource_type, effect) {
        (_, Effect::RemoveGrant) => {
            "Krampus rewrites the bucket ACL keeping only the other group grants: every grant to an \
             account or canonical user, the owner's FULL_CONTROL included, is dropped too"
        }
        ("AWS::RDS::DBInstance", Effect::Stop) => {
            "if the instance cannot be stopped (already stopped, a read replica, some Multi-AZ \
             setups), Krampus replaces its VPC security groups with sg-c6d41cae, a group hard-coded \
             in Krampus"
        }
        ("AWS::EC2::Volume", Effect::Delete) => {
            "a volume attached to an instance: Krampus stops the instance, then detaches and \
             deletes the volume on its next run"
        }
        (_, Effect::RevokeAllRules) => {
            "egress rules included: what runs behind the group loses its outbound access too"
        }
        ("AWS::IAM::User", Effect::StripAccess) => {
            "inline policies deleted, managed policies detached, group memberships removed, \
             access keys and signing certificates deleted"
        }
        ("AWS::IAM::Role", Effect::StripAccess) => {
            "inline policies deleted, managed policies detached, the role removed from its \
             instance profiles"
        }
        ("AWS::IAM::Group", Effect::StripAccess) => {
            "members removed, inline policies deleted, managed policies detached"
        }
        _ => "",
    }
}

/// `tasks.json` as read: the `tasks` list and every other top-level key, kept as they are.
/// Each task is shared, so that a copy of the file (a board's cache, the judge's working copy)
/// costs a pointer a task.
#[derive(Debug, Clone, Default)]
pub struct TasksFile {
    pub tasks: Vec<Arc<Value>>,
    pub rest: Map<String, Value>,
    /// What was last worked out of a task list (see [`Derived`]), shared by the copies of the
    /// file: the board's cache and the judge's working copy hand it on from batch to batch.
    derived: Arc<Mutex<Option<Derived>>>,
}

/// The judge's tasks in a file, by resource key: unique id → action time.
pub type Ours = BTreeMap<String, BTreeMap<String, i64>>;

/// What the judge reads out of the whole task list every batch (its own tasks, the hazards),
/// kept with the file and brought up to date by [`TasksFile::apply`], so that a batch costs
/// what it changes rather than what the file holds. It belongs to the list it was worked out
/// of: it holds those very tasks (shared, so that no other task can take their addresses) and
/// is used only for a file whose list is that list, task for task; any other list (a copy
/// changed apart, or through the public field) has it worked out again.
#[derive(Debug)]
struct Derived {
    tasks: Vec<Arc<Value>>,
    ours: Arc<Ours>,
    /// The unique ids of the judge's tasks, well formed or not: what `apply` does not add twice.
    ids: HashSet<String>,
    hazards: Arc<Vec<String>>,
}

impl Derived {
    fn of(tasks: &[Arc<Value>]) -> Derived {
        let mut d = Derived {
            tasks: Vec::with_capacity(tasks.len()),
            ours: Arc::default(),
            ids: HashSet::new(),
            hazards: Arc::default(),
        };
        d.extend(tasks);
        d
    }

    /// Takes in tasks appended to the list.
    fn extend(&mut self, new: &[Arc<Value>]) {
        let ours = Arc::make_mut(&mut self.ours);
        let hazards = Arc::make_mut(&mut self.hazards);
        for t in new {
            // The task first: were anything below to panic, the memory would no longer match
            // the file's list (one task longer) and would be worked out again.
            let i = self.tasks.len();
            self.tasks.push(Arc::clone(t));
            task_hazards(i, t, hazards);
            if let Some(id) = our_id(t) {
                self.ids.insert(id.to_owned());
            }
            if let Some((key, id, at)) = our_entry(t) {
                ours.entry(key.to_owned())
                    .or_default()
                    .insert(id.to_owned(), at);
            }
        }
    }

    fn is_of(&self, tasks: &[Arc<Value>]) -> bool {
        self.tasks.len() == tasks.len()
            && self.tasks.iter().zip(tasks).all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

/// The unique id of a task of the judge's.
fn our_id(t: &Value) -> Option<&str> {
    if t.get("source").and_then(Value::as_str) != Some(TASK_SOURCE) {
        return None;
    }
    t.get("unique_id").and_then(Value::as_str)
}

/// (resource key, unique id, action time) of a well-formed task of the judge's.
fn our_entry(t: &Value) -> Option<(&str, &str, i64)> {
    let id = our_id(t)?;
    Some((
        t.get("resource_key").and_then(Value::as_str)?,
        id,
        t.get("action_time").and_then(Value::as_i64)?,
    ))
}

impl PartialEq for TasksFile {
    fn eq(&self, other: &Self) -> bool {
        self.tasks == other.tasks && self.rest == other.rest
    }
}

/// The `tasks` list, written as the values it holds.
struct TaskList<'a>(&'a [Arc<Value>]);

impl Serialize for TaskList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|t| &**t))
    }
}

impl Serialize for TasksFile {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.rest.len() + 1))?;
        let mut tasks_written = false;
        for (k, v) in &self.rest {
            // `rest` never holds `tasks` (parse takes it out), and its keys are sorted.
            if k.as_str() == "tasks" {
                continue;
            }
            if !tasks_written && k.as_str() > "tasks" {
                map.serialize_entry("tasks", &TaskList(&self.tasks))?;
                tasks_written = true;
            }
            map.serialize_entry(k, v)?;
        }
        if !tasks_written {
            map.serialize_entry("tasks", &TaskList(&self.tasks))?;
        }
        map.end()
    }
}

impl TasksFile {
    /// A file the judge cannot read is never overwritten: the caller fails and retries.
    pub fn parse(bytes: &[u8]) -> Result<TasksFile, Refused> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(mut rest) = v else {
            return refuse("not a JSON object");
        };
        let tasks = match rest.remove("tasks") {
            Some(Value::Array(t)) => t.into_iter().map(Arc::new).collect(),
            None => Vec::new(),
            Some(_) => return refuse("`tasks` is not a list"),
        };
        Ok(TasksFile::new(tasks, rest))
    }

    /// A file of these tasks and other top-level keys (`rest` holds no `tasks`).
    pub fn new(tasks: Vec<Arc<Value>>, rest: Map<String, Value>) -> TasksFile {
        TasksFile {
            tasks,
            rest,
            derived: Arc::default(),
        }
    }

    /// `f` over what is worked out of the list as it is now: remembered, or worked out again
    /// (and remembered) when the memory is of another list.
    fn with_derived<R>(&self, f: impl FnOnce(&mut Derived) -> R) -> R {
        // A panic cannot leave a memory that passes `is_of` for a list it does not describe:
        // `apply` changes it only after the list is final.
        let mut memo = self.derived.lock().unwrap_or_else(PoisonError::into_inner);
        match memo.as_mut() {
            Some(d) if d.is_of(&self.tasks) => f(d),
            _ => f(memo.insert(Derived::of(&self.tasks))),
        }
    }

    /// The file as the JSON object it was read from, keys in order (as `Value` writes them),
    /// without copying the tasks: the file may hold thousands.
    pub fn to_bytes(&self) -> Vec<u8> {
        match serde_json::to_vec_pretty(self) {
            Ok(b) => b,
            // Values and strings always serialize.
            Err(_) => b"{\"tasks\":[]}".to_vec(),
        }
    }

    /// The judge's tasks in the file, by resource key: unique id → action_time.
    pub fn ours(&self) -> Arc<Ours> {
        self.with_derived(|d| Arc::clone(&d.ours))
    }

    /// Removes the judge's tasks named in `remove` and adds `add` (unless a task with that id
    /// is already there). Everything else stays as it was. True when the file changed.
    pub fn apply(&mut self, remove: &BTreeSet<String>, add: &[KrampusTask]) -> bool {
        let memo = Arc::clone(&self.derived);
        let mut memo = memo.lock().unwrap_or_else(PoisonError::into_inner);
        let before = self.tasks.len();
        if !remove.is_empty() {
            self.tasks
                .retain(|t| !our_id(t).is_some_and(|id| remove.contains(id)));
        }
        let removed = self.tasks.len() != before;
        // What was worked out before stands for the tasks that stayed when none left (the
        // usual batch); after a withdrawal it is worked out again.
        let d = match memo.as_mut() {
            Some(d) if !removed && d.is_of(&self.tasks) => d,
            _ => memo.insert(Derived::of(&self.tasks)),
        };
        let kept = self.tasks.len();
        let mut seen = HashSet::new();
        for task in add {
            if d.ids.contains(&task.unique_id) || !seen.insert(task.unique_id.as_str()) {
                continue;
            }
            if let Ok(v) = serde_json::to_value(task) {
                let v = Arc::new(v);
                d.extend(std::slice::from_ref(&v));
                self.tasks.push(v);
            }
        }
        removed || self.tasks.len() != kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ipv4_ranges() {
        assert_eq!(canonical_ipv4("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(canonical_ipv4("10.1.2.3/8").as_deref(), Some("10.0.0.0/8"));
        for bad in [
            "0.0.0.0/00",
            "0.0.0.0/33",
            "::/0",
            "1.2.3/8",
            "01.2.3.4/32",
            "1.2.3.4",
            "256.0.0.0/8",
            "1.2.3.4/ 8",
        ] {
            let c = canonical_ipv4(bad);
            assert!(c.as_deref() != Some(bad), "{bad} read as canonical");
        }
    }

    #[test]
    fn hazards_name_what_stops_krampus() {
        let f = TasksFile::parse(
            br#"{"tasks":[
                {"action":"kill","action_time":1,"aws_resource_name":"arn:aws:ec2:us-east-1:1234567890123:instance/i-1"},
                {"action":"kill","aws_resource_name":"arn:aws:ec2:us-east-1:123456789012:instance/i-1"},
                {"action":"kill","action_time":1,"aws_resource_name":"i-1"},
                {"action":"kill","action_time":"1","aws_resource_name":"arn:aws:ec2:us-east-1:123456789012:instance/i-1"},
                {"action_time":1,"aws_resource_name":"arn:aws:ec2:us-east-1:123456789012:instance/i-1"},
                "text",
                {"action":"kill","action_time":1,"aws_resource_name":"arn:aws:ec2:us-east-1:123456789012:instance/i-1"}
            ]}"#,
        )
        .expect("valid");
        let h = hazards(&f);
        assert_eq!(h.len(), 6, "{h:#?}");
        for (i, want) in [
            "12-digit account",
            "no `action_time`",
            "not an ARN",
            "not a number",
            "no `action`",
            "not an object",
        ]
        .iter()
        .enumerate()
        {
            assert!(h[i].contains(want), "{}: {want}", h[i]);
        }
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

    /// The file is written back as the object it was read from, every key in place.
    #[test]
    fn the_file_is_written_back_as_read() {
        for text in [
            r#"{"a":1,"tasks":[{"x":1}],"z":{"k":[2]}}"#,
            r#"{"tasks":[]}"#,
            r#"{"alpha":"x","beta":null}"#,
            r#"{"tasks":[1,"two"],"tasksz":3,"taskr":4}"#,
        ] {
            let f = TasksFile::parse(text.as_bytes()).expect("valid");
            let mut want: Value = serde_json::from_str(text).expect("json");
            if let Value::Object(m) = &mut want {
                m.entry("tasks").or_insert(Value::Array(Vec::new()));
            }
            assert_eq!(
                String::from_utf8(f.to_bytes()).expect("utf-8"),
                serde_json::to_string_pretty(&want).expect("json"),
                "{text}"
            );
        }
    }

    /// A task of `key` with `id`, as the judge writes them.
    fn ours_task(key: &str, id: &str, at: i64) -> KrampusTask {
        KrampusTask {
            action: TaskAction::Disable,
            action_time: at,
            aws_resource_name: "arn:aws:ec2:us-east-1:123456789012:security-group/sg-1".into(),
            aws_region: "us-east-1".into(),
            aws_object_type: "ec2".into(),
            cidr_range: None,
            from_port: None,
            to_port: None,
            proto: None,
            s3_principal: None,
            s3_permission: None,
            score: 1,
            audited_time: 0,
            aws_account: "123456789012".into(),
            human_readable_name: "x".into(),
            issues: Vec::new(),
            unique_id: id.into(),
            rules: Vec::new(),
            owner: None,
            team: None,
            verdict_id: "v".into(),
            resource_key: key.into(),
            source: TASK_SOURCE.into(),
        }
    }

    /// One step of a judge's life with a file: a batch applied to it, a copy kept (the board's
    /// cache), or an edit through the public list (another writer, a test).
    #[derive(Debug, Clone)]
    enum Step {
        Apply {
            remove: Vec<u8>,
            add: Vec<(u8, u8, i64)>,
        },
        Copy,
        Push(u8),
        Remove(u8),
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        prop_oneof![
            4 => (
                proptest::collection::vec(0u8..12, 0..3),
                proptest::collection::vec((0u8..4, 0u8..12, 0i64..3), 0..4)
            )
                .prop_map(|(remove, add)| Step::Apply { remove, add }),
            1 => Just(Step::Copy),
            1 => (0u8..6).prop_map(Step::Push),
            1 => any::<u8>().prop_map(Step::Remove),
        ]
    }

    /// Entries another writer may put in the file: ours well formed or not, hand-written,
    /// hazards.
    fn foreign(n: u8) -> Value {
        let id = format!("je-{}", n % 12);
        match n % 6 {
            0 => {
                serde_json::json!({"source": TASK_SOURCE, "unique_id": id, "action_time": 7, "resource_key": "k9"})
            }
            1 => {
                serde_json::json!({"source": TASK_SOURCE, "unique_id": id, "action_time": "soon", "resource_key": "k1"})
            }
            2 => {
                serde_json::json!({"action": "kill", "action_time": 1, "aws_resource_name": "arn:aws:s3:::b", "unique_id": id})
            }
            3 => serde_json::json!([1, 2]),
            4 => serde_json::json!({"source": TASK_SOURCE, "unique_id": id}),
            _ => {
                serde_json::json!({"action": "disable", "action_time": 2, "aws_resource_name": "arn:aws:ec2:us-east-1:123456789012:instance/i-1"})
            }
        }
    }

    proptest::proptest! {
        /// What the file remembers of its tasks (our tasks, their ids, the hazards) is always
        /// what a file holding the same list works out from nothing, whatever the batches,
        /// copies and edits in between; and a batch does the same to either.
        #[test]
        fn the_remembered_task_list_is_the_list(steps in proptest::collection::vec(step(), 1..40)) {
            let mut file = TasksFile::parse(
                br#"{"tasks":[{"source":"justice-engine","unique_id":"je-1","action_time":5,"resource_key":"k1"},
                    {"action":"kill","action_time":1,"aws_resource_name":"x","unique_id":"je-2"}],"note":"hand"}"#,
            ).expect("valid");
            let mut copies = Vec::new();
            for s in steps {
                let fresh = TasksFile::new(file.tasks.clone(), file.rest.clone());
                proptest::prop_assert_eq!(&*file.ours(), &*fresh.ours());
                proptest::prop_assert_eq!(hazards(&file), hazards(&fresh));
                match s {
                    Step::Apply { remove, add } => {
                        let remove: BTreeSet<String> =
                            remove.iter().map(|n| format!("je-{n}")).collect();
                        let add: Vec<KrampusTask> = add
                            .iter()
                            .map(|(k, n, at)| ours_task(&format!("k{k}"), &format!("je-{n}"), *at))
                            .collect();
                        let mut fresh = fresh;
                        let a = file.apply(&remove, &add);
                        let b = fresh.apply(&remove, &add);
                        proptest::prop_assert_eq!(a, b);
                        proptest::prop_assert_eq!(&file, &fresh);
                    }
                    Step::Copy => copies.push(file.clone()),
                    Step::Push(n) => file.tasks.push(Arc::new(foreign(n))),
                    Step::Remove(i) => {
                        if !file.tasks.is_empty() {
                            let i = usize::from(i) % file.tasks.len();
                            file.tasks.remove(i);
                        }
                    }
                }
                // A copy kept from before answers for its own list, not the file's.
                for c in &copies {
                    let fresh = TasksFile::new(c.tasks.clone(), c.rest.clone());
                    proptest::prop_assert_eq!(&*c.ours(), &*fresh.ours());
                    proptest::prop_assert_eq!(hazards(c), hazards(&fresh));
                }
            }
        }
    }
}
