//! Conversions between the public API's messages and the domain model, with input checks.
//!
//! Everything from a client is checked here with the domain rules before a request is
//! proposed, and every problem names its field.

use std::collections::BTreeMap;

use varsel_domain::location::{AreaTarget, Location, check_locations};
use varsel_domain::model::{
    Alert, AlertStatus, Channel, ChannelContent, Contact, ContactInput, ContactRef, Content, Credential,
    EscalationStep, Group, GroupRef, Limits, Priority, Role, StoredTemplate, Tenant,
};
use varsel_domain::{Rule, ValidationError, ValidationErrors, email, language, phone};
use varsel_proto::api as pb;
use varsel_raft_store::ops::DirectoryAttributes;
use varsel_raft_store::state_machine::domain::Progress;
use varsel_raft_store::state_machine::domain::directory::{DIRECTORY_ID_CHARS_MAX, DirectoryRecord};
use varsel_raft_store::state_machine::domain::locations::AreaRecord;

use crate::error::ApiError;

/// Longest Web Push subscription accepted.
pub const PUSH_SUBSCRIPTION_BYTES_MAX: usize = 4096;
/// Longest contact name.
pub const CONTACT_NAME_CHARS_MAX: usize = 200;
/// Longest external id.
pub const EXTERNAL_ID_CHARS_MAX: usize = 128;

/// Collected validation errors as one INVALID_ARGUMENT naming every field.
pub fn invalid(errors: ValidationErrors) -> ApiError {
    ApiError::Invalid(errors)
}

/// The model channel of a proto channel.
pub fn channel(c: i32, field: &str) -> Result<Channel, ApiError> {
    match pb::Channel::try_from(c) {
        Ok(pb::Channel::Sms) => Ok(Channel::Sms),
        Ok(pb::Channel::Voice) => Ok(Channel::Voice),
        Ok(pb::Channel::Email) => Ok(Channel::Email),
        Ok(pb::Channel::Push) => Ok(Channel::Push),
        _ => Err(ApiError::invalid(field, Rule::Channel, format!("unknown channel {c}"))),
    }
}

/// The proto channel of a model channel.
pub fn channel_pb(c: Channel) -> i32 {
    (match c {
        Channel::Sms => pb::Channel::Sms,
        Channel::Voice => pb::Channel::Voice,
        Channel::Email => pb::Channel::Email,
        Channel::Push => pb::Channel::Push,
    }) as i32
}

/// The model role of a proto role.
pub fn role(r: i32) -> Result<Role, ApiError> {
    match pb::Role::try_from(r) {
        Ok(pb::Role::Viewer) => Ok(Role::Viewer),
        Ok(pb::Role::Operator) => Ok(Role::Operator),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Ok(pb::Role::Superadmin) => Ok(Role::SuperAdmin),
        _ => Err(ApiError::invalid("role", Rule::Value, "must be viewer, operator or admin")),
    }
}

/// The proto role of a model role.
pub fn role_pb(r: Role) -> i32 {
    (match r {
        Role::Viewer => pb::Role::Viewer,
        Role::Operator => pb::Role::Operator,
        Role::Admin => pb::Role::Admin,
        Role::SuperAdmin => pb::Role::Superadmin,
    }) as i32
}

/// Limits from the API; absent fields take the default.
pub fn limits(l: Option<&pb::Limits>) -> Limits {
    let d = Limits::default();
    let Some(l) = l else { return d };
    let or = |v: u64, d: u64| if v == 0 { d } else { v };
    let or32 = |v: u32, d: u32| if v == 0 { d } else { v };
    Limits {
        max_recipients_per_alert: or(l.max_recipients_per_alert, d.max_recipients_per_alert),
        max_sms_segments: or32(l.max_sms_segments, d.max_sms_segments),
        max_alerts_per_minute: or32(l.max_alerts_per_minute, d.max_alerts_per_minute),
        max_messages_per_alert: or(l.max_messages_per_alert, d.max_messages_per_alert),
        max_send_rate_per_second: or32(l.max_send_rate_per_second, d.max_send_rate_per_second),
        max_contacts: or(l.max_contacts, d.max_contacts),
    }
}

/// Proto limits.
pub fn limits_pb(l: &Limits) -> pb::Limits {
    pb::Limits {
        max_recipients_per_alert: l.max_recipients_per_alert,
        max_sms_segments: l.max_sms_segments,
        max_alerts_per_minute: l.max_alerts_per_minute,
        max_messages_per_alert: l.max_messages_per_alert,
        max_send_rate_per_second: l.max_send_rate_per_second,
        max_contacts: l.max_contacts,
    }
}

/// A proto tenant.
pub fn tenant_pb(t: &Tenant) -> pb::Tenant {
    pb::Tenant {
        id: t.id,
        name: t.name.clone(),
        limits: Some(limits_pb(&t.limits)),
        created_at_ms: t.created_at_ms,
    }
}

/// A proto credential (never with its hash).
pub fn credential_pb(c: &Credential) -> pb::Credential {
    pb::Credential {
        id: c.id,
        tenant_id: c.tenant,
        name: c.name.clone(),
        role: role_pb(c.role),
        created_at_ms: c.created_at_ms,
        revoked: c.revoked,
    }
}

fn opt(s: &str) -> Option<&str> {
    let t = s.trim();
    (!t.is_empty()).then_some(t)
}

fn check_text(field: &str, v: &str, max: usize, errors: &mut ValidationErrors) {
    let n = v.chars().count();
    if n > max {
        errors.push(ValidationError::new(
            field,
            Rule::TooLong,
            format!("must be at most {max} characters, got {n}"),
        ));
    } else if v.chars().any(char::is_control) {
        errors.push(ValidationError::new(field, Rule::Characters, "must not contain control characters"));
    }
}

/// A contact from the API, checked.
pub fn contact_input(c: &pb::Contact) -> Result<ContactInput, ApiError> {
    let mut errors = ValidationErrors::new();
    let external_id = c.external_id.trim().to_string();
    if external_id.is_empty() {
        errors.push(ValidationError::new("contact.external_id", Rule::Required, "is required"));
    }
    check_text("contact.external_id", &external_id, EXTERNAL_ID_CHARS_MAX, &mut errors);
    if let Some(n) = opt(&c.name) {
        check_text("contact.name", n, CONTACT_NAME_CHARS_MAX, &mut errors);
    }
    let phone = opt(&c.phone).and_then(|p| errors.check(phone::normalize_e164("contact.phone", p)));
    let email = opt(&c.email).and_then(|e| errors.check(email::validate_email("contact.email", e)));
    let language =
        opt(&c.language).and_then(|l| errors.check(language::normalize_language("contact.language", l)));
    let push = opt(&c.push_subscription).map(str::to_string);
    if let Some(p) = &push
        && (p.len() > PUSH_SUBSCRIPTION_BYTES_MAX || !p.starts_with('{'))
    {
        let m = format!(
            "must be a Web Push subscription JSON object of at most {PUSH_SUBSCRIPTION_BYTES_MAX} bytes"
        );
        errors.push(ValidationError::new("contact.push_subscription", Rule::PushSubscription, m));
    }
    if phone.is_none() && email.is_none() && push.is_none() && errors.is_empty() {
        let m = "needs at least one of phone, email or push_subscription";
        errors.push(ValidationError::new("contact", Rule::Required, m));
    }
    let mut opt_out = std::collections::BTreeSet::new();
    for (i, ch) in c.opted_out.iter().enumerate() {
        match channel(*ch, &format!("contact.opted_out[{i}]")) {
            Ok(ch) => {
                opt_out.insert(ch);
            }
            Err(ApiError::Invalid(e)) => e.into_iter().for_each(|e| errors.push(e)),
            Err(_) => {}
        }
    }
    for (i, g) in c.groups.iter().enumerate() {
        check_text(&format!("contact.groups[{i}]"), g, 128, &mut errors);
    }
    errors.into_result().map_err(invalid)?;
    let name = opt(&c.name).map(str::to_string);
    Ok(ContactInput { external_id, name, phone, email, push, language, opt_out, groups: c.groups.clone() })
}

/// A proto contact.
pub fn contact_pb(c: &Contact, groups: &[Group]) -> pb::Contact {
    pb::Contact {
        id: c.id,
        external_id: c.external_id.clone(),
        name: c.name.clone().unwrap_or_default(),
        phone: c.phone.clone().unwrap_or_default(),
        email: c.email.clone().unwrap_or_default(),
        push_subscription: c.push.clone().unwrap_or_default(),
        language: c.language.clone().unwrap_or_default(),
        opted_out: c.opt_out.iter().map(|ch| channel_pb(*ch)).collect(),
        groups: groups.iter().map(|g| g.name.clone()).collect(),
        updated_at_ms: c.updated_at_ms,
        push_invalid: c.push_invalid,
        ..Default::default()
    }
}

/// A proto contact with its directory attributes (SCIM) filled from their record, and its
/// places.
pub fn contact_dir_pb(
    c: &Contact,
    groups: &[Group],
    d: Option<&DirectoryRecord>,
    locations: &[Location],
) -> pb::Contact {
    let mut out = contact_pb(c, groups);
    out.locations = locations.iter().map(location_pb).collect();
    if let Some(d) = d {
        out.directory_id = d.directory_id.clone().unwrap_or_default();
        out.inactive = d.inactive;
        out.created_at_ms = d.created_at_ms;
    }
    out
}

/// A proto place.
pub fn location_pb(l: &Location) -> pb::Location {
    pb::Location {
        name: l.name.clone(),
        lat: l.lat(),
        lon: l.lon(),
        address: l.address.clone().unwrap_or_default(),
    }
}

/// A contact's places from the API, checked; errors name `contact.locations[i].field`.
pub fn locations_input(ls: &[pb::Location]) -> Result<Vec<Location>, ApiError> {
    let mut errors = ValidationErrors::new();
    let mut out = Vec::with_capacity(ls.len());
    for (i, l) in ls.iter().enumerate() {
        let address = opt(&l.address).map(str::to_string);
        match Location::from_degrees(&l.name, l.lat, l.lon, address) {
            Ok(l) => out.push(l),
            Err(e) => errors.push(e.in_field(&format!("contact.locations[{i}]"))),
        }
    }
    errors.into_result().map_err(invalid)?;
    check_locations(&out).map_err(|e| invalid(e.in_field("contact").into()))?;
    Ok(out)
}

/// An alert's area targets from the API, checked with the same parser the state machine
/// uses; errors name `targets.area_polygons[i]` or `targets.area_circles[i]`.
pub fn area_input(t: Option<&pb::Targets>) -> Result<Option<AreaTarget>, ApiError> {
    let Some(t) = t else { return Ok(None) };
    if t.area_polygons.is_empty()
        && t.area_circles.is_empty()
        && t.within_groups.is_empty()
        && !t.allow_empty_area
    {
        return Ok(None);
    }
    let mut errors = ValidationErrors::new();
    for (i, p) in t.area_polygons.iter().enumerate() {
        if let Err(e) = varsel_geo::Polygon::parse(p) {
            errors.push(ValidationError::new(
                format!("targets.area_polygons[{i}]"),
                Rule::Value,
                e.to_string(),
            ));
        }
    }
    for (i, c) in t.area_circles.iter().enumerate() {
        if let Err(e) = varsel_geo::Circle::parse(c) {
            errors.push(ValidationError::new(
                format!("targets.area_circles[{i}]"),
                Rule::Value,
                e.to_string(),
            ));
        }
    }
    errors.into_result().map_err(invalid)?;
    Ok(Some(AreaTarget {
        polygons: t.area_polygons.iter().map(|p| p.trim().to_string()).collect(),
        circles: t.area_circles.iter().map(|c| c.trim().to_string()).collect(),
        within_groups: t.within_groups.iter().map(|g| GroupRef::Name(g.trim().to_string())).collect(),
        allow_empty: t.allow_empty_area,
    }))
}

/// An alert's areas for the API.
pub fn alert_area_pb(r: &AreaRecord) -> pb::AlertArea {
    pb::AlertArea {
        polygons: r.target.polygons.clone(),
        circles: r.target.circles.clone(),
        within_groups: r
            .target
            .within_groups
            .iter()
            .map(|g| match g {
                GroupRef::Name(n) => n.clone(),
                GroupRef::Id(id) => id.to_string(),
            })
            .collect(),
        matched: r.matched,
    }
}

/// Directory attributes from the API, checked (the same bounds the state machine applies).
pub fn directory_input(d: &pb::DirectoryAttributes) -> Result<DirectoryAttributes, ApiError> {
    let mut errors = ValidationErrors::new();
    let id = d.directory_id.trim();
    check_text("directory.directory_id", id, DIRECTORY_ID_CHARS_MAX, &mut errors);
    errors.into_result().map_err(invalid)?;
    Ok(DirectoryAttributes { directory_id: opt(id).map(str::to_string), inactive: d.inactive })
}

/// A contact row from a CSV import.
pub fn contact_from_row(r: &varsel_domain::csv_import::ContactRow) -> ContactInput {
    ContactInput {
        external_id: r.external_id.clone(),
        name: r.name.clone(),
        phone: r.phone.clone(),
        email: r.email.clone(),
        push: r.push.clone(),
        language: r.language.clone(),
        opt_out: r.opt_out.clone(),
        groups: r.groups.clone(),
    }
}

/// A proto group.
pub fn group_pb(g: &Group) -> pb::Group {
    pb::Group {
        id: g.id,
        name: g.name.clone(),
        member_count: g.member_count,
        created_at_ms: g.created_at_ms,
        directory_id: String::new(),
    }
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Content from the API (languages are normalised by the alert rules).
pub fn content(c: Option<&pb::Content>) -> Content {
    let Some(c) = c else { return Content::default() };
    let variants = c
        .variants
        .iter()
        .map(|(lang, v)| {
            let cc = ChannelContent {
                sms_text: some(&v.sms_text),
                email_subject: some(&v.email_subject),
                email_text: some(&v.email_text),
                email_html: some(&v.email_html),
                voice_script: some(&v.voice_script),
                push_title: some(&v.push_title),
                push_body: some(&v.push_body),
            };
            (lang.clone(), cc)
        })
        .collect();
    Content { default_language: c.default_language.clone(), variants }
}

/// Proto content.
pub fn content_pb(c: &Content) -> pb::Content {
    let variants = c
        .variants
        .iter()
        .map(|(lang, v)| {
            let s = |o: &Option<String>| o.clone().unwrap_or_default();
            let cc = pb::ChannelContent {
                sms_text: s(&v.sms_text),
                email_subject: s(&v.email_subject),
                email_text: s(&v.email_text),
                email_html: s(&v.email_html),
                voice_script: s(&v.voice_script),
                push_title: s(&v.push_title),
                push_body: s(&v.push_body),
            };
            (lang.clone(), cc)
        })
        .collect();
    pb::Content { default_language: c.default_language.clone(), variants }
}

/// A proto template.
pub fn template_pb(t: &StoredTemplate) -> pb::Template {
    pb::Template {
        name: t.name.clone(),
        content: Some(content_pb(&t.content)),
        updated_at_ms: t.updated_at_ms,
    }
}

/// The model priority of a proto priority.
pub fn priority(p: i32) -> Result<Priority, ApiError> {
    match pb::Priority::try_from(p) {
        Ok(pb::Priority::Unspecified | pb::Priority::Routine) => Ok(Priority::Routine),
        Ok(pb::Priority::Urgent) => Ok(Priority::Urgent),
        Ok(pb::Priority::Crisis) => Ok(Priority::Crisis),
        Err(_) => Err(ApiError::invalid("priority", Rule::Value, format!("unknown value {p}"))),
    }
}

fn priority_pb(p: Priority) -> i32 {
    (match p {
        Priority::Routine => pb::Priority::Routine,
        Priority::Urgent => pb::Priority::Urgent,
        Priority::Crisis => pb::Priority::Crisis,
    }) as i32
}

/// The escalation policy from the API.
pub fn policy(steps: &[pb::EscalationStep]) -> Result<Vec<EscalationStep>, ApiError> {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let channels = s
                .channels
                .iter()
                .enumerate()
                .map(|(j, c)| channel(*c, &format!("policy[{i}].channels[{j}]")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(EscalationStep { channels, after_seconds: s.after_seconds })
        })
        .collect()
}

/// Targets from the API.
pub fn targets(t: Option<&pb::Targets>) -> (Vec<GroupRef>, Vec<ContactRef>) {
    let Some(t) = t else { return (Vec::new(), Vec::new()) };
    let groups = t
        .group_ids
        .iter()
        .map(|g| GroupRef::Id(*g))
        .chain(t.group_names.iter().map(|n| GroupRef::Name(n.clone())));
    let contacts = t
        .contact_ids
        .iter()
        .map(|c| ContactRef::Id(*c))
        .chain(t.contact_external_ids.iter().map(|e| ContactRef::External(e.clone())));
    (groups.collect(), contacts.collect())
}

fn status_pb(s: AlertStatus) -> i32 {
    (match s {
        AlertStatus::Scheduled => pb::AlertStatus::Scheduled,
        AlertStatus::Active => pb::AlertStatus::Active,
        AlertStatus::Completed => pb::AlertStatus::Completed,
        AlertStatus::Cancelled => pb::AlertStatus::Cancelled,
        AlertStatus::Expired => pb::AlertStatus::Expired,
        AlertStatus::Held => pb::AlertStatus::Held,
    }) as i32
}

/// Proto progress.
pub fn progress_pb(p: &Progress, shards: u32) -> pb::Progress {
    let channels = p
        .channels
        .iter()
        .map(|(c, n)| pb::ChannelCounts {
            channel: channel_pb(*c),
            queued: n.queued,
            sent: n.sent,
            delivered: n.delivered,
            failed: n.failed,
            expired: n.expired,
            skipped: n.skipped,
        })
        .collect();
    pb::Progress {
        recipients: p.recipients,
        acknowledged: p.acknowledged,
        channels,
        first_sent_at_ms: p.first_sent_at_ms.unwrap_or(0),
        last_sent_at_ms: p.last_sent_at_ms.unwrap_or(0),
        shards,
        shards_done: p.shards_done,
    }
}

/// An answer option as asked for (checked by `varsel_domain::answers::validate`).
pub fn answer_option(o: &pb::AnswerOption) -> varsel_domain::answers::AnswerOption {
    varsel_domain::answers::AnswerOption {
        labels: o.labels.iter().map(|(l, t)| (l.trim().to_string(), t.trim().to_string())).collect(),
        acknowledges: o.acknowledges,
    }
}

/// An answer option in the API.
pub fn answer_option_pb(o: &varsel_domain::answers::AnswerOption) -> pb::AnswerOption {
    pb::AnswerOption { labels: o.labels.clone().into_iter().collect(), acknowledges: o.acknowledges }
}

/// A proto alert with its progress.
pub fn alert_pb(a: &Alert, progress: &Progress, area: Option<&AreaRecord>) -> pb::Alert {
    let (cancelled_at_ms, cancelled_by) = a.cancelled.unwrap_or((0, 0));
    pb::Alert {
        id: a.id,
        idempotency_key: a.spec.idempotency_key.clone(),
        title: a.spec.title.clone(),
        priority: priority_pb(a.spec.priority),
        status: status_pb(a.status),
        content: Some(content_pb(&a.spec.content)),
        variables: a.spec.variables.clone().into_iter().collect::<BTreeMap<_, _>>().into_iter().collect(),
        policy: a
            .spec
            .policy
            .iter()
            .map(|s| pb::EscalationStep {
                channels: s.channels.iter().map(|c| channel_pb(*c)).collect(),
                after_seconds: s.after_seconds,
            })
            .collect(),
        created_at_ms: a.created_at_ms,
        created_by: a.created_by,
        send_at_ms: a.start_ms,
        expires_at_ms: a.expires_ms,
        recipients_planned: a.recipients_planned,
        progress: Some(progress_pb(progress, a.shards)),
        cancelled_at_ms,
        cancelled_by,
        group_ids: a.groups.iter().map(|g| g.group).filter(|g| area.is_none_or(|r| r.group != *g)).collect(),
        completed_at_ms: a.finished_at_ms.unwrap_or(0),
        area: area.map(alert_area_pb),
        answer_options: Vec::new(),
        answer_counts: Vec::new(),
    }
}

/// Parses a page token (a decimal id); empty is the first page.
pub fn page_token(token: &str) -> Result<Option<u64>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    token.parse().map(Some).map_err(|_| {
        ApiError::invalid("page_token", Rule::Value, format!("{token:?} is not a token this API issued"))
    })
}

/// The page size asked for, bounded.
pub fn page_size(requested: u32, default: usize) -> usize {
    if requested == 0 {
        default
    } else {
        (requested as usize).min(varsel_raft_store::state_machine::domain::query::PAGE_MAX)
    }
}
