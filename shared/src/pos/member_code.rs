//! Member codes (pure): what the mini-program shows as a QR code at the till, like a payment code.
//!
//! `LM1.<member>.<expires-unix-ms>.<mac>`, where `mac` = base64url (no padding) of
//! HMAC-SHA256(`LINLI_MEMBER_CODE_KEY`, `LM1.<member>.<expires-unix-ms>`). A code is valid for
//! `MEMBER_CODE_MS` (2 minutes) from when `GET /api/me/member-code` issued it and is verified
//! without I/O (pos-api needs only the key, never the session key). About 90 characters: a small
//! QR code.
//!
//! A code is not single-use (that would need a store of used codes): within its 2 minutes it can
//! name its member on more than one sale, which only ever gives that member points. Every sale is
//! still unique by its own id.

use crate::ids::MemberId;
use crate::time::BusinessTime;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;

/// How long a member code is valid.
pub const MEMBER_CODE_MS: i64 = 2 * 60 * 1000;
/// The format version, first field of every code.
pub const PREFIX: &str = "LM1";
/// A key shorter than this is refused at init.
pub const MIN_KEY_BYTES: usize = 32;
/// Longer input is not a code (a code is ~90 characters).
const MAX_CODE_CHARS: usize = 160;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemberCodeError {
    #[error("not a member code, or its MAC does not verify")]
    Forged,
    #[error("the member code expired")]
    Expired,
}

/// `LINLI_MEMBER_CODE_KEY`, shared by member-api (issues) and pos-api (verifies).
#[derive(Clone)]
pub struct MemberCodeKey(Vec<u8>);

impl MemberCodeKey {
    /// None when shorter than `MIN_KEY_BYTES`.
    pub fn new(bytes: Vec<u8>) -> Option<Self> {
        (bytes.len() >= MIN_KEY_BYTES).then_some(Self(bytes))
    }

    fn mac(&self, payload: &str) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).ok()?;
        mac.update(payload.as_bytes());
        Some(mac)
    }
}

impl fmt::Debug for MemberCodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MemberCodeKey(***)")
    }
}

/// An authentic code: its MAC verified; whether it is still valid is `live`'s question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberCode {
    pub member: MemberId,
    pub expires_at: BusinessTime,
}

impl MemberCode {
    /// The member, while the code is valid at `now`.
    pub fn live(&self, now: BusinessTime) -> Result<&MemberId, MemberCodeError> {
        if now < self.expires_at {
            Ok(&self.member)
        } else {
            Err(MemberCodeError::Expired)
        }
    }
}

/// A code for `member`, valid for `MEMBER_CODE_MS` from `now`, and when it expires.
pub fn issue(key: &MemberCodeKey, member: &MemberId, now: BusinessTime) -> (String, BusinessTime) {
    let expires_at = now.plus_ms(MEMBER_CODE_MS);
    let payload = format!("{PREFIX}.{member}.{}", expires_at.epoch_ms());
    let mac = key
        .mac(&payload)
        .map(|m| m.finalize().into_bytes().to_vec())
        .unwrap_or_default();
    (
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac)),
        expires_at,
    )
}

/// Checks a code's MAC (constant-time) and reads it; expiry is checked by `MemberCode::live`,
/// so a caller can still recognise a retry of a sale accepted while the code was valid.
pub fn open(key: &MemberCodeKey, code: &str) -> Result<MemberCode, MemberCodeError> {
    let code = code.trim();
    if code.len() > MAX_CODE_CHARS {
        return Err(MemberCodeError::Forged);
    }
    let (payload, mac_b64) = code.rsplit_once('.').ok_or(MemberCodeError::Forged)?;
    let given = URL_SAFE_NO_PAD
        .decode(mac_b64)
        .map_err(|_| MemberCodeError::Forged)?;
    key.mac(payload)
        .ok_or(MemberCodeError::Forged)?
        .verify_slice(&given)
        .map_err(|_| MemberCodeError::Forged)?;
    let mut parts = payload.split('.');
    let (Some(PREFIX), Some(member), Some(expires), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(MemberCodeError::Forged);
    };
    let member = MemberId::parse(member).map_err(|_| MemberCodeError::Forged)?;
    let expires_at = (expires.len() <= 15 && expires.bytes().all(|b| b.is_ascii_digit()))
        .then(|| expires.parse::<i64>().ok())
        .flatten()
        .and_then(|ms| BusinessTime::from_epoch_ms(ms).ok())
        .ok_or(MemberCodeError::Forged)?;
    Ok(MemberCode { member, expires_at })
}

/// The member a code names, if it is authentic and valid at `now`.
pub fn verify(
    key: &MemberCodeKey,
    code: &str,
    now: BusinessTime,
) -> Result<MemberId, MemberCodeError> {
    open(key, code)?.live(now).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> MemberCodeKey {
        MemberCodeKey::new(b"local-member-code-key-not-a-secret-0123".to_vec()).unwrap()
    }

    fn now() -> BusinessTime {
        BusinessTime::from_epoch_ms(1_795_521_600_000).unwrap()
    }

    fn member() -> MemberId {
        MemberId::generate(now(), 77)
    }

    #[test]
    fn a_code_names_its_member_for_two_minutes() {
        let (code, expires_at) = issue(&key(), &member(), now());
        assert!(code.starts_with("LM1."), "{code}");
        assert!(code.len() < 100, "a small QR code: {}", code.len());
        assert_eq!(expires_at, now().plus_ms(120_000));
        assert_eq!(verify(&key(), &code, now()), Ok(member()));
        assert_eq!(verify(&key(), &code, now().plus_ms(119_999)), Ok(member()));
        assert_eq!(
            verify(&key(), &code, expires_at),
            Err(MemberCodeError::Expired)
        );
        let opened = open(&key(), &code).unwrap();
        assert_eq!((opened.member, opened.expires_at), (member(), expires_at));
    }

    #[test]
    fn forged_altered_and_foreign_codes_are_refused() {
        let (code, _) = issue(&key(), &member(), now());
        let other_key = MemberCodeKey::new(vec![b'x'; 32]).unwrap();
        assert_eq!(
            verify(&other_key, &code, now()),
            Err(MemberCodeError::Forged)
        );
        // Another member, or a later expiry, under the original MAC.
        let other = MemberId::generate(now(), 78);
        let swapped = code.replacen(member().as_str(), other.as_str(), 1);
        assert_eq!(
            verify(&key(), &swapped, now()),
            Err(MemberCodeError::Forged)
        );
        let expires = now().plus_ms(120_000).epoch_ms().to_string();
        let later = code.replacen(
            &expires,
            &(now().plus_ms(3_600_000).epoch_ms()).to_string(),
            1,
        );
        assert_eq!(verify(&key(), &later, now()), Err(MemberCodeError::Forged));
        for junk in ["", "LM1", "LM1...", "LM1.x.1.AAAA", "一二三"] {
            assert_eq!(verify(&key(), junk, now()), Err(MemberCodeError::Forged));
        }
        assert!(MemberCodeKey::new(b"short".to_vec()).is_none());
        assert_eq!(format!("{:?}", key()), "MemberCodeKey(***)");
    }

    #[test]
    fn an_authentic_code_with_another_prefix_or_extra_fields_is_refused() {
        let k = key();
        let sign = |payload: &str| {
            let mac = k.mac(payload).unwrap().finalize().into_bytes();
            format!("{payload}.{}", URL_SAFE_NO_PAD.encode(mac))
        };
        let m = member();
        assert_eq!(
            verify(&k, &sign(&format!("LM2.{m}.1795521660000")), now()),
            Err(MemberCodeError::Forged)
        );
        assert_eq!(
            verify(&k, &sign(&format!("LM1.{m}.1795521660000.x")), now()),
            Err(MemberCodeError::Forged)
        );
        assert_eq!(
            verify(&k, &sign(&format!("LM1.{m}.1795521660000")), now()),
            Ok(m)
        );
    }

    proptest! {
        #[test]
        fn opening_never_panics(code in "\\PC{0,200}") {
            let _ = verify(&key(), &code, now());
        }
    }
}
