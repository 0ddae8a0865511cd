//! Source addresses: the type of number (TON) and numbering plan (NPI) a sender's form implies
//! (SMPP 3.4 §5.2.5-§5.2.6; GSM 03.40 for alphanumeric senders).

/// Longest alphanumeric sender id (GSM 03.40: 11 characters).
pub const ALPHANUMERIC_SENDER_CHARS_MAX: usize = 11;
/// Longest numeric sender (E.164: 15 digits).
pub const NUMERIC_SENDER_DIGITS_MAX: usize = 15;
/// Numeric senders up to this many digits are short codes (TON 3, network specific).
pub const SHORT_CODE_DIGITS_MAX: usize = 6;

/// Source address with its type of number and numbering plan, chosen from its form unless
/// given: alphanumeric → (5, 0); `+` and digits, or 7+ digits → international (1, 1), sent
/// without `+`; up to [`SHORT_CODE_DIGITS_MAX`] digits → short code (3, 0).
pub fn source_address(addr: &str, ton: Option<u8>, npi: Option<u8>) -> Result<(String, u8, u8), String> {
    let a = addr.trim();
    let digits = a.strip_prefix('+').unwrap_or(a);
    let numeric = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    let (addr, auto_ton, auto_npi) = if numeric {
        if digits.len() > NUMERIC_SENDER_DIGITS_MAX {
            return Err(format!("a number has at most {NUMERIC_SENDER_DIGITS_MAX} digits, got {addr:?}"));
        }
        let short = !a.starts_with('+') && digits.len() <= SHORT_CODE_DIGITS_MAX;
        (digits.to_string(), if short { 3 } else { 1 }, if short { 0 } else { 1 })
    } else {
        let len = a.chars().count();
        // Printable ASCII only, not just ASCII: a NUL would end `source_addr` early (the encoder
        // then refuses every message) and other control characters are no sender a phone can
        // show. Found by the property tests (`tests/t03_properties.rs`).
        let printable = a.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
        if len == 0 || len > ALPHANUMERIC_SENDER_CHARS_MAX || !printable {
            let max = ALPHANUMERIC_SENDER_CHARS_MAX;
            return Err(format!("must be a number or 1-{max} printable ASCII characters, got {addr:?}"));
        }
        (a.to_string(), 5, 0)
    };
    Ok((addr, ton.unwrap_or(auto_ton), npi.unwrap_or(auto_npi)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Goal: TON/NPI follow the sender's form unless overridden; bad senders are refused.
    /// Method: an alphanumeric id, an international number with and without `+`, a short code,
    /// an override, and three invalid senders.
    #[test]
    fn sender_ton_npi() {
        assert_eq!(source_address("Kommunen", None, None), Ok(("Kommunen".into(), 5, 0)));
        assert_eq!(source_address("+4790000000", None, None), Ok(("4790000000".into(), 1, 1)));
        assert_eq!(source_address("4790000000", None, None), Ok(("4790000000".into(), 1, 1)));
        assert_eq!(source_address("2222", None, None), Ok(("2222".into(), 3, 0)));
        assert_eq!(source_address("2222", Some(0), Some(1)), Ok(("2222".into(), 0, 1)));
        assert!(source_address("Kommunen Oslo", None, None).is_err());
        assert!(source_address("Tromsø", None, None).is_err());
        assert!(source_address("+1234567890123456", None, None).is_err());
    }

    /// Goal: control characters are refused, so an accepted sender always encodes in a
    /// `submit_sm`. Method: the input the property test found (a lone NUL), a NUL inside an id
    /// and an escape character.
    #[test]
    fn control_characters_refused() {
        assert!(source_address("\0", None, None).is_err());
        assert!(source_address("VAR\0SEL", None, None).is_err());
        assert!(source_address("VAR\u{1B}SEL", None, None).is_err());
        assert_eq!(source_address("VAR SEL", None, None), Ok(("VAR SEL".into(), 5, 0)));
    }
}
