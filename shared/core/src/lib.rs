//! The pure core of the Justice Engine: AWS Config events in, findings, scores and risk states
//! out. No I/O, no async, no AWS SDK; the ports and the adapters live in other crates.

pub mod allow;
pub mod catalog;
pub mod doc;
pub mod event;
pub mod explain;
pub mod exposure;
pub mod identity;
pub mod item;
pub mod json;
pub mod kept;
pub mod krampus;
pub mod notice;
pub mod policy;
pub mod report;
pub mod rules;
pub mod score;
pub mod state;
pub mod summary;
pub mod text;
pub mod time;
pub mod types;
pub mod verdict;

pub use event::{parse_event, IntakeError, Notice, OversizedSummary};
pub use item::{ConfigItem, ItemError, ItemStatus};
pub use policy::{Level, Policy};
pub use state::{HistoryRecord, ResourceKey, RiskState};

/// The key of the resource an item describes (its identity was checked when it was read; a
/// hand-built item is checked here).
pub fn key_of(item: &ConfigItem) -> Result<ResourceKey, ItemError> {
    ResourceKey::new(
        &item.account,
        &item.region,
        &item.resource_type,
        &item.resource_id,
    )
    .map_err(|e| ItemError::new(item.label(), e.to_string()))
}

/// Input the core will not take, with the reason in words; the caller names what it was (a
/// resource, a file) and whether to retry (never: the same input is refused the same way).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

impl From<String> for Refused {
    fn from(why: String) -> Self {
        Refused(why)
    }
}

impl From<&str> for Refused {
    fn from(why: &str) -> Self {
        Refused(why.to_owned())
    }
}

pub(crate) fn refuse<T>(why: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(why.into()))
}
