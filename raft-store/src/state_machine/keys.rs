//! Key layout of the state-machine tree.
//!
//! The first byte of every key names its table, so each table is one contiguous key range and
//! can be scanned, counted and compacted on its own. Integers inside keys are fixed-width
//! big-endian, so key order is numeric order.
//!
//! | prefix | table |
//! |---|---|
//! | `0x00` | metadata: `applied`, `membership`, `clock` |
//! | `0x01` | key-value map: `0x01 key` → value |

/// Prefix of the metadata table.
pub const META: u8 = 0x00;
/// Prefix of the key-value table.
pub const KV: u8 = 0x01;

/// The last applied log id.
pub const APPLIED: &[u8] = b"\x00applied";
/// The last membership config applied.
pub const MEMBERSHIP: &[u8] = b"\x00membership";
/// The state machine's clock (ms), the latest leader time seen in the log.
pub const CLOCK: &[u8] = b"\x00clock";
/// Set (in the `sm_control` tree) while a snapshot is being installed.
pub const INSTALLING: &[u8] = b"installing";

/// Key of `key` in the key-value table.
pub fn kv(key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(KV);
    k.extend_from_slice(key.as_bytes());
    k
}

/// Whether a key travels in snapshots' record stream. `applied` and `membership` are carried
/// by the snapshot's metadata instead, so they are excluded.
pub fn in_snapshot(key: &[u8]) -> bool {
    key != APPLIED && key != MEMBERSHIP
}
