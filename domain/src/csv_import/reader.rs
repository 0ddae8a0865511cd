//! Reading CSV records with the line each starts on, and a bound on a record's size.
//!
//! The `csv` crate's own record positions are not the lines an editor shows: a record after
//! blank lines, or after a CRLF line end, is given the line where the parser began looking for
//! it, and a lone `\r` ends a record without counting as a line. So the bytes the parser reads are also kept here until the parser has consumed them,
//! and the lines are counted in them: a record starts on the first byte that is not a line
//! end. Keeping those bytes also bounds a runaway record (a quote never closed), which the
//! parser would otherwise buffer to the end of the file.

use std::collections::VecDeque;
use std::io::{self, Read};

use csv::ByteRecord;

use super::RECORD_BYTES_MAX;
use crate::error::ImportError;

/// Size of the parser's read buffer: how far reading runs ahead of parsing, so the bytes kept
/// are at most one record plus this.
const READ_BUFFER_BYTES: usize = 8 * 1024;

/// Records of a CSV input, each with the line it starts on.
#[derive(Debug)]
pub(super) struct RecordReader<R> {
    csv: csv::Reader<LineTracker<R>>,
    record: ByteRecord,
    /// Bytes the parser had consumed after the previous record.
    consumed: u64,
}

impl<R: Read> RecordReader<R> {
    /// A reader of comma-separated records of any length (a wrong number of fields is the
    /// caller's to report, per row).
    pub(super) fn new(input: R) -> Self {
        let csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(READ_BUFFER_BYTES)
            .from_reader(LineTracker::new(input));
        RecordReader { csv, record: ByteRecord::new(), consumed: 0 }
    }

    /// The next record and the line it starts on, or `None` at the end of the input.
    pub(super) fn next_record(&mut self) -> Result<Option<(u64, &ByteRecord)>, ImportError> {
        match self.csv.read_byte_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Err(self.error(e)),
        }
        let total = self.csv.position().byte();
        let delta = usize::try_from(total.saturating_sub(self.consumed)).unwrap_or(usize::MAX);
        self.consumed = total;
        let line = self.csv.get_mut().take(delta);
        Ok(Some((line, &self.record)))
    }

    /// The import error for a parser error: a runaway record, or the input failing.
    fn error(&self, e: csv::Error) -> ImportError {
        let tracker = self.csv.get_ref();
        if tracker.overflowed {
            return ImportError::RecordTooLarge {
                line: tracker.start_line(tracker.pending.len()),
                max_bytes: RECORD_BYTES_MAX,
            };
        }
        ImportError::Io(io::Error::from(e))
    }
}

/// A position in the input counted in lines. Like the parser (and most editors), it takes
/// `\n`, `\r\n` and a lone `\r` each as one line end.
#[derive(Debug, Clone, Copy)]
struct LineCount {
    /// Line number, from 1.
    line: u64,
    /// Whether the last byte was `\r`, so that a `\n` right after it ends no further line.
    after_cr: bool,
}

impl LineCount {
    fn advance(&mut self, byte: u8) {
        match byte {
            b'\n' if self.after_cr => self.after_cr = false,
            b'\n' => self.line += 1,
            b'\r' => {
                self.line += 1;
                self.after_cr = true;
            }
            _ => self.after_cr = false,
        }
    }
}

/// Passes the input through to the parser, keeping what the parser has not yet consumed.
#[derive(Debug)]
struct LineTracker<R> {
    inner: R,
    /// Bytes read and not yet consumed by the parser: at most one record (with the line ends
    /// before it) and one buffer of read-ahead.
    pending: VecDeque<u8>,
    /// Where the first byte of `pending` is.
    position: LineCount,
    /// Set when a read was refused because `pending` outgrew its bound.
    overflowed: bool,
}

impl<R> LineTracker<R> {
    fn new(inner: R) -> Self {
        LineTracker {
            inner,
            pending: VecDeque::with_capacity(2 * READ_BUFFER_BYTES),
            position: LineCount { line: 1, after_cr: false },
            overflowed: false,
        }
    }

    /// Accounts for the next `consumed` bytes, which the parser took for one record and the
    /// line ends before it; returns the line the record starts on.
    fn take(&mut self, consumed: usize) -> u64 {
        let consumed = consumed.min(self.pending.len());
        let start = self.start_line(consumed);
        for byte in self.pending.drain(..consumed) {
            self.position.advance(byte);
        }
        start
    }

    /// The line of the first byte among the next `len` pending bytes that is not a line end.
    fn start_line(&self, len: usize) -> u64 {
        let mut position = self.position;
        let leading =
            self.pending.range(..len.min(self.pending.len())).take_while(|&&b| b == b'\n' || b == b'\r');
        leading.for_each(|&byte| position.advance(byte));
        position.line
    }
}

impl<R: Read> Read for LineTracker<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // The parser asks for more only when it has consumed its whole buffer, so `pending`
        // is now the unfinished record (and the line ends before it). Refuse to read on once
        // that is too long: the parser would otherwise keep the rest of the file in it.
        if self.pending.len() > RECORD_BYTES_MAX {
            self.overflowed = true;
            return Err(io::Error::other("a CSV record is too large"));
        }
        let n = self.inner.read(buf)?;
        self.pending.extend(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}
