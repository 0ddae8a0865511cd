//! Deterministic hashing and draws.
//!
//! Every "random" choice is a pure function of (seed, what is decided, key hash, how many
//! times the key arrived before), not of a shared generator's position. Three nodes send
//! batches in whatever order the scheduler gives them; with a generator the same seed would
//! fail different messages each run. With this, a run is reproducible from its seed, and a
//! test can compute who replies ([`will_reply`]).

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// What a draw decides; mixed into the draw so the decisions are independent.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Purpose {
    Error = 1,
    Jitter = 2,
    Reply = 3,
    ReceiptFailure = 4,
    ProviderId = 5,
    TimeoutAfterAccept = 6,
    ThrottleMidBatch = 7,
    DuplicateCallback = 8,
}

/// 64-bit hash of an idempotency key: FNV-1a, then the murmur3 finaliser so that every
/// output bit depends on every input bit (the recorder's table uses the low bits directly).
///
/// Stable across runs and toolchains (unlike `std`'s `DefaultHasher`), so seeds and
/// provider ids reproduce. Collisions: keys are generated, not chosen by an adversary, so
/// the hash behaves like a random function and the expected number of colliding pairs among
/// n keys is n²/2⁶⁵: about 7·10⁻⁷ for a national alert of 5 million keys. A collision would
/// merge two keys' counts (one false duplicate and one false loss).
pub fn key_hash(key: &str) -> u64 {
    let mut hash = FNV_OFFSET;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    fmix64(hash)
}

/// 64-bit hash of a handset: what one phone number, mailbox or device shows for one alert on
/// one channel, whatever the idempotency keys of the messages that reached it. Same hash
/// quality and collision odds as [`key_hash`].
pub(crate) fn handset_hash(alert: u64, channel: u8, to: &str) -> u64 {
    mix(mix(key_hash(to), alert), u64::from(channel))
}

/// The hash of one multipart message on a handset: its concatenation reference and part
/// count (a part that disagrees on the count belongs to another message).
pub(crate) fn part_hash(handset: u64, reference: u16, total: u8) -> u64 {
    mix(handset, (u64::from(reference) << 8) | u64::from(total))
}

/// Whether the recipient of `key` replies when a provider with `reply_rate` delivers it
/// under `seed`. The same for every provider, so a failover does not change who replies.
pub fn will_reply(seed: u64, key: &str, reply_rate: f64) -> bool {
    unit(draw(seed, Purpose::Reply, key_hash(key), 0)) < reply_rate
}

/// A 64-bit value that depends on all its inputs.
pub(crate) fn draw(seed: u64, purpose: Purpose, a: u64, b: u64) -> u64 {
    mix(mix(mix(seed, purpose as u64), a), b)
}

/// Maps a draw onto [0, 1) with 53 bits of precision.
pub(crate) fn unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

fn mix(a: u64, b: u64) -> u64 {
    splitmix64(a ^ splitmix64(b))
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: draws are uniform enough that rates hold, and the hash has no collisions on a
    /// realistic key set. Method: count over 200,000 generated keys.
    #[test]
    fn draws_are_uniform_and_keys_distinct() {
        let mut hashes = std::collections::HashSet::new();
        let mut below = 0u32;
        for contact in 0..200_000u64 {
            let key = format!("a12-c{contact}-sms-0");
            assert!(hashes.insert(key_hash(&key)), "collision at {key}");
            if will_reply(7, &key, 0.25) {
                below += 1;
            }
        }
        let fraction = f64::from(below) / 200_000.0;
        assert!((0.24..0.26).contains(&fraction), "{fraction}");
    }
}
