use std::collections::HashMap;

use varsel_domain::clock::wall_ms;
use varsel_proto::api::{
    Alert, AlertStatus, Channel, ChannelContent, Contact, Content, CreateAlertRequest, Priority,
    PutTemplateRequest, Targets, Template,
};
use varsel_sim::{Channel as SimChannel, InboxMessage};

use crate::common::authed;
use crate::fixture::{Fixture, at_once, sim_config};

const ALL: [Channel; 4] = [Channel::Sms, Channel::Voice, Channel::Email, Channel::Push];

/// A contact in group `alle` reachable on every channel.
fn person(ext: &str, name: &str, n: u32, language: &str, opted_out: &[Channel]) -> Contact {
    Contact {
        external_id: ext.into(),
        name: name.into(),
        phone: format!("+4790{n:06}"),
        email: format!("{ext}@example.no"),
        push_subscription: subscription(ext),
        language: language.into(),
        opted_out: opted_out.iter().map(|c| *c as i32).collect(),
        groups: vec!["alle".into()],
        ..Default::default()
    }
}

/// A contact's push subscription, which is the push message's `to`.
fn subscription(ext: &str) -> String {
    format!("{{\"endpoint\":\"https://push.example/{ext}\"}}")
}

fn variant(sms: &str, subject: &str, voice: &str, push_title: &str) -> ChannelContent {
    ChannelContent {
        sms_text: sms.into(),
        email_subject: subject.into(),
        email_text: sms.into(),
        voice_script: voice.into(),
        push_title: push_title.into(),
        push_body: sms.into(),
        ..Default::default()
    }
}

fn alert(key: &str, content: Content, send_at_ms: u64) -> CreateAlertRequest {
    CreateAlertRequest {
        idempotency_key: key.into(),
        title: key.into(),
        priority: Priority::Crisis as i32,
        content: Some(content),
        targets: Some(Targets { group_names: vec!["alle".into()], ..Default::default() }),
        policy: at_once(&ALL),
        send_at_ms,
        ..Default::default()
    }
}

/// What the handset, mailbox or device at `to` got on `channel`.
fn got<'a>(inbox: &'a [InboxMessage], channel: SimChannel, to: &str) -> Vec<&'a InboxMessage> {
    inbox.iter().filter(|m| m.channel == channel && m.to == to).collect()
}

/// The one message `to` got on `channel`.
fn one<'a>(inbox: &'a [InboxMessage], channel: SimChannel, to: &str) -> &'a InboxMessage {
    let got = got(inbox, channel, to);
    assert_eq!(got.len(), 1, "{to} on {channel:?}: {got:?}");
    got[0]
}

async fn completed(f: &Fixture, a: &Alert) -> Vec<InboxMessage> {
    let done = f.wait_final(a.id, 3).await;
    assert_eq!(done.status, AlertStatus::Completed as i32, "{:?}", done.progress);
    let inbox = f.sim.client.inbox(a.id).await.unwrap();
    assert_eq!(inbox.not_kept, 0);
    inbox.messages
}

/// Goal: one alert with `nb` and `en` variants reaches each recipient in their language on
/// every channel, personalised with their name; a recipient of a third language (`sv`) and one
/// with none get the default (`nb`); a channel the recipient's variant lacks falls back to the
/// default's text for that channel only; and an alert sent by `template_name` does the same
/// with the template's variants and the alert's variables.
/// Method: four contacts (nb, en, sv, none) on all four channels; an alert whose `en` variant
/// has no push text; then a stored template with SMS in both languages. What each handset,
/// mailbox, phone call and device got is read from the simulator's inbox.
#[tokio::test(flavor = "multi_thread")]
async fn each_recipient_gets_their_language() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    let people =
        [("nora", "Nora", "nb"), ("emma", "Emma", "en"), ("sven", "Sven", "sv"), ("anon", "Anon", "")];
    for (i, (ext, name, lang)) in people.iter().enumerate() {
        f.upsert(person(ext, name, i as u32, lang, &[])).await;
    }
    let nb = variant("Evakuer nå, {{name}}.", "Varsel", "Dette er et varsel.", "Varsel");
    let en = ChannelContent {
        push_title: String::new(),
        push_body: String::new(),
        ..variant("Evacuate now, {{name}}.", "Alert", "This is an alert.", "")
    };
    let content = Content {
        default_language: "nb".into(),
        variants: HashMap::from([("nb".into(), nb), ("en".into(), en)]),
    };
    let a = f.create(alert("språk", content, 0), 1).await;
    let inbox = completed(&f, &a).await;
    assert_eq!(inbox.len(), 4 * 4, "every recipient on every channel: {inbox:#?}");
    for (i, (ext, name, lang)) in people.iter().enumerate() {
        let phone = format!("+4790{i:06}");
        let english = *lang == "en";
        let sms = one(&inbox, SimChannel::Sms, &phone);
        let expected =
            if english { format!("Evacuate now, {name}.") } else { format!("Evakuer nå, {name}.") };
        assert_eq!(sms.text, expected, "{ext}");
        let call = one(&inbox, SimChannel::Voice, &phone);
        let (script, spoken) =
            if english { ("This is an alert.", "en") } else { ("Dette er et varsel.", "nb") };
        assert_eq!((call.text.as_str(), call.language.as_deref()), (script, Some(spoken)), "{ext}");
        let mail = one(&inbox, SimChannel::Email, &format!("{ext}@example.no"));
        assert_eq!(mail.title.as_deref(), Some(if english { "Alert" } else { "Varsel" }), "{ext}");
        let push = one(&inbox, SimChannel::Push, &subscription(ext));
        assert_eq!(
            (push.title.as_deref(), push.text.as_str()),
            (Some("Varsel"), format!("Evakuer nå, {name}.").as_str()),
            "{ext}: push falls back to the default language, which has it"
        );
    }

    let template = |sms: &str| ChannelContent { sms_text: sms.into(), ..Default::default() };
    let stored = Content {
        default_language: "nb".into(),
        variants: HashMap::from([
            ("nb".into(), template("Øvelse i {{sted}}, {{name}}.")),
            ("en".into(), template("Drill in {{sted}}, {{name}}.")),
        ]),
    };
    let put = PutTemplateRequest {
        template: Some(Template { name: "øvelse".into(), content: Some(stored), updated_at_ms: 0 }),
    };
    f.c.api(2).alerts.put_template(authed(&f.token, put)).await.unwrap();
    let req = CreateAlertRequest {
        content: None,
        template_name: "øvelse".into(),
        variables: HashMap::from([("sted".into(), "Bergen".into())]),
        policy: at_once(&[Channel::Sms]),
        ..alert("mal", Content::default(), 0)
    };
    let a = f.create(req, 3).await;
    let inbox = completed(&f, &a).await;
    assert_eq!(inbox.len(), 4);
    for (i, (ext, name, lang)) in people.iter().enumerate() {
        let sms = one(&inbox, SimChannel::Sms, &format!("+4790{i:06}"));
        let expected = if *lang == "en" {
            format!("Drill in Bergen, {name}.")
        } else {
            format!("Øvelse i Bergen, {name}.")
        };
        assert_eq!(sms.text, expected, "{ext}");
    }
}

/// Goal: a recipient who opted out of a channel gets nothing on it, and still gets every other
/// channel; the skip is counted, never sent; and an opt-out recorded after the alert was
/// accepted, before it is sent, is honoured (opt-outs are read when the message is made).
/// Method: three contacts on all four channels: Ola opted out of SMS, Kari of e-mail and push,
/// Per of nothing. An alert to all four channels, scheduled 8 s ahead; before it starts, Per
/// opts out of voice. The simulator's inbox shows what each address got; the alert's progress
/// shows what was skipped.
#[tokio::test(flavor = "multi_thread")]
async fn opted_out_channels_get_nothing() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    f.upsert(person("ola", "Ola", 1, "nb", &[Channel::Sms])).await;
    f.upsert(person("kari", "Kari", 2, "nb", &[Channel::Email, Channel::Push])).await;
    f.upsert(person("per", "Per", 3, "nb", &[])).await;
    let nb = variant("Evakuer nå, {{name}}.", "Varsel", "Dette er et varsel.", "Varsel");
    let content = Content { default_language: "nb".into(), variants: HashMap::from([("nb".into(), nb)]) };
    let send_at = wall_ms() + 8_000;
    let a = f.create(alert("reservert", content, send_at), 2).await;
    f.upsert(person("per", "Per", 3, "nb", &[Channel::Voice])).await;
    assert!(wall_ms() < send_at, "Per's opt-out came after the start; schedule the alert further ahead");
    let inbox = completed(&f, &a).await;

    let (ola, kari, per) = ("+4790000001", "+4790000002", "+4790000003");
    assert!(got(&inbox, SimChannel::Sms, ola).is_empty(), "Ola opted out of SMS");
    one(&inbox, SimChannel::Voice, ola);
    one(&inbox, SimChannel::Email, "ola@example.no");
    one(&inbox, SimChannel::Push, &subscription("ola"));
    one(&inbox, SimChannel::Sms, kari);
    one(&inbox, SimChannel::Voice, kari);
    assert!(got(&inbox, SimChannel::Email, "kari@example.no").is_empty(), "Kari opted out of e-mail");
    assert!(got(&inbox, SimChannel::Push, &subscription("kari")).is_empty(), "Kari opted out of push");
    one(&inbox, SimChannel::Sms, per);
    assert!(got(&inbox, SimChannel::Voice, per).is_empty(), "Per opted out of voice after acceptance");
    one(&inbox, SimChannel::Email, "per@example.no");
    one(&inbox, SimChannel::Push, &subscription("per"));
    assert_eq!(inbox.len(), 8, "{inbox:#?}");

    let progress = f.get(a.id, 1).await.progress.unwrap();
    let counts =
        |c: Channel| progress.channels.iter().find(|x| x.channel == c as i32).copied().unwrap_or_default();
    for (channel, sent, skipped) in
        [(Channel::Sms, 2, 1), (Channel::Voice, 2, 1), (Channel::Email, 2, 1), (Channel::Push, 2, 1)]
    {
        let c = counts(channel);
        assert_eq!((c.sent, c.skipped, c.failed), (sent, skipped, 0), "{channel:?}: {c:?}");
    }
}
