//! Every resource type the engine knows, in one table: its AWS Config type, how AWS writes its
//! ARN and what Krampus's disable and kill really do to it (when Krampus acts on it), the
//! default policy's cap, and whether a back-fill lists it. Rules name the types they read
//! (`rules::Rule::resource_types`); a test walks this table against the rules, Krampus's
//! dispatch and the embedded default policy. A new type is a row here plus its rules.

use crate::identity::{ArnShape, NameFrom};
use crate::krampus::{Effect, KrampusKind};
use crate::policy::ActionCap;

/// One resource type.
#[derive(Debug)]
pub struct TypeSpec {
    pub config_type: &'static str,
    /// What Krampus does to it, and the ARN a task names it by; `None`: Krampus does not act
    /// on it (its findings warn and are listed, never turned into a task).
    pub krampus: Option<KrampusKind>,
    /// The strongest action the default policy allows (`[caps]`); `None`: the policy's default.
    pub default_cap: Option<ActionCap>,
    /// Listed by a back-fill unless configured otherwise.
    pub backfill: bool,
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
    backfill: bool,
) -> TypeSpec {
    TypeSpec {
        config_type,
        krampus,
        default_cap,
        backfill,
    }
}

const DISABLE: Option<ActionCap> = Some(ActionCap::Disable);

pub static RESOURCE_TYPES: &[TypeSpec] = &[
    row(
        "AWS::EC2::Instance",
        ec2("instance", Effect::Stop, Effect::Delete),
        None,
        true,
    ),
    row(
        "AWS::EC2::SecurityGroup",
        ec2(
            "security-group",
            Effect::RevokeIngressRule,
            Effect::RevokeAllRules,
        ),
        None,
        true,
    ),
    // Krampus's "disable" on a volume deletes it.
    row(
        "AWS::EC2::Volume",
        ec2("volume", Effect::Delete, Effect::Delete),
        None,
        true,
    ),
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
        true,
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
        true,
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
        true,
    ),
    row("AWS::IAM::User", iam("user"), DISABLE, false),
    row("AWS::IAM::Role", iam("role"), DISABLE, true),
    row("AWS::IAM::Group", iam("group"), None, false),
    // Types rules read that Krampus does not act on: warnings and digests only.
    row("AWS::IAM::Policy", None, DISABLE, true),
    row("AWS::RDS::DBSnapshot", None, None, true),
    row("AWS::RDS::DBCluster", None, None, false),
    row("AWS::RDS::DBClusterSnapshot", None, None, false),
    row("AWS::EFS::FileSystem", None, None, true),
    row("AWS::SQS::Queue", None, None, true),
];

/// The row of a type, if the engine knows it.
pub fn spec(config_type: &str) -> Option<&'static TypeSpec> {
    RESOURCE_TYPES.iter().find(|t| t.config_type == config_type)
}

/// The types a back-fill lists unless configured otherwise.
pub fn backfill_types() -> Vec<String> {
    RESOURCE_TYPES
        .iter()
        .filter(|t| t.backfill)
        .map(|t| t.config_type.to_owned())
        .collect()
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
                .any(|r| r.info().resource_types.contains(&t.config_type));
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
