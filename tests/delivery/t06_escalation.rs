use varsel_proto::api::{AlertStatus, Channel, EscalationStep, Priority};
use varsel_sim::ProviderConfig as SimProvider;

use crate::fixture::{Fixture, sim_config};

/// Goal: escalation runs per recipient: SMS first, a voice call after a delay only for those
/// who have not acknowledged; a reply ("OK") that arrives at any node stops escalation for that
/// recipient, and receipts reach the alert's progress.
/// Method: the simulator's SMS provider makes half the recipients (chosen by its seed) reply
/// "OK" 200 ms after delivery, posting signed webhooks to the nodes in turn, and sends
/// delivery receipts. The alert escalates to voice after 8 s. Afterwards every SMS key is
/// checked against the simulator's reply choice: a recipient who replied got no call, every
/// other recipient got one.
#[tokio::test(flavor = "multi_thread")]
async fn voice_only_for_those_who_did_not_acknowledge() {
    escalation_skips_the_acknowledged(Vec::new()).await;
}

/// Goal: a failed read of whether a recipient acknowledged delays that chunk; it is never taken
/// for "not acknowledged", so nobody who replied is called.
/// Method: the same run as above with every node's acknowledgement read failing once
/// (`testing.fail_reads = ["ack"]`); the nodes must have counted the failed reads.
#[tokio::test(flavor = "multi_thread")]
async fn failed_acknowledgement_read_lets_no_call_through() {
    escalation_skips_the_acknowledged(vec!["ack".into()]).await;
}

async fn escalation_skips_the_acknowledged(fail_reads: Vec<String>) {
    const N: usize = 400;
    let failing = !fail_reads.is_empty();
    let mut sim = sim_config();
    for p in &mut sim.providers {
        p.receipts = true;
        p.receipt_delay_ms = 100;
        if p.name == "sms-primary" {
            *p = SimProvider { reply_rate: 0.5, reply_text: "OK".into(), reply_delay_ms: 200, ..p.clone() };
        }
    }
    let seed = sim.seed;
    let f = Fixture::start(sim, |s| s.fail_reads = fail_reads).await;
    f.contacts(N, "alle").await;
    let policy = vec![
        EscalationStep { channels: vec![Channel::Sms as i32], after_seconds: 0 },
        EscalationStep { channels: vec![Channel::Voice as i32], after_seconds: 8 },
    ];
    let a = f.alert("escalate", "alle", Priority::Crisis, policy).await;
    let done = f.wait_final(a.id, 2).await;
    assert_eq!(done.status, AlertStatus::Completed as i32);

    let keys = f.sim.client.keys(&format!("a{}-", a.id)).await.unwrap().keys;
    let sms: Vec<&String> = keys.keys().filter(|k| k.contains("-sms-")).collect();
    assert_eq!(sms.len(), N);
    let (mut replied, mut called_after_ack, mut missed) = (0, 0, 0);
    for k in sms {
        let voice = k.replace("-sms-0", "-voice-1");
        let called = keys.contains_key(&voice);
        if varsel_sim::will_reply(seed, k, 0.5) {
            replied += 1;
            called_after_ack += u32::from(called);
        } else {
            missed += u32::from(!called);
        }
    }
    assert!(replied > N / 4, "the simulator should have made about half reply, made {replied}");
    assert_eq!(called_after_ack, 0, "recipients who acknowledged were still called");
    assert_eq!(missed, 0, "recipients who did not acknowledge were not called");
    let p = done.progress.unwrap();
    assert_eq!(p.acknowledged, replied as u64);
    let sms_counts = p.channels.iter().find(|c| c.channel == Channel::Sms as i32).unwrap();
    assert!(sms_counts.delivered > 0, "no delivery receipt reached the alert: {sms_counts:?}");
    let voice_counts = p.channels.iter().find(|c| c.channel == Channel::Voice as i32).unwrap();
    assert_eq!((voice_counts.sent, voice_counts.skipped), ((N - replied) as u64, replied as u64));
    if failing {
        let python = crate::common::metrics::parser_python();
        let mut read_errors = 0.0;
        for node in 1..=3 {
            let scrape = crate::common::metrics::scrape(&f.c, &python, node).await;
            read_errors += scrape.sum("varsel_delivery_read_errors_total", &[("actor", "shard-worker")]);
        }
        assert!(read_errors >= 1.0, "the failpoint never fired: no read error counted");
    }
}
