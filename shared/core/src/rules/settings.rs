//! What the rules read of the policy: the port lists, when ranges count as the whole Internet,
//! the required tags. The rules depend on these and not on `Policy`, which depends on the rule
//! registry (to check the rule ids it names), so the two do not import each other.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// The settings one evaluation of the rules reads, borrowed from the policy, and what the
/// rules of one item share.
#[derive(Debug, Clone, Copy)]
pub struct RuleInputs<'a> {
    pub ports: &'a Ports,
    pub exposure: &'a Exposure,
    pub required_tags: &'a [RequiredTag],
    pub memo: &'a Memo,
}

/// What several rules read of one item, worked out once for it: the four security-group rules
/// share one reading of the group's permissions. Made empty for each item.
#[derive(Debug, Default)]
pub struct Memo {
    pub(super) sg: std::cell::OnceCell<Result<super::network::SgOpen, crate::json::FieldError>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ports {
    pub admin: Vec<u16>,
    pub database: Vec<u16>,
    pub web: Vec<u16>,
}

impl Default for Ports {
    fn default() -> Self {
        Ports {
            admin: vec![22, 23, 3389, 5900, 5985, 5986],
            database: vec![
                1433, 1434, 1521, 2483, 2484, 3306, 5432, 5439, 5984, 6379, 7000, 7001, 8086, 9042,
                9160, 9200, 9300, 11211, 27017, 27018, 28017,
            ],
            web: vec![80, 443],
        }
    }
}

/// When the ranges a security group admits count as the whole Internet (IPv4 and IPv6 apart;
/// private, reserved and documentation ranges are not public).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Exposure {
    /// One range covering at least this percentage of the public addresses: 0.39 takes a
    /// public IPv4 /8 (0.45%) and an IPv6 /17 of the registries' blocks, not a /9 or a /18.
    pub range_percent: f64,
    /// The ranges admitted to a port, together, covering more than this percentage.
    pub union_percent: f64,
}

impl Default for Exposure {
    fn default() -> Self {
        Exposure {
            range_percent: crate::exposure::DEFAULT_RANGE_PERCENT,
            union_percent: crate::exposure::DEFAULT_UNION_PERCENT,
        }
    }
}

impl Exposure {
    pub fn share(&self) -> crate::exposure::WorldShare {
        crate::exposure::WorldShare {
            range: self.range_percent / 100.0,
            union: self.union_percent / 100.0,
        }
    }
}

#[derive(Debug, Clone)]
pub enum TagCheck {
    Present,
    Pattern(Regex),
    Allowed(Vec<String>),
}

#[derive(Debug, Clone)]
pub struct RequiredTag {
    pub key: String,
    pub check: TagCheck,
    pub points: u32,
    pub resource_types: Option<Vec<String>>,
}

impl RequiredTag {
    pub fn applies_to(&self, resource_type: &str) -> bool {
        self.resource_types
            .as_ref()
            .is_none_or(|t| t.iter().any(|x| x == resource_type))
    }
}
