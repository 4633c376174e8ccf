//! `LocalRiskStore`: the risk table on redb.
//!
//! Why redb: it is pure Rust (no C toolchain, builds anywhere cargo does), a single file,
//! and gives serializable ACID write transactions — so the condition checks DynamoDB does
//! server-side (record not yet present, state still at the revision read) run inside the same
//! transaction as the writes, and a crash leaves the file at its last commit, never half-written.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use justice_core::policy::Level;
use justice_core::time::Millis;
use justice_core::{HistoryRecord, ResourceKey, RiskState};
use justice_service::ports::{KeyPage, Write};
use justice_service::{Commit, RiskStore, StoreError, Stored};
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

/// key → the state's revision (8 bytes, little-endian), the length of the state's JSON (4
/// bytes), the state as JSON, then the newest item it keeps (`justice_core::kept`): one
/// lookup reads both, and a write's revision check reads 8 bytes.
const STATES: TableDefinition<&str, &[u8]> = TableDefinition::new("states-v2");
/// `<key>\0<sort key>` → history record JSON. No key holds a NUL (identity checks refuse
/// control characters), so a resource's range holds its own records only.
const HISTORY: TableDefinition<&str, &[u8]> = TableDefinition::new("history-v2");
/// The tables of the store before states were folded in O(1).
const OLD_STATES: TableDefinition<&str, &[u8]> = TableDefinition::new("states");
/// The page cache of the store.
const CACHE_BYTES: usize = 16 << 20;

/// job name → saved position
const JOBS: TableDefinition<&str, &str> = TableDefinition::new("jobs");

#[derive(Debug, thiserror::Error)]
pub enum LocalStoreError {
    #[error("cannot create state directory {path}: {source}")]
    Dir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot open the local store {path} (is another `justice` using it?): {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("local store: {0}")]
    Db(#[from] redb::Error),
    #[error("local store holds an unreadable item under {key}: {reason}")]
    Corrupt { key: String, reason: String },
    #[error(
        "the local store {path} was written by an older version of justice: replay with --fresh"
    )]
    OldFormat { path: PathBuf },
}

impl From<LocalStoreError> for StoreError {
    fn from(e: LocalStoreError) -> Self {
        match e {
            LocalStoreError::Corrupt { key, reason } => StoreError::Corrupt { key, reason },
            // The file or the database failed: a run again will meet the same disk.
            other => StoreError::Backend {
                source: Box::new(other),
                transient: false,
            },
        }
    }
}

pub(crate) fn db_err(e: impl Into<redb::Error>) -> LocalStoreError {
    LocalStoreError::Db(e.into())
}

/// The headline of a stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSummary {
    pub key: String,
    pub score: u32,
    pub level: Level,
    pub rules: Vec<String>,
}

/// The fields of a stored `RiskState` a summary reads; serde skips the rest unbuilt.
#[derive(serde::Deserialize)]
struct SlimState {
    key: String,
    score: u32,
    level: Level,
    findings: Vec<SlimFinding>,
}

#[derive(serde::Deserialize)]
struct SlimFinding {
    rule: String,
}

pub struct LocalRiskStore {
    pub(crate) db: Database,
    /// Batch mode (replays): events share one write transaction, committed every `batch_size`
    /// events and by [`LocalRiskStore::flush`]. Each event's record and state are still written
    /// together; a crash loses whole events of the open batch, never half of one.
    batch: Mutex<Batch>,
}

#[derive(Default)]
struct Batch {
    size: usize,
    open: Option<WriteTransaction>,
    pending: usize,
}

impl LocalRiskStore {
    /// Opens (or creates) `dir/risk.redb`.
    pub fn open(dir: &Path) -> Result<Self, LocalStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| LocalStoreError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("risk.redb");
        // A bounded page cache: redb's default (1 GiB) keeps every page written, so memory
        // would grow with the store, and each new page would cost the kernel a fresh zeroed
        // page. Reads are by key: a small cache serves them.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|source| LocalStoreError::Open {
                path: path.clone(),
                source,
            })?;
        {
            let read = db.begin_read().map_err(db_err)?;
            if read.open_table(OLD_STATES).is_ok() {
                return Err(LocalStoreError::OldFormat { path });
            }
        }
        let txn = db.begin_write().map_err(db_err)?;
        txn.open_table(STATES).map_err(db_err)?;
        txn.open_table(HISTORY).map_err(db_err)?;
        txn.commit().map_err(db_err)?;
        Ok(LocalRiskStore {
            db,
            batch: Mutex::new(Batch::default()),
        })
    }

    /// Groups up to `events` events per write transaction (0 or 1: one durable transaction
    /// per event). Call [`LocalRiskStore::flush`] at the end.
    pub fn set_batch_size(&mut self, events: usize) {
        match self.batch.get_mut() {
            Ok(b) => b.size = events,
            Err(poisoned) => poisoned.into_inner().size = events,
        }
    }

    /// Commits the open batch, durably.
    pub fn flush(&self) -> Result<(), LocalStoreError> {
        let mut batch = self.lock();
        batch.pending = 0;
        match batch.open.take() {
            Some(mut txn) => {
                txn.set_durability(Durability::Immediate).map_err(db_err)?;
                txn.commit().map_err(db_err)
            }
            // Earlier batches committed without fsync: an empty durable commit persists them.
            None => self
                .db
                .begin_write()
                .map_err(db_err)?
                .commit()
                .map_err(db_err),
        }
    }

    /// Runs `f` in a write transaction of its own, after committing the open batch (without
    /// fsync in batch mode: the batch's final flush makes both durable).
    pub(crate) fn write_with<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, LocalStoreError>,
    ) -> Result<T, LocalStoreError> {
        let mut batch = self.lock();
        if let Some(txn) = batch.open.take() {
            batch.pending = 0;
            txn.commit().map_err(db_err)?;
        }
        let mut txn = self.db.begin_write().map_err(db_err)?;
        if batch.size > 1 {
            txn.set_durability(Durability::None).map_err(db_err)?;
        }
        let out = f(&txn)?;
        txn.commit().map_err(db_err)?;
        Ok(out)
    }

    /// Runs `f` over a read of the committed data and the open batch.
    pub(crate) fn read_with<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, LocalStoreError>,
    ) -> Result<T, LocalStoreError> {
        let mut batch = self.lock();
        if let Some(txn) = batch.open.take() {
            batch.pending = 0;
            txn.commit().map_err(db_err)?;
        }
        drop(batch);
        let txn = self.db.begin_read().map_err(db_err)?;
        f(&txn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Batch> {
        // A panic while holding the lock leaves at worst an uncommitted batch, which redb
        // discards: the data stays consistent, so the poison can be ignored.
        self.batch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every current state, in key order (of committed batches: flush first).
    pub fn states(&self) -> Result<Vec<RiskState>, LocalStoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(STATES).map_err(db_err)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            out.push(decode(k.value(), state_json(k.value(), v.value())?)?);
        }
        Ok(out)
    }

    /// Every current state's headline (key, score, level, rule ids), in key order: what a
    /// summary prints, without decoding whole states.
    /// Every stored state's headline, in key order, one at a time: memory stays flat however
    /// many states the store holds.
    pub fn each_summary(&self, mut visit: impl FnMut(StateSummary)) -> Result<(), LocalStoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let table = txn.open_table(STATES).map_err(db_err)?;
        for entry in table.iter().map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            let s: SlimState = decode(k.value(), state_json(k.value(), v.value())?)?;
            visit(StateSummary {
                key: s.key,
                score: s.score,
                level: s.level,
                rules: s.findings.into_iter().map(|f| f.rule).collect(),
            });
        }
        Ok(())
    }

    fn load_sync(&self, key: &ResourceKey) -> Result<Stored, LocalStoreError> {
        let batch = self.lock();
        // Within a batch, read through the open transaction: it sees the batch's own writes.
        if let Some(txn) = &batch.open {
            let states = txn.open_table(STATES).map_err(db_err)?;
            return read_resource(&states, key);
        }
        drop(batch);
        let txn = self.db.begin_read().map_err(db_err)?;
        let states = txn.open_table(STATES).map_err(db_err)?;
        read_resource(&states, key)
    }

    fn history_sync(&self, key: &ResourceKey) -> Result<Vec<HistoryRecord>, LocalStoreError> {
        let (from, to) = history_range(key);
        let mut out = Vec::new();
        let mut push = |k: &str, v: &[u8]| -> Result<(), LocalStoreError> {
            out.push(decode(k, v)?);
            Ok(())
        };
        let batch = self.lock();
        if let Some(txn) = &batch.open {
            let history = txn.open_table(HISTORY).map_err(db_err)?;
            for entry in history.range(from.as_str()..to.as_str()).map_err(db_err)? {
                let (k, v) = entry.map_err(db_err)?;
                push(k.value(), v.value())?;
            }
            return Ok(out);
        }
        drop(batch);
        let txn = self.db.begin_read().map_err(db_err)?;
        let history = txn.open_table(HISTORY).map_err(db_err)?;
        for entry in history.range(from.as_str()..to.as_str()).map_err(db_err)? {
            let (k, v) = entry.map_err(db_err)?;
            push(k.value(), v.value())?;
        }
        Ok(out)
    }

    fn commit_sync(&self, key: &ResourceKey, w: Write<'_>) -> Result<Commit, LocalStoreError> {
        let mut batch = self.lock();
        let txn = match batch.open.take() {
            Some(txn) => txn,
            None => {
                let mut txn = self.db.begin_write().map_err(db_err)?;
                if batch.size > 1 {
                    // Made durable by the batch's last commit (see `flush`).
                    txn.set_durability(Durability::None).map_err(db_err)?;
                }
                txn
            }
        };
        let outcome = {
            let mut history = txn.open_table(HISTORY).map_err(db_err)?;
            let mut states = txn.open_table(STATES).map_err(db_err)?;
            let hkey = w
                .record
                .map(|r| format!("{}\0{}", key.as_str(), r.sort_key()));
            let stored_revision = match states.get(key.as_str()).map_err(db_err)? {
                Some(v) => Some(revision_of(key.as_str(), v.value())?),
                None => None,
            };
            let duplicate = match &hkey {
                Some(h) if !w.replace => history.get(h.as_str()).map_err(db_err)?.is_some(),
                _ => false,
            };
            if duplicate {
                Commit::Duplicate
            } else if stored_revision != w.expected_revision {
                Commit::Conflict
            } else {
                if let (Some(h), Some(record)) = (&hkey, w.record) {
                    let r = serde_json::to_vec(record).map_err(|e| corrupt(key, e))?;
                    history.insert(h.as_str(), r.as_slice()).map_err(db_err)?;
                }
                let json = serde_json::to_vec(w.state).map_err(|e| corrupt(key, e))?;
                let item = w.item.unwrap_or_default();
                let mut value = Vec::with_capacity(12 + json.len() + item.len());
                value.extend_from_slice(&w.state.revision.to_le_bytes());
                value.extend_from_slice(&(json.len() as u32).to_le_bytes());
                value.extend_from_slice(&json);
                value.extend_from_slice(item);
                states
                    .insert(key.as_str(), value.as_slice())
                    .map_err(db_err)?;
                Commit::Written
            }
        };
        if batch.size > 1 {
            batch.pending += usize::from(outcome == Commit::Written);
            if batch.pending >= batch.size {
                batch.pending = 0;
                txn.commit().map_err(db_err)?;
            } else {
                batch.open = Some(txn);
            }
        } else if outcome == Commit::Written {
            txn.commit().map_err(db_err)?;
        } else {
            txn.abort().map_err(db_err)?;
        }
        Ok(outcome)
    }

    fn resources_sync(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, LocalStoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        let states = txn.open_table(STATES).map_err(db_err)?;
        let mut keys = Vec::new();
        let range = match cursor {
            Some(c) => {
                states.range::<&str>((std::ops::Bound::Excluded(c), std::ops::Bound::Unbounded))
            }
            None => states.range::<&str>(..),
        }
        .map_err(db_err)?;
        for entry in range {
            let (k, _) = entry.map_err(db_err)?;
            if keys.len() == limit {
                break;
            }
            let key = ResourceKey::parse(k.value()).map_err(|e| LocalStoreError::Corrupt {
                key: k.value().to_owned(),
                reason: e.to_string(),
            })?;
            keys.push(key);
        }
        let next = (keys.len() == limit)
            .then(|| keys.last().map(|k| k.as_str().to_owned()))
            .flatten();
        Ok(KeyPage { keys, next })
    }
}

fn read_resource(
    states: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &ResourceKey,
) -> Result<Stored, LocalStoreError> {
    let Some(v) = states.get(key.as_str()).map_err(db_err)? else {
        return Ok(Stored::default());
    };
    let value = v.value();
    let json = state_json(key.as_str(), value)?;
    let item = &value[12 + json.len()..];
    Ok(Stored {
        state: Some(decode(key.as_str(), json)?),
        item: (!item.is_empty()).then(|| item.to_vec()),
    })
}

/// The JSON of a stored state value, after its revision and length.
fn state_json<'a>(key: &str, value: &'a [u8]) -> Result<&'a [u8], LocalStoreError> {
    let corrupt = || LocalStoreError::Corrupt {
        key: key.to_owned(),
        reason: "a state value shorter than its header".into(),
    };
    let mut len = [0u8; 4];
    len.copy_from_slice(value.get(8..12).ok_or_else(corrupt)?);
    let len = u32::from_le_bytes(len) as usize;
    value.get(12..12 + len).ok_or_else(corrupt)
}

fn revision_of(key: &str, value: &[u8]) -> Result<u64, LocalStoreError> {
    let mut r = [0u8; 8];
    r.copy_from_slice(value.get(..8).ok_or_else(|| LocalStoreError::Corrupt {
        key: key.to_owned(),
        reason: "a state value shorter than its revision".into(),
    })?);
    Ok(u64::from_le_bytes(r))
}

fn history_range(key: &ResourceKey) -> (String, String) {
    (
        format!("{}\0", key.as_str()),
        format!("{}\u{1}", key.as_str()),
    )
}

fn corrupt(key: &ResourceKey, e: serde_json::Error) -> LocalStoreError {
    LocalStoreError::Corrupt {
        key: key.to_string(),
        reason: e.to_string(),
    }
}

pub(crate) fn decode<T: serde::de::DeserializeOwned>(
    key: &str,
    bytes: &[u8],
) -> Result<T, LocalStoreError> {
    serde_json::from_slice(bytes).map_err(|e| LocalStoreError::Corrupt {
        key: key.replace('\0', " "),
        reason: e.to_string(),
    })
}

impl RiskStore for LocalRiskStore {
    async fn load(&self, key: &ResourceKey) -> Result<Stored, StoreError> {
        Ok(self.load_sync(key)?)
    }

    async fn history(&self, key: &ResourceKey) -> Result<Vec<HistoryRecord>, StoreError> {
        Ok(self.history_sync(key)?)
    }

    async fn commit(&self, key: &ResourceKey, write: Write<'_>) -> Result<Commit, StoreError> {
        Ok(self.commit_sync(key, write)?)
    }

    async fn resources(&self, cursor: Option<&str>, limit: usize) -> Result<KeyPage, StoreError> {
        Ok(self.resources_sync(cursor, limit)?)
    }

    async fn job_cursor(&self, job: &str) -> Result<Option<String>, StoreError> {
        // Through the open batch (if any), which a second write transaction would wait for.
        Ok(self.read_with(|txn| {
            let table = match txn.open_table(JOBS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(db_err(e)),
            };
            Ok(table
                .get(job)
                .map_err(db_err)?
                .map(|v| v.value().to_owned()))
        })?)
    }

    async fn set_job_cursor(&self, job: &str, cursor: Option<&str>) -> Result<(), StoreError> {
        Ok(self.write_with(|txn| {
            let mut table = txn.open_table(JOBS).map_err(db_err)?;
            match cursor {
                Some(c) => {
                    table.insert(job, c).map_err(db_err)?;
                }
                None => {
                    table.remove(job).map_err(db_err)?;
                }
            }
            Ok(())
        })?)
    }

    async fn risky(
        &self,
        evaluated_before: Millis,
        limit: usize,
    ) -> Result<Vec<ResourceKey>, StoreError> {
        let mut due: Vec<(Millis, ResourceKey)> = self
            .states()?
            .into_iter()
            .filter(|s| s.needs_rescore() && s.evaluated_at < evaluated_before)
            .map(|s| (s.evaluated_at, s.key))
            .collect();
        due.sort();
        Ok(due.into_iter().take(limit).map(|(_, k)| k).collect())
    }
}
