//! Rules: one small unit each, all listed in [`RULES`]. A rule reads one configuration item and
//! pushes findings; it never scores (points, age and reachability weighting are in `score`).

pub mod custom;
mod identity;
mod network;
mod resource_policy;
pub mod settings;
mod storage;
mod tags;

use serde::{Deserialize, Serialize};

use crate::item::{ConfigItem, ItemError};
use crate::json::FieldError;
pub use settings::RuleInputs;

/// The version of the rules' logic, part of the policy version (`Policy::version`): raise it
/// when a rule finds something different in the same item, so that stored states are evaluated
/// again (the rule pack's own text is hashed into the version besides: `custom::pack_version`;
/// a change of its functions in Rust needs this raised). 2: exposure computed from parsed,
/// merged ranges. 3: conditions that pin nothing (`ForAllValues:`, wildcard accounts and ARNs,
/// source ranges that reach the whole Internet) no longer make a statement private; JSON policy
/// text is not percent-decoded.
pub const RULES_VERSION: &str = "3";

/// How bad a finding is. Exposure to the whole Internet is always high or critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// What kind of risk a finding is: the policy's `[class_caps]` bound the action each class may
/// drive, so that no resource is destroyed for hygiene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingClass {
    /// Reachable from the Internet or from any AWS account.
    Exposure,
    /// Weak configuration that exposes nothing by itself: encryption, IMDSv1, broad
    /// privileges, a public access block turned off.
    Hygiene,
    /// Required tags missing or badly filled.
    Tagging,
}

impl FindingClass {
    pub const ALL: [FindingClass; 3] = [
        FindingClass::Exposure,
        FindingClass::Hygiene,
        FindingClass::Tagging,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FindingClass::Exposure => "exposure",
            FindingClass::Hygiene => "hygiene",
            FindingClass::Tagging => "tagging",
        }
    }
}

/// What Krampus could do about a rule's findings, if anything (see DESIGN.md, Krampus contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KrampusRemedy {
    /// Nothing Krampus can do short of the resource itself; owners fix it.
    None,
    /// Revoke the offending security-group ingress rules (one task each; IPv4 only).
    RevokeIngressRule,
    /// Remove the public S3 ACL grant.
    RemoveS3Grant,
    /// Disable or delete the resource as a whole.
    ResourceAction,
}

/// A precise fix Krampus can carry out for one finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Remedy {
    RevokeIngress {
        proto: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from_port: Option<i64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_port: Option<i64>,
        cidr: String,
    },
    RemoveS3Grant {
        /// The grantee URI, e.g. `http://acs.amazonaws.com/groups/global/AllUsers`.
        principal: String,
        permissions: Vec<String>,
    },
}

/// What a rule saw. Points are added by the scorer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    /// Tells apart findings of one rule on one resource (the tag key); empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub subject: String,
    pub severity: Severity,
    pub evidence: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remedies: Vec<Remedy>,
    /// False when the exposure leads to nothing running (a security group attached to nothing,
    /// a stopped instance): real, but not an emergency.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub reachable: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// A written rule that could not be evaluated on an item (a missing field, a wrong type): kept
/// with the item, so that the rule's earlier findings stay open and nobody reads it as
/// compliant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleError {
    pub rule: String,
    pub error: String,
}

/// The fixed description of a rule, shown by `justice explain` and in notices.
#[derive(Debug)]
pub struct RuleInfo {
    /// Kebab-case, unique, stable: policies and stored findings refer to it.
    pub id: &'static str,
    pub class: FindingClass,
    pub severity: Severity,
    /// Resource types it reads; empty means every type.
    pub resource_types: &'static [&'static str],
    /// What it checks, one sentence.
    pub checks: &'static str,
    /// How an owner fixes it.
    pub remediation: &'static str,
    pub krampus: KrampusRemedy,
}

pub trait Rule: Sync {
    fn info(&self) -> &'static RuleInfo;

    /// Reads the item and pushes findings. `Err` when a field the rule needs has the wrong kind:
    /// a wrong guess there would change a verdict.
    fn evaluate(
        &self,
        item: &ConfigItem,
        policy: &RuleInputs<'_>,
        out: &mut Vec<Finding>,
    ) -> Result<(), FieldError>;
}

impl RuleInfo {
    pub fn applies_to(&self, resource_type: &str) -> bool {
        self.resource_types.is_empty() || self.resource_types.contains(&resource_type)
    }

    /// A finding of this rule with its severity.
    pub fn finding(&self, evidence: String) -> Finding {
        Finding {
            rule: self.id.to_owned(),
            subject: String::new(),
            severity: self.severity,
            evidence,
            remedies: Vec::new(),
            reachable: true,
        }
    }
}

/// Every rule, in the order findings are reported.
pub static RULES: &[&dyn Rule] = &[
    &network::SG_ALL_RULE,
    &network::SG_ADMIN_RULE,
    &network::SG_DB_RULE,
    &network::SG_OTHER_RULE,
    &network::Ec2PublicImdsV1,
    &storage::S3PublicAcl,
    &resource_policy::S3PublicPolicy,
    &storage::S3BlockPublicAccessOff,
    &storage::RDS_INSTANCE_PUBLIC,
    &storage::RDS_STORAGE_UNENCRYPTED,
    &storage::RdsSnapshotPublic,
    &storage::RDS_SNAPSHOT_UNENCRYPTED,
    &storage::EBS_VOLUME_UNENCRYPTED,
    &storage::EFS_UNENCRYPTED,
    &identity::IamAdminStar,
    &identity::IamRoleTrustPublic,
    &resource_policy::LambdaPolicyPublic,
    &resource_policy::SqsPolicyPublic,
    &tags::RequiredTags,
];

/// The types a back-fill lists unless configured otherwise: every type a built-in or pack rule
/// reads, in the order of `types::RESOURCE_TYPES` (a back-fill's saved position names a type).
pub fn backfill_types() -> Vec<String> {
    crate::types::RESOURCE_TYPES
        .iter()
        .filter(|t| {
            RULES
                .iter()
                .any(|r| r.info().resource_types.contains(&t.config_type))
                || custom::pack()
                    .rules()
                    .iter()
                    .any(|r| r.applies_to(t.config_type))
        })
        .map(|t| t.config_type.to_owned())
        .collect()
}

pub use tags::RULE_ID as REQUIRED_TAGS_RULE;

pub fn find(id: &str) -> Option<&'static dyn Rule> {
    RULES.iter().copied().find(|r| r.info().id == id)
}

/// Runs the rules `enabled` names that apply to the item's type. Tag rules run only when the
/// item recorded tags. The item must carry a configuration (the caller handles deletions).
pub fn evaluate(
    item: &ConfigItem,
    policy: &RuleInputs<'_>,
    enabled: impl Fn(&str) -> bool,
) -> Result<Vec<Finding>, ItemError> {
    let mut out = Vec::new();
    for rule in RULES {
        let info = rule.info();
        if !info.applies_to(&item.resource_type) || !enabled(info.id) {
            continue;
        }
        rule.evaluate(item, policy, &mut out)
            .map_err(|e| ItemError::new(item.label(), format!("rule {}: {e}", info.id)))?;
    }
    Ok(out)
}
