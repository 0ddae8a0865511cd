//! CAP 1.2 times: `2003-06-11T20:56:00-07:00`.
//!
//! CAP 1.2 (section 3.3.2) narrows `xs:dateTime` to one form: date, `T`, time to the second,
//! and an explicit offset from UTC. No fractional seconds, no `Z`: UTC is written `-00:00`
//! (which RFC 3339 also reads as "UTC, local offset unknown"). The schema's pattern is
//! `\d\d\d\d-\d\d-\d\dT\d\d:\d\d:\d\d[-,+]\d\d:\d\d`; the `,` there is a slip of the schema
//! (no time has a comma offset) and is refused here.
//!
//! A [`CapDateTime`] keeps the offset as written, so writing it gives back the same text, and
//! converts to Unix seconds for comparisons and for Varsel's `send_at_ms`/`expires_at_ms`.
//!
//! ```
//! use varsel_cap::CapDateTime;
//!
//! let t = CapDateTime::parse("2003-06-11T20:56:00-07:00").unwrap();
//! assert_eq!(t.to_string(), "2003-06-11T20:56:00-07:00");
//! assert_eq!(t.unix_seconds(), 1_055_390_160);
//! assert_eq!(CapDateTime::from_unix_seconds(1_055_390_160).unwrap().to_string(), "2003-06-12T03:56:00-00:00");
//! assert!(CapDateTime::parse("2003-06-11T20:56:00Z").unwrap_err().contains("-00:00"));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};

/// Length of every CAP time: `YYYY-MM-DDThh:mm:ss+hh:mm`.
const TEXT_LEN: usize = 25;
/// Largest offset from UTC `xs:dateTime` allows, in minutes (14:00).
const OFFSET_MINUTES_MAX: i32 = 14 * 60;
/// An example, quoted in every error message so the fix is obvious.
const EXAMPLE: &str = "2003-06-11T20:56:00-07:00";

/// A CAP time: a calendar date and time to the second, with the offset from UTC it was
/// written in. Always valid (the fields are private; build one with [`CapDateTime::parse`] or
/// [`CapDateTime::from_unix_seconds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CapDateTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    /// Offset east of UTC in minutes.
    offset_minutes: i16,
    /// `-00:00` rather than `+00:00` (both are UTC; CAP prefers `-00:00`).
    negative_zero: bool,
}

impl CapDateTime {
    /// Reads a CAP time; the error says what is wrong (without naming the element, which the
    /// caller knows). Whitespace around the value is ignored, as `xs:dateTime` does.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = text.as_bytes();
        if bytes.len() != TEXT_LEN || !matches!(bytes.get(19), Some(b'+' | b'-')) {
            return Err(shape_problem(text));
        }
        let digits_at = |range: std::ops::Range<usize>| -> Option<u32> {
            let part = bytes.get(range)?;
            part.iter().try_fold(0u32, |acc, b| b.is_ascii_digit().then(|| acc * 10 + u32::from(b - b'0')))
        };
        let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (22, b':')];
        let fields = (
            digits_at(0..4),
            digits_at(5..7),
            digits_at(8..10),
            digits_at(11..13),
            digits_at(14..16),
            digits_at(17..19),
            digits_at(20..22),
            digits_at(23..25),
        );
        let (Some(year), Some(month), Some(day), Some(hour), Some(minute), Some(second), Some(oh), Some(om)) =
            fields
        else {
            return Err(shape_problem(text));
        };
        if separators.iter().any(|&(i, c)| bytes.get(i) != Some(&c)) {
            return Err(shape_problem(text));
        }
        check_ranges(year, month, day, hour, minute, second)?;
        let offset = i32::try_from(oh * 60 + om).unwrap_or(i32::MAX);
        if om > 59 || offset > OFFSET_MINUTES_MAX {
            return Err("has an offset from UTC beyond ±14:00 or with more than 59 minutes".into());
        }
        let negative = bytes.get(19) == Some(&b'-');
        let offset_minutes = if negative { -offset } else { offset };
        Ok(CapDateTime {
            year: u16::try_from(year).unwrap_or(u16::MAX),
            month: u8::try_from(month).unwrap_or(u8::MAX),
            day: u8::try_from(day).unwrap_or(u8::MAX),
            hour: u8::try_from(hour).unwrap_or(u8::MAX),
            minute: u8::try_from(minute).unwrap_or(u8::MAX),
            second: u8::try_from(second).unwrap_or(u8::MAX),
            offset_minutes: i16::try_from(offset_minutes).unwrap_or(0),
            negative_zero: negative && offset == 0,
        })
    }

    /// The UTC time `seconds` after the Unix epoch, written with CAP's UTC offset `-00:00`;
    /// `None` outside the years 1 to 9999 that CAP can write.
    pub fn from_unix_seconds(seconds: i64) -> Option<Self> {
        let days = seconds.div_euclid(86_400);
        let secs_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        if !(1..=9999).contains(&year) {
            return None;
        }
        Some(CapDateTime {
            year: u16::try_from(year).ok()?,
            month,
            day,
            hour: u8::try_from(secs_of_day / 3600).ok()?,
            minute: u8::try_from(secs_of_day % 3600 / 60).ok()?,
            second: u8::try_from(secs_of_day % 60).ok()?,
            offset_minutes: 0,
            negative_zero: true,
        })
    }

    /// Seconds since the Unix epoch (negative before 1970).
    pub fn unix_seconds(&self) -> i64 {
        let days = days_from_civil(i64::from(self.year), self.month, self.day);
        let local = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        local - i64::from(self.offset_minutes) * 60
    }

    /// Milliseconds since the Unix epoch, `None` before 1970 (Varsel's times are unsigned).
    pub fn unix_ms(&self) -> Option<u64> {
        u64::try_from(self.unix_seconds()).ok()?.checked_mul(1000)
    }

    /// The offset from UTC it was written in, in minutes east.
    pub fn offset_minutes(&self) -> i16 {
        self.offset_minutes
    }
}

impl fmt::Display for CapDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.offset_minutes < 0 || self.negative_zero { '-' } else { '+' };
        let offset = self.offset_minutes.unsigned_abs();
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
            self.year,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            offset / 60,
            offset % 60
        )
    }
}

impl TryFrom<String> for CapDateTime {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        CapDateTime::parse(&text)
    }
}

impl From<CapDateTime> for String {
    fn from(t: CapDateTime) -> String {
        t.to_string()
    }
}

/// Says which common mistake a malformed time makes.
fn shape_problem(text: &str) -> String {
    let echo = varsel_domain::error::quoted(text);
    let why = if text.ends_with('Z') || text.ends_with('z') {
        "ends in Z; CAP writes UTC as -00:00"
    } else if text.get(19..20) == Some(".") {
        "has fractional seconds, which CAP does not allow"
    } else if text.len() == 19 {
        "has no offset from UTC"
    } else {
        "is not a CAP time"
    };
    format!("{why}: got {echo}, expected a time like {EXAMPLE}")
}

fn check_ranges(year: u32, month: u32, day: u32, hour: u32, minute: u32, second: u32) -> Result<(), String> {
    if year == 0 {
        return Err("has year 0000, which xs:dateTime does not allow".into());
    }
    if !(1..=12).contains(&month) {
        return Err(format!("has month {month:02}; months are 01 to 12"));
    }
    let days_max = days_in_month(year, month);
    if day == 0 || day > days_max {
        return Err(format!("has day {day:02}; {year:04}-{month:02} has days 01 to {days_max}"));
    }
    if hour > 23 || minute > 59 || second > 59 {
        return Err(format!(
            "has time {hour:02}:{minute:02}:{second:02}; hours are 00 to 23, minutes and seconds 00 to 59"
        ));
    }
    Ok(())
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the era-based method: 400-year eras
/// of 146 097 days, years starting in March so the leap day is last).
fn days_from_civil(year: i64, month: u8, day: u8) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let day_of_year = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`]: (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, u8::try_from(month).unwrap_or(1), u8::try_from(day).unwrap_or(1))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Goal: the calendar arithmetic agrees with itself over many years. Method: round-trip
    /// every 7919th second-day from year 1 to 9999 through both conversions.
    #[test]
    fn unix_round_trip() {
        let first = CapDateTime::parse("0001-01-01T00:00:00-00:00").unwrap().unix_seconds();
        let last = CapDateTime::parse("9999-12-31T23:59:59-00:00").unwrap().unix_seconds();
        let mut s = first;
        while s <= last {
            let t = CapDateTime::from_unix_seconds(s).unwrap();
            assert_eq!(t.unix_seconds(), s);
            assert_eq!(CapDateTime::parse(&t.to_string()).unwrap(), t);
            s += 86_400 * 7919 + 4021;
        }
        assert!(CapDateTime::from_unix_seconds(last + 1).is_none());
        assert!(CapDateTime::from_unix_seconds(first - 1).is_none());
    }

    /// Goal: each malformed time is refused with its reason. Method: one per mistake.
    #[test]
    fn refuses_malformed() {
        let err = |t: &str| CapDateTime::parse(t).unwrap_err();
        assert!(err("2003-06-11T20:56:00Z").starts_with("ends in Z"));
        assert!(err("2003-06-11T20:56:00.5-07:00").starts_with("has fractional seconds"));
        assert!(err("2003-06-11T20:56:00").starts_with("has no offset"));
        assert!(err("2003-06-11T20:56:00,07:00").starts_with("is not a CAP time"));
        assert!(err("2003-02-29T20:56:00-07:00").starts_with("has day 29"));
        assert!(err("2003-13-01T20:56:00-07:00").starts_with("has month 13"));
        assert!(err("2003-06-11T24:00:00-07:00").starts_with("has time"));
        assert!(err("2003-06-11T20:56:00+15:00").starts_with("has an offset"));
        assert!(err("0000-06-11T20:56:00+01:00").starts_with("has year 0000"));
        assert!(err("２００３-06-11T20:56:00-07:00").starts_with("is not a CAP time"));
        assert_eq!(CapDateTime::parse("2004-02-29T00:00:00+14:00").unwrap().offset_minutes(), 840);
        assert_eq!(
            CapDateTime::parse(" 2003-06-11T20:56:00-00:00\n").unwrap().to_string(),
            "2003-06-11T20:56:00-00:00"
        );
        assert_eq!(
            CapDateTime::parse("2003-06-11T20:56:00+00:00").unwrap().to_string(),
            "2003-06-11T20:56:00+00:00"
        );
    }
}
