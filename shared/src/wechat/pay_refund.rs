//! WeChat Pay API v2 refunds (DESIGN §6): `secapi/pay/refund` (the merchant certificate over
//! mTLS), `pay/refundquery`, and the refund notify, whose `req_info` is AES-256-ECB with the
//! key = lowercase hex MD5 of the API key (32 ASCII bytes), PKCS#7, base64 — encrypted but not
//! signed, so Linli matches it to a refund it started or asks `refundquery` before believing it.

use super::pay_api::{read_answer, signed_xml, Merchant, PayApiError};
use super::pay_v2;
use super::xml::{self, Fields};
use crate::ids::{OrderId, RefundId};
use crate::money::Fen;
use crate::time::BusinessTime;
use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyInit};
use aes::Aes256;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use md5::{Digest, Md5};

/// `req_info` above this many base64 characters is refused before decoding (a notify is < 4 KiB).
const MAX_REQ_INFO: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefundNoticeError {
    #[error("the notify is not XML WeChat Pay would send: {0}")]
    Malformed(String),
    #[error("return_code is not SUCCESS: {0}")]
    NotSuccess(String),
    #[error("req_info cannot be decrypted with our API key")]
    Undecryptable,
    #[error("req_info lacks {0}")]
    MissingField(&'static str),
    #[error("req_info field {field} is invalid: {value}")]
    InvalidField { field: &'static str, value: String },
}

/// What WeChat Pay says happened to a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefundStatus {
    /// The money went back to the payer.
    Success,
    /// The refund failed at the bank (`CHANGE`) or was closed (`REFUNDCLOSE`): no money moved.
    Failed,
    /// Still under way (`PROCESSING`, refundquery only).
    Processing,
}

impl RefundStatus {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "SUCCESS" => Some(Self::Success),
            "CHANGE" | "REFUNDCLOSE" => Some(Self::Failed),
            "PROCESSING" => Some(Self::Processing),
            _ => None,
        }
    }
}

/// The decrypted content of a refund notify (`<root>` of `req_info`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundNotice {
    pub out_trade_no: String,
    pub transaction_id: String,
    pub out_refund_no: String,
    pub refund_id: String,
    pub total_fee: Fen,
    pub refund_fee: Fen,
    pub status: RefundStatus,
    /// `success_time` (`yyyy-MM-dd HH:mm:ss`, Beijing time) when the status is SUCCESS.
    pub success_time: Option<String>,
}

fn ecb_key(api_key: &str) -> [u8; 32] {
    let hex = hex::encode(Md5::digest(api_key.as_bytes()));
    let mut key = [0u8; 32];
    key.copy_from_slice(hex.as_bytes());
    key
}

/// Decrypts `req_info` with the merchant's API key.
pub fn decrypt_req_info(api_key: &str, req_info: &str) -> Result<String, RefundNoticeError> {
    if req_info.len() > MAX_REQ_INFO {
        return Err(RefundNoticeError::Malformed("req_info too long".into()));
    }
    let data = BASE64
        .decode(req_info.trim())
        .map_err(|_| RefundNoticeError::Undecryptable)?;
    if data.is_empty() || data.len() % 16 != 0 {
        return Err(RefundNoticeError::Undecryptable);
    }
    let key = ecb_key(api_key);
    let plain = ecb::Decryptor::<Aes256>::new(&key.into())
        .decrypt_padded_vec::<Pkcs7>(&data)
        .map_err(|_| RefundNoticeError::Undecryptable)?;
    String::from_utf8(plain).map_err(|_| RefundNoticeError::Undecryptable)
}

/// Encrypts `plain` as WeChat Pay does (for the stand-in and tests).
pub fn encrypt_req_info(api_key: &str, plain: &str) -> String {
    let key = ecb_key(api_key);
    let data =
        ecb::Encryptor::<Aes256>::new(&key.into()).encrypt_padded_vec::<Pkcs7>(plain.as_bytes());
    BASE64.encode(data)
}

fn required<'a>(fields: &'a Fields, name: &'static str) -> Result<&'a str, RefundNoticeError> {
    fields
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or(RefundNoticeError::MissingField(name))
}

fn fen(fields: &Fields, name: &'static str) -> Result<Fen, RefundNoticeError> {
    let text = required(fields, name)?;
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Fen::new)
        .ok_or_else(|| RefundNoticeError::InvalidField {
            field: name,
            value: text.chars().take(32).collect(),
        })
}

/// Reads a refund notify body: the envelope must say SUCCESS and carry our appid and mch_id;
/// `req_info` is decrypted with the API key and read.
pub fn read_notice(body: &[u8], merchant: &Merchant) -> Result<RefundNotice, RefundNoticeError> {
    let outer = pay_v2::parse(body).map_err(|e| RefundNoticeError::Malformed(e.to_string()))?;
    let get = |k: &str| outer.get(k).map(String::as_str).unwrap_or_default();
    if get("return_code") != "SUCCESS" {
        return Err(RefundNoticeError::NotSuccess(
            get("return_msg").chars().take(80).collect(),
        ));
    }
    for (name, ours) in [("appid", &merchant.appid), ("mch_id", &merchant.mch_id)] {
        if get(name) != ours.as_str() {
            return Err(RefundNoticeError::InvalidField {
                field: if name == "appid" { "appid" } else { "mch_id" },
                value: get(name).chars().take(32).collect(),
            });
        }
    }
    let plain = decrypt_req_info(&merchant.api_key, required(&outer, "req_info")?)?;
    let inner =
        xml::parse(plain.as_bytes()).map_err(|e| RefundNoticeError::Malformed(e.to_string()))?;
    let status_text = required(&inner, "refund_status")?;
    let status =
        RefundStatus::parse(status_text).ok_or_else(|| RefundNoticeError::InvalidField {
            field: "refund_status",
            value: status_text.chars().take(32).collect(),
        })?;
    Ok(RefundNotice {
        out_trade_no: required(&inner, "out_trade_no")?.to_owned(),
        transaction_id: required(&inner, "transaction_id")?.to_owned(),
        out_refund_no: required(&inner, "out_refund_no")?.to_owned(),
        refund_id: required(&inner, "refund_id")?.to_owned(),
        total_fee: fen(&inner, "total_fee")?,
        refund_fee: fen(&inner, "refund_fee")?,
        status,
        success_time: inner.get("success_time").filter(|t| !t.is_empty()).cloned(),
    })
}

/// A refund Linli asks WeChat Pay for.
#[derive(Clone, Debug)]
pub struct RefundAsk<'a> {
    pub order: &'a OrderId,
    pub refund: &'a RefundId,
    /// What the order's payment was (`total_fee`).
    pub total: Fen,
    /// What goes back now (`refund_fee`).
    pub amount: Fen,
    pub reason: &'a str,
    pub notify_url: &'a str,
}

/// The `secapi/pay/refund` request body.
pub fn refund_request(merchant: &Merchant, ask: &RefundAsk<'_>, nonce: &str) -> String {
    let mut reason = ask.reason.to_owned();
    while reason.len() > 80 {
        reason.pop();
    }
    let mut fields = vec![
        ("appid", merchant.appid.clone()),
        ("mch_id", merchant.mch_id.clone()),
        ("nonce_str", nonce.to_owned()),
        ("out_trade_no", ask.order.to_string()),
        ("out_refund_no", ask.refund.to_string()),
        ("total_fee", ask.total.value().to_string()),
        ("refund_fee", ask.amount.value().to_string()),
        ("notify_url", ask.notify_url.to_owned()),
    ];
    if !reason.is_empty() {
        fields.push(("refund_desc", reason));
    }
    signed_xml(fields, merchant)
}

/// WeChat Pay's refund id from a successful `secapi/pay/refund` answer (the money moves later;
/// the refund notify or refundquery says when).
pub fn read_refund(body: &[u8], merchant: &Merchant) -> Result<String, PayApiError> {
    let fields = read_answer(body, merchant)?;
    fields
        .get("refund_id")
        .filter(|r| !r.is_empty())
        .cloned()
        .ok_or_else(|| PayApiError::BadAnswer("no refund_id".into()))
}

/// The `pay/refundquery` request body for one refund.
pub fn refund_query_request(merchant: &Merchant, out_refund_no: &str, nonce: &str) -> String {
    signed_xml(
        vec![
            ("appid", merchant.appid.clone()),
            ("mch_id", merchant.mch_id.clone()),
            ("nonce_str", nonce.to_owned()),
            ("out_refund_no", out_refund_no.to_owned()),
        ],
        merchant,
    )
}

/// What `pay/refundquery` says about one refund (its fields carry the `_0` suffix).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefundQueried {
    pub out_trade_no: String,
    pub transaction_id: String,
    pub out_refund_no: String,
    pub total_fee: Fen,
    pub refund_fee: Fen,
    pub status: RefundStatus,
}

pub fn read_refund_query(body: &[u8], merchant: &Merchant) -> Result<RefundQueried, PayApiError> {
    let fields = read_answer(body, merchant)?;
    let bad = |e: RefundNoticeError| PayApiError::BadAnswer(e.to_string());
    let status_text = required(&fields, "refund_status_0").map_err(bad)?;
    let status = RefundStatus::parse(status_text)
        .ok_or_else(|| PayApiError::BadAnswer(format!("refund_status_0 {status_text}")))?;
    Ok(RefundQueried {
        out_trade_no: required(&fields, "out_trade_no").map_err(bad)?.to_owned(),
        transaction_id: required(&fields, "transaction_id").map_err(bad)?.to_owned(),
        out_refund_no: required(&fields, "out_refund_no_0")
            .map_err(bad)?
            .to_owned(),
        total_fee: fen(&fields, "total_fee").map_err(bad)?,
        refund_fee: fen(&fields, "refund_fee_0").map_err(bad)?,
        status,
    })
}

/// The business time of a `success_time` (`yyyy-MM-dd HH:mm:ss`, Beijing time), if readable.
pub fn success_at(text: &str) -> Option<BusinessTime> {
    let iso = format!("{}+08:00", text.trim().replacen(' ', "T", 1));
    BusinessTime::parse_rfc3339(&iso).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::pay_v2::SignType;
    use proptest::prelude::*;
    use serde_json::Value;

    fn vectors() -> Value {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/wechat.json"))
                .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn req_info_vectors_decrypt() {
        let vectors = vectors();
        let cases = vectors["pay_refund_req_info"].as_array().unwrap();
        assert_eq!(cases.len(), 3);
        for case in cases {
            let inputs = &case["inputs"];
            let plain = decrypt_req_info(
                inputs["api_key"].as_str().unwrap(),
                inputs["req_info"].as_str().unwrap(),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", case["id"]));
            let expected = &case["expected"];
            for (name, value) in expected["fields"].as_object().into_iter().flatten() {
                let fields = xml::parse(plain.as_bytes()).unwrap();
                assert_eq!(
                    fields.get(name).map(String::as_str),
                    value.as_str(),
                    "{}: {name}",
                    case["id"]
                );
            }
            if let Some(text) = expected["plaintext"].as_str() {
                assert_eq!(plain, text, "{}", case["id"]);
            }
            // The wrong key never decrypts to the same text.
            assert_ne!(
                decrypt_req_info("another key", inputs["req_info"].as_str().unwrap()).ok(),
                Some(plain)
            );
        }
    }

    fn merchant() -> Merchant {
        Merchant {
            appid: "wxmini".into(),
            mch_id: "1900000109".into(),
            api_key: "0123456789abcdef0123456789abcdef".into(),
            sign_type: SignType::Md5,
        }
    }

    fn notify(m: &Merchant, inner: &str, appid: &str) -> Vec<u8> {
        let req_info = encrypt_req_info(&m.api_key, inner);
        xml::write([
            ("return_code", "SUCCESS"),
            ("appid", appid),
            ("mch_id", m.mch_id.as_str()),
            ("nonce_str", "abc"),
            ("req_info", req_info.as_str()),
        ])
        .into_bytes()
    }

    const INNER: &str = "<root><out_refund_no><![CDATA[01JRF-M]]></out_refund_no><out_trade_no><![CDATA[01JRF]]></out_trade_no><refund_account><![CDATA[REFUND_SOURCE_RECHARGE_FUNDS]]></refund_account><refund_fee><![CDATA[300]]></refund_fee><refund_id><![CDATA[50000408942018111907145868882]]></refund_id><refund_recv_accout><![CDATA[支付用户零钱]]></refund_recv_accout><refund_request_source><![CDATA[API]]></refund_request_source><refund_status><![CDATA[SUCCESS]]></refund_status><settlement_refund_fee><![CDATA[300]]></settlement_refund_fee><settlement_total_fee><![CDATA[1000]]></settlement_total_fee><success_time><![CDATA[2026-11-25 10:30:00]]></success_time><total_fee><![CDATA[1000]]></total_fee><transaction_id><![CDATA[4200000215201811190261405420]]></transaction_id></root>";

    #[test]
    fn a_notify_round_trips_and_a_foreign_one_is_refused() {
        let m = merchant();
        let notice = read_notice(&notify(&m, INNER, "wxmini"), &m).unwrap();
        assert_eq!(notice.out_refund_no, "01JRF-M");
        assert_eq!(notice.refund_fee, Fen::new(300));
        assert_eq!(notice.total_fee, Fen::new(1000));
        assert_eq!(notice.status, RefundStatus::Success);
        let at = success_at(notice.success_time.as_deref().unwrap()).unwrap();
        assert_eq!(at.to_string(), "2026-11-25T10:30:00.000+08:00");
        assert!(matches!(
            read_notice(&notify(&m, INNER, "wxother"), &m),
            Err(RefundNoticeError::InvalidField { field: "appid", .. })
        ));
        let mut other = merchant();
        other.api_key = "another key".into();
        assert_eq!(
            read_notice(&notify(&other, INNER, "wxmini"), &m),
            Err(RefundNoticeError::Undecryptable)
        );
        let closed = INNER.replace("[SUCCESS]", "[REFUNDCLOSE]");
        assert_eq!(
            read_notice(&notify(&m, &closed, "wxmini"), &m)
                .unwrap()
                .status,
            RefundStatus::Failed
        );
    }

    #[test]
    fn refund_requests_are_signed_and_answers_read() {
        let m = merchant();
        let order = OrderId::parse("01JRF").unwrap();
        let refund = RefundId::parse("01JRF-M").unwrap();
        let body = refund_request(
            &m,
            &RefundAsk {
                order: &order,
                refund: &refund,
                total: Fen::new(1000),
                amount: Fen::new(300),
                reason: "会员取消自提订单",
                notify_url: "https://linli.example/wechat/pay/refund-notify",
            },
            "n1",
        );
        let fields = pay_v2::parse(body.as_bytes()).unwrap();
        pay_v2::verify(&fields, &m.api_key, SignType::Md5).unwrap();
        assert_eq!(fields["out_refund_no"], "01JRF-M");
        assert_eq!(fields["refund_fee"], "300");

        let answer = |pairs: &[(&str, &str)]| {
            let sign = pay_v2::sign(pairs.iter().copied(), &m.api_key, SignType::Md5);
            let mut all: Vec<(&str, &str)> = pairs.to_vec();
            all.push(("sign", &sign));
            xml::write(all).into_bytes()
        };
        let ok = answer(&[
            ("return_code", "SUCCESS"),
            ("result_code", "SUCCESS"),
            ("refund_id", "5000"),
        ]);
        assert_eq!(read_refund(&ok, &m).unwrap(), "5000");
        let refused = answer(&[
            ("return_code", "SUCCESS"),
            ("result_code", "FAIL"),
            ("err_code", "NOTENOUGH"),
            ("err_code_des", "余额不足"),
        ]);
        assert!(matches!(
            read_refund(&refused, &m),
            Err(PayApiError::Refused { code, .. }) if code == "NOTENOUGH"
        ));
        let queried = answer(&[
            ("return_code", "SUCCESS"),
            ("result_code", "SUCCESS"),
            ("out_trade_no", "01JRF"),
            ("transaction_id", "4200"),
            ("total_fee", "1000"),
            ("refund_count", "1"),
            ("out_refund_no_0", "01JRF-M"),
            ("refund_fee_0", "300"),
            ("refund_status_0", "PROCESSING"),
        ]);
        let q = read_refund_query(&queried, &m).unwrap();
        assert_eq!(q.status, RefundStatus::Processing);
        assert_eq!(q.refund_fee, Fen::new(300));
    }

    proptest! {
        #[test]
        fn no_req_info_panics(text in ".{0,300}", bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decrypt_req_info("k", &text);
            let _ = decrypt_req_info("k", &BASE64.encode(&bytes));
            let _ = read_notice(text.as_bytes(), &merchant());
        }
    }
}
