//! Mapping a CAP alert onto a Varsel alert: the priority table, language codes, texts per
//! channel within the SMS segment limit, and the idempotency key.
#![allow(clippy::unwrap_used)]

mod common;

use varsel_cap::mapping::{channel_texts, language, priority};
use varsel_cap::{CapRule, Severity, Urgency, parse};
use varsel_domain::model::Priority;

/// Goal: the priority table is the documented one, cell by cell. Method: the table from the
/// module documentation written out as data.
#[test]
fn priority_table() {
    use Priority::{Crisis as C, Routine as R, Urgent as U};
    let severities =
        [Severity::Extreme, Severity::Severe, Severity::Moderate, Severity::Minor, Severity::Unknown];
    let table = [
        (Urgency::Immediate, [C, C, U, R, U]),
        (Urgency::Expected, [C, C, U, R, R]),
        (Urgency::Future, [U, U, R, R, R]),
        (Urgency::Unknown, [U, U, R, R, R]),
        (Urgency::Past, [R, R, R, R, R]),
    ];
    for (urgency, row) in table {
        for (severity, expected) in severities.iter().zip(row) {
            assert_eq!(priority(urgency, *severity), expected, "{urgency} × {severity}");
        }
    }
    let mut alert = parse(&common::fixture("a4_amber.xml")).unwrap();
    alert.infos[0].severity = Severity::Minor;
    assert_eq!(alert.priority(), Priority::Crisis, "the highest info wins");
    alert.infos.clear();
    assert_eq!(alert.priority(), Priority::Routine);
}

/// Goal: CAP languages become the tags contacts carry. Method: regional tags, the old
/// Norwegian and Hebrew codes, a Sami language, a private-use tag that Varsel cannot use.
#[test]
fn languages() {
    let mut info = parse(&common::fixture("a1_homeland_security.xml")).unwrap().infos.remove(0);
    for (cap, varsel) in [
        ("nb-NO", "nb"),
        ("NN-no", "nn"),
        ("no", "nb"),
        ("en-GB", "en"),
        ("se-NO", "se"),
        ("smj", "smj"),
        ("iw-IL", "he"),
    ] {
        info.language = cap.into();
        assert_eq!(language(&info, 3).unwrap(), varsel, "{cap}");
    }
    info.language = "x-private".into();
    let err = language(&info, 3).unwrap_err();
    assert_eq!((err.path.as_str(), err.rule), ("alert/info[3]/language", CapRule::Language));
}

/// Goal: texts per channel are made as documented. Method: the Norwegian flood alert with
/// a generous and a tight SMS limit.
#[test]
fn channel_texts_of_flood_alert() {
    let alert = parse(&common::fixture("n1_flood_alert.xml")).unwrap();
    let texts = channel_texts(&alert.infos[0], 1, 3).unwrap();
    assert_eq!(
        texts.sms_text,
        "Flom på Bryggen: evakuer nå\nForlat Bryggen og Torget straks. Gå mot Fløyen eller Sandviken."
    );
    assert_eq!(texts.email_subject, "Flom på Bryggen: evakuer nå");
    assert_eq!(
        texts.email_text,
        "Flom på Bryggen: evakuer nå\n\n\
         Vannstanden i Vågen stiger raskt. Bryggen og Torget er ventet under vann fra kl. 14.\n\n\
         Forlat Bryggen og Torget straks. Gå mot Fløyen eller Sandviken.\n\n\
         Bryggen og Torget\n\n\
         https://www.bergen.kommune.no/flom?område=bryggen&språk=nb\n\n\
         Kriseledelsen, telefon 55 56 00 00\n\n\
         Bergen kommune, beredskap"
    );
    assert_eq!(texts.email_html, "");
    assert_eq!(
        texts.voice_script,
        "Flom på Bryggen: evakuer nå. Forlat Bryggen og Torget straks. Gå mot Fløyen eller Sandviken."
    );
    assert_eq!(texts.push_title, "Flom på Bryggen: evakuer nå");
    assert_eq!(texts.push_body, "Forlat Bryggen og Torget straks. Gå mot Fløyen eller Sandviken.");
}

/// Goal: the SMS never gets cut: headline plus instruction when they fit, the headline alone
/// when only it fits, and an error naming the headline and the limit when not even it fits.
/// Method: a one-segment limit with a long instruction, then a headline of 161 septets.
#[test]
fn sms_segment_limit() {
    let mut info = parse(&common::fixture("n1_flood_alert.xml")).unwrap().infos.remove(1);
    info.instruction = Some("Leave now. ".repeat(20));
    let texts = channel_texts(&info, 2, 1).unwrap();
    assert_eq!(texts.sms_text, "Flood at Bryggen: evacuate now", "the instruction did not fit");
    assert_eq!(texts.push_body, "Leave now. ".repeat(20).trim(), "other channels keep it");
    info.headline = Some("x".repeat(161));
    let err = channel_texts(&info, 2, 1).unwrap_err();
    assert_eq!((err.path.as_str(), err.rule), ("alert/info[2]/headline", CapRule::SmsSegments));
    assert!(err.message.contains("needs 2 segments"), "{}", err.message);
    assert!(err.message.contains("more than the limit of 1"), "{}", err.message);
    assert_eq!(channel_texts(&info, 2, 2).unwrap().sms_text, "x".repeat(161));
}

/// Goal: without a headline the event is the title, and errors then name the event. Method:
/// drop the headline, check the texts and an over-long event.
#[test]
fn event_is_the_title_without_headline() {
    let mut info = parse(&common::fixture("a4_amber.xml")).unwrap().infos.remove(0);
    info.headline = None;
    let texts = channel_texts(&info, 1, 1).unwrap();
    assert_eq!(texts.sms_text, "Child Abduction");
    assert!(
        texts.push_body.starts_with("DATE/TIME: 06/11/03, 1915 HRS. VICTIM(S):"),
        "the description, whitespace collapsed"
    );
    info.event = "y".repeat(200);
    let err = channel_texts(&info, 1, 1).unwrap_err();
    assert_eq!(err.path, "alert/info[1]/event");
}

/// Goal: `{{` never reaches Varsel's template parser. Method: put it in the description.
#[test]
fn template_braces_are_refused() {
    let mut info = parse(&common::fixture("a2_thunderstorm.xml")).unwrap().infos.remove(0);
    info.description = Some("see {{here}}".into());
    let err = channel_texts(&info, 1, 3).unwrap_err();
    assert_eq!((err.path.as_str(), err.rule), ("alert/info[1]/description", CapRule::TemplateSyntax));
}

/// Goal: the idempotency key depends on identifier, sender and sent only. Method: change the
/// text (same key), then each of the three (new key).
#[test]
fn dedup_key() {
    let alert = parse(&common::fixture("a2_thunderstorm.xml")).unwrap();
    let key = alert.dedup_key();
    assert_eq!(key, "KSTO@NWS.NOAA.GOV,KSTO1055887203,2003-06-17T14:57:00-07:00");
    let mut same = alert.clone();
    same.infos[0].headline = Some("changed".into());
    assert_eq!(same.dedup_key(), key);
    let mut other = alert.clone();
    other.identifier.push('2');
    assert_ne!(other.dedup_key(), key);
    let mut other = alert.clone();
    other.sender.push('2');
    assert_ne!(other.dedup_key(), key);
    let mut other = alert.clone();
    other.sent = varsel_cap::CapDateTime::parse("2003-06-17T14:57:01-07:00").unwrap();
    assert_ne!(other.dedup_key(), key);

    let idem = alert.idempotency_key();
    assert!(idem.starts_with("cap-sha256:") && idem.len() == 75, "{idem}");
    assert!(varsel_domain::idempotency::check_key("idempotency_key", &idem).is_ok());
    let mut long = alert.clone();
    long.identifier = "i".repeat(10_000);
    assert_eq!(long.idempotency_key().len(), 75);
    let update = parse(&common::fixture("n2_flood_update.xml")).unwrap();
    let first = parse(&common::fixture("n1_flood_alert.xml")).unwrap();
    assert_eq!(update.references[0].idempotency_key(), first.idempotency_key());
}

/// Goal: what the mapping makes is accepted by Varsel's own alert rules, so the HTTP layer
/// only assembles it. Method: for every fixture with `info` blocks, build an `AlertSpec` with
/// one variant per `info` (language, texts, priority, the idempotency key, the first info's
/// texts as the default language) and run `varsel_domain::alert_spec::validate` on it.
#[test]
fn mapped_alerts_pass_varsel_validation() {
    use std::collections::BTreeMap;
    use varsel_domain::alert_spec;
    use varsel_domain::model::{AlertSpec, ChannelContent, Content, GroupRef, Limits};

    let limits = Limits::default();
    for name in common::FIXTURES {
        let alert = parse(&common::fixture(name)).unwrap();
        let mut variants = BTreeMap::new();
        for (i, info) in alert.infos.iter().enumerate() {
            let texts = channel_texts(info, i + 1, limits.max_sms_segments).unwrap();
            let some = |s: String| (!s.is_empty()).then_some(s);
            let variant = ChannelContent {
                sms_text: some(texts.sms_text),
                email_subject: some(texts.email_subject),
                email_text: some(texts.email_text),
                email_html: some(texts.email_html),
                voice_script: some(texts.voice_script),
                push_title: some(texts.push_title),
                push_body: some(texts.push_body),
            };
            variants.entry(language(info, i + 1).unwrap()).or_insert(variant);
        }
        let default_language = language(&alert.infos[0], 1).unwrap();
        let mut spec = AlertSpec {
            idempotency_key: alert.idempotency_key(),
            title: alert.infos[0].headline.clone().unwrap_or_else(|| alert.infos[0].event.clone()),
            priority: alert.priority(),
            content: Content { default_language, variants },
            variables: BTreeMap::new(),
            groups: vec![GroupRef::Name("alle".into())],
            contacts: Vec::new(),
            policy: Vec::new(),
            send_at_ms: None,
            expires_at_ms: None,
        };
        alert_spec::validate(&mut spec, &limits, 1_796_562_000_000)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(spec.policy[0].channels.len(), 4, "{name}: every channel has content");
    }
}
