//! `varsel contact import FILE.csv`: streams a CSV file to `ImportContacts` in chunks and
//! prints the server's report.
//!
//! The file is read from disk chunk by chunk ([`IMPORT_CHUNK_BYTES`]), so a national list
//! needs no more memory here than one chunk. Chunks split the file at arbitrary bytes (inside
//! a row or a UTF-8 character); the server treats the stream as one file. The first chunk
//! carries the file's name for the report.
//!
//! If the node dies mid-upload, [`Cluster::call`] starts again on another node from the first
//! byte: contacts are upserted by `external_id`, so a second pass creates no duplicates (rows
//! the failed pass already stored are then counted as updated). If the file cannot be read
//! mid-way, the upload is aborted (the HTTP/2 stream is reset) instead of ended, so the server
//! never takes a truncated file for a whole one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::Stream;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::oneshot;
use varsel_proto::api::contact_service_client::ContactServiceClient;
use varsel_proto::api::{ImportChunk, ImportReport};

use crate::error::CliError;
use crate::output::{Table, print_json};
use crate::session::{Authed, Session};
use varsel_client::Cluster;

/// Bytes per chunk sent: large enough that framing costs nothing, small enough that the
/// server holds little per stream.
pub const IMPORT_CHUNK_BYTES: usize = 256 * 1024;

/// Time one upload attempt, and the whole import over all retries, may take: a million rows
/// are split into many Raft entries that each commit across sites.
pub const IMPORT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Rejected rows listed in the table output; `--json` gives every one.
pub const REJECTED_SHOWN_MAX: usize = 1000;

/// A local read failure seen by an upload attempt, handed back past the gRPC layer.
type ReadFailure = Arc<Mutex<Option<io::Error>>>;

/// Runs `contact import FILE`: uploads, then prints the report. Exits successfully when the
/// import ran, even if rows were rejected, but says so on stderr.
pub async fn run(s: &Session, path: &Path) -> Result<(), CliError> {
    let (filename, report, retried) = import_file(s, path).await?;
    if s.json {
        print_json(&report_json(&filename, &report, retried));
    } else {
        print_report(&filename, &report, retried);
    }
    if !report.rejected.is_empty() {
        eprintln!(
            "warning: {} of {} rows were rejected and NOT imported (the others were); fix them and \
             import again: rows are matched by external_id, so nothing is duplicated",
            report.rejected.len(),
            report.rows
        );
    }
    Ok(())
}

/// Uploads the file through whichever node answers; returns the name sent, the server's
/// report, and whether a failed attempt came before the one that succeeded.
pub async fn import_file(s: &Session, path: &Path) -> Result<(String, ImportReport, bool), CliError> {
    import_file_with(s, path, ImportChunk::default()).await
}

/// [`import_file`] with the options of the first chunk (a list sync's, see
/// [`crate::list_sync`]); its `data` and `filename` are filled in here.
pub async fn import_file_with(
    s: &Session,
    path: &Path,
    options: ImportChunk,
) -> Result<(String, ImportReport, bool), CliError> {
    let meta = tokio::fs::metadata(path).await.map_err(|e| CliError::file(path, e))?;
    if !meta.is_file() {
        return Err(CliError::file(path, "not a regular file"));
    }
    let filename = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let cluster = Cluster::parse(&s.endpoints, &s.trust)?
        .with_deadline(IMPORT_TIMEOUT)
        .with_attempt_timeout(IMPORT_TIMEOUT);
    let failure: ReadFailure = Arc::default();
    let result = cluster
        .call(|ch| {
            let client = ContactServiceClient::with_interceptor(ch, s.bearer.clone());
            let first = ImportChunk { filename: filename.clone(), ..options.clone() };
            upload(client, path.to_path_buf(), first, failure.clone())
        })
        .await;
    if let Some(e) = failure.lock().ok().and_then(|mut f| f.take()) {
        return Err(CliError::file(
            path,
            format!("{e}; the upload was aborted, nothing was imported from it"),
        ));
    }
    let answered = result?;
    Ok((filename, answered.value.into_inner(), answered.failed_attempts > 0))
}

/// One upload attempt: opens the file afresh and streams it.
async fn upload(
    mut client: ContactServiceClient<Authed>,
    path: PathBuf,
    first: ImportChunk,
    failure: ReadFailure,
) -> Result<tonic::Response<ImportReport>, tonic::Status> {
    let local = |e: io::Error| {
        if let Ok(mut f) = failure.lock() {
            *f = Some(e);
        }
        // Not a retryable code: a file that cannot be read will not be readable on another node.
        tonic::Status::internal("local read error")
    };
    let file = tokio::fs::File::open(&path).await.map_err(local)?;
    let (abort_tx, abort_rx) = oneshot::channel();
    tokio::select! {
        r = client.import_contacts(chunks(file, first, IMPORT_CHUNK_BYTES, abort_tx)) => r,
        // Dropping the call future resets the stream, so the server sees an aborted upload.
        Ok(e) = abort_rx => Err(local(e)),
    }
}

/// The chunks of `reader`, `chunk_bytes` each (the last one shorter); the first is `first`
/// (the file's name and the import's options) with its data, and is sent even for an empty
/// file, so the server can say the file is empty. On a read error the error goes to `abort`
/// and the stream never ends.
pub fn chunks<R>(
    reader: R,
    first: ImportChunk,
    chunk_bytes: usize,
    abort: oneshot::Sender<io::Error>,
) -> impl Stream<Item = ImportChunk> + Send + 'static
where
    R: AsyncRead + Unpin + Send + 'static,
{
    struct State<R> {
        reader: R,
        first: Option<ImportChunk>,
        done: bool,
        abort: Option<oneshot::Sender<io::Error>>,
    }
    let state = State { reader, first: Some(first), done: false, abort: Some(abort) };
    futures::stream::unfold(state, move |mut st| async move {
        if st.done {
            return None;
        }
        match read_chunk(&mut st.reader, chunk_bytes).await {
            Ok(data) if data.is_empty() && st.first.is_none() => None,
            Ok(data) => {
                st.done = data.len() < chunk_bytes;
                let chunk = ImportChunk { data, ..st.first.take().unwrap_or_default() };
                Some((chunk, st))
            }
            Err(e) => {
                if let Some(tx) = st.abort.take() {
                    let _ = tx.send(e);
                }
                futures::future::pending().await
            }
        }
    })
}

/// Reads until `size` bytes or the end of the input, whatever sizes the reader hands out.
async fn read_chunk<R: AsyncRead + Unpin>(reader: &mut R, size: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; size];
    let mut filled = 0;
    while filled < size {
        let n = reader.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    buf.truncate(filled);
    Ok(buf)
}

fn report_json(filename: &str, r: &ImportReport, retried: bool) -> serde_json::Value {
    let rejected: Vec<_> = r
        .rejected
        .iter()
        .map(|x| json!({"line": x.line, "external_id": x.external_id, "errors": x.errors}))
        .collect();
    json!({
        "file": filename, "rows": r.rows, "created": r.created, "updated": r.updated,
        "blank_rows": r.blank_rows, "groups_created": r.groups_created, "raft_entries": r.raft_entries,
        "rejected_count": r.rejected.len(), "rejected": rejected, "retried": retried,
    })
}

fn print_report(filename: &str, r: &ImportReport, retried: bool) {
    println!(
        "imported {filename}: {} rows: {} created, {} updated, {} rejected, {} blank; \
         {} groups created; {} raft entries",
        r.rows,
        r.created,
        r.updated,
        r.rejected.len(),
        r.blank_rows,
        r.groups_created,
        r.raft_entries
    );
    if retried {
        println!(
            "(the upload was retried on another node: contacts stored by the failed attempt count as updated)"
        );
    }
    if r.rejected.is_empty() {
        return;
    }
    println!("\nrejected rows (not imported):");
    let rows: Vec<Vec<String>> = r
        .rejected
        .iter()
        .take(REJECTED_SHOWN_MAX)
        .map(|x| vec![x.line.to_string(), x.external_id.clone(), x.errors.join("; ")])
        .collect();
    Table::new(&["line", "external id", "errors"]).print(&rows);
    if r.rejected.len() > REJECTED_SHOWN_MAX {
        println!("… and {} more (--json lists every one)", r.rejected.len() - REJECTED_SHOWN_MAX);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures::StreamExt;

    use super::*;

    /// A reader that hands out at most `step` bytes per read, then optionally fails.
    struct Trickle {
        data: Vec<u8>,
        pos: usize,
        step: usize,
        fail_at_end: bool,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let left = self.data.len() - self.pos;
            if left == 0 && self.fail_at_end {
                return Poll::Ready(Err(io::Error::other("disk gone")));
            }
            let n = left.min(self.step).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.data[start..start + n]);
            self.pos += n;
            Poll::Ready(Ok(()))
        }
    }

    fn named(name: &str) -> ImportChunk {
        ImportChunk { filename: name.into(), sync_group: "g".into(), ..Default::default() }
    }

    async fn chunk_sizes(len: usize, size: usize, step: usize) -> Vec<(usize, String)> {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let reader = Trickle { data: data.clone(), pos: 0, step, fail_at_end: false };
        let (tx, _rx) = oneshot::channel();
        let got: Vec<ImportChunk> = chunks(reader, named("f.csv"), size, tx).collect().await;
        let joined: Vec<u8> = got.iter().flat_map(|c| c.data.clone()).collect();
        assert_eq!(joined, data, "bytes survive chunking unchanged");
        // The options travel with the name, on the first chunk only.
        assert!(got.iter().enumerate().all(|(i, c)| (c.sync_group == "g") == (i == 0)));
        got.into_iter().map(|c| (c.data.len(), c.filename)).collect()
    }

    /// Goal: chunk boundaries: full chunks, a short last one, no empty trailing chunk, one
    /// named chunk for an empty file, the name on the first chunk only.
    /// Method: files of 0, size, size+1 and 2×size bytes through a reader of short reads.
    #[tokio::test]
    async fn chunk_boundaries() {
        let named = |n: usize| (n, "f.csv".to_string());
        let plain = |n: usize| (n, String::new());
        assert_eq!(chunk_sizes(0, 10, 3).await, [named(0)]);
        assert_eq!(chunk_sizes(10, 10, 3).await, [named(10)]);
        assert_eq!(chunk_sizes(11, 10, 3).await, [named(10), plain(1)]);
        assert_eq!(chunk_sizes(20, 10, 7).await, [named(10), plain(10)]);
        assert_eq!(chunk_sizes(25, 10, 100).await, [named(10), plain(10), plain(5)]);
    }

    /// Goal: a read error aborts instead of ending the upload (a truncated file must not look
    /// whole). Method: a reader that fails after 15 bytes; the stream yields one chunk, the
    /// error reaches the abort channel, and the stream then stays pending.
    #[tokio::test]
    async fn read_error_aborts() {
        let reader = Trickle { data: vec![b'x'; 15], pos: 0, step: 4, fail_at_end: true };
        let (tx, rx) = oneshot::channel();
        let mut stream = Box::pin(chunks(reader, named("f.csv"), 10, tx));
        assert_eq!(stream.next().await.unwrap().data.len(), 10);
        let next = tokio::time::timeout(Duration::from_millis(50), stream.next()).await;
        assert!(next.is_err(), "the stream must not end after a read error");
        assert_eq!(rx.await.unwrap().to_string(), "disk gone");
    }
}
