//! Bounds on what a request may make a node read before it is known who sent it.
//!
//! Tonic decodes a unary request whole before the service sees it, so without a bound before
//! authentication anyone who reaches the API port could make a node buffer the largest message
//! the service accepts. [`BodyLimitLayer`] caps every request body at
//! [`UNAUTHENTICATED_BYTES_MAX`] unless its bearer token is one this node already knows (the
//! superadmin's, or a live credential in its applied state; a check of local state only, no
//! read from the leader), and at [`AUTHENTICATED_BYTES_MAX`] otherwise. Streams (contact
//! imports) are counted whole: their own bound is `contacts::IMPORT_BYTES_MAX`, checked as they
//! arrive. A credential created a moment ago on another node and not yet applied here counts as
//! unknown for this check only.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::auth::Authenticator;
use crate::replica::Replica;

/// Largest request body read before the caller is authenticated.
pub const UNAUTHENTICATED_BYTES_MAX: u64 = 64 * 1024;

/// Largest unary request body an authenticated caller may send: what one log entry allows
/// (`replica::write::MAX_ENTRY_BYTES`) and room for the message's framing.
pub const AUTHENTICATED_BYTES_MAX: u64 = crate::replica::write::MAX_ENTRY_BYTES as u64 + 64 * 1024;

/// The tower layer; see the module documentation.
#[derive(Debug, Clone)]
pub struct BodyLimitLayer {
    auth: Authenticator,
    replica: Arc<Replica>,
}

impl BodyLimitLayer {
    /// Checks tokens with `auth` against `replica`'s applied state.
    pub fn new(auth: Authenticator, replica: Arc<Replica>) -> Self {
        Self { auth, replica }
    }
}

impl<S> tower_layer::Layer<S> for BodyLimitLayer {
    type Service = BodyLimit<S>;

    fn layer(&self, inner: S) -> BodyLimit<S> {
        BodyLimit { inner, layer: self.clone() }
    }
}

/// The service the layer wraps around the API.
#[derive(Debug, Clone)]
pub struct BodyLimit<S> {
    inner: S,
    layer: BodyLimitLayer,
}

impl BodyLimitLayer {
    /// The bound for a request with these headers.
    fn limit(&self, headers: &http::HeaderMap) -> (u64, bool) {
        let token = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim);
        let known = token.is_some_and(|t| self.auth.known_here(t, &self.replica));
        if known { (AUTHENTICATED_BYTES_MAX, true) } else { (UNAUTHENTICATED_BYTES_MAX, false) }
    }
}

impl<S, B> tower_service::Service<http::Request<B>> for BodyLimit<S>
where
    S: tower_service::Service<http::Request<tonic::body::Body>>,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let streaming = req.uri().path().ends_with("/ImportContacts");
        let (max, authenticated) = self.layer.limit(req.headers());
        // An authenticated import is bounded by the import itself, as its chunks arrive.
        let max = if streaming && authenticated { u64::MAX } else { max };
        let req =
            req.map(|body| tonic::body::Body::new(Limited { inner: body, left: max, max, authenticated }));
        self.inner.call(req)
    }
}

pin_project_lite::pin_project! {
    /// A body that fails once more than `max` bytes came through.
    struct Limited<B> {
        #[pin]
        inner: B,
        left: u64,
        max: u64,
        authenticated: bool,
    }
}

impl<B> Body for Limited<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = Bytes;
    type Error = tonic::codegen::StdError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.project();
        match this.inner.poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if len > *this.left {
                    let why = if *this.authenticated {
                        format!("request larger than {} bytes (one log entry); split it", this.max)
                    } else {
                        format!(
                            "request larger than {} bytes from a caller this node does not know yet; send a valid \\
                             token (larger requests are read only once the caller is authenticated)",
                            this.max
                        )
                    };
                    return Poll::Ready(Some(Err(Box::new(tonic::Status::resource_exhausted(why)))));
                }
                *this.left -= len;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            other => other.map(|o| o.map(|r| r.map_err(Into::into))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
