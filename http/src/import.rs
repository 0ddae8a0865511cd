//! A CSV body streamed into the gRPC import (`ContactService.ImportContacts`) as it arrives.
//!
//! The import takes a stream of `ImportChunk` messages; here each piece of the HTTP body
//! becomes one, framed as gRPC frames them, and the node's import code decodes them as it
//! would a gRPC client's. So the file is never held whole, and the import is the same code.

use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use prost::Message;
use varsel_proto::api::ImportChunk;

/// Largest piece of the body put into one chunk: bodies arrive in frames of a few KiB to a few
/// tens of KiB; the bound keeps one chunk well below the gRPC message limit.
pub const IMPORT_CHUNK_BYTES_MAX: usize = 1024 * 1024;

/// Largest message the decoder accepts: a chunk and its fields.
pub const IMPORT_MESSAGE_BYTES_MAX: usize = IMPORT_CHUNK_BYTES_MAX + 64 * 1024;

/// The stream of chunks of `body`, after `first` (which carries the file name and options).
pub fn chunks(first: ImportChunk, body: axum::body::Body) -> tonic::Streaming<ImportChunk> {
    let head = futures::stream::once(async move { Ok::<Bytes, axum::Error>(frame(&first)) });
    let rest = body.into_data_stream().flat_map(|piece| {
        let frames: Vec<Result<Bytes, axum::Error>> = match piece {
            Ok(bytes) => bytes
                .chunks(IMPORT_CHUNK_BYTES_MAX)
                .map(|c| Ok(frame(&ImportChunk { data: c.to_vec(), ..Default::default() })))
                .collect(),
            Err(e) => vec![Err(e)],
        };
        futures::stream::iter(frames)
    });
    let framed = axum::body::Body::from_stream(head.chain(rest));
    let decoder = tonic_prost::ProstDecoder::<ImportChunk>::default();
    tonic::Streaming::new_request(decoder, framed, None, Some(IMPORT_MESSAGE_BYTES_MAX))
}

/// One gRPC frame: not compressed, the length, the message.
fn frame(chunk: &ImportChunk) -> Bytes {
    let len = chunk.encoded_len();
    let mut buf = BytesMut::with_capacity(5 + len);
    buf.put_u8(0);
    // A chunk is at most IMPORT_MESSAGE_BYTES_MAX, far below u32::MAX.
    buf.put_u32(u32::try_from(len).unwrap_or(u32::MAX));
    // Encoding into a buffer with the room reserved cannot fail.
    let _ = chunk.encode(&mut buf);
    buf.freeze()
}
