//! The WeChat Official Account protocol (DESIGN §6 "OA verification" and "Safe mode"), pure:
//! request signatures and the timestamp window ([`signature`], [`msg_signature`], `verify_*`),
//! safe-mode AES ([`AesKey`], [`decrypt`], [`encrypt`]), inbound pushes ([`Inbound`]) and
//! passive replies ([`text_reply`], [`encrypted_reply`]). No I/O and no clock: the handler
//! passes `now` and the random bytes in.
//!
//! A safe-mode POST is handled in this order: `verify_timestamp`, `verify_msg_signature` over
//! the body's `Encrypt`, `decrypt` with our AppID, `Inbound::parse`, then reply.

mod crypto;
mod event;
mod message;
mod padding;
mod reply;
mod signature;

pub use crypto::{decrypt, encrypt, AesKey, ENCODING_AES_KEY_LEN, RANDOM_PREFIX_LEN};
pub use event::Event;
pub use message::{Inbound, Message};
pub use reply::{encrypted_reply, text_reply, NO_REPLY};
pub use signature::{
    msg_signature, signature, verify_msg_signature, verify_signature, verify_timestamp,
    TIMESTAMP_SKEW_S_MAX,
};

use crate::ledger::ErrorClass;
use crate::wechat::xml::XmlError;

/// Why an OA request, key or message was refused. Messages never carry a secret, a key or an
/// OpenID. DESIGN §6 maps them: `BadSignature`, `StaleTimestamp` and `ForeignAppId` → 401,
/// `TooLarge` → 413, the rest → 400 (`KeyLength`/`KeyNotBase64` are configuration errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OaError {
    #[error("signature does not verify")]
    BadSignature,
    #[error("timestamp is not within {TIMESTAMP_SKEW_S_MAX} s of now")]
    StaleTimestamp,
    #[error("EncodingAESKey must be {ENCODING_AES_KEY_LEN} characters, got {len}")]
    KeyLength { len: usize },
    #[error("EncodingAESKey is not base64 of 32 bytes")]
    KeyNotBase64,
    #[error("ciphertext is larger than 64 KiB")]
    TooLarge,
    #[error("ciphertext is not base64")]
    NotBase64,
    #[error("ciphertext must be whole 16-byte AES blocks, at least 32 bytes; got {len} bytes")]
    CiphertextLength { len: usize },
    #[error("decrypted text has malformed PKCS#7 padding (32-byte blocks)")]
    BadPadding,
    #[error("decrypted text is shorter than its 20-byte header")]
    Truncated,
    #[error("declared message length {declared} exceeds the {available} bytes that follow")]
    LengthOutOfRange { declared: u32, available: usize },
    #[error("decrypted message is not UTF-8")]
    NotUtf8,
    #[error("message is addressed to another AppID")]
    ForeignAppId,
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("field {0} is missing or empty")]
    MissingField(&'static str),
    #[error("field {field} is malformed: {why}")]
    MalformedField {
        field: &'static str,
        why: &'static str,
    },
}

impl OaError {
    /// Every OA error is permanent: the same request can never succeed (WeChat's retries of a
    /// refused push are refused again).
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::BadSignature
            | Self::StaleTimestamp
            | Self::KeyLength { .. }
            | Self::KeyNotBase64
            | Self::TooLarge
            | Self::NotBase64
            | Self::CiphertextLength { .. }
            | Self::BadPadding
            | Self::Truncated
            | Self::LengthOutOfRange { .. }
            | Self::NotUtf8
            | Self::ForeignAppId
            | Self::Xml(_)
            | Self::MissingField(_)
            | Self::MalformedField { .. } => ErrorClass::Permanent,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    /// The cases of one section of `vectors/wechat.json`.
    pub(super) fn cases(section: &str) -> Vec<Value> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/wechat.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let all: Value = serde_json::from_str(&text).unwrap();
        all[section]
            .as_array()
            .unwrap_or_else(|| panic!("no section {section}"))
            .clone()
    }

    #[test]
    fn a_foreign_appid_is_told_apart_from_a_malformed_message() {
        assert_ne!(OaError::ForeignAppId, OaError::BadPadding);
        assert_eq!(OaError::ForeignAppId.class(), ErrorClass::Permanent);
        assert_eq!(
            OaError::ForeignAppId.to_string(),
            "message is addressed to another AppID"
        );
    }
}
