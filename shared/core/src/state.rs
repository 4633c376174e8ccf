//! What is kept per resource: the current risk state, which carries what the next change needs
//! to be folded in without the history (`score::fold`), and a history record per configuration
//! item scored, for the audit trail and the rare item that arrives out of order
//! (`score::derive_state`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::identity::{self, IdentityError};
use crate::item::ItemStatus;
use crate::policy::Level;
use crate::rules::Finding;
use crate::time::{self, Millis};
use crate::types::Effect;

/// The stable key of a resource: account, region, type and id, each checked as `identity`
/// checks them at intake. Written `account/region/type/id`: account, region and type cannot
/// hold a `/` (nor any id a control character), so the text names exactly one resource, and
/// the id, which may hold slashes (an SQS queue URL), comes last.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ResourceKey(String);

impl ResourceKey {
    pub fn new(
        account: &str,
        region: &str,
        resource_type: &str,
        resource_id: &str,
    ) -> Result<Self, IdentityError> {
        identity::check_account("awsAccountId", account)?;
        identity::check_region("awsRegion", region)?;
        identity::check_resource_type(resource_type)?;
        identity::check_text("resourceId", resource_id, identity::MAX_ID)?;
        Ok(ResourceKey(format!(
            "{account}/{region}/{resource_type}/{resource_id}"
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Account, region, type and id.
    pub fn parts(&self) -> (&str, &str, &str, &str) {
        let mut it = self.0.splitn(4, '/');
        let mut next = || it.next().unwrap_or_default();
        (next(), next(), next(), next())
    }

    /// A key as stored (a table's partition key, a task's `resource_key`), checked again.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let mut it = s.splitn(4, '/');
        let mut next = || it.next().unwrap_or_default();
        let (account, region, resource_type, id) = (next(), next(), next(), next());
        ResourceKey::new(account, region, resource_type, id)
    }
}

impl<'de> Deserialize<'de> for ResourceKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<str>::deserialize(d)?;
        ResourceKey::parse(&s).map_err(serde::de::Error::custom)
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
#[serde_with::skip_serializing_none]
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
    pub arn: Option<String>,
    pub resource_name: Option<String>,
    /// Tags when Config recorded them; `None` when not recorded or unreadable.
    pub tags: Option<BTreeMap<String, String>>,
    pub findings: Vec<RecordedFinding>,
    /// How complete this copy of the item was (`ConfigItem::rank`): the richer copy of one
    /// item is kept.
    #[serde(default)]
    pub rank: u8,
    /// What the item shows of Krampus's actions (`krampus::effects_shown`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
    /// The written rules that could not be evaluated on this item: their earlier findings
    /// stay open (`score`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_errors: Vec<crate::rules::RuleError>,
}

impl HistoryRecord {
    /// The sort key: `H#<capture time>#<state id>`. Sorting it as text sorts by time. Two
    /// copies of one item (same capture time and state id) share it: they are one item.
    pub fn sort_key(&self) -> String {
        let id = if self.state_id.bytes().all(|b| b.is_ascii_digit()) {
            format!("{:0>20}", self.state_id)
        } else {
            self.state_id.clone()
        };
        format!("H#{}#{}", time::format_rfc3339(self.capture_time), id)
    }

    /// Which of two copies of one item is kept: the richer, then (for a stable choice between
    /// copies that differ otherwise) the larger digest.
    pub fn preference(&self) -> (u8, &str) {
        (self.rank, &self.digest)
    }

    pub fn is_risky(&self, warn: u32) -> bool {
        !self.is_deletion() && self.base_total() >= warn
    }

    /// Whether the resource is risky with this item, after an item that was (`was_risky`) or
    /// not: a written rule that could not be evaluated on it ends no episode (its findings are
    /// kept open, not fixed).
    pub fn risky_after(&self, warn: u32, was_risky: bool) -> bool {
        self.is_risky(warn) || (was_risky && !self.is_deletion() && !self.rule_errors.is_empty())
    }

    /// Whether `rule` could not be evaluated on this item.
    pub fn errored(&self, rule: &str) -> bool {
        self.rule_errors.iter().any(|e| e.rule == rule)
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
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RiskState {
    pub key: ResourceKey,
    pub account: String,
    pub region: String,
    pub resource_type: String,
    pub resource_id: String,
    pub arn: Option<String>,
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
    pub tags: Option<BTreeMap<String, String>>,
    pub owner: Option<String>,
    /// What the newest item shows of Krampus's actions: how a task is confirmed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub effects: Vec<Effect>,
    /// The written rules that could not be evaluated on the newest item: their findings from
    /// before are kept open, and they drive no action (`verdict`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rule_errors: Vec<crate::rules::RuleError>,
    /// Risky episodes that started within the recidivism window.
    pub episodes: u32,
    /// When those episodes started, oldest first: the next item is folded in without the
    /// history. At most [`crate::policy::MAX_EPISODE_STARTS`], the newest: the policy's
    /// factor stops growing before that many (validated), so older starts cannot change a
    /// score.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub episode_starts: Vec<Millis>,
    /// Whether the newest item (and the one before it) was risky: a risky item after a safe
    /// one starts an episode.
    #[serde(default)]
    pub risky_newest: bool,
    #[serde(default)]
    pub risky_before: bool,
    /// The newest item's copy rank (`ConfigItem::rank`).
    #[serde(default)]
    pub rank: u8,
    /// The policy the findings were evaluated with (`Policy::version`): a state evaluated with
    /// another is evaluated again from its kept item.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy_version: String,
    /// Writes of this state so far: the optimistic-lock version.
    pub revision: u64,
}

impl RiskState {
    /// The raw value of its `team` tag (any case of the key), when set: the team its notices,
    /// tasks and report page go to before any mapping.
    pub fn team_tag(&self) -> Option<&str> {
        self.tags.as_ref().and_then(|tags| {
            tags.iter()
                .find(|(k, v)| k.eq_ignore_ascii_case("team") && !v.trim().is_empty())
                .map(|(_, v)| v.as_str())
        })
    }

    /// Open findings on a live resource: their points still change with time (age,
    /// recidivism window), so the scheduled re-score must visit it.
    pub fn needs_rescore(&self) -> bool {
        self.status == ResourceStatus::Active && !self.findings.is_empty()
    }
}
