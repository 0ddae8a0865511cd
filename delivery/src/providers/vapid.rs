//! VAPID (RFC 8292): how a push service knows which application server sends to a
//! subscription. Every request carries `Authorization: vapid t=<JWT>,k=<public key>`; the JWT
//! (ES256, RFC 7515/7519) names the push service's origin (`aud`), an expiry (`exp`, at most
//! 24 h ahead) and a contact for the operator (`sub`, `mailto:` or `https:`), and is signed with
//! the application server's P-256 private key, read from a file.
//!
//! Tokens are reused per push service origin until [`REUSE_MARGIN`] before they expire, so a
//! million messages to one push service cost a handful of signatures.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use base64::Engine as _;
use p256::SecretKey;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::DecodePrivateKey as _;

use super::ece::B64URL;
use varsel_config::ConfigError;

/// How long a token is valid (RFC 8292 §2: at most 24 hours).
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// A cached token is replaced when it has less than this left, so none expires in flight.
pub const REUSE_MARGIN: Duration = Duration::from_secs(3600);

/// Push service origins whose token is cached; the cache is emptied when it is full.
pub const ORIGINS_MAX: usize = 1024;

/// The application server's VAPID identity.
pub struct Vapid {
    key: SigningKey,
    public_b64: String,
    subject: String,
    tokens: Mutex<HashMap<String, (String, u64)>>,
}

impl std::fmt::Debug for Vapid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vapid").field("public_key", &self.public_b64).field("subject", &self.subject).finish()
    }
}

/// Reads a P-256 private key: PEM (PKCS#8 `PRIVATE KEY` or SEC1 `EC PRIVATE KEY`, as
/// `openssl ecparam -genkey` and py-vapid write them) or the raw 32-byte key in base64url (as
/// the web-push tools print it).
pub fn parse_key(text: &str) -> Result<SecretKey, String> {
    let text = text.trim();
    if text.contains("-----BEGIN") {
        return SecretKey::from_pkcs8_pem(text)
            .or_else(|_| SecretKey::from_sec1_pem(text))
            .map_err(|_| "not a P-256 private key in PKCS#8 or SEC1 PEM".to_string());
    }
    let raw = B64URL.decode(text).map_err(|_| "neither PEM nor base64url".to_string())?;
    SecretKey::from_slice(&raw).map_err(|_| format!("{} bytes are not a P-256 private key", raw.len()))
}

/// The origin (`scheme://host[:port]`) of an endpoint: the JWT's audience.
pub fn audience(endpoint: &str) -> Result<String, String> {
    let uri: http::Uri = endpoint.parse().map_err(|_| "the endpoint is not a URL".to_string())?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme @ ("https" | "http")), Some(authority)) => Ok(format!("{scheme}://{authority}")),
        _ => Err("the endpoint is not an http(s) URL".to_string()),
    }
}

impl Vapid {
    /// Loads the private key from `path`; `subject` is the operator's `mailto:` or `https:`.
    pub fn load(path: &Path, subject: &str) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read { path: path.to_path_buf(), source: e })?;
        let key = parse_key(&text).map_err(|rule| ConfigError::invalid(path.display().to_string(), rule))?;
        Ok(Self::new(&key, subject))
    }

    /// From a key in memory.
    pub fn new(key: &SecretKey, subject: &str) -> Self {
        let public = key.public_key().to_encoded_point(false);
        Self {
            key: SigningKey::from(key),
            public_b64: B64URL.encode(public.as_bytes()),
            subject: subject.to_string(),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// The public key, base64url (the browser's `applicationServerKey`).
    pub fn public_key(&self) -> &str {
        &self.public_b64
    }

    /// The `Authorization` header value for a request to `endpoint` at time `now_s`.
    pub fn header(&self, endpoint: &str, now_s: u64) -> Result<String, String> {
        let aud = audience(endpoint)?;
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        let token = match tokens.get(&aud) {
            Some((t, exp)) if *exp >= now_s + REUSE_MARGIN.as_secs() => t.clone(),
            _ => {
                let exp = now_s + TOKEN_LIFETIME.as_secs();
                let t = self.token(&aud, exp)?;
                if tokens.len() >= ORIGINS_MAX {
                    tokens.clear();
                }
                tokens.insert(aud, (t.clone(), exp));
                t
            }
        };
        // No space after the comma: RFC 7235 allows either, and some verifiers (py-vapid) split
        // the header on its last space.
        Ok(format!("vapid t={token},k={}", self.public_b64))
    }

    /// A signed JWT for `aud` expiring at `exp`.
    pub fn token(&self, aud: &str, exp: u64) -> Result<String, String> {
        let header = B64URL.encode(br#"{"typ":"JWT","alg":"ES256"}"#);
        let claims = serde_json::json!({ "aud": aud, "exp": exp, "sub": self.subject });
        let claims = B64URL.encode(serde_json::to_vec(&claims).map_err(|e| e.to_string())?);
        let input = format!("{header}.{claims}");
        // ES256 is the raw r ‖ s (64 bytes), not DER (RFC 7518 §3.4).
        let signature: Signature = self.key.sign(input.as_bytes());
        Ok(format!("{input}.{}", B64URL.encode(signature.to_bytes())))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use p256::ecdsa::VerifyingKey;
    use p256::ecdsa::signature::Verifier as _;

    use super::*;

    /// A key made for this test with `openssl genpkey -algorithm EC -pkeyopt
    /// ec_paramgen_curve:P-256`; it protects nothing.
    const PEM: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgI7Jg7S4C4FwcVCzV
wb5x8rKGX6/4aw0APeusQMfp0CyhRANCAAR+HslY4A6xIsJU/8muMgxyyX9yMd4t
+yT+t9hC0/MUzKdqTc4sCKVAdMTL58wZvrRzvpBpPnfQHRPvC0fowGLl
-----END PRIVATE KEY-----";

    /// Goal: a token names the origin, expires as asked, carries the subject and verifies
    /// with the public key sent beside it; the same origin reuses its token.
    #[test]
    fn tokens() {
        let v = Vapid::new(&parse_key(PEM).unwrap(), "mailto:ops@example.no");
        let h = v.header("https://push.example.net:8443/wpush/v2/abc", 1_000).unwrap();
        let (t, k) = h.strip_prefix("vapid t=").unwrap().split_once(",k=").unwrap();
        assert_eq!(k, v.public_key());
        let parts: Vec<&str> = t.split('.').collect();
        let claims: serde_json::Value = serde_json::from_slice(&B64URL.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["exp"], 1_000 + TOKEN_LIFETIME.as_secs());
        assert_eq!(claims["sub"], "mailto:ops@example.no");
        let key = VerifyingKey::from_sec1_bytes(&B64URL.decode(k).unwrap()).unwrap();
        let sig = Signature::from_slice(&B64URL.decode(parts[2]).unwrap()).unwrap();
        key.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig).unwrap();
        assert_eq!(v.header("https://push.example.net:8443/other", 1_500).unwrap(), h);
        assert!(audience("mailto:x").is_err());
        assert!(parse_key("not a key").is_err());
    }
}
