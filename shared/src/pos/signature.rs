//! Till requests are signed with the store's till key (pure).
//!
//! Headers: `X-Linli-Store` (the store id), `X-Linli-Timestamp` (Unix seconds), `X-Linli-Nonce`
//! (8–64 of `A–Z a–z 0–9 _ . -`, fresh per request) and `X-Linli-Signature` = lowercase hex
//! HMAC-SHA256(till key, `METHOD\npath\ntimestamp\nnonce\nbody`), where `METHOD` is upper case,
//! `path` is the request path without query (e.g. `/pos/sales`) and `body` the raw bytes sent.
//! The timestamp must be within ±5 minutes of the request's time.
//!
//! Till keys are never stored: each store's key is derived from one master secret,
//! `till_key = lowercase hex HMAC-SHA256(LINLI_POS_MASTER_KEY, "pos:" + store id)`, and the till
//! uses those 64 hex characters (as text) as its HMAC key. Only the master lives in the secret;
//! an operator gives each store its key (`cargo run -p pos-api --bin pos-key -- <store>`).
//!
//! There is no nonce store: a request replayed within the window (same nonce, valid signature)
//! carries the same sale or return id, and those are idempotent (a replay answers the stored
//! result and changes nothing), so replaying buys an attacker nothing.

use crate::ids::StoreId;
use crate::time::BusinessTime;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

pub const STORE_HEADER: &str = "x-linli-store";
pub const TIMESTAMP_HEADER: &str = "x-linli-timestamp";
pub const NONCE_HEADER: &str = "x-linli-nonce";
pub const SIGNATURE_HEADER: &str = "x-linli-signature";

/// How far a request's timestamp may be from the request time, either way.
pub const WINDOW_MS: i64 = 5 * 60 * 1000;
/// A master key shorter than this is refused at init.
pub const MIN_MASTER_KEY_BYTES: usize = 32;
const NONCE_CHARS_MIN: usize = 8;
const NONCE_CHARS_MAX: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("header {0} is missing")]
    Missing(&'static str),
    #[error("X-Linli-Store is not a store id")]
    MalformedStore,
    #[error("X-Linli-Timestamp is not Unix seconds")]
    MalformedTimestamp,
    #[error("X-Linli-Timestamp is {skew_s} s from the request time (at most ±300 s)")]
    Stale { skew_s: i64 },
    #[error("X-Linli-Nonce must be 8–64 of A–Z a–z 0–9 _ . -")]
    MalformedNonce,
    #[error("X-Linli-Signature does not verify")]
    BadSignature,
}

/// `LINLI_POS_MASTER_KEY`: the one secret every till key derives from.
#[derive(Clone)]
pub struct MasterKey(Vec<u8>);

impl MasterKey {
    /// None when shorter than `MIN_MASTER_KEY_BYTES`.
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= MIN_MASTER_KEY_BYTES).then_some(Self(bytes))
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

/// A store's till key: 64 lowercase hex characters, used as text.
#[derive(Clone, PartialEq, Eq)]
pub struct TillKey(String);

impl TillKey {
    /// The key as the operator hands it to the store (never log it).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TillKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TillKey(***)")
    }
}

fn hmac(key: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; the error branch cannot happen.
    Hmac::<Sha256>::new_from_slice(key)
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()))
}

/// The till key of `store`.
pub fn till_key(master: &MasterKey, store: &StoreId) -> TillKey {
    let mut mac = hmac(&master.0);
    mac.update(b"pos:");
    mac.update(store.as_str().as_bytes());
    TillKey(hex::encode(mac.finalize().into_bytes()))
}

/// What a signature covers.
#[derive(Clone, Copy, Debug)]
pub struct Signed<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub body: &'a [u8],
}

impl Signed<'_> {
    fn mac(&self, key: &TillKey) -> Hmac<Sha256> {
        let mut mac = hmac(key.0.as_bytes());
        for part in [self.method, self.path, self.timestamp, self.nonce] {
            mac.update(part.as_bytes());
            mac.update(b"\n");
        }
        mac.update(self.body);
        mac
    }
}

/// The lowercase hex signature a till sends (tills, samples and tests).
pub fn sign(key: &TillKey, signed: &Signed<'_>) -> String {
    hex::encode(signed.mac(key).finalize().into_bytes())
}

/// A till request's headers as received (`None` when absent).
#[derive(Clone, Copy, Debug, Default)]
pub struct Headers<'a> {
    pub store: Option<&'a str>,
    pub timestamp: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub signature: Option<&'a str>,
}

fn nonce_ok(nonce: &str) -> bool {
    (NONCE_CHARS_MIN..=NONCE_CHARS_MAX).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Checks a till request at `now` and answers the store that signed it. The store's existence
/// in the catalog is the caller's to check (I/O). The MAC comparison is constant-time.
pub fn verify(
    master: &MasterKey,
    method: &str,
    path: &str,
    headers: &Headers<'_>,
    body: &[u8],
    now: BusinessTime,
) -> Result<StoreId, SignatureError> {
    let store = headers
        .store
        .ok_or(SignatureError::Missing("X-Linli-Store"))?;
    let timestamp = headers
        .timestamp
        .ok_or(SignatureError::Missing("X-Linli-Timestamp"))?;
    let nonce = headers
        .nonce
        .ok_or(SignatureError::Missing("X-Linli-Nonce"))?;
    let signature = headers
        .signature
        .ok_or(SignatureError::Missing("X-Linli-Signature"))?;
    let store = StoreId::parse(store).map_err(|_| SignatureError::MalformedStore)?;
    let seconds = (!timestamp.is_empty() && timestamp.len() <= 12)
        .then(|| timestamp.parse::<i64>().ok())
        .flatten()
        .filter(|s| *s >= 0 && timestamp.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(SignatureError::MalformedTimestamp)?;
    let skew_ms = seconds.saturating_mul(1000).saturating_sub(now.epoch_ms());
    if skew_ms.abs() > WINDOW_MS {
        return Err(SignatureError::Stale {
            skew_s: skew_ms / 1000,
        });
    }
    if !nonce_ok(nonce) {
        return Err(SignatureError::MalformedNonce);
    }
    let given = (signature.len() == 64)
        .then(|| hex::decode(signature).ok())
        .flatten()
        .ok_or(SignatureError::BadSignature)?;
    let signed = Signed {
        method,
        path,
        timestamp,
        nonce,
        body,
    };
    signed
        .mac(&till_key(master, &store))
        .verify_slice(&given)
        .map_err(|_| SignatureError::BadSignature)?;
    Ok(store)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW_MS: i64 = 1_795_521_600_000;

    fn master() -> MasterKey {
        MasterKey::new(b"local-pos-master-key-not-a-secret-0123456789".to_vec()).unwrap()
    }

    fn now() -> BusinessTime {
        BusinessTime::from_epoch_ms(NOW_MS).unwrap()
    }

    fn store() -> StoreId {
        StoreId::parse("SH-JINGAN-01").unwrap()
    }

    const BODY: &[u8] = br#"{"sale_id":"S1"}"#;

    fn signed_headers(key: &TillKey, timestamp: &str, body: &[u8]) -> (String, String) {
        let signature = sign(
            key,
            &Signed {
                method: "POST",
                path: "/pos/sales",
                timestamp,
                nonce: "n0nce-123",
                body,
            },
        );
        (timestamp.to_owned(), signature)
    }

    fn check(timestamp: &str, signature: &str, body: &[u8]) -> Result<StoreId, SignatureError> {
        let headers = Headers {
            store: Some("SH-JINGAN-01"),
            timestamp: Some(timestamp),
            nonce: Some("n0nce-123"),
            signature: Some(signature),
        };
        verify(&master(), "POST", "/pos/sales", &headers, body, now())
    }

    #[test]
    fn till_keys_are_per_store_hex_and_never_printed() {
        let key = till_key(&master(), &store());
        assert_eq!(key.expose().len(), 64);
        assert!(key.expose().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(key, till_key(&master(), &store()), "stable");
        assert_ne!(key, till_key(&master(), &StoreId::parse("SH-2").unwrap()));
        assert_eq!(format!("{key:?}"), "TillKey(***)");
        assert_eq!(format!("{:?}", master()), "MasterKey(***)");
        assert!(MasterKey::new(b"short".to_vec()).is_none());
    }

    #[test]
    fn a_signed_request_verifies_to_its_store() {
        let (ts, sig) = signed_headers(&till_key(&master(), &store()), "1795521600", BODY);
        assert_eq!(check(&ts, &sig, BODY), Ok(store()));
        assert_eq!(check(&ts, &sig.to_uppercase(), BODY), Ok(store()));
    }

    #[test]
    fn another_stores_key_an_altered_body_or_path_do_not_verify() {
        let other = till_key(&master(), &StoreId::parse("SH-2").unwrap());
        let (ts, sig) = signed_headers(&other, "1795521600", BODY);
        assert_eq!(check(&ts, &sig, BODY), Err(SignatureError::BadSignature));
        let (ts, sig) = signed_headers(&till_key(&master(), &store()), "1795521600", BODY);
        assert_eq!(
            check(&ts, &sig, br#"{"sale_id":"S2"}"#),
            Err(SignatureError::BadSignature)
        );
        let headers = Headers {
            store: Some("SH-JINGAN-01"),
            timestamp: Some(&ts),
            nonce: Some("n0nce-123"),
            signature: Some(&sig),
        };
        let on_returns = verify(&master(), "POST", "/pos/returns", &headers, BODY, now());
        assert_eq!(on_returns, Err(SignatureError::BadSignature));
        assert_eq!(check(&ts, "abc", BODY), Err(SignatureError::BadSignature));
    }

    #[test]
    fn timestamps_outside_five_minutes_are_stale() {
        let key = till_key(&master(), &store());
        for (ts, ok) in [
            ("1795521300", true),  // −300 s
            ("1795521900", true),  // +300 s
            ("1795521299", false), // −301 s
            ("1795521901", false), // +301 s
        ] {
            let (ts, sig) = signed_headers(&key, ts, BODY);
            assert_eq!(check(&ts, &sig, BODY).is_ok(), ok, "{ts}");
        }
        let (ts, sig) = signed_headers(&key, "1795521000", BODY);
        assert_eq!(
            check(&ts, &sig, BODY),
            Err(SignatureError::Stale { skew_s: -600 })
        );
        for bad in ["", "-5", "+1795521600", "1795521600.0", "17955216000000"] {
            let (ts, sig) = signed_headers(&key, bad, BODY);
            assert_eq!(
                check(&ts, &sig, BODY),
                Err(SignatureError::MalformedTimestamp),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn missing_headers_bad_nonces_and_stores_are_named() {
        let none = Headers::default();
        assert_eq!(
            verify(&master(), "POST", "/pos/sales", &none, BODY, now()),
            Err(SignatureError::Missing("X-Linli-Store"))
        );
        let headers = Headers {
            store: Some("a#b"),
            timestamp: Some("1795521600"),
            nonce: Some("n0nce-123"),
            signature: Some("00"),
        };
        assert_eq!(
            verify(&master(), "POST", "/pos/sales", &headers, BODY, now()),
            Err(SignatureError::MalformedStore)
        );
        let short_nonce = Headers {
            store: Some("S1"),
            nonce: Some("short"),
            ..headers
        };
        assert_eq!(
            verify(&master(), "POST", "/pos/sales", &short_nonce, BODY, now()),
            Err(SignatureError::MalformedNonce)
        );
    }

    proptest! {
        #[test]
        fn verification_never_panics(
            store in "\\PC{0,40}", ts in "\\PC{0,20}", nonce in "\\PC{0,80}", sig in "\\PC{0,80}",
            body in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let headers = Headers {
                store: Some(&store),
                timestamp: Some(&ts),
                nonce: Some(&nonce),
                signature: Some(&sig),
            };
            let _ = verify(&master(), "POST", "/pos/sales", &headers, &body, now());
        }
    }
}
