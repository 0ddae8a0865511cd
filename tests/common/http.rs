//! A minimal HTTP/1.1 client for the nodes' metrics and health endpoints: one GET per
//! connection (`Connection: close`), bounded in time. Enough for `/metrics`, `/healthz` and
//! `/readyz`; not a general client.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Time one request may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest response read.
const RESPONSE_MAX_BYTES: u64 = 16 << 20;

/// A response: status code, `Content-Type`, body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// `GET path` on `addr`; `None` when the node does not answer (refused, reset, timed out).
pub async fn get(addr: SocketAddr, path: &str) -> Option<HttpResponse> {
    tokio::time::timeout(HTTP_TIMEOUT, request(addr, path)).await.ok().flatten()
}

async fn request(addr: SocketAddr, path: &str) -> Option<HttpResponse> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n\r\n");
    stream.write_all(head.as_bytes()).await.ok()?;
    let mut raw = Vec::new();
    stream.take(RESPONSE_MAX_BYTES).read_to_end(&mut raw).await.ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let header = |name: &str| {
        lines.clone().find_map(|l| {
            l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string())
        })
    };
    let content_type = header("content-type").unwrap_or_default();
    assert!(
        header("transfer-encoding").is_none_or(|t| !t.eq_ignore_ascii_case("chunked")),
        "chunked responses are not expected from the node"
    );
    Some(HttpResponse { status, content_type, body: body.to_string() })
}
