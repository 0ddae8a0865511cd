use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use varsel_proto::api::{
    AnswerOption, Channel, ChannelContent, Consistency, Content, CreateAlertRequest, EscalationStep,
    ListAuditRequest, Priority,
};
use varsel_sim::Channel as SimChannel;
use varsel_sim::ProviderSettings;

use crate::common::{authed, http};
use crate::fixture::{Fixture, alert_request, at_once, sim_config};

/// Recipients.
const N: usize = 8;
/// Recipients who answer on the response page, by index; the first of them changes its answer.
const ON_PAGE: [usize; 3] = [0, 1, 2];
/// Delay of the voice step (long enough for the page answers to come first on a busy machine).
const VOICE_AFTER_S: u32 = 20;

fn options() -> Vec<AnswerOption> {
    let o = |nb: &str, en: &str, acknowledges| AnswerOption {
        labels: HashMap::from([("nb".to_string(), nb.to_string()), ("en".to_string(), en.to_string())]),
        acknowledges,
    };
    vec![o("Trygg", "Safe", true), o("Trenger hjelp", "Need help", false)]
}

fn asking(key: &str, policy: Vec<EscalationStep>) -> CreateAlertRequest {
    let mut req = alert_request(key, "alle", Priority::Crisis, policy);
    let nb = ChannelContent {
        sms_text: "Gasslekkasje. Er du trygg? Svar 1 eller 2, eller {{answer_link}}".into(),
        voice_script: "Gasslekkasje. Trykk 1 om du er trygg, 2 om du trenger hjelp.".into(),
        ..Default::default()
    };
    let en =
        ChannelContent { sms_text: "Gas leak. Are you safe? {{answer_link}}".into(), ..Default::default() };
    req.content = Some(Content {
        default_language: "nb".into(),
        variants: HashMap::from([("nb".into(), nb), ("en".into(), en)]),
    });
    req.answer_options = options();
    req
}

/// `(address, path)` of the response link in an SMS text.
fn link(text: &str) -> (SocketAddr, String) {
    let at = text.find("https://").unwrap_or_else(|| panic!("no link in {text:?}"));
    let url = text[at..].split_whitespace().next().unwrap();
    let rest = url.strip_prefix("https://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap();
    (authority.parse().unwrap(), format!("/{path}"))
}

async fn answer(ca: Option<&str>, (addr, path): &(SocketAddr, String), option: &str) -> http::HttpResponse {
    let body = format!("option={option}");
    let headers = [("Content-Type", "application/x-www-form-urlencoded")];
    http::send(ca, *addr, "POST", path, &headers, body.as_bytes(), Duration::from_secs(30)).await.unwrap()
}

/// Goal: an alert with answer options ("are you safe?") carries a response link unique to each
/// recipient; the page at that link, served by any node without JavaScript, shows the alert
/// and the options and records one answer per recipient, a second click changing it (audited)
/// and the same one again changing nothing; a choice that acknowledges stops escalation for
/// that recipient; a forged link is refused like an unknown one; SMS replies ("2 trenger
/// hjelp") choose options on another alert, and there acknowledge nothing since option 2 does
/// not; counts per option are in the alert as the API gives it.
/// Method: eight recipients, SMS at once and voice after 20 s. Three answer on the page
/// (through the link each got, each link naming the node that sent it), one of them twice.
/// Then a second alert, with every simulated handset replying "2 trenger hjelp". First, bad
/// options are refused, each error naming its field.
#[tokio::test(flavor = "multi_thread")]
async fn recipients_answer_by_link_and_by_sms_and_the_counts_follow() {
    let f = Fixture::start(sim_config(), |_| {}).await;
    f.contacts(N, "alle").await;
    bad_options_are_refused_naming_the_field(&f).await;
    let ca = f.c.ca_pem();
    let ca = ca.as_deref();
    let policy = vec![
        EscalationStep { channels: vec![Channel::Sms as i32], after_seconds: 0 },
        EscalationStep { channels: vec![Channel::Voice as i32], after_seconds: VOICE_AFTER_S },
    ];
    let a = f.create(asking("trygg", policy), 2).await;
    assert_eq!(a.answer_options.len(), 2);
    assert_eq!(a.answer_counts, vec![0, 0]);
    let sms = |i: &varsel_sim::InboxListing| {
        i.messages.iter().filter(|m| m.channel == SimChannel::Sms).count() == N
    };
    let inbox = f.wait_inbox(a.id, Duration::from_secs(60), sms).await;
    let links: HashMap<String, (SocketAddr, String)> = inbox
        .messages
        .iter()
        .filter(|m| m.channel == SimChannel::Sms)
        .map(|m| (m.to.clone(), link(&m.text)))
        .collect();
    let paths: BTreeSet<&String> = links.values().map(|(_, p)| p).collect();
    assert_eq!(paths.len(), N, "every recipient has a link of its own: {links:?}");
    let link_of = |i: usize| links[&format!("+4741{i:06}")].clone();

    // The page, from the node that sent the message.
    let first = link_of(ON_PAGE[0]);
    let page = http::get(ca, first.0, &first.1).await.unwrap();
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.content_type.starts_with("text/html"), "{}", page.content_type);
    assert!(
        page.body.contains("lang=\"nb\"") && page.body.contains("Gasslekkasje. Er du trygg?"),
        "{}",
        page.body
    );
    assert!(page.body.contains("1. Trygg") && page.body.contains("2. Trenger hjelp"), "{}", page.body);
    assert!(!page.body.contains("<script"), "the page works without JavaScript");
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("cache-control"), Some("no-store"));

    // Answers, each through another node than the one in the link: any node serves the page.
    let nodes: Vec<SocketAddr> = (1..=3).map(|id| f.c.lc.node(id).unwrap().http().unwrap()).collect();
    for (n, i) in ON_PAGE.iter().enumerate() {
        let (_, path) = link_of(*i);
        let via = (nodes[n % 3], path);
        let r = answer(ca, &via, "1").await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.header("location"), Some(format!("{}?saved=1", via.1).as_str()));
        let shown = http::get(ca, via.0, &format!("{}?saved=1", via.1)).await.unwrap();
        assert!(
            shown.body.contains("Takk, svaret ditt er registrert")
                && shown.body.contains("<strong>Trygg</strong>"),
            "{}",
            shown.body
        );
    }
    // The same answer again changes nothing; another one replaces it.
    assert_eq!(answer(ca, &first, "1").await.status, 303);
    assert_eq!(answer(ca, &first, "2").await.status, 303);
    let shown = http::get(ca, first.0, &first.1).await.unwrap();
    assert!(shown.body.contains("<strong>Trenger hjelp</strong>"), "{}", shown.body);

    // Refusals: no such option, a forged or cut link.
    assert_eq!(answer(ca, &first, "3").await.status, 400);
    assert_eq!(answer(ca, &first, "x").await.status, 400);
    let mut forged = first.1.clone().into_bytes();
    let last = forged.len() - 1;
    forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
    let forged = (first.0, String::from_utf8(forged).unwrap());
    let refused = answer(ca, &forged, "1").await;
    assert_eq!(refused.status, 404, "{}", refused.body);
    assert!(refused.body.contains("not valid"), "{}", refused.body);
    assert_eq!(http::get(ca, first.0, &forged.1).await.unwrap().status, 404);
    assert_eq!(http::get(ca, first.0, "/r/AAAA").await.unwrap().status, 404);

    let got = f.get(a.id, 3).await;
    assert_eq!(got.answer_counts, vec![2, 1], "two safe, one who changed to needing help");
    assert!(
        varsel_domain::clock::wall_ms() < a.created_at_ms + u64::from(VOICE_AFTER_S) * 1000,
        "the answers came after the voice step was due; lengthen VOICE_AFTER_S"
    );

    // Everyone who chose "Trygg" (it acknowledges) is not called, even the one who changed
    // afterwards: an acknowledgement is not taken back.
    let done = f.wait_final(a.id, 1).await;
    let inbox = f.sim.client.inbox(a.id).await.unwrap();
    let called: BTreeSet<&str> =
        inbox.messages.iter().filter(|m| m.channel == SimChannel::Voice).map(|m| m.to.as_str()).collect();
    assert_eq!(called.len(), N - ON_PAGE.len(), "{called:?}");
    for i in ON_PAGE {
        assert!(!called.contains(format!("+4741{i:06}").as_str()), "{i} answered Trygg and was still called");
    }
    assert_eq!(done.progress.unwrap().acknowledged, ON_PAGE.len() as u64);
    let audit = ListAuditRequest { consistency: Consistency::Linearizable as i32, ..Default::default() };
    let records = f.c.api(2).audit.list_audit(authed(&f.token, audit)).await.unwrap().into_inner().records;
    let changed: Vec<_> = records.iter().filter(|r| r.action == "alert.answer_changed").collect();
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(changed[0].detail.contains("from 1 to 2 via page"), "{changed:?}");

    // SMS replies choose options; on an alert with options "2" acknowledges nothing.
    for p in ["sms-primary", "sms-alt"] {
        let settings = ProviderSettings {
            reply_rate: Some(1.0),
            reply_text: Some("2 trenger hjelp".into()),
            ..Default::default()
        };
        f.sim.client.set(p, &settings).await.unwrap();
    }
    let b = f.create(asking("svar-sms", at_once(&[Channel::Sms])), 1).await;
    let mut counts = Vec::new();
    for _ in 0..120 {
        counts = f.get(b.id, 2).await.answer_counts;
        if counts == [0, N as u64] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(counts, vec![0, N as u64], "every handset replied \"2 trenger hjelp\"");
    let b = f.wait_final(b.id, 3).await;
    assert_eq!(b.progress.unwrap().acknowledged, 0, "option 2 does not acknowledge");
}

/// Answer options are checked before anything is written, each error naming its field: one
/// option, a label missing in the default language, and {{answer_link}} in an alert with no
/// options.
async fn bad_options_are_refused_naming_the_field(f: &Fixture) {
    let mut api = f.c.api(1);
    let mut one = asking("en", at_once(&[Channel::Sms]));
    one.answer_options.truncate(1);
    let e = api.alerts.create_alert(authed(&f.token, one)).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("answer_options") && e.message().contains("2 to 9"), "{e:?}");
    let mut unlabelled = asking("uten", at_once(&[Channel::Sms]));
    unlabelled.answer_options[1].labels.remove("nb");
    let e = api.alerts.create_alert(authed(&f.token, unlabelled)).await.unwrap_err();
    assert!(e.message().contains("answer_options[1].labels"), "{e:?}");
    let mut no_options = asking("ingen", at_once(&[Channel::Sms]));
    no_options.answer_options.clear();
    let e = api.alerts.create_alert(authed(&f.token, no_options)).await.unwrap_err();
    assert!(
        e.message().contains("content.variants[en].sms_text") && e.message().contains("answer_options"),
        "{e:?}"
    );
}
