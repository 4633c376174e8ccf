//! Ports: narrow async traits with one AWS adapter and one local adapter each.

use std::error::Error as StdError;
use std::future::Future;

use justice_core::time::Millis;
use justice_core::{ConfigItem, HistoryRecord, OversizedSummary, ResourceKey, RiskState};

/// A resource as stored: its current state and its history, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stored {
    pub state: Option<RiskState>,
    pub history: Vec<HistoryRecord>,
}

/// The result of a conditional write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commit {
    /// The history record and the new state were written.
    Written,
    /// This record was already stored (a redelivery): nothing was written.
    Duplicate,
    /// The state changed since it was read: reload and retry. Nothing was written.
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("risk store unavailable: {source}")]
    Backend {
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("stored item for {key} cannot be read: {reason}")]
    Corrupt { key: String, reason: String },
}

/// Per-resource risk state and history, with DynamoDB's semantics: a record already stored is
/// never written twice, and the state is replaced only at the revision it was read at.
pub trait RiskStore: Send + Sync {
    fn load(&self, key: &ResourceKey) -> impl Future<Output = Result<Stored, StoreError>> + Send;

    /// Writes `record` and `state` together, if `record` is new and the stored state is still
    /// at `expected_revision` (`None`: no state yet). A re-score writes the state alone
    /// (`record: None`).
    fn commit(
        &self,
        key: &ResourceKey,
        record: Option<&HistoryRecord>,
        state: &RiskState,
        expected_revision: Option<u64>,
    ) -> impl Future<Output = Result<Commit, StoreError>> + Send;

    /// A scheduled job's saved position (the back-fill's cursor), if any.
    fn job_cursor(
        &self,
        job: &str,
    ) -> impl Future<Output = Result<Option<String>, StoreError>> + Send;

    /// Saves (`Some`) or clears (`None`) a job's position.
    fn set_job_cursor(
        &self,
        job: &str,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `limit` resources with open findings whose state was evaluated before
    /// `evaluated_before`, least recently evaluated first: the re-score's work list.
    fn risky(
        &self,
        evaluated_before: Millis,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ResourceKey>, StoreError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("configuration source unavailable: {source}")]
    Backend {
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    #[error("configuration source returned an unreadable item: {0}")]
    Item(#[from] justice_core::ItemError),
}

/// One page of a resource type's discovered resources, with their current items.
#[derive(Debug, Default)]
pub struct DiscoveredPage {
    /// Each item, or why it could not be read (never a verdict).
    pub items: Vec<Result<ConfigItem, justice_core::ItemError>>,
    /// Where the next page starts; `None` after the last.
    pub next: Option<String>,
}

/// AWS Config's own record of resources: the full item behind an oversized notification, and
/// the resources that existed before the engine was deployed.
pub trait ConfigSource: Send + Sync {
    /// The item the summary stands for; `None` when the source does not have it.
    fn fetch(
        &self,
        summary: &OversizedSummary,
    ) -> impl Future<Output = Result<Option<ConfigItem>, SourceError>> + Send;

    /// A page of the resources of `resource_type` Config has discovered, from `token` (`None`:
    /// the first page).
    fn discover(
        &self,
        resource_type: &str,
        token: Option<&str>,
    ) -> impl Future<Output = Result<DiscoveredPage, SourceError>> + Send;
}
