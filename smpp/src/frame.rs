//! Splitting a TCP byte stream into PDUs.
//!
//! TCP has no message boundaries: one read may hold half a PDU or three of them
//! (an SMSC with queued traffic sends a `deliver_sm` right behind its bind
//! response). [`FrameReader`] keeps the leftover bytes between calls and hands
//! out one PDU at a time.
//!
//! Errors are split in two: a header whose length is out of bounds leaves the
//! stream unsynchronised and is fatal ([`FrameError`]); a body that does not
//! decode is reported per frame ([`Frame::pdu`] is `Err`), with its header, so
//! the session can answer it and carry on.

use crate::error::DecodeError;
use crate::pdu::{HEADER_LEN, Header, Pdu};
use tokio::io::{AsyncRead, AsyncReadExt};

/// How much buffer space to offer each read. A few kilobytes hold dozens of
/// typical PDUs, so one system call serves a burst of responses.
pub const READ_CHUNK_LEN: usize = 16 * 1024;

/// One PDU read from the stream.
#[derive(Debug)]
pub struct Frame {
    /// The header (always valid: its length is within bounds).
    pub header: Header,
    /// The decoded PDU, or why its body did not decode.
    pub pdu: Result<Pdu, DecodeError>,
}

/// The stream can no longer be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// Reading the socket failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// A header announced an impossible length; the stream is unsynchronised.
    #[error("corrupt stream: {0}")]
    Corrupt(DecodeError),
    /// The peer closed the connection in the middle of a PDU.
    #[error("connection closed mid-PDU ({0} bytes buffered)")]
    TruncatedEof(usize),
}

/// Reads whole PDUs from an [`AsyncRead`].
#[derive(Debug)]
pub struct FrameReader<R> {
    inner: R,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a reader.
    pub fn new(inner: R) -> Self {
        FrameReader { inner, buf: Vec::with_capacity(READ_CHUNK_LEN) }
    }

    /// The next PDU, or `Ok(None)` when the peer closed the connection cleanly.
    ///
    /// Cancel-safe: the only await is a `read_buf`, which loses no data when
    /// dropped, and partial frames stay in the buffer for the next call.
    pub async fn next(&mut self) -> Result<Option<Frame>, FrameError> {
        loop {
            if let Some(frame) = self.take_frame()? {
                return Ok(Some(frame));
            }
            self.buf.reserve(READ_CHUNK_LEN);
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return match self.buf.len() {
                    0 => Ok(None),
                    n => Err(FrameError::TruncatedEof(n)),
                };
            }
        }
    }

    /// Takes one complete frame from the buffer, if there is one.
    fn take_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let header = Header::decode(&self.buf).map_err(FrameError::Corrupt)?;
        let len = header.command_length as usize;
        if self.buf.len() < len {
            return Ok(None);
        }
        let pdu = Pdu::decode_body(header, &self.buf[HEADER_LEN..len]);
        self.buf.drain(..len);
        Ok(Some(Frame { header, pdu }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pdu::Body;

    /// Goal: frames are found however the bytes are cut. Method: feed two PDUs
    /// one byte per read through a duplex pipe, then a corrupt header.
    #[tokio::test]
    async fn reassembles_split_and_coalesced_pdus() {
        let mut bytes = Pdu::new(7, Body::EnquireLink).encode().unwrap_or_default();
        bytes.extend(Pdu::new(8, Body::Unbind).encode().unwrap_or_default());
        let (mut tx, rx) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            for b in bytes {
                tx.write_all(&[b]).await.ok();
            }
            tx.write_all(&[0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).await.ok();
        });
        let mut reader = FrameReader::new(rx);
        let first = reader.next().await.ok().flatten().map(|f| f.header.sequence_number);
        let second = reader.next().await.ok().flatten().map(|f| f.header.sequence_number);
        assert_eq!((first, second), (Some(7), Some(8)));
        assert!(matches!(reader.next().await, Err(FrameError::Corrupt(DecodeError::InvalidLength(3)))));
        writer.await.ok();
    }
}
