//! OA request signatures (DESIGN §6 "OA verification"): SHA-1, lowercase hex, over the
//! lexicographically sorted concatenation of the parts — no separator, no key. Plain mode signs
//! token, timestamp and nonce; safe mode (`msg_signature`) adds the `Encrypt` text.

use super::OaError;
use sha1::{Digest, Sha1};
use subtle::ConstantTimeEq;

/// How far a request's `timestamp` may be from Linli's clock, in seconds (DESIGN §6: ±5 min).
pub const TIMESTAMP_SKEW_S_MAX: i64 = 5 * 60;

/// Length of a SHA-1 digest, in bytes.
const DIGEST_LEN: usize = 20;
/// Length of a signature: a SHA-1 digest in hex.
pub(super) const SIGNATURE_LEN: usize = 2 * DIGEST_LEN;

/// A signature as lowercase ASCII hex digits, on the stack: checks allocate nothing.
pub(super) struct HexSignature([u8; SIGNATURE_LEN]);

impl HexSignature {
    pub(super) fn as_str(&self) -> &str {
        // Always Ok: hex digits are ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// SHA-1 of `parts` sorted by bytes and concatenated. The order of `parts` is irrelevant; a
/// duplicate part (token equal to nonce) counts twice.
fn sorted_sha1(parts: &mut [&str]) -> [u8; DIGEST_LEN] {
    parts.sort_unstable();
    let mut hasher = Sha1::new();
    for part in parts.iter() {
        hasher.update(part.as_bytes());
    }
    hasher.finalize().into()
}

/// [`sorted_sha1`] in lowercase hex.
fn sorted_sha1_hex(parts: &mut [&str]) -> HexSignature {
    let mut hex = [0u8; SIGNATURE_LEN];
    // Cannot fail: the 20-byte digest fills the 40 digits exactly.
    let _ = hex::encode_to_slice(sorted_sha1(parts), &mut hex);
    HexSignature(hex)
}

/// The plain-mode `signature` query parameter: 40 lowercase hex characters of SHA-1 over the
/// sorted concatenation of `token` (the OA's configured Token), `timestamp` and `nonce`, exactly
/// as they arrive in the query string (the timestamp is hashed as text, not as a number).
pub fn signature(token: &str, timestamp: &str, nonce: &str) -> String {
    sorted_sha1_hex(&mut [token, timestamp, nonce])
        .as_str()
        .to_owned()
}

/// The safe-mode `msg_signature`: like [`signature`] with the `Encrypt` text (base64, as sent)
/// as a fourth part. For the GET URL check `encrypt` is the URL-decoded `echostr`.
pub fn msg_signature(token: &str, timestamp: &str, nonce: &str, encrypt: &str) -> String {
    msg_signature_hex(token, timestamp, nonce, encrypt)
        .as_str()
        .to_owned()
}

/// [`msg_signature`] on the stack.
pub(super) fn msg_signature_hex(
    token: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
) -> HexSignature {
    sorted_sha1_hex(&mut [token, timestamp, nonce, encrypt])
}

/// Compares digests in constant time. `given` may be in either hex case: it is decoded (on the
/// stack), and decoding reads digits, not their case; one that is not 40 hex digits never
/// matches (its length and alphabet are no secret). An empty token never verifies: anyone
/// could compute its signatures, so it can only be a misconfiguration.
fn verify(token: &str, expected: &[u8; DIGEST_LEN], given: &str) -> Result<(), OaError> {
    let mut given_digest = [0u8; DIGEST_LEN];
    let decoded = hex::decode_to_slice(given, &mut given_digest).is_ok();
    if token.is_empty() || !decoded || !bool::from(expected.ct_eq(&given_digest)) {
        return Err(OaError::BadSignature);
    }
    Ok(())
}

/// Checks a plain-mode `signature` (WeChat's GET URL check, and every plain-mode POST).
/// `Err(OaError::BadSignature)` when it does not match or `token` is empty (answer 401).
pub fn verify_signature(
    token: &str,
    timestamp: &str,
    nonce: &str,
    given: &str,
) -> Result<(), OaError> {
    verify(token, &sorted_sha1(&mut [token, timestamp, nonce]), given)
}

/// Checks a safe-mode `msg_signature` over `encrypt`. Call it before [`super::decrypt`]: the
/// signature is what authenticates the ciphertext (CBC alone would be a padding oracle).
pub fn verify_msg_signature(
    token: &str,
    timestamp: &str,
    nonce: &str,
    encrypt: &str,
    given: &str,
) -> Result<(), OaError> {
    verify(
        token,
        &sorted_sha1(&mut [token, timestamp, nonce, encrypt]),
        given,
    )
}

/// Checks that `timestamp` (seconds since the Unix epoch, as text) is within
/// [`TIMESTAMP_SKEW_S_MAX`] of `now_s` (seconds, injected), so a captured request cannot be
/// replayed later. `Err(OaError::StaleTimestamp)` when it is not a number or too far off.
pub fn verify_timestamp(timestamp: &str, now_s: i64) -> Result<(), OaError> {
    let sent_s: i64 = timestamp.parse().map_err(|_| OaError::StaleTimestamp)?;
    match sent_s.checked_sub(now_s) {
        Some(skew_s) if (-TIMESTAMP_SKEW_S_MAX..=TIMESTAMP_SKEW_S_MAX).contains(&skew_s) => Ok(()),
        _ => Err(OaError::StaleTimestamp),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::cases;
    use super::*;
    use serde_json::Value;

    fn text<'a>(case: &'a Value, path: &[&str]) -> &'a str {
        let mut value = case;
        for key in path {
            value = &value[*key];
        }
        value
            .as_str()
            .unwrap_or_else(|| panic!("{}: {path:?}", case["id"]))
    }

    #[test]
    fn every_oa_signature_vector_matches() {
        let cases = cases("oa_signature");
        assert_eq!(cases.len(), 4);
        for case in &cases {
            let id = text(case, &["id"]);
            let expected = text(case, &["expected", "signature"]);
            let inputs = &case["inputs"];
            if let Some(parts) = inputs["parts"].as_array() {
                let mut parts: Vec<&str> = parts.iter().filter_map(Value::as_str).collect();
                assert_eq!(sorted_sha1_hex(&mut parts).as_str(), expected, "{id}");
                continue;
            }
            let (token, timestamp, nonce) = (
                text(case, &["inputs", "token"]),
                text(case, &["inputs", "timestamp"]),
                text(case, &["inputs", "nonce"]),
            );
            assert_eq!(signature(token, timestamp, nonce), expected, "{id}");
            assert_eq!(
                verify_signature(token, timestamp, nonce, expected),
                Ok(()),
                "{id}"
            );
        }
    }

    #[test]
    fn every_msg_signature_vector_matches() {
        let cases = cases("msg_signature");
        assert_eq!(cases.len(), 8);
        for case in &cases {
            let id = text(case, &["id"]);
            let [token, timestamp, nonce, encrypt] =
                ["token", "timestamp", "nonce", "encrypt"].map(|k| text(case, &["inputs", k]));
            let expected = text(case, &["expected", "msg_signature"]);
            assert_eq!(
                msg_signature(token, timestamp, nonce, encrypt),
                expected,
                "{id}"
            );
            assert_eq!(
                verify_msg_signature(token, timestamp, nonce, encrypt, expected),
                Ok(()),
                "{id}"
            );
        }
    }

    #[test]
    fn a_signature_off_by_one_character_is_refused() {
        // wechatpy's negative case: the last hex digit changed.
        let wrong = "f21891de399b4e33a1a93c9a7b8a8fffb5a443fe";
        assert_eq!(
            verify_signature("test", "1410685589", "test", wrong),
            Err(OaError::BadSignature)
        );
        assert_eq!(
            verify_signature("test", "1410685589", "test", ""),
            Err(OaError::BadSignature)
        );
    }

    #[test]
    fn a_msg_signature_over_another_nonce_is_refused() {
        // wechatpy's negative case: nonce 437374424 instead of 437374425.
        let encrypt = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv4\
                       1n7hOchLF6p+Q==";
        let given = "dd6b9c95b495b3f7e2901bfbc76c664930ffdb96";
        assert_eq!(
            verify_msg_signature("123456", "1411443780", "437374425", encrypt, given),
            Ok(())
        );
        assert_eq!(
            verify_msg_signature("123456", "1411443780", "437374424", encrypt, given),
            Err(OaError::BadSignature)
        );
    }

    #[test]
    fn an_uppercase_signature_still_verifies() {
        let upper = "F21891DE399B4E33A1A93C9A7B8A8FFFB5A443FF";
        assert_eq!(
            verify_signature("test", "1410685589", "test", upper),
            Ok(())
        );
    }

    #[test]
    fn a_mixed_case_signature_verifies_and_anything_but_forty_hex_digits_is_refused() {
        let mixed = "f21891DE399b4e33a1a93c9a7b8a8fffb5a443FF";
        assert_eq!(
            verify_signature("test", "1410685589", "test", mixed),
            Ok(())
        );
        for given in [
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443ff0",
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443f",
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443fg",
            "f21891de399b4e33a1a93c9a7b8a8fffb5a443f\u{e9}",
        ] {
            assert_eq!(
                verify_signature("test", "1410685589", "test", given),
                Err(OaError::BadSignature),
                "{given}"
            );
        }
    }

    #[test]
    fn an_empty_token_never_verifies() {
        let forged = signature("", "1", "2");
        assert_eq!(
            verify_signature("", "1", "2", &forged),
            Err(OaError::BadSignature)
        );
    }

    #[test]
    fn timestamps_beyond_five_minutes_or_not_numbers_are_stale() {
        let now_s = 1_409_659_813;
        assert_eq!(verify_timestamp("1409659813", now_s), Ok(()));
        assert_eq!(verify_timestamp("1409659513", now_s), Ok(()));
        assert_eq!(verify_timestamp("1409660113", now_s), Ok(()));
        assert_eq!(
            verify_timestamp("1409659512", now_s),
            Err(OaError::StaleTimestamp)
        );
        assert_eq!(
            verify_timestamp("1409660114", now_s),
            Err(OaError::StaleTimestamp)
        );
        assert_eq!(verify_timestamp("", now_s), Err(OaError::StaleTimestamp));
        assert_eq!(
            verify_timestamp("-9223372036854775808", i64::MAX),
            Err(OaError::StaleTimestamp)
        );
        assert_eq!(
            verify_timestamp("-9223372036854775808", 0),
            Err(OaError::StaleTimestamp)
        );
    }
}
