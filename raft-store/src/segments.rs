//! The Raft log's entries in append-only segment files.
//!
//! Why not a sled tree: every entry is written once, read a few times by replication, and
//! deleted after the next snapshot. In sled that churn costs a B-tree insert and removal per
//! entry, a flush of the whole database (state machine included) per append, and a file that
//! keeps growing because sled never gives the space of removed log entries back (issue 15's
//! soak). Here an append is a write at the end of a file and one `fdatasync`; a purge deletes
//! whole files.
//!
//! # Layout
//!
//! A directory of segment files named after the index of their first entry, `{index:020}.log`.
//! A segment starts with [`MAGIC`] (whose last byte is the layout version) and holds records
//! back to back: the payload's length (`u32`, little-endian), its CRC-32 (`u32`, little-endian)
//! and the payload, which is the entry [`encode`](crate::format::encode)d (so it carries the format version like every
//! other record). The entries of a segment have consecutive indexes starting at its name.
//! Segments roll at [`SEGMENT_BYTES_MAX`]; each is created at that length, filled with zeros
//! (a record length of 0 marks where the records end), so an append changes no file length.
//!
//! # Durability and recovery
//!
//! [`SegmentLog::append_then`] writes the records and returns; its callback runs on the log's
//! sync thread once an `fdatasync` covers them ([`SegmentLog::append`] waits for that). A new
//! segment is synced together with its directory before any entry is written to it. A crash can
//! only leave a torn record at the end of the newest segment, never acknowledged: at open, the
//! newest segment is cut back to its last whole record (logged). A bad record anywhere else, an
//! entry under the wrong index, or a gap among the entries after the purge point means the log
//! is damaged: [`EngineError::Damaged`], and the node is recovered from its peers.
//!
//! The purge point itself is kept by the caller (in the store's metadata, flushed before
//! [`SegmentLog::purge`] deletes anything); entries at or below it found at open are ignored and
//! their segments removed.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read};
use std::ops::{Bound, RangeBounds};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::EngineError;
use crate::format::encode_onto;
use crate::types::{Entry, LogId, decode};

/// The first bytes of every segment file; the last one is the layout version.
pub const MAGIC: [u8; 8] = *b"VARSLOG\x01";

/// A segment is closed and a new one started once it would grow past this many bytes (a single
/// larger record still gets a segment of its own).
pub const SEGMENT_BYTES_MAX: u64 = 8 * 1024 * 1024;

const RECORD_HEADER: u64 = 8;

/// The most indexes an append may skip (see [`Inner::slots`]).
const HOLE_MAX: u64 = 1024;
const SUFFIX: &str = ".log";
const PARTIAL_SUFFIX: &str = ".log.partial";

/// The log's segment files, shared between the log store and its readers.
#[derive(Debug, Clone)]
pub struct SegmentLog {
    inner: Arc<Mutex<Inner>>,
    syncer: std::sync::mpsc::Sender<SyncJob>,
}

/// Called once an append is on stable storage, or failed to get there.
pub type Synced = Box<dyn FnOnce(std::io::Result<()>) + Send>;

/// Work for the log's sync thread.
enum SyncJob {
    /// Sync `file`, then report.
    Sync(Arc<File>, Synced),
    /// Report once every job sent before it is done.
    Barrier(tokio::sync::oneshot::Sender<()>),
}

/// The log's sync thread: takes every job waiting, syncs each file among them once, then
/// reports to each job in the order they came. Appends that arrive while a sync runs share the
/// next one (group commit), and the caller of an append is free as soon as its records are
/// written (openraft then replicates while the leader's own sync runs).
fn run_syncer(jobs: std::sync::mpsc::Receiver<SyncJob>, inner: std::sync::Weak<Mutex<Inner>>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        batch.extend(jobs.try_iter());
        let mut synced: Vec<(Arc<File>, Result<(), String>)> = Vec::new();
        for job in &batch {
            if let SyncJob::Sync(file, _) = job
                && !synced.iter().any(|(f, _)| Arc::ptr_eq(f, file))
            {
                let result = file.sync_data().map_err(|e| e.to_string());
                if let (Err(e), Some(inner)) = (&result, inner.upgrade())
                    && let Ok(mut inner) = inner.lock()
                {
                    // After a failed fsync what reached the disk is unknown: no more writes.
                    inner.failed = Some(format!("fdatasync: {e}"));
                }
                synced.push((Arc::clone(file), result));
            }
        }
        for job in batch {
            match job {
                SyncJob::Sync(file, done) => {
                    let result = synced.iter().find(|(f, _)| Arc::ptr_eq(f, &file)).map(|(_, r)| r.clone());
                    done(match result {
                        Some(Ok(())) => Ok(()),
                        Some(Err(e)) => Err(std::io::Error::other(e)),
                        None => Err(std::io::Error::other("not synced")),
                    });
                }
                SyncJob::Barrier(tx) => {
                    let _ = tx.send(());
                }
            }
        }
    }
}

#[derive(Debug)]
struct Segment {
    first: u64,
    file: Arc<File>,
    /// Bytes of the header and records: where the next record goes.
    len: u64,
    /// The file's length: `len` and the preallocated zeros after it.
    size: u64,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    /// Oldest first; the last one is appended to.
    segments: VecDeque<Segment>,
    /// Index of `slots[0]`.
    first: u64,
    /// Where each entry after the purge point is: its segment's first index, the record's offset
    /// and its payload's length. `None` is a hole: an append that skipped indexes (openraft
    /// never does; its storage test suite does). A hole always ends where a segment starts, and
    /// a log with a hole is refused as damaged when it is opened again.
    slots: VecDeque<Option<Slot>>,
    last_purged: Option<LogId>,
    last_log_id: Option<LogId>,
    segment_bytes_max: u64,
    /// Set when a write or sync failed: no write is taken after it (what reached the disk is
    /// not known; a restart reads it back and cuts a torn end).
    failed: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    segment: u64,
    offset: u64,
    len: u32,
}

/// Where to read one entry, taken under the lock and read outside it.
struct ReadAt {
    index: u64,
    file: Arc<File>,
    offset: u64,
    len: u32,
}

fn segment_name(first: u64) -> String {
    format!("{first:020}{SUFFIX}")
}

fn damaged(path: &Path, what: impl std::fmt::Display) -> EngineError {
    EngineError::Damaged(format!("Raft log segment {}: {what}", path.display()))
}

/// Writes zeros over `from..to` of `file`.
fn zero(file: &File, from: u64, to: u64) -> Result<(), EngineError> {
    const CHUNK: u64 = 1 << 20;
    let zeros = vec![0u8; CHUNK.min(to.saturating_sub(from)) as usize];
    let mut at = from;
    while at < to {
        let n = CHUNK.min(to - at) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

/// Appends `entry` to `buf` as a record: header, then payload. Returns the record's length.
fn push_record(buf: &mut Vec<u8>, entry: &Entry) -> Result<usize, EngineError> {
    let start = buf.len();
    buf.extend_from_slice(&[0u8; RECORD_HEADER as usize]);
    *buf = encode_onto("log entry", entry, std::mem::take(buf))?;
    let payload = &buf[start + RECORD_HEADER as usize..];
    let len = u32::try_from(payload.len())
        .map_err(|_| EngineError::Damaged(format!("log entry of {} bytes: over 4 GiB", payload.len())))?;
    let crc = crc32fast::hash(payload);
    buf[start..start + 4].copy_from_slice(&len.to_le_bytes());
    buf[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    Ok(buf.len() - start)
}

struct Scanned {
    /// (offset, payload length, decoded entry) of each whole record.
    records: Vec<(u64, u32, LogId)>,
    /// Where the whole records end, and why reading stopped there when it is not the file's end.
    end: u64,
    torn: Option<String>,
    /// The file's length, preallocated zeros included.
    size: u64,
}

/// True when the file at `path` is shorter than a segment header or its header is all zeros.
fn never_written(path: &Path) -> Result<bool, EngineError> {
    let mut head = Vec::with_capacity(MAGIC.len());
    File::open(path)?.take(MAGIC.len() as u64).read_to_end(&mut head)?;
    Ok(head.len() < MAGIC.len() || head.iter().all(|b| *b == 0))
}

fn scan(path: &Path, first: u64) -> Result<Scanned, EngineError> {
    let mut bytes = Vec::new();
    File::open(path)?.read_to_end(&mut bytes)?;
    match bytes.get(..MAGIC.len()) {
        Some(m) if m[..7] == MAGIC[..7] => {
            if m[7] != MAGIC[7] {
                return Err(EngineError::FormatTooNew {
                    what: "Raft log segment layout",
                    found: m[7].into(),
                    newest: MAGIC[7].into(),
                });
            }
        }
        // A segment is created with its header synced before anything is appended, so a short
        // one is damage, not a torn write.
        _ => return Err(damaged(path, "does not start with a segment header")),
    }
    let mut records = Vec::new();
    let mut at = MAGIC.len() as u64;
    let total = bytes.len() as u64;
    let mut torn = None;
    while at < total {
        let head = at as usize;
        // The zeros a segment is preallocated with: no record has length 0 (an encoded entry
        // is at least its version byte).
        if bytes[head..(head + 4).min(bytes.len())].iter().all(|b| *b == 0) {
            break;
        }
        if total - at < RECORD_HEADER {
            torn = Some(format!("{} bytes of a record header", total - at));
            break;
        }
        let len = u32::from_le_bytes(bytes[head..head + 4].try_into().unwrap_or_default());
        let crc = u32::from_le_bytes(bytes[head + 4..head + 8].try_into().unwrap_or_default());
        let body = at + RECORD_HEADER;
        if total - body < u64::from(len) {
            torn = Some(format!("a record of {len} bytes with {} present", total - body));
            break;
        }
        let payload = &bytes[body as usize..(body + u64::from(len)) as usize];
        if crc32fast::hash(payload) != crc {
            torn = Some("a record whose checksum does not match".to_string());
            break;
        }
        let expected = first + records.len() as u64;
        let entry: Entry = decode("log entry", payload)?;
        if entry.log_id.index != expected {
            return Err(damaged(path, format!("entry {} where {expected} belongs", entry.log_id)));
        }
        records.push((at, len, entry.log_id));
        at = body + u64::from(len);
    }
    Ok(Scanned { records, end: at, torn, size: total })
}

impl SegmentLog {
    /// Opens (creating when missing) the log in `dir`, whose entries up to `last_purged` were
    /// purged. Cuts a torn last record off the newest segment and removes segments wholly at or
    /// below the purge point.
    pub fn open(dir: &Path, last_purged: Option<LogId>) -> Result<Self, EngineError> {
        std::fs::create_dir_all(dir)?;
        let mut names = Vec::new();
        for item in std::fs::read_dir(dir)? {
            let item = item?;
            let name = item.file_name().to_string_lossy().into_owned();
            if name.ends_with(PARTIAL_SUFFIX) {
                // An adoption that did not finish; the entries are still where they came from.
                std::fs::remove_file(item.path())?;
            } else if let Some(first) = name.strip_suffix(SUFFIX).and_then(|n| n.parse::<u64>().ok()) {
                names.push(first);
            }
        }
        names.sort_unstable();
        let purged = last_purged.map(|l| l.index);
        let is_purged = |i: u64| purged.is_some_and(|p| i <= p);

        let mut inner = Inner {
            dir: dir.to_path_buf(),
            segments: VecDeque::new(),
            first: purged.map_or(0, |p| p + 1),
            slots: VecDeque::new(),
            last_purged,
            last_log_id: last_purged,
            segment_bytes_max: SEGMENT_BYTES_MAX,
            failed: None,
        };
        let count = names.len();
        for (n, first) in names.into_iter().enumerate() {
            let path = dir.join(segment_name(first));
            let newest = n + 1 == count;
            if newest && never_written(&path)? {
                // Created by a start that lost power before its header reached the disk: no
                // entry was ever written to it.
                tracing::warn!(segment = %path.display(), "removing a Raft log segment whose header was never written");
                std::fs::remove_file(&path)?;
                continue;
            }
            let scanned = scan(&path, first)?;
            if let Some(why) = &scanned.torn {
                if !newest {
                    return Err(damaged(&path, format!("{why} inside an older segment")));
                }
                tracing::warn!(segment = %path.display(), at = scanned.end, "cutting a torn write off the Raft log's end: {why}");
            }
            if scanned.records.last().is_none_or(|r| is_purged(r.2.index)) {
                // Nothing kept: purged before a crash let the file go, or never appended to.
                std::fs::remove_file(&path)?;
                continue;
            }
            let file = OpenOptions::new().read(true).write(true).open(&path)?;
            if scanned.torn.is_some() {
                zero(&file, scanned.end, scanned.size)?;
                file.sync_data()?;
            }
            for (offset, len, log_id) in scanned.records {
                if is_purged(log_id.index) {
                    continue;
                }
                let next = inner.first + inner.slots.len() as u64;
                if inner.slots.is_empty() {
                    // The log may start after the purge point (a node that installed a
                    // snapshot, or was restored); from here on, entries follow each other.
                    inner.first = log_id.index;
                } else if log_id.index != next {
                    return Err(damaged(
                        &path,
                        format!(
                            "entry {} follows {}: the log has a gap",
                            log_id.index,
                            next.saturating_sub(1)
                        ),
                    ));
                }
                inner.slots.push_back(Some(Slot { segment: first, offset, len }));
                inner.last_log_id = Some(log_id);
            }
            inner.segments.push_back(Segment {
                first,
                file: Arc::new(file),
                len: scanned.end,
                size: scanned.size,
            });
        }
        let inner = Arc::new(Mutex::new(inner));
        let (syncer, jobs) = std::sync::mpsc::channel();
        let weak = Arc::downgrade(&inner);
        std::thread::Builder::new().name("varsel-log-sync".into()).spawn(move || run_syncer(jobs, weak))?;
        Ok(Self { inner, syncer })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, EngineError> {
        self.inner.lock().map_err(|_| EngineError::Poisoned)
    }

    /// Sets the size at which segments roll (tests use small ones).
    pub fn set_segment_bytes_max(&self, bytes: u64) -> Result<(), EngineError> {
        self.lock()?.segment_bytes_max = bytes;
        Ok(())
    }

    /// The last entry's log id, or the purge point when no entry is left.
    pub fn last_log_id(&self) -> Result<Option<LogId>, EngineError> {
        Ok(self.lock()?.last_log_id)
    }

    /// True when no entry is left after the purge point.
    pub fn is_empty(&self) -> Result<bool, EngineError> {
        Ok(self.lock()?.slots.is_empty())
    }

    /// Number of segment files.
    pub fn segment_count(&self) -> Result<usize, EngineError> {
        Ok(self.lock()?.segments.len())
    }

    /// Bytes the segment files occupy.
    pub fn size_on_disk(&self) -> Result<u64, EngineError> {
        Ok(self.lock()?.segments.iter().map(|s| s.size).sum())
    }

    /// Writes `entries` at the end of the log and returns once they are on stable storage.
    /// Their indexes must follow the last entry's (any index when the log holds none).
    pub async fn append(&self, entries: impl IntoIterator<Item = Entry>) -> Result<(), EngineError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.append_then(
            entries,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        )?;
        rx.await.map_err(|_| EngineError::Io(std::io::Error::other("the log's sync thread stopped")))??;
        Ok(())
    }

    /// Writes `entries` at the end of the log and returns; `synced` is called once they are on
    /// stable storage (from the log's sync thread, in the order appends were made), or with the
    /// error when this fails. Entries are readable as soon as this returns.
    pub fn append_then(
        &self,
        entries: impl IntoIterator<Item = Entry>,
        synced: Synced,
    ) -> Result<(), EngineError> {
        let stopped = || EngineError::Io(std::io::Error::other("the log's sync thread stopped"));
        let fail = |synced: Synced, e: EngineError| {
            synced(Err(std::io::Error::other(e.to_string())));
            Err(e)
        };
        let mut inner = match self.lock() {
            Ok(inner) => inner,
            Err(e) => return fail(synced, e),
        };
        if let Err(e) = inner.check_usable() {
            return fail(synced, e);
        }
        let before = (inner.slots.len(), inner.first, inner.last_log_id);
        match inner.append_locked(entries) {
            // Sent under the lock, so jobs reach the sync thread in append order.
            Ok(Some(file)) => self.syncer.send(SyncJob::Sync(file, synced)).or_else(|back| match back.0 {
                SyncJob::Sync(_, synced) => fail(synced, stopped()),
                SyncJob::Barrier(_) => Err(stopped()),
            }),
            Ok(None) => {
                synced(Ok(()));
                Ok(())
            }
            Err(e) => {
                // What this append added is forgotten and the log takes no more writes:
                // openraft stops on a storage error, and a restart recovers from the files.
                (inner.first, inner.last_log_id) = (before.1, before.2);
                inner.slots.truncate(before.0);
                inner.failed = Some(e.to_string());
                fail(synced, e)
            }
        }
    }

    /// Waits until every append made before the call has been synced (or failed to).
    pub async fn sync_barrier(&self) -> Result<(), EngineError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.syncer
            .send(SyncJob::Barrier(tx))
            .map_err(|_| EngineError::Io(std::io::Error::other("the log's sync thread stopped")))?;
        rx.await.map_err(|_| EngineError::Io(std::io::Error::other("the log's sync thread stopped")))
    }

    /// The entries with indexes in `range` that the log holds, in order; with `bytes_max`,
    /// only as many as fit in that many payload bytes (and always the first).
    pub fn read<RB: RangeBounds<u64>>(
        &self,
        range: RB,
        bytes_max: Option<u64>,
    ) -> Result<Vec<Entry>, EngineError> {
        let places = self.lock()?.places(range, bytes_max)?;
        let mut out = Vec::with_capacity(places.len());
        visit(&places, |p, payload| {
            out.push(p.entry(payload)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Removes the entries from `index` on (a conflicting suffix) and returns once that is on
    /// stable storage.
    pub async fn truncate(&self, index: u64) -> Result<(), EngineError> {
        // Syncs of earlier appends report before the entries they cover can be cut.
        self.sync_barrier().await?;
        let mut inner = self.lock()?;
        inner.check_usable()?;
        let end = inner.first + inner.slots.len() as u64;
        if index >= end {
            return Ok(());
        }
        let from = index.max(inner.first);
        let keep = (from - inner.first) as usize;
        let mut removed_files = false;
        while inner.segments.back().is_some_and(|s| s.first >= from) {
            if let Some(s) = inner.segments.pop_back() {
                std::fs::remove_file(inner.dir.join(segment_name(s.first)))?;
                removed_files = true;
            }
        }
        // The cut inside the segment that holds `from`, when one does (not in a hole).
        if let Some(cut) = inner.slots[keep]
            && let Some(s) = inner.segments.back_mut().filter(|s| s.first == cut.segment)
        {
            // Zeroed rather than cut off, so the file keeps its preallocated length.
            zero(&s.file, cut.offset, s.len)?;
            s.file.sync_data()?;
            s.len = cut.offset;
        }
        if removed_files {
            sync_dir(&inner.dir)?;
        }
        inner.slots.truncate(keep);
        while inner.slots.back().is_some_and(Option::is_none) {
            inner.slots.pop_back();
        }
        inner.last_log_id = match inner.slots.len() as u64 {
            0 => inner.last_purged,
            n => {
                let last = inner.first + n - 1;
                let place = inner.places(last..=last, None)?;
                let mut found = None;
                visit(&place, |p, payload| {
                    found = Some(p.entry(payload)?.log_id);
                    Ok(())
                })?;
                found
            }
        };
        Ok(())
    }

    /// Forgets the entries up to and including `log_id` and deletes the segments that hold
    /// nothing else. The caller has made the purge point durable first.
    pub fn purge(&self, log_id: LogId) -> Result<(), EngineError> {
        let mut inner = self.lock()?;
        if inner.last_purged.is_some_and(|p| p.index >= log_id.index) {
            return Ok(());
        }
        inner.last_purged = Some(log_id);
        while inner.slots.front().is_some_and(|s| s.is_none() || inner.first <= log_id.index) {
            inner.slots.pop_front();
            inner.first += 1;
        }
        if inner.slots.is_empty() {
            inner.first = log_id.index + 1;
            if inner.last_log_id.is_none_or(|l| l.index < log_id.index) {
                inner.last_log_id = Some(log_id);
            }
        }
        // A segment can go when every entry in it is purged: when the next one starts at or
        // below the first index kept, or (the newest) when no entry is kept.
        let mut removed = false;
        loop {
            let removable = match (inner.segments.front(), inner.segments.get(1)) {
                (Some(_), Some(next)) => next.first <= log_id.index + 1,
                (Some(_), None) => inner.slots.is_empty(),
                (None, _) => false,
            };
            if !removable {
                break;
            }
            if let Some(s) = inner.segments.pop_front() {
                std::fs::remove_file(inner.dir.join(segment_name(s.first)))?;
                removed = true;
            }
        }
        if removed {
            sync_dir(&inner.dir)?;
        }
        Ok(())
    }

    /// Takes over `entries` (in index order, following each other) into a log that holds none:
    /// written to a partial file, synced, then renamed into place, so a crash leaves either all
    /// of them or none. For moving a log kept elsewhere into segments.
    pub fn adopt(&self, entries: impl IntoIterator<Item = Entry>) -> Result<u64, EngineError> {
        let mut inner = self.lock()?;
        if !inner.slots.is_empty() || !inner.segments.is_empty() {
            return Err(EngineError::Damaged("adopting entries into a log that holds some".into()));
        }
        let mut entries = entries.into_iter().peekable();
        let Some(first) = entries.peek().map(|e| e.log_id.index) else {
            return Ok(0);
        };
        let path = inner.dir.join(segment_name(first));
        let partial = inner.dir.join(format!("{first:020}{PARTIAL_SUFFIX}"));
        let mut bytes = MAGIC.to_vec();
        let mut slots = Vec::new();
        let mut last = None;
        for (n, entry) in entries.enumerate() {
            if entry.log_id.index != first + n as u64 {
                return Err(EngineError::Damaged(format!(
                    "log entry {} where {} belongs",
                    entry.log_id,
                    first + n as u64
                )));
            }
            let offset = bytes.len() as u64;
            let len = (push_record(&mut bytes, &entry)? as u64 - RECORD_HEADER) as u32;
            slots.push(Some(Slot { segment: first, offset, len }));
            last = Some(entry.log_id);
        }
        let file = OpenOptions::new().create(true).truncate(true).write(true).open(&partial)?;
        file.write_all_at(&bytes, 0)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&partial, &path)?;
        sync_dir(&inner.dir)?;
        let file = OpenOptions::new().read(true).write(true).open(&path)?;
        let len = bytes.len() as u64;
        inner.segments.push_back(Segment { first, file: Arc::new(file), len, size: len });
        inner.first = first;
        let count = slots.len() as u64;
        inner.slots.extend(slots);
        inner.last_log_id = last;
        Ok(count)
    }

    /// Counts the entries held and those whose encoding contains `needle` (a full scan, for
    /// checking an erasure; run it off the async runtime).
    pub fn search(&self, needle: &[u8]) -> Result<(u64, u64), EngineError> {
        let places = self.lock()?.places(.., None)?;
        let (mut n, mut found) = (0, 0);
        visit(&places, |_, payload| {
            n += 1;
            found += u64::from(crate::state_machine::contains(payload, needle));
            Ok(())
        })?;
        Ok((n, found))
    }
}

impl Inner {
    /// Refuses writes once one failed (see [`Inner::failed`]).
    fn check_usable(&self) -> Result<(), EngineError> {
        match &self.failed {
            Some(why) => Err(EngineError::Damaged(format!(
                "the Raft log failed a write earlier ({why}) and takes no more until the node restarts"
            ))),
            None => Ok(()),
        }
    }

    /// The entries written (not yet synced) at the log's end; the file to sync.
    fn append_locked(
        &mut self,
        entries: impl IntoIterator<Item = Entry>,
    ) -> Result<Option<Arc<File>>, EngineError> {
        // Every record goes straight into one buffer, written with one positional write (or
        // one per segment when a new one starts inside the batch).
        let mut pending: Vec<u8> = Vec::new();
        for entry in entries {
            let index = entry.log_id.index;
            let at = pending.len();
            let rec_len = push_record(&mut pending, &entry)?;
            let starts_segment = if self.slots.is_empty() {
                // The first entry after the purge point (or ever): it starts a segment of
                // its own, so a segment's entries always follow each other.
                true
            } else {
                let next = self.first + self.slots.len() as u64;
                if index < next {
                    return Err(EngineError::Damaged(format!(
                        "append of log entry {index} over one held (truncate first); {next} comes next"
                    )));
                }
                if index - next > HOLE_MAX {
                    return Err(EngineError::Damaged(format!(
                        "append of log entry {index} where {next} comes next"
                    )));
                }
                let active = self.segments.back().map_or(0, |s| s.len) + at as u64;
                let full = active > MAGIC.len() as u64 && active + rec_len as u64 > self.segment_bytes_max;
                index > next || full
            };
            if starts_segment {
                let rec = pending.split_off(at);
                self.write_pending(&mut pending)?;
                self.start_segment(index)?;
                if self.slots.is_empty() {
                    self.first = index;
                } else {
                    let next = self.first + self.slots.len() as u64;
                    self.slots.extend(std::iter::repeat_n(None, (index - next) as usize));
                }
                pending = rec;
            }
            let Some(active) = self.segments.back() else {
                return Err(EngineError::Damaged("no segment to append to".into()));
            };
            let offset = active.len + (pending.len() - rec_len) as u64;
            let len = (rec_len as u64 - RECORD_HEADER) as u32;
            self.slots.push_back(Some(Slot { segment: active.first, offset, len }));
            self.last_log_id = Some(entry.log_id);
        }
        self.write_pending(&mut pending)?;
        Ok(self.segments.back().map(|s| Arc::clone(&s.file)))
    }

    fn segment(&self, first: u64) -> Result<&Segment, EngineError> {
        let at = self.segments.binary_search_by_key(&first, |s| s.first).map_err(|_| {
            EngineError::Damaged(format!(
                "Raft log: no segment starting at {first} for an entry that names it"
            ))
        })?;
        Ok(&self.segments[at])
    }

    fn places<RB: RangeBounds<u64>>(
        &self,
        range: RB,
        bytes_max: Option<u64>,
    ) -> Result<Vec<ReadAt>, EngineError> {
        let end = self.first + self.slots.len() as u64;
        let from = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        }
        .max(self.first);
        let to = match range.end_bound() {
            Bound::Included(i) => i.saturating_add(1),
            Bound::Excluded(i) => *i,
            Bound::Unbounded => end,
        }
        .min(end);
        let mut out = Vec::new();
        let mut bytes = 0u64;
        for index in from..to {
            let Some(slot) = self.slots[(index - self.first) as usize] else {
                continue;
            };
            bytes += u64::from(slot.len);
            if bytes_max.is_some_and(|max| bytes > max) && !out.is_empty() {
                break;
            }
            let seg = self.segment(slot.segment)?;
            out.push(ReadAt { index, file: Arc::clone(&seg.file), offset: slot.offset, len: slot.len });
        }
        Ok(out)
    }

    /// Creates the segment starting at `first`, its header and directory entry synced, and
    /// makes it the one appended to.
    fn start_segment(&mut self, first: u64) -> Result<(), EngineError> {
        // Segments starting at or after `first` hold no entry kept (a truncation cut them
        // back): the new one takes their place.
        while self.segments.back().is_some_and(|s| s.first >= first) {
            if let Some(s) = self.segments.pop_back() {
                std::fs::remove_file(self.dir.join(segment_name(s.first)))?;
            }
        }
        if let Some(old) = self.segments.back() {
            old.file.sync_data()?;
        }
        let path = self.dir.join(segment_name(first));
        let file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path)?;
        file.write_all_at(&MAGIC, 0)?;
        // Written out, not a sparse `set_len`: appends then land on blocks already allocated in
        // a file whose length does not change, so each append's `fdatasync` writes the data
        // alone, without the inode (measured: the inode write was half of each sync's I/O).
        // On a nearly full disk the segment starts short instead (appends then extend it): a
        // full disk must not stop the log where the entries themselves would still fit.
        let mut size = self.segment_bytes_max.max(MAGIC.len() as u64);
        if let Err(e) = zero(&file, MAGIC.len() as u64, size) {
            tracing::warn!(segment = %path.display(), "cannot preallocate a Raft log segment, starting it short: {e}");
            size = MAGIC.len() as u64;
            file.set_len(size)?;
        }
        file.sync_all()?;
        sync_dir(&self.dir)?;
        self.segments.push_back(Segment { first, file: Arc::new(file), len: MAGIC.len() as u64, size });
        Ok(())
    }

    /// Writes what was gathered for the newest segment at its end.
    fn write_pending(&mut self, pending: &mut Vec<u8>) -> Result<(), EngineError> {
        if pending.is_empty() {
            return Ok(());
        }
        let Some(active) = self.segments.back_mut() else {
            return Err(EngineError::Damaged("no segment to append to".into()));
        };
        active.file.write_all_at(pending, active.len)?;
        active.len += pending.len() as u64;
        active.size = active.size.max(active.len);
        pending.clear();
        Ok(())
    }
}

/// The most bytes read with one `pread` (a run of records longer than this is read in parts;
/// a single larger record is read whole).
const READ_SPAN_MAX: u64 = 1 << 20;

/// Calls `f` with each place's checked payload, in order. Records that follow each other in
/// one segment are read together, with one `pread` per span (catching-up followers and apply
/// read many consecutive entries).
fn visit(
    places: &[ReadAt],
    mut f: impl FnMut(&ReadAt, &[u8]) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let mut rest = places;
    let mut buf = Vec::new();
    while let Some(first) = rest.first() {
        let mut n = 1;
        while let Some(next) = rest.get(n)
            && Arc::ptr_eq(&next.file, &first.file)
            && next.offset == rest[n - 1].end()
            && next.end() - first.offset <= READ_SPAN_MAX
        {
            n += 1;
        }
        let (run, later) = rest.split_at(n);
        let last = &run[n - 1];
        buf.resize((last.end() - first.offset) as usize, 0);
        first.file.read_exact_at(&mut buf, first.offset).map_err(|e| match e.kind() {
            ErrorKind::UnexpectedEof => EngineError::Damaged(format!(
                "Raft log entries {}..={} are cut short",
                first.index, last.index
            )),
            _ => EngineError::Io(e),
        })?;
        for p in run {
            let at = (p.offset - first.offset) as usize;
            f(p, p.checked(&buf[at..at + (p.end() - p.offset) as usize])?)?;
        }
        rest = later;
    }
    Ok(())
}

impl ReadAt {
    /// Where the record ends in its file.
    fn end(&self) -> u64 {
        self.offset + RECORD_HEADER + u64::from(self.len)
    }

    /// The payload of `record` (this place's header and payload), once its checksum matches.
    fn checked<'a>(&self, record: &'a [u8]) -> Result<&'a [u8], EngineError> {
        let (header, payload) = record.split_at(RECORD_HEADER as usize);
        let crc = u32::from_le_bytes(header[4..8].try_into().unwrap_or_default());
        if crc32fast::hash(payload) != crc {
            return Err(EngineError::Damaged(format!("Raft log entry {}: checksum mismatch", self.index)));
        }
        Ok(payload)
    }

    /// The entry in `payload`, which must be the one this place names.
    fn entry(&self, payload: &[u8]) -> Result<Entry, EngineError> {
        let entry: Entry = decode("log entry", payload)?;
        if entry.log_id.index != self.index {
            return Err(EngineError::Damaged(format!(
                "Raft log entry {} found where {} belongs",
                entry.log_id, self.index
            )));
        }
        Ok(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openraft::{CommittedLeaderId, EntryPayload};

    fn blank(term: u64, i: u64) -> Entry {
        Entry { log_id: LogId::new(CommittedLeaderId::new(term, 1), i), payload: EntryPayload::Blank }
    }

    fn indexes(log: &SegmentLog) -> Result<Vec<u64>, EngineError> {
        Ok(log.read(.., None)?.iter().map(|e| e.log_id.index).collect())
    }

    fn files(dir: &Path) -> Result<Vec<String>, EngineError> {
        let mut names: Vec<String> = std::fs::read_dir(dir)?
            .map(|f| f.map(|f| f.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_, _>>()?;
        names.sort();
        Ok(names)
    }

    /// A log in `dir` with segments small enough to roll every few entries.
    fn small(dir: &Path, purged: Option<LogId>) -> Result<SegmentLog, EngineError> {
        let log = SegmentLog::open(dir, purged)?;
        log.set_segment_bytes_max(64)?;
        Ok(log)
    }

    fn put(i: u64, bytes: usize) -> Entry {
        use crate::types::{Command, KvCommand, Request};
        let value = format!("{i}:").repeat(bytes / 4);
        let request = Request::Kv(KvCommand::Put { key: format!("k{i}"), value });
        Entry {
            log_id: LogId::new(CommittedLeaderId::new(1, 1), i),
            payload: EntryPayload::Normal(Command { issued_at_ms: i, lease_at_ms: i, request }),
        }
    }

    /// Goal: consecutive entries read in spans (one `pread` each, at most [`READ_SPAN_MAX`]
    /// bytes) come back whole and in order across span and segment borders, in one append
    /// batch and in several; a damaged record inside a span is found and named, and reads
    /// that do not reach it still succeed.
    #[tokio::test]
    async fn spans_read_back_whole_and_find_damage() -> Result<(), EngineError> {
        let dir = tempfile::tempdir()?;
        let log = SegmentLog::open(dir.path(), None)?;
        log.set_segment_bytes_max(3 << 20)?;
        // 600 entries of ~10 KiB: two segments, each read as several spans.
        log.append((1..=300).map(|i| put(i, 10_000))).await?;
        for i in 301..=600 {
            log.append([put(i, 10_000)]).await?;
        }
        assert!(log.segment_count()? >= 2);
        let all = log.read(.., None)?;
        assert_eq!(all.len(), 600);
        for (n, e) in all.iter().enumerate() {
            assert_eq!(e, &put(n as u64 + 1, 10_000));
        }
        let bounded = log.read(250.., Some(200_000))?;
        assert_eq!(bounded.first().map(|e| e.log_id.index), Some(250));
        assert!((15..25).contains(&bounded.len()), "{}", bounded.len());

        // Flip one payload byte of entry 150, in the middle of a span.
        let place = log.lock()?.places(150..=150, None)?.remove(0);
        let at = place.offset + RECORD_HEADER + 20;
        let mut byte = [0u8; 1];
        place.file.read_exact_at(&mut byte, at)?;
        place.file.write_all_at(&[byte[0] ^ 0xff], at)?;
        let err = log.read(100..=200, None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("entry 150: checksum mismatch"), "{err}");
        assert_eq!(log.read(1..150, None)?.len(), 149);
        assert_eq!(log.read(151..=600, None)?.len(), 450);
        Ok(())
    }

    /// Goal: entries appended over several segments read back the same after a reopen;
    /// truncation drops the suffix (and the segments that held only it) and is what a reopen
    /// finds; appends after it continue from the cut.
    #[tokio::test]
    async fn append_truncate_and_reopen() -> Result<(), EngineError> {
        let dir = tempfile::tempdir()?;
        let log = small(dir.path(), None)?;
        log.append((1..=20).map(|i| blank(1, i))).await?;
        assert!(log.segment_count()? > 3, "small segments roll");
        assert_eq!(indexes(&log)?, (1..=20).collect::<Vec<_>>());
        assert_eq!(log.read(5..8, None)?.len(), 3);

        log.truncate(12).await?;
        assert_eq!(log.last_log_id()?, Some(blank(1, 11).log_id));
        log.append((12..=14).map(|i| blank(2, i))).await?;
        drop(log);

        let log = small(dir.path(), None)?;
        assert_eq!(indexes(&log)?, (1..=14).collect::<Vec<_>>());
        assert_eq!(log.last_log_id()?, Some(blank(2, 14).log_id));
        assert_eq!(log.read(12..=12, None)?[0].log_id.leader_id.term, 2, "the new term's entry");
        assert!(matches!(log.append([blank(2, 3)]).await, Err(EngineError::Damaged(_))), "no overwrite");
        assert!(log.append([blank(2, 15)]).await.is_err(), "no write after a refused one");
        drop(log);
        let log = small(dir.path(), None)?;
        assert_eq!(indexes(&log)?, (1..=14).collect::<Vec<_>>(), "the refused append wrote nothing");

        // A hole (openraft never appends one) is held in memory, but a log with one is damaged.
        log.append([blank(2, 16)]).await?;
        assert_eq!(
            log.read(13.., None)?.iter().map(|e| e.log_id.index).collect::<Vec<_>>(),
            vec![13, 14, 16]
        );
        assert_eq!(log.last_log_id()?, Some(blank(2, 16).log_id));
        log.truncate(15).await?;
        assert_eq!(log.last_log_id()?, Some(blank(2, 14).log_id), "the hole goes with the cut");
        log.append([blank(2, 17)]).await?;
        drop(log);
        assert!(matches!(small(dir.path(), None), Err(EngineError::Damaged(m)) if m.contains("gap")));
        Ok(())
    }

    /// Goal: a purge deletes the segments that hold only purged entries and no others; a purge
    /// past the last entry deletes them all and the next append starts a new segment there; a
    /// reopen with the purge point ignores what a crash left below it.
    #[tokio::test]
    async fn purge_deletes_whole_segments() -> Result<(), EngineError> {
        let dir = tempfile::tempdir()?;
        let log = small(dir.path(), None)?;
        log.append((1..=20).map(|i| blank(1, i))).await?;
        let before = files(dir.path())?;
        let size = log.size_on_disk()?;

        log.purge(blank(1, 9).log_id)?;
        assert_eq!(indexes(&log)?, (10..=20).collect::<Vec<_>>());
        let after = files(dir.path())?;
        assert!(after.len() < before.len(), "{before:?} -> {after:?}");
        assert!(log.size_on_disk()? < size);
        // The oldest file left holds entry 10: it starts at or below it.
        let oldest: u64 = after[0].trim_end_matches(SUFFIX).parse().unwrap_or(u64::MAX);
        assert!(oldest <= 10, "{after:?}");

        // A crash before the files went: reopening with the purge point ignores what is below.
        drop(log);
        let log = small(dir.path(), Some(blank(1, 15).log_id))?;
        assert_eq!(indexes(&log)?, (16..=20).collect::<Vec<_>>());

        log.purge(blank(1, 30).log_id)?;
        assert!(files(dir.path())?.is_empty(), "nothing left to keep");
        assert_eq!(log.last_log_id()?, Some(blank(1, 30).log_id));
        log.append((31..=33).map(|i| blank(1, i))).await?;
        assert_eq!(files(dir.path())?, vec![segment_name(31)]);
        drop(log);
        let log = small(dir.path(), Some(blank(1, 30).log_id))?;
        assert_eq!(indexes(&log)?, vec![31, 32, 33]);
        Ok(())
    }

    /// Goal: a torn write at the newest segment's end (a crash during an append that was never
    /// acknowledged) is cut off at open, keeping every whole record; damage inside an older
    /// segment is refused, not skipped; a newer segment layout is refused naming both versions.
    #[tokio::test]
    async fn torn_tail_is_cut_damage_is_refused() -> Result<(), EngineError> {
        let dir = tempfile::tempdir()?;
        let log = small(dir.path(), None)?;
        log.append((1..=10).map(|i| blank(1, i))).await?;
        let (end, size) = log.lock()?.segments.back().map_or((0, 0), |s| (s.len, s.size));
        drop(log);
        let names = files(dir.path())?;
        let newest = dir.path().join(names.last().map_or("", String::as_str));
        assert_eq!(std::fs::metadata(&newest)?.len(), size);
        let garbage = [9, 0, 0, 0, 1, 2];
        let f = OpenOptions::new().write(true).open(&newest)?;
        f.write_all_at(&garbage, end)?;
        drop(f);

        let log = small(dir.path(), None)?;
        assert_eq!(indexes(&log)?, (1..=10).collect::<Vec<_>>());
        let bytes = std::fs::read(&newest)?;
        assert_eq!(bytes.len() as u64, size.max(end + garbage.len() as u64));
        assert!(bytes[end as usize..].iter().all(|b| *b == 0), "the torn record is zeroed");
        log.append([blank(1, 11)]).await?;
        drop(log);
        assert_eq!(indexes(&small(dir.path(), None)?)?, (1..=11).collect::<Vec<_>>());

        // One flipped byte inside the oldest segment's first record.
        let oldest = dir.path().join(&names[0]);
        let mut bytes = std::fs::read(&oldest)?;
        let at = MAGIC.len() + RECORD_HEADER as usize;
        bytes[at] ^= 0xff;
        std::fs::write(&oldest, &bytes)?;
        assert!(
            matches!(small(dir.path(), None), Err(EngineError::Damaged(m)) if m.contains("older segment"))
        );

        bytes[at] ^= 0xff;
        std::fs::write(&oldest, &bytes)?;
        // A newest segment whose header never reached the disk (power lost as it was created)
        // is removed; a short older one is damage.
        let later = dir.path().join(segment_name(1000));
        std::fs::write(&later, [0u8; 3])?;
        assert_eq!(indexes(&small(dir.path(), None)?)?, (1..=11).collect::<Vec<_>>());
        assert!(!later.exists());
        std::fs::write(dir.path().join(segment_name(0)), [0u8; 3])?;
        assert!(matches!(small(dir.path(), None), Err(EngineError::Damaged(m)) if m.contains("header")));
        std::fs::remove_file(dir.path().join(segment_name(0)))?;

        bytes[7] = MAGIC[7] + 1;
        std::fs::write(&oldest, &bytes)?;
        assert!(matches!(
            small(dir.path(), None),
            Err(EngineError::FormatTooNew { what: "Raft log segment layout", found: 2, newest: 1 })
        ));
        Ok(())
    }

    /// Goal: appends that return before their sync report in the order they were made, each
    /// exactly once, and a barrier waits for all of them.
    #[tokio::test]
    async fn syncs_report_in_append_order() -> Result<(), EngineError> {
        let dir = tempfile::tempdir()?;
        let log = small(dir.path(), None)?;
        let seen = Arc::new(Mutex::new(Vec::new()));
        for i in 1..=200 {
            let seen = Arc::clone(&seen);
            log.append_then(
                [blank(1, i)],
                Box::new(move |r| {
                    if let Ok(mut s) = seen.lock() {
                        s.push((i, r.is_ok()));
                    }
                }),
            )?;
            // Readable at once, before its sync.
            assert_eq!(log.last_log_id()?, Some(blank(1, i).log_id));
        }
        log.sync_barrier().await?;
        let seen = seen.lock().map_err(|_| EngineError::Poisoned)?.clone();
        assert_eq!(seen, (1..=200).map(|i| (i, true)).collect::<Vec<_>>());
        Ok(())
    }

    /// Goal: adopting entries writes them to one synced segment, refuses a gap, leaves no
    /// partial file, and a partial file left by a crash is removed at open.
    #[tokio::test]
    async fn adopt_is_whole_or_nothing() -> Result<(), EngineError> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join(format!("{:020}{PARTIAL_SUFFIX}", 1)), b"half")?;
        let log = SegmentLog::open(dir.path(), None)?;
        assert!(files(dir.path())?.is_empty(), "the partial file is removed");
        assert!(log.adopt([blank(1, 1), blank(1, 3)]).is_err());
        assert_eq!(log.adopt((4..=6).map(|i| blank(1, i)))?, 3);
        assert_eq!(files(dir.path())?, vec![segment_name(4)]);
        assert_eq!(indexes(&SegmentLog::open(dir.path(), None)?)?, vec![4, 5, 6]);
        Ok(())
    }
}
