//! Reading a node's `/metrics` (its `http_addr`) during and after a run: the counters some
//! invariants are judged on (`varsel_delivery_late_handovers_total`) and the sent counter the
//! sending-gap sampler follows (`varsel_delivery_messages_total`).
//!
//! One `GET /metrics` per connection (`Connection: close`), over TLS checked against the
//! cluster CA (plain TCP for a plaintext cluster), bounded in time and size. Enough for the
//! Prometheus text format the nodes serve; not a general HTTP client.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use crate::backend::NodeInfo;

/// Time one scrape may take: a node that does not answer within this is taken as unreadable
/// for that sample (it may be killed, frozen, or busy).
pub const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// Largest response read: a node's metrics are tens of kilobytes.
const RESPONSE_BYTES_MAX: u64 = 8 << 20;

/// A reader of one node's metrics, made once and used for every scrape.
#[derive(Clone)]
pub struct MetricsReader {
    node: u64,
    addr: std::net::SocketAddr,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
}

impl std::fmt::Debug for MetricsReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsReader").field("node", &self.node).field("addr", &self.addr).finish()
    }
}

impl MetricsReader {
    /// A reader of `node`'s metrics; an error when the node has no metrics endpoint or its
    /// TLS settings cannot be used.
    pub fn for_node(node: &NodeInfo) -> Result<Self, String> {
        let Some(m) = &node.metrics else {
            return Err(format!("node {} has no metrics endpoint (http_addr)", node.id));
        };
        let tls = match &m.tls_name {
            None => None,
            Some(name) => {
                let ca = node.access.trust.ca_certificates_pem().ok_or_else(|| {
                    format!("node {}: its metrics speak TLS but no CA certificate is known", node.id)
                })?;
                let name = ServerName::try_from(name.clone())
                    .map_err(|e| format!("node {}: certificate name {name:?}: {e}", node.id))?;
                Some((connector(ca)?, name))
            }
        };
        Ok(Self { node: node.id, addr: m.addr, tls })
    }

    /// The node this reads.
    pub fn node(&self) -> u64 {
        self.node
    }

    /// Fetches and returns the node's metrics now.
    pub async fn read(&self) -> Result<Exposition, String> {
        match tokio::time::timeout(SCRAPE_TIMEOUT, self.fetch()).await {
            Ok(r) => r,
            Err(_) => Err(format!("node {}: /metrics gave no answer within {SCRAPE_TIMEOUT:?}", self.node)),
        }
    }

    async fn fetch(&self) -> Result<Exposition, String> {
        let err = |e: std::io::Error| format!("node {}: /metrics: {e}", self.node);
        let tcp = tokio::net::TcpStream::connect(self.addr).await.map_err(err)?;
        let raw = match &self.tls {
            Some((connector, name)) => {
                let stream = connector.connect(name.clone(), tcp).await.map_err(err)?;
                exchange(stream, self.addr).await
            }
            None => exchange(tcp, self.addr).await,
        }
        .map_err(err)?;
        let text = String::from_utf8_lossy(&raw);
        body_of(&text)
            .map(|body| Exposition { text: body.to_string() })
            .map_err(|e| format!("node {}: {e}", self.node))
    }
}

/// A TLS client trusting only the CA certificate(s) in `ca_pem`.
fn connector(ca_pem: &[u8]) -> Result<tokio_rustls::TlsConnector, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|e| format!("CA certificate: {e}"))?;
        roots.add(cert).map_err(|e| format!("CA certificate: {e}"))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Sends `GET /metrics` on `stream` and reads the whole answer.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    addr: std::net::SocketAddr,
) -> std::io::Result<Vec<u8>> {
    let head =
        format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAccept: text/plain\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut raw = Vec::new();
    // A node may close without TLS close_notify once it has sent everything: what was read
    // counts, and a cut-short body shows as a parse error below.
    if let Err(e) = (&mut stream).take(RESPONSE_BYTES_MAX).read_to_end(&mut raw).await
        && raw.is_empty()
    {
        return Err(e);
    }
    Ok(raw)
}

/// The body of an HTTP/1.1 200 answer with a `Content-Length`; an error naming what is wrong
/// otherwise.
fn body_of(text: &str) -> Result<&str, String> {
    let (head, body) = text.split_once("\r\n\r\n").ok_or("/metrics: no complete HTTP answer")?;
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split_whitespace().nth(1)).unwrap_or("");
    if status != "200" {
        return Err(format!("/metrics answered {status:?}"));
    }
    let length = lines.find_map(|l| {
        l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")).map(|(_, v)| v.trim())
    });
    match length.map(str::parse::<usize>) {
        Some(Ok(n)) if body.len() >= n => Ok(&body[..n]),
        Some(Ok(n)) => Err(format!("/metrics: body cut short ({} of {n} bytes)", body.len())),
        _ => Err("/metrics: no Content-Length (a chunked answer is not expected from a node)".into()),
    }
}

/// A node's metrics in the Prometheus text format.
#[derive(Debug, Clone)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Wraps text in the Prometheus format.
    pub fn new(text: impl Into<String>) -> Self {
        Self { text: text.into() }
    }

    /// The sum of the samples named `name` whose labels include every pair of `labels`;
    /// `None` when there is no such sample (a family the node does not export differs from a
    /// counter at 0).
    pub fn sum(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = None;
        for line in self.text.lines().filter(|l| !l.starts_with('#')) {
            let Some((sample, value)) = parse_line(line) else { continue };
            if sample.name == name && labels.iter().all(|(k, v)| sample.label(k) == Some(*v)) {
                *found.get_or_insert(0.0) += value;
            }
        }
        found
    }
}

/// A sample's name and labels, borrowed from its line.
struct SampleRef<'a> {
    name: &'a str,
    labels: Vec<(&'a str, String)>,
}

impl SampleRef<'_> {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| *k == key).map(|(_, v)| v.as_str())
    }
}

/// `name{k="v",…} value [timestamp]` or `name value [timestamp]`; `None` for anything else.
fn parse_line(line: &str) -> Option<(SampleRef<'_>, f64)> {
    let line = line.trim();
    let name_end = line.find(['{', ' '])?;
    let name = &line[..name_end];
    let (labels, rest) = if line[name_end..].starts_with('{') {
        parse_labels(&line[name_end + 1..])?
    } else {
        (Vec::new(), &line[name_end..])
    };
    let value = rest.split_whitespace().next()?.parse().ok()?;
    Some((SampleRef { name, labels }, value))
}

/// The labels after `{` up to the closing `}`, and what follows it. Values may hold escaped
/// quotes, backslashes and newlines.
fn parse_labels(mut s: &str) -> Option<(Vec<(&str, String)>, &str)> {
    let mut labels = Vec::new();
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(rest) = s.strip_prefix('}') {
            return Some((labels, rest));
        }
        let (key, rest) = s.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                (_, c) => value.push(c),
            }
        };
        labels.push((key.trim(), value));
        s = &rest[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TEXT: &str = "# HELP varsel_delivery_messages_total Messages.\n\
        # TYPE varsel_delivery_messages_total counter\n\
        varsel_delivery_messages_total{channel=\"sms\",provider=\"sms-primary\",outcome=\"sent\"} 120\n\
        varsel_delivery_messages_total{channel=\"sms\",provider=\"sms-alt\",outcome=\"sent\"} 30\n\
        varsel_delivery_messages_total{channel=\"voice\",provider=\"voi\\\"ce\",outcome=\"failed\"} 2\n\
        varsel_delivery_late_handovers_total 0\n";

    /// Goal: samples are summed by name and labels, escaped label values are read, and a
    /// family the text does not hold is told apart from one at 0.
    #[test]
    fn sums_by_name_and_labels() {
        let e = Exposition::new(TEXT);
        assert_eq!(e.sum("varsel_delivery_messages_total", &[]), Some(152.0));
        assert_eq!(e.sum("varsel_delivery_messages_total", &[("outcome", "sent")]), Some(150.0));
        assert_eq!(e.sum("varsel_delivery_messages_total", &[("provider", "voi\"ce")]), Some(2.0));
        assert_eq!(e.sum("varsel_delivery_late_handovers_total", &[]), Some(0.0));
        assert_eq!(e.sum("varsel_delivery_late_handovers", &[]), None);
        assert_eq!(e.sum("varsel_delivery_messages_total", &[("channel", "push")]), None);
    }

    /// Goal: only a whole 200 answer with its length is taken.
    #[test]
    fn body_needs_status_and_length() {
        let ok = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nabcdefg";
        assert_eq!(body_of(ok), Ok("abcde"));
        assert!(body_of("HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n").unwrap_err().contains("503"));
        assert!(
            body_of("HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc").unwrap_err().contains("cut short")
        );
        assert!(body_of("HTTP/1.1 200 OK\r\n\r\nabc").unwrap_err().contains("Content-Length"));
    }
}
