//! The judge's local adapters: dockets and the blast-radius budget in the same redb file as
//! the risk states, `tasks.json` and `verdicts/` as plain files, notices as files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use justice_core::allow::AllowList;
use justice_core::item::hash_parts;
use justice_core::krampus::TasksFile;
use justice_core::verdict::{Docket, VerdictRecord};
use justice_core::ResourceKey;
use justice_service::{
    BoardError, BoardRead, BoardWrite, Commit, DocketStore, Outbox, OutboxError, SecurityAlert,
    StoreError, TaskBoard,
};
use redb::{ReadableTable, TableDefinition};

use crate::risk_store::{db_err, decode, LocalRiskStore, LocalStoreError};

/// `<board>\0<key>` → docket JSON
const DOCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("dockets");
/// `<board>\0<hour>` → new tasks written in that hour
const BUDGET: TableDefinition<&str, u64> = TableDefinition::new("budget");

fn board_name(dry_run: bool) -> &'static str {
    if dry_run {
        "dry-run"
    } else {
        "live"
    }
}

fn docket_key(key: &ResourceKey, dry_run: bool) -> String {
    format!("{}\0{}", board_name(dry_run), key.as_str())
}

impl LocalRiskStore {
    fn dockets_sync(
        &self,
        keys: &[ResourceKey],
        dry_run: bool,
    ) -> Result<HashMap<ResourceKey, Docket>, LocalStoreError> {
        self.read_with(|txn| {
            let table = match txn.open_table(DOCKETS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
                Err(e) => return Err(db_err(e)),
            };
            let mut out = HashMap::new();
            for key in keys {
                let k = docket_key(key, dry_run);
                if let Some(v) = table.get(k.as_str()).map_err(db_err)? {
                    out.insert(key.clone(), decode(&k, v.value())?);
                }
            }
            Ok(out)
        })
    }

    /// Every docket of a board, in key order.
    pub fn all_dockets(&self, dry_run: bool) -> Result<Vec<Docket>, LocalStoreError> {
        self.read_with(|txn| {
            let table = match txn.open_table(DOCKETS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(db_err(e)),
            };
            let prefix = format!("{}\0", board_name(dry_run));
            let end = format!("{}\u{1}", board_name(dry_run));
            let mut out = Vec::new();
            for entry in table.range(prefix.as_str()..end.as_str()).map_err(db_err)? {
                let (k, v) = entry.map_err(db_err)?;
                out.push(decode(k.value(), v.value())?);
            }
            Ok(out)
        })
    }

    fn save_docket_sync(
        &self,
        docket: &Docket,
        expected: Option<u64>,
    ) -> Result<Commit, LocalStoreError> {
        self.write_with(|txn| {
            let mut table = txn.open_table(DOCKETS).map_err(db_err)?;
            let k = docket_key(&docket.key, docket.dry_run);
            let stored = match table.get(k.as_str()).map_err(db_err)? {
                Some(v) => Some(decode::<Docket>(&k, v.value())?.revision),
                None => None,
            };
            if stored != expected {
                return Ok(Commit::Conflict);
            }
            let bytes = serde_json::to_vec(docket).map_err(|e| LocalStoreError::Corrupt {
                key: docket.key.to_string(),
                reason: e.to_string(),
            })?;
            table.insert(k.as_str(), bytes.as_slice()).map_err(db_err)?;
            Ok(Commit::Written)
        })
    }

    fn reserve_sync(
        &self,
        window: i64,
        want: u32,
        limit: u32,
        dry_run: bool,
    ) -> Result<u32, LocalStoreError> {
        self.write_with(|txn| {
            let mut table = txn.open_table(BUDGET).map_err(db_err)?;
            let k = format!("{}\0{window}", board_name(dry_run));
            let used = table
                .get(k.as_str())
                .map_err(db_err)?
                .map_or(0, |v| v.value());
            let granted = u64::from(limit).saturating_sub(used).min(u64::from(want));
            if granted > 0 {
                table.insert(k.as_str(), used + granted).map_err(db_err)?;
            }
            Ok(granted as u32)
        })
    }
}

impl DocketStore for LocalRiskStore {
    async fn dockets(
        &self,
        keys: &[ResourceKey],
        dry_run: bool,
    ) -> Result<HashMap<ResourceKey, Docket>, StoreError> {
        Ok(self.dockets_sync(keys, dry_run)?)
    }

    async fn save_docket(
        &self,
        docket: &Docket,
        expected_revision: Option<u64>,
    ) -> Result<Commit, StoreError> {
        Ok(self.save_docket_sync(docket, expected_revision)?)
    }

    async fn reserve(
        &self,
        window: i64,
        want: u32,
        limit: u32,
        dry_run: bool,
    ) -> Result<u32, StoreError> {
        Ok(self.reserve_sync(window, want, limit, dry_run)?)
    }
}

/// `tasks.json` (or the dry-run file) and `verdicts/` under the state directory. The version
/// of the file is a hash of its bytes, so a concurrent writer is detected as S3's ETag would.
#[derive(Debug, Clone)]
pub struct LocalTaskBoard {
    pub tasks_path: PathBuf,
    pub verdicts_dir: PathBuf,
    pub whitelist_path: Option<PathBuf>,
}

fn io(what: &Path, e: std::io::Error) -> BoardError {
    BoardError::Backend {
        source: format!("{}: {e}", what.display()).into(),
    }
}

fn version_of(bytes: &[u8]) -> String {
    // Hashing the bytes as text keeps the fixed hash of the core; non-UTF-8 content is
    // refused by the parse before it matters.
    format!("{:016x}", hash_parts(&[&String::from_utf8_lossy(bytes)]))
}

impl LocalTaskBoard {
    /// The live board (`dir/tasks.json`) or the dry-run board (`dir/dry-run/tasks.json`).
    pub fn new(dir: &Path, dry_run: bool) -> Self {
        let tasks_path = if dry_run {
            dir.join("dry-run").join("tasks.json")
        } else {
            dir.join("tasks.json")
        };
        let whitelist = dir.join("whitelist.json");
        LocalTaskBoard {
            tasks_path,
            verdicts_dir: dir.join("verdicts"),
            whitelist_path: Some(whitelist),
        }
    }

    fn read_sync(&self) -> Result<BoardRead, BoardError> {
        match std::fs::read(&self.tasks_path) {
            Ok(bytes) => {
                let file = TasksFile::parse(&bytes).map_err(|reason| BoardError::Unreadable {
                    what: self.tasks_path.display().to_string(),
                    reason,
                })?;
                Ok(BoardRead {
                    file,
                    version: Some(version_of(&bytes)),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BoardRead::default()),
            Err(e) => Err(io(&self.tasks_path, e)),
        }
    }

    fn write_sync(
        &self,
        file: &TasksFile,
        version: Option<&str>,
    ) -> Result<BoardWrite, BoardError> {
        let current = match std::fs::read(&self.tasks_path) {
            Ok(bytes) => Some(version_of(&bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&self.tasks_path, e)),
        };
        if current.as_deref() != version {
            return Ok(BoardWrite::Conflict);
        }
        write_atomic(&self.tasks_path, &file.to_bytes())?;
        Ok(BoardWrite::Written)
    }
}

/// Writes through a temporary file and a rename: a reader never sees half a file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BoardError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, bytes).map_err(|e| io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))
}

impl TaskBoard for LocalTaskBoard {
    async fn read(&self) -> Result<BoardRead, BoardError> {
        self.read_sync()
    }

    async fn write(
        &self,
        file: &TasksFile,
        version: Option<&str>,
    ) -> Result<BoardWrite, BoardError> {
        self.write_sync(file, version)
    }

    async fn record_verdict(&self, record: &VerdictRecord) -> Result<bool, BoardError> {
        let path = self
            .verdicts_dir
            .join(format!("{}.json", record.verdict_id));
        if path.exists() {
            return Ok(false);
        }
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| BoardError::Backend {
            source: Box::new(e),
        })?;
        write_atomic(&path, &bytes)?;
        Ok(true)
    }

    async fn allow_list(&self) -> Result<AllowList, BoardError> {
        let Some(path) = &self.whitelist_path else {
            return Ok(AllowList::default());
        };
        match std::fs::read(path) {
            Ok(bytes) => AllowList::parse(&bytes).map_err(|reason| BoardError::Unreadable {
                what: path.display().to_string(),
                reason,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AllowList::default()),
            Err(e) => Err(io(path, e)),
        }
    }
}

/// Notices as files under `dir/outbox/`, one JSON file each, numbered in order.
#[derive(Debug)]
pub struct LocalOutbox {
    pub dir: PathBuf,
    seq: std::sync::atomic::AtomicU64,
}

impl LocalOutbox {
    pub fn new(dir: &Path) -> Self {
        LocalOutbox {
            dir: dir.join("outbox"),
            seq: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl Outbox for LocalOutbox {
    async fn alert_security(&self, alert: &SecurityAlert) -> Result<(), OutboxError> {
        let fail = |e: std::io::Error| OutboxError {
            source: Box::new(e),
        };
        std::fs::create_dir_all(&self.dir).map_err(fail)?;
        let existing = std::fs::read_dir(&self.dir).map_err(fail)?.count() as u64;
        let n = existing + self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = self.dir.join(format!("{n:06}-security.json"));
        let bytes = serde_json::to_vec_pretty(alert).map_err(|e| OutboxError {
            source: Box::new(e),
        })?;
        std::fs::write(&path, bytes).map_err(fail)
    }
}
