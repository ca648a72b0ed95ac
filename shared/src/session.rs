//! Mini-program session tokens (issue 5): `Authorization: Bearer <token>`, where the token is
//! `base64url(member "." expires_ms "." openid) "." base64url(HMAC-SHA256(LINLI_SESSION_KEY,
//! payload))`. The mini-program OpenID is the payer of the member's JSAPI payments.
//! Stateless, expiring, and forged or altered tokens fail in constant time.

use crate::ids::{MemberId, OpenId};
use crate::time::BusinessTime;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// How long a session lasts.
pub const SESSION_MS: i64 = 2 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("no bearer token")]
    Missing,
    #[error("token is malformed or its signature does not verify")]
    Forged,
    #[error("token expired")]
    Expired,
}

/// A verified session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub member: MemberId,
    /// The mini-program OpenID the member logged in with.
    pub payer: OpenId,
    pub expires_at: BusinessTime,
}

fn mac(key: &[u8], payload: &[u8]) -> Option<Vec<u8>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(payload);
    Some(mac.finalize().into_bytes().to_vec())
}

/// Issues a token for `member` logged in as `payer`, valid for `SESSION_MS` from `now`.
pub fn issue(
    key: &[u8],
    member: &MemberId,
    payer: &OpenId,
    now: BusinessTime,
) -> (String, BusinessTime) {
    let expires_at = now.plus_ms(SESSION_MS);
    let payload = format!("{member}.{}.{payer}", expires_at.epoch_ms());
    let signature = mac(key, payload.as_bytes()).unwrap_or_default();
    let token = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload),
        URL_SAFE_NO_PAD.encode(signature)
    );
    (token, expires_at)
}

/// Verifies an `Authorization` header value (`Bearer <token>`) at `now`.
pub fn verify(
    key: &[u8],
    authorization: Option<&str>,
    now: BusinessTime,
) -> Result<Session, SessionError> {
    let header = authorization
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .ok_or(SessionError::Missing)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or(SessionError::Missing)?
        .trim();
    if token.len() > 512 {
        return Err(SessionError::Forged);
    }
    let (payload_b64, signature_b64) = token.split_once('.').ok_or(SessionError::Forged)?;
    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| SessionError::Forged)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| SessionError::Forged)?;
    let mut verifier = Hmac::<Sha256>::new_from_slice(key).map_err(|_| SessionError::Forged)?;
    verifier.update(&payload);
    verifier
        .verify_slice(&signature)
        .map_err(|_| SessionError::Forged)?;
    let text = String::from_utf8(payload).map_err(|_| SessionError::Forged)?;
    let mut parts = text.splitn(3, '.');
    let (Some(member), Some(expires), Some(payer)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(SessionError::Forged);
    };
    let member = MemberId::parse(member).map_err(|_| SessionError::Forged)?;
    let payer = OpenId::parse(payer).map_err(|_| SessionError::Forged)?;
    let expires_at = expires
        .parse::<i64>()
        .ok()
        .and_then(|ms| BusinessTime::from_epoch_ms(ms).ok())
        .ok_or(SessionError::Forged)?;
    if now >= expires_at {
        return Err(SessionError::Expired);
    }
    Ok(Session {
        member,
        payer,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn now() -> BusinessTime {
        BusinessTime::from_epoch_ms(1_795_521_600_000).unwrap()
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let member = MemberId::generate(now(), 9);
        let payer = OpenId::parse("o-pay.er").unwrap();
        let (token, expires_at) = issue(b"key", &member, &payer, now());
        let header = format!("Bearer {token}");
        let session = verify(b"key", Some(&header), now().plus_ms(1000)).unwrap();
        assert_eq!(
            (session.member, session.payer, session.expires_at),
            (member, payer, expires_at)
        );
        assert_eq!(
            verify(b"key", Some(&header), expires_at),
            Err(SessionError::Expired)
        );
    }

    #[test]
    fn missing_forged_and_altered_tokens_are_refused() {
        let member = MemberId::generate(now(), 9);
        let (token, _) = issue(b"key", &member, &OpenId::parse("o1").unwrap(), now());
        assert_eq!(verify(b"key", None, now()), Err(SessionError::Missing));
        assert_eq!(
            verify(b"key", Some("Basic abc"), now()),
            Err(SessionError::Missing)
        );
        assert_eq!(
            verify(b"other", Some(&format!("Bearer {token}")), now()),
            Err(SessionError::Forged)
        );
        let (payload, signature) = token.split_once('.').unwrap();
        let other = MemberId::generate(now(), 10);
        let forged_payload = URL_SAFE_NO_PAD.encode(format!("{other}.9999999999999.o1"));
        assert_eq!(
            verify(
                b"key",
                Some(&format!("Bearer {forged_payload}.{signature}")),
                now()
            ),
            Err(SessionError::Forged)
        );
        assert_eq!(
            verify(b"key", Some(&format!("Bearer {payload}")), now()),
            Err(SessionError::Forged)
        );
    }

    proptest! {
        #[test]
        fn verification_never_panics(header in ".{0,300}") {
            let _ = verify(b"key", Some(&header), now());
        }
    }
}
