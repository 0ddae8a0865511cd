//! The invariants catch what they are meant to catch: a simulator in this process is fed the
//! messages of a made-up run in which a recipient was called after acknowledging and another
//! never got the call they were owed; the checks must name both.
#![allow(clippy::unwrap_used)]

use std::borrow::Cow;
use std::collections::BTreeMap;

use varsel_chaos::invariants::{Evidence, no_loss, no_message_after_ack};
use varsel_chaos::load::{Op, OpKind, OpResult};
use varsel_proto::api::Alert;
use varsel_sim::protocol::{SmsContent, VoiceContent};
use varsel_sim::{Channel, Message, ProviderConfig, ReplyRecord, SimConfig};

fn message(key: &str, channel: Channel) -> Message<'static> {
    Message {
        key: Cow::Owned(key.into()),
        channel,
        to: Cow::Borrowed("+4740000001"),
        tenant: 1,
        alert: 1,
        priority: None,
        callback: None,
        sms: (channel == Channel::Sms).then_some(SmsContent { text: Cow::Borrowed("Evakuer") }),
        email: None,
        voice: (channel == Channel::Voice)
            .then_some(VoiceContent { script: Cow::Borrowed("Evakuer"), language: Cow::Borrowed("nb") }),
        push: None,
    }
}

/// Goal: no_loss reports a missing call, no_message_after_ack a call after an
/// acknowledgement, and both pass once the run is clean.
#[tokio::test]
async fn invariants_name_the_offenders() {
    let sim = varsel_sim::spawn(SimConfig::with_providers(vec![
        ProviderConfig::new("sms", Channel::Sms),
        ProviderConfig::new("voice", Channel::Voice),
    ]))
    .await
    .unwrap();
    // Alert 1 to contacts 1, 2, 3; voice step after 5 s. Contact 1 acknowledged at once but was
    // called; contact 2 did not acknowledge and was not called; contact 3 is fine.
    let created = 1_000_000u64;
    let sms: Vec<_> = (1..=3).map(|c| message(&format!("a1-c{c}-sms-0"), Channel::Sms)).collect();
    sim.client.send("sms", &sms).await.unwrap();
    sim.client
        .send("voice", &[message("a1-c1-voice-1", Channel::Voice), message("a1-c3-voice-1", Channel::Voice)])
        .await
        .unwrap();
    let op = Op {
        client: 0,
        kind: OpKind::Create { key: "k".into(), group: "g".into() },
        invoked_ms: 0,
        returned_ms: 5,
        result: OpResult::Created(1),
        failed_attempts: 0,
    };
    let alert =
        Alert { id: 1, created_at_ms: created, completed_at_ms: created + 9_000, ..Default::default() };
    let reply = ReplyRecord {
        key: "a1-c1-sms-0".into(),
        provider: "sms".into(),
        from: "+4740000001".into(),
        text: "OK".into(),
        provider_id: "p1".into(),
        acknowledged_at_ms: created + 300,
        sent_at_ms: created + 200,
    };
    let mut e = Evidence {
        ops: vec![op],
        alerts: BTreeMap::from([(1, alert)]),
        nodes: Vec::new(),
        token: String::new(),
        sim: sim.client.clone(),
        replies: vec![reply],
        recipients: 3,
        escalate_after_s: 5,
        window_per_node: 10,
        site_faults: 0,
        fault_windows: Vec::new(),
    };
    let (loss, m) = no_loss::check(&e).await;
    assert!(!loss.ok && loss.detail.contains("a1-c2-voice-1"), "{loss:?}");
    assert_eq!(m.lost, 1);
    let after = no_message_after_ack::check(&e).await;
    assert!(!after.ok && after.detail.contains("a1-c1-voice-1"), "{after:?}");

    // The same acknowledgement during a site fault is not judged (the node may have lost it).
    e.fault_windows = vec![(created, created + 1_000)];
    assert!(no_message_after_ack::check(&e).await.ok);

    // Contact 2 called: nothing is lost any more.
    sim.client.send("voice", &[message("a1-c2-voice-1", Channel::Voice)]).await.unwrap();
    let (loss, m) = no_loss::check(&e).await;
    assert!(loss.ok, "{loss:?}");
    assert_eq!((m.lost, m.required), (0, 3 + 2), "three SMS and the two calls owed");
    sim.stop().await.unwrap();
}
