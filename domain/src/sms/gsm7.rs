//! The GSM 03.38 (3GPP TS 23.038) default alphabet and its basic extension table.
//!
//! National language shift tables (Turkish, Spanish, Portuguese, Indian languages) are not
//! supported: a text that would need one is sent as UCS-2, which every phone displays. There is
//! no transliteration either (`ç` is not quietly sent as `Ç`): a crisis message arrives with
//! exactly the characters that were written.

/// Septet value of the escape to the extension table. It is no character: a receiver reads
/// the next septet in the extension table.
pub(crate) const ESCAPE: u8 = 0x1B;

/// The default alphabet, indexed by septet value, laid out as the rows of the spec's table
/// read column by column. Slot 0x1B holds the escape, which [`lookup`] never matches.
const DEFAULT_ALPHABET: [char; 128] = [
    // 0x00
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å',
    // 0x10 (0x1B is the escape)
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', // 0x20
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', // 0x30
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', // 0x40
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', // 0x50
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', // 0x60
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', // 0x70
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à',
];

/// The basic extension table: (code after the escape, character). Every other code is
/// unassigned.
const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'), // form feed (page break)
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// Marks an ASCII character with no slot in the default alphabet.
const NO_SEPTET: u8 = 0xFF;

/// ASCII code point to default-alphabet septet, so that the common case (plain ASCII text) is
/// one array read instead of a search.
const ASCII_TO_SEPTET: [u8; 128] = ascii_to_septet();

const fn ascii_to_septet() -> [u8; 128] {
    let mut table = [NO_SEPTET; 128];
    let mut septet = 0;
    while septet < 128 {
        let code_point = DEFAULT_ALPHABET[septet] as usize;
        if septet != ESCAPE as usize && code_point < 128 {
            table[code_point] = septet as u8;
        }
        septet += 1;
    }
    table
}

/// How one character is written in GSM-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gsm7Char {
    /// A septet of the default alphabet.
    Basic(u8),
    /// The escape followed by this code of the extension table.
    Extended(u8),
}

impl Gsm7Char {
    /// Septets this character takes in a message: an extension character is two.
    pub(crate) fn septets(self) -> usize {
        match self {
            Gsm7Char::Basic(_) => 1,
            Gsm7Char::Extended(_) => 2,
        }
    }
}

/// How `c` is written in GSM-7, or `None` when it is not in the alphabet (the text must then
/// be sent as UCS-2).
pub(crate) fn lookup(c: char) -> Option<Gsm7Char> {
    let code_point = c as usize;
    if let Some(&septet) = ASCII_TO_SEPTET.get(code_point) {
        if septet != NO_SEPTET {
            return Some(Gsm7Char::Basic(septet));
        }
    } else if let Some(septet) = DEFAULT_ALPHABET.iter().position(|&d| d == c) {
        // The escape slot holds an ASCII character, so a non-ASCII match is a real character;
        // positions are below 128 and fit a septet.
        return Some(Gsm7Char::Basic(septet as u8));
    }
    EXTENSION.iter().find(|&&(_, e)| e == c).map(|&(code, _)| Gsm7Char::Extended(code))
}

/// The default-alphabet character of `septet`; `None` for the escape and for bytes above 0x7F.
pub(crate) fn basic_char(septet: u8) -> Option<char> {
    if septet == ESCAPE { None } else { DEFAULT_ALPHABET.get(usize::from(septet)).copied() }
}

/// The extension-table character of `code` (the septet after an escape), if assigned.
pub(crate) fn extension_char(code: u8) -> Option<char> {
    EXTENSION.iter().find(|&&(c, _)| c == code).map(|&(_, ch)| ch)
}
