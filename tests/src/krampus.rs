//! A model of one Krampus 0.3.8 run, as its code behaves (lib/krampus_tasks.py, krampus.py,
//! kinder/*.py), bugs included, and as the real Krampus was seen to behave against moto:
//!
//! - it reads the whole file first; a task without `aws_resource_name` or `action_time`, or
//!   whose ARN arnparse cannot split, raises and stops the run before anything is done;
//! - a task whose `action_time >= now` (or is not a number: Python 2 compares text as greater)
//!   is deferred; an allow-listed ARN (exact match) is dropped;
//! - for every due task it assumes its role in the ARN's account first: an account that is not
//!   12 digits stops the run, every run; so does a due task without `action`;
//! - a task it carries out is written back anyway (its success log line raises), and so is one
//!   that fails; only an action that returns nothing is dropped;
//! - it writes the file back unconditionally: deferred tasks first, then the re-queued ones,
//!   then every other top-level key as it read them.

use justice_core::identity::Arn;
use justice_core::krampus::TasksFile;
use serde_json::Value;

/// What a task did to the world, as Krampus's handler returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// An AWS response (success or not): the task is written back.
    Requeued,
    /// Nothing returned (already gone, refused, nothing left to do): the task is dropped.
    Dropped,
}

/// The resources Krampus acts on.
pub trait World {
    fn act(&mut self, task: &Value, arn: &Arn<'_>) -> Outcome;
}

/// A world where every action gets an AWS response, as most do; RDS kill is refused.
#[derive(Debug, Default)]
pub struct Responding;

impl World for Responding {
    fn act(&mut self, task: &Value, arn: &Arn<'_>) -> Outcome {
        if arn.service == "rds" && task["action"] == "kill" {
            Outcome::Dropped
        } else {
            Outcome::Requeued
        }
    }
}

/// One run's result.
#[derive(Debug, Default)]
pub struct Run {
    /// The tasks carried out, in order.
    pub ran: Vec<Value>,
    /// The file written back (unconditionally).
    pub written: TasksFile,
}

/// Why the run stopped before writing anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Abort(pub String);

pub fn run(
    file: &TasksFile,
    now_s: i64,
    whitelist: &[String],
    world: &mut dyn World,
) -> Result<Run, Abort> {
    let mut deferred = Vec::new();
    let mut due = Vec::new();
    for (i, job) in file.tasks.iter().enumerate() {
        let abort = |why: &str| Abort(format!("task {i}: {why}"));
        let Some(arn_text) = job.get("aws_resource_name").and_then(Value::as_str) else {
            return Err(abort("KeyError / TypeError on aws_resource_name"));
        };
        let arn = Arn::parse(arn_text).ok_or_else(|| abort("arnparse raises"))?;
        if arn.account == Some("aws") && arn.service == "iam" && arn.resource_type == Some("policy")
        {
            continue;
        }
        let deferred_now = match job.get("action_time") {
            None => return Err(abort("KeyError: 'action_time'")),
            Some(Value::Number(n)) => n.as_f64().is_some_and(|t| t >= now_s as f64),
            // Python 2 orders text after numbers: never due.
            Some(Value::String(_)) => true,
            Some(_) => false,
        };
        if deferred_now {
            deferred.push(job.clone());
            continue;
        }
        if whitelist.iter().any(|w| w == arn_text) {
            continue;
        }
        if job.get("action").is_none() {
            return Err(abort("KeyError: 'action'"));
        }
        let account_ok = arn
            .account
            .is_some_and(|a| a.len() == 12 && a.bytes().all(|b| b.is_ascii_digit()));
        if !account_ok {
            return Err(abort("AssumeRole into the ARN's account fails"));
        }
        if !justice_core::krampus::SERVICES.contains(&arn.service) {
            continue;
        }
        due.push(job.clone());
    }
    let mut out = Run::default();
    let mut requeued = Vec::new();
    for job in due {
        let arn_text = job["aws_resource_name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let Some(arn) = Arn::parse(&arn_text) else {
            continue;
        };
        if world.act(&job, &arn) == Outcome::Requeued {
            requeued.push(job.clone());
        }
        out.ran.push(Value::clone(&job));
    }
    deferred.extend(requeued);
    out.written = TasksFile::new(deferred, file.rest.clone());
    Ok(out)
}

/// An ACL grant as S3 returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// `Group` (with a URI) or `CanonicalUser` (with an id).
    pub grantee_type: String,
    pub grantee: String,
    pub permission: String,
}

/// Security-group rules, instances and bucket ACLs, changed as Krampus's handlers change them.
#[derive(Debug, Default, Clone)]
pub struct Resources {
    /// group id → (proto, from, to, cidr) ingress rules.
    pub rules: std::collections::BTreeMap<String, Vec<(String, i64, i64, String)>>,
    /// instance id → state name.
    pub instances: std::collections::BTreeMap<String, String>,
    /// bucket → grants.
    pub buckets: std::collections::BTreeMap<String, Vec<Grant>>,
}

impl World for Resources {
    fn act(&mut self, task: &Value, arn: &Arn<'_>) -> Outcome {
        let name = arn.resource.to_owned();
        match (arn.service, arn.resource_type, task["action"].as_str()) {
            ("ec2", Some("security-group"), Some("disable")) => {
                // revoke_ingress(CidrIp, FromPort, ToPort, IpProtocol): EC2 matches exactly.
                let want = (
                    task["proto"].as_str().unwrap_or_default().to_owned(),
                    task["from_port"].as_i64().unwrap_or(i64::MIN),
                    task["to_port"].as_i64().unwrap_or(i64::MIN),
                    task["cidr_range"].as_str().unwrap_or_default().to_owned(),
                );
                if let Some(rules) = self.rules.get_mut(&name) {
                    rules.retain(|r| {
                        // An all-traffic rule is matched whatever its ports.
                        !(r.0 == want.0
                            && r.3 == want.3
                            && (want.0 == "-1" || (r.1 == want.1 && r.2 == want.2)))
                    });
                }
                Outcome::Requeued
            }
            ("ec2", Some("security-group"), Some("kill")) => match self.rules.get_mut(&name) {
                Some(rules) if !rules.is_empty() => {
                    rules.clear();
                    Outcome::Requeued
                }
                _ => Outcome::Dropped,
            },
            ("ec2", Some("instance"), Some(action)) => match self.instances.get_mut(&name) {
                Some(state) => {
                    *state = if action == "kill" {
                        "terminated"
                    } else {
                        "stopped"
                    }
                    .into();
                    Outcome::Requeued
                }
                None => Outcome::Dropped,
            },
            ("s3", _, Some("disable")) => {
                let Some(grants) = self.buckets.get_mut(&name) else {
                    return Outcome::Requeued;
                };
                // kinder/s3.py deleteGrant: keeps only grants of the principal's type that do
                // not match; every grant of the other type is dropped; permissions compared
                // exactly.
                let principal = task["s3_principal"].as_str();
                let perms: Vec<&str> = task["s3_permission"]
                    .as_array()
                    .map(|l| l.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                match principal {
                    None => grants.clear(),
                    Some(p) => {
                        let ty = if p.contains("http") {
                            "Group"
                        } else {
                            "CanonicalUser"
                        };
                        grants.retain(|g| {
                            g.grantee_type == ty
                                && !(g.grantee == p && perms.contains(&g.permission.as_str()))
                        });
                    }
                }
                Outcome::Requeued
            }
            _ => Outcome::Requeued,
        }
    }
}
