//! How API records are shown: tables and `key: value` blocks for people, JSON for scripts.
//!
//! JSON field names are the protocol's own (snake_case) and stable; enums are their lower-case
//! short names (`operator`, `sms`, `crisis`, `active`); times stay milliseconds since the Unix
//! epoch (`*_at_ms`, 0 = never). Tables show times as RFC 3339 UTC. List commands print one
//! JSON object per line (JSON Lines), so `--all` over a million contacts streams instead of
//! building one huge document.

use chrono::{DateTime, SecondsFormat};
use serde_json::{Value, json};
use varsel_proto::api::{
    Alert, AlertStatus, AuditRecord, Channel, ChannelCounts, Contact, Content, Credential, EscalationStep,
    Group, Limits, Priority, Progress, Role, Tenant,
};

/// A time in milliseconds since the epoch as RFC 3339 UTC to the second; `-` for 0 (never).
pub fn time(ms: u64) -> String {
    if ms == 0 {
        return "-".into();
    }
    i64::try_from(ms)
        .ok()
        .and_then(DateTime::from_timestamp_millis)
        .map_or_else(|| format!("{ms} ms"), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// A duration in milliseconds for people: `850ms`, `12.4s`, `3m05s`, `2h10m`.
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60),
    }
}

/// The lower-case short name of a protocol enum value (`ROLE_OPERATOR` → `operator`);
/// `unknown(7)` for a value this build does not know (a newer server).
fn short(full: Option<&str>, prefix: &str, raw: i32) -> String {
    match full {
        Some(f) => f.strip_prefix(prefix).unwrap_or(f).to_ascii_lowercase(),
        None => format!("unknown({raw})"),
    }
}

/// `viewer`, `operator`, `admin`, `superadmin`.
pub fn role(v: i32) -> String {
    short(Role::try_from(v).ok().map(|r| r.as_str_name()), "ROLE_", v)
}

/// `sms`, `voice`, `email`, `push`.
pub fn channel(v: i32) -> String {
    short(Channel::try_from(v).ok().map(|c| c.as_str_name()), "CHANNEL_", v)
}

/// `routine`, `urgent`, `crisis` (unspecified is routine, as the server treats it).
pub fn priority(v: i32) -> String {
    match Priority::try_from(v) {
        Ok(Priority::Unspecified) => "routine".into(),
        other => short(other.ok().map(|p| p.as_str_name()), "PRIORITY_", v),
    }
}

/// `scheduled`, `active`, `completed`, `cancelled`, `expired`.
pub fn status(v: i32) -> String {
    short(AlertStatus::try_from(v).ok().map(|s| s.as_str_name()), "ALERT_STATUS_", v)
}

/// Whether an alert in this status will change no more.
pub fn is_final(v: i32) -> bool {
    matches!(
        AlertStatus::try_from(v),
        Ok(AlertStatus::Completed | AlertStatus::Cancelled | AlertStatus::Expired)
    )
}

/// Channel names joined by `,`.
pub fn channels(v: &[i32]) -> String {
    v.iter().map(|c| channel(*c)).collect::<Vec<_>>().join(",")
}

/// A policy in the `--policy` syntax: `sms,push@0;voice@300`.
pub fn policy(steps: &[EscalationStep]) -> String {
    steps
        .iter()
        .map(|s| format!("{}@{}", channels(&s.channels), s.after_seconds))
        .collect::<Vec<_>>()
        .join(";")
}

/// Prints `key: value` lines with the values aligned.
pub fn print_fields(fields: &[(&str, String)]) {
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 1;
    for (k, v) in fields {
        println!("{:<width$} {v}", format!("{k}:"));
    }
}

/// Prints a JSON value on one line.
pub fn print_json(v: &Value) {
    println!("{v}");
}

/// A table printed page by page: the header and column widths come from the first page, so a
/// listing of a million rows needs no more memory than one page. Later cells longer than
/// their column push the row out of line rather than being cut.
#[derive(Debug)]
pub struct Table {
    header: Vec<String>,
    widths: Option<Vec<usize>>,
}

impl Table {
    /// A table with these column names.
    pub fn new(header: &[&str]) -> Self {
        Self { header: header.iter().map(|h| h.to_uppercase()).collect(), widths: None }
    }

    /// Prints rows; the first call prints the header too (even with no rows).
    pub fn print(&mut self, rows: &[Vec<String>]) {
        for line in self.render(rows) {
            println!("{line}");
        }
    }

    fn render(&mut self, rows: &[Vec<String>]) -> Vec<String> {
        let mut out = Vec::with_capacity(rows.len() + 1);
        if self.widths.is_none() {
            let mut w: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
            for row in rows {
                for (i, cell) in row.iter().enumerate() {
                    if let Some(x) = w.get_mut(i) {
                        *x = (*x).max(cell.chars().count());
                    }
                }
            }
            let header = self.header.clone();
            self.widths = Some(w);
            out.push(self.line(&header));
        }
        out.extend(rows.iter().map(|r| self.line(r)));
        out
    }

    fn line(&self, cells: &[String]) -> String {
        let widths = self.widths.as_deref().unwrap_or(&[]);
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths.get(i).copied().unwrap_or(0)))
            .collect();
        padded.join("  ").trim_end().to_string()
    }
}

/// Limits as JSON.
pub fn limits_json(l: &Limits) -> Value {
    json!({
        "max_recipients_per_alert": l.max_recipients_per_alert,
        "max_sms_segments": l.max_sms_segments,
        "max_alerts_per_minute": l.max_alerts_per_minute,
        "max_messages_per_alert": l.max_messages_per_alert,
        "max_send_rate_per_second": l.max_send_rate_per_second,
        "max_contacts": l.max_contacts,
    })
}

/// A tenant as JSON.
pub fn tenant_json(t: &Tenant) -> Value {
    json!({
        "id": t.id, "name": t.name, "created_at_ms": t.created_at_ms,
        "limits": t.limits.as_ref().map(limits_json),
    })
}

/// A credential as JSON (credentials never carry their token).
pub fn credential_json(c: &Credential) -> Value {
    json!({
        "id": c.id, "tenant_id": c.tenant_id, "name": c.name, "role": role(c.role),
        "created_at_ms": c.created_at_ms, "revoked": c.revoked,
    })
}

/// A contact as JSON.
pub fn contact_json(c: &Contact) -> Value {
    json!({
        "id": c.id, "external_id": c.external_id, "name": c.name, "phone": c.phone,
        "email": c.email, "push_subscription": c.push_subscription, "language": c.language,
        "opted_out": c.opted_out.iter().map(|x| channel(*x)).collect::<Vec<_>>(),
        "groups": c.groups, "updated_at_ms": c.updated_at_ms, "push_invalid": c.push_invalid,
    })
}

/// A group as JSON.
pub fn group_json(g: &Group) -> Value {
    json!({"id": g.id, "name": g.name, "member_count": g.member_count, "created_at_ms": g.created_at_ms})
}

/// Content as JSON, in the same shape as a content file.
pub fn content_json(c: &Content) -> Value {
    let variants: serde_json::Map<String, Value> = c
        .variants
        .iter()
        .map(|(lang, v)| {
            let fields = [
                ("sms_text", &v.sms_text),
                ("email_subject", &v.email_subject),
                ("email_text", &v.email_text),
                ("email_html", &v.email_html),
                ("voice_script", &v.voice_script),
                ("push_title", &v.push_title),
                ("push_body", &v.push_body),
            ];
            let set = fields.iter().filter(|(_, t)| !t.is_empty()).map(|(k, t)| (k.to_string(), json!(t)));
            (lang.clone(), Value::Object(set.collect()))
        })
        .collect();
    json!({"default_language": c.default_language, "variants": variants})
}

/// Counts of one channel as JSON.
pub fn counts_json(c: &ChannelCounts) -> Value {
    json!({
        "channel": channel(c.channel), "queued": c.queued, "sent": c.sent, "delivered": c.delivered,
        "failed": c.failed, "expired": c.expired, "skipped": c.skipped,
    })
}

/// Progress as JSON.
pub fn progress_json(p: &Progress) -> Value {
    json!({
        "recipients": p.recipients, "acknowledged": p.acknowledged,
        "channels": p.channels.iter().map(counts_json).collect::<Vec<_>>(),
        "first_sent_at_ms": p.first_sent_at_ms, "last_sent_at_ms": p.last_sent_at_ms,
        "shards": p.shards, "shards_done": p.shards_done,
    })
}

/// A policy as JSON: `[{"channels": ["sms"], "after_seconds": 0}, …]`.
pub fn policy_json(steps: &[EscalationStep]) -> Value {
    let steps: Vec<Value> = steps
        .iter()
        .map(|s| {
            let names: Vec<String> = s.channels.iter().map(|c| channel(*c)).collect();
            json!({"channels": names, "after_seconds": s.after_seconds})
        })
        .collect();
    Value::Array(steps)
}

/// An alert as JSON.
pub fn alert_json(a: &Alert) -> Value {
    let variables: std::collections::BTreeMap<&String, &String> = a.variables.iter().collect();
    json!({
        "id": a.id, "idempotency_key": a.idempotency_key, "title": a.title,
        "priority": priority(a.priority), "status": status(a.status),
        "content": a.content.as_ref().map(content_json), "variables": variables,
        "policy": policy_json(&a.policy), "group_ids": a.group_ids,
        "created_at_ms": a.created_at_ms, "created_by": a.created_by,
        "send_at_ms": a.send_at_ms, "expires_at_ms": a.expires_at_ms,
        "recipients_planned": a.recipients_planned,
        "progress": a.progress.as_ref().map(progress_json),
        "cancelled_at_ms": a.cancelled_at_ms, "cancelled_by": a.cancelled_by,
        "completed_at_ms": a.completed_at_ms,
        "answer_options": a.answer_options.iter().map(|o| {
            let labels: std::collections::BTreeMap<&String, &String> = o.labels.iter().collect();
            json!({"labels": labels, "acknowledges": o.acknowledges})
        }).collect::<Vec<_>>(),
        "answer_counts": a.answer_counts,
    })
}

/// An audit record as JSON.
pub fn audit_json(r: &AuditRecord) -> Value {
    json!({
        "log_index": r.log_index, "at_ms": r.at_ms, "credential_id": r.credential_id,
        "action": r.action, "target": r.target, "detail": r.detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: times and durations read the way the docs show them.
    /// Method: known instants, zero, an out-of-range value, one duration per range.
    #[test]
    fn times_and_durations() {
        assert_eq!(time(0), "-");
        assert_eq!(time(1_795_000_000_123), "2026-11-18T11:06:40Z");
        assert_eq!(time(u64::MAX), format!("{} ms", u64::MAX));
        assert_eq!(
            [duration(850), duration(12_400), duration(185_000), duration(7_800_000)],
            ["850ms", "12.4s", "3m05s", "2h10m"]
        );
    }

    /// Goal: enums get their short lower-case names, unknown values stay visible.
    /// Method: one value of each enum, priority's unspecified, an unknown role.
    #[test]
    fn enum_names() {
        assert_eq!(role(Role::Operator as i32), "operator");
        assert_eq!(channel(Channel::Email as i32), "email");
        assert_eq!(priority(0), "routine");
        assert_eq!(priority(Priority::Crisis as i32), "crisis");
        assert_eq!(status(AlertStatus::Active as i32), "active");
        assert_eq!(role(42), "unknown(42)");
        assert!(is_final(AlertStatus::Expired as i32) && !is_final(AlertStatus::Scheduled as i32));
        let steps = [
            EscalationStep { channels: vec![1, 4], after_seconds: 0 },
            EscalationStep { channels: vec![2], after_seconds: 300 },
        ];
        assert_eq!(policy(&steps), "sms,push@0;voice@300");
    }

    /// Goal: a paged table keeps the first page's columns and prints the header once.
    /// Method: render two pages and compare the lines.
    #[test]
    fn table_pages() {
        let mut t = Table::new(&["id", "name"]);
        let row = |a: &str, b: &str| vec![a.to_string(), b.to_string()];
        let first = t.render(&[row("1", "brann"), row("22", "stab")]);
        let second = t.render(&[row("333", "x")]);
        assert_eq!(first, ["ID  NAME", "1   brann", "22  stab"]);
        assert_eq!(second, ["333  x"]);
    }
}
