//! Bulk import of contacts from CSV.
//!
//! The file is comma-separated UTF-8 (a leading byte order mark is fine) with a header row.
//! Columns, in any order, names in any case:
//!
//! | column        | required | content                                                        |
//! |---------------|----------|----------------------------------------------------------------|
//! | `external_id` | yes      | the customer's own id, 1 to [`EXTERNAL_ID_CHARS_MAX`] characters, unique in the file |
//! | `name`        | no       | up to [`NAME_CHARS_MAX`] characters                            |
//! | `phone`       | no*      | E.164, see [`crate::phone`]                                    |
//! | `email`       | no*      | see [`crate::email`]                                           |
//! | `language`    | no       | a language tag like `nb`, `en-GB`, see [`crate::language`]     |
//! | `push`        | no*      | a Web Push subscription as JSON, up to [`PUSH_BYTES_MAX`] bytes |
//! | `opt_out`     | no       | channels the contact opted out of, `;`-separated: `sms;voice`   |
//! | `groups`      | no       | groups to add the contact to, `;`-separated                    |
//! | `lat`, `lon`  | no       | WGS 84 degrees of the contact's place `home` (both or neither)  |
//! | `address`     | no       | address text of that place, for people                          |
//! | `locations`   | no       | more places, `;`-separated `name:lat,lon`: `work:60.39,5.32`    |
//!
//! A file with place columns replaces each imported contact's places (a row with none clears
//! them); a file without them leaves places as they are. See [`crate::location`].
//!
//! \* A row needs at least one of `phone`, `email` and `push`. An unknown column fails the
//! header, so a misspelt `phnoe` column is not silently ignored; so does a header without
//! `external_id` or without any of `phone`, `email`, `push`.
//!
//! Every problem with a row is reported on that row ([`RejectedRow`]), with the line number
//! an editor shows for it (the header is line 1; a quoted value spanning lines counts all its
//! lines), and the other rows are still imported: a malformed record (wrong number of fields,
//! bytes that are not UTF-8) is a rejected row too. Values are trimmed of surrounding
//! whitespace, and an empty value is an absent one. Rows whose every field is empty (an
//! editor's leftover `,,,,`) carry nothing and are skipped, but counted in
//! [`ImportParse::blank_rows`]; empty lines are ignored. Extra fields after the last column are
//! allowed when empty, since they carry nothing either.
//!
//! A *list sync* (`varsel contact import --sync GROUP`) reads the same format and then also
//! removes from GROUP the members missing from the file; a rejected row keeps its contact in
//! the group (the node's `api::list_sync`).
//!
//! The whole file fails ([`ImportError`]) only when the header is unusable, when it has more
//! than [`IMPORT_ROWS_MAX`] rows (split it: importing an arbitrary first part would be worse),
//! or when one record runs past [`RECORD_BYTES_MAX`] bytes, which means a double quote was
//! left open and the rest of the file cannot be read as the user meant it.
//!
//! ```
//! use varsel_domain::csv_import::parse_contacts;
//!
//! let file = "External_ID,Phone,Groups\nk-1,+47 912 34 567,brann;stab\nk-2,12345,\n";
//! let parse = parse_contacts(file.as_bytes())?;
//! assert_eq!(parse.accepted[0].phone.as_deref(), Some("+4791234567"));
//! assert_eq!(parse.accepted[0].groups, ["brann", "stab"]);
//! assert_eq!((parse.rejected[0].line, parse.rejected[0].errors[0].field.as_str()), (3, "phone"));
//! # Ok::<(), varsel_domain::error::ImportError>(())
//! ```

mod header;
mod reader;
mod row;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::error::{ImportError, Rule, ValidationError, quoted};
use header::Header;
use reader::RecordReader;
use row::RowOutcome;

/// Most records after the header in one file: a national list of a million contacts fits,
/// and the memory of one import stays bounded.
pub const IMPORT_ROWS_MAX: usize = 1_000_000;
/// Most bytes in one field. The largest legitimate value is a push subscription.
pub const FIELD_BYTES_MAX: usize = 4 * 1024;
/// Most bytes in one record: 8 columns of [`FIELD_BYTES_MAX`] with room for quoting. A record
/// that runs past it is a quote left open (see the module documentation).
pub const RECORD_BYTES_MAX: usize = 64 * 1024;
/// Most characters in an `external_id`.
pub const EXTERNAL_ID_CHARS_MAX: usize = 128;
/// Most characters in a `name`.
pub const NAME_CHARS_MAX: usize = 200;
/// Most bytes in a `push` subscription.
pub const PUSH_BYTES_MAX: usize = 4096;
/// Most characters in one group name.
pub const GROUP_NAME_CHARS_MAX: usize = 128;
/// Most groups one row may add its contact to.
pub const GROUPS_PER_CONTACT_MAX: usize = 100;

/// One valid contact row, normalised (E.164 phone, lowercased e-mail domain, canonical
/// language tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactRow {
    /// Line of the file the row starts on (the header is line 1), for later reports.
    pub line: u64,
    /// The customer's own id for the contact, unique in the file.
    pub external_id: String,
    /// Display name.
    pub name: Option<String>,
    /// Phone number in E.164 (`+4791234567`).
    pub phone: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// Preferred language tag (`nb`, `en-GB`).
    pub language: Option<String>,
    /// Web Push subscription JSON, as given (its content is the push provider's business).
    pub push: Option<String>,
    /// Channels the contact does not want to be reached on.
    pub opt_out: BTreeSet<Channel>,
    /// Groups to add the contact to, in the order given, without repeats.
    pub groups: Vec<String>,
    /// The contact's places when the file has place columns (they replace the contact's);
    /// `None` when it has none (the contact's places stay as they are).
    pub locations: Option<Vec<crate::location::Location>>,
}

/// A row that was not imported, with every reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// Line of the file the row starts on, as an editor numbers it (the header is line 1).
    pub line: u64,
    /// The row's `external_id`, when it could be read, to help find the contact.
    pub external_id: Option<String>,
    /// Every problem found; the field of each is the column name (empty for the whole record).
    pub errors: Vec<ValidationError>,
}

/// The outcome of parsing a contacts file: every row is in exactly one of the lists, or
/// counted as blank.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportParse {
    /// Rows to import, in file order.
    pub accepted: Vec<ContactRow>,
    /// Rows not to import, in file order.
    pub rejected: Vec<RejectedRow>,
    /// Rows with every field empty, skipped.
    pub blank_rows: u64,
}

/// Parses a contacts CSV file from `input` (see the module documentation for the format).
/// Reads the input once, in a streaming way; memory grows with the rows kept, not the file.
pub fn parse_contacts<R: Read>(input: R) -> Result<ImportParse, ImportError> {
    parse_contacts_bounded(input, IMPORT_ROWS_MAX)
}

/// [`parse_contacts`] with the row limit as a parameter, so tests can reach it cheaply.
fn parse_contacts_bounded<R: Read>(input: R, rows_max: usize) -> Result<ImportParse, ImportError> {
    let mut records = RecordReader::new(input);
    let Some((_, header_record)) = records.next_record()? else {
        let error = ValidationError::new("", Rule::CsvHeader, "the file is empty; it needs a header row");
        return Err(ImportError::Header(error.into()));
    };
    let header = Header::parse(header_record).map_err(ImportError::Header)?;
    let mut import =
        Import { header, parse: ImportParse::default(), first_lines: HashMap::new(), records: 0 };
    while let Some((line, record)) = records.next_record()? {
        import.records += 1;
        if import.records > rows_max {
            return Err(ImportError::TooManyRows { max: rows_max });
        }
        import.add(row::parse_row(&import.header, line, record));
    }
    Ok(import.parse)
}

/// The state of one import.
#[derive(Debug)]
struct Import {
    header: Header,
    parse: ImportParse,
    /// The line where each `external_id` was first seen, to reject later repeats. Ids of
    /// rejected rows are kept too: a repeated id is a problem of the file either way.
    first_lines: HashMap<String, u64>,
    /// Records read after the header, blank ones included.
    records: usize,
}

impl Import {
    /// Files one parsed row, rejecting it if its `external_id` was seen before.
    fn add(&mut self, outcome: RowOutcome) {
        match outcome {
            RowOutcome::Blank => self.parse.blank_rows += 1,
            RowOutcome::Accepted(row) => match self.duplicate(row.line, &row.external_id) {
                None => self.parse.accepted.push(row),
                Some(error) => self.parse.rejected.push(RejectedRow {
                    line: row.line,
                    external_id: Some(row.external_id),
                    errors: vec![error],
                }),
            },
            RowOutcome::Rejected(mut rejected) => {
                let id = rejected.external_id.as_deref();
                if let Some(error) = id.and_then(|id| self.duplicate(rejected.line, id)) {
                    rejected.errors.push(error);
                }
                self.parse.rejected.push(rejected);
            }
        }
    }

    /// The error for `id` on `line` if an earlier row had it; else remembers it.
    fn duplicate(&mut self, line: u64, id: &str) -> Option<ValidationError> {
        if let Some(first) = self.first_lines.get(id) {
            let message = format!("{} is already used on line {first}", quoted(id));
            return Some(ValidationError::new("external_id", Rule::Duplicate, message));
        }
        self.first_lines.insert(id.to_owned(), line);
        None
    }
}
