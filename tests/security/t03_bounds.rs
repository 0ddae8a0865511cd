use tonic::Code;
use varsel_proto::api::{Contact, ImportChunk, Role, UpsertContactRequest};

use crate::common::{TestCluster, authed};

/// Goal: a caller the node does not know cannot make it read a large request; a known caller
/// can send up to what a log entry holds.
/// Method: the same 100 KiB contact upsert without a token, with a made-up token, and with a
/// real operator token: the first two are refused as too large before authentication
/// (RESOURCE_EXHAUSTED), the third is read and refused by the contact rules instead
/// (INVALID_ARGUMENT: the name is too long).
#[tokio::test(flavor = "multi_thread")]
async fn unauthenticated_requests_are_small() {
    let c = TestCluster::start(3, |_| {}).await;
    let (_, operator) = c.tenant_with(1, "kommune", Role::Operator).await;
    let big = UpsertContactRequest {
        contact: Some(Contact {
            external_id: "x".into(),
            name: "n".repeat(100 * 1024),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut api = c.api(2);
    let anonymous = api.contacts.upsert_contact(tonic::Request::new(big.clone())).await.unwrap_err();
    assert_eq!(anonymous.code(), Code::ResourceExhausted, "{}", anonymous.message());
    let made_up = api.contacts.upsert_contact(authed("vt_1_not-a-secret", big.clone())).await.unwrap_err();
    assert_eq!(made_up.code(), Code::ResourceExhausted, "{}", made_up.message());
    let known = api.contacts.upsert_contact(authed(&operator, big)).await.unwrap_err();
    assert_eq!(known.code(), Code::InvalidArgument, "{}", known.message());
    assert!(known.message().contains("name"), "{}", known.message());
}

/// Goal: one tenant cannot hold a node's memory with many imports at once.
/// Method: once node 2 accepts the tenant's imports, two are started through it and kept open
/// (their upload streams do not end; one that lost its slot to a probe is started again); a
/// third of the same tenant is refused with RESOURCE_EXHAUSTED naming the bound; when one
/// finishes, another is accepted.
#[tokio::test(flavor = "multi_thread")]
async fn imports_per_tenant_are_bounded() {
    let c = TestCluster::start(3, |_| {}).await;
    let (_, operator) = c.tenant_with(1, "kommune", Role::Operator).await;
    let header = "external_id,name,phone\n".as_bytes().to_vec();
    let chunk = |data: Vec<u8>| ImportChunk { data, filename: "x.csv".into(), ..Default::default() };
    let third = || async {
        let stream = futures::stream::iter(vec![chunk(header.clone())]);
        c.api(2).contacts.import_contacts(authed(&operator, stream)).await
    };
    // Node 2 knows the credential once it has applied the tenant's creation (made through node
    // 1); until then every import there is UNAUTHENTICATED and would hold no slot.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while let Err(e) = third().await {
        assert!(std::time::Instant::now() < deadline, "node 2 never took the operator's import: {e:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // An import kept open: its upload stream ends only when its sender is dropped.
    let hold = || async {
        let (tx, rx) = tokio::sync::mpsc::channel::<ImportChunk>(4);
        tx.send(chunk(header.clone())).await.unwrap();
        let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
        let mut contacts = c.api(2).contacts;
        let req = authed(&operator, stream);
        (tokio::spawn(async move { contacts.import_contacts(req).await }), tx)
    };
    let mut held = vec![hold().await, hold().await];
    // A probe can reach the node before a held import does and take its slot; the held import
    // is then refused, and is started again before the next probe.
    let mut refused = None;
    let mut last = None;
    for _ in 0..100 {
        for h in &mut held {
            if h.0.is_finished() {
                *h = hold().await;
            }
        }
        match third().await {
            Err(s) if s.code() == Code::ResourceExhausted => {
                refused = Some(s);
                break;
            }
            other => {
                last = Some(other.map(|r| r.into_inner()));
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    let Some(refused) = refused else {
        panic!("a third concurrent import was accepted: the last probe answered {last:?}");
    };
    assert!(refused.message().contains("at most 2"), "{}", refused.message());
    let (first, sender) = held.pop().unwrap();
    drop(sender);
    first.await.unwrap().unwrap();
    assert!(third().await.is_ok(), "an import slot was not given back");
    drop(held);
}
