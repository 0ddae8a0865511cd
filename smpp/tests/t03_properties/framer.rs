//! The stream framer's harness: a chunked reader, and the frames expected and read.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use proptest::prelude::*;
use tokio::io::{AsyncRead, ReadBuf};
use varsel_smpp::frame::{FrameError, FrameReader};
use varsel_smpp::pdu::{HEADER_LEN, Header};
use varsel_smpp::{DecodeError, Pdu};

// ---------------------------------------------------------------------------------------------
// The stream framer
// ---------------------------------------------------------------------------------------------

/// An `AsyncRead` that hands out `data` in reads of the given sizes (cycled), never more.
struct Chunked {
    data: Vec<u8>,
    pos: usize,
    sizes: Vec<usize>,
    reads: usize,
}

impl AsyncRead for Chunked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let size = this.sizes.get(this.reads % this.sizes.len().max(1)).copied().unwrap_or(1).max(1);
        this.reads += 1;
        let end = this.data.len().min(this.pos + size).min(this.pos + buf.remaining());
        buf.put_slice(&this.data[this.pos..end]);
        this.pos = end;
        Poll::Ready(Ok(()))
    }
}

/// How a stream ends.
#[derive(Debug, PartialEq)]
pub(crate) enum End {
    Clean,
    Corrupt(DecodeError),
    TruncatedEof(usize),
    Io,
}

pub(crate) type Frames = Vec<(Header, Result<Pdu, DecodeError>)>;

/// What the framer must produce for `stream`, worked out with the decoder alone.
pub(crate) fn expected_frames(mut rest: &[u8]) -> (Frames, End) {
    let mut frames = Vec::new();
    loop {
        if rest.len() < HEADER_LEN {
            return (frames, if rest.is_empty() { End::Clean } else { End::TruncatedEof(rest.len()) });
        }
        let header = match Header::decode(rest) {
            Ok(header) => header,
            Err(e) => return (frames, End::Corrupt(e)),
        };
        let len = header.command_length as usize;
        if rest.len() < len {
            return (frames, End::TruncatedEof(rest.len()));
        }
        frames.push((header, Pdu::decode_body(header, &rest[HEADER_LEN..len])));
        rest = &rest[len..];
    }
}

/// What the framer produces for `stream` cut into reads of `sizes`.
pub(crate) fn framed(stream: Vec<u8>, sizes: Vec<usize>) -> Result<(Frames, End), TestCaseError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| TestCaseError::fail(format!("runtime: {e}")))?;
    let bound = stream.len() / HEADER_LEN + 2;
    let mut reader = FrameReader::new(Chunked { data: stream, pos: 0, sizes, reads: 0 });
    runtime.block_on(async move {
        let mut frames = Vec::new();
        for _ in 0..bound {
            match reader.next().await {
                Ok(Some(frame)) => frames.push((frame.header, frame.pdu)),
                Ok(None) => return Ok((frames, End::Clean)),
                Err(FrameError::Corrupt(e)) => return Ok((frames, End::Corrupt(e))),
                Err(FrameError::TruncatedEof(n)) => return Ok((frames, End::TruncatedEof(n))),
                Err(FrameError::Io(_)) => return Ok((frames, End::Io)),
            }
        }
        Err(TestCaseError::fail("the framer made more frames than the stream can hold"))
    })
}
