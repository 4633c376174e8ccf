//! Who a resource is: account, region, type, id and name, checked once at intake, and the ARNs
//! that name it. Every field of an event is input, the resource's identity most of all: a `/`
//! in a region, an ARN naming another resource, or a NUL in an id must never let one event
//! reach another resource's records or tasks.

use std::fmt;

use crate::text::is_hidden;

/// An identity field that cannot be trusted, with the field's name and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {reason}")]
pub struct IdentityError {
    pub field: &'static str,
    pub reason: String,
}

impl IdentityError {
    fn new(field: &'static str, reason: impl Into<String>) -> Self {
        IdentityError {
            field,
            reason: reason.into(),
        }
    }
}

/// The longest resource id AWS Config accepts (its API's `ResourceId`).
pub const MAX_ID: usize = 768;
/// Names are longer than ids for a few types (a CloudWatch alarm's); more is not a name.
pub const MAX_NAME: usize = 1024;
pub const MAX_ARN: usize = 2048;

/// Shown in messages: cut and with control characters replaced, so a hostile value cannot
/// forge the rest of the message.
fn shown(s: &str) -> String {
    format!("`{}`", crate::text::quote(s, 80))
}

/// Exactly twelve ASCII digits: Krampus assumes its role in this account.
pub fn check_account(field: &'static str, s: &str) -> Result<(), IdentityError> {
    if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(IdentityError::new(
            field,
            format!("{} is not a 12-digit AWS account id", shown(s)),
        ))
    }
}

/// An AWS region (`us-east-1`, `us-gov-west-1`, `cn-north-1`, `eusc-de-east-1`...) or
/// `global` (IAM and other global types).
pub fn check_region(field: &'static str, s: &str) -> Result<(), IdentityError> {
    if s == "global" || is_region(s) {
        Ok(())
    } else {
        Err(IdentityError::new(
            field,
            format!("{} is not an AWS region", shown(s)),
        ))
    }
}

/// `[a-z]{2,4}(-[a-z]+)+-[0-9]{1,2}`.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    let lower = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase());
    parts.len() >= 3
        && (2..=4).contains(&parts[0].len())
        && lower(parts[0])
        && parts[1..parts.len() - 1].iter().all(|p| lower(p))
        && parts
            .last()
            .is_some_and(|n| (1..=2).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `Provider::Service::Type` with letters and digits (`AWS::EC2::SecurityGroup`).
pub fn check_resource_type(s: &str) -> Result<(), IdentityError> {
    let parts: Vec<&str> = s.split("::").collect();
    let word = |p: &str| {
        (1..=64).contains(&p.len())
            && p.bytes().all(|b| b.is_ascii_alphanumeric())
            && p.as_bytes()[0].is_ascii_alphabetic()
    };
    if parts.len() == 3 && parts.iter().all(|p| word(p)) {
        Ok(())
    } else {
        Err(IdentityError::new(
            "resourceType",
            format!(
                "{} is not a resource type like AWS::EC2::Instance",
                shown(s)
            ),
        ))
    }
}

/// Not empty, not too long, and no control, bidirectional or invisible characters: text that
/// could end a line, hide itself or reorder what people read.
pub fn check_text(field: &'static str, s: &str, max: usize) -> Result<(), IdentityError> {
    if s.is_empty() {
        return Err(IdentityError::new(field, "is empty"));
    }
    if s.chars().count() > max {
        return Err(IdentityError::new(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if let Some(c) = s.chars().find(|&c| is_hidden(c)) {
        return Err(IdentityError::new(
            field,
            format!(
                "{} holds the control or invisible character U+{:04X}",
                shown(s),
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

/// The partition of a region's ARNs; `None` for `global`.
pub fn partition_of(region: &str) -> Option<&'static str> {
    const PREFIXES: &[(&str, &str)] = &[
        ("cn-", "aws-cn"),
        ("us-gov-", "aws-us-gov"),
        ("us-isob-", "aws-iso-b"),
        ("us-isof-", "aws-iso-f"),
        ("eu-isoe-", "aws-iso-e"),
        ("us-iso-", "aws-iso"),
        ("eusc-", "aws-eusc"),
    ];
    if region == "global" {
        return None;
    }
    Some(
        PREFIXES
            .iter()
            .find(|(p, _)| region.starts_with(p))
            .map_or("aws", |(_, partition)| partition),
    )
}

pub const PARTITIONS: &[&str] = &[
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
    "aws-eusc",
];

/// An ARN split exactly as Python's `arnparse` 0.0.2 (which Krampus uses) splits it: six
/// `:`-separated fields, the last holding the rest; for `s3`, `sns`, `apigateway` and
/// `execute-api` the resource has no type; otherwise the resource type ends at the first `/`
/// or `:`. Empty region and account are `None`, as arnparse makes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: Option<&'a str>,
    pub account: Option<&'a str>,
    pub resource_type: Option<&'a str>,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// `None` where arnparse raises (no `arn:` prefix, fewer than six fields).
    pub fn parse(s: &'a str) -> Option<Arn<'a>> {
        if !s.starts_with("arn:") {
            return None;
        }
        let mut it = s.splitn(6, ':');
        let (_, partition, service, region, account, rest) = (
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
            it.next()?,
        );
        let (resource_type, resource) =
            if matches!(service, "s3" | "sns" | "apigateway" | "execute-api") {
                (None, rest)
            } else {
                match rest.find(['/', ':']) {
                    Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
                    None => (None, rest),
                }
            };
        let some = |x: &'a str| (!x.is_empty()).then_some(x);
        Some(Arn {
            partition,
            service,
            region: some(region),
            account: some(account),
            resource_type,
            resource,
        })
    }
}

pub use crate::types::{ArnShape, NameFrom};

/// The identity fields an ARN is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Named<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub resource_type: &'a str,
    pub resource_id: &'a str,
    pub resource_name: Option<&'a str>,
}

impl Named<'_> {
    /// The name a type's ARN carries.
    pub fn arn_name(&self, shape: &ArnShape) -> Option<&str> {
        match shape.name {
            NameFrom::Id => Some(self.resource_id),
            NameFrom::Name => self.resource_name,
        }
    }
}

/// Config's own ARN must name the resource the item describes: a well-formed ARN in the item's
/// partition, account and region (either may be empty, as in S3 and IAM ARNs), and, for the
/// types the engine may write tasks for, the same service, type and name. Anything else is an
/// event that describes one resource and names another.
pub fn check_config_arn(arn: &str, who: &Named<'_>) -> Result<(), IdentityError> {
    let bad = |why: String| IdentityError::new("ARN", format!("{} {why}", shown(arn)));
    if arn.len() > MAX_ARN {
        return Err(IdentityError::new(
            "ARN",
            format!("is longer than {MAX_ARN} bytes"),
        ));
    }
    check_text("ARN", arn, MAX_ARN)?;
    let a = Arn::parse(arn).ok_or_else(|| bad("is not an ARN".into()))?;
    if !PARTITIONS.contains(&a.partition) {
        return Err(bad(format!(
            "has an unknown partition {}",
            shown(a.partition)
        )));
    }
    if let Some(p) = partition_of(who.region).filter(|p| *p != a.partition) {
        return Err(bad(format!(
            "is in partition {} but the region is in {p}",
            a.partition
        )));
    }
    if let Some(acct) = a.account.filter(|acct| *acct != who.account) {
        return Err(bad(format!(
            "names account {} but the item is in account {}",
            shown(acct),
            who.account
        )));
    }
    if let Some(region) = a.region.filter(|r| *r != who.region) {
        return Err(bad(format!(
            "names region {} but the item is in {}",
            shown(region),
            who.region
        )));
    }
    let Some(shape) = crate::types::arn_shape(who.resource_type) else {
        return Ok(());
    };
    if a.service != shape.service || a.resource_type != shape.arn_type {
        return Err(bad(format!(
            "does not name a {} as AWS writes its ARNs",
            who.resource_type
        )));
    }
    if shape.service != "s3" && shape.service != "iam" && a.account.is_none() {
        return Err(bad("has no account".into()));
    }
    // Without the name (some deletion items lack it) only the rest can be compared; such an
    // item never gets a task (`krampus::task_arn` needs the name) but must still be read.
    let Some(name) = who.arn_name(shape) else {
        return Ok(());
    };
    let named = if shape.path {
        a.resource.rsplit('/').next().unwrap_or(a.resource)
    } else {
        a.resource
    };
    if named != name {
        return Err(bad(format!(
            "names {} but the item describes {}",
            shown(named),
            shown(name)
        )));
    }
    Ok(())
}

/// The validated identity of a resource, formatted for messages.
impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} in {}/{}",
            self.resource_type, self.resource_id, self.account, self.region
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_regions_and_types() {
        assert!(check_account("a", "123456789012").is_ok());
        for bad in [
            "12345678901",
            "1234567890123",
            "12345678901a",
            "",
            "１２３456789012",
        ] {
            assert!(check_account("a", bad).is_err(), "{bad}");
        }
        for good in [
            "us-east-1",
            "us-gov-west-1",
            "cn-northwest-1",
            "eusc-de-east-1",
            "global",
            "us-isob-east-1",
        ] {
            assert!(check_region("r", good).is_ok(), "{good}");
        }
        for bad in [
            "us-east-1/AWS::EC2::Instance",
            "us-east-1:1",
            "US-EAST-1",
            "us-east",
            "",
            "us-east-123",
            "us--1",
        ] {
            assert!(check_region("r", bad).is_err(), "{bad}");
        }
        assert!(check_resource_type("AWS::EC2::SecurityGroup").is_ok());
        for bad in [
            "AWS::EC2",
            "AWS::EC2::Instance/x",
            "AWS::EC2::Inst ance",
            "AWS::::X",
            "AWS::EC2::Instance::X",
        ] {
            assert!(check_resource_type(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_refuse_control_and_invisible_characters() {
        assert!(check_text("resourceId", "sg-0123 abc/def:ghi", MAX_ID).is_ok());
        for bad in [
            "a\0b",
            "a\nb",
            "a\u{202e}b",
            "a\u{200b}b",
            "\u{feff}a",
            "",
            "a\u{7f}",
        ] {
            assert!(check_text("resourceId", bad, MAX_ID).is_err(), "{bad:?}");
        }
        assert!(check_text("resourceId", &"x".repeat(769), MAX_ID).is_err());
    }

    #[test]
    fn arns_split_as_arnparse_does() {
        let a = Arn::parse("arn:aws:ec2:us-east-1:123456789012:security-group/sg-1").expect("arn");
        assert_eq!(
            (a.service, a.resource_type, a.resource),
            ("ec2", Some("security-group"), "sg-1")
        );
        let l = Arn::parse("arn:aws:lambda:us-east-1:123456789012:function:f").expect("arn");
        assert_eq!(l.resource_type, Some("function"));
        let s = Arn::parse("arn:aws:s3:::bucket/with/key").expect("arn");
        assert_eq!(
            (s.account, s.region, s.resource_type, s.resource),
            (None, None, None, "bucket/with/key")
        );
        let i = Arn::parse("arn:aws:iam::123456789012:role/path/r").expect("arn");
        assert_eq!((i.resource_type, i.resource), (Some("role"), "path/r"));
        assert!(Arn::parse("not:an:arn").is_none());
        assert!(Arn::parse("arn:aws:ec2:us-east-1").is_none());
    }

    fn sg(id: &str) -> Named<'_> {
        Named {
            account: "123456789012",
            region: "us-east-1",
            resource_type: "AWS::EC2::SecurityGroup",
            resource_id: id,
            resource_name: Some("web"),
        }
    }

    #[test]
    fn a_config_arn_must_name_the_item_it_comes_with() {
        let ok = "arn:aws:ec2:us-east-1:123456789012:security-group/sg-1";
        assert!(check_config_arn(ok, &sg("sg-1")).is_ok());
        for bad in [
            "arn:aws:ec2:us-east-1:123456789012:security-group/sg-2",
            "arn:aws:ec2:us-east-1:999999999999:security-group/sg-1",
            "arn:aws:ec2:eu-west-1:123456789012:security-group/sg-1",
            "arn:aws:ec2:us-east-1:123456789012:instance/sg-1",
            "arn:aws-cn:ec2:us-east-1:123456789012:security-group/sg-1",
            "arn:aws:ec2:us-east-1::security-group/sg-1",
            "arn:aws:ec2:us-east-1:123456789012:security-group/sg-1\n",
            "sg-1",
        ] {
            assert!(check_config_arn(bad, &sg("sg-1")).is_err(), "{bad}");
        }
        let role = Named {
            account: "123456789012",
            region: "global",
            resource_type: "AWS::IAM::Role",
            resource_id: "AROAEXAMPLE",
            resource_name: Some("deploy"),
        };
        assert!(check_config_arn("arn:aws:iam::123456789012:role/ci/deploy", &role).is_ok());
        assert!(check_config_arn("arn:aws:iam::123456789012:role/admin", &role).is_err());
        // Other types: account and region only.
        let alarm = Named {
            resource_type: "AWS::CloudWatch::Alarm",
            resource_id: "My Alarm",
            ..sg("x")
        };
        assert!(check_config_arn(
            "arn:aws:cloudwatch:us-east-1:123456789012:alarm:My Alarm",
            &alarm
        )
        .is_ok());
        assert!(check_config_arn(
            "arn:aws:cloudwatch:us-east-1:210987654321:alarm:My Alarm",
            &alarm
        )
        .is_err());
    }
}
