//! The header row of a contacts file: which column is where.

use csv::ByteRecord;

use crate::error::{Rule, ValidationError, ValidationErrors, quoted};

/// Most unknown column names listed in an error, so a file that is no contacts file at all
/// gets a short message.
const UNKNOWN_LISTED_MAX: usize = 10;

/// A column of the contacts file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Column {
    ExternalId,
    Name,
    Phone,
    Email,
    Language,
    Push,
    OptOut,
    Groups,
    Lat,
    Lon,
    Address,
    Locations,
}

impl Column {
    /// Every column, in the order the documentation lists them.
    pub(super) const ALL: [Column; 12] = [
        Column::ExternalId,
        Column::Name,
        Column::Phone,
        Column::Email,
        Column::Language,
        Column::Push,
        Column::OptOut,
        Column::Groups,
        Column::Lat,
        Column::Lon,
        Column::Address,
        Column::Locations,
    ];

    /// The column's name in the header, also the field name in errors.
    pub(super) const fn name(self) -> &'static str {
        match self {
            Column::ExternalId => "external_id",
            Column::Name => "name",
            Column::Phone => "phone",
            Column::Email => "email",
            Column::Language => "language",
            Column::Push => "push",
            Column::OptOut => "opt_out",
            Column::Groups => "groups",
            Column::Lat => "lat",
            Column::Lon => "lon",
            Column::Address => "address",
            Column::Locations => "locations",
        }
    }

    /// The column a header cell names, ignoring case and surrounding whitespace.
    fn from_header(cell: &str) -> Option<Column> {
        let cell = cell.trim();
        Column::ALL.into_iter().find(|column| column.name().eq_ignore_ascii_case(cell))
    }
}

/// Which column each field of a record is.
#[derive(Debug)]
pub(super) struct Header {
    columns: Vec<Column>,
}

impl Header {
    /// Reads the header row, reporting every problem with it at once.
    pub(super) fn parse(record: &ByteRecord) -> Result<Header, ValidationErrors> {
        if let Some(error) = wrong_delimiter(record) {
            return Err(error.into());
        }
        let mut errors = ValidationErrors::new();
        let mut columns = Vec::with_capacity(record.len());
        let mut unknown = Vec::new();
        for (index, cell) in record.iter().enumerate() {
            let Ok(cell) = std::str::from_utf8(cell) else {
                let message = format!("header column {} is not UTF-8; save the file as CSV UTF-8", index + 1);
                errors.push(ValidationError::new("", Rule::Utf8, message));
                continue;
            };
            match Column::from_header(cell) {
                Some(column) if columns.contains(&column) => {
                    let message = format!("column {} appears twice in the header", column.name());
                    errors.push(ValidationError::new("", Rule::CsvHeader, message));
                }
                Some(column) => columns.push(column),
                None if cell.trim().is_empty() => unknown.push(format!("an unnamed column {}", index + 1)),
                None => unknown.push(quoted(cell)),
            }
        }
        if !unknown.is_empty() {
            errors.push(unknown_columns(&unknown));
        }
        errors.check(required_columns(&columns));
        errors.check(place_columns(&columns));
        errors.into_result().map(|()| Header { columns })
    }

    /// Number of columns.
    pub(super) fn len(&self) -> usize {
        self.columns.len()
    }

    /// The columns in file order.
    pub(super) fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Whether the file carries places (`lat`/`lon` or `locations`): then each row's places
    /// replace the contact's; without these columns an import leaves places as they are.
    pub(super) fn has_places(&self) -> bool {
        self.columns.iter().any(|c| matches!(c, Column::Lat | Column::Locations))
    }

    /// Where `column` is in a record, if the file has it.
    pub(super) fn index_of(&self, column: Column) -> Option<usize> {
        self.columns.iter().position(|&c| c == column)
    }
}

/// `lat` and `lon` come together; `address` belongs to them.
fn place_columns(columns: &[Column]) -> Result<(), ValidationError> {
    let has = |c: Column| columns.contains(&c);
    let message = match (has(Column::Lat), has(Column::Lon)) {
        (true, false) => "has a lat column but no lon column; give both",
        (false, true) => "has a lon column but no lat column; give both",
        (false, false) if has(Column::Address) => "has an address column without lat and lon columns",
        _ => return Ok(()),
    };
    Err(ValidationError::new("", Rule::CsvHeader, format!("the header {message}")))
}

/// The all-columns list for messages.
fn column_list() -> String {
    Column::ALL.map(Column::name).join(", ")
}

/// A header that is one cell holding `;` or tabs was written with another delimiter (a
/// spreadsheet in a Norwegian locale saves `;`-separated "CSV"); say so instead of calling the
/// whole line an unknown column.
fn wrong_delimiter(record: &ByteRecord) -> Option<ValidationError> {
    let only = record.get(0).filter(|_| record.len() == 1)?;
    let delimiter = [(b';', "semicolons"), (b'\t', "tabs")].into_iter().find(|(d, _)| only.contains(d))?.1;
    let message = format!(
        "the header is separated by {delimiter}; save the file as comma-separated CSV (UTF-8) with the columns {}",
        column_list()
    );
    Some(ValidationError::new("", Rule::CsvHeader, message))
}

/// The error for header cells that name no column.
fn unknown_columns(unknown: &[String]) -> ValidationError {
    let mut names: Vec<String> = unknown.iter().take(UNKNOWN_LISTED_MAX).cloned().collect();
    if unknown.len() > UNKNOWN_LISTED_MAX {
        names.push(format!("and {} more", unknown.len() - UNKNOWN_LISTED_MAX));
    }
    let message = format!("unknown columns {}; the columns are {}", names.join(", "), column_list());
    ValidationError::new("", Rule::CsvHeader, message)
}

/// Checks the header has `external_id` and a column to reach the contact through.
fn required_columns(columns: &[Column]) -> Result<(), ValidationError> {
    if !columns.contains(&Column::ExternalId) {
        return Err(ValidationError::new("", Rule::CsvHeader, "the header has no external_id column"));
    }
    if ![Column::Phone, Column::Email, Column::Push].iter().any(|c| columns.contains(c)) {
        let message =
            "the header has none of the columns phone, email and push, so no contact could be reached";
        return Err(ValidationError::new("", Rule::CsvHeader, message));
    }
    Ok(())
}
