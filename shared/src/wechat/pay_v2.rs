//! WeChat Pay API v2 (DESIGN §6): the sign (MD5 or HMAC-SHA256 over the sorted non-empty
//! parameters, `k=v&…&key=API_KEY`, uppercase hex), verification in constant time, and the XML
//! replies. The notify handler decides with the order's stored sign type.

use super::xml::{self, Fields, XmlError};
use hmac::{Hmac, KeyInit, Mac};
use md5::{Digest, Md5};
use sha2::Sha256;
use std::fmt;
use std::str::FromStr;
use subtle::ConstantTimeEq;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum SignType {
    #[serde(rename = "MD5")]
    Md5,
    #[serde(rename = "HMAC-SHA256")]
    HmacSha256,
}

impl SignType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::HmacSha256 => "HMAC-SHA256",
        }
    }
}

impl fmt::Display for SignType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SignType {
    type Err = PayV2Error;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "MD5" => Ok(Self::Md5),
            "HMAC-SHA256" => Ok(Self::HmacSha256),
            other => Err(PayV2Error::UnknownSignType(
                other.chars().take(32).collect(),
            )),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayV2Error {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("no sign")]
    MissingSign,
    #[error("sign does not verify")]
    BadSign,
    #[error("unknown sign type {0:?}")]
    UnknownSignType(String),
}

/// `k=v&…&key=API_KEY` over every non-empty parameter except `sign`, keys in byte order, values
/// as they are (no URL-encoding).
pub fn string_to_sign<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    api_key: &str,
) -> String {
    let mut pairs: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(k, v)| *k != "sign" && !v.is_empty())
        .collect();
    pairs.sort_unstable();
    let mut out = String::new();
    for (k, v) in pairs {
        out.push_str(k);
        out.push('=');
        out.push_str(v);
        out.push('&');
    }
    out.push_str("key=");
    out.push_str(api_key);
    out
}

/// The uppercase hex sign of `params`.
pub fn sign<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    api_key: &str,
    sign_type: SignType,
) -> String {
    let text = string_to_sign(params, api_key);
    let digest = match sign_type {
        SignType::Md5 => Md5::digest(text.as_bytes()).to_vec(),
        SignType::HmacSha256 => {
            // HMAC accepts keys of any length, so this cannot fail.
            let mut mac = match Hmac::<Sha256>::new_from_slice(api_key.as_bytes()) {
                Ok(mac) => mac,
                Err(_) => return String::new(),
            };
            mac.update(text.as_bytes());
            mac.finalize().into_bytes().to_vec()
        }
    };
    hex::encode_upper(digest)
}

/// Checks the `sign` field of `fields` in constant time.
pub fn verify(fields: &Fields, api_key: &str, sign_type: SignType) -> Result<(), PayV2Error> {
    let given = fields.get("sign").ok_or(PayV2Error::MissingSign)?;
    let expected = sign(
        fields.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        api_key,
        sign_type,
    );
    if expected.is_empty()
        || !bool::from(
            expected
                .as_bytes()
                .ct_eq(given.to_ascii_uppercase().as_bytes()),
        )
    {
        return Err(PayV2Error::BadSign);
    }
    Ok(())
}

/// Parses a Pay v2 XML message (a notify, or an API answer) into its fields.
pub fn parse(body: &[u8]) -> Result<Fields, PayV2Error> {
    Ok(xml::parse(body)?)
}

/// The reply WeChat Pay expects after a notify was handled (or is known).
pub fn reply_success() -> String {
    xml::write([("return_code", "SUCCESS"), ("return_msg", "OK")])
}

/// The reply that asks WeChat Pay to retry later or tells it the notify was refused.
pub fn reply_fail(message: &str) -> String {
    xml::write([("return_code", "FAIL"), ("return_msg", message)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeMap;

    fn vectors() -> Vec<Value> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/wechat.json");
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let all: Value = serde_json::from_str(&text).unwrap();
        all["pay_v2_sign"].as_array().unwrap().clone()
    }

    fn params(v: &Value) -> BTreeMap<String, String> {
        v["inputs"]["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect()
    }

    #[test]
    fn every_pay_v2_sign_vector_matches() {
        let vectors = vectors();
        assert!(vectors.len() >= 8);
        for v in vectors {
            let id = v["id"].as_str().unwrap();
            let p = params(&v);
            let key = v["inputs"]["api_key"].as_str().unwrap();
            let sign_type: SignType = v["inputs"]["sign_type"].as_str().unwrap().parse().unwrap();
            let pairs = || p.iter().map(|(k, v)| (k.as_str(), v.as_str()));
            assert_eq!(
                string_to_sign(pairs(), key),
                v["expected"]["string_sign_temp"].as_str().unwrap(),
                "{id}"
            );
            let expected = v["expected"]["sign"].as_str().unwrap();
            assert_eq!(sign(pairs(), key, sign_type), expected, "{id}");
            let mut signed = p.clone();
            signed.insert("sign".into(), expected.to_owned());
            assert_eq!(verify(&signed, key, sign_type), Ok(()), "{id}");
        }
    }

    #[test]
    fn a_changed_field_a_wrong_key_or_type_or_no_sign_fails() {
        let v = &vectors()[0];
        let key = v["inputs"]["api_key"].as_str().unwrap();
        let mut signed = params(v);
        signed.insert(
            "sign".into(),
            v["expected"]["sign"].as_str().unwrap().to_owned(),
        );
        assert_eq!(
            verify(&signed, "another-key", SignType::Md5),
            Err(PayV2Error::BadSign)
        );
        assert_eq!(
            verify(&signed, key, SignType::HmacSha256),
            Err(PayV2Error::BadSign)
        );
        let mut tampered = signed.clone();
        tampered.insert("total_fee".into(), "1".into());
        assert_eq!(
            verify(&tampered, key, SignType::Md5),
            Err(PayV2Error::BadSign)
        );
        signed.remove("sign");
        assert_eq!(
            verify(&signed, key, SignType::Md5),
            Err(PayV2Error::MissingSign)
        );
        assert!("SHA1".parse::<SignType>().is_err());
    }

    #[test]
    fn a_notify_round_trips_through_xml_and_verifies() {
        let v = &vectors()[6];
        let key = v["inputs"]["api_key"].as_str().unwrap();
        let mut p = params(v);
        let s = sign(
            p.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            key,
            SignType::Md5,
        );
        p.insert("sign".into(), s);
        let body = xml::write(p.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let fields = parse(body.as_bytes()).unwrap();
        assert_eq!(fields["attach"], "支付测试");
        assert_eq!(verify(&fields, key, SignType::Md5), Ok(()));
        assert!(reply_success().contains("<return_code><![CDATA[SUCCESS]]></return_code>"));
        assert!(reply_fail("bad sign").contains("FAIL"));
    }
}
