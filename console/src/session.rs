//! Log-in sessions, held in this node's memory.
//!
//! Logging in exchanges a credential's bearer token (checked with `WhoAmI`) for a session: a
//! random 256-bit id in a cookie, and on the node the token, role, tenant, a CSRF token and two
//! expiry times. The token never goes back to the browser.
//!
//! A session lives on the node that created it: another node does not know it, and a
//! restarted node has forgotten it. After a site is lost the operator logs in again on another
//! site (the token still works there; nothing about the cluster's state is lost).
//!
//! The map is bounded ([`SESSIONS_MAX`]): when it is full, expired sessions are dropped, and
//! then the one idle longest, so a flood of log-ins cannot exhaust memory nor lock operators
//! out.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use subtle::ConstantTimeEq;
use varsel_proto::api::Role;

use crate::i18n::Lang;

/// Most sessions one node holds: far more operators than any tenant has at once.
pub const SESSIONS_MAX: usize = 10_000;

/// A session ends after this long without a request (a shift, with breaks).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(8 * 3600);

/// A session ends this long after log-in whatever its use (a long shift), so a stolen cookie
/// is not good forever.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 3600);

/// The session cookie's name. The `__Host-` prefix makes the browser refuse it unless it is
/// `Secure`, has `Path=/` and no `Domain`: no other host or plain-HTTP page can set it.
pub const COOKIE_NAME: &str = "__Host-varsel_session";

/// Bytes of randomness in a session id and in a CSRF token (256 bits).
pub const SECRET_BYTES: usize = 32;

/// One operator's log-in on this node.
#[derive(Clone)]
pub struct Session {
    /// The credential's bearer token, sent to the gRPC services with each call.
    pub token: String,
    /// The credential's role.
    pub role: Role,
    /// The credential's tenant.
    pub tenant_id: u64,
    /// The tenant's name, for the page header.
    pub tenant_name: String,
    /// The credential.
    pub credential_id: u64,
    /// Every POST must carry this (hidden field `csrf`, or header `X-CSRF-Token`).
    pub csrf: String,
    /// The session ends at the earlier of these.
    pub idle_until: Instant,
    pub absolute_until: Instant,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token and the CSRF token are secrets: never in logs.
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("tenant_id", &self.tenant_id)
            .field("credential_id", &self.credential_id)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// Whether the role may change things (send, cancel, edit, import): operators and up.
    pub fn can_write(&self) -> bool {
        matches!(self.role, Role::Operator | Role::Admin | Role::Superadmin)
    }

    /// Whether `given` is this session's CSRF token (compared in constant time).
    pub fn csrf_matches(&self, given: &str) -> bool {
        !given.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(given.as_bytes()))
    }
}

/// What a log-in found out about a token.
#[derive(Debug, Clone)]
pub struct Identity {
    pub role: Role,
    pub tenant_id: u64,
    pub tenant_name: String,
    pub credential_id: u64,
}

/// The sessions of this node.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

/// A random secret as 64 hex digits.
pub fn random_secret() -> String {
    hex::encode(rand::random::<[u8; SECRET_BYTES]>())
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock leaves the map consistent (no multi-step updates).
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Creates a session for `token` at `now`; answers its id (the cookie's value).
    pub fn create(&self, token: String, who: Identity, now: Instant) -> String {
        let id = random_secret();
        let session = Session {
            token,
            role: who.role,
            tenant_id: who.tenant_id,
            tenant_name: who.tenant_name,
            credential_id: who.credential_id,
            csrf: random_secret(),
            idle_until: now + IDLE_TIMEOUT,
            absolute_until: now + ABSOLUTE_TIMEOUT,
        };
        let mut map = self.lock();
        if map.len() >= SESSIONS_MAX {
            map.retain(|_, s| s.idle_until > now && s.absolute_until > now);
        }
        if map.len() >= SESSIONS_MAX {
            let oldest = map.iter().min_by_key(|(_, s)| s.idle_until).map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                map.remove(&k);
            }
        }
        map.insert(id.clone(), session);
        debug_assert!(map.len() <= SESSIONS_MAX);
        id
    }

    /// The live session `id` at `now`, its idle expiry moved on; `None` (and the session
    /// forgotten) when it has expired.
    pub fn touch(&self, id: &str, now: Instant) -> Option<Session> {
        let mut map = self.lock();
        let s = map.get_mut(id)?;
        if s.idle_until <= now || s.absolute_until <= now {
            map.remove(id);
            return None;
        }
        s.idle_until = (now + IDLE_TIMEOUT).min(s.absolute_until);
        Some(s.clone())
    }

    /// Ends session `id`.
    pub fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Sessions held (expired ones included until touched or evicted).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `Set-Cookie` value that stores session `id` in the browser: not readable by scripts
/// (`HttpOnly`), only over TLS (`Secure`), never sent with a request another site started
/// (`SameSite=Strict`), gone at the absolute timeout at the latest.
pub fn set_cookie(id: &str) -> String {
    format!(
        "{COOKIE_NAME}={id}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}",
        ABSOLUTE_TIMEOUT.as_secs()
    )
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE_NAME}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0")
}

/// The value of cookie `name` in a `Cookie` header, if there.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|part| part.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// The session cookie's value in `headers`, if any.
pub fn session_id(headers: &http::HeaderMap) -> Option<String> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie(h, COOKIE_NAME).map(str::to_string))
}

/// The language a session's pages are in: the `varsel_lang` cookie, else `Accept-Language`.
pub fn language(headers: &http::HeaderMap) -> Lang {
    let chosen = headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| cookie(h, crate::i18n::LANG_COOKIE).and_then(Lang::from_tag));
    chosen.unwrap_or_else(|| {
        Lang::from_accept_language(
            headers.get(http::header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok()).unwrap_or(""),
        )
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn who(role: Role) -> Identity {
        Identity { role, tenant_id: 7, tenant_name: "t".into(), credential_id: 3 }
    }

    /// Goal: the cookie carries every attribute that keeps it from scripts, plain HTTP and
    /// other sites. Method: read the Set-Cookie value.
    #[test]
    fn cookie_attributes() {
        let c = set_cookie("abc");
        assert!(c.starts_with("__Host-varsel_session=abc;"), "{c}");
        for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
            assert!(c.split("; ").any(|a| a == attr), "{attr} missing from {c}");
        }
        assert!(!c.contains("Domain"), "{c}");
        assert!(clear_cookie().contains("Max-Age=0"));
    }

    /// Goal: ids and CSRF tokens are 256-bit random and distinct. Method: make two sessions.
    #[test]
    fn ids_are_random() {
        let s = Sessions::default();
        let now = Instant::now();
        let a = s.create("t1".into(), who(Role::Operator), now);
        let b = s.create("t2".into(), who(Role::Operator), now);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        let (sa, sb) = (s.touch(&a, now).unwrap(), s.touch(&b, now).unwrap());
        assert_ne!(sa.csrf, sb.csrf);
        assert_eq!(sa.csrf.len(), 64);
    }

    /// Goal: a session ends after the idle timeout, and at the absolute timeout even when used.
    /// Method: touch it at chosen instants.
    #[test]
    fn session_expiry() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let id = s.create("t".into(), who(Role::Viewer), t0);
        assert!(s.touch(&id, t0 + IDLE_TIMEOUT - Duration::from_secs(1)).is_some());
        // Used within the idle timeout again and again: still ends at the absolute timeout.
        let mut t = t0;
        while t + Duration::from_secs(3600) < t0 + ABSOLUTE_TIMEOUT {
            t += Duration::from_secs(3600);
            assert!(s.touch(&id, t).is_some(), "ended early at {:?}", t - t0);
        }
        assert!(s.touch(&id, t0 + ABSOLUTE_TIMEOUT).is_none());
        assert!(s.is_empty(), "an expired session is forgotten");

        let idle = s.create("t".into(), who(Role::Viewer), t0);
        assert!(s.touch(&idle, t0 + IDLE_TIMEOUT).is_none());
        assert!(s.touch("unknown", t0).is_none());
    }

    /// Goal: the map stays bounded; a full map evicts the session idle longest.
    #[test]
    fn bounded() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let first = s.create("t".into(), who(Role::Viewer), t0);
        for i in 1..=SESSIONS_MAX {
            s.create("t".into(), who(Role::Viewer), t0 + Duration::from_millis(i as u64));
        }
        assert_eq!(s.len(), SESSIONS_MAX);
        assert!(s.touch(&first, t0 + Duration::from_secs(1)).is_none(), "the oldest was evicted");
    }

    /// Goal: the CSRF check refuses a missing or wrong token. Method: compare.
    #[test]
    fn csrf_compare() {
        let s = Sessions::default();
        let now = Instant::now();
        let id = s.create("t".into(), who(Role::Operator), now);
        let session = s.touch(&id, now).unwrap();
        assert!(session.csrf_matches(&session.csrf.clone()));
        assert!(!session.csrf_matches(""));
        assert!(!session.csrf_matches("0000"));
        assert!(session.can_write());
        assert!(!Session { role: Role::Viewer, ..session }.can_write());
    }

    #[test]
    fn cookie_parsing() {
        assert_eq!(cookie("a=1; __Host-varsel_session=xyz; b=2", COOKIE_NAME), Some("xyz"));
        assert_eq!(cookie("a=1", COOKIE_NAME), None);
    }
}
