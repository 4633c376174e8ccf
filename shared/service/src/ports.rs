//! Ports: narrow async traits with one AWS adapter and one local adapter each.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::future::Future;

use justice_core::allow::AllowList;
use justice_core::krampus::TasksFile;
use justice_core::notice::{AccountMap, Notice};
use justice_core::verdict::{Docket, OpenLine, VerdictRecord};

use justice_core::time::Millis;
use justice_core::{ConfigItem, HistoryRecord, OversizedSummary, ResourceKey, RiskState};

/// What the fast path reads of a resource: its current state and the newest item it keeps
/// (compressed, `justice_core::kept`), in one consistent read. The history is not read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stored {
    pub state: Option<RiskState>,
    pub item: Option<Vec<u8>>,
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
        /// Trying again may pass (throttling, a 5xx, a timeout, a lost connection), rather
        /// than fail the same way (access denied, a missing table, a rejected request).
        transient: bool,
    },
    #[error("stored item for {key} cannot be read: {reason}")]
    Corrupt { key: String, reason: String },
}

impl StoreError {
    /// Whether trying again may pass: a corrupt item stays corrupt.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Backend {
                transient: true,
                ..
            }
        )
    }
}

/// One write of a resource: its new state (with the item it keeps), and the history record of
/// the item that made it, together.
#[derive(Debug, Clone, Copy)]
pub struct Write<'a> {
    /// `None` for a re-score or a re-evaluation: the state alone.
    pub record: Option<&'a HistoryRecord>,
    /// The record replaces a poorer copy of the same item (same sort key).
    pub replace: bool,
    pub state: &'a RiskState,
    /// The newest item, kept next to the state.
    pub item: Option<&'a [u8]>,
    /// The revision the state was read at (`None`: there was none).
    pub expected_revision: Option<u64>,
}

/// One page of stored resources, in the store's order (DynamoDB's scan order, or the local
/// log's by key hash), and where the next starts.
#[derive(Debug, Clone, Default)]
pub struct KeyPage {
    pub keys: Vec<ResourceKey>,
    pub next: Option<String>,
}

/// Per-resource risk state and history, with DynamoDB's semantics: a record already stored is
/// never written twice, and the state is replaced only at the revision it was read at.
pub trait RiskStore: Send + Sync {
    /// The state and the kept item: one consistent read, however long the history.
    fn load(&self, key: &ResourceKey) -> impl Future<Output = Result<Stored, StoreError>> + Send;

    /// The history, oldest first: for an item that arrives out of order, and for people.
    fn history(
        &self,
        key: &ResourceKey,
    ) -> impl Future<Output = Result<Vec<HistoryRecord>, StoreError>> + Send;

    /// Writes the record (if any) and the state together, if the record is new (or replaces a
    /// poorer copy) and the stored state is still at the expected revision.
    fn commit(
        &self,
        key: &ResourceKey,
        write: Write<'_>,
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

    /// Up to about `limit` stored resources from `cursor` (`None`: the first page): the
    /// re-evaluation's walk over every state.
    fn resources(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<KeyPage, StoreError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("configuration source unavailable: {source}")]
    Backend {
        #[source]
        source: Box<dyn StdError + Send + Sync>,
        /// As [`StoreError::Backend`]'s.
        transient: bool,
    },
    #[error("configuration source returned an unreadable item: {0}")]
    Item(#[from] justice_core::ItemError),
}

impl SourceError {
    /// Whether trying again may pass: an unreadable item stays unreadable.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SourceError::Backend {
                transient: true,
                ..
            }
        )
    }
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

#[derive(Debug, thiserror::Error)]
pub enum BoardError {
    #[error("task board unavailable: {source}")]
    Backend {
        #[source]
        source: Box<dyn StdError + Send + Sync>,
        /// As [`StoreError::Backend`]'s.
        transient: bool,
    },
    /// The file is there but is not a tasks file (or the allow-list is not a whitelist): it is
    /// never overwritten, and nothing is decided without it.
    #[error("{what} cannot be read: {reason}")]
    Unreadable { what: String, reason: String },
}

impl BoardError {
    /// Whether trying again may pass: a file that cannot be read stays so until a person
    /// fixes it.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            BoardError::Backend {
                transient: true,
                ..
            }
        )
    }
}

/// `tasks.json` as read, with the version to write it back at (the S3 ETag; `None`: no file).
#[derive(Debug, Clone, Default)]
pub struct BoardRead {
    pub file: TasksFile,
    pub version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoardWrite {
    Written,
    /// The file changed since it was read (412): read again and redo the edit.
    Conflict,
}

/// Krampus's tasks file, the verdict records and the allow-list.
pub trait TaskBoard: Send + Sync {
    fn read(&self) -> impl Future<Output = Result<BoardRead, BoardError>> + Send;

    /// Writes the file if it is still at `version` (`None`: only if there is no file yet).
    fn write(
        &self,
        file: &TasksFile,
        version: Option<&str>,
    ) -> impl Future<Output = Result<BoardWrite, BoardError>> + Send;

    /// Writes a verdict record once: false when a record with its id already exists.
    fn record_verdict(
        &self,
        record: &VerdictRecord,
    ) -> impl Future<Output = Result<bool, BoardError>> + Send;

    /// The allow-list (Krampus's `whitelist.json`); empty when there is none.
    fn allow_list(&self) -> impl Future<Output = Result<AllowList, BoardError>> + Send;

    /// A verdict record by its key (as the S3 event names it); `None` when there is none.
    fn verdict(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<VerdictRecord>, BoardError>> + Send;

    /// The account → team mapping; empty when none is configured.
    fn account_map(&self) -> impl Future<Output = Result<AccountMap, BoardError>> + Send;

    /// The time (Unix seconds) before which every task due in the file at `version` has been
    /// checked against its docket by this process's judge (`note_swept`), so that its sweep
    /// for tasks put back need not read those dockets again. Only a board whose versions name
    /// writes can answer: S3's ETag is the content's MD5, so a file Krampus writes back as it
    /// was before the judge's last change has an old version again; the default never does.
    fn swept_before(&self, _version: &str) -> Option<i64> {
        None
    }

    /// Every task due before `before_s` in the file at `version` (`None`: the file this board
    /// last wrote) has been checked against its docket.
    fn note_swept(&self, _version: Option<&str>, _before_s: i64) {}
}

/// One page of a board's open verdicts, in key order, and where the next starts.
#[derive(Debug, Clone, Default)]
pub struct OpenPage {
    pub lines: Vec<(ResourceKey, OpenLine)>,
    /// Entries that do not read back, each named with why: reported to the security team,
    /// never a reason to send no digest at all.
    pub unreadable: Vec<String>,
    pub next: Option<String>,
}

/// Dockets as read: the ones found, and apart the ones stored that do not read back (with
/// why), so that one corrupt docket fails its own resource, not every batch it meets.
#[derive(Debug, Default)]
pub struct Dockets {
    pub found: HashMap<ResourceKey, Docket>,
    pub unreadable: HashMap<ResourceKey, String>,
}

/// The judge's memory: a docket per resource and board, and the blast-radius budget.
pub trait DocketStore: Send + Sync {
    fn dockets(
        &self,
        keys: &[ResourceKey],
        dry_run: bool,
    ) -> impl Future<Output = Result<Dockets, StoreError>> + Send;

    /// Saves each docket if the stored one is still at its expected revision (`None`: none
    /// yet); one outcome per docket, in order.
    fn save_dockets(
        &self,
        dockets: &[(&Docket, Option<u64>)],
    ) -> impl Future<Output = Vec<Result<Commit, StoreError>>> + Send;

    /// Up to about `limit` dockets of a board with an open verdict (an [`OpenLine`]), from
    /// `cursor` (`None`: the first page): what the digests list until it is fixed.
    fn open_verdicts(
        &self,
        dry_run: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<OpenPage, StoreError>> + Send;

    /// The resources held by the blast-radius limit, longest held first, at most `limit`: the
    /// queue the judge serves before anything new when budget frees up.
    fn held_queue(
        &self,
        dry_run: bool,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ResourceKey>, StoreError>> + Send;

    /// Takes what `ask` wants from its window's budget; returns how many were granted.
    /// Atomic across concurrent judges.
    fn reserve(&self, ask: BudgetAsk) -> impl Future<Output = Result<u32, StoreError>> + Send;
}

/// A request for blast-radius budget: up to `want` resources from the budget of `window` (an
/// hour number), of which at most `limit` may ever be taken, on the dry-run board or the live one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetAsk {
    pub window: i64,
    pub want: u32,
    pub limit: u32,
    pub dry_run: bool,
}

/// A message for the security team.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SecurityAlert {
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
#[error("outbox unavailable: {source}")]
pub struct OutboxError {
    #[source]
    pub source: Box<dyn StdError + Send + Sync>,
    /// As [`StoreError::Backend`]'s.
    pub transient: bool,
}

impl OutboxError {
    /// A failure that may pass on a retry (throttling, a 5xx, a lost connection).
    pub fn transient(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        OutboxError {
            source: source.into(),
            transient: true,
        }
    }

    /// A failure that fails the same way every time (access denied, no such topic).
    pub fn permanent(source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        OutboxError {
            source: source.into(),
            transient: false,
        }
    }
}

/// Where notices go: SNS in AWS, files locally.
pub trait Outbox: Send + Sync {
    fn alert_security(
        &self,
        alert: &SecurityAlert,
    ) -> impl Future<Output = Result<(), OutboxError>> + Send;

    /// Publishes a notice: to the security topic, the recipient's own topic, or the owners'
    /// topic with its message attributes.
    fn publish(&self, notice: &Notice) -> impl Future<Output = Result<(), OutboxError>> + Send;

    /// Whether the notice with this id was published already.
    fn was_sent(&self, id: &str) -> impl Future<Output = Result<bool, OutboxError>> + Send;

    /// Records the notice as published (once: false when it already was).
    fn mark_sent(&self, id: &str) -> impl Future<Output = Result<bool, OutboxError>> + Send;
}
