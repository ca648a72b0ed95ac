//! WeChat Pay API v3 (DESIGN §6): JSON; requests are signed with the merchant's RSA key
//! (`WECHATPAY2-SHA256-RSA2048`), notifies and answers carry `Wechatpay-Signature` = RSA-SHA256
//! (PKCS#1 v1.5) over `timestamp\nnonce\nbody\n` by the platform key named in
//! `Wechatpay-Serial`, and a notify's `resource` is AEAD_AES_256_GCM with the APIv3 key (32 ASCII
//! bytes used as is; 12-byte nonce as ASCII; `associated_data` as AAD; the 16-byte tag appended).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{PrivateKey, PublicKey};
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// How far a notify's `Wechatpay-Timestamp` may be from the request time.
pub const TIMESTAMP_WINDOW_S: i64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum V3Error {
    #[error("the APIv3 key must be 32 bytes (AES-256-GCM), got {0}")]
    KeyLength(usize),
    #[error("the resource's nonce must be 12 bytes, got {0}")]
    NonceLength(usize),
    #[error("the resource cannot be decrypted (wrong key, nonce, associated data or tampered)")]
    Undecryptable,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("Wechatpay-Serial {0:?} is not the configured platform certificate")]
    UnknownSerial(String),
    #[error("Wechatpay-Timestamp is outside ±5 minutes of the request time")]
    StaleTimestamp,
    #[error("header {0} is missing")]
    MissingHeader(&'static str),
    #[error("unreadable key: {0}")]
    BadKey(String),
    #[error("the notify is not what WeChat Pay sends: {0}")]
    Malformed(String),
    #[error("unsupported algorithm {0:?}")]
    Algorithm(String),
}

fn nonce_of(nonce: &str) -> Result<Nonce<aes_gcm::aead::consts::U12>, V3Error> {
    Nonce::try_from(nonce.as_bytes()).map_err(|_| V3Error::NonceLength(nonce.len()))
}

/// The APIv3 key, checked once (32 bytes: 16-byte keys are AES-128 and WeChat Pay never uses
/// them, so they are refused, not silently accepted).
#[derive(Clone)]
pub struct ApiV3Key(Aes256Gcm);

impl ApiV3Key {
    pub fn new(key: &[u8]) -> Result<Self, V3Error> {
        if key.len() != 32 {
            return Err(V3Error::KeyLength(key.len()));
        }
        Aes256Gcm::new_from_slice(key)
            .map(Self)
            .map_err(|_| V3Error::KeyLength(key.len()))
    }

    /// Decrypts a notify's resource.
    pub fn decrypt(
        &self,
        nonce: &str,
        associated_data: &str,
        ciphertext_b64: &str,
    ) -> Result<String, V3Error> {
        if nonce.len() != 12 {
            return Err(V3Error::NonceLength(nonce.len()));
        }
        let data = BASE64
            .decode(ciphertext_b64.trim())
            .map_err(|_| V3Error::Undecryptable)?;
        let plain = self
            .0
            .decrypt(
                &nonce_of(nonce)?,
                Payload {
                    msg: &data,
                    aad: associated_data.as_bytes(),
                },
            )
            .map_err(|_| V3Error::Undecryptable)?;
        String::from_utf8(plain).map_err(|_| V3Error::Undecryptable)
    }

    /// Encrypts as WeChat Pay does (for the stand-in and tests).
    pub fn encrypt(
        &self,
        nonce: &str,
        associated_data: &str,
        plain: &str,
    ) -> Result<String, V3Error> {
        if nonce.len() != 12 {
            return Err(V3Error::NonceLength(nonce.len()));
        }
        let data = self
            .0
            .encrypt(
                &nonce_of(nonce)?,
                Payload {
                    msg: plain.as_bytes(),
                    aad: associated_data.as_bytes(),
                },
            )
            .map_err(|_| V3Error::Undecryptable)?;
        Ok(BASE64.encode(data))
    }
}

/// The string WeChat Pay signs: `timestamp\nnonce\nbody\n`.
pub fn message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(nonce.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// The platform certificate's public key (PEM, SubjectPublicKeyInfo) and its serial number.
#[derive(Clone, Debug)]
pub struct Platform {
    pub serial: String,
    key: VerifyingKey<Sha256>,
}

impl Platform {
    pub fn new(serial: &str, public_key_pem: &str) -> Result<Self, V3Error> {
        let key = PublicKey::from_public_key_pem(public_key_pem.trim())
            .map_err(|e| V3Error::BadKey(e.to_string()))?;
        Ok(Self {
            serial: serial.trim().to_owned(),
            key: VerifyingKey::new(key),
        })
    }

    /// Checks a notify's (or answer's) signature headers against `body` at `now_s`.
    pub fn verify(
        &self,
        headers: &SignedHeaders<'_>,
        body: &[u8],
        now_s: i64,
    ) -> Result<(), V3Error> {
        if !bool::from(headers.serial.as_bytes().ct_eq(self.serial.as_bytes())) {
            return Err(V3Error::UnknownSerial(
                headers.serial.chars().take(64).collect(),
            ));
        }
        let at: i64 = headers
            .timestamp
            .trim()
            .parse()
            .map_err(|_| V3Error::StaleTimestamp)?;
        if now_s.abs_diff(at) > TIMESTAMP_WINDOW_S.unsigned_abs() {
            return Err(V3Error::StaleTimestamp);
        }
        let raw = BASE64
            .decode(headers.signature.trim())
            .map_err(|_| V3Error::BadSignature)?;
        let signature = Signature::try_from(raw.as_slice()).map_err(|_| V3Error::BadSignature)?;
        self.key
            .verify(&message(headers.timestamp, headers.nonce, body), &signature)
            .map_err(|_| V3Error::BadSignature)
    }
}

/// The `Wechatpay-*` headers of a notify or answer.
#[derive(Clone, Copy, Debug)]
pub struct SignedHeaders<'a> {
    pub serial: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub signature: &'a str,
}

/// An RSA private key (PKCS#8 PEM) that signs: the merchant's for requests, or the stand-in's
/// platform key for notifies.
#[derive(Clone)]
pub struct RsaSigner(SigningKey<Sha256>);

impl RsaSigner {
    pub fn new(private_key_pem: &str) -> Result<Self, V3Error> {
        let key = PrivateKey::from_pkcs8_pem(private_key_pem.trim())
            .map_err(|e| V3Error::BadKey(e.to_string()))?;
        Ok(Self(SigningKey::new(key)))
    }

    /// Base64 RSA-SHA256 of `timestamp\nnonce\nbody\n`.
    pub fn sign(&self, timestamp: &str, nonce: &str, body: &[u8]) -> String {
        BASE64.encode(self.0.sign(&message(timestamp, nonce, body)).to_bytes())
    }

    /// Base64 RSA-SHA256 of `lines`, each followed by `\n` (e.g. the v3 payment sheet's
    /// `appId\ntimeStamp\nnonceStr\npackage\n`).
    pub fn sign_lines(&self, lines: &[&str]) -> String {
        let mut text = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for line in lines {
            text.extend_from_slice(line.as_bytes());
            text.push(b'\n');
        }
        BASE64.encode(self.0.sign(&text).to_bytes())
    }

    /// The `Authorization` header of a v3 request by merchant `mch_id` with the certificate
    /// `serial` (signed over `method\nurl\ntimestamp\nnonce\nbody\n`).
    pub fn authorization(&self, mch_id: &str, serial: &str, request: &RequestToSign<'_>) -> String {
        let r = request;
        let text = format!(
            "{}\n{}\n{}\n{}\n{}\n",
            r.method, r.url_path, r.timestamp, r.nonce, r.body
        );
        let signature = BASE64.encode(self.0.sign(text.as_bytes()).to_bytes());
        format!(
            "WECHATPAY2-SHA256-RSA2048 mchid=\"{mch_id}\",nonce_str=\"{}\",signature=\"{signature}\",timestamp=\"{}\",serial_no=\"{serial}\"",
            r.nonce, r.timestamp
        )
    }
}

/// A v3 request as its `Authorization` signs it.
#[derive(Clone, Copy, Debug)]
pub struct RequestToSign<'a> {
    pub method: &'a str,
    /// Path and query, e.g. `/v3/pay/transactions/jsapi`.
    pub url_path: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub body: &'a str,
}

/// A v3 notify's envelope.
#[derive(Clone, Debug, Deserialize)]
pub struct Notify {
    pub id: String,
    pub event_type: String,
    pub resource: Resource,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Resource {
    pub algorithm: String,
    pub ciphertext: String,
    #[serde(default)]
    pub associated_data: String,
    pub nonce: String,
}

impl Notify {
    pub fn parse(body: &[u8]) -> Result<Self, V3Error> {
        serde_json::from_slice(body).map_err(|e| V3Error::Malformed(e.to_string()))
    }

    /// The decrypted resource (JSON text).
    pub fn open(&self, key: &ApiV3Key) -> Result<String, V3Error> {
        if self.resource.algorithm != "AEAD_AES_256_GCM" {
            return Err(V3Error::Algorithm(
                self.resource.algorithm.chars().take(32).collect(),
            ));
        }
        key.decrypt(
            &self.resource.nonce,
            &self.resource.associated_data,
            &self.resource.ciphertext,
        )
    }
}

/// A `TRANSACTION.SUCCESS` resource (the fields Linli reads).
#[derive(Clone, Debug, Deserialize)]
pub struct Transaction {
    pub appid: String,
    pub mchid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub trade_state: String,
    /// RFC 3339, e.g. `2026-11-25T10:30:00+08:00`.
    pub success_time: Option<String>,
    pub amount: TransactionAmount,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TransactionAmount {
    pub total: i64,
}

/// A `REFUND.*` resource.
#[derive(Clone, Debug, Deserialize)]
pub struct RefundResource {
    pub mchid: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub out_refund_no: String,
    pub refund_id: String,
    /// SUCCESS, CLOSED or ABNORMAL.
    pub refund_status: String,
    pub success_time: Option<String>,
    pub amount: RefundAmount,
}

#[derive(Clone, Debug, Deserialize)]
pub struct RefundAmount {
    pub total: i64,
    pub refund: i64,
}

impl Transaction {
    pub fn read(plain: &str) -> Result<Self, V3Error> {
        serde_json::from_str(plain).map_err(|e| V3Error::Malformed(e.to_string()))
    }
}

impl RefundResource {
    pub fn read(plain: &str) -> Result<Self, V3Error> {
        serde_json::from_str(plain).map_err(|e| V3Error::Malformed(e.to_string()))
    }
}

/// The JSON a v3 notify is answered with on failure (`{"code": …, "message": …}`).
pub fn failure_body(code: &str, message: &str) -> String {
    serde_json::json!({ "code": code, "message": message }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn vectors() -> Value {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/wechat.json"))
                .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_32_byte_key_vectors_decrypt_and_16_byte_keys_are_refused() {
        let vectors = vectors();
        let (mut decrypted, mut refused) = (0, 0);
        for case in vectors["pay_v3_resource"].as_array().unwrap() {
            let i = &case["inputs"];
            let key = i["apiv3_key"].as_str().unwrap().as_bytes();
            match ApiV3Key::new(key) {
                Ok(key) => {
                    let plain = key
                        .decrypt(
                            i["nonce"].as_str().unwrap(),
                            i["associated_data"].as_str().unwrap(),
                            i["ciphertext"].as_str().unwrap(),
                        )
                        .unwrap_or_else(|e| panic!("{}: {e}", case["id"]));
                    assert_eq!(plain, case["expected"]["plaintext"].as_str().unwrap());
                    // Tampered associated data fails the tag.
                    assert_eq!(
                        key.decrypt(
                            i["nonce"].as_str().unwrap(),
                            "x",
                            i["ciphertext"].as_str().unwrap()
                        ),
                        Err(V3Error::Undecryptable)
                    );
                    decrypted += 1;
                }
                Err(e) => {
                    assert_eq!(e, V3Error::KeyLength(16), "{}", case["id"]);
                    refused += 1;
                }
            }
        }
        assert_eq!((decrypted, refused), (2, 2));
    }

    const PLATFORM_KEY: &str = include_str!("../../vectors/test-platform-key.pem");
    const PLATFORM_PUB: &str = include_str!("../../vectors/test-platform-pub.pem");

    #[test]
    fn signatures_verify_with_the_platform_key_only_in_time_and_untampered() {
        let signer = RsaSigner::new(PLATFORM_KEY).unwrap();
        let platform = Platform::new("5157F09EFDC096DE15EBE81A47057A72", PLATFORM_PUB).unwrap();
        let body = br#"{"id":"EV-1","event_type":"TRANSACTION.SUCCESS"}"#;
        let signature = signer.sign("1764000000", "n0nce", body);
        let headers = SignedHeaders {
            serial: "5157F09EFDC096DE15EBE81A47057A72",
            timestamp: "1764000000",
            nonce: "n0nce",
            signature: &signature,
        };
        assert_eq!(platform.verify(&headers, body, 1_764_000_100), Ok(()));
        assert_eq!(
            platform.verify(&headers, b"{}", 1_764_000_100),
            Err(V3Error::BadSignature)
        );
        assert_eq!(
            platform.verify(&headers, body, 1_764_000_400),
            Err(V3Error::StaleTimestamp)
        );
        // Extreme clocks or timestamps are stale, never an arithmetic panic.
        let far = SignedHeaders {
            timestamp: "-9223372036854775808",
            ..headers
        };
        assert_eq!(
            platform.verify(&far, body, i64::MAX),
            Err(V3Error::StaleTimestamp)
        );
        let other = SignedHeaders {
            serial: "OTHER",
            ..headers
        };
        assert!(matches!(
            platform.verify(&other, body, 1_764_000_000),
            Err(V3Error::UnknownSerial(_))
        ));
        let request = RequestToSign {
            method: "POST",
            url_path: "/v3/pay/transactions/jsapi",
            timestamp: "1764000000",
            nonce: "n0nce",
            body: "{}",
        };
        let auth = signer.authorization("1900000109", "SERIAL", &request);
        assert!(auth.starts_with("WECHATPAY2-SHA256-RSA2048 mchid=\"1900000109\""));
    }

    #[test]
    fn a_notify_round_trips_through_its_resource() {
        let key = ApiV3Key::new(b"0123456789abcdef0123456789abcdef").unwrap();
        let plain = r#"{"appid":"wx1","mchid":"1900000109","out_trade_no":"O1","transaction_id":"4200","trade_state":"SUCCESS","success_time":"2026-11-25T10:30:00+08:00","amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"}}"#;
        let ciphertext = key.encrypt("abcdefghijkl", "transaction", plain).unwrap();
        let body = serde_json::json!({"id": "EV-1", "create_time": "2026-11-25T10:30:01+08:00", "event_type": "TRANSACTION.SUCCESS", "resource_type": "encrypt-resource", "resource": {"algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext, "associated_data": "transaction", "nonce": "abcdefghijkl", "original_type": "transaction"}, "summary": "支付成功"}).to_string();
        let notify = Notify::parse(body.as_bytes()).unwrap();
        let tx: Transaction = serde_json::from_str(&notify.open(&key).unwrap()).unwrap();
        assert_eq!((tx.out_trade_no.as_str(), tx.amount.total), ("O1", 100));
    }

    proptest! {
        #[test]
        fn no_input_panics(text in ".{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let key = ApiV3Key::new(b"0123456789abcdef0123456789abcdef").unwrap();
            let _ = key.decrypt(&text, &text, &text);
            let _ = key.decrypt("abcdefghijkl", "", &BASE64.encode(&bytes));
            let _ = Notify::parse(text.as_bytes());
            let _ = ApiV3Key::new(&bytes);
        }
    }
}
