//! The backup file format: a header naming the cluster and the log index, the state as a
//! snapshot file at that index, and a SHA-256 of everything before it.
//!
//! ```text
//! "VARSELBK" | format u32 | header_len u32 | header (JSON, BackupHeader)
//! snapshot_len u64 | snapshot file (see `snapshot`: its own header, records, CRC trailer)
//! sha256 (32 bytes) of every byte before it
//! ```
//!
//! Integers are big-endian. The header is JSON so that an operator can read it with `head -c`.
//! A backup is written to `FILE.partial` and renamed once complete and synced, so a backup that
//! was cut short never looks like one. Reading checks the format version (a newer one is
//! refused, naming both), the snapshot's own checksum and trailer, that the snapshot is as long
//! as the header says and is at the header's log index, and the SHA-256; a restore reads the
//! whole file once to check it before it writes anything.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::EngineError;
use crate::snapshot;
use crate::types::SnapshotMeta;

const MAGIC: &[u8; 8] = b"VARSELBK";

/// The backup format this build writes, and the newest it reads.
pub const BACKUP_FORMAT: u32 = 1;

/// Largest header accepted when reading; larger means a damaged file.
const HEADER_MAX_BYTES: u32 = 1 << 20;

/// What a backup says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    /// The id of the cluster backed up (a restore makes a new cluster with a new id).
    pub cluster_id: String,
    /// The log index the state is at: every entry up to it, none after.
    pub log_index: u64,
    /// The term of the entry at `log_index`.
    pub log_term: u64,
    /// The snapshot the state was taken from.
    pub snapshot_id: String,
    /// The log's time when the backup was taken, ms since the Unix epoch.
    pub created_at_ms: u64,
    /// The node that streamed it, and its site.
    pub node_id: u64,
    /// Its site.
    pub site: String,
    /// The `varsel` version of that node.
    pub varsel_version: String,
    /// Length of the embedded snapshot file, bytes.
    pub snapshot_bytes: u64,
}

/// A checked backup.
#[derive(Debug, Clone)]
pub struct BackupInfo {
    /// Its header.
    pub header: BackupHeader,
    /// The embedded snapshot's metadata (log id, membership).
    pub meta: SnapshotMeta,
    /// State records in it.
    pub records: u64,
    /// Size of the file, bytes.
    pub bytes: u64,
    /// Its SHA-256, hex.
    pub sha256: String,
}

fn refused(path: &Path, why: impl std::fmt::Display) -> EngineError {
    EngineError::Backup(format!("backup {}: {why}", path.display()))
}

/// Explains an error met while reading `path`: running out of bytes means it was cut short.
fn reading(path: &Path, e: EngineError) -> EngineError {
    match e {
        EngineError::Io(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => {
            refused(path, "truncated: the file ends before its checksum (copied or written only in part?)")
        }
        EngineError::Backup(_) => e,
        other => refused(path, format!("damaged: {other}")),
    }
}

/// Writes a backup as its snapshot bytes arrive; see the module doc.
#[derive(Debug)]
pub struct BackupWriter {
    out: PathBuf,
    partial: PathBuf,
    file: Option<BufWriter<File>>,
    hasher: Sha256,
    expected: u64,
    written: u64,
}

impl BackupWriter {
    /// Starts `out` (refused if it exists) with `header`; the snapshot's bytes follow through
    /// [`BackupWriter::write`].
    pub fn create(out: &Path, header: &BackupHeader) -> Result<Self, EngineError> {
        if out.exists() {
            return Err(refused(
                out,
                "exists already; choose a new file name (backups are never overwritten)",
            ));
        }
        let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
        name.push(".partial");
        let partial = out.with_file_name(name);
        let file = File::create(&partial).map_err(|e| refused(&partial, e))?;
        let mut w = Self {
            out: out.to_path_buf(),
            partial,
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            hasher: Sha256::new(),
            expected: header.snapshot_bytes,
            written: 0,
        };
        let json = serde_json::to_vec(header).map_err(|e| refused(out, e))?;
        w.put(MAGIC)?;
        w.put(&BACKUP_FORMAT.to_be_bytes())?;
        w.put(&(json.len() as u32).to_be_bytes())?;
        w.put(&json)?;
        w.put(&header.snapshot_bytes.to_be_bytes())?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), EngineError> {
        self.hasher.update(bytes);
        let file = self.file.as_mut().ok_or_else(|| refused(&self.out, "already finished"))?;
        file.write_all(bytes).map_err(EngineError::Io)
    }

    /// Appends the next bytes of the snapshot.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), EngineError> {
        if self.written + bytes.len() as u64 > self.expected {
            return Err(refused(
                &self.out,
                format!("the node sent more than the {} snapshot bytes its header announced", self.expected),
            ));
        }
        self.put(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Writes the checksum, syncs, and renames the file to its name. Refused when fewer bytes
    /// arrived than announced.
    pub fn finish(mut self) -> Result<PathBuf, EngineError> {
        if self.written != self.expected {
            return Err(refused(
                &self.out,
                format!("the stream ended after {} of {} snapshot bytes", self.written, self.expected),
            ));
        }
        let digest = self.hasher.clone().finalize();
        let mut file = self.file.take().ok_or_else(|| refused(&self.out, "already finished"))?;
        file.write_all(&digest)?;
        let file = file.into_inner().map_err(|e| EngineError::Io(e.into_error()))?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&self.partial, &self.out)?;
        if let Some(dir) = self.out.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(self.out.clone())
    }
}

impl Drop for BackupWriter {
    fn drop(&mut self) {
        // Not finished: what was written is not a backup.
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.partial);
        }
    }
}

/// A reader that hashes what passes through it.
struct Hashing<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Reads and checks the whole backup at `path` without acting on it.
pub fn verify(path: &Path) -> Result<BackupInfo, EngineError> {
    read(path, |_, _| Ok(()))
}

/// Reads the backup at `path`, handing every state record to `visit` in key order, and checks
/// it (see the module doc). `visit` sees records before the checksum is known: a restore calls
/// [`verify`] first.
pub fn read<F>(path: &Path, visit: F) -> Result<BackupInfo, EngineError>
where
    F: FnMut(Vec<u8>, Vec<u8>) -> Result<(), EngineError>,
{
    read_inner(path, visit).map_err(|e| reading(path, e))
}

fn read_inner<F>(path: &Path, visit: F) -> Result<BackupInfo, EngineError>
where
    F: FnMut(Vec<u8>, Vec<u8>) -> Result<(), EngineError>,
{
    let file = File::open(path).map_err(|e| refused(path, e))?;
    let bytes = file.metadata()?.len();
    let mut r = Hashing { inner: BufReader::with_capacity(1 << 20, file), hasher: Sha256::new() };
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(refused(path, "is not a Varsel backup (no VARSELBK at its start)"));
    }
    let format = read_u32(&mut r)?;
    if format > BACKUP_FORMAT {
        return Err(refused(
            path,
            format!(
                "has format version {format}; this build reads up to {BACKUP_FORMAT}: use the varsel \
                 version that wrote it, or a newer one"
            ),
        ));
    }
    if format == 0 {
        return Err(refused(path, "has format version 0, which no varsel writes: damaged"));
    }
    let header_len = read_u32(&mut r)?;
    if header_len > HEADER_MAX_BYTES {
        return Err(refused(path, format!("claims a header of {header_len} bytes: damaged")));
    }
    let mut json = vec![0u8; header_len as usize];
    r.read_exact(&mut json)?;
    let header: BackupHeader =
        serde_json::from_slice(&json).map_err(|e| refused(path, format!("header is not readable: {e}")))?;
    let mut len = [0u8; 8];
    r.read_exact(&mut len)?;
    let snapshot_bytes = u64::from_be_bytes(len);
    if snapshot_bytes != header.snapshot_bytes {
        return Err(refused(path, "the snapshot length and the header disagree: damaged"));
    }
    let mut records = 0u64;
    let mut visit = visit;
    let mut embedded = (&mut r).take(snapshot_bytes);
    let meta = snapshot::read_from(&mut embedded, "the backup's state", |k, v| {
        records += 1;
        visit(k, v)
    })?;
    if embedded.limit() != 0 {
        return Err(refused(path, format!("{} bytes follow its state's trailer: damaged", embedded.limit())));
    }
    let computed = r.hasher.clone().finalize();
    let mut stored = [0u8; 32];
    r.inner.read_exact(&mut stored)?;
    if stored[..] != computed[..] {
        return Err(refused(
            path,
            format!("checksum {} but the content hashes to {}: damaged", hex(&stored), hex(&computed)),
        ));
    }
    let mut extra = [0u8; 1];
    if r.inner.read(&mut extra)? != 0 {
        return Err(refused(path, "bytes follow its checksum: damaged"));
    }
    let at = meta.last_log_id.map(|l| (l.index, l.leader_id.term));
    if at != Some((header.log_index, header.log_term)) {
        return Err(refused(
            path,
            format!(
                "the header says index {} term {}, its state {at:?}: damaged",
                header.log_index, header.log_term
            ),
        ));
    }
    Ok(BackupInfo { header, meta, records, bytes, sha256: hex(&stored) })
}

fn read_u32<R: Read>(r: &mut R) -> Result<u32, EngineError> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::LogId;

    fn header(snapshot_bytes: u64) -> BackupHeader {
        BackupHeader {
            cluster_id: "c-test".into(),
            log_index: 7,
            log_term: 2,
            snapshot_id: "s".into(),
            created_at_ms: 1_700_000_000_000,
            node_id: 1,
            site: "oslo".into(),
            varsel_version: "test".into(),
            snapshot_bytes,
        }
    }

    /// A backup of 100 records, as the CLI writes one from a node's stream.
    fn write_backup(dir: &Path) -> Result<(PathBuf, Vec<u8>), EngineError> {
        let snap = dir.join("s.snap");
        let meta = SnapshotMeta {
            last_log_id: Some(LogId::new(openraft::CommittedLeaderId::new(2, 1), 7)),
            last_membership: Default::default(),
            snapshot_id: "s".into(),
        };
        let records = (0u32..100).map(|i| Ok((i.to_be_bytes().to_vec(), vec![i as u8; 20])));
        snapshot::write_file(&snap, &meta, records)?;
        let bytes = std::fs::read(&snap)?;
        let out = dir.join("b.varselbk");
        let mut w = BackupWriter::create(&out, &header(bytes.len() as u64))?;
        for chunk in bytes.chunks(333) {
            w.write(chunk)?;
        }
        w.finish()?;
        Ok((out, std::fs::read(dir.join("b.varselbk"))?))
    }

    /// Goal: a backup reads back with its header and every record; a truncated, corrupted or
    /// newer-format file, or one cut short while written, is refused with the reason. Method:
    /// write one, then damage copies of it.
    #[test]
    fn round_trip_and_every_damage_refused() -> Result<(), EngineError> {
        let dir = tempfile::tempdir()?;
        let (path, bytes) = write_backup(dir.path())?;
        let mut seen = 0;
        let info = read(&path, |_, v| {
            assert_eq!(v.len(), 20);
            seen += 1;
            Ok(())
        })?;
        assert_eq!((info.records, seen, info.header.log_index), (100, 100, 7));
        assert!(!dir.path().join("b.varselbk.partial").exists());

        let bad = dir.path().join("bad");
        let check = |b: &[u8], expect: &str| -> Result<(), EngineError> {
            std::fs::write(&bad, b)?;
            let e = verify(&bad).expect_err(expect).to_string();
            assert!(e.contains(expect), "expected {expect:?} in {e}");
            Ok(())
        };
        check(&bytes[..bytes.len() - 10], "truncated")?;
        check(&bytes[..bytes.len() / 2], "truncated")?;
        let mut flipped = bytes.clone();
        let last = flipped.len() - 40;
        flipped[last] ^= 1;
        check(&flipped, "damaged")?;
        let mut newer = bytes.clone();
        newer[8..12].copy_from_slice(&2u32.to_be_bytes());
        check(&newer, "format version 2; this build reads up to 1")?;
        check(b"not a backup at all", "not a Varsel backup")?;

        // A stream that ends early leaves no file behind under the backup's name.
        let cut = dir.path().join("cut.varselbk");
        let mut w = BackupWriter::create(&cut, &header(1_000))?;
        w.write(&[0u8; 10])?;
        assert!(w.finish().is_err());
        assert!(!cut.exists() && !dir.path().join("cut.varselbk.partial").exists());
        assert!(BackupWriter::create(&path, &header(1)).is_err(), "an existing backup is overwritten");
        Ok(())
    }
}
