use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use varsel_proto::kv::{GetRequest, PutRequest, ReadConsistency};

use crate::common::TestCluster;
use crate::fixtures::{OtlpReceiver, SpanRecord, peers_python};

/// Time allowed for spans to reach the receiver (export runs every 200 ms in these tests).
const SPANS_WITHIN: Duration = Duration::from_secs(60);

fn random_hex(bytes: usize) -> String {
    (0..bytes).map(|_| format!("{:02x}", rand::random::<u8>())).collect()
}

/// The chain of spans from `span` up to the root of its trace, following parent links; panics on
/// a link to a span the receiver never got (a broken trace).
fn ancestry<'a>(
    span: &'a SpanRecord,
    by_id: &BTreeMap<&str, &'a SpanRecord>,
    stop_at: &str,
) -> Vec<&'a SpanRecord> {
    let mut chain = vec![span];
    let mut current = span;
    while !current.parent_span_id.is_empty() && current.parent_span_id != stop_at {
        let parent = by_id.get(current.parent_span_id.as_str()).unwrap_or_else(|| {
            panic!(
                "span {} ({}) names parent {} that was never exported",
                current.name, current.span_id, current.parent_span_id
            )
        });
        chain.push(parent);
        current = parent;
        assert!(chain.len() < 64, "parent links form a loop");
    }
    chain
}

/// Goal: a write sent to a follower and forwarded to the leader is one trace across both
/// processes, joined to the caller's own trace, with correct parent links and the resource
/// attributes that tell the nodes apart; a linearizable read through a follower likewise.
/// Method: a real OTLP receiver (opentelemetry-proto + grpcio); three nodes told its address only
/// through the standard OTEL_* variables. The test sends a put through a follower with its own
/// `traceparent` (as an external client would), then waits until the receiver holds the trace.
/// It checks: the follower's API span is the child of the test's span; spans come from both the
/// follower and the leader (service.instance.id); every leader span of the trace descends,
/// through exported parents only, from the follower's API span; resource attributes name the
/// service (from OTEL_SERVICE_NAME), the node, its site, and the extra OTEL_RESOURCE_ATTRIBUTES.
/// (When alerts exist: extend with an alert accepted on one node whose shards another sends.)
#[tokio::test(flavor = "multi_thread")]
async fn write_through_follower_is_one_trace_across_nodes() {
    let python = peers_python();
    let receiver = OtlpReceiver::start(&python);
    let env = vec![
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".to_string(), receiver.endpoint()),
        ("OTEL_SERVICE_NAME".to_string(), "varsel-e2e".to_string()),
        ("OTEL_RESOURCE_ATTRIBUTES".to_string(), "deployment.environment=test".to_string()),
    ];
    let c = TestCluster::start(3, |s| {
        s.env = env;
        s.telemetry.export_interval_ms = 200;
    })
    .await;
    let leader = c.leader().await;
    let followers: Vec<u64> = c.ids().into_iter().filter(|i| *i != leader).collect();
    let follower = followers[0];

    let (trace_id, caller_span) = (random_hex(16), random_hex(8));
    let mut put = tonic::Request::new(PutRequest { key: "traced".into(), value: "yes".into() });
    put.metadata_mut().insert("traceparent", format!("00-{trace_id}-{caller_span}-01").parse().unwrap());
    c.kv(follower).await.put(put).await.expect("put through a follower");

    let spans = receiver
        .wait_for("the forwarded write's spans from both nodes", SPANS_WITHIN, |spans| {
            let nodes: BTreeSet<Option<u64>> =
                spans.iter().filter(|s| s.trace_id == trace_id).map(SpanRecord::node).collect();
            nodes.contains(&Some(follower))
                && nodes.contains(&Some(leader))
                && spans.iter().any(|s| s.trace_id == trace_id && s.name == "raft.commit")
        })
        .await;
    let trace: Vec<&SpanRecord> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let by_id: BTreeMap<&str, &SpanRecord> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();

    let api = trace
        .iter()
        .find(|s| s.name == "varsel.kv.v1.Kv/Put" && s.node() == Some(follower))
        .expect("the follower's API span");
    assert_eq!(api.parent_span_id, caller_span, "the API span continues the caller's trace");
    assert_eq!(api.kind, 2, "SPAN_KIND_SERVER");
    assert_eq!(api.attributes.get("rpc.system").and_then(|v| v.as_str()), Some("grpc"));
    assert_eq!(api.attributes.get("rpc.method").and_then(|v| v.as_str()), Some("Put"));
    // Recorded for log lines written during the call; it must be the trace's own id.
    assert_eq!(api.attributes.get("trace_id").and_then(|v| v.as_str()), Some(trace_id.as_str()));

    let leader_spans: Vec<&&SpanRecord> = trace.iter().filter(|s| s.node() == Some(leader)).collect();
    assert!(leader_spans.iter().any(|s| s.name == "varsel.raft.v1.RaftService/ForwardWrite"));
    for span in &leader_spans {
        let chain = ancestry(span, &by_id, &caller_span);
        assert!(
            chain.iter().any(|s| s.span_id == api.span_id),
            "leader span {} does not descend from the follower's API span: {:?}",
            span.name,
            chain.iter().map(|s| (&s.name, s.node())).collect::<Vec<_>>()
        );
        // The hop between the processes is the follower's client span.
        assert!(
            chain.iter().any(|s| s.name == "raft.forward_write" && s.node() == Some(follower) && s.kind == 3)
        );
    }

    for span in &trace {
        let node = span.node().expect("service.instance.id is a node id");
        assert_eq!(span.res("service.name"), Some("varsel-e2e"), "{}", span.name);
        let site = &c.lc.node(node).unwrap().config.site;
        assert_eq!(span.res("varsel.site"), Some(site.as_str()), "{}", span.name);
        assert_eq!(span.res("deployment.environment"), Some("test"), "{}", span.name);
    }

    linearizable_read_is_one_trace(&c, &receiver, leader, followers[1]).await;
}

/// The read-index hop: a follower's linearizable read asks the leader, in the same trace.
async fn linearizable_read_is_one_trace(
    c: &TestCluster,
    receiver: &OtlpReceiver,
    leader: u64,
    follower: u64,
) {
    let (trace_id, caller_span) = (random_hex(16), random_hex(8));
    let mut get = tonic::Request::new(GetRequest {
        key: "traced".into(),
        consistency: ReadConsistency::Linearizable as i32,
    });
    get.metadata_mut().insert("traceparent", format!("00-{trace_id}-{caller_span}-01").parse().unwrap());
    let value = c.kv(follower).await.get(get).await.expect("linearizable read").into_inner().value;
    assert_eq!(value.as_deref(), Some("yes"));
    let spans = receiver
        .wait_for("the read index served by the leader", SPANS_WITHIN, |spans| {
            spans.iter().any(|s| {
                s.trace_id == trace_id
                    && s.node() == Some(leader)
                    && s.name == "varsel.raft.v1.RaftService/ReadIndex"
            })
        })
        .await;
    let trace: Vec<&SpanRecord> = spans.iter().filter(|s| s.trace_id == trace_id).collect();
    let by_id: BTreeMap<&str, &SpanRecord> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
    let served = trace.iter().find(|s| s.name == "varsel.raft.v1.RaftService/ReadIndex").unwrap();
    let chain = ancestry(served, &by_id, &caller_span);
    let root = chain.last().unwrap();
    assert_eq!((root.name.as_str(), root.node()), ("varsel.kv.v1.Kv/Get", Some(follower)));
    assert_eq!(root.parent_span_id, caller_span);
}
