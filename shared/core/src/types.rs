//! Every resource type the engine knows, in one table: its AWS Config type, how AWS writes its
//! ARN and what Krampus's disable and kill really do to it (when Krampus acts on it), and the
//! default policy's cap. A back-fill lists the types rules read (`rules::backfill_types`), in
//! the table's order. Rules name the types they read
//! (`rules::Rule::resource_types`); a test walks this table against the rules, Krampus's
//! dispatch and the embedded default policy. A new type is a row here plus its rules.
//!
//! This module is a leaf of the core: the kinds its rows are made of live here, and `krampus`,
//! `identity` and `policy` re-export them.

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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

/// Krampus's handling of one resource type (a row of [`RESOURCE_TYPES`]).
#[derive(Debug)]
pub struct KrampusKind {
    /// The ARN a task names it by; its service is what Krampus dispatches on.
    pub arn: ArnShape,
    pub disable: Effect,
    pub kill: Effect,
}

impl KrampusKind {
    pub fn effect(&self, action: TaskAction) -> Effect {
        match action {
            TaskAction::Disable => self.disable,
            TaskAction::Kill => self.kill,
        }
    }
}

/// Where a type's ARN takes the resource's name from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameFrom {
    /// `resourceId` (EC2 ids, Lambda function names, S3 bucket names).
    Id,
    /// `resourceName` (an RDS instance's identifier; an IAM entity's name, after its path).
    Name,
}

/// How AWS writes the ARN of a type the engine may write a task for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArnShape {
    pub service: &'static str,
    /// arnparse's resource type (`None` for S3).
    pub arn_type: Option<&'static str>,
    /// Between the ARN's type and the name.
    pub separator: char,
    pub name: NameFrom,
    /// IAM ARNs carry an optional path before the name.
    pub path: bool,
}

/// What Krampus may do to a resource: the cap of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionCap {
    None,
    Disable,
    Kill,
}

/// One resource type.
#[derive(Debug)]
pub struct TypeSpec {
    pub config_type: &'static str,
    /// What Krampus does to it, and the ARN a task names it by; `None`: Krampus does not act
    /// on it (its findings warn and are listed, never turned into a task).
    pub krampus: Option<KrampusKind>,
    /// The strongest action the default policy allows (`[caps]`); `None`: the policy's default.
    pub default_cap: Option<ActionCap>,
}

const fn ec2(arn_type: &'static str, disable: Effect, kill: Effect) -> Option<KrampusKind> {
    krampus("ec2", Some(arn_type), '/', NameFrom::Id, disable, kill)
}

const fn iam(arn_type: &'static str) -> Option<KrampusKind> {
    Some(KrampusKind {
        arn: ArnShape {
            service: "iam",
            arn_type: Some(arn_type),
            separator: '/',
            name: NameFrom::Name,
            path: true,
        },
        disable: Effect::StripAccess,
        kill: Effect::Delete,
    })
}

const fn krampus(
    service: &'static str,
    arn_type: Option<&'static str>,
    separator: char,
    name: NameFrom,
    disable: Effect,
    kill: Effect,
) -> Option<KrampusKind> {
    Some(KrampusKind {
        arn: ArnShape {
            service,
            arn_type,
            separator,
            name,
            path: false,
        },
        disable,
        kill,
    })
}

const fn row(
    config_type: &'static str,
    krampus: Option<KrampusKind>,
    default_cap: Option<ActionCap>,
) -> TypeSpec {
    TypeSpec {
        config_type,
        krampus,
        default_cap,
    }
}

const DISABLE: Option<ActionCap> = Some(ActionCap::Disable);

/// In the order a back-fill visits them (its saved position names a type).
pub static RESOURCE_TYPES: &[TypeSpec] = &[
    row(
        "AWS::EC2::SecurityGroup",
        ec2(
            "security-group",
            Effect::RevokeIngressRule,
            Effect::RevokeAllRules,
        ),
        None,
    ),
    row(
        "AWS::EC2::Instance",
        ec2("instance", Effect::Stop, Effect::Delete),
        None,
    ),
    // Krampus's "disable" on a volume deletes it.
    row(
        "AWS::EC2::Volume",
        ec2("volume", Effect::Delete, Effect::Delete),
        None,
    ),
    // S3 is disable-only: a grant removed, or every grant when none is named.
    row(
        "AWS::S3::Bucket",
        krampus(
            "s3",
            None,
            ':',
            NameFrom::Id,
            Effect::RemoveGrant,
            Effect::Refused,
        ),
        DISABLE,
    ),
    // "kill" on RDS is refused ("too dangerous") and dequeued.
    row(
        "AWS::RDS::DBInstance",
        krampus(
            "rds",
            Some("db"),
            ':',
            NameFrom::Name,
            Effect::Stop,
            Effect::Refused,
        ),
        DISABLE,
    ),
    row("AWS::RDS::DBSnapshot", None, None),
    row("AWS::EFS::FileSystem", None, None),
    row("AWS::IAM::Policy", None, DISABLE),
    row("AWS::IAM::Role", iam("role"), DISABLE),
    // Lambda has no disable in Krampus: it deletes instead.
    row(
        "AWS::Lambda::Function",
        krampus(
            "lambda",
            Some("function"),
            ':',
            NameFrom::Id,
            Effect::Delete,
            Effect::Delete,
        ),
        None,
    ),
    row("AWS::SQS::Queue", None, None),
    row("AWS::IAM::User", iam("user"), DISABLE),
    row("AWS::IAM::Group", iam("group"), None),
    row("AWS::RDS::DBCluster", None, None),
    row("AWS::RDS::DBClusterSnapshot", None, None),
    // Read by the rule pack (`rules::custom`) only: Krampus acts on none of them.
    row("AWS::EC2::NetworkAcl", None, None),
    row("AWS::EC2::Subnet", None, None),
    row("AWS::ElasticLoadBalancingV2::Listener", None, None),
    row("AWS::CloudFront::Distribution", None, None),
    row("AWS::EKS::Cluster", None, None),
    row("AWS::SageMaker::NotebookInstance", None, None),
    row("AWS::OpenSearch::Domain", None, None),
    row("AWS::Elasticsearch::Domain", None, None),
    row("AWS::Redshift::Cluster", None, None),
    row("AWS::ApiGateway::Stage", None, None),
    row("AWS::SNS::Topic", None, None),
    row("AWS::ECR::Repository", None, None),
    row("AWS::KMS::Key", None, None),
    row("AWS::SecretsManager::Secret", None, None),
    row("AWS::DynamoDB::Table", None, None),
    row("AWS::CloudTrail::Trail", None, None),
    row("AWS::ApiGateway::Method", None, None),
    row("AWS::SecretsManager::ResourcePolicy", None, None),
];

/// The row of a type, if the engine knows it.
pub fn spec(config_type: &str) -> Option<&'static TypeSpec> {
    RESOURCE_TYPES.iter().find(|t| t.config_type == config_type)
}

/// What Krampus does to a type; `None` for any type it does not act on (it would drop the
/// task).
pub fn kind_of(config_type: &str) -> Option<&'static KrampusKind> {
    spec(config_type)?.krampus.as_ref()
}

/// How AWS writes the ARN of a type Krampus acts on.
pub fn arn_shape(config_type: &str) -> Option<&'static ArnShape> {
    kind_of(config_type).map(|k| &k.arn)
}

/// The types Krampus acts on.
pub fn krampus_types() -> impl Iterator<Item = (&'static str, &'static KrampusKind)> {
    RESOURCE_TYPES
        .iter()
        .filter_map(|t| t.krampus.as_ref().map(|k| (t.config_type, k)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::krampus::SERVICES;
    use crate::policy::Policy;
    use crate::rules::RULES;

    #[test]
    fn every_type_a_rule_reads_is_a_row_and_every_row_is_read_or_acted_on() {
        let pack = crate::rules::custom::pack();
        assert!(
            crate::rules::custom::pack_errors().is_empty(),
            "{:?}",
            crate::rules::custom::pack_errors()
        );
        for rule in pack.rules() {
            for t in &rule.spec.resource_types {
                assert!(
                    spec(t).is_some(),
                    "pack rule {} reads {t}, not in the table",
                    rule.id()
                );
            }
        }
        for t in RESOURCE_TYPES {
            assert!(
                crate::rules::custom::is_config_type(t.config_type),
                "{} is not a type AWS Config records",
                t.config_type
            );
        }
        for rule in RULES {
            for t in rule.info().resource_types {
                assert!(
                    spec(t).is_some(),
                    "rule {} reads {t}, not in the table",
                    rule.info().id
                );
            }
        }
        for t in RESOURCE_TYPES {
            let read = RULES
                .iter()
                .any(|r| r.info().resource_types.contains(&t.config_type))
                || pack.rules().iter().any(|r| r.applies_to(t.config_type));
            assert!(
                read || t.krampus.is_some(),
                "{} is neither read nor acted on",
                t.config_type
            );
            assert_eq!(
                RESOURCE_TYPES
                    .iter()
                    .filter(|o| o.config_type == t.config_type)
                    .count(),
                1,
                "{} is listed twice",
                t.config_type
            );
        }
    }

    #[test]
    fn a_back_fill_visits_the_types_of_earlier_releases_in_their_order() {
        // A back-fill's saved position names a type: a pass under way when this release is
        // deployed resumes where it was, and the types added since come last.
        let earlier = [
            "AWS::EC2::SecurityGroup",
            "AWS::EC2::Instance",
            "AWS::EC2::Volume",
            "AWS::S3::Bucket",
            "AWS::RDS::DBInstance",
            "AWS::RDS::DBSnapshot",
            "AWS::EFS::FileSystem",
            "AWS::IAM::Policy",
            "AWS::IAM::Role",
            "AWS::Lambda::Function",
            "AWS::SQS::Queue",
        ];
        let now = crate::rules::backfill_types();
        assert_eq!(&now[..earlier.len()], earlier, "{now:?}");
        for t in ["AWS::IAM::User", "AWS::IAM::Group", "AWS::RDS::DBCluster"] {
            assert!(
                now.iter().any(|n| n == t),
                "{t}: a rule reads it, the back-fill skips it"
            );
        }
    }

    #[test]
    fn krampus_dispatches_every_service_of_the_table() {
        for (t, k) in krampus_types() {
            assert!(
                SERVICES.contains(&k.arn.service),
                "{t}: Krampus has no {}",
                k.arn.service
            );
            // Krampus's S3 ARN has no type; every other type names one.
            assert_eq!(k.arn.arn_type.is_none(), k.arn.service == "s3", "{t}");
            // IAM is global: its names carry paths; nothing else's do.
            assert_eq!(k.arn.path, k.arn.service == "iam", "{t}");
        }
    }

    #[test]
    fn the_embedded_default_policy_has_the_tables_caps() {
        let embedded = Policy::default_policy().caps;
        let table = Policy::from_toml("version = 1")
            .expect("an empty policy takes the defaults")
            .caps;
        assert_eq!(
            embedded, table,
            "default-policy.toml's [caps] and the table disagree"
        );
    }
}
