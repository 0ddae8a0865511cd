//! Goal: a batch entry (the leader's group commit) applies its requests in order, each seeing
//! what the ones before it wrote, answers each at its position, survives a reopen of the log
//! and state as any entry does, and only requests that use the entry index as a point in time
//! (never as an identity) may share one.
//!
//! Method: batch entries appended to a real store (sled engine, segment log) and applied, then
//! the store closed and opened again; the answers and the state read back are compared with
//! what the same requests applied one entry each give.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use openraft::storage::RaftStateMachine;
use openraft::{CommittedLeaderId, EntryPayload, LogId};
use varsel_domain::model::Channel;
use varsel_raft_store::delivery::{DeliveryCommand, ReceiptItem};
use varsel_raft_store::ops::{Caller, DomainRequest, Op};
use varsel_raft_store::{Command, Entry, KvCommand, Request, Response, SledOptions};

fn put(key: &str, value: &str) -> Request {
    Request::Kv(KvCommand::Put { key: key.into(), value: value.into() })
}

fn entry(index: u64, request: Request) -> Entry {
    Entry {
        log_id: LogId::new(CommittedLeaderId::new(1, 1), index),
        payload: EntryPayload::Normal(Command {
            issued_at_ms: 1_000 + index,
            lease_at_ms: 1_000 + index,
            request,
        }),
    }
}

#[tokio::test]
async fn a_batch_applies_in_order_and_answers_each_request() {
    let dir = tempfile::tempdir().unwrap();
    let batch = Request::Batch(vec![
        put("a", "1"),
        put("b", "1"),
        put("a", "2"),
        Request::Kv(KvCommand::Delete { key: "b".into() }),
        put("c", "1"),
    ]);
    {
        let mut store = varsel_raft_store::open_sled(dir.path(), &SledOptions::default()).await.unwrap();
        store.log.segments().append([entry(1, put("a", "0")), entry(2, batch.clone())]).await.unwrap();
        let answers = store.state.apply([entry(1, put("a", "0")), entry(2, batch)]).await.unwrap();
        assert_eq!(answers[0], Response::KvPrevious(None));
        assert_eq!(
            answers[1],
            Response::Batch(vec![
                Response::KvPrevious(Some("0".into())),
                Response::KvPrevious(None),
                Response::KvPrevious(Some("1".into())),
                Response::KvPrevious(Some("1".into())),
                Response::KvPrevious(None),
            ])
        );
        let reader = store.state.reader();
        assert_eq!(reader.kv_get("a").unwrap().as_deref(), Some("2"));
        assert_eq!(reader.kv_get("b").unwrap(), None);
        assert_eq!(reader.kv_get("c").unwrap().as_deref(), Some("1"));
    }
    // Reopened: the batch entry reads back from the log whole.
    let store = varsel_raft_store::open_sled(dir.path(), &SledOptions::default()).await.unwrap();
    assert_eq!(store.state.reader().kv_get("a").unwrap().as_deref(), Some("2"));
    let back = store.log.segments().read(2..3, None).unwrap();
    match &back[..] {
        [Entry { payload: EntryPayload::Normal(Command { request: Request::Batch(rs), .. }), .. }] => {
            assert_eq!(rs.len(), 5);
            assert_eq!(rs[2], put("a", "2"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn only_requests_without_an_index_identity_share_an_entry() {
    assert!(put("k", "v").shares_entry());
    let receipts = DeliveryCommand::Receipts {
        items: vec![ReceiptItem {
            alert: 1,
            contact: 2,
            channel: Channel::Sms,
            delivered: true,
            provider_id: "p-1".into(),
            error: None,
        }],
    };
    assert!(Request::Delivery(Box::new(receipts)).shares_entry());
    // Domain operations write an audit record keyed by the entry index; replies number
    // themselves by it.
    let op = Op::DeleteContact { id: 2, idempotency_key: String::new() };
    let domain = DomainRequest { actor: Caller::SUPERADMIN, op };
    assert!(!Request::Domain(Box::new(domain)).shares_entry());
    assert!(!Request::Delivery(Box::new(DeliveryCommand::Replies { items: vec![] })).shares_entry());
    assert!(!Request::Batch(vec![]).shares_entry());
}
