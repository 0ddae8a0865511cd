//! A minimal HTTP/1.1 client for the nodes' HTTP listener: one request per connection
//! (`Connection: close`), bounded in time, over TLS verified against the cluster CA (or plain
//! TCP for a plaintext cluster). Enough for `/metrics`, `/healthz`, `/readyz` and the REST API
//! (any method, headers, chunked answers such as Server-Sent Events read to their end).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Time one request may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Largest response read.
const RESPONSE_MAX_BYTES: u64 = 16 << 20;

/// A response: status code, `Content-Type`, headers (names in lower case), body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// The first value of header `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics (failing the test) with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// `method path` on `addr` with `headers` and `body` (sent with `Content-Length`), over TLS
/// checked against `ca_pem`; waits up to `timeout` for the whole answer. `None` when the node
/// does not answer.
pub async fn send(
    ca_pem: Option<&str>,
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Option<HttpResponse> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    tokio::time::timeout(timeout, exchange(ca_pem, addr, raw)).await.ok().flatten()
}

/// `GET path` on `addr`, over TLS checked against the CA in `ca_pem` (plain TCP when `None`);
/// `None` when the node does not answer (refused, reset, timed out, handshake refused).
pub async fn get(ca_pem: Option<&str>, addr: SocketAddr, path: &str) -> Option<HttpResponse> {
    tokio::time::timeout(HTTP_TIMEOUT, request(ca_pem, addr, path)).await.ok().flatten()
}

/// A TLS client trusting only `ca_pem`.
pub fn tls_connector(ca_pem: &str) -> tokio_rustls::TlsConnector {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
}

/// `POST url` (`https://ip:port/path`, or `http://` with no CA) with `headers` and `body`;
/// `None` when the node does not answer.
pub async fn post(
    ca_pem: Option<&str>,
    url: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> Option<HttpResponse> {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
    let (authority, path) =
        rest.split_once('/').map_or((rest, "/".to_string()), |(a, p)| (a, format!("/{p}")));
    let addr: SocketAddr = authority.parse().ok()?;
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("content-type: application/json\r\n\r\n");
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    tokio::time::timeout(HTTP_TIMEOUT, exchange(ca_pem, addr, raw)).await.ok().flatten()
}

async fn request(ca_pem: Option<&str>, addr: SocketAddr, path: &str) -> Option<HttpResponse> {
    let head = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: */*\r\n\r\n");
    exchange(ca_pem, addr, head.into_bytes()).await
}

/// Sends `request` and reads the whole response, over TLS when `ca_pem` is given.
async fn exchange(ca_pem: Option<&str>, addr: SocketAddr, request: Vec<u8>) -> Option<HttpResponse> {
    let tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    let mut raw = Vec::new();
    match ca_pem {
        Some(ca) => {
            let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
            let mut stream = tls_connector(ca).connect(name, tcp).await.ok()?;
            stream.write_all(&request).await.ok()?;
            // A node may close without TLS close_notify once it sent everything.
            let _ = stream.take(RESPONSE_MAX_BYTES).read_to_end(&mut raw).await;
        }
        None => {
            let mut stream = tcp;
            stream.write_all(&request).await.ok()?;
            stream.take(RESPONSE_MAX_BYTES).read_to_end(&mut raw).await.ok()?;
        }
    }
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = &raw[split + 4..];
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())))
        .collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let content_type = header("content-type").unwrap_or_default();
    let chunked = header("transfer-encoding").is_some_and(|t| t.eq_ignore_ascii_case("chunked"));
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    Some(HttpResponse { status, content_type, headers, body: String::from_utf8_lossy(&body).into_owned() })
}

/// The payload of a chunked body (RFC 9112 section 7.1); `None` if it is malformed.
fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(raw.get(..size)?);
        raw = raw.get(size + 2..)?;
    }
}
