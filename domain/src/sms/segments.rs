//! Cutting a text into SMS segments the way an SMSC does.
//!
//! Segments are counted by actually cutting, not by dividing, because a character is never
//! split across two segments: a GSM-7 extension character (escape + code, 2 septets) or a
//! UTF-16 surrogate pair (2 units) that would straddle a boundary moves whole to the next
//! segment, which leaves the previous one a unit short. Phones that show each segment as it
//! arrives, and SMSCs that re-encode segments, would otherwise show garbage.

use std::ops::Range;

use super::SmsEncoding;
use super::gsm7;

/// Units (septets or UTF-16 units) that `c` takes in `encoding`.
pub(super) fn unit_cost(encoding: SmsEncoding, c: char) -> usize {
    match encoding {
        // A character outside the alphabet never reaches here with Gsm7 (the encoding is chosen
        // from the text); counting it as one keeps this function total.
        SmsEncoding::Gsm7 => gsm7::lookup(c).map_or(1, gsm7::Gsm7Char::septets),
        SmsEncoding::Ucs2 => c.len_utf16(),
    }
}

/// Byte ranges of a text, one per segment, in order.
///
/// A text that fits in one message is one range (also the empty text: an empty SMS is still
/// one message); a longer one is cut greedily into segments of at most
/// [`SmsEncoding::segment_units_max`] units without splitting a character.
#[derive(Debug)]
pub(super) struct SegmentRanges<'a> {
    text: &'a str,
    encoding: SmsEncoding,
    /// Units one segment may hold.
    capacity: usize,
    /// Byte offset where the next segment starts; always on a character boundary.
    start: usize,
    /// Whether a range was produced, so that the empty text still yields its one segment.
    yielded: bool,
}

impl<'a> SegmentRanges<'a> {
    /// Segments of `text`, which takes `total_units` units in `encoding`.
    pub(super) fn new(text: &'a str, encoding: SmsEncoding, total_units: usize) -> Self {
        let capacity = if total_units <= encoding.single_units_max() {
            encoding.single_units_max()
        } else {
            encoding.segment_units_max()
        };
        SegmentRanges { text, encoding, capacity, start: 0, yielded: false }
    }
}

impl Iterator for SegmentRanges<'_> {
    type Item = Range<usize>;

    fn next(&mut self) -> Option<Range<usize>> {
        if self.yielded && self.start >= self.text.len() {
            return None;
        }
        let rest = self.text.get(self.start..)?;
        let mut units = 0;
        let mut end = self.text.len();
        for (offset, c) in rest.char_indices() {
            let cost = unit_cost(self.encoding, c);
            // The first character of a segment always goes in, so every call makes progress
            // (a character costs at most 2 units and a segment holds at least 67).
            if units > 0 && units + cost > self.capacity {
                end = self.start + offset;
                break;
            }
            units += cost;
        }
        let range = self.start..end;
        self.start = end;
        self.yielded = true;
        Some(range)
    }
}
