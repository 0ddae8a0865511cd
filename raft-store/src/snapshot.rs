//! The snapshot file format: a header, the state machine's records in key order, a trailer.
//!
//! Snapshots are written and read as streams, record by record, so a state machine with
//! millions of deliveries is never held in one buffer. The same file is what openraft sends to
//! a lagging follower in chunks.
//!
//! ```text
//! "VARSELSN" | version u32 | meta_len u32 | meta (postcard SnapshotMeta)
//! { 0x01 | key_len u32 | key | value_len u32 | value }*
//! 0x00 | record_count u64 | crc32 u32 (of every byte before the crc)
//! ```
//! All integers are big-endian. A file whose trailer is missing or whose checksum differs is
//! rejected before anything is installed, and so is a file of a newer `version` than this build
//! reads ([`EngineError::FormatTooNew`]). The metadata is encoded by [`encode`], so it also
//! carries the sending build's value format version: a snapshot from a newer build is refused
//! by its header too, before any of its records (copied as they are stored) is installed.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

use crate::error::EngineError;
use crate::types::{SnapshotMeta, decode, encode};

const MAGIC: &[u8; 8] = b"VARSELSN";
/// The version of the file layout this build writes and the newest it reads: the
/// [`STORE_VERSION`](crate::format::STORE_VERSION) of the records it holds. 2: memberships in
/// runs; 3: outcome batches packed as well. Files of versions 1 and 2 are still read: a
/// version 1 file's memberships are rewritten into runs once installed, and plain outcome
/// batches are read where they lie. A build from before packing refuses a version 3 file
/// rather than install a state whose packed outcomes it would not see.
pub const VERSION: u32 = 3;
const TAG_RECORD: u8 = 1;
const TAG_END: u8 = 0;

/// Largest key or value accepted when reading a snapshot; larger means a damaged file.
pub const RECORD_PART_MAX_BYTES: u32 = 64 * 1024 * 1024;

/// Largest encoded metadata accepted when reading a snapshot header.
pub const META_MAX_BYTES: u32 = 16 * 1024 * 1024;

/// A writer that keeps a CRC of everything written through it.
struct CrcWriter<W: Write> {
    inner: W,
    crc: crc32fast::Hasher,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// A reader that keeps a CRC of everything read through it.
struct CrcReader<R: Read> {
    inner: R,
    crc: crc32fast::Hasher,
}

impl<R: Read> Read for CrcReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

/// A snapshot being written is synced every this many bytes (see [`write_file`]).
const SYNC_EVERY_BYTES: usize = 32 << 20;

/// Writes a snapshot file at `path` from `records` and syncs it to disk. Returns the number of
/// records written.
pub fn write_file<I>(path: &Path, meta: &SnapshotMeta, records: I) -> Result<u64, EngineError>
where
    I: Iterator<Item = Result<(Vec<u8>, Vec<u8>), EngineError>>,
{
    let file = File::create(path)?;
    let mut w = CrcWriter { inner: BufWriter::with_capacity(1 << 20, file), crc: crc32fast::Hasher::new() };
    w.write_all(MAGIC)?;
    w.write_all(&VERSION.to_be_bytes())?;
    let meta_bytes = encode("snapshot meta", meta)?;
    write_part(&mut w, &meta_bytes)?;
    let mut count = 0u64;
    let mut unsynced = 0usize;
    for record in records {
        let (k, v) = record?;
        w.write_all(&[TAG_RECORD])?;
        write_part(&mut w, &k)?;
        write_part(&mut w, &v)?;
        count += 1;
        unsynced += k.len() + v.len() + 9;
        if unsynced >= SYNC_EVERY_BYTES {
            // Written back a little at a time: one sync of a whole 1.4 GB file at the end
            // queues the disk behind it, and the Raft log's own syncs (every acknowledged
            // write) with it.
            w.inner.flush()?;
            w.inner.get_ref().sync_data()?;
            unsynced = 0;
        }
    }
    w.write_all(&[TAG_END])?;
    w.write_all(&count.to_be_bytes())?;
    let crc = w.crc.clone().finalize();
    let mut inner = w.inner;
    inner.write_all(&crc.to_be_bytes())?;
    let file = inner.into_inner().map_err(|e| EngineError::Io(e.into_error()))?;
    file.sync_all()?;
    Ok(count)
}

fn write_part<W: Write>(w: &mut W, bytes: &[u8]) -> Result<(), EngineError> {
    let len = u32::try_from(bytes.len())
        .ok()
        .filter(|l| *l <= RECORD_PART_MAX_BYTES)
        .ok_or_else(|| EngineError::Damaged(format!("snapshot record part of {} bytes", bytes.len())))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(bytes)?;
    Ok(())
}

fn read_u32<R: Read>(r: &mut R) -> Result<u32, EngineError> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_be_bytes(b))
}

fn read_part<R: Read>(r: &mut R, max: u32, what: &str) -> Result<Vec<u8>, EngineError> {
    let len = read_u32(r)?;
    if len > max {
        return Err(EngineError::Damaged(format!("snapshot {what} claims {len} bytes (max {max})")));
    }
    let mut buf = vec![0u8; len as usize];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

/// Reads a snapshot file, calling `visit` for each record in order, and checks the trailer.
/// Returns the metadata. `visit` sees records before the checksum is known, so callers that
/// must not act on a damaged file call [`verify_file`] first.
pub fn read_file<F>(path: &Path, visit: F) -> Result<SnapshotMeta, EngineError>
where
    F: FnMut(Vec<u8>, Vec<u8>) -> Result<(), EngineError>,
{
    let file = File::open(path)?;
    read_from(BufReader::with_capacity(1 << 20, file), &path.display().to_string(), visit)
}

/// [`read_file`] from a reader (`name` says what it is in errors), which is read up to the
/// snapshot's last byte and no further: a backup embeds a snapshot in a larger file.
pub fn read_from<R: Read, F>(reader: R, name: &str, mut visit: F) -> Result<SnapshotMeta, EngineError>
where
    F: FnMut(Vec<u8>, Vec<u8>) -> Result<(), EngineError>,
{
    let mut r = CrcReader { inner: reader, crc: crc32fast::Hasher::new() };
    let meta = read_header(&mut r, name)?;
    let mut count = 0u64;
    loop {
        let mut tag = [0u8; 1];
        r.read_exact(&mut tag)?;
        match tag[0] {
            TAG_RECORD => {
                let k = read_part(&mut r, RECORD_PART_MAX_BYTES, "key")?;
                let v = read_part(&mut r, RECORD_PART_MAX_BYTES, "value")?;
                visit(k, v)?;
                count += 1;
            }
            TAG_END => break,
            other => return Err(EngineError::Damaged(format!("snapshot record tag {other}"))),
        }
    }
    let mut n = [0u8; 8];
    r.read_exact(&mut n)?;
    if u64::from_be_bytes(n) != count {
        return Err(EngineError::Damaged(format!(
            "snapshot trailer counts {}, read {count}",
            u64::from_be_bytes(n)
        )));
    }
    let computed = r.crc.clone().finalize();
    let stored = read_u32(&mut r.inner)?;
    if computed != stored {
        return Err(EngineError::Damaged(format!("snapshot checksum {stored:08x}, computed {computed:08x}")));
    }
    Ok(meta)
}

/// Reads the whole file and checks it without acting on any record.
pub fn verify_file(path: &Path) -> Result<SnapshotMeta, EngineError> {
    read_file(path, |_, _| Ok(()))
}

/// Reads only the header's metadata (no checksum check).
pub fn read_meta(path: &Path) -> Result<SnapshotMeta, EngineError> {
    read_header(&mut BufReader::new(File::open(path)?), &path.display().to_string())
}

/// Reads the magic, the version and the metadata, refusing a file of another version before
/// anything else is read from it.
fn read_header<R: Read>(r: &mut R, name: &str) -> Result<SnapshotMeta, EngineError> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic != MAGIC {
        return Err(EngineError::Damaged(format!("{name} is not a Varsel snapshot")));
    }
    check_file_version(read_u32(r)?)?;
    decode("snapshot meta", &read_part(r, META_MAX_BYTES, "meta")?)
}

/// Checks the header's file version: `Ok` for the version this build reads.
fn check_file_version(found: u32) -> Result<(), EngineError> {
    match found {
        1..=VERSION => Ok(()),
        newer if newer > VERSION => {
            Err(EngineError::FormatTooNew { what: "snapshot file", found: newer, newest: VERSION })
        }
        other => {
            Err(EngineError::Damaged(format!("snapshot file format version {other}, which no build writes")))
        }
    }
}

/// Checks the start of a snapshot file as it arrives (the first chunk a leader sends), as far
/// as `prefix` reaches: the magic, the file version and the metadata's format version. A
/// snapshot of a newer format is so refused when its transfer starts, answered as an error to
/// the sender, instead of at installation, where openraft takes any storage error as fatal.
pub fn check_prefix(prefix: &[u8]) -> Result<(), EngineError> {
    if prefix.get(..MAGIC.len()).is_some_and(|m| m != MAGIC) {
        return Err(EngineError::Damaged("the snapshot received is not a Varsel snapshot".into()));
    }
    if let Some(v) = prefix.get(8..12).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
        check_file_version(u32::from_be_bytes(v))?;
    }
    // After the magic, the version and the metadata's length: the metadata's first byte.
    match prefix.get(16) {
        Some(&v) => crate::format::check_version("snapshot meta", v),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> SnapshotMeta {
        SnapshotMeta { last_log_id: None, last_membership: Default::default(), snapshot_id: "t".into() }
    }

    /// Goal: what is written is read back in order with its metadata; a flipped byte anywhere
    /// is detected. Method: write 1,000 records, read them, then corrupt one byte and re-read.
    #[test]
    fn round_trip_and_damage_detected() -> Result<(), EngineError> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("s.snap");
        let records: Vec<_> = (0u32..1000).map(|i| (i.to_be_bytes().to_vec(), vec![i as u8; 10])).collect();
        let n = write_file(&path, &meta(), records.clone().into_iter().map(Ok))?;
        assert_eq!(n, 1000);
        let mut got = Vec::new();
        let m = read_file(&path, |k, v| {
            got.push((k, v));
            Ok(())
        })?;
        assert_eq!(m.snapshot_id, "t");
        assert_eq!(got, records);

        let mut bytes = std::fs::read(&path)?;
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&path, &bytes)?;
        assert!(verify_file(&path).is_err(), "a damaged snapshot must be rejected");

        bytes.truncate(mid);
        std::fs::write(&path, &bytes)?;
        assert!(verify_file(&path).is_err(), "a truncated snapshot must be rejected");
        Ok(())
    }
}
