//! Idempotency keys of requests that create or change something.
//!
//! A client names a request with a key of its choosing (the CLI makes a random UUID); a retry
//! of the same request with the same key is answered with what the first one did instead of
//! doing it again. An empty key means "no idempotency": the request is applied every time it
//! arrives, as older clients expect. Alert creation is the exception: it always needs a key
//! (see [`crate::alert_spec`]), because a second alert means a second message to every
//! recipient.

use crate::{Rule, ValidationError};

/// Longest idempotency key, in characters.
pub const KEY_CHARS_MAX: usize = 128;

/// Checks an optional idempotency key (already trimmed): empty, or 1 to [`KEY_CHARS_MAX`]
/// characters without control characters.
///
/// ```
/// use varsel_domain::idempotency::check_key;
///
/// assert!(check_key("idempotency_key", "").is_ok());
/// assert!(check_key("idempotency_key", "3f0c1e2a-9b7d-4c21-8e55-0d6a1f2b3c4d").is_ok());
/// let e = check_key("idempotency_key", &"k".repeat(129)).unwrap_err();
/// assert_eq!(e.to_string(), "idempotency_key: must be at most 128 characters, got 129");
/// ```
pub fn check_key(field: &str, key: &str) -> Result<(), ValidationError> {
    let n = key.chars().count();
    if n > KEY_CHARS_MAX {
        return Err(ValidationError::new(
            field,
            Rule::TooLong,
            format!("must be at most {KEY_CHARS_MAX} characters, got {n}"),
        ));
    }
    if key.chars().any(char::is_control) {
        return Err(ValidationError::new(field, Rule::Characters, "must not contain control characters"));
    }
    Ok(())
}
