//! Rules for an alert request: content per channel and language, template variables, SMS
//! segments, the channel policy and timing.
//!
//! [`validate`] reports every problem at once, each naming its field. It runs on the node that
//! receives the request (so the caller gets all errors before anything is proposed) and again
//! in the state machine with the tenant's limits as committed (the authoritative check).

use std::collections::{BTreeMap, BTreeSet};

use crate::error::quoted;
use crate::location::AreaTarget;
use crate::model::{AlertSpec, Channel, ChannelContent, Content, EscalationStep, Limits};
use crate::template::Template;
use crate::{Rule, ValidationError, ValidationErrors, language, sms};

/// Per-recipient variables every template may use besides the alert's own.
pub const CONTACT_VARIABLES: [&str; 3] = ["name", "external_id", crate::answers::LINK_VARIABLE];
/// Longest title.
pub const TITLE_CHARS_MAX: usize = 200;
/// Longest idempotency key.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = crate::idempotency::KEY_CHARS_MAX;
/// Most escalation steps.
pub const STEPS_MAX: usize = 8;
/// Latest escalation step, after the start.
pub const STEP_AFTER_SECONDS_MAX: u32 = 7 * 24 * 3600;
/// Most alert variables.
pub const VARIABLES_MAX: usize = 64;
/// Longest value of an alert variable.
pub const VARIABLE_VALUE_CHARS_MAX: usize = 1024;
/// Most language variants.
pub const LANGUAGES_MAX: usize = 16;
/// Most polygons and circles one alert targets.
pub const TARGET_AREAS_MAX: usize = 16;
/// Most groups one alert targets.
pub const TARGET_GROUPS_MAX: usize = 64;
/// Most contacts one alert targets directly (larger audiences belong in groups).
pub const TARGET_CONTACTS_MAX: usize = 10_000;
/// Longest SMS, voice script or push text before segment limits even apply.
pub const SHORT_TEXT_CHARS_MAX: usize = 5_000;
/// Longest e-mail body.
pub const EMAIL_BODY_BYTES_MAX: usize = 256 * 1024;
/// Lifetime of an alert when the request gives no expiry.
pub const DEFAULT_LIFETIME_MS: u64 = 24 * 3600 * 1000;
/// Furthest an alert may be scheduled ahead.
pub const SCHEDULE_AHEAD_MS_MAX: u64 = 366 * 24 * 3600 * 1000;

/// Checks a whole alert request against `limits`, at time `now_ms`. Fills in the defaults
/// (a policy that sends every channel with content at once; the language tags normalised).
pub fn validate(spec: &mut AlertSpec, limits: &Limits, now_ms: u64) -> Result<(), ValidationErrors> {
    validate_with_area(spec, None, limits, now_ms)
}

/// [`validate`] for an alert that may also target areas: with an area, groups and contacts
/// may be left out. (The areas' own syntax is `varsel-geo`'s to check.)
pub fn validate_with_area(
    spec: &mut AlertSpec,
    area: Option<&AreaTarget>,
    limits: &Limits,
    now_ms: u64,
) -> Result<(), ValidationErrors> {
    let mut errors = ValidationErrors::new();
    check_header(spec, &mut errors);
    normalise_languages(&mut spec.content, &mut errors);
    if spec.policy.is_empty() {
        spec.policy = default_policy(&spec.content);
    }
    check_policy(&spec.policy, &mut errors);
    check_variables(&spec.variables, &mut errors);
    let channels = spec.channels();
    check_content(&spec.content, &channels, &spec.variables, limits.max_sms_segments, &mut errors);
    check_targets(spec, area, &mut errors);
    check_times(spec, now_ms, &mut errors);
    errors.into_result()
}

fn err(field: impl Into<String>, rule: Rule, message: impl Into<String>) -> ValidationError {
    ValidationError::new(field, rule, message)
}

fn check_header(spec: &AlertSpec, errors: &mut ValidationErrors) {
    let key = spec.idempotency_key.trim();
    if key.is_empty() {
        errors.push(err(
            "idempotency_key",
            Rule::Required,
            "is required so a retried request never creates a second alert",
        ));
    } else if key.chars().count() > IDEMPOTENCY_KEY_CHARS_MAX {
        errors.push(err(
            "idempotency_key",
            Rule::TooLong,
            format!("must be at most {IDEMPOTENCY_KEY_CHARS_MAX} characters"),
        ));
    }
    if spec.title.trim().is_empty() {
        errors.push(err("title", Rule::Required, "is required"));
    } else if spec.title.chars().count() > TITLE_CHARS_MAX {
        errors.push(err("title", Rule::TooLong, format!("must be at most {TITLE_CHARS_MAX} characters")));
    }
}

fn normalise_languages(content: &mut Content, errors: &mut ValidationErrors) {
    match language::normalize_language("content.default_language", &content.default_language) {
        Ok(l) => content.default_language = l,
        Err(e) => errors.push(e),
    }
    if content.variants.len() > LANGUAGES_MAX {
        errors.push(err("content.variants", Rule::TooMany, format!("at most {LANGUAGES_MAX} languages")));
    }
    let mut normalised = BTreeMap::new();
    for (lang, variant) in std::mem::take(&mut content.variants) {
        match language::normalize_language(&format!("content.variants[{}]", quoted(&lang)), &lang) {
            Ok(l) => {
                normalised.insert(l, variant);
            }
            Err(e) => errors.push(e),
        }
    }
    content.variants = normalised;
    if !content.variants.contains_key(&content.default_language) {
        errors.push(err(
            "content.default_language",
            Rule::Required,
            format!("{} has no variant in content.variants", quoted(&content.default_language)),
        ));
    }
}

/// The policy used when a request gives none: every channel the default variant has
/// content for, at once.
pub fn default_policy(content: &Content) -> Vec<EscalationStep> {
    let Some(v) = content.variants.get(&content.default_language) else { return Vec::new() };
    let channels: Vec<Channel> = Channel::ALL.into_iter().filter(|c| v.has(*c)).collect();
    if channels.is_empty() { Vec::new() } else { vec![EscalationStep { channels, after_seconds: 0 }] }
}

fn check_policy(policy: &[EscalationStep], errors: &mut ValidationErrors) {
    if policy.is_empty() {
        errors.push(err(
            "policy",
            Rule::Required,
            "needs at least one step with a channel (or content for one)",
        ));
        return;
    }
    if policy.len() > STEPS_MAX {
        errors.push(err("policy", Rule::TooMany, format!("at most {STEPS_MAX} steps")));
    }
    let mut seen = BTreeSet::new();
    let mut previous: Option<u32> = None;
    for (i, step) in policy.iter().enumerate() {
        let field = format!("policy[{i}]");
        if step.channels.is_empty() {
            errors.push(err(format!("{field}.channels"), Rule::Required, "needs at least one channel"));
        }
        for c in &step.channels {
            if !seen.insert(*c) {
                errors.push(err(
                    format!("{field}.channels"),
                    Rule::Duplicate,
                    format!("{c} is already used by an earlier step"),
                ));
            }
        }
        if step.after_seconds > STEP_AFTER_SECONDS_MAX {
            errors.push(err(
                format!("{field}.after_seconds"),
                Rule::Range,
                format!("must be at most {STEP_AFTER_SECONDS_MAX}"),
            ));
        }
        if i == 0 && step.after_seconds != 0 {
            errors.push(err(
                format!("{field}.after_seconds"),
                Rule::Range,
                "the first step starts with the alert: must be 0",
            ));
        }
        if previous.is_some_and(|p| step.after_seconds <= p) {
            errors.push(err(
                format!("{field}.after_seconds"),
                Rule::Range,
                "must be later than the previous step",
            ));
        }
        previous = Some(step.after_seconds);
    }
}

fn check_variables(vars: &BTreeMap<String, String>, errors: &mut ValidationErrors) {
    if vars.len() > VARIABLES_MAX {
        errors.push(err("variables", Rule::TooMany, format!("at most {VARIABLES_MAX} variables")));
    }
    for (name, value) in vars {
        if CONTACT_VARIABLES.contains(&name.as_str()) {
            let m = format!("{} is filled in per recipient and cannot be set on the alert", quoted(name));
            errors.push(err(format!("variables[{}]", quoted(name)), Rule::Duplicate, m));
        }
        if value.chars().count() > VARIABLE_VALUE_CHARS_MAX {
            let m = format!("must be at most {VARIABLE_VALUE_CHARS_MAX} characters");
            errors.push(err(format!("variables[{}]", quoted(name)), Rule::TooLong, m));
        }
    }
}

fn check_content(
    content: &Content,
    channels: &BTreeSet<Channel>,
    vars: &BTreeMap<String, String>,
    max_segments: u32,
    errors: &mut ValidationErrors,
) {
    if let Some(default) = content.variants.get(&content.default_language) {
        for c in channels {
            if !default.has(*c) {
                let field = format!("content.variants[{}].{}", content.default_language, channel_field(*c));
                let m = format!(
                    "is required because the policy sends {c} (the default language must cover every channel)"
                );
                errors.push(err(field, Rule::Required, m));
            }
        }
    }
    let known: BTreeSet<&str> = vars.keys().map(String::as_str).chain(CONTACT_VARIABLES).collect();
    for (lang, variant) in &content.variants {
        check_variant(&format!("content.variants[{lang}]"), variant, &known, vars, max_segments, errors);
    }
}

fn channel_field(c: Channel) -> &'static str {
    match c {
        Channel::Sms => "sms_text",
        Channel::Voice => "voice_script",
        Channel::Email => "email_subject",
        Channel::Push => "push_title",
    }
}

fn check_variant(
    field: &str,
    variant: &ChannelContent,
    known: &BTreeSet<&str>,
    vars: &BTreeMap<String, String>,
    max_segments: u32,
    errors: &mut ValidationErrors,
) {
    for (name, text) in variant.texts() {
        let f = format!("{field}.{name}");
        let max = if name.starts_with("email_") && name != "email_subject" {
            EMAIL_BODY_BYTES_MAX
        } else {
            SHORT_TEXT_CHARS_MAX
        };
        let size = if max == EMAIL_BODY_BYTES_MAX { text.len() } else { text.chars().count() };
        if size > max {
            errors.push(err(&f, Rule::TooLong, format!("is {size} long, the limit is {max}")));
            continue;
        }
        let template = match Template::parse(&f, text) {
            Ok(t) => t,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        if let Err(e) = template.check_known(known) {
            errors.push(e);
            continue;
        }
        if name == "sms_text" {
            check_sms_length(&f, &template, vars, max_segments, errors);
        }
    }
}

/// Counts segments with the alert's variables filled in and per-recipient ones left empty;
/// a recipient whose personalised text still exceeds the limit is failed at send time with that
/// reason, never truncated.
/// The fields of `content` whose templates use `variable` (e.g. the response link), as
/// `content.variants[nb].sms_text`; templates that do not parse are left to the content checks.
pub fn fields_using(content: &Content, variable: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (lang, variant) in &content.variants {
        for (name, text) in variant.texts() {
            if Template::parse(name, text).is_ok_and(|t| t.variables().contains(variable)) {
                out.push(format!("content.variants[{lang}].{name}"));
            }
        }
    }
    out
}

fn check_sms_length(
    field: &str,
    template: &Template,
    vars: &BTreeMap<String, String>,
    max_segments: u32,
    errors: &mut ValidationErrors,
) {
    let link = "x".repeat(crate::answers::LINK_CHARS);
    let rendered = template.render_with(|name| {
        if name == crate::answers::LINK_VARIABLE {
            Some(link.as_str())
        } else if CONTACT_VARIABLES.contains(&name) {
            Some("")
        } else {
            vars.get(name).map(String::as_str)
        }
    });
    match rendered {
        Ok(text) => {
            if let Err(e) = sms::check_segments(field, &text, max_segments) {
                errors.push(e);
            }
        }
        Err(e) => errors.push(e),
    }
}

fn check_targets(spec: &AlertSpec, area: Option<&AreaTarget>, errors: &mut ValidationErrors) {
    let areas = area.map_or(0, |a| a.polygons.len() + a.circles.len());
    if spec.groups.is_empty() && spec.contacts.is_empty() && areas == 0 {
        errors.push(err("targets", Rule::Required, "name at least one group, contact or area"));
    }
    if areas > TARGET_AREAS_MAX {
        errors.push(err(
            "targets.areas",
            Rule::TooMany,
            format!("at most {TARGET_AREAS_MAX} polygons and circles"),
        ));
    }
    if area.is_some_and(|a| !a.within_groups.is_empty()) && areas == 0 {
        errors.push(err(
            "targets.within_groups",
            Rule::Value,
            "restricts an area; name an area polygon or circle",
        ));
    }
    if spec.groups.len() > TARGET_GROUPS_MAX {
        errors.push(err("targets.groups", Rule::TooMany, format!("at most {TARGET_GROUPS_MAX} groups")));
    }
    if spec.contacts.len() > TARGET_CONTACTS_MAX {
        let m = format!("at most {TARGET_CONTACTS_MAX} contacts directly; put larger audiences in a group");
        errors.push(err("targets.contacts", Rule::TooMany, m));
    }
}

fn check_times(spec: &mut AlertSpec, now_ms: u64, errors: &mut ValidationErrors) {
    let start = spec.send_at_ms.unwrap_or(now_ms).max(now_ms);
    if start > now_ms.saturating_add(SCHEDULE_AHEAD_MS_MAX) {
        errors.push(err("send_at_ms", Rule::Range, "is more than a year ahead"));
    }
    if let Some(exp) = spec.expires_at_ms
        && exp <= start
    {
        errors.push(err("expires_at_ms", Rule::Range, "must be after the start of sending"));
    }
}

/// When an alert starts and stops, given the time it is accepted.
pub fn start_and_expiry(spec: &AlertSpec, accepted_ms: u64) -> (u64, u64) {
    let start = spec.send_at_ms.unwrap_or(accepted_ms).max(accepted_ms);
    let expires = spec.expires_at_ms.unwrap_or(start.saturating_add(DEFAULT_LIFETIME_MS));
    (start, expires)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::model::{GroupRef, Priority};

    fn spec(sms: &str) -> AlertSpec {
        let variant = ChannelContent { sms_text: Some(sms.into()), ..Default::default() };
        AlertSpec {
            idempotency_key: "k1".into(),
            title: "Flom".into(),
            priority: Priority::Crisis,
            content: Content {
                default_language: "nb".into(),
                variants: BTreeMap::from([("nb".into(), variant)]),
            },
            variables: BTreeMap::from([("area".into(), "Sentrum".into())]),
            groups: vec![GroupRef::Name("alle".into())],
            contacts: vec![],
            policy: vec![],
            send_at_ms: None,
            expires_at_ms: None,
        }
    }

    fn fields(r: Result<(), ValidationErrors>) -> Vec<String> {
        r.err()
            .map(|e| e.iter().map(|e| format!("{}:{}", e.field, e.rule.code())).collect())
            .unwrap_or_default()
    }

    /// Goal: a well-formed request passes and gets the default policy.
    #[test]
    fn valid_spec_gets_default_policy() {
        let mut s = spec("Hei {{name}}, evakuer {{area}} nå.");
        validate(&mut s, &Limits::default(), 1000).unwrap();
        assert_eq!(s.policy, vec![EscalationStep { channels: vec![Channel::Sms], after_seconds: 0 }]);
    }

    /// Goal: each rule is reported with its field; several at once.
    #[test]
    fn every_rule_names_its_field() {
        let mut s = spec("Hei {{navn}}");
        s.idempotency_key = String::new();
        s.policy = vec![EscalationStep { channels: vec![Channel::Sms, Channel::Voice], after_seconds: 0 }];
        let f = fields(validate(&mut s, &Limits::default(), 0));
        assert!(f.contains(&"idempotency_key:required".to_string()), "{f:?}");
        assert!(f.contains(&"content.variants[nb].sms_text:unknown_variable".to_string()), "{f:?}");
        assert!(f.contains(&"content.variants[nb].voice_script:required".to_string()), "{f:?}");

        let mut s = spec("x");
        s.policy = vec![
            EscalationStep { channels: vec![Channel::Sms], after_seconds: 0 },
            EscalationStep { channels: vec![Channel::Sms], after_seconds: 0 },
        ];
        s.groups.clear();
        let f = fields(validate(&mut s, &Limits::default(), 0));
        assert!(f.contains(&"policy[1].channels:duplicate".to_string()), "{f:?}");
        assert!(f.contains(&"policy[1].after_seconds:range".to_string()), "{f:?}");
        assert!(f.contains(&"targets:required".to_string()), "{f:?}");
    }

    /// Goal: the SMS segment limit counts the alert's variables, and an emoji forces UCS-2.
    #[test]
    fn sms_segments_limit_uses_variables() {
        let limits = Limits { max_sms_segments: 1, ..Limits::default() };
        let mut s = spec("{{area}}");
        s.variables.insert("area".into(), "a".repeat(161));
        assert_eq!(fields(validate(&mut s, &limits, 0)), vec!["content.variants[nb].sms_text:sms_segments"]);
        // The emoji is a surrogate pair: two UTF-16 units.
        let mut s = spec(&format!("{}😀", "a".repeat(68)));
        assert!(validate(&mut s, &limits, 0).is_ok(), "70 UCS-2 units fit one segment");
        let mut s = spec(&format!("{}😀", "a".repeat(69)));
        assert_eq!(fields(validate(&mut s, &limits, 0)), vec!["content.variants[nb].sms_text:sms_segments"]);
    }

    /// Goal: a recipient's language picks its variant, falling back per channel.
    #[test]
    fn variant_choice_falls_back_per_channel() {
        let mut s = spec("norsk");
        s.content
            .variants
            .insert("en".into(), ChannelContent { push_title: Some("english".into()), ..Default::default() });
        let v = s.content.variant_for(Some("en"), Channel::Sms).unwrap();
        assert_eq!(v.sms_text.as_deref(), Some("norsk"));
        let v = s.content.variant_for(Some("en"), Channel::Push).unwrap();
        assert_eq!(v.push_title.as_deref(), Some("english"));
    }

    /// Goal: times: expiry after start; past send_at means now.
    #[test]
    fn times() {
        let mut s = spec("x");
        s.send_at_ms = Some(10);
        s.expires_at_ms = Some(50);
        assert!(
            fields(validate(&mut s, &Limits::default(), 100)).contains(&"expires_at_ms:range".to_string())
        );
        assert_eq!(start_and_expiry(&spec("x"), 100), (100, 100 + DEFAULT_LIFETIME_MS));
    }
}
