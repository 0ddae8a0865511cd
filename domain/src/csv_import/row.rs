//! One data row of a contacts file: from raw fields to a [`ContactRow`] or every reason not.

use std::collections::BTreeSet;

use csv::ByteRecord;

use super::header::{Column, Header};
use super::{
    ContactRow, EXTERNAL_ID_CHARS_MAX, FIELD_BYTES_MAX, GROUP_NAME_CHARS_MAX, GROUPS_PER_CONTACT_MAX,
    NAME_CHARS_MAX, PUSH_BYTES_MAX, RejectedRow,
};
use crate::channel::Channel;
use crate::email::validate_email;
use crate::error::{Rule, ValidationError, ValidationErrors, quoted};
use crate::language::normalize_language;
use crate::location::{Location, check_locations, parse_degrees, parse_locations};
use crate::phone::normalize_e164;

/// What became of one record.
#[derive(Debug)]
pub(super) enum RowOutcome {
    /// Every field empty: nothing to import.
    Blank,
    /// A valid contact.
    Accepted(ContactRow),
    /// An invalid row, with every reason.
    Rejected(RejectedRow),
}

/// One field of a record after decoding.
#[derive(Debug, Clone, Copy)]
enum Cell<'r> {
    /// Absent or only whitespace.
    Empty,
    /// A value, trimmed.
    Value(&'r str),
    /// Unreadable (too long, not UTF-8); the error is already recorded.
    Bad,
}

impl<'r> Cell<'r> {
    fn value(self) -> Option<&'r str> {
        match self {
            Cell::Value(value) => Some(value),
            Cell::Empty | Cell::Bad => None,
        }
    }
}

/// Parses the record that starts on `line`.
pub(super) fn parse_row(header: &Header, line: u64, record: &ByteRecord) -> RowOutcome {
    if record.iter().all(is_blank) {
        return RowOutcome::Blank;
    }
    if let Some(error) = check_field_count(header, record) {
        let external_id = external_id_hint(header, record);
        return RowOutcome::Rejected(RejectedRow { line, external_id, errors: vec![error] });
    }
    let mut errors = ValidationErrors::new();
    let mut cells = [Cell::Empty; Column::ALL.len()];
    for (&column, field) in header.columns().iter().zip(record.iter()) {
        cells[column as usize] = decode_cell(column, field, &mut errors);
    }
    let row = validate_cells(line, &cells, header.has_places(), &mut errors);
    match row {
        Some(row) if errors.is_empty() => RowOutcome::Accepted(row),
        _ => {
            let external_id = cells[Column::ExternalId as usize]
                .value()
                .and_then(|id| check_text("external_id", id, EXTERNAL_ID_CHARS_MAX).ok());
            RowOutcome::Rejected(RejectedRow { line, external_id, errors: errors.into_vec() })
        }
    }
}

/// The error for a record with fewer fields than the header, or with non-empty extra ones.
fn check_field_count(header: &Header, record: &ByteRecord) -> Option<ValidationError> {
    let extra_used = record.iter().skip(header.len()).any(|field| !is_blank(field));
    if record.len() >= header.len() && !extra_used {
        return None;
    }
    let message = format!(
        "has {} fields but the header has {} columns; a value containing a comma must be in double quotes",
        record.len(),
        header.len()
    );
    Some(ValidationError::new("", Rule::CsvRecord, message))
}

/// The `external_id` of a malformed record, if it reads as one, to help the user find the row.
fn external_id_hint(header: &Header, record: &ByteRecord) -> Option<String> {
    let field = record.get(header.index_of(Column::ExternalId)?)?;
    let id = std::str::from_utf8(field).ok()?.trim();
    check_text("external_id", id, EXTERNAL_ID_CHARS_MAX).ok().filter(|id| !id.is_empty())
}

/// Whether a field is empty the way [`decode_cell`] sees it: UTF-8 that trims to nothing.
/// Trimming only ASCII here, as this once did, rejected a row of no-break spaces (what a
/// spreadsheet leaves in a cleared cell) as "external_id is empty" instead of skipping it as
/// blank; found by `tests/t01_csv_properties.rs`.
fn is_blank(field: &[u8]) -> bool {
    std::str::from_utf8(field).is_ok_and(|text| text.trim().is_empty())
}

/// Decodes one field, recording why when it is unreadable.
fn decode_cell<'r>(column: Column, field: &'r [u8], errors: &mut ValidationErrors) -> Cell<'r> {
    if field.len() > FIELD_BYTES_MAX {
        let message = format!("is {} bytes long, more than {FIELD_BYTES_MAX}", field.len());
        errors.push(ValidationError::new(column.name(), Rule::TooLong, message));
        return Cell::Bad;
    }
    match std::str::from_utf8(field) {
        Ok(text) if text.trim().is_empty() => Cell::Empty,
        Ok(text) => Cell::Value(text.trim()),
        Err(e) => {
            let message = format!(
                "is not UTF-8 (invalid byte at offset {}); save the file as CSV UTF-8",
                e.valid_up_to()
            );
            errors.push(ValidationError::new(column.name(), Rule::Utf8, message));
            Cell::Bad
        }
    }
}

/// Validates every cell, recording every problem; the row when the required parts are valid.
fn validate_cells(
    line: u64,
    cells: &[Cell<'_>],
    has_places: bool,
    errors: &mut ValidationErrors,
) -> Option<ContactRow> {
    let cell = |column: Column| cells.get(column as usize).copied().unwrap_or(Cell::Empty);
    let value = |column: Column| cell(column).value();
    let external_id = match cell(Column::ExternalId) {
        Cell::Empty => {
            errors.push(ValidationError::new("external_id", Rule::Required, "is empty"));
            None
        }
        Cell::Value(id) => errors.check(check_text("external_id", id, EXTERNAL_ID_CHARS_MAX)),
        Cell::Bad => None,
    };
    let name = value(Column::Name).and_then(|v| errors.check(check_text("name", v, NAME_CHARS_MAX)));
    let phone = value(Column::Phone).and_then(|v| errors.check(normalize_e164("phone", v)));
    let email = value(Column::Email).and_then(|v| errors.check(validate_email("email", v)));
    let language = value(Column::Language).and_then(|v| errors.check(normalize_language("language", v)));
    let push = value(Column::Push).and_then(|v| errors.check(check_push(v)));
    let opt_out = value(Column::OptOut).and_then(|v| errors.check(parse_opt_out(v))).unwrap_or_default();
    let groups = value(Column::Groups).and_then(|v| errors.check(parse_groups(v))).unwrap_or_default();
    let reachable = [Column::Phone, Column::Email, Column::Push];
    if reachable.iter().all(|&c| matches!(cell(c), Cell::Empty)) {
        let message = "has no phone, email or push; a contact needs at least one to be reached";
        errors.push(ValidationError::new("", Rule::Required, message));
    }
    // With place columns the row's places replace the contact's (none clears them).
    let locations = if has_places { places(&value, errors) } else { None };
    Some(ContactRow {
        line,
        external_id: external_id?,
        name,
        phone,
        email,
        language,
        push,
        opt_out,
        groups,
        locations,
    })
}

/// The row's places: `lat`/`lon` (with `address`) as the place `home`, then the `locations`
/// column's; `None` when any is wrong (recorded in `errors`).
fn places<'a>(
    value: &impl Fn(Column) -> Option<&'a str>,
    errors: &mut ValidationErrors,
) -> Option<Vec<Location>> {
    let before = errors.len();
    let mut out = Vec::new();
    match (value(Column::Lat), value(Column::Lon)) {
        (Some(lat), Some(lon)) => {
            let lat = errors.check(parse_degrees("lat", lat, 90));
            let lon = errors.check(parse_degrees("lon", lon, 180));
            if let (Some(lat), Some(lon)) = (lat, lon) {
                let address = value(Column::Address).map(str::to_string);
                if let Some(l) =
                    errors.check(Location::new(HOME, lat, lon, address).map_err(|e| at_column(e, "address")))
                {
                    out.push(l);
                }
            }
        }
        (Some(_), None) => {
            errors.push(ValidationError::new("lon", Rule::Required, "is empty while lat is given"))
        }
        (None, Some(_)) => {
            errors.push(ValidationError::new("lat", Rule::Required, "is empty while lon is given"))
        }
        (None, None) if value(Column::Address).is_some() => {
            errors.push(ValidationError::new("address", Rule::Value, "is given without lat and lon"));
        }
        (None, None) => {}
    }
    if let Some(more) = value(Column::Locations).and_then(|v| errors.check(parse_locations(v))) {
        out.extend(more);
    }
    errors.check(check_locations(&out));
    (errors.len() == before).then_some(out)
}

/// A place's error named by the CSV column it came from.
fn at_column(mut e: ValidationError, column: &str) -> ValidationError {
    if e.field.starts_with("locations.address") {
        e.field = column.to_string();
    }
    e
}

/// The name of the place the `lat` and `lon` columns give.
pub const HOME: &str = "home";

/// Checks a free-text value: at most `max_chars` characters and no control characters (a
/// line break inside a quoted cell would split names and ids in every display).
fn check_text(field: &str, value: &str, max_chars: usize) -> Result<String, ValidationError> {
    let chars = value.chars().count();
    if chars > max_chars {
        let message = format!("is {chars} characters long, more than {max_chars}");
        return Err(ValidationError::new(field, Rule::TooLong, message));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        let message = format!("contains the control character {c:?}: got {}", quoted(value));
        return Err(ValidationError::new(field, Rule::Characters, message));
    }
    Ok(value.to_owned())
}

/// Checks a Web Push subscription enough to catch a wrong column: JSON objects start with `{`.
fn check_push(value: &str) -> Result<String, ValidationError> {
    if value.len() > PUSH_BYTES_MAX {
        let message = format!("is {} bytes long, more than {PUSH_BYTES_MAX}", value.len());
        return Err(ValidationError::new("push", Rule::TooLong, message));
    }
    if !value.starts_with('{') {
        let message =
            format!("must be a Web Push subscription in JSON, starting with {{: got {}", quoted(value));
        return Err(ValidationError::new("push", Rule::PushSubscription, message));
    }
    Ok(value.to_owned())
}

/// Parses `sms;voice`: channel names separated by `;`, empty items ignored.
fn parse_opt_out(value: &str) -> Result<BTreeSet<Channel>, ValidationError> {
    let mut channels = BTreeSet::new();
    let mut unknown = Vec::new();
    for item in value.split(';').map(str::trim).filter(|item| !item.is_empty()) {
        match item.parse::<Channel>() {
            Ok(channel) => {
                channels.insert(channel);
            }
            Err(_) => unknown.push(quoted(item)),
        }
    }
    if unknown.is_empty() {
        return Ok(channels);
    }
    let message = format!(
        "has unknown channels {}; list channels from sms, voice, email, push, separated by ';'",
        unknown.join(", ")
    );
    Err(ValidationError::new("opt_out", Rule::Channel, message))
}

/// Parses `brann;stab`: group names separated by `;`, empty items ignored, repeats merged.
fn parse_groups(value: &str) -> Result<Vec<String>, ValidationError> {
    let mut groups: Vec<String> = Vec::new();
    for item in value.split(';').map(str::trim).filter(|item| !item.is_empty()) {
        let group = check_text("groups", item, GROUP_NAME_CHARS_MAX)?;
        if !groups.contains(&group) {
            groups.push(group);
        }
        if groups.len() > GROUPS_PER_CONTACT_MAX {
            let message = format!("lists more than {GROUPS_PER_CONTACT_MAX} groups");
            return Err(ValidationError::new("groups", Rule::TooMany, message));
        }
    }
    Ok(groups)
}
