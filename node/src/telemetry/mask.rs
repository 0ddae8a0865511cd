//! Making personal data safe for logs and spans.
//!
//! Recipients' phone numbers and e-mail addresses never appear in full in a log line or a span:
//! enough is kept to tell a Norwegian number from a Swedish one, or one mail domain from
//! another, while the person stays unidentified. Message bodies are never logged, only their
//! size. Secrets (tokens, passwords, provider credentials) are never logged at all: write
//! [`REDACTED`] in their place.

/// What a secret is logged as.
pub const REDACTED: &str = "[redacted]";

/// Digits kept at each end of a phone number long enough to keep any.
const PHONE_KEEP_DIGITS: usize = 2;

/// A number with fewer digits than this is masked entirely: keeping 2 + 2 of a short code would
/// give most of it away.
const PHONE_MIN_DIGITS_TO_KEEP: usize = 8;

/// Masks a phone number: the leading `+`, the first two and the last two digits are kept, every
/// other digit becomes `*`; separators (spaces, dashes, brackets) are left out. Numbers shorter
/// than eight digits are masked entirely, and text with no digit becomes `***`.
///
/// ```
/// use varsel_node::telemetry::mask::mask_phone;
/// assert_eq!(mask_phone("+4791234567"), "+47******67");
/// assert_eq!(mask_phone("+47 912 34 567"), "+47******67");
/// assert_eq!(mask_phone("1881"), "****");
/// ```
pub fn mask_phone(number: &str) -> String {
    let digits: Vec<char> = number.chars().filter(char::is_ascii_digit).collect();
    if digits.is_empty() {
        return "***".into();
    }
    let mut out = String::with_capacity(digits.len() + 1);
    // `+` before the first digit: "(+47) 912 34 567" is an international number too.
    if number.chars().find(|c| *c == '+' || c.is_ascii_digit()) == Some('+') {
        out.push('+');
    }
    let n = digits.len();
    let keep = n >= PHONE_MIN_DIGITS_TO_KEEP;
    for (i, d) in digits.iter().enumerate() {
        let shown = keep && (i < PHONE_KEEP_DIGITS || i >= n - PHONE_KEEP_DIGITS);
        out.push(if shown { *d } else { '*' });
    }
    out
}

/// Masks an e-mail address: the first character of the local part and the whole domain are kept
/// (the domain tells which mail system refused a message); the rest of the local part becomes
/// `***`, whatever its length. Text without an `@` becomes `***`.
///
/// ```
/// use varsel_node::telemetry::mask::mask_email;
/// assert_eq!(mask_email("ola.nordmann@example.no"), "o***@example.no");
/// assert_eq!(mask_email("not an address"), "***");
/// ```
pub fn mask_email(address: &str) -> String {
    let Some((local, domain)) = address.trim().rsplit_once('@') else {
        return "***".into();
    };
    match local.chars().next() {
        Some(first) if local.chars().count() > 1 => format!("{first}***@{domain}"),
        _ => format!("***@{domain}"),
    }
}

/// Describes a message body without its content: `[body: 153 chars]`.
pub fn describe_body(body: &str) -> String {
    format!("[body: {} chars]", body.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: the example in the issue, and numbers written with separators, mask the same way.
    #[test]
    fn phone_numbers_keep_prefix_and_last_two_digits() {
        assert_eq!(mask_phone("+4791234567"), "+47******67");
        assert_eq!(mask_phone("+47 912 34 567"), "+47******67");
        assert_eq!(mask_phone("(+47) 912-34-567"), "+47******67");
        assert_eq!(mask_phone("004791234567"), "00********67");
        assert_eq!(mask_phone("+46701234567"), "+46*******67");
    }

    /// Goal: short numbers and garbage reveal nothing, and no input panics.
    #[test]
    fn short_or_odd_input_is_masked_entirely() {
        assert_eq!(mask_phone("1881"), "****");
        assert_eq!(mask_phone("+4712345"), "+*******");
        assert_eq!(mask_phone(""), "***");
        assert_eq!(mask_phone("call me"), "***");
        assert_eq!(mask_phone("+"), "***");
        assert_eq!(mask_phone("٣٤٥٦٧٨٩٠١"), "***", "non-ASCII digits are not digits of an E.164 number");
    }

    /// Goal: the masked number never contains the middle digits.
    #[test]
    fn middle_digits_never_leak() {
        let masked = mask_phone("+4798765432");
        assert!(!masked.contains("987654"), "{masked}");
        assert_eq!(masked.len(), "+4798765432".len());
    }

    /// Goal: e-mail addresses keep the first character and the domain only.
    #[test]
    fn email_addresses_keep_first_char_and_domain() {
        assert_eq!(mask_email("ola.nordmann@example.no"), "o***@example.no");
        assert_eq!(mask_email("x@example.no"), "***@example.no");
        assert_eq!(mask_email("@example.no"), "***@example.no");
        assert_eq!(mask_email("\"a@b\"@example.no"), "\"***@example.no");
        assert_eq!(mask_email("ørjan@eksempel.no"), "ø***@eksempel.no");
        assert_eq!(mask_email("nobody"), "***");
        assert_eq!(mask_email(""), "***");
    }

    /// Goal: a body is described by its size only.
    #[test]
    fn bodies_are_described_not_shown() {
        assert_eq!(describe_body("Evakuer området nå"), "[body: 18 chars]");
    }
}
