//! The judge's local adapters: dockets and the blast-radius budget in the same redb file as
//! the risk states, `tasks.json` and `verdicts/` as plain files, notices as files.

use std::path::{Path, PathBuf};

use justice_core::allow::AllowList;
use justice_core::krampus::TasksFile;
use justice_core::notice::{AccountMap, Notice};
use justice_core::verdict::{Docket, VerdictKind, VerdictRecord};
use justice_core::ResourceKey;
use justice_service::{
    BoardError, BoardRead, BoardWrite, BudgetAsk, Commit, DocketStore, Dockets, OpenPage, Outbox,
    OutboxError, SecurityAlert, StoreError, TaskBoard,
};
use redb::{ReadableTable, TableDefinition};

use crate::risk_store::{db_err, decode, LocalRiskStore, LocalStoreError};

/// `<board>\0<key>` → docket JSON
const DOCKETS: TableDefinition<&str, &[u8]> = TableDefinition::new("dockets");
/// `<board>\0<held since, 20 digits>\0<key>` → nothing: the held queue, oldest first
const HELD: TableDefinition<&str, &[u8]> = TableDefinition::new("held");
/// `<board>\0<hour>` → resources acted on in that hour
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

/// The held-queue entry of a docket, if it is held.
fn held_key(d: &Docket) -> Option<String> {
    let line = d.open.as_ref().filter(|l| l.kind == VerdictKind::Held)?;
    Some(format!(
        "{}\0{:020}\0{}",
        board_name(d.dry_run),
        line.since.max(0),
        d.key.as_str()
    ))
}

/// What the set of docketed keys holds of a docket key.
fn docket_hash(k: &str) -> u64 {
    crate::risk_log::fnv1a(&[k.as_bytes()])
}

impl LocalRiskStore {
    /// The hashes of every docket key stored, read from the table on first use and added to by
    /// every save (before its commit, so the set never lacks a stored key): a batch asks for
    /// the docket of each resource it judges, most of which have none, and past the page
    /// cache each such miss was a read of the file (a fifth of a 100,000-event replay).
    /// A key whose hash is absent has no docket; one whose hash is present is looked up.
    fn docketed(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, Option<std::collections::HashSet<u64>>>, LocalStoreError>
    {
        let mut set = self
            .docketed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if set.is_none() {
            let mut found = std::collections::HashSet::new();
            self.read_with(|txn| {
                let table = match txn.open_table(DOCKETS) {
                    Ok(t) => t,
                    Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
                    Err(e) => return Err(db_err(e)),
                };
                for entry in table.iter().map_err(db_err)? {
                    let (k, _) = entry.map_err(db_err)?;
                    found.insert(docket_hash(k.value()));
                }
                Ok(())
            })?;
            *set = Some(found);
        }
        Ok(set)
    }

    fn dockets_sync(
        &self,
        keys: &[ResourceKey],
        dry_run: bool,
    ) -> Result<Dockets, LocalStoreError> {
        // Held for the read: the judge reads and saves one batch at a time, so nothing waits.
        let docketed = self.docketed()?;
        self.read_with(|txn| {
            let table = match txn.open_table(DOCKETS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Dockets::default()),
                Err(e) => return Err(db_err(e)),
            };
            let mut out = Dockets::default();
            for key in keys {
                let k = docket_key(key, dry_run);
                if docketed
                    .as_ref()
                    .is_some_and(|set| !set.contains(&docket_hash(&k)))
                {
                    continue;
                }
                if let Some(v) = table.get(k.as_str()).map_err(db_err)? {
                    match decode::<Docket>(&k, v.value()) {
                        Ok(d) => {
                            out.found.insert(key.clone(), d);
                        }
                        Err(e) => {
                            out.unreadable.insert(key.clone(), e.to_string());
                        }
                    }
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

    /// Up to `limit` dockets with an open verdict, after `cursor` (a docket key).
    fn open_verdicts_sync(
        &self,
        dry_run: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<OpenPage, LocalStoreError> {
        self.read_with(|txn| {
            let table = match txn.open_table(DOCKETS) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(OpenPage::default()),
                Err(e) => return Err(db_err(e)),
            };
            let board = board_name(dry_run);
            let start = match cursor {
                Some(c) => format!("{board}\0{c}\0"),
                None => format!("{board}\0"),
            };
            let end = format!("{board}\u{1}");
            let mut page = OpenPage::default();
            for entry in table.range(start.as_str()..end.as_str()).map_err(db_err)? {
                let (k, v) = entry.map_err(db_err)?;
                let docket: Docket = match decode(k.value(), v.value()) {
                    Ok(d) => d,
                    Err(e) => {
                        page.unreadable.push(e.to_string());
                        continue;
                    }
                };
                if let Some(line) = docket.open {
                    if page.lines.len() == limit {
                        page.next = page.lines.last().map(|(k, _)| k.as_str().to_owned());
                        break;
                    }
                    page.lines.push((docket.key, line));
                }
            }
            Ok(page)
        })
    }

    /// All in one write transaction; each docket's condition checked on its own.
    fn save_dockets_sync(
        &self,
        dockets: &[(&Docket, Option<u64>)],
    ) -> Result<Vec<Commit>, LocalStoreError> {
        let mut docketed = self.docketed()?;
        self.write_with(|txn| {
            let mut table = txn.open_table(DOCKETS).map_err(db_err)?;
            let mut held = txn.open_table(HELD).map_err(db_err)?;
            let mut out = Vec::with_capacity(dockets.len());
            for (docket, expected) in dockets {
                let k = docket_key(&docket.key, docket.dry_run);
                let stored = match table.get(k.as_str()).map_err(db_err)? {
                    Some(v) => Some(decode::<Docket>(&k, v.value())?),
                    None => None,
                };
                if stored.as_ref().map(|d| d.revision) != *expected {
                    out.push(Commit::Conflict);
                    continue;
                }
                if let Some(old) = stored.as_ref().and_then(held_key) {
                    held.remove(old.as_str()).map_err(db_err)?;
                }
                if let Some(new) = held_key(docket) {
                    held.insert(new.as_str(), [].as_slice()).map_err(db_err)?;
                }
                let bytes = serde_json::to_vec(docket).map_err(|e| LocalStoreError::Corrupt {
                    key: docket.key.to_string(),
                    reason: e.to_string(),
                })?;
                if let Some(set) = docketed.as_mut() {
                    set.insert(docket_hash(&k));
                }
                table.insert(k.as_str(), bytes.as_slice()).map_err(db_err)?;
                out.push(Commit::Written);
            }
            Ok(out)
        })
    }

    fn held_queue_sync(
        &self,
        dry_run: bool,
        limit: usize,
    ) -> Result<Vec<ResourceKey>, LocalStoreError> {
        self.read_with(|txn| {
            let table = match txn.open_table(HELD) {
                Ok(t) => t,
                Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
                Err(e) => return Err(db_err(e)),
            };
            let start = format!("{}\0", board_name(dry_run));
            let end = format!("{}\u{1}", board_name(dry_run));
            let mut out = Vec::new();
            for entry in table.range(start.as_str()..end.as_str()).map_err(db_err)? {
                if out.len() == limit {
                    break;
                }
                let (k, _) = entry.map_err(db_err)?;
                let raw = k.value();
                let key = raw.splitn(3, '\0').nth(2).unwrap_or_default();
                // A bad entry is skipped (and logged): it must not stop the queue behind it.
                match ResourceKey::parse(key) {
                    Ok(k) => out.push(k),
                    Err(e) => tracing::error!(
                        entry = %justice_core::text::quote(raw, 300),
                        error = %e,
                        "held-queue entry unreadable; skipped"
                    ),
                }
            }
            Ok(out)
        })
    }

    fn reserve_sync(&self, ask: BudgetAsk) -> Result<u32, LocalStoreError> {
        self.write_with(|txn| {
            let mut table = txn.open_table(BUDGET).map_err(db_err)?;
            let k = format!("{}\0{}", board_name(ask.dry_run), ask.window);
            let used = table
                .get(k.as_str())
                .map_err(db_err)?
                .map_or(0, |v| v.value());
            let granted = u64::from(ask.limit)
                .saturating_sub(used)
                .min(u64::from(ask.want));
            if granted > 0 {
                table.insert(k.as_str(), used + granted).map_err(db_err)?;
            }
            Ok(granted as u32)
        })
    }
}

impl DocketStore for LocalRiskStore {
    async fn dockets(&self, keys: &[ResourceKey], dry_run: bool) -> Result<Dockets, StoreError> {
        Ok(self.dockets_sync(keys, dry_run)?)
    }

    async fn save_dockets(
        &self,
        dockets: &[(&Docket, Option<u64>)],
    ) -> Vec<Result<Commit, StoreError>> {
        match self.save_dockets_sync(dockets) {
            Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
            Err(e) => {
                let reason = e.to_string();
                dockets
                    .iter()
                    .map(|_| {
                        Err(StoreError::Backend {
                            source: reason.clone().into(),
                            transient: false,
                        })
                    })
                    .collect()
            }
        }
    }

    async fn open_verdicts(
        &self,
        dry_run: bool,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<OpenPage, StoreError> {
        Ok(self.open_verdicts_sync(dry_run, cursor, limit)?)
    }

    async fn held_queue(
        &self,
        dry_run: bool,
        limit: usize,
    ) -> Result<Vec<ResourceKey>, StoreError> {
        Ok(self.held_queue_sync(dry_run, limit)?)
    }

    async fn reserve(&self, ask: BudgetAsk) -> Result<u32, StoreError> {
        Ok(self.reserve_sync(ask)?)
    }
}

/// `tasks.json` (or the dry-run file) and the verdict records under the state directory. The
/// version of the file (`version_of`) changes with every write, so a concurrent writer is
/// detected as S3's ETag would. Verdict records are appended as JSON lines to
/// `verdicts/verdicts.jsonl`: one file per record, as in S3, made a replay of 10,000 events
/// spend seconds creating files.
#[derive(Debug)]
pub struct LocalTaskBoard {
    pub tasks_path: PathBuf,
    pub verdicts_path: PathBuf,
    pub whitelist_path: Option<PathBuf>,
    pub mapping_path: Option<PathBuf>,
    /// Ids of the records in the log, read on first use: a record is written once.
    recorded: std::sync::Mutex<Option<VerdictLog>>,
    /// The file as last read or written: a replay judges hundreds of batches against a file
    /// of hundreds of tasks that nobody else writes, and parsing it again each time (and
    /// reading the docket of every task past its time, to sweep the ones put back) was most
    /// of the judge's time.
    last: std::sync::Mutex<Option<LastFile>>,
}

#[derive(Debug)]
struct LastFile {
    /// Its version (`version_of`): a new one with every write, whatever the content.
    version: String,
    file: TasksFile,
    /// Every task in it due before this time was checked against its docket.
    swept_before: Option<i64>,
}

#[derive(Debug, Default)]
struct VerdictLog {
    ids: std::collections::HashSet<String>,
    torn: bool,
    /// Written by this process and not yet taken by the local notifier.
    fresh: Vec<VerdictRecord>,
    /// The log, open for appending once: an open per record was a third of the judge's time
    /// in the kernel.
    file: Option<std::fs::File>,
}

fn io(what: &Path, e: std::io::Error) -> BoardError {
    BoardError::Backend {
        source: format!("{}: {e}", what.display()).into(),
        transient: true,
    }
}

/// The file's version, as S3's ETag is the object's: its inode (a rename makes a new one),
/// size and modification time, read without reading the file (which may hold thousands of
/// tasks).
fn version_of(meta: &std::fs::Metadata) -> String {
    use std::os::unix::fs::MetadataExt;
    format!(
        "{}-{}-{}.{}",
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec()
    )
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
            verdicts_path: dir.join("verdicts").join("verdicts.jsonl"),
            whitelist_path: Some(whitelist),
            mapping_path: Some(dir.join("mapping.json")),
            recorded: std::sync::Mutex::new(None),
            last: std::sync::Mutex::new(None),
        }
    }

    /// The records this process wrote since the last call, oldest first: what S3's
    /// `ObjectCreated` events would hand the notifier.
    pub fn take_new(&self) -> Vec<VerdictRecord> {
        let mut log = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        log.as_mut()
            .map(|l| std::mem::take(&mut l.fresh))
            .unwrap_or_default()
    }

    /// Every verdict record written so far, oldest first. A torn last line (a crash while
    /// appending) is skipped: its decision is recorded again when retried.
    pub fn verdicts(&self) -> Result<Vec<VerdictRecord>, BoardError> {
        let text = match std::fs::read_to_string(&self.verdicts_path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io(&self.verdicts_path, e)),
        };
        Ok(text
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect())
    }

    fn read_sync(&self) -> Result<BoardRead, BoardError> {
        use std::io::Read;
        let mut f = match std::fs::File::open(&self.tasks_path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BoardRead::default()),
            Err(e) => return Err(io(&self.tasks_path, e)),
        };
        // The version of the file read, taken from the open file: a rename in between would
        // show as a conflict at the write, never as a lost update.
        let meta = f.metadata().map_err(|e| io(&self.tasks_path, e))?;
        let version = version_of(&meta);
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = last.as_ref().filter(|l| l.version == version) {
            return Ok(BoardRead {
                file: l.file.clone(),
                version: Some(version),
            });
        }
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|e| io(&self.tasks_path, e))?;
        let file = TasksFile::parse(&bytes).map_err(|reason| BoardError::Unreadable {
            what: self.tasks_path.display().to_string(),
            reason: reason.0,
        })?;
        *last = Some(LastFile {
            version: version.clone(),
            file: file.clone(),
            swept_before: None,
        });
        Ok(BoardRead {
            file,
            version: Some(version),
        })
    }

    fn write_sync(
        &self,
        file: &TasksFile,
        version: Option<&str>,
    ) -> Result<BoardWrite, BoardError> {
        let current = match std::fs::metadata(&self.tasks_path) {
            Ok(meta) => Some(version_of(&meta)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&self.tasks_path, e)),
        };
        if current.as_deref() != version {
            return Ok(BoardWrite::Conflict);
        }
        let written = write_atomic(&self.tasks_path, &file.to_bytes())?;
        // The version this write made (taken before the rename, so never another writer's):
        // the next read finds the file as written unless someone has written it since.
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(LastFile {
            version: version_of(&written),
            file: file.clone(),
            swept_before: None,
        });
        Ok(BoardWrite::Written)
    }
}

/// True for an empty or missing file too.
fn ends_with_newline(path: &Path) -> Result<bool, BoardError> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(io(path, e)),
    };
    if f.metadata().map_err(|e| io(path, e))?.len() == 0 {
        return Ok(true);
    }
    f.seek(SeekFrom::End(-1)).map_err(|e| io(path, e))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b).map_err(|e| io(path, e))?;
    Ok(b[0] == b'\n')
}

/// Writes through a temporary file and a rename: a reader never sees half a file. Returns
/// the metadata of the file written (a rename keeps its inode and times).
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<std::fs::Metadata, BoardError> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
    }
    let tmp = path.with_extension("json.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(|e| io(&tmp, e))?;
    f.write_all(bytes).map_err(|e| io(&tmp, e))?;
    let meta = f.metadata().map_err(|e| io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| io(path, e))?;
    Ok(meta)
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

    /// The versions here name writes (inode, size and modification time), not contents.
    fn swept_before(&self, version: &str) -> Option<i64> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        last.as_ref()
            .filter(|l| l.version == version)
            .and_then(|l| l.swept_before)
    }

    fn note_swept(&self, version: Option<&str>, before_s: i64) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = last
            .as_mut()
            .filter(|l| version.is_none_or(|v| l.version == v))
        {
            l.swept_before = Some(before_s);
        }
    }

    async fn record_verdict(&self, record: &VerdictRecord) -> Result<bool, BoardError> {
        use std::io::Write;
        let mut log = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        if log.is_none() {
            *log = Some(VerdictLog {
                ids: self.verdicts()?.into_iter().map(|r| r.verdict_id).collect(),
                // A torn line left by a crash would glue onto the next one.
                torn: !ends_with_newline(&self.verdicts_path)?,
                fresh: Vec::new(),
                file: None,
            });
        }
        let log = log.get_or_insert_with(Default::default);
        if log.ids.contains(&record.verdict_id) {
            return Ok(false);
        }
        let mut line = Vec::with_capacity(4096);
        if log.torn {
            line.push(b'\n');
        }
        serde_json::to_writer(&mut line, record).map_err(|e| BoardError::Backend {
            source: Box::new(e),
            transient: false,
        })?;
        line.push(b'\n');
        let file = match &mut log.file {
            Some(f) => f,
            None => {
                if let Some(dir) = self.verdicts_path.parent() {
                    if !dir.is_dir() {
                        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
                    }
                }
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.verdicts_path)
                    .map_err(|e| io(&self.verdicts_path, e))?;
                log.file.insert(f)
            }
        };
        // One write per line: a reader sees whole records or a torn last one, as before.
        file.write_all(&line)
            .map_err(|e| io(&self.verdicts_path, e))?;
        log.torn = false;
        log.ids.insert(record.verdict_id.clone());
        log.fresh.push(record.clone());
        Ok(true)
    }

    async fn allow_list(&self) -> Result<AllowList, BoardError> {
        let Some(path) = &self.whitelist_path else {
            return Ok(AllowList::default());
        };
        match std::fs::read(path) {
            Ok(bytes) => AllowList::parse(&bytes).map_err(|reason| BoardError::Unreadable {
                what: path.display().to_string(),
                reason: reason.0,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AllowList::default()),
            Err(e) => Err(io(path, e)),
        }
    }

    async fn verdict(&self, key: &str) -> Result<Option<VerdictRecord>, BoardError> {
        // The S3 key's last part without `.notice.json` or `.json`, or the id itself.
        let name = key.rsplit('/').next().unwrap_or(key);
        let id = name
            .strip_suffix(".notice.json")
            .or_else(|| name.strip_suffix(".json"))
            .unwrap_or(name);
        Ok(self.verdicts()?.into_iter().find(|r| r.verdict_id == id))
    }

    async fn account_map(&self) -> Result<AccountMap, BoardError> {
        let Some(path) = &self.mapping_path else {
            return Ok(AccountMap::default());
        };
        match std::fs::read(path) {
            Ok(bytes) => AccountMap::parse(&bytes).map_err(|reason| BoardError::Unreadable {
                what: path.display().to_string(),
                reason: reason.0,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AccountMap::default()),
            Err(e) => Err(io(path, e)),
        }
    }
}

/// Messages as JSON lines under `dir/outbox/`, in order: notices in `notices.jsonl`, alerts to
/// the security team in `security.jsonl` (a file each made a long replay spend its time
/// creating files).
#[derive(Debug)]
pub struct LocalOutbox {
    pub dir: PathBuf,
    /// The sent log, read on first use.
    sent: std::sync::Mutex<Option<std::collections::HashSet<String>>>,
    /// `notices.jsonl`, `security.jsonl` and `sent.txt`, open for appending once each.
    appending: std::sync::Mutex<std::collections::HashMap<&'static str, std::fs::File>>,
}

impl LocalOutbox {
    pub fn new(dir: &Path) -> Self {
        LocalOutbox {
            dir: dir.join("outbox"),
            sent: std::sync::Mutex::new(None),
            appending: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }
}

impl Outbox for LocalOutbox {
    async fn alert_security(&self, alert: &SecurityAlert) -> Result<(), OutboxError> {
        let line = serde_json::to_string(alert).map_err(OutboxError::permanent)?;
        self.append("security.jsonl", &line)
    }

    async fn publish(&self, notice: &Notice) -> Result<(), OutboxError> {
        // Each channel's rendering under its name (`text`, `json`, `chat`).
        let mut line = serde_json::json!({
            "id": notice.id,
            "kind": notice.kind,
            "to": notice.recipient.team.clone(),
            "topic": notice.recipient.topic,
            "attributes": notice.attributes,
            "subject": notice.subject,
        });
        for (channel, body) in &notice.renderings {
            line[*channel] = body.clone();
        }
        self.append("notices.jsonl", &line.to_string())
    }

    async fn was_sent(&self, id: &str) -> Result<bool, OutboxError> {
        self.with_sent(|ids| Ok(ids.contains(id)))
    }

    async fn mark_sent(&self, id: &str) -> Result<bool, OutboxError> {
        self.with_sent(|ids| {
            if ids.contains(id) {
                return Ok(false);
            }
            self.append("sent.txt", id)?;
            ids.insert(id.to_owned());
            Ok(true)
        })
    }
}

impl LocalOutbox {
    fn append(&self, name: &'static str, line: &str) -> Result<(), OutboxError> {
        use std::io::Write;
        let fail = OutboxError::transient;
        let mut files = self.appending.lock().unwrap_or_else(|p| p.into_inner());
        let f = match files.entry(name) {
            std::collections::hash_map::Entry::Occupied(f) => f.into_mut(),
            std::collections::hash_map::Entry::Vacant(slot) => {
                std::fs::create_dir_all(&self.dir).map_err(fail)?;
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join(name))
                    .map_err(fail)?;
                slot.insert(f)
            }
        };
        // The line and its end in one write, so a reader never sees half of one.
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        f.write_all(&bytes).map_err(fail)
    }

    fn with_sent<T>(
        &self,
        f: impl FnOnce(&mut std::collections::HashSet<String>) -> Result<T, OutboxError>,
    ) -> Result<T, OutboxError> {
        let mut sent = self.sent.lock().unwrap_or_else(|p| p.into_inner());
        if sent.is_none() {
            let ids = match std::fs::read_to_string(self.dir.join("sent.txt")) {
                Ok(t) => t.lines().map(str::to_owned).collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Default::default(),
                Err(e) => return Err(OutboxError::transient(e)),
            };
            *sent = Some(ids);
        }
        f(sent.get_or_insert_with(Default::default))
    }

    /// Every notice published so far, oldest first.
    pub fn notices(&self) -> Result<Vec<serde_json::Value>, OutboxError> {
        self.lines("notices.jsonl")
    }

    /// Every alert to the security team so far, oldest first.
    pub fn security_alerts(&self) -> Result<Vec<serde_json::Value>, OutboxError> {
        self.lines("security.jsonl")
    }

    /// A JSON-lines file's records; a torn last line (a crash while appending) is skipped.
    fn lines(&self, name: &str) -> Result<Vec<serde_json::Value>, OutboxError> {
        match std::fs::read_to_string(self.dir.join(name)) {
            Ok(t) => Ok(t
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(OutboxError::transient(e)),
        }
    }
}
