//! SMS encoding (GSM 03.38 7-bit or UCS-2) and segment counting.
//!
//! An SMS carries 140 octets. A text whose every character is in the GSM 03.38 default
//! alphabet or its extension table is sent in GSM-7: 160 septets in one message, an extension
//! character (`€ [ ] { } \ ^ ~ |` and form feed) taking two. Any other character forces the
//! whole text into UCS-2: 70 UTF-16 units in one message. A longer text is concatenated: a
//! 6-octet user data header in each segment leaves 153 septets or 67 units.
//!
//! UCS-2 is counted in UTF-16 code units: a character outside the Basic Multilingual Plane
//! (most emoji) is a surrogate pair and takes two units. Strictly UCS-2 cannot represent it,
//! but SMSCs and phones treat `data_coding` 8 as UTF-16, so this is what they count and show.
//!
//! ```
//! use varsel_domain::sms::{analyse, SmsEncoding};
//!
//! let info = analyse("Evakuer Ålesund sentrum nå");
//! assert_eq!((info.encoding, info.units, info.segments), (SmsEncoding::Gsm7, 26, 1));
//! let info = analyse("Evakuer nå 🚨");
//! assert_eq!((info.encoding, info.units, info.ucs2_trigger), (SmsEncoding::Ucs2, 13, Some('🚨')));
//! ```

mod gsm7;
mod segments;
#[cfg(test)]
mod tests;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Rule, SmsError, ValidationError};
use gsm7::Gsm7Char;
use segments::SegmentRanges;

/// Septets in one unconcatenated GSM-7 SMS: 140 octets of 8 bits hold 160 septets.
pub const GSM7_SINGLE_SEPTETS_MAX: usize = 160;
/// Septets per segment of a concatenated GSM-7 SMS: the 6-octet concatenation header takes 48
/// bits, padded to 49 (7 septets), leaving 153.
pub const GSM7_SEGMENT_SEPTETS_MAX: usize = 153;
/// UTF-16 units in one unconcatenated UCS-2 SMS: 140 octets / 2.
pub const UCS2_SINGLE_UNITS_MAX: usize = 70;
/// UTF-16 units per segment of a concatenated UCS-2 SMS: (140 - 6 header octets) / 2.
pub const UCS2_SEGMENT_UNITS_MAX: usize = 67;
/// Most segments one concatenated SMS can have: the header's "total parts" field is one octet.
pub const CONCATENATED_SEGMENTS_MAX: usize = 255;

/// How an SMS text is encoded on the air.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmsEncoding {
    /// The GSM 03.38 default alphabet (7 bits per character, extension characters 14).
    Gsm7,
    /// UCS-2, in practice UTF-16 big-endian (16 bits per unit, 2 units for a surrogate pair).
    Ucs2,
}

impl SmsEncoding {
    /// Units in one unconcatenated message.
    pub const fn single_units_max(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => GSM7_SINGLE_SEPTETS_MAX,
            SmsEncoding::Ucs2 => UCS2_SINGLE_UNITS_MAX,
        }
    }

    /// Units in one segment of a concatenated message.
    pub const fn segment_units_max(self) -> usize {
        match self {
            SmsEncoding::Gsm7 => GSM7_SEGMENT_SEPTETS_MAX,
            SmsEncoding::Ucs2 => UCS2_SEGMENT_UNITS_MAX,
        }
    }

    /// Most units that `segments` segments can hold. A text of that many units may still
    /// need one more segment when an extension character or surrogate pair falls on a
    /// boundary; [`analyse`] gives the exact count.
    pub const fn units_in(self, segments: usize) -> usize {
        match segments {
            0 => 0,
            1 => self.single_units_max(),
            n => n.saturating_mul(self.segment_units_max()),
        }
    }

    /// What a unit is called in messages: `septets` or `UTF-16 units`.
    pub const fn unit_name(self) -> &'static str {
        match self {
            SmsEncoding::Gsm7 => "septets",
            SmsEncoding::Ucs2 => "UTF-16 units",
        }
    }

    /// The SMPP 3.4 `data_coding` value: 0 (the SMSC default alphabet, which SMSCs normally
    /// take as GSM-7; a provider configured otherwise is the SMPP client's concern) or 8 (UCS-2).
    pub const fn smpp_data_coding(self) -> u8 {
        match self {
            SmsEncoding::Gsm7 => 0x00,
            SmsEncoding::Ucs2 => 0x08,
        }
    }
}

impl fmt::Display for SmsEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SmsEncoding::Gsm7 => "GSM-7",
            SmsEncoding::Ucs2 => "UCS-2",
        })
    }
}

/// What an SMS text costs: its encoding, length and number of segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmsInfo {
    /// GSM-7 when every character allows it, else UCS-2.
    pub encoding: SmsEncoding,
    /// Length in the encoding's units: septets (extension characters count 2) or UTF-16 units
    /// (surrogate pairs count 2).
    pub units: usize,
    /// Segments the text is sent in. The empty text is 1: an empty SMS is still a message (the
    /// alert validator rejects empty texts on its own).
    pub segments: usize,
    /// Characters (Unicode scalar values) in the text.
    pub chars: usize,
    /// The first character that is not in GSM-7 and so forces UCS-2, to tell the author which
    /// one to replace.
    pub ucs2_trigger: Option<char>,
}

/// Encoding, length and segment count of `text`. Never fails; linear in the text's length.
pub fn analyse(text: &str) -> SmsInfo {
    let mut septets = 0;
    let mut utf16_units = 0;
    let mut chars = 0;
    let mut ucs2_trigger = None;
    for c in text.chars() {
        chars += 1;
        utf16_units += c.len_utf16();
        if ucs2_trigger.is_none() {
            match gsm7::lookup(c) {
                Some(g) => septets += g.septets(),
                None => ucs2_trigger = Some(c),
            }
        }
    }
    let (encoding, units) =
        if ucs2_trigger.is_none() { (SmsEncoding::Gsm7, septets) } else { (SmsEncoding::Ucs2, utf16_units) };
    let segments = if units <= encoding.single_units_max() {
        1
    } else {
        SegmentRanges::new(text, encoding, units).count()
    };
    SmsInfo { encoding, units, segments, chars, ucs2_trigger }
}

/// Analyses `text` and checks it fits in `max_segments` segments; the error names the field,
/// the count, the encoding, the character that forced UCS-2 and the limit, e.g.
/// `sms.text: needs 4 segments (UCS-2, 210 UTF-16 units; '😀' is not in GSM-7 and forces
/// UCS-2), more than the limit of 3 (at most 201 UTF-16 units)`.
pub fn check_segments(field: &str, text: &str, max_segments: u32) -> Result<SmsInfo, ValidationError> {
    let info = analyse(text);
    let max = usize::try_from(max_segments).unwrap_or(usize::MAX);
    if info.segments <= max {
        return Ok(info);
    }
    let why_ucs2 = match info.ucs2_trigger {
        Some(c) => format!("; {c:?} is not in GSM-7 and forces UCS-2"),
        None => String::new(),
    };
    let unit_name = info.encoding.unit_name();
    let message = format!(
        "needs {} segments ({}, {} {unit_name}{why_ucs2}), more than the limit of {max} (at most {} {unit_name})",
        info.segments,
        info.encoding,
        info.units,
        info.encoding.units_in(max),
    );
    Err(ValidationError::new(field, Rule::SmsSegments, message))
}

/// A text cut into encoded segment payloads, ready for SMPP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSegments {
    /// The encoding of every payload.
    pub encoding: SmsEncoding,
    /// One payload per segment, without the concatenation header (the SMPP client adds a UDH
    /// or the `sar_*` TLVs). GSM-7 payloads are unpacked septets ([`encode_gsm7_unpacked`]),
    /// UCS-2 payloads UTF-16BE ([`encode_ucs2`]). A text that fits in one message is one
    /// payload of up to 160 septets / 140 octets; otherwise each is at most 153 septets / 134
    /// octets, and no extension character or surrogate pair is split between two.
    pub payloads: Vec<Vec<u8>>,
}

/// Chooses the encoding of `text` and cuts it into segment payloads; the number of payloads
/// always equals [`analyse`]'s `segments`. Fails only when the text needs more than
/// [`CONCATENATED_SEGMENTS_MAX`] segments, which no SMS can carry (never truncates).
pub fn split_segments(text: &str) -> Result<SmsSegments, SmsError> {
    let info = analyse(text);
    if info.segments > CONCATENATED_SEGMENTS_MAX {
        return Err(SmsError::TooManySegments { segments: info.segments, max: CONCATENATED_SEGMENTS_MAX });
    }
    let mut payloads = Vec::with_capacity(info.segments);
    for range in SegmentRanges::new(text, info.encoding, info.units) {
        let part = text.get(range).unwrap_or_default();
        payloads.push(match info.encoding {
            SmsEncoding::Gsm7 => encode_gsm7_unpacked(part)?,
            SmsEncoding::Ucs2 => encode_ucs2(part),
        });
    }
    Ok(SmsSegments { encoding: info.encoding, payloads })
}

/// Encodes `text` in GSM-7, one septet value per byte, extension characters as 0x1B and
/// their code: the form SMPP's `short_message` carries with `data_coding` 0. Fails on the
/// first character outside the alphabet (the text must go as UCS-2).
pub fn encode_gsm7_unpacked(text: &str) -> Result<Vec<u8>, SmsError> {
    let mut out = Vec::with_capacity(text.len());
    for (index, ch) in text.chars().enumerate() {
        match gsm7::lookup(ch) {
            Some(Gsm7Char::Basic(septet)) => out.push(septet),
            Some(Gsm7Char::Extended(code)) => out.extend([gsm7::ESCAPE, code]),
            None => return Err(SmsError::NotGsm7 { ch, index }),
        }
    }
    Ok(out)
}

/// Encodes `text` as UTF-16 big-endian, the form of `data_coding` 8 (UCS-2).
pub fn encode_ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Decodes unpacked GSM-7 (one septet per byte), as received in delivery receipts and replies.
///
/// Follows the receiving rules of 3GPP TS 23.038: an escape before a code the extension table
/// does not assign reads as the default-alphabet character of that code; an escape followed by
/// another escape (reserved for a further table) and a lone escape at the end read as a space.
/// Fails only on a byte above 0x7F, which is no septet at all.
pub fn decode_gsm7_unpacked(bytes: &[u8]) -> Result<String, SmsError> {
    let mut out = String::with_capacity(bytes.len());
    let mut iter = bytes.iter().copied().enumerate();
    while let Some((offset, byte)) = iter.next() {
        let ch = if byte == gsm7::ESCAPE {
            match iter.next() {
                None => ' ',
                Some((_, gsm7::ESCAPE)) => ' ',
                Some((offset, code)) => gsm7::extension_char(code)
                    .or_else(|| gsm7::basic_char(code))
                    .ok_or(SmsError::NotSeptet { byte: code, offset })?,
            }
        } else {
            gsm7::basic_char(byte).ok_or(SmsError::NotSeptet { byte, offset })?
        };
        out.push(ch);
    }
    Ok(out)
}

/// Decodes UTF-16 big-endian (`data_coding` 8), as received in replies. Fails on an odd
/// length or an unpaired surrogate, which mean the payload was cut or is not UCS-2; a caller
/// that prefers to show something can use `String::from_utf16_lossy` instead.
pub fn decode_ucs2(bytes: &[u8]) -> Result<String, SmsError> {
    if !bytes.len().is_multiple_of(2) {
        return Err(SmsError::OddLength { len: bytes.len() });
    }
    let units = bytes.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .map_err(|e| SmsError::UnpairedSurrogate { unit: e.unpaired_surrogate() })
}
