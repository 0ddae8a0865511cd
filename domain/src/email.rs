//! E-mail addresses: the pragmatic part of RFC 5321 syntax that real mail systems deliver to.
//!
//! Accepted: `local@domain`, the local part dot-separated runs of RFC 5322 `atext`, the domain
//! two or more DNS labels of letters, digits and hyphens. Refused, each with its own message:
//! quoted local parts (`"a b"@example.no`), domain literals (`a@[192.0.2.1]`) and any
//! non-ASCII character. Non-ASCII is refused rather than accepted as-is because delivering
//! it needs SMTPUTF8 from every relay on the way, which our SMTP path does not promise; an
//! internationalised domain can be given in its ASCII form (`xn--bjrnya-wua.no`).
//!
//! ```
//! use varsel_domain::email::validate_email;
//!
//! assert_eq!(validate_email("email", "Kari.Nordmann@Example.NO").unwrap(), "Kari.Nordmann@example.no");
//! assert!(validate_email("email", "kari@localhost").is_err());
//! ```

use crate::error::{Rule, ValidationError, quoted};

/// Most characters in an address: RFC 5321's 256-octet path minus its angle brackets.
pub const EMAIL_CHARS_MAX: usize = 254;
/// Most characters before the `@` (RFC 5321 §4.5.3.1.1).
pub const EMAIL_LOCAL_CHARS_MAX: usize = 64;
/// Most characters after the `@` (RFC 5321 §4.5.3.1.2).
pub const EMAIL_DOMAIN_CHARS_MAX: usize = 253;
/// Most characters in one label of the domain (RFC 1035).
pub const EMAIL_LABEL_CHARS_MAX: usize = 63;

/// Checks `input` is an address we can deliver to and returns it with surrounding whitespace
/// removed and the domain lowercased. The local part keeps its case: RFC 5321 lets the
/// receiving system treat it as case-sensitive, rare as that is.
pub fn validate_email(field: &str, input: &str) -> Result<String, ValidationError> {
    let address = input.trim();
    if address.is_empty() {
        return Err(ValidationError::new(field, Rule::Required, "is empty"));
    }
    if address.chars().count() > EMAIL_CHARS_MAX {
        let message = format!("is {} characters long, more than {EMAIL_CHARS_MAX}", address.chars().count());
        return Err(ValidationError::new(field, Rule::TooLong, message));
    }
    let fail =
        |what: String| ValidationError::new(field, Rule::Email, format!("{what}: got {}", quoted(address)));
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err(fail("has no @".to_owned()));
    };
    if let Some(c) = address.chars().find(|c| !c.is_ascii()) {
        return Err(fail(non_ascii(c, domain.contains(c))));
    }
    if local.starts_with('"') {
        return Err(fail("has a quoted part before the @, which is not supported".to_owned()));
    }
    if local.contains('@') {
        return Err(fail("has more than one @".to_owned()));
    }
    check_local(local).map_err(fail)?;
    check_domain(domain).map_err(fail)?;
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// Why a non-ASCII character `c` is refused, and what to do instead.
fn non_ascii(c: char, in_domain: bool) -> String {
    if in_domain {
        format!("has {c:?} in the domain; write an internationalised domain in its ASCII (xn--) form")
    } else {
        format!("has {c:?} before the @; addresses with non-ASCII characters are not supported")
    }
}

/// Checks the part before the `@`: dot-separated runs of RFC 5322 `atext`.
fn check_local(local: &str) -> Result<(), String> {
    if local.is_empty() {
        return Err("has nothing before the @".to_owned());
    }
    if local.len() > EMAIL_LOCAL_CHARS_MAX {
        return Err(format!(
            "has {} characters before the @, more than {EMAIL_LOCAL_CHARS_MAX}",
            local.len()
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err("has a dot at the start or end of the part before the @, or two dots in a row".to_owned());
    }
    match local.chars().find(|&c| !is_atext(c) && c != '.') {
        Some(c) => Err(format!("has {c:?} before the @, which an address cannot contain")),
        None => Ok(()),
    }
}

/// RFC 5322 `atext`: letters, digits and ``!#$%&'*+-/=?^_`{|}~``.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c)
}

/// Checks the part after the `@`: a DNS name of two or more labels.
fn check_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("has nothing after the @".to_owned());
    }
    if domain.starts_with('[') {
        return Err("has an IP address literal as its domain, which is not supported".to_owned());
    }
    if domain.len() > EMAIL_DOMAIN_CHARS_MAX {
        return Err(format!(
            "has a domain of {} characters, more than {EMAIL_DOMAIN_CHARS_MAX}",
            domain.len()
        ));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err("has a domain without a dot; it needs at least two labels, like example.no".to_owned());
    }
    for label in &labels {
        check_label(label)?;
    }
    // An all-digit top-level domain does not exist (RFC 3696 §2); it is an IP address typed
    // without brackets, or a typing error.
    if labels.last().is_some_and(|tld| tld.chars().all(|c| c.is_ascii_digit())) {
        return Err("has a domain ending in digits only, which is no top-level domain".to_owned());
    }
    Ok(())
}

/// Checks one DNS label: 1 to 63 letters, digits and hyphens, no hyphen at either end.
fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err(
            "has a domain with an empty label (a dot at the start or end, or two in a row)".to_owned()
        );
    }
    if label.len() > EMAIL_LABEL_CHARS_MAX {
        return Err(format!(
            "has a domain label of {} characters, more than {EMAIL_LABEL_CHARS_MAX}",
            label.len()
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("has the domain label {}, which starts or ends with a hyphen", quoted(label)));
    }
    match label.chars().find(|&c| !c.is_ascii_alphanumeric() && c != '-') {
        Some(c) => {
            Err(format!("has {c:?} in the domain, where only letters, digits, hyphens and dots may be"))
        }
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ok(input: &str) -> String {
        validate_email("email", input).unwrap()
    }

    fn message(input: &str) -> String {
        validate_email("email", input).unwrap_err().message
    }

    /// Goal: ordinary and unusual-but-valid addresses pass, domain lowercased, local part kept.
    /// Method: a list of addresses and their normal forms.
    #[test]
    fn accepts_valid_addresses() {
        assert_eq!(ok(" Kari.Nordmann@Example.NO "), "Kari.Nordmann@example.no");
        assert_eq!(ok("a+tag@sub.example.co.uk"), "a+tag@sub.example.co.uk");
        assert_eq!(ok("o'brien@xn--bjrnya-wua.no"), "o'brien@xn--bjrnya-wua.no");
        assert_eq!(ok("!#$%&'*+-/=?^_`{|}~@a-1.b2"), "!#$%&'*+-/=?^_`{|}~@a-1.b2");
        let longest_local = format!("{}@example.no", "a".repeat(64));
        assert_eq!(ok(&longest_local), longest_local);
    }

    /// Goal: each broken rule gives its own message. Method: one address per rule.
    #[test]
    fn rejects_with_reasons() {
        assert_eq!(validate_email("email", " ").unwrap_err().rule, Rule::Required);
        assert!(message("kari.example.no").starts_with("has no @"));
        assert!(message("a@b@example.no").starts_with("has more than one @"));
        assert!(message("\"kari nordmann\"@example.no").starts_with("has a quoted part"));
        assert!(message("@example.no").starts_with("has nothing before the @"));
        assert!(message("kari@").starts_with("has nothing after the @"));
        assert!(message(".kari@example.no").starts_with("has a dot"));
        assert!(message("kari.@example.no").starts_with("has a dot"));
        assert!(message("ka..ri@example.no").starts_with("has a dot"));
        assert!(message("ka ri@example.no").starts_with("has ' ' before the @"));
        assert!(message(&format!("{}@example.no", "a".repeat(65))).starts_with("has 65 characters"));
        assert!(message("kari@localhost").starts_with("has a domain without a dot"));
        assert!(message("kari@example..no").starts_with("has a domain with an empty label"));
        assert!(message("kari@example.no.").starts_with("has a domain with an empty label"));
        assert!(message("kari@-example.no").contains("hyphen"));
        assert!(message("kari@exa_mple.no").starts_with("has '_' in the domain"));
        assert!(message("kari@[192.0.2.1]").starts_with("has an IP address literal"));
        assert!(message("kari@192.0.2.1").starts_with("has a domain ending in digits"));
        assert!(message("kari@bjørnøya.no").contains("xn--"));
        assert!(message("bjørn@example.no").contains("non-ASCII"));
        let label = "a".repeat(64);
        assert!(message(&format!("kari@{label}.no")).starts_with("has a domain label of 64"));
        let long = format!("kari@{}.no", vec!["a".repeat(60); 5].join("."));
        assert_eq!(validate_email("email", &long).unwrap_err().rule, Rule::TooLong);
    }

    /// Goal: the error names the field and echoes the input. Method: display one error.
    #[test]
    fn error_display() {
        let err = validate_email("contacts[2].email", "kari@localhost").unwrap_err();
        assert_eq!(
            err.to_string(),
            "contacts[2].email: has a domain without a dot; it needs at least two labels, like example.no: \
             got \"kari@localhost\""
        );
    }
}
