//! `RiskLog`: the risk table of the local store as one append-only file and an index in memory.
//!
//! Why a log and not a B-tree: every event rewrites its resource's state, and a copy-on-write
//! B-tree (redb) paid for that with fresh pages, checksums and evictions: about 7 KB of file and
//! a third of a replay's time per event. Here an event is one record appended to a buffer, and
//! reads are by offset. The file is only ever appended to, so a crash can tear its tail only:
//! every record carries its length and a CRC-32, and what does not read as whole records is
//! set aside in a file of its own when the log is opened again (the events of an unflushed
//! batch are lost whole, never half of one, and no byte is destroyed).
//!
//! The index holds no key text: a resource is found by a 64-bit hash of its key (FNV-1a, stable
//! across builds, since job cursors are saved) and the key stored in the record is compared
//! before anything is believed, so a hash shared by two keys (crafted or not) sends the second
//! key to an exact map instead of mixing them up. The history's duplicate check works the same
//! way, and each resource's records are chained from the newest back, so no event's cost
//! depends on how long its history is.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use justice_core::policy::Level;

use crate::risk_store::LocalStoreError;

/// The first bytes of the file: what it is, and the version of this layout.
const MAGIC: &[u8; 16] = b"justice-risklog1";
/// A record's header: the payload's length, then its CRC-32.
const HEADER: usize = 8;
/// The payload's kind byte of a commit (the only kind so far).
const COMMIT: u8 = 1;
/// No offset: the end of a resource's history chain.
pub(crate) const NONE: u64 = u64::MAX;
/// Appended records are written to the file when the buffer passes this size (and at each
/// batch's end).
const BUFFER: usize = 1 << 20;
/// A record longer than this is not a record but a damaged length.
const MAX_RECORD: usize = 64 << 20;
/// Written out and not yet synced past this many bytes, a helper thread syncs the file while
/// the batch goes on, so that the sync at its end waits for only the last few megabytes: one
/// sync of a 10,000-event replay's 24 MB log stood 40 ms at the end of a 300 ms run.
const SYNC_AHEAD: u64 = 4 << 20;

/// Where a resource's newest commit is, and what a write checks without reading it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot {
    pub at: u64,
    /// The payload's length: the record is read with one call.
    pub len: u32,
    pub revision: u64,
    /// The newest commit of this resource that carried a history record (`NONE`: none did).
    pub history: u64,
    /// The state's score and level, when this process wrote it: a summary of every state
    /// then reads only the few it lists. `None` for what opening the log found (its states
    /// are read when asked for).
    pub headline: Option<Headline>,
}

/// What a summary counts and ranks a state by, without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Headline {
    pub score: u32,
    pub level: Level,
}

/// Where a key lives in the index: under its hash, or (its hash being another key's) among
/// the collided keys.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Place {
    Hashed(u64),
    Collided,
}

/// The same for a history record: under the hash of (key, sort key), or at a position (or
/// none yet) in that hash's overflow list.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RecordPlace {
    Hashed(u64),
    Collided(u64, Option<usize>),
}

/// A stored resource's newest commit and its bytes.
pub(crate) struct Found {
    pub slot: Slot,
    pub payload: Vec<u8>,
}

/// One commit, as written and as read back.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Commit<'a> {
    pub key: &'a str,
    pub revision: u64,
    /// The previous history-carrying commit of this resource (`NONE`: none).
    pub prev: u64,
    /// The history record's sort key and JSON, if this commit carries one.
    pub record: Option<(&'a str, &'a [u8])>,
    pub state: &'a [u8],
    pub item: &'a [u8],
}

impl<'a> Commit<'a> {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(COMMIT);
        put_bytes(out, self.key.as_bytes());
        out.extend_from_slice(&self.revision.to_le_bytes());
        out.extend_from_slice(&self.prev.to_le_bytes());
        match self.record {
            Some((sort_key, json)) => {
                out.push(1);
                put_bytes(out, sort_key.as_bytes());
                put_bytes(out, json);
            }
            None => out.push(0),
        }
        put_bytes(out, self.state);
        put_bytes(out, self.item);
    }

    fn decode(payload: &'a [u8]) -> Option<Self> {
        let mut r = Reader(payload);
        if r.u8()? != COMMIT {
            return None;
        }
        let key = std::str::from_utf8(r.bytes()?).ok()?;
        let revision = r.u64()?;
        let prev = r.u64()?;
        let record = match r.u8()? {
            0 => None,
            1 => Some((std::str::from_utf8(r.bytes()?).ok()?, r.bytes()?)),
            _ => return None,
        };
        let state = r.bytes()?;
        let item = r.bytes()?;
        r.0.is_empty().then_some(Commit {
            key,
            revision,
            prev,
            record,
            state,
            item,
        })
    }

    /// The head of the resource's history chain once this commit, written at `at`, is in.
    fn history_head(&self, at: u64) -> u64 {
        if self.record.is_some() {
            at
        } else {
            self.prev
        }
    }
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.take(4)?.try_into().ok().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take(8)?.try_into().ok().map(u64::from_le_bytes)
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.u32()? as usize;
        self.take(n)
    }
}

/// FNV-1a, 64 bits: stable across builds and platforms (a saved cursor names a hash).
pub(crate) fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            // A separator no key holds, so ("ab", "c") and ("a", "bc") differ.
            h ^= 0xff;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        for b in *part {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

pub(crate) struct RiskLog {
    path: PathBuf,
    file: File,
    /// Records appended but not yet in the file; the first starts at `written`.
    buf: Vec<u8>,
    written: u64,
    hash: fn(&[&[u8]]) -> u64,
    /// Resources by the hash of their key.
    states: BTreeMap<u64, Slot>,
    /// Resources whose key's hash was already another key's: by their key.
    collided: BTreeMap<Box<str>, Slot>,
    /// hash(key, sort key) → the newest commit carrying that history record.
    records: HashMap<u64, u64>,
    /// The same, for a record whose hash was already another record's.
    records_collided: HashMap<u64, Vec<u64>>,
    /// What opening found unreadable at the end of the log and set aside, for the caller to
    /// tell a person.
    pub recovered: Option<String>,
    /// Bytes written out since the helper thread was last asked to sync.
    unsynced: u64,
    syncer: Option<Syncer>,
}

/// A thread that syncs the log to the disk when asked, ahead of [`RiskLog::sync`], through a
/// file description of its own. The first error it meets is kept and returned by the log's
/// next sync: a sync ahead can only make the data reach the disk sooner, never hide that it
/// did not (whether the kernel would also report the error to the log's own description is
/// then beside the point).
struct Syncer {
    ask: std::sync::mpsc::SyncSender<()>,
    failed: std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Syncer {
    fn start(path: &Path) -> std::io::Result<Syncer> {
        let file = File::open(path)?;
        let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let seen = std::sync::Arc::clone(&failed);
        let thread = std::thread::Builder::new()
            .name("risk-log-sync".into())
            .spawn(move || {
                for () in asked {
                    if let Err(e) = file.sync_data() {
                        let mut first = seen.lock().unwrap_or_else(|p| p.into_inner());
                        first.get_or_insert(e);
                    }
                }
            })?;
        Ok(Syncer {
            ask,
            failed,
            thread,
        })
    }

    /// The first error a sync ahead met, taken.
    fn failure(&self) -> Option<std::io::Error> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl RiskLog {
    /// Opens (or creates) the log at `path` and reads its index; a torn tail is cut off.
    pub fn open(path: &Path) -> Result<Self, LocalStoreError> {
        Self::open_with(path, fnv1a)
    }

    pub(crate) fn open_with(
        path: &Path,
        hash: fn(&[&[u8]]) -> u64,
    ) -> Result<Self, LocalStoreError> {
        let io = |source| LocalStoreError::Io {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        let mut log = RiskLog {
            path: path.to_owned(),
            file,
            buf: Vec::new(),
            written: 0,
            hash,
            states: BTreeMap::new(),
            collided: BTreeMap::new(),
            records: HashMap::new(),
            records_collided: HashMap::new(),
            recovered: None,
            unsynced: 0,
            syncer: None,
        };
        if len == 0 {
            log.file.write_all_at(MAGIC, 0).map_err(io)?;
            log.file.sync_all().map_err(io)?;
            // The new file's name too, so that a crash cannot lose the file with its records.
            if let Some(dir) = path.parent() {
                File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
            }
            log.written = MAGIC.len() as u64;
            return Ok(log);
        }
        // Reads by offset during the scan go to the file.
        log.written = len;
        let end = log.scan(len)?;
        if end < len {
            log.recovered = Some(log.set_aside(end, len)?);
        }
        log.written = end;
        Ok(log)
    }

    /// Moves the bytes from `end` to `len` (what is not a whole record, and everything after
    /// it) to a file of their own beside the log, then cuts the log there. A crash while a
    /// batch is written leaves a torn tail; a power loss can also leave pages written out of
    /// order, so the first unreadable record starts the tail wherever it is. The bytes are
    /// kept, never destroyed; the events they held are replayed again (a redelivery of what
    /// was kept writes nothing).
    fn set_aside(&mut self, end: u64, len: u64) -> Result<String, LocalStoreError> {
        let path = self.path.clone();
        let io = |source| LocalStoreError::Io {
            path: path.clone(),
            source,
        };
        // A name no earlier cut took: what was set aside before stays.
        let aside = (1..)
            .map(|i| match i {
                1 => self.path.with_extension(format!("log.cut-at-{end}")),
                i => self.path.with_extension(format!("log.cut-at-{end}-{i}")),
            })
            .find(|p| !p.exists())
            .unwrap_or_else(|| self.path.with_extension("log.cut"));
        let copied = (|| {
            use std::io::{Seek, SeekFrom};
            let mut from = self.file.try_clone()?;
            from.seek(SeekFrom::Start(end))?;
            let mut to = File::create(&aside)?;
            std::io::copy(&mut from.take(len - end), &mut to)?;
            to.sync_all()
        })();
        copied.map_err(|source| LocalStoreError::Io {
            path: aside.clone(),
            source,
        })?;
        self.file.set_len(end).map_err(io)?;
        self.file.sync_all().map_err(io)?;
        let note = format!(
            "the local store's log {} held {} byte(s) that are not whole records from byte {end} \
             (a write cut short by a crash or a power loss, or damage): the {end} bytes before \
             them are kept and the rest is set aside in {}; replay the events after the last \
             flush again",
            self.path.display(),
            len - end,
            aside.display()
        );
        tracing::error!("{note}");
        Ok(note)
    }

    /// Reads every record from the start and builds the index; returns where the valid
    /// records end.
    fn scan(&mut self, len: u64) -> Result<u64, LocalStoreError> {
        let path = self.path.clone();
        let io = |source| LocalStoreError::Io {
            path: path.clone(),
            source,
        };
        // A handle of its own, read in order; the index's checks read by offset.
        let mut reader = BufReader::with_capacity(1 << 18, self.file.try_clone().map_err(io)?);
        let mut magic = [0u8; 16];
        if len < MAGIC.len() as u64 || reader.read_exact(&mut magic).is_err() || &magic != MAGIC {
            return Err(LocalStoreError::Corrupt {
                key: path.display().to_string(),
                reason: "not a justice risk log (or of another version): replay with --fresh"
                    .into(),
            });
        }
        let mut at = MAGIC.len() as u64;
        let mut payload = Vec::new();
        let mut header = [0u8; HEADER];
        loop {
            if at == len {
                break;
            }
            let torn = |at: u64, n: u64| at + n > len;
            if torn(at, HEADER as u64) {
                return Ok(at);
            }
            reader.read_exact(&mut header).map_err(io)?;
            let n = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
            let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
            if n > MAX_RECORD || torn(at, (HEADER + n) as u64) {
                return Ok(at);
            }
            payload.resize(n, 0);
            reader.read_exact(&mut payload).map_err(io)?;
            let commit = (n > 0 && crc32fast::hash(&payload) == crc)
                .then(|| Commit::decode(&payload))
                .flatten();
            let Some(commit) = commit else {
                // Not a whole record: where the valid part ends (see `open_with`).
                return Ok(at);
            };
            let slot = Slot {
                at,
                len: n as u32,
                revision: commit.revision,
                history: commit.history_head(at),
                headline: None,
            };
            let (place, _) = self.locate(commit.key)?;
            let record = match commit.record {
                Some((sort_key, _)) => Some(self.locate_record(commit.key, sort_key)?.0),
                None => None,
            };
            self.put(commit.key, slot, place, record);
            at += (HEADER + n) as u64;
        }
        Ok(at)
    }

    /// Where `key` lives in the index, and its newest commit if it is stored (read once: the
    /// read that checks the key is the one the caller uses).
    pub fn locate(&self, key: &str) -> Result<(Place, Option<Found>), LocalStoreError> {
        if let Some(slot) = self.collided.get(key) {
            let payload = self.payload(slot)?;
            return Ok((
                Place::Collided,
                Some(Found {
                    slot: *slot,
                    payload,
                }),
            ));
        }
        let h = (self.hash)(&[key.as_bytes()]);
        let Some(slot) = self.states.get(&h) else {
            return Ok((Place::Hashed(h), None));
        };
        let payload = self.payload(slot)?;
        let stored = Commit::decode(&payload).ok_or_else(|| self.damaged(slot.at))?;
        Ok(if stored.key == key {
            let slot = *slot;
            (Place::Hashed(h), Some(Found { slot, payload }))
        } else {
            // The hash is another key's: this one lives (or will) among the collided.
            (Place::Collided, None)
        })
    }

    /// Where `key`'s history record under `sort_key` is indexed, and whether it is stored.
    pub fn locate_record(
        &self,
        key: &str,
        sort_key: &str,
    ) -> Result<(RecordPlace, bool), LocalStoreError> {
        let rh = (self.hash)(&[key.as_bytes(), sort_key.as_bytes()]);
        let same = |at: u64| -> Result<bool, LocalStoreError> {
            let payload = self.commit_at(at)?;
            let c = Commit::decode(&payload).ok_or_else(|| self.damaged(at))?;
            Ok(c.key == key && c.record.is_some_and(|(sk, _)| sk == sort_key))
        };
        match self.records.get(&rh) {
            None => Ok((RecordPlace::Hashed(rh), false)),
            Some(at) if same(*at)? => Ok((RecordPlace::Hashed(rh), true)),
            Some(_) => {
                let more = self.records_collided.get(&rh).into_iter().flatten();
                for (i, at) in more.enumerate() {
                    if same(*at)? {
                        return Ok((RecordPlace::Collided(rh, Some(i)), true));
                    }
                }
                Ok((RecordPlace::Collided(rh, None), false))
            }
        }
    }

    /// Points the index at a commit, at the places [`RiskLog::locate`] and
    /// [`RiskLog::locate_record`] found (under the same lock: nothing moved in between).
    fn put(&mut self, key: &str, slot: Slot, place: Place, record: Option<RecordPlace>) {
        match place {
            Place::Hashed(h) => {
                self.states.insert(h, slot);
            }
            Place::Collided => {
                self.collided.insert(key.into(), slot);
            }
        }
        match record {
            None => {}
            Some(RecordPlace::Hashed(rh)) => {
                self.records.insert(rh, slot.at);
            }
            Some(RecordPlace::Collided(rh, found)) => {
                let more = self.records_collided.entry(rh).or_default();
                match found.and_then(|i| more.get_mut(i)) {
                    Some(at) => *at = slot.at,
                    None => more.push(slot.at),
                }
            }
        }
    }

    /// Appends a commit at the places `locate` and `locate_record` gave, with its state's
    /// headline; returns its slot. Nothing reaches the file until [`RiskLog::write_out`]. An
    /// error leaves the log as it was.
    pub fn append(
        &mut self,
        commit: &Commit<'_>,
        place: Place,
        record: Option<RecordPlace>,
        headline: Option<Headline>,
    ) -> Result<Slot, LocalStoreError> {
        let at = self.written + self.buf.len() as u64;
        let start = self.buf.len();
        self.buf.extend_from_slice(&[0; HEADER]);
        commit.encode(&mut self.buf);
        let n = self.buf.len() - start - HEADER;
        if n > MAX_RECORD {
            // It could not be read back (and would end the log at the next open): refused,
            // like DynamoDB's item size limit. No field can then pass u32 either.
            self.buf.truncate(start);
            return Err(LocalStoreError::Corrupt {
                key: commit.key.to_owned(),
                reason: format!("a state and record of {n} bytes, over {MAX_RECORD}"),
            });
        }
        let crc = crc32fast::hash(&self.buf[start + HEADER..]);
        self.buf[start..start + 4].copy_from_slice(&(n as u32).to_le_bytes());
        self.buf[start + 4..start + HEADER].copy_from_slice(&crc.to_le_bytes());
        let slot = Slot {
            at,
            len: n as u32,
            revision: commit.revision,
            history: commit.history_head(at),
            headline,
        };
        self.put(commit.key, slot, place, record);
        Ok(slot)
    }

    /// Whether the buffer has grown enough to be written out.
    pub fn buffer_full(&self) -> bool {
        self.buf.len() >= BUFFER
    }

    /// Writes the buffered records to the file (to the OS: not yet to the disk), and past
    /// `SYNC_AHEAD` bytes asks the helper thread to sync them.
    pub fn write_out(&mut self) -> Result<(), LocalStoreError> {
        self.write_buffer()?;
        if self.unsynced >= SYNC_AHEAD {
            self.sync_ahead();
        }
        Ok(())
    }

    fn write_buffer(&mut self) -> Result<(), LocalStoreError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.file
            .write_all_at(&self.buf, self.written)
            .map_err(|e| self.io(e))?;
        self.written += self.buf.len() as u64;
        self.unsynced += self.buf.len() as u64;
        self.buf.clear();
        Ok(())
    }

    /// Asks the helper thread to sync what is written; if it is still busy with the last
    /// request, asks again at the next write.
    fn sync_ahead(&mut self) {
        if self.syncer.is_none() {
            match Syncer::start(&self.path) {
                Ok(s) => self.syncer = Some(s),
                // Nothing is lost: the flush syncs everything, only later.
                Err(e) => {
                    tracing::debug!(error = %e, "no thread to sync the log ahead");
                    self.unsynced = 0;
                    return;
                }
            }
        }
        if self
            .syncer
            .as_ref()
            .is_some_and(|s| s.ask.try_send(()).is_ok())
        {
            self.unsynced = 0;
        }
    }

    /// Writes the buffered records and waits for the disk.
    pub fn sync(&mut self) -> Result<(), LocalStoreError> {
        self.write_buffer()?;
        self.unsynced = 0;
        self.file.sync_data().map_err(|e| self.io(e))?;
        match self.syncer.as_ref().and_then(Syncer::failure) {
            Some(e) => Err(self.io(e)),
            None => Ok(()),
        }
    }

    /// The payload of the commit at `at`.
    pub fn commit_at(&self, at: u64) -> Result<Vec<u8>, LocalStoreError> {
        read_commit(&self.file, &self.buf, self.written, at).map_err(|e| self.io(e))
    }

    /// The payload of a resource's newest commit, in one read.
    pub fn payload(&self, slot: &Slot) -> Result<Vec<u8>, LocalStoreError> {
        read_slot(&self.file, &self.buf, self.written, slot).map_err(|e| self.io(e))
    }

    /// Every stored resource's slot, in hash order, from after `cursor`.
    pub fn slots_after(
        &self,
        cursor: Option<&Cursor>,
    ) -> impl Iterator<Item = (Cursor, Slot)> + '_ {
        use std::ops::Bound::{Excluded, Unbounded};
        let hashed = match cursor {
            None => Some(self.states.range(..)),
            Some(Cursor::Hash(h)) => Some(self.states.range((Excluded(*h), Unbounded))),
            Some(Cursor::Key(_)) => None,
        };
        let keyed = match cursor {
            Some(Cursor::Key(k)) => self
                .collided
                .range::<str, _>((Excluded(k.as_str()), Unbounded)),
            _ => self.collided.range::<str, _>(..),
        };
        hashed
            .into_iter()
            .flatten()
            .map(|(h, s)| (Cursor::Hash(*h), *s))
            .chain(keyed.map(|(k, s)| (Cursor::Key(k.to_string()), *s)))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.states.len() + self.collided.len()
    }

    fn io(&self, source: std::io::Error) -> LocalStoreError {
        LocalStoreError::Io {
            path: self.path.clone(),
            source,
        }
    }

    pub(crate) fn damaged(&self, at: u64) -> LocalStoreError {
        LocalStoreError::Corrupt {
            key: self.path.display().to_string(),
            reason: format!("the record at byte {at} does not read back"),
        }
    }
}

impl Drop for RiskLog {
    fn drop(&mut self) {
        // Best effort: what a caller forgot to flush still reaches the OS.
        if let Err(e) = self.write_buffer() {
            tracing::error!(error = %e, "the local store's last records could not be written");
        }
        if let Some(s) = self.syncer.take() {
            drop(s.ask);
            // It ends with its last sync.
            let _ = s.thread.join();
        }
    }
}

/// Where a walk over the resources stands: after a hash, or (for the rare collided keys,
/// walked last) after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cursor {
    Hash(u64),
    Key(String),
}

impl Cursor {
    pub fn parse(s: &str) -> Option<Cursor> {
        if let Some(hex) = s.strip_prefix("h:") {
            u64::from_str_radix(hex, 16).ok().map(Cursor::Hash)
        } else {
            s.strip_prefix("k:").map(|k| Cursor::Key(k.to_owned()))
        }
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Cursor::Hash(h) => write!(f, "h:{h:016x}"),
            Cursor::Key(k) => write!(f, "k:{k}"),
        }
    }
}

/// The payload at `slot`, read with its header in one call; the header must agree.
fn read_slot(file: &File, buf: &[u8], written: u64, slot: &Slot) -> std::io::Result<Vec<u8>> {
    if slot.at >= written {
        return read_commit(file, buf, written, slot.at);
    }
    let mut record = vec![0u8; HEADER + slot.len as usize];
    file.read_exact_at(&mut record, slot.at)?;
    if record[..4] != slot.len.to_le_bytes() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "a record's length differs from the index's",
        ));
    }
    record.drain(..HEADER);
    Ok(record)
}

fn read_commit(file: &File, buf: &[u8], written: u64, at: u64) -> std::io::Result<Vec<u8>> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "offset past the log");
    if at >= written {
        let start = usize::try_from(at - written).map_err(|_| bad())?;
        let header = buf.get(start..start + HEADER).ok_or_else(bad)?;
        let n = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
        return buf
            .get(start + HEADER..start + HEADER + n)
            .map(<[u8]>::to_vec)
            .ok_or_else(bad);
    }
    let mut header = [0u8; HEADER];
    file.read_exact_at(&mut header, at)?;
    let n = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if n > MAX_RECORD {
        return Err(bad());
    }
    let mut payload = vec![0u8; n];
    file.read_exact_at(&mut payload, at + HEADER as u64)?;
    Ok(payload)
}

/// Decodes a commit payload read with [`RiskLog::commit_at`].
pub(crate) fn decode(payload: &[u8]) -> Option<Commit<'_>> {
    Commit::decode(payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `LocalRiskStore` does around an append, for the tests below.
    impl RiskLog {
        fn add(&mut self, c: &Commit<'_>) -> Result<Slot, LocalStoreError> {
            let (place, _) = self.locate(c.key)?;
            let record = match c.record {
                Some((sk, _)) => Some(self.locate_record(c.key, sk)?.0),
                None => None,
            };
            self.append(c, place, record, None)
        }
        fn find(&self, key: &str) -> Result<Option<Slot>, LocalStoreError> {
            Ok(self.locate(key)?.1.map(|f| f.slot))
        }
        fn has_record(&self, key: &str, sort_key: &str) -> Result<bool, LocalStoreError> {
            Ok(self.locate_record(key, sort_key)?.1)
        }
    }

    fn commit<'a>(key: &'a str, revision: u64, prev: u64, sk: Option<&'a str>) -> Commit<'a> {
        Commit {
            key,
            revision,
            prev,
            record: sk.map(|s| (s, b"{}".as_slice())),
            state: b"{\"s\":1}",
            item: b"item",
        }
    }

    fn colliding(_: &[&[u8]]) -> u64 {
        7
    }

    /// With every key and every record under one hash, the exact checks keep them apart.
    #[test]
    fn keys_that_share_a_hash_are_kept_apart() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("risk.log");
        {
            let mut log = RiskLog::open_with(&path, colliding).expect("open");
            for (i, key) in ["a", "b", "c"].iter().enumerate() {
                log.add(&commit(key, 1, NONE, Some("t1"))).expect("append");
                assert_eq!(log.len(), i + 1);
            }
            let b = log.find("b").expect("find").expect("b stored");
            log.add(&commit("b", 2, b.history, Some("t2")))
                .expect("append");
            assert!(log.has_record("c", "t1").expect("read"));
            assert!(!log.has_record("c", "t2").expect("read"));
            assert!(log.has_record("b", "t2").expect("read"));
            assert!(log.find("d").expect("find").is_none());
            log.sync().expect("sync");
        }
        let log = RiskLog::open_with(&path, colliding).expect("reopen");
        assert_eq!(log.len(), 3);
        assert_eq!(log.find("b").expect("find").expect("b").revision, 2);
        assert_eq!(log.find("a").expect("find").expect("a").revision, 1);
        assert!(log.has_record("b", "t1").expect("read"));
        assert!(!log.has_record("a", "t2").expect("read"));
        let walked: Vec<_> = log.slots_after(None).map(|(c, _)| c).collect();
        assert_eq!(walked.len(), 3, "{walked:?}");
        let after_first: Vec<_> = log.slots_after(Some(&walked[0])).collect();
        assert_eq!(after_first.len(), 2);
    }

    /// Past `SYNC_AHEAD` bytes written out, the helper thread syncs while writes go on; what
    /// was written reads back whole after the log is dropped (which waits for the thread).
    #[test]
    fn writes_go_on_while_the_log_is_synced_ahead() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("risk.log");
        let state = vec![b'x'; 64 << 10];
        let keys: Vec<String> = (0..200).map(|i| format!("k{i}")).collect();
        {
            let mut log = RiskLog::open(&path).expect("open");
            for key in &keys {
                let mut c = commit(key, 1, NONE, Some("t1"));
                c.state = &state;
                log.add(&c).expect("append");
                log.write_out().expect("write out");
            }
            assert!(log.syncer.is_some(), "12 MB written without a sync ahead");
        }
        let log = RiskLog::open(&path).expect("reopen");
        assert!(log.recovered.is_none());
        assert_eq!(log.len(), keys.len());
        for key in &keys {
            let slot = log.find(key).expect("find").expect("stored");
            let payload = log.payload(&slot).expect("read");
            assert_eq!(decode(&payload).expect("decodes").state, state.as_slice());
        }
    }

    #[test]
    fn a_torn_tail_or_damage_is_set_aside_and_the_records_before_it_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("risk.log");
        {
            let mut log = RiskLog::open(&path).expect("open");
            log.add(&commit("a", 1, NONE, Some("t1"))).expect("append");
            log.add(&commit("b", 1, NONE, Some("t1"))).expect("append");
            log.sync().expect("sync");
        }
        let whole = std::fs::read(&path).expect("read");
        let first_end = MAGIC.len() + HEADER + {
            let n = &whole[MAGIC.len()..MAGIC.len() + 4];
            u32::from_le_bytes(n.try_into().expect("four bytes")) as usize
        };
        // Half of the last record: set aside, the first kept.
        std::fs::write(&path, &whole[..whole.len() - 5]).expect("tear");
        let log = RiskLog::open(&path).expect("reopen after a torn write");
        assert_eq!(log.len(), 1);
        assert!(log.find("a").expect("find").is_some());
        assert!(log
            .recovered
            .as_deref()
            .is_some_and(|n| n.contains("set aside")));
        let aside = dir.path().join(format!("risk.log.cut-at-{first_end}"));
        assert_eq!(
            std::fs::read(&aside).expect("the bytes set aside"),
            &whole[first_end..whole.len() - 5]
        );
        drop(log);
        assert_eq!(std::fs::read(&path).expect("read").len(), first_end);
        // A flipped byte in the first record, a whole record after it: both set aside, kept.
        let mut damaged = whole.clone();
        damaged[MAGIC.len() + HEADER + 3] ^= 0x40;
        std::fs::write(&path, &damaged).expect("damage");
        let log = RiskLog::open(&path).expect("opens");
        assert_eq!(log.len(), 0);
        let aside = dir.path().join(format!("risk.log.cut-at-{}", MAGIC.len()));
        assert_eq!(
            std::fs::read(&aside).expect("set aside"),
            &damaged[MAGIC.len()..]
        );
        drop(log);
        // Zeros where records should be (pages lost in a power cut): not records.
        let mut zeros = whole[..first_end].to_vec();
        zeros.extend_from_slice(&[0u8; 64]);
        std::fs::write(&path, &zeros).expect("zeros");
        let log = RiskLog::open(&path).expect("opens");
        assert_eq!(log.len(), 1);
        drop(log);
        // Not a log at all.
        std::fs::write(&path, b"something else entirely").expect("write");
        assert!(RiskLog::open(&path).is_err());
    }

    /// A record that could not be read back is refused, and the log stays as it was.
    #[test]
    fn an_oversized_record_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut log = RiskLog::open(&dir.path().join("risk.log")).expect("open");
        let big = vec![b'x'; MAX_RECORD + 1];
        let mut c = commit("a", 1, NONE, None);
        c.item = &big;
        assert!(matches!(log.add(&c), Err(LocalStoreError::Corrupt { .. })));
        assert_eq!(log.len(), 0);
        log.add(&commit("a", 1, NONE, Some("t1"))).expect("append");
        assert_eq!(log.find("a").expect("find").expect("a").revision, 1);
    }
}
