//! `LocalRiskStore`: the risk table on an append-only log (`risk_log`), and the judge's
//! dockets, budget and the jobs' cursors in redb beside it.
//!
//! Why two files: states and history are written on every event, and an append-only log takes
//! them at the speed of a buffer copy; the judge's tables are written a few times a batch and
//! want ordered ranges and transactions, which redb (pure Rust, one file, ACID, it also locks
//! the directory against a second `justice`) gives. The condition checks DynamoDB does
//! server-side (record not yet present, state still at the revision read) run under the same
//! lock as the append, so they hold as they do in AWS.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use justice_core::policy::Level;
use justice_core::time::Millis;
use justice_core::{HistoryRecord, ResourceKey, RiskState};
use justice_service::ports::{KeyPage, Write};
use justice_service::{Commit, RiskStore, StoreError, Stored};
use redb::{Database, Durability, ReadableDatabase, TableDefinition, WriteTransaction};

use crate::risk_log::{self, Cursor, Headline, RiskLog, Slot};

/// The tables of the store before states moved to the log: a store that has them is refused.
const OLD_STATES: [&str; 2] = ["states", "states-v2"];
/// The page cache of the redb file (the judge's tables and job cursors). A replay's judge
/// looks up hundreds of dockets a batch: 1 MiB made a 100,000-event replay a third slower.
const CACHE_BYTES: usize = 4 << 20;

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
    #[error("local store {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
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

/// What [`LocalRiskStore::summarize`] finds (or [`StoreSummary::add`] gathers, state by
/// state), in constant memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreSummary {
    pub count: usize,
    /// Levels with no state are absent.
    pub by_level: std::collections::BTreeMap<Level, usize>,
    /// Level above none, highest score first, then by key; at most the `top` asked for.
    pub riskiest: Vec<StateSummary>,
}

impl StoreSummary {
    /// Counts one state and ranks it among the `top` riskiest.
    pub fn add(&mut self, s: StateSummary, top: usize) {
        self.count += 1;
        *self.by_level.entry(s.level).or_default() += 1;
        self.rank(s, top);
    }

    /// Ranks one state among the `top` riskiest, if it is risky at all.
    fn rank(&mut self, s: StateSummary, top: usize) {
        if s.level == Level::None {
            return;
        }
        let at = self
            .riskiest
            .partition_point(|r| r.score > s.score || (r.score == s.score && r.key < s.key));
        if at < top {
            self.riskiest.insert(at, s);
            self.riskiest.truncate(top);
        }
    }
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
    log: Mutex<Logged>,
    /// The judge's: which docket keys may be stored (see `judge.rs`).
    pub(crate) docketed: Mutex<Option<std::collections::HashSet<u64>>>,
}

/// The log and the batching of its writes.
struct Logged {
    log: RiskLog,
    /// Batch mode (replays): appended events reach the file every `size` events and the disk
    /// at [`LocalRiskStore::flush`]; each event's record and state are one log record, so a
    /// crash loses whole events of the open batch, never half of one. 0 or 1: every write is
    /// on the disk before `commit` returns.
    size: usize,
    pending: usize,
}

impl LocalRiskStore {
    /// Opens (or creates) `dir/risk.redb` and `dir/risk.log`.
    pub fn open(dir: &Path) -> Result<Self, LocalStoreError> {
        std::fs::create_dir_all(dir).map_err(|source| LocalStoreError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join("risk.redb");
        // Opened first: redb locks the file, and so the directory, against another process.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .create(&path)
            .map_err(|source| LocalStoreError::Open {
                path: path.clone(),
                source,
            })?;
        {
            let read = db.begin_read().map_err(db_err)?;
            for name in OLD_STATES {
                let old: TableDefinition<&str, &[u8]> = TableDefinition::new(name);
                if read.open_table(old).is_ok() {
                    return Err(LocalStoreError::OldFormat { path });
                }
            }
        }
        let log = RiskLog::open(&dir.join("risk.log"))?;
        Ok(LocalRiskStore {
            db,
            log: Mutex::new(Logged {
                log,
                size: 0,
                pending: 0,
            }),
            docketed: Mutex::new(None),
        })
    }

    /// What opening found unreadable at the end of the log and set aside (see `risk_log`),
    /// for the command to tell the person running it.
    pub fn recovered(&self) -> Option<String> {
        self.lock().log.recovered.clone()
    }

    /// Groups up to `events` events per write to the file (0 or 1: every event durable on its
    /// own). Call [`LocalRiskStore::flush`] at the end.
    pub fn set_batch_size(&mut self, events: usize) {
        match self.log.get_mut() {
            Ok(l) => l.size = events,
            Err(poisoned) => poisoned.into_inner().size = events,
        }
    }

    /// Puts everything written so far on the disk: the log, then the judge's tables.
    pub fn flush(&self) -> Result<(), LocalStoreError> {
        {
            let mut logged = self.lock();
            logged.pending = 0;
            logged.log.sync()?;
        }
        // Batch-mode transactions committed without fsync: an empty durable commit persists them.
        self.db
            .begin_write()
            .map_err(db_err)?
            .commit()
            .map_err(db_err)
    }

    /// Runs `f` in a write transaction of the judge's tables (without fsync in batch mode:
    /// the batch's final flush makes it durable).
    pub(crate) fn write_with<T>(
        &self,
        f: impl FnOnce(&WriteTransaction) -> Result<T, LocalStoreError>,
    ) -> Result<T, LocalStoreError> {
        let batched = self.lock().size > 1;
        let mut txn = self.db.begin_write().map_err(db_err)?;
        if batched {
            txn.set_durability(Durability::None).map_err(db_err)?;
        }
        let out = f(&txn)?;
        txn.commit().map_err(db_err)?;
        Ok(out)
    }

    /// Runs `f` over a read of the judge's tables.
    pub(crate) fn read_with<T>(
        &self,
        f: impl FnOnce(&redb::ReadTransaction) -> Result<T, LocalStoreError>,
    ) -> Result<T, LocalStoreError> {
        let txn = self.db.begin_read().map_err(db_err)?;
        f(&txn)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Logged> {
        // A panic while holding the lock happens between whole appends (an append's index
        // update follows its bytes): the log stays consistent, so the poison can be ignored.
        self.log
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Visits every stored state's JSON, in the log's order of resources (by hash).
    fn each_state(
        &self,
        mut visit: impl FnMut(&str, &[u8]) -> Result<(), LocalStoreError>,
    ) -> Result<(), LocalStoreError> {
        let logged = self.lock();
        for (_, slot) in logged.log.slots_after(None) {
            let payload = logged.log.payload(&slot)?;
            let c = risk_log::decode(&payload).ok_or_else(|| logged.log.damaged(slot.at))?;
            visit(c.key, c.state)?;
        }
        Ok(())
    }

    /// Every current state, in key order.
    pub fn states(&self) -> Result<Vec<RiskState>, LocalStoreError> {
        let mut out: Vec<RiskState> = Vec::new();
        self.each_state(|key, json| {
            out.push(decode(key, json)?);
            Ok(())
        })?;
        out.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
        Ok(out)
    }

    /// How many states the store holds, by level, and the `top` riskiest (level above none,
    /// highest score first, then by key) with their rules. The index knows the score and level
    /// of every state this process wrote: only states found on opening the log, and those
    /// that could make the list, are read. Memory stays flat however many states.
    pub fn summarize(&self, top: usize) -> Result<StoreSummary, LocalStoreError> {
        let logged = self.lock();
        let log = &logged.log;
        let read = |slot: &Slot| -> Result<StateSummary, LocalStoreError> {
            let payload = log.payload(slot)?;
            let c = risk_log::decode(&payload).ok_or_else(|| log.damaged(slot.at))?;
            let s: SlimState = decode(c.key, c.state)?;
            Ok(StateSummary {
                key: s.key,
                score: s.score,
                level: s.level,
                rules: s.findings.into_iter().map(|f| f.rule).collect(),
            })
        };
        let headline = |slot: &Slot| -> Result<Headline, LocalStoreError> {
            match slot.headline {
                Some(h) => Ok(h),
                None => read(slot).map(|s| Headline {
                    score: s.score,
                    level: s.level,
                }),
            }
        };
        // First the counts and the lowest score the list can hold (the `top`-th highest)...
        let mut out = StoreSummary::default();
        let mut highest = std::collections::BinaryHeap::new();
        for (_, slot) in log.slots_after(None) {
            let h = headline(&slot)?;
            out.count += 1;
            *out.by_level.entry(h.level).or_default() += 1;
            if h.level != Level::None && top > 0 {
                highest.push(std::cmp::Reverse(h.score));
                if highest.len() > top {
                    highest.pop();
                }
            }
        }
        let Some(&std::cmp::Reverse(floor)) = highest.peek() else {
            return Ok(out);
        };
        // ...then the states at or above it, ranked as they come: ties are ranked by key, which
        // only the state holds, so every state at the floor is read, but no more than `top`
        // are kept however many tie.
        for (_, slot) in log.slots_after(None) {
            let h = headline(&slot)?;
            if h.level != Level::None && h.score >= floor {
                out.rank(read(&slot)?, top);
            }
        }
        Ok(out)
    }

    fn load_sync(&self, key: &ResourceKey) -> Result<Stored, LocalStoreError> {
        let (_, found) = self.lock().log.locate(key.as_str())?;
        let Some(found) = found else {
            return Ok(Stored::default());
        };
        let c = risk_log::decode(&found.payload).ok_or_else(|| damaged(key, found.slot))?;
        Ok(Stored {
            state: Some(decode(key.as_str(), c.state)?),
            item: (!c.item.is_empty()).then(|| c.item.to_vec()),
        })
    }

    fn history_sync(&self, key: &ResourceKey) -> Result<Vec<HistoryRecord>, LocalStoreError> {
        let logged = self.lock();
        let Some(slot) = logged.log.locate(key.as_str())?.1.map(|f| f.slot) else {
            return Ok(Vec::new());
        };
        // Newest first along the chain; a record replaced by a richer copy (same sort key)
        // is met after its replacement and skipped.
        let mut seen = std::collections::BTreeMap::new();
        let mut at = slot.history;
        while at != risk_log::NONE {
            let payload = logged.log.commit_at(at)?;
            let c = risk_log::decode(&payload).ok_or_else(|| logged.log.damaged(at))?;
            if c.key != key.as_str() {
                return Err(logged.log.damaged(at));
            }
            if let Some((sort_key, json)) = c.record {
                if !seen.contains_key(sort_key) {
                    seen.insert(
                        sort_key.to_owned(),
                        decode::<HistoryRecord>(key.as_str(), json)?,
                    );
                }
            }
            if c.prev != risk_log::NONE && c.prev >= at {
                // A chain runs back in the file; anything else is damage, not a loop to follow.
                return Err(logged.log.damaged(at));
            }
            at = c.prev;
        }
        Ok(seen.into_values().collect())
    }

    fn commit_sync(&self, key: &ResourceKey, w: Write<'_>) -> Result<Commit, LocalStoreError> {
        let record = match w.record {
            Some(r) => Some((
                r.sort_key(),
                serde_json::to_vec(r).map_err(|e| corrupt(key, e))?,
            )),
            None => None,
        };
        let state = serde_json::to_vec(w.state).map_err(|e| corrupt(key, e))?;
        let mut logged = self.lock();
        let (place, found) = logged.log.locate(key.as_str())?;
        let slot = found.map(|f| f.slot);
        let record_place = match &record {
            Some((sort_key, _)) => {
                let (place, stored) = logged.log.locate_record(key.as_str(), sort_key)?;
                if stored && !w.replace {
                    return Ok(Commit::Duplicate);
                }
                Some(place)
            }
            None => None,
        };
        if slot.map(|s| s.revision) != w.expected_revision {
            return Ok(Commit::Conflict);
        }
        logged.log.append(
            &risk_log::Commit {
                key: key.as_str(),
                revision: w.state.revision,
                prev: slot.map_or(risk_log::NONE, |s| s.history),
                record: record
                    .as_ref()
                    .map(|(sk, json)| (sk.as_str(), json.as_slice())),
                state: &state,
                item: w.item.unwrap_or_default(),
            },
            place,
            record_place,
            Some(Headline {
                score: w.state.score,
                level: w.state.level,
            }),
        )?;
        // Past this point the commit is in the log: a failure to write it out is the disk's,
        // like a timeout after DynamoDB took a write, and a retry finds it a duplicate.
        if logged.size > 1 {
            logged.pending += 1;
            if logged.pending >= logged.size || logged.log.buffer_full() {
                logged.pending = 0;
                logged.log.write_out()?;
            }
        } else {
            logged.log.sync()?;
        }
        Ok(Commit::Written)
    }

    fn resources_sync(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<KeyPage, LocalStoreError> {
        let cursor = cursor.and_then(|c| {
            let parsed = Cursor::parse(c);
            if parsed.is_none() {
                // Starting the walk again costs time; refusing would stop the job for good.
                tracing::warn!(
                    cursor = c,
                    "not a cursor of the local store; walking from the start"
                );
            }
            parsed
        });
        let logged = self.lock();
        let mut keys = Vec::new();
        let mut last = None;
        for (position, slot) in logged.log.slots_after(cursor.as_ref()).take(limit) {
            let payload = logged.log.payload(&slot)?;
            let c = risk_log::decode(&payload).ok_or_else(|| logged.log.damaged(slot.at))?;
            let key = ResourceKey::parse(c.key).map_err(|e| LocalStoreError::Corrupt {
                key: c.key.to_owned(),
                reason: e.to_string(),
            })?;
            keys.push(key);
            last = Some(position);
        }
        let next = (keys.len() == limit)
            .then(|| last.map(|p| p.to_string()))
            .flatten();
        Ok(KeyPage { keys, next })
    }
}

fn damaged(key: &ResourceKey, slot: Slot) -> LocalStoreError {
    LocalStoreError::Corrupt {
        key: key.to_string(),
        reason: format!("the log record at byte {} does not read back", slot.at),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A state directory from before the log (states in redb) is refused with a way out,
    /// rather than read as an empty store.
    #[test]
    fn a_store_from_before_the_log_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let db = Database::create(dir.path().join("risk.redb")).expect("redb");
            let txn = db.begin_write().expect("write");
            let old: TableDefinition<&str, &[u8]> = TableDefinition::new("states-v2");
            txn.open_table(old)
                .expect("table")
                .insert("k", [1u8].as_slice())
                .expect("insert");
            txn.commit().expect("commit");
        }
        match LocalRiskStore::open(dir.path()) {
            Err(e @ LocalStoreError::OldFormat { .. }) => {
                assert!(e.to_string().contains("--fresh"), "{e}")
            }
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("an old store was opened"),
        }
    }
}
