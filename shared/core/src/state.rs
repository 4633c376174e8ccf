//! What is kept per resource: a history record per configuration item scored, and the current
//! risk state, which is derived from the history (see `score::derive_state`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::item::ItemStatus;
use crate::policy::Level;
use crate::rules::Finding;
use crate::time::{self, Millis};

/// The stable key of a resource: account, region, type and id. The id comes last because it
/// may itself hold slashes (an SQS queue URL).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ResourceKey(String);

impl ResourceKey {
    pub fn new(account: &str, region: &str, resource_type: &str, resource_id: &str) -> Self {
        ResourceKey(format!("{account}/{region}/{resource_type}/{resource_id}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Account, region, type and id, if the key is well formed.
    pub fn parts(&self) -> Option<(&str, &str, &str, &str)> {
        let mut it = self.0.splitn(4, '/');
        Some((it.next()?, it.next()?, it.next()?, it.next()?))
    }

    pub fn parse(s: &str) -> Option<Self> {
        let k = ResourceKey(s.to_owned());
        if k.parts().is_some() {
            Some(k)
        } else {
            None
        }
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A finding as recorded with the item that showed it, with its base points under the policy
/// of the time (severity or tag points × rule weight × reachability).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFinding {
    #[serde(flatten)]
    pub finding: Finding,
    pub base_points: u32,
}

/// One configuration item, scored. Immutable once written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRecord {
    pub capture_time: Millis,
    pub state_id: String,
    /// Content digest (hex) of the item: tells a redelivery from a different item that happens
    /// to share its capture time and state id.
    pub digest: String,
    /// When the notification was created: the replay clock.
    pub sent: Millis,
    pub status: ItemStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    /// Tags when Config recorded them; `None` when not recorded or unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    pub findings: Vec<RecordedFinding>,
}

impl HistoryRecord {
    /// The sort key: `H#<capture time>#<state id>#<digest>`. Sorting it as text sorts by time.
    pub fn sort_key(&self) -> String {
        let id = if self.state_id.bytes().all(|b| b.is_ascii_digit()) {
            format!("{:0>20}", self.state_id)
        } else {
            self.state_id.clone()
        };
        format!(
            "H#{}#{}#{}",
            time::format_rfc3339(self.capture_time),
            id,
            self.digest
        )
    }

    pub fn is_deletion(&self) -> bool {
        self.status.is_deletion()
    }

    pub fn base_total(&self) -> u32 {
        self.findings.iter().map(|f| f.base_points).sum()
    }

    pub fn has(&self, rule: &str, subject: &str) -> bool {
        self.findings
            .iter()
            .any(|f| f.finding.rule == rule && f.finding.subject == subject)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResourceStatus {
    Active,
    Deleted,
}

/// A finding in the current state with every factor of its points, so that each point of a
/// score can be traced to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredFinding {
    #[serde(flatten)]
    pub finding: Finding,
    pub base_points: u32,
    pub first_seen: Millis,
    pub age_factor: f64,
    pub recidivism_factor: f64,
    /// round(base_points × age_factor × recidivism_factor); the score is their sum.
    pub points: u32,
}

/// The current risk of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskState {
    pub key: ResourceKey,
    pub account: String,
    pub region: String,
    pub resource_type: String,
    pub resource_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
    pub status: ResourceStatus,
    /// The newest item scored.
    pub capture_time: Millis,
    pub state_id: String,
    pub digest: String,
    pub evaluated_at: Millis,
    pub score: u32,
    pub level: Level,
    pub findings: Vec<ScoredFinding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Risky episodes that started within the recidivism window.
    pub episodes: u32,
    /// Writes of this state so far: the optimistic-lock version.
    pub revision: u64,
}

impl RiskState {
    /// Open findings on a live resource: their points still change with time (age,
    /// recidivism window), so the scheduled re-score must visit it.
    pub fn needs_rescore(&self) -> bool {
        self.status == ResourceStatus::Active && !self.findings.is_empty()
    }
}
