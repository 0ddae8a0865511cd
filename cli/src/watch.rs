//! `varsel alert watch ID`: live progress of an alert from the `WatchAlert` stream, then a
//! final report.
//!
//! Three views: a progress bar when stdout is a terminal; one plain line per update when it
//! is not (`alert 12 active: 4200/10000 recipients, sms sent 4100 failed 3, ack 120`); one
//! JSON object per update with `--json`.
//!
//! The stream is reopened through [`varsel_client::Cluster`] (so on another node when the
//! first one died) whenever it breaks, closes before the alert is finished, or stays silent
//! for [`WATCH_IDLE_REOPEN`]: a node that vanished without closing its connections sends
//! neither updates nor an error, and an idle alert is indistinguishable from it. Updates equal
//! to the last one shown (the state a reopened stream starts with) are not shown again.
//! Watching ends when the alert is completed, cancelled or expired.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use tonic::Streaming;
use varsel_proto::api::{Alert, AlertReply, ChannelCounts, GetAlertRequest, WatchAlertRequest};

use crate::error::CliError;
use crate::output::{self, Table, print_fields, print_json};
use crate::session::Session;

/// Silence after which the stream is reopened (see the module documentation).
pub const WATCH_IDLE_REOPEN: Duration = Duration::from_secs(30);

/// Consecutive failures to get an update (each failed open has already tried every node for
/// the client's deadline) after which watching gives up.
pub const WATCH_FAILURES_MAX: u32 = 5;

/// How one stream ended.
#[derive(Debug)]
enum End {
    /// The alert reached a final status.
    Final,
    /// Nothing arrived for [`WATCH_IDLE_REOPEN`].
    Idle,
    /// The server closed the stream.
    Closed,
    /// The stream failed.
    Broken(tonic::Status),
}

/// Watches alert `id` until it is finished, then prints the final report.
pub async fn watch(s: &Session, id: u64) -> Result<(), CliError> {
    let mut view = View::new(s.json, id);
    let mut last: Option<Alert> = None;
    let mut failures = 0u32;
    // Bounded by the alert's own lifetime (it expires) and by WATCH_FAILURES_MAX in a row.
    loop {
        if failures >= WATCH_FAILURES_MAX {
            view.abandon();
            return Err(CliError::Reply(format!(
                "gave up watching alert {id} after {failures} failures in a row; the alert itself is \
                 unaffected: `varsel alert get {id}` shows it"
            )));
        }
        let mut stream = match open(s, id).await {
            Ok(stream) => stream,
            Err(CliError::Cluster(e)) => {
                failures += 1;
                view.note(&format!("no node answered ({e}); trying again"));
                continue;
            }
            Err(e) => {
                view.abandon();
                return Err(e);
            }
        };
        match follow(&mut stream, &mut view, &mut last, &mut failures).await {
            End::Final => break,
            End::Idle => {}
            End::Closed => {
                if confirm_final(s, id, &mut view, &mut last).await? {
                    break;
                }
                failures += 1;
            }
            End::Broken(status) if varsel_client::retryable(&status) => {
                failures += 1;
                view.note(&format!("stream broke ({}: {}); reconnecting", status.code(), status.message()));
            }
            End::Broken(status) => {
                view.abandon();
                return Err(CliError::Rejected(status));
            }
        }
    }
    view.finish(last.as_ref());
    Ok(())
}

async fn open(s: &Session, id: u64) -> Result<Streaming<AlertReply>, CliError> {
    s.alerts(|mut c| async move { c.watch_alert(WatchAlertRequest { id }).await }).await
}

/// Shows updates until the stream ends one way or another. Each update resets `failures`.
async fn follow(
    stream: &mut Streaming<AlertReply>,
    view: &mut View,
    last: &mut Option<Alert>,
    failures: &mut u32,
) -> End {
    loop {
        let reply = match tokio::time::timeout(WATCH_IDLE_REOPEN, stream.message()).await {
            Err(_) => return End::Idle,
            Ok(Err(status)) => return End::Broken(status),
            Ok(Ok(None)) => return End::Closed,
            Ok(Ok(Some(reply))) => reply,
        };
        *failures = 0;
        let Some(alert) = reply.alert else { continue };
        let done = output::is_final(alert.status);
        if last.as_ref() != Some(&alert) {
            view.update(&alert);
            *last = Some(alert);
        }
        if done {
            return End::Final;
        }
    }
}

/// After the server closed the stream: asks (linearizably) whether the alert is finished.
async fn confirm_final(
    s: &Session,
    id: u64,
    view: &mut View,
    last: &mut Option<Alert>,
) -> Result<bool, CliError> {
    let consistency = varsel_proto::api::Consistency::Linearizable as i32;
    let r = s.alerts(|mut c| async move { c.get_alert(GetAlertRequest { id, consistency }).await }).await?;
    let Some(alert) = r.alert else { return Ok(false) };
    let done = output::is_final(alert.status);
    if last.as_ref() != Some(&alert) {
        view.update(&alert);
        *last = Some(alert);
    }
    Ok(done)
}

/// Where updates go.
#[derive(Debug)]
enum View {
    Json,
    Lines,
    Bar {
        bar: ProgressBar,
        /// Whether the first update switched the spinner to a bar.
        started: bool,
    },
}

impl View {
    fn new(json_out: bool, id: u64) -> Self {
        if json_out {
            return View::Json;
        }
        if !std::io::stdout().is_terminal() {
            return View::Lines;
        }
        // A spinner until the first update: an empty bar would read as "0 of 0, done".
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
        if let Ok(style) = ProgressStyle::with_template("{prefix} {spinner} {msg}") {
            bar.set_style(style);
        }
        bar.set_prefix(format!("alert {id}"));
        bar.set_message("waiting for progress…");
        bar.enable_steady_tick(Duration::from_millis(250));
        View::Bar { bar, started: false }
    }

    fn update(&mut self, a: &Alert) {
        match self {
            View::Json => print_json(&json!({"type": "update", "alert": output::alert_json(a)})),
            View::Lines => println!("{}", summary(a)),
            View::Bar { bar, started } => {
                if !*started {
                    if let Ok(style) = ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}") {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    *started = true;
                }
                let p = a.progress.clone().unwrap_or_default();
                bar.set_length(a.recipients_planned.max(p.recipients));
                bar.set_position(p.recipients);
                bar.set_message(format!("{}{}", output::status(a.status), counts_summary(a)));
            }
        }
    }

    /// A remark about the connection, kept off stdout unless a bar owns the terminal.
    fn note(&self, text: &str) {
        match self {
            View::Bar { bar, .. } => bar.println(text),
            _ => eprintln!("{text}"),
        }
    }

    fn abandon(&self) {
        if let View::Bar { bar, .. } = self {
            bar.abandon();
        }
    }

    fn finish(self, last: Option<&Alert>) {
        let Some(a) = last else { return };
        match self {
            View::Json => print_json(&json!({
                "type": "final", "alert": output::alert_json(a),
                "time_to_first_message_ms": since_start(a, |p| p.first_sent_at_ms),
                "time_to_last_message_ms": since_start(a, |p| p.last_sent_at_ms),
            })),
            View::Lines => print_report(a),
            View::Bar { bar, .. } => {
                bar.finish_and_clear();
                print_report(a);
            }
        }
    }
}

/// When the alert started sending: its send-at time, or its creation when sent at once.
fn start_ms(a: &Alert) -> u64 {
    if a.send_at_ms > 0 { a.send_at_ms } else { a.created_at_ms }
}

/// Milliseconds from the start to a progress time, when that time is set.
fn since_start(a: &Alert, at: impl Fn(&varsel_proto::api::Progress) -> u64) -> Option<u64> {
    let t = a.progress.as_ref().map(at).filter(|t| *t > 0)?;
    Some(t.saturating_sub(start_ms(a)))
}

/// One line: `alert 12 active: 4200/10000 recipients, sms sent 4100 failed 3, ack 120`.
pub fn summary(a: &Alert) -> String {
    let p = a.progress.clone().unwrap_or_default();
    format!(
        "alert {} {}: {}/{} recipients{}",
        a.id,
        output::status(a.status),
        p.recipients,
        a.recipients_planned,
        counts_summary(a)
    )
}

/// `, sms sent 4100 failed 3, push sent 3900, ack 120`: per channel the sent count and the
/// other counts that are not zero; then the acknowledgements.
fn counts_summary(a: &Alert) -> String {
    let p = a.progress.clone().unwrap_or_default();
    let mut out = String::new();
    for c in &p.channels {
        out.push_str(&format!(", {} sent {}", output::channel(c.channel), c.sent));
        for (name, n) in [("delivered", c.delivered), ("failed", c.failed), ("expired", c.expired)] {
            if n > 0 {
                out.push_str(&format!(" {name} {n}"));
            }
        }
    }
    out.push_str(&format!(", ack {}", p.acknowledged));
    out
}

/// The report `alert get` and the end of `alert watch` print: the state, counts per channel
/// and state, and how long the first and last messages took.
pub fn print_report(a: &Alert) {
    let p = a.progress.clone().unwrap_or_default();
    let took = |at: u64, since: Option<u64>| match since {
        Some(ms) => format!("{} ({} after the start)", output::time(at), output::duration(ms)),
        None => "-".into(),
    };
    print_fields(&[
        ("alert", format!("{} {:?}", a.id, a.title)),
        ("status", output::status(a.status)),
        ("priority", output::priority(a.priority)),
        ("recipients", format!("{} processed of {} planned", p.recipients, a.recipients_planned)),
        ("acknowledged", p.acknowledged.to_string()),
        ("policy", output::policy(&a.policy)),
        ("created", output::time(a.created_at_ms)),
        ("start", output::time(start_ms(a))),
        ("expires", output::time(a.expires_at_ms)),
        ("first message", took(p.first_sent_at_ms, since_start(a, |p| p.first_sent_at_ms))),
        ("last message", took(p.last_sent_at_ms, since_start(a, |p| p.last_sent_at_ms))),
    ]);
    if a.cancelled_at_ms > 0 {
        println!("cancelled at {} by credential {}", output::time(a.cancelled_at_ms), a.cancelled_by);
    }
    if !p.channels.is_empty() {
        println!();
        Table::new(&["channel", "queued", "sent", "delivered", "failed", "expired", "skipped"])
            .print(&p.channels.iter().map(counts_row).collect::<Vec<_>>());
    }
    if !a.answer_options.is_empty() {
        println!();
        let default = a.content.as_ref().map_or("", |c| c.default_language.as_str());
        let rows: Vec<Vec<String>> = a
            .answer_options
            .iter()
            .enumerate()
            .map(|(i, o)| {
                let label =
                    o.labels.get(default).or_else(|| o.labels.values().next()).cloned().unwrap_or_default();
                let count = a.answer_counts.get(i).copied().unwrap_or(0);
                let acks = if o.acknowledges { "yes" } else { "" };
                vec![(i + 1).to_string(), label, count.to_string(), acks.to_string()]
            })
            .collect();
        Table::new(&["answer", "label", "chosen by", "acknowledges"]).print(&rows);
    }
}

fn counts_row(c: &ChannelCounts) -> Vec<String> {
    let n = [c.queued, c.sent, c.delivered, c.failed, c.expired, c.skipped];
    std::iter::once(output::channel(c.channel)).chain(n.iter().map(u64::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use varsel_proto::api::{AlertStatus, Channel, Progress};

    use super::*;

    fn alert() -> Alert {
        let counts = |channel: Channel, sent, failed| ChannelCounts {
            channel: channel as i32,
            sent,
            failed,
            ..Default::default()
        };
        Alert {
            id: 12,
            status: AlertStatus::Active as i32,
            recipients_planned: 10_000,
            created_at_ms: 1_000_000,
            progress: Some(Progress {
                recipients: 4200,
                acknowledged: 120,
                channels: vec![counts(Channel::Sms, 4100, 3), counts(Channel::Push, 3900, 0)],
                first_sent_at_ms: 1_000_850,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// Goal: the piped line reads as the docs show. Method: format a known alert.
    #[test]
    fn summary_line() {
        assert_eq!(
            summary(&alert()),
            "alert 12 active: 4200/10000 recipients, sms sent 4100 failed 3, push sent 3900, ack 120"
        );
    }

    /// Goal: times to first/last message count from send-at, else creation; unset stays unset.
    /// Method: an alert sent at once, then the same alert scheduled.
    #[test]
    fn times_since_start() {
        let mut a = alert();
        assert_eq!(since_start(&a, |p| p.first_sent_at_ms), Some(850));
        assert_eq!(since_start(&a, |p| p.last_sent_at_ms), None);
        a.send_at_ms = 1_000_800;
        assert_eq!(since_start(&a, |p| p.first_sent_at_ms), Some(50));
    }
}
