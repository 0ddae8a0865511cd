//! Format versions of everything the store persists or replicates.
//!
//! Every value [`encode`] produces starts with one byte, the format version it was written in
//! ([`FORMAT_VERSION`]), followed by the value's postcard encoding. That covers log entries,
//! the vote, every state-machine record, the snapshot file's metadata and the node-to-node
//! messages (postcard inside a protobuf `bytes` field). [`decode`] reads the byte first:
//!
//! - the version this build writes: the rest is decoded as today;
//! - a newer one: [`EngineError::FormatTooNew`], naming the record kind and both versions. A
//!   node never guesses at a shape it does not know; it refuses, and the operator upgrades it;
//! - `0`, or an empty value: [`EngineError::FormatUnknown`] (no build ever wrote one: the value
//!   is damaged, or is not a Varsel record).
//!
//! Keys are not versioned: they are layouts ([`crate::state_machine::keys`]), and a change of
//! layout is a change of table.
//!
//! A store as a whole carries a version too, its layout's ([`STORE_VERSION`]), in the state
//! tree's metadata ([`keys::FORMAT`](crate::state_machine::keys::FORMAT), one byte), checked by
//! [`check_store`] before anything else is read: a store written before format versions existed
//! (its values have no version byte, and reading them as if they had would misread them) or by
//! a newer build is refused at open, naming its directory; one of an older layout is rewritten
//! when the state machine opens it.
//!
//! # Changing a format
//!
//! postcard encodes structs as their fields in order and enum variants by position, so adding a
//! field, reordering fields or inserting a variant changes the encoding. Appending an enum
//! variant does not: old values still decode. Any other change needs [`FORMAT_VERSION`] raised,
//! the old shape kept as a type of its own with a decoder for it (old logs, snapshots and peers
//! still hold it), and new golden files under `tests/fixtures/formats/` (test
//! `raft-store/tests/t07_formats.rs` fails until then). See `docs/architecture.md`, "Format
//! versions".

use std::path::Path;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::engine::{KvTree, StorageEngine, WriteBatch};
use crate::error::EngineError;
use crate::state_machine::{self, keys};

/// The format version this build writes, and the newest it reads.
pub const FORMAT_VERSION: u8 = 1;

/// The store's layout version ([`keys::FORMAT`]) this build writes, and the newest it opens:
/// what its tables are, beside the values' [`FORMAT_VERSION`].
///
/// - 1: memberships one key each (table `0x25`);
/// - 2: memberships in runs (`0x4A`, [`crate::state_machine::domain::members`]). A store of
///   version 1 is rewritten into runs when it is opened, and then marked 2, so a build from
///   before runs refuses it ([`EngineError::StoreTooNew`]) instead of finding no members;
/// - 3: outcome batches packed (`0x69`, [`crate::state_machine::delivery::packed`]). Batches of
///   the plain table `0x61` stay where they are and are still read; the marker is raised so
///   that a build from before packing, which would not see the packed ones, refuses the store.
pub const STORE_VERSION: u8 = 3;

/// Encodes a value for the log, the state machine or the wire: the [`FORMAT_VERSION`] byte,
/// then the postcard encoding.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, EngineError> {
    // The same single buffer postcard would grow on its own, with the version in front.
    encode_onto(what, value, Vec::new())
}

/// The length [`encode`] would return, computed without encoding into a buffer.
pub fn encoded_len<T: Serialize>(what: &'static str, value: &T) -> Result<usize, EngineError> {
    let body = postcard::serialize_with_flavor(value, postcard::ser_flavors::Size::default())
        .map_err(|source| EngineError::Encode { what, source })?;
    Ok(1 + body)
}

/// [`encode`], appended to the end of `buf` (which is returned grown): for callers that gather
/// many values in one buffer, so nothing is encoded apart and copied after.
pub fn encode_onto<T: Serialize>(
    what: &'static str,
    value: &T,
    mut buf: Vec<u8>,
) -> Result<Vec<u8>, EngineError> {
    buf.push(FORMAT_VERSION);
    postcard::to_extend(value, buf).map_err(|source| EngineError::Encode { what, source })
}

/// Appends `value` to a run: values of one type stored back to back after one version byte,
/// with no count in front, so a value is added at the end without rewriting the others.
/// An empty `run` gets the version byte first. See [`decode_run`].
pub fn append_to_run<T: Serialize>(
    what: &'static str,
    value: &T,
    mut run: Vec<u8>,
) -> Result<Vec<u8>, EngineError> {
    if run.is_empty() {
        run.push(FORMAT_VERSION);
    }
    postcard::to_extend(value, run).map_err(|source| EngineError::Encode { what, source })
}

/// Decodes a run written by [`append_to_run`], refusing a format version this build does not
/// know, a value cut short, and (in the same error) any bytes left over.
pub fn decode_run<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<Vec<T>, EngineError> {
    let Some((&found, mut rest)) = bytes.split_first() else {
        return Err(EngineError::FormatUnknown { what, found: None });
    };
    check_version(what, found)?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (value, after) =
            postcard::take_from_bytes(rest).map_err(|source| EngineError::Decode { what, source })?;
        out.push(value);
        rest = after;
    }
    Ok(out)
}

/// Decodes a value stored or sent by [`encode`], refusing a format version this build does not
/// know (see the module doc). Borrows the bytes after the version; copies nothing.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, EngineError> {
    let Some((&found, rest)) = bytes.split_first() else {
        return Err(EngineError::FormatUnknown { what, found: None });
    };
    check_version(what, found)?;
    postcard::from_bytes(rest).map_err(|source| EngineError::Decode { what, source })
}

/// Checks a value's leading format-version byte (see the module doc): `Ok` for a version this
/// build decodes.
pub fn check_version(what: &'static str, found: u8) -> Result<(), EngineError> {
    match found {
        FORMAT_VERSION => Ok(()),
        newer if newer > FORMAT_VERSION => {
            Err(EngineError::FormatTooNew { what, found: newer.into(), newest: FORMAT_VERSION.into() })
        }
        other => Err(EngineError::FormatUnknown { what, found: Some(other) }),
    }
}

/// Encodes a value without the version byte, for bytes that are only ever compared or hashed
/// inside the state machine and never decoded (an idempotent request's fingerprint). Such
/// bytes are stored inside versioned records; were the version byte part of them, raising the
/// format version would make every retry of an earlier request look like a different request.
pub(crate) fn encode_unversioned<T: Serialize>(
    what: &'static str,
    value: &T,
) -> Result<Vec<u8>, EngineError> {
    postcard::to_stdvec(value).map_err(|source| EngineError::Encode { what, source })
}

/// Checks the store's format version before anything in it is read (see the module doc), and
/// marks a new, empty store with [`STORE_VERSION`]. `dir` is only named in errors.
pub async fn check_store<E: StorageEngine>(engine: &E, dir: &Path) -> Result<(), EngineError> {
    let control = engine.open_tree(state_machine::CONTROL_TREE)?;
    let tree = engine.open_tree(state_machine::active_tree_name(&control)?)?;
    match tree.get(keys::FORMAT)? {
        Some(marker) => check_marker(&marker, dir),
        None => {
            let holding = [
                tree,
                engine.open_tree(crate::log_store::LOG_TREE)?,
                engine.open_tree(crate::log_store::META_TREE)?,
            ];
            for t in &holding {
                if t.first()?.is_some() {
                    return Err(EngineError::StoreUnversioned { dir: dir.to_path_buf() });
                }
            }
            let [tree, ..] = holding;
            let mut batch = WriteBatch::new();
            batch.insert(keys::FORMAT, vec![STORE_VERSION]);
            tree.write(batch)?;
            engine.flush().await
        }
    }
}

/// Checks the value of a store's [`keys::FORMAT`] marker.
fn check_marker(marker: &[u8], dir: &Path) -> Result<(), EngineError> {
    match *marker {
        [1..=STORE_VERSION] => Ok(()),
        [found] if found > STORE_VERSION => Err(EngineError::StoreTooNew {
            dir: dir.to_path_buf(),
            found: found.into(),
            newest: STORE_VERSION.into(),
        }),
        _ => Err(EngineError::Damaged(format!(
            "the store's format marker is {marker:?}; this build writes [{STORE_VERSION}]"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the version byte leads every encoded value and the rest is today's postcard
    /// encoding; decoding refuses newer, zero and empty values with the right error.
    #[test]
    fn version_byte_leads_and_is_checked() -> Result<(), EngineError> {
        let bytes = encode("test value", &(7u32, "x".to_string()))?;
        assert_eq!(bytes[0], FORMAT_VERSION);
        assert_eq!(&bytes[1..], &encode_unversioned("test value", &(7u32, "x".to_string()))?[..]);
        assert_eq!(decode::<(u32, String)>("test value", &bytes)?, (7, "x".to_string()));

        let mut newer = bytes.clone();
        newer[0] = FORMAT_VERSION + 1;
        match decode::<(u32, String)>("test value", &newer) {
            Err(EngineError::FormatTooNew { what: "test value", found, newest }) => {
                assert_eq!((found, newest), (u32::from(FORMAT_VERSION) + 1, u32::from(FORMAT_VERSION)));
            }
            other => panic!("expected FormatTooNew, got {other:?}"),
        }
        let mut zero = bytes;
        zero[0] = 0;
        assert!(matches!(
            decode::<(u32, String)>("test value", &zero),
            Err(EngineError::FormatUnknown { found: Some(0), .. })
        ));
        assert!(matches!(
            decode::<u8>("test value", &[]),
            Err(EngineError::FormatUnknown { found: None, .. })
        ));
        Ok(())
    }

    /// Goal: the length counted without a buffer is the length of the encoding, for values of
    /// every shape a log entry holds (strings, sequences, enums, large varints).
    #[test]
    fn encoded_len_is_the_encodings_length() -> Result<(), EngineError> {
        let values = [
            (0u64, String::new(), vec![]),
            (u64::MAX, "ø".repeat(300), vec![(1u8, Some(-5i64)), (2, None)]),
            (1 << 40, "x".to_string(), vec![(255, Some(i64::MIN)); 1000]),
        ];
        for v in &values {
            assert_eq!(encoded_len("test value", v)?, encode("test value", v)?.len(), "{v:?}");
        }
        Ok(())
    }
}
