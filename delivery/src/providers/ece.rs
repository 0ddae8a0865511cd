//! Web Push message encryption: RFC 8291 on top of RFC 8188's `aes128gcm` content coding.
//!
//! A push service must not read what it carries, so the payload is encrypted for the
//! subscriber's browser: an ephemeral P-256 key of ours and the subscription's public key
//! (`p256dh`) give an ECDH secret; HKDF-SHA-256 with the subscription's `auth` secret and a
//! random salt turns it into an AES-128-GCM key and nonce; the body is one record
//! (`salt ‖ rs ‖ idlen ‖ our public key ‖ ciphertext`). Steps and labels follow RFC 8291 §3.3–3.4
//! and are checked against the RFC's own example (Appendix A) in the tests.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes128Gcm, Nonce};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

/// Record size written in the header: one record carries the whole message.
pub const RECORD_SIZE: u32 = 4096;

/// Header bytes: salt (16), record size (4), key id length (1), our public key (65).
pub const HEADER_BYTES: usize = 16 + 4 + 1 + 65;

/// GCM tag bytes.
const TAG_BYTES: usize = 16;

/// Largest plaintext: push services must accept 4096-byte bodies (RFC 8030 §7.2), and the
/// header, the tag and the record delimiter take the rest.
pub const PLAINTEXT_BYTES_MAX: usize = RECORD_SIZE as usize - HEADER_BYTES - TAG_BYTES - 1;

/// Base64url as subscriptions write it: with or without padding.
pub const B64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Most attempts at drawing a valid ephemeral key (a random 32-byte string fails with
/// probability about 2^-32).
const KEY_DRAWS_MAX: usize = 8;

/// A browser's push subscription (`PushSubscription.toJSON()`).
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The push service URL for this subscriber.
    pub endpoint: String,
    /// The subscriber's public key, uncompressed (65 bytes).
    pub p256dh: [u8; 65],
    /// The subscriber's authentication secret.
    pub auth: [u8; 16],
}

#[derive(serde::Deserialize)]
struct SubscriptionJson {
    endpoint: String,
    keys: KeysJson,
}

#[derive(serde::Deserialize)]
struct KeysJson {
    p256dh: String,
    auth: String,
}

impl Subscription {
    /// Parses a subscription's JSON; the error says what is missing or malformed.
    pub fn parse(json: &str) -> Result<Self, String> {
        let s: SubscriptionJson =
            serde_json::from_str(json).map_err(|e| format!("not a push subscription: {e}"))?;
        let p256dh: [u8; 65] = decode(&s.keys.p256dh, "keys.p256dh")?;
        PublicKey::from_sec1_bytes(&p256dh).map_err(|_| "keys.p256dh is not a P-256 point".to_string())?;
        let auth: [u8; 16] = decode(&s.keys.auth, "keys.auth")?;
        Ok(Self { endpoint: s.endpoint, p256dh, auth })
    }
}

fn decode<const N: usize>(text: &str, field: &str) -> Result<[u8; N], String> {
    let bytes = B64URL.decode(text.trim()).map_err(|_| format!("{field} is not base64url"))?;
    bytes.try_into().map_err(|b: Vec<u8>| format!("{field} has {} bytes, not {N}", b.len()))
}

/// Encrypts `plaintext` for `sub` with a fresh key and salt.
pub fn encrypt(sub: &Subscription, plaintext: &[u8]) -> Result<Vec<u8>, String> {
    let salt: [u8; 16] = rand::random();
    encrypt_with(sub, plaintext, &ephemeral_key()?, salt)
}

fn ephemeral_key() -> Result<SecretKey, String> {
    (0..KEY_DRAWS_MAX)
        .find_map(|_| SecretKey::from_slice(&rand::random::<[u8; 32]>()).ok())
        .ok_or_else(|| "could not draw an ephemeral key".to_string())
}

/// Encrypts with a given key and salt (RFC 8291 §3.4; tests use the RFC's example values).
pub fn encrypt_with(
    sub: &Subscription,
    plaintext: &[u8],
    ours: &SecretKey,
    salt: [u8; 16],
) -> Result<Vec<u8>, String> {
    if plaintext.len() > PLAINTEXT_BYTES_MAX {
        return Err(format!("push payload is {} bytes; at most {PLAINTEXT_BYTES_MAX} fit", plaintext.len()));
    }
    let theirs = PublicKey::from_sec1_bytes(&sub.p256dh).map_err(|_| "keys.p256dh is not a P-256 point")?;
    let our_public = ours.public_key().to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(ours.to_nonzero_scalar(), theirs.as_affine());
    // IKM = HKDF(auth secret, ECDH secret, "WebPush: info" 0x00 ‖ ua_public ‖ as_public, 32)
    let mut key_info = b"WebPush: info\0".to_vec();
    key_info.extend_from_slice(&sub.p256dh);
    key_info.extend_from_slice(our_public.as_bytes());
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(&sub.auth), shared.raw_secret_bytes())
        .expand(&key_info, &mut ikm)
        .map_err(|e| e.to_string())?;
    // CEK and nonce from the salt and IKM (RFC 8188 §2.2, §2.3).
    let prk = Hkdf::<Sha256>::new(Some(&salt), &ikm);
    let (mut cek, mut nonce) = ([0u8; 16], [0u8; 12]);
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(|e| e.to_string())?;
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(|e| e.to_string())?;
    // One record, the last: the plaintext and the delimiter 0x02, no padding.
    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(2);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|e| e.to_string())?;
    let sealed = cipher.encrypt(Nonce::from_slice(&nonce), record.as_slice()).map_err(|e| e.to_string())?;
    let mut body = Vec::with_capacity(HEADER_BYTES + sealed.len());
    body.extend_from_slice(&salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(our_public.as_bytes().len() as u8);
    body.extend_from_slice(our_public.as_bytes());
    body.extend_from_slice(&sealed);
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        B64URL.decode(s).expect("test vector is base64url")
    }

    /// Goal: our encryption is RFC 8291's, byte for byte.
    /// Method: the RFC's Appendix A example: its keys, salt and plaintext give its body.
    #[test]
    fn rfc8291_appendix_a() {
        let sub = Subscription::parse(
            r#"{"endpoint":"https://push.example.net/x","keys":{
                "p256dh":"BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4",
                "auth":"BTBZMqHH6r4Tts7J_aSIgg"}}"#,
        )
        .expect("the RFC's subscription parses");
        let ours = SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).expect("key");
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().expect("16 bytes");
        let body =
            encrypt_with(&sub, b"When I grow up, I want to be a watermelon", &ours, salt).expect("encrypts");
        let expected = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";
        assert_eq!(B64URL.encode(&body), expected);
    }

    /// Goal: malformed subscriptions and oversized payloads are refused with a reason.
    #[test]
    fn refusals() {
        assert!(Subscription::parse(r#"{"endpoint":"https://p/x"}"#).unwrap_err().contains("keys"));
        let short = r#"{"endpoint":"https://p/x","keys":{"p256dh":"AAAA","auth":"BTBZMqHH6r4Tts7J_aSIgg"}}"#;
        assert!(Subscription::parse(short).unwrap_err().contains("p256dh"));
        let sub = Subscription { endpoint: "https://p/x".into(), p256dh: [0; 65], auth: [0; 16] };
        assert!(encrypt(&sub, &[0; PLAINTEXT_BYTES_MAX + 1]).unwrap_err().contains("at most"));
    }
}
