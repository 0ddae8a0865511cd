//! The bounded queue of receipts and replies, and what happened to them, per kind.
//!
//! Four FIFO lanes per provider: (receipt, reply) × (first send, redelivery). Within a first
//! send lane the delay is the same for every item (unless changed at run time), and within a
//! redelivery lane it is [`CALLBACK_REDELIVERY_DELAY_MS`] for every item, so FIFO order is due
//! order and taking due items is a look at each lane's head.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use crate::{
    limits::{CALLBACK_BATCH_MAX, CALLBACK_QUEUE_MAX, CALLBACK_REDELIVERY_DELAY_MS},
    protocol::{Receipt, Reply},
    reports::CallbackStats,
    sim::lock,
};

/// A receipt or reply waiting to be sent.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) due: Instant,
    /// The callback base URL the message came with.
    pub(crate) callback: Option<Arc<str>>,
    pub(crate) payload: Payload,
    /// Redelivery rounds already made (0: first send).
    pub(crate) round: u8,
    /// A deliberate second send of a callback a node already acknowledged.
    pub(crate) copy: bool,
}

impl Item {
    /// A first send, due at `due`.
    pub(crate) fn new(due: Instant, callback: Option<Arc<str>>, payload: Payload) -> Self {
        Item { due, callback, payload, round: 0, copy: false }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Payload {
    Receipt(Receipt),
    /// The key is kept for `/admin/replies`; it is not sent.
    Reply {
        key: String,
        reply: Reply,
    },
}

/// Receipts and replies are counted and laned apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Receipt = 0,
    Reply = 1,
}

impl Payload {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Payload::Receipt(_) => Kind::Receipt,
            Payload::Reply { .. } => Kind::Reply,
        }
    }

    /// The idempotency key of the message it is about.
    pub(crate) fn key(&self) -> &str {
        match self {
            Payload::Receipt(receipt) => &receipt.key,
            Payload::Reply { key, .. } => key,
        }
    }
}

/// Due items of one lane for one request.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub(crate) provider: usize,
    pub(crate) kind: Kind,
    pub(crate) callback: Option<Arc<str>>,
    pub(crate) items: Vec<Item>,
}

/// Gauges and counters of the callback path, for `/admin/stats`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallbackCounts {
    pub(crate) queued: u64,
    pub(crate) dropped: u64,
    pub(crate) failures: u64,
    pub(crate) receipts: CallbackStats,
    pub(crate) replies: CallbackStats,
}

#[derive(Debug)]
struct Lanes {
    lanes: Vec<VecDeque<Item>>,
    len: usize,
    /// Next lane to look at, so one busy provider does not starve the others.
    cursor: usize,
}

/// Per kind: sent, acknowledged, redelivered, given up.
#[derive(Debug, Default)]
struct KindCounters([AtomicU64; 4]);

impl KindCounters {
    fn snapshot(&self) -> CallbackStats {
        let get = |i: usize| self.0[i].load(Ordering::Relaxed);
        CallbackStats { sent: get(0), acknowledged: get(1), redelivered: get(2), given_up: get(3) }
    }
}

const SENT: usize = 0;
const ACKNOWLEDGED: usize = 1;
const REDELIVERED: usize = 2;
const GIVEN_UP: usize = 3;

/// The bounded queue of receipts and replies.
#[derive(Debug)]
pub(crate) struct CallbackQueue {
    lanes: Mutex<Lanes>,
    pub(crate) failures: AtomicU64,
    kinds: [KindCounters; 2],
}

impl CallbackQueue {
    pub(crate) fn new(providers: usize) -> Self {
        let lanes = (0..providers * 4).map(|_| VecDeque::new()).collect();
        CallbackQueue {
            lanes: Mutex::new(Lanes { lanes, len: 0, cursor: 0 }),
            failures: AtomicU64::new(0),
            kinds: Default::default(),
        }
    }

    /// Queues first sends of provider number `provider`; those beyond [`CALLBACK_QUEUE_MAX`]
    /// are given up.
    pub(crate) fn push(&self, provider: usize, items: Vec<Item>) {
        self.push_to(provider, items, 0);
    }

    /// Queues `items` again for a send after [`CALLBACK_REDELIVERY_DELAY_MS`], counted as
    /// redelivered (or given up when the queue is full).
    pub(crate) fn redeliver(&self, provider: usize, mut items: Vec<Item>) {
        let due = Instant::now() + Duration::from_millis(CALLBACK_REDELIVERY_DELAY_MS);
        for item in &mut items {
            item.due = due;
            self.count(item.payload.kind(), REDELIVERED, 1);
        }
        self.push_to(provider, items, 1);
    }

    fn push_to(&self, provider: usize, items: Vec<Item>, again: usize) {
        if items.is_empty() {
            return;
        }
        let mut refused = [0u64; 2];
        let mut lanes = lock(&self.lanes);
        for item in items {
            let kind = item.payload.kind();
            let lane = provider * 4 + kind as usize * 2 + again;
            if lanes.len >= CALLBACK_QUEUE_MAX || lane >= lanes.lanes.len() {
                refused[kind as usize] += 1;
                continue;
            }
            lanes.lanes[lane].push_back(item);
            lanes.len += 1;
        }
        drop(lanes);
        self.count(Kind::Receipt, GIVEN_UP, refused[0]);
        self.count(Kind::Reply, GIVEN_UP, refused[1]);
    }

    fn count(&self, kind: Kind, what: usize, n: u64) {
        if n > 0 {
            self.kinds[kind as usize].0[what].fetch_add(n, Ordering::Relaxed);
        }
    }

    /// `n` items of `kind` put in a request attempt.
    pub(crate) fn sent(&self, kind: Kind, n: u64) {
        self.count(kind, SENT, n);
    }

    /// `n` items of `kind` answered 2xx.
    pub(crate) fn acknowledged(&self, kind: Kind, n: u64) {
        self.count(kind, ACKNOWLEDGED, n);
    }

    /// `n` items of `kind` given up for good.
    pub(crate) fn give_up(&self, kind: Kind, n: u64) {
        self.count(kind, GIVEN_UP, n);
    }

    /// Takes up to [`CALLBACK_BATCH_MAX`] due items of one lane with one callback URL.
    pub(crate) fn take_chunk(&self, now: Instant) -> Option<Chunk> {
        let mut guard = lock(&self.lanes);
        let lanes = &mut *guard;
        let count = lanes.lanes.len();
        for step in 0..count {
            let index = (lanes.cursor + step) % count;
            let lane = &mut lanes.lanes[index];
            let callback = match lane.front() {
                Some(head) if head.due <= now => head.callback.clone(),
                _ => continue,
            };
            let mut items = Vec::new();
            while items.len() < CALLBACK_BATCH_MAX {
                match lane.front() {
                    Some(item) if item.due <= now && item.callback == callback => {}
                    _ => break,
                }
                if let Some(item) = lane.pop_front() {
                    items.push(item);
                }
            }
            lanes.len -= items.len();
            lanes.cursor = index + 1;
            let kind = if (index / 2).is_multiple_of(2) { Kind::Receipt } else { Kind::Reply };
            return Some(Chunk { provider: index / 4, kind, callback, items });
        }
        None
    }

    pub(crate) fn clear(&self) {
        let mut lanes = lock(&self.lanes);
        lanes.lanes.iter_mut().for_each(VecDeque::clear);
        lanes.len = 0;
        drop(lanes);
        self.failures.store(0, Ordering::Relaxed);
        for kind in &self.kinds {
            kind.0.iter().for_each(|c| c.store(0, Ordering::Relaxed));
        }
    }

    pub(crate) fn counts(&self) -> CallbackCounts {
        let (receipts, replies) = (self.kinds[0].snapshot(), self.kinds[1].snapshot());
        CallbackCounts {
            queued: lock(&self.lanes).len as u64,
            dropped: receipts.given_up + replies.given_up,
            failures: self.failures.load(Ordering::Relaxed),
            receipts,
            replies,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt(key: &str) -> Payload {
        let status = crate::protocol::ReceiptStatus::Delivered;
        Payload::Receipt(Receipt { key: key.into(), provider_id: "p-1".into(), status, error: None })
    }

    /// Goal: first sends and redeliveries go to their own lanes and come out by due time,
    /// per provider and kind; a full queue gives items up and counts them per kind.
    /// Method: a queue of two providers, items pushed and taken at chosen instants.
    #[test]
    fn lanes_and_counts() {
        let queue = CallbackQueue::new(2);
        let now = Instant::now();
        queue.push(1, vec![Item::new(now, None, receipt("a")), Item::new(now, None, receipt("b"))]);
        queue.redeliver(0, vec![Item::new(now, None, receipt("c"))]);
        let chunk = queue.take_chunk(now).expect("the first sends of provider 1 are due");
        assert_eq!((chunk.provider, chunk.kind, chunk.items.len()), (1, Kind::Receipt, 2));
        assert!(queue.take_chunk(now).is_none(), "the redelivery waits for its delay");
        let later = now + Duration::from_millis(CALLBACK_REDELIVERY_DELAY_MS + 1);
        let again = queue.take_chunk(later).expect("the redelivery is due");
        assert_eq!((again.provider, again.items[0].payload.key()), (0, "c"));
        let counts = queue.counts();
        assert_eq!((counts.receipts.redelivered, counts.queued, counts.dropped), (1, 0, 0));
        queue.push(7, vec![Item::new(now, None, receipt("d"))]);
        assert_eq!(queue.counts().receipts.given_up, 1, "no lane for provider 7");
    }
}
