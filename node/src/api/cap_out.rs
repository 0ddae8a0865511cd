//! Alerts as CAP 1.2 documents, and a tenant's Atom feed of them.
//!
//! An alert that came in as CAP is served as the message it came from (see `cap.rs`). One made
//! through the API is described here: identifier `varsel-<tenant>-<alert>`, sender
//! `tenant-<tenant>@varsel`, scope Restricted (it went to the tenant's own recipients), one
//! `info` per language variant with the title as event and headline, the e-mail text (else the
//! SMS text) as description, and urgency, severity and certainty from its priority:
//!
//! | priority | urgency | severity | certainty |
//! |---|---|---|---|
//! | crisis | Immediate | Severe | Observed |
//! | urgent | Expected | Moderate | Likely |
//! | routine | Future | Minor | Possible |

use varsel_cap::{
    Area, CapAlert, CapDateTime, Category, Certainty, Feed, FeedEntry, Info, MsgType, Scope, Severity,
    Status, Urgency,
};
use varsel_domain::cap_route::CapRecord;
use varsel_proto::api as pb;

/// What a restricted alert's `restriction` says.
const RESTRICTION: &str = "Sent to the recipients registered with the issuing organisation";

fn time_of_ms(ms: u64) -> Option<CapDateTime> {
    CapDateTime::from_unix_seconds(i64::try_from(ms / 1000).ok()?)
}

fn levels(priority: i32) -> (Urgency, Severity, Certainty) {
    match pb::Priority::try_from(priority).unwrap_or(pb::Priority::Routine) {
        pb::Priority::Crisis => (Urgency::Immediate, Severity::Severe, Certainty::Observed),
        pb::Priority::Urgent => (Urgency::Expected, Severity::Moderate, Certainty::Likely),
        pb::Priority::Routine | pb::Priority::Unspecified => {
            (Urgency::Future, Severity::Minor, Certainty::Possible)
        }
    }
}

/// The CAP document of an alert made through the API; checked by the CAP reader before it is
/// returned, so what is served always validates.
pub fn of_alert(tenant: u64, alert: &pb::Alert) -> Result<CapAlert, String> {
    let sent = time_of_ms(alert.created_at_ms).ok_or("creation time out of range")?;
    let (urgency, severity, certainty) = levels(alert.priority);
    let content = alert.content.clone().unwrap_or_default();
    let mut languages: Vec<&String> = content.variants.keys().collect();
    languages.sort_by_key(|l| (**l != content.default_language, (*l).clone()));
    let expires = if alert.expires_at_ms > 0 { time_of_ms(alert.expires_at_ms) } else { None };
    let infos = languages
        .into_iter()
        .map(|lang| {
            let v = &content.variants[lang];
            let text = if v.email_text.trim().is_empty() { &v.sms_text } else { &v.email_text };
            Info {
                language: lang.clone(),
                categories: vec![Category::Other],
                event: alert.title.clone(),
                response_types: Vec::new(),
                urgency,
                severity,
                certainty,
                audience: None,
                event_codes: Vec::new(),
                effective: None,
                onset: None,
                expires,
                sender_name: None,
                headline: Some(alert.title.clone()),
                description: (!text.trim().is_empty()).then(|| text.clone()),
                instruction: None,
                web: None,
                contact: None,
                parameters: Vec::new(),
                resources: Vec::new(),
                areas: Vec::<Area>::new(),
            }
        })
        .collect();
    let cancelled = alert.status == pb::AlertStatus::Cancelled as i32;
    let cap = CapAlert {
        identifier: format!("varsel-{tenant}-{}", alert.id),
        sender: format!("tenant-{tenant}@varsel"),
        sent,
        status: Status::Actual,
        msg_type: MsgType::Alert,
        source: None,
        scope: Scope::Restricted,
        restriction: Some(RESTRICTION.into()),
        addresses: None,
        codes: Vec::new(),
        note: cancelled.then(|| "This alert was cancelled.".to_string()),
        references: Vec::new(),
        incidents: None,
        infos,
    };
    cap.validate().map_err(|e| e.to_string())?;
    Ok(cap)
}

/// An Atom feed of `records` (the tenant's public alerts that came in as CAP, newest first).
pub fn feed(tenant: u64, tenant_name: &str, records: &[CapRecord]) -> String {
    let entries: Vec<FeedEntry> = records
        .iter()
        .filter_map(|r| {
            let cap = varsel_cap::parse(&r.xml).ok()?;
            let alert = r.alert?;
            Some(FeedEntry::for_alert(
                &cap,
                format!("urn:varsel:alert:{tenant}:{alert}"),
                format!("/api/v1/alerts/{alert}.cap"),
            ))
        })
        .collect();
    let updated = records
        .first()
        .and_then(|r| time_of_ms(r.sent_ms))
        .or_else(|| time_of_ms(varsel_domain::clock::wall_ms()))
        .or_else(|| time_of_ms(0));
    let name = if tenant_name.is_empty() { format!("tenant {tenant}") } else { tenant_name.to_string() };
    match updated {
        Some(updated) => varsel_cap::atom_feed(
            &Feed {
                id: format!("urn:varsel:tenant:{tenant}:cap"),
                title: format!("{name}: public alerts"),
                updated,
                author_name: name,
                self_url: Some("/api/v1/cap/feed".into()),
            },
            &entries,
        ),
        // Unreachable: the epoch is a CAP time. An empty feed document is still well-formed.
        None => String::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\"/>\n",
        ),
    }
}
