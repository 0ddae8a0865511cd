//! Bounds-checked big-endian reading and writing of SMPP primitive fields.
//!
//! Every read names the field it is reading, so a decode error says where a
//! malformed PDU went wrong; nothing here can index past the end of a slice.

use crate::error::{DecodeError, EncodeError};

/// A cursor over one PDU body.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn bytes(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(len).filter(|end| *end <= self.buf.len());
        let end = end.ok_or(DecodeError::FieldTruncated { field })?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.bytes(1, field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let b = self.bytes(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads a C-Octet string of at most `max` octets including its NUL terminator.
    ///
    /// Bytes that are not UTF-8 are replaced (U+FFFD) rather than refused: an
    /// SMSC that puts Latin-1 in a message id must not kill the session, and the
    /// replacement is deterministic, so ids still compare equal.
    pub(crate) fn c_string(&mut self, max: usize, field: &'static str) -> Result<String, DecodeError> {
        let rest = &self.buf[self.pos.min(self.buf.len())..];
        let window = &rest[..rest.len().min(max)];
        match window.iter().position(|b| *b == 0) {
            Some(nul) => {
                let text = String::from_utf8_lossy(&window[..nul]).into_owned();
                self.pos += nul + 1;
                Ok(text)
            }
            None if rest.len() < max => Err(DecodeError::MissingNul { field }),
            None => Err(DecodeError::CStringTooLong { field, max }),
        }
    }
}

/// An append-only PDU writer.
#[derive(Debug, Default)]
pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Writer { buf: Vec::with_capacity(capacity) }
    }

    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }

    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(crate) fn bytes(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// Writes a C-Octet string; `max` includes the NUL terminator.
    pub(crate) fn c_string(&mut self, s: &str, max: usize, field: &'static str) -> Result<(), EncodeError> {
        if s.as_bytes().contains(&0) {
            return Err(EncodeError::InteriorNul { field });
        }
        if s.len() + 1 > max {
            return Err(EncodeError::FieldTooLong { field, len: s.len(), max: max - 1 });
        }
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
        Ok(())
    }

    pub(crate) fn len(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn patch_u32(&mut self, at: usize, v: u32) {
        if let Some(slot) = self.buf.get_mut(at..at + 4) {
            slot.copy_from_slice(&v.to_be_bytes());
        }
    }

    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: C-strings are bounded and terminated. Method: read a good one, one
    /// with no NUL before the end of input, and one longer than its maximum.
    #[test]
    fn c_string_bounds() {
        let mut r = Reader::new(b"abc\0rest");
        assert_eq!(r.c_string(4, "f").ok().as_deref(), Some("abc"));
        assert_eq!(r.remaining(), 4);
        assert!(matches!(Reader::new(b"abc").c_string(16, "f"), Err(DecodeError::MissingNul { .. })));
        assert!(matches!(Reader::new(b"abcde\0").c_string(4, "f"), Err(DecodeError::CStringTooLong { .. })));
        assert_eq!(Reader::new(b"\0").c_string(1, "f").ok().as_deref(), Some(""));
    }
}
