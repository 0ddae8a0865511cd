//! HTTP plumbing shared by the server, the callback sender and the client: bounded body
//! reading, JSON answers and the hyper-util client.

use std::error::Error as StdError;

use http_body_util::{BodyExt, Full};
use hyper::{
    Response, StatusCode,
    body::{Body, Bytes},
    header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue},
};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde::Serialize;

use crate::{limits::BODY_DRAIN_BYTES_MAX, protocol::ErrorBody};

/// The client used for callbacks and by [`crate::SimClient`]: HTTP/1.1 with pooled
/// keep-alive connections; `https://` URLs are verified against the CA it was given, and only
/// against it (a simulator calls one cluster back, whose nodes carry its CA's certificates).
pub(crate) type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A client for `http://` URLs only (the simulator's own admin API).
pub(crate) fn client() -> HttpClient {
    client_trusting(None).unwrap_or_else(|_| unreachable!("an empty root store is always accepted"))
}

/// A client that verifies `https://` peers against the CA certificate(s) in `ca_pem`; without
/// one, `https://` URLs fail.
pub(crate) fn client_trusting(ca_pem: Option<&[u8]>) -> Result<HttpClient, String> {
    let mut roots = rustls::RootCertStore::empty();
    if let Some(pem) = ca_pem {
        use rustls::pki_types::pem::PemObject as _;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("callback_ca_file: not PEM certificates: {e}"))?;
            roots.add(cert).map_err(|e| format!("callback_ca_file: not a usable CA certificate: {e}"))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    // Small JSON requests: waiting for Nagle only adds latency.
    http.set_nodelay(true);
    http.enforce_http(false);
    let connector =
        HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// Why a body could not be read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// Longer than the limit.
    TooLarge,
    /// The connection failed while reading.
    Read(String),
}

/// Reads a whole body, refusing more than `limit` bytes. An oversized body is still read
/// (up to [`BODY_DRAIN_BYTES_MAX`] beyond the limit) and discarded, so the client gets its 413 on a clean
/// connection instead of a reset while it is still writing.
pub(crate) async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, BodyError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    let declared = headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let read_max = limit.saturating_add(BODY_DRAIN_BYTES_MAX);
    let mut too_large = declared.is_some_and(|n| n > limit as u64);
    if declared.is_some_and(|n| n > read_max as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = std::pin::pin!(body);
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Read(chain(&*e.into())))?;
        let Ok(data) = frame.into_data() else { continue };
        total += data.len();
        too_large |= total > limit;
        if total > read_max {
            break;
        }
        if !too_large {
            kept.extend_from_slice(&data);
        }
    }
    if too_large {
        return Err(BodyError::TooLarge);
    }
    Ok(Bytes::from(kept))
}

/// An error with its sources: hyper's top-level messages ("client error (Connect)") alone
/// do not say what failed.
pub(crate) fn chain(error: &(dyn StdError + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

pub(crate) type Answer = Response<Full<Bytes>>;

/// A JSON answer from bytes already encoded.
pub(crate) fn json_bytes(status: StatusCode, body: Vec<u8>) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// A JSON answer.
pub(crate) fn json<T: Serialize>(status: StatusCode, value: &T) -> Answer {
    match serde_json::to_vec(value) {
        Ok(body) => json_bytes(status, body),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the answer: {e}")),
    }
}

/// `{"error": message}` with `status`.
pub(crate) fn error(status: StatusCode, message: String) -> Answer {
    let body = serde_json::to_vec(&ErrorBody { error: message }).unwrap_or_default();
    json_bytes(status, body)
}
