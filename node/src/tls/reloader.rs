//! Reloading the certificates (and the superadmin token) while the node runs: on SIGHUP, and
//! when a file's modification time changes (checked every `tls.reload_check_interval_ms`).
//! A reload that fails keeps what was loaded before and says why in the log; the node never
//! stops serving because a file was half-written.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::TlsState;
use crate::auth::Authenticator;

/// Starts the reloader; it ends when `stop` turns true.
pub fn spawn(
    tls: Arc<TlsState>,
    auth: Authenticator,
    interval: Duration,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut hup = hangup();
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let forced = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                _ = tick.tick() => false,
                Some(()) = recv(&mut hup) => true,
            };
            reload(&tls, &auth, forced);
        }
    })
}

fn reload(tls: &TlsState, auth: &Authenticator, forced: bool) {
    let result = if forced { tls.reload() } else { tls.reload_if_changed() };
    match result {
        Ok(true) => tracing::info!(generation = tls.generation(), "TLS certificates reloaded"),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, "TLS certificates not reloaded; the ones loaded before stay in use")
        }
    }
    match auth.reload_if_changed(forced) {
        Ok(true) => tracing::info!("superadmin token reloaded"),
        Ok(false) => {}
        Err(e) => {
            tracing::error!(error = %e, "superadmin token not reloaded; the one loaded before stays in use")
        }
    }
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

#[cfg(unix)]
fn hangup() -> Hangup {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; files are still checked for changes");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup() -> Hangup {
    None
}

#[cfg(unix)]
async fn recv(h: &mut Hangup) -> Option<()> {
    match h {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn recv(_: &mut Hangup) -> Option<()> {
    std::future::pending().await
}
