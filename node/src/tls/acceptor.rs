//! Accepting connections on a listener: TLS handshakes under a deadline, a bound on open
//! connections, and what is known of the peer.
//!
//! One task accepts TCP connections while fewer than the listener's bound are open; each
//! handshake runs in its own task and must finish within [`HANDSHAKE_TIMEOUT`], so a client
//! that opens a socket and says nothing holds one slot for a few seconds, not forever. Finished
//! connections are handed to the server through a short queue. One source address may hold
//! at most a share of the bound ([`super::per_source`]). A connection's permit and source slot
//! are released when the connection is dropped.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;
use varsel_raft_store::NodeId;

use super::per_source::{PerSource, SourceSlot};
use super::{ListenerKind, TlsState, identity};

/// Time a client has to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connections accepted but not yet taken by the server.
const READY_QUEUE: usize = 16;

/// Pause after a failed accept (out of file descriptors and the like), instead of spinning.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// What is known of the other end of a connection. Servers find it in every request's
/// extensions.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Its address.
    pub remote: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The node id its client certificate names (Raft listener only), when it sent one that
    /// chains to the cluster CA.
    pub node: Option<NodeId>,
    /// Why its certificate names no node id, when it sent one that does not.
    pub node_error: Option<String>,
}

/// An accepted connection.
pub struct Conn {
    io: Io,
    peer: PeerInfo,
    _slot: Slot,
}

/// What an open connection holds of its listener's bounds.
struct Slot {
    _permit: OwnedSemaphorePermit,
    _source: Option<SourceSlot>,
}

enum Io {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn").field("peer", &self.peer).finish_non_exhaustive()
    }
}

/// The accepted connections of one listener, in order.
#[derive(Debug)]
pub struct Incoming {
    rx: mpsc::Receiver<Conn>,
    local: SocketAddr,
}

impl Incoming {
    /// As a stream, for tonic's `serve_with_incoming`.
    pub fn into_stream(self) -> impl futures::Stream<Item = io::Result<Conn>> {
        futures::stream::unfold(self.rx, |mut rx| async move { rx.recv().await.map(|c| (Ok(c), rx)) })
    }
}

/// Accepts connections on `listener` for `kind` until `stop` turns true, with at most
/// `connections_max` open at once and at most `per_source_max` of them from one address.
pub fn accept(
    listener: TcpListener,
    tls: Arc<TlsState>,
    kind: ListenerKind,
    (connections_max, per_source_max): (usize, usize),
    stop: watch::Receiver<bool>,
) -> io::Result<Incoming> {
    let local = listener.local_addr()?;
    let (tx, rx) = mpsc::channel(READY_QUEUE);
    let permits = Arc::new(Semaphore::new(connections_max));
    let sources = PerSource::new(per_source_max);
    tokio::spawn(accept_loop(listener, tls, kind, (permits, sources), tx, stop));
    Ok(Incoming { rx, local })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Arc<TlsState>,
    kind: ListenerKind,
    (permits, sources): (Arc<Semaphore>, Arc<PerSource>),
    tx: mpsc::Sender<Conn>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        // The semaphore is never closed, so acquiring only waits.
        let permit = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let accepted = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, remote)) => {
                let source = match sources.take(remote.ip()) {
                    Ok(s) => s,
                    Err(max) => {
                        // Closed at once (the permit goes back when this iteration ends).
                        tracing::debug!(%remote, ?kind, max, "connection refused: its address holds the most allowed");
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let slot = Slot { _permit: permit, _source: source };
                tokio::spawn(handshake(stream, remote, tls.clone(), kind, slot, tx.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, ?kind, "cannot accept a connection");
                tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
            }
        }
    }
}

async fn handshake(
    stream: TcpStream,
    remote: SocketAddr,
    tls: Arc<TlsState>,
    kind: ListenerKind,
    slot: Slot,
    tx: mpsc::Sender<Conn>,
) {
    let Some(config) = tls.server(kind) else {
        let peer = PeerInfo { remote, tls: false, node: None, node_error: None };
        let _ = tx.send(Conn { io: Io::Plain(stream), peer, _slot: slot }).await;
        return;
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%remote, ?kind, error = %e, "TLS handshake refused");
            return;
        }
        Err(_) => {
            tracing::debug!(%remote, ?kind, "TLS handshake not finished in time");
            return;
        }
    };
    let (node, node_error) = match stream.get_ref().1.peer_certificates().and_then(|c| c.first()) {
        Some(cert) => match identity::node_id(cert) {
            Ok(id) => (Some(id), None),
            Err(e) => (None, Some(e)),
        },
        None => (None, None),
    };
    let peer = PeerInfo { remote, tls: true, node, node_error };
    let _ = tx.send(Conn { io: Io::Tls(Box::new(stream)), peer, _slot: slot }).await;
}

impl Connected for Conn {
    type ConnectInfo = PeerInfo;

    fn connect_info(&self) -> PeerInfo {
        self.peer.clone()
    }
}

impl axum::serve::Listener for Incoming {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        match self.rx.recv().await {
            Some(c) => {
                let addr = c.peer.remote;
                (c, addr)
            }
            // Stopped: graceful shutdown ends the server; never hand out another connection.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_flush(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.io {
            Io::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Io::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(s) => s.is_write_vectored(),
            Io::Tls(s) => s.is_write_vectored(),
        }
    }
}
