//! WeChat Pay API v2 calls Linli makes (JSAPI in the mini-program): `pay/unifiedorder`,
//! `pay/closeorder`, and the `wx.requestPayment` parameters. Requests and answers are built and
//! read by pure functions; `call` is the one HTTP edge. Answers are trusted only when their sign
//! verifies with the sign type of the request (WeChat signs answers the way it was asked).

use super::pay_v2::{self, SignType};
use super::xml::{self, Fields};
use crate::ids::{OpenId, OrderId};
use crate::money::Fen;
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Which WeChat Pay API creates a payment (recorded on each order, so the order is closed and
/// its payment sheet signed the way it was created) and which one new refunds go through
/// (`WECHAT_PAY_API`). Notifies of both are accepted whatever the setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PayApi {
    /// XML, MD5 or HMAC-SHA256 signs with the API key; refunds over mTLS (`secapi`).
    #[default]
    V2,
    /// JSON, requests signed with the merchant's RSA key, answers verified with the platform's.
    V3,
}

impl std::str::FromStr for PayApi {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "v2" => Ok(Self::V2),
            "v3" => Ok(Self::V3),
            other => Err(format!("{other:?}: expected v2 or v3")),
        }
    }
}

/// The merchant account and how Linli signs for it.
#[derive(Clone)]
pub struct Merchant {
    /// The mini-program's appid (JSAPI payments are the mini-program's).
    pub appid: String,
    pub mch_id: String,
    pub api_key: String,
    /// The sign type new orders use (recorded on each order; its notify is verified with it).
    pub sign_type: SignType,
}

impl fmt::Debug for Merchant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Merchant")
            .field("appid", &self.appid)
            .field("mch_id", &self.mch_id)
            .field("api_key", &"***")
            .field("sign_type", &self.sign_type)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayApiError {
    /// WeChat Pay could not be reached or answered with a system error: retry later.
    #[error("WeChat Pay unavailable: {0}")]
    Unavailable(String),
    /// WeChat Pay refused the request (`err_code`): not worth retrying as is.
    #[error("WeChat Pay refused: {code} {message}")]
    Refused { code: String, message: String },
    /// The answer could not be read or its sign does not verify.
    #[error("WeChat Pay answer unusable: {0}")]
    BadAnswer(String),
}

/// A payment to prepare for `order`.
#[derive(Clone, Debug)]
pub struct Prepay<'a> {
    pub order: &'a OrderId,
    /// What the member sees on the payment sheet (`body`, ≤ 128 bytes).
    pub description: &'a str,
    pub amount: Fen,
    pub payer: &'a OpenId,
    pub client_ip: &'a str,
    pub notify_url: &'a str,
    /// WeChat Pay refuses to take the payment after this (`time_expire`).
    pub expires_at: BusinessTime,
}

/// `body` is limited to 128 bytes: cut on a character boundary.
fn clip(text: &str, max_bytes: usize) -> &str {
    let mut end = text.len().min(max_bytes);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Signs `fields` and writes the request XML.
pub(super) fn signed_xml(mut fields: Vec<(&str, String)>, merchant: &Merchant) -> String {
    if merchant.sign_type == SignType::HmacSha256 {
        fields.push(("sign_type", SignType::HmacSha256.as_str().to_owned()));
    }
    let sign = pay_v2::sign(
        fields.iter().map(|(k, v)| (*k, v.as_str())),
        &merchant.api_key,
        merchant.sign_type,
    );
    fields.push(("sign", sign));
    xml::write(fields.iter().map(|(k, v)| (*k, v.as_str())))
}

/// The `pay/unifiedorder` request body.
pub fn unified_order_request(merchant: &Merchant, prepay: &Prepay<'_>, nonce: &str) -> String {
    signed_xml(
        vec![
            ("appid", merchant.appid.clone()),
            ("mch_id", merchant.mch_id.clone()),
            ("nonce_str", nonce.to_owned()),
            ("body", clip(prepay.description, 128).to_owned()),
            ("out_trade_no", prepay.order.to_string()),
            ("total_fee", prepay.amount.value().to_string()),
            ("spbill_create_ip", prepay.client_ip.to_owned()),
            ("notify_url", prepay.notify_url.to_owned()),
            ("trade_type", "JSAPI".to_owned()),
            ("openid", prepay.payer.to_string()),
            ("time_expire", prepay.expires_at.shanghai_compact()),
        ],
        merchant,
    )
}

/// The `pay/closeorder` request body.
pub fn close_order_request(merchant: &Merchant, order: &OrderId, nonce: &str) -> String {
    signed_xml(
        vec![
            ("appid", merchant.appid.clone()),
            ("mch_id", merchant.mch_id.clone()),
            ("out_trade_no", order.to_string()),
            ("nonce_str", nonce.to_owned()),
        ],
        merchant,
    )
}

/// Reads an answer: communication ok, sign verified, result SUCCESS → its fields.
pub(super) fn read_answer(body: &[u8], merchant: &Merchant) -> Result<Fields, PayApiError> {
    let fields = pay_v2::parse(body).map_err(|e| PayApiError::BadAnswer(e.to_string()))?;
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or_default();
    if get("return_code") != "SUCCESS" {
        return Err(PayApiError::Unavailable(format!(
            "return_code {} {}",
            get("return_code"),
            get("return_msg")
        )));
    }
    pay_v2::verify(&fields, &merchant.api_key, merchant.sign_type)
        .map_err(|e| PayApiError::BadAnswer(e.to_string()))?;
    if get("result_code") != "SUCCESS" {
        let code = get("err_code").to_owned();
        let message = get("err_code_des").to_owned();
        return Err(if code == "SYSTEMERROR" || code.is_empty() {
            PayApiError::Unavailable(format!("{code} {message}"))
        } else {
            PayApiError::Refused { code, message }
        });
    }
    Ok(fields)
}

/// The `prepay_id` of a successful `pay/unifiedorder` answer.
pub fn read_unified_order(body: &[u8], merchant: &Merchant) -> Result<String, PayApiError> {
    let fields = read_answer(body, merchant)?;
    fields
        .get("prepay_id")
        .filter(|p| !p.is_empty())
        .cloned()
        .ok_or_else(|| PayApiError::BadAnswer("no prepay_id".into()))
}

/// What `pay/closeorder` said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseOutcome {
    /// The payment can no longer be made.
    Closed,
    /// The member paid after all: the order must not be closed (its notify marks it paid).
    AlreadyPaid,
}

pub fn read_close_order(body: &[u8], merchant: &Merchant) -> Result<CloseOutcome, PayApiError> {
    match read_answer(body, merchant) {
        Ok(_) => Ok(CloseOutcome::Closed),
        Err(PayApiError::Refused { code, .. }) if code == "ORDERPAID" => {
            Ok(CloseOutcome::AlreadyPaid)
        }
        // Already closed, or never created at WeChat (unifiedorder failed): nothing can be paid.
        Err(PayApiError::Refused { code, .. })
            if code == "ORDERCLOSED" || code == "ORDERNOTEXIST" =>
        {
            Ok(CloseOutcome::Closed)
        }
        Err(e) => Err(e),
    }
}

/// The parameters of `wx.requestPayment` (field names as the mini-program API spells them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PayParams {
    #[serde(rename = "appId")]
    pub app_id: String,
    #[serde(rename = "timeStamp")]
    pub time_stamp: String,
    #[serde(rename = "nonceStr")]
    pub nonce_str: String,
    pub package: String,
    #[serde(rename = "signType")]
    pub sign_type: String,
    #[serde(rename = "paySign")]
    pub pay_sign: String,
}

/// Signs the payment sheet for `prepay_id` with the order's `sign_type`.
pub fn pay_params(
    merchant: &Merchant,
    sign_type: SignType,
    prepay_id: &str,
    now: BusinessTime,
    nonce: &str,
) -> PayParams {
    let time_stamp = now.epoch_seconds().to_string();
    let package = format!("prepay_id={prepay_id}");
    let pay_sign = pay_v2::sign(
        [
            ("appId", merchant.appid.as_str()),
            ("timeStamp", time_stamp.as_str()),
            ("nonceStr", nonce),
            ("package", package.as_str()),
            ("signType", sign_type.as_str()),
        ],
        &merchant.api_key,
        sign_type,
    );
    PayParams {
        app_id: merchant.appid.clone(),
        time_stamp,
        nonce_str: nonce.to_owned(),
        package,
        sign_type: sign_type.as_str().to_owned(),
        pay_sign,
    }
}

/// A nonce for a request or a payment sheet (32 hex characters).
pub fn nonce(random: u128) -> String {
    format!("{random:032x}")
}

/// POSTs `xml` to `base` + `path` (e.g. `/pay/unifiedorder`) and returns the answer body.
pub async fn call(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    xml: String,
) -> Result<Vec<u8>, PayApiError> {
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let response = http
        .post(url)
        .header("content-type", "text/xml; charset=utf-8")
        .body(xml)
        .timeout(std::time::Duration::from_secs(4))
        .send()
        .await
        .map_err(|e| PayApiError::Unavailable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(PayApiError::Unavailable(format!(
            "HTTP {}",
            response.status()
        )));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| PayApiError::Unavailable(e.to_string()))?;
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn merchant(sign_type: SignType) -> Merchant {
        Merchant {
            appid: "wxmini".into(),
            mch_id: "1900000109".into(),
            api_key: "key".into(),
            sign_type,
        }
    }

    fn answer(fields: &[(&str, &str)], m: &Merchant) -> Vec<u8> {
        let mut f: Vec<(&str, String)> = fields.iter().map(|(k, v)| (*k, v.to_string())).collect();
        let sign = pay_v2::sign(fields.iter().copied(), &m.api_key, m.sign_type);
        f.push(("sign", sign));
        xml::write(f.iter().map(|(k, v)| (*k, v.as_str()))).into_bytes()
    }

    #[test]
    fn pay_params_match_the_jsapi_vectors() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/wechat.json"))
                .unwrap();
        let vectors: Value = serde_json::from_str(&text).unwrap();
        let mut seen = 0;
        for v in vectors["pay_v2_sign"].as_array().unwrap() {
            let params = &v["inputs"]["params"];
            if params.get("package").is_none() {
                continue;
            }
            let sign_type: SignType = v["inputs"]["sign_type"].as_str().unwrap().parse().unwrap();
            let m = Merchant {
                appid: params["appId"].as_str().unwrap().into(),
                mch_id: String::new(),
                api_key: v["inputs"]["api_key"].as_str().unwrap().into(),
                sign_type,
            };
            let seconds: i64 = params["timeStamp"].as_str().unwrap().parse().unwrap();
            let now = BusinessTime::from_epoch_ms(seconds * 1000).unwrap();
            let prepay = params["package"]
                .as_str()
                .unwrap()
                .trim_start_matches("prepay_id=");
            let p = pay_params(
                &m,
                sign_type,
                prepay,
                now,
                params["nonceStr"].as_str().unwrap(),
            );
            assert_eq!(
                p.pay_sign,
                v["expected"]["sign"].as_str().unwrap(),
                "{}",
                v["id"]
            );
            seen += 1;
        }
        assert!(seen >= 2, "the JSAPI vectors were found");
    }

    #[test]
    fn unified_order_requests_are_signed_and_carry_the_deadline() {
        for sign_type in [SignType::Md5, SignType::HmacSha256] {
            let m = merchant(sign_type);
            let order = OrderId::parse("01JD0000000000000000000000").unwrap();
            let payer = OpenId::parse("o-payer").unwrap();
            let at = BusinessTime::parse_rfc3339("2026-11-25T10:00:00+08:00").unwrap();
            let body = unified_order_request(
                &m,
                &Prepay {
                    order: &order,
                    description: &"邻里".repeat(40),
                    amount: Fen::new(1_250),
                    payer: &payer,
                    client_ip: "127.0.0.1",
                    notify_url: "https://linli.example/wechat/pay/notify",
                    expires_at: at.plus_ms(15 * 60 * 1000),
                },
                "n1",
            );
            let fields = pay_v2::parse(body.as_bytes()).unwrap();
            pay_v2::verify(&fields, "key", sign_type).unwrap();
            assert_eq!(fields["time_expire"], "20261125101500");
            assert_eq!(fields["total_fee"], "1250");
            assert!(fields["body"].len() <= 128);
            assert_eq!(
                fields.contains_key("sign_type"),
                sign_type == SignType::HmacSha256
            );
        }
    }

    #[test]
    fn answers_are_trusted_only_when_signed_and_successful() {
        let m = merchant(SignType::HmacSha256);
        let ok = answer(
            &[
                ("return_code", "SUCCESS"),
                ("result_code", "SUCCESS"),
                ("prepay_id", "wx1"),
            ],
            &m,
        );
        assert_eq!(read_unified_order(&ok, &m), Ok("wx1".into()));
        let forged = String::from_utf8(ok.clone()).unwrap().replace("wx1", "wx2");
        assert!(matches!(
            read_unified_order(forged.as_bytes(), &m),
            Err(PayApiError::BadAnswer(_))
        ));
        let down = xml::write([("return_code", "FAIL"), ("return_msg", "系统繁忙")]);
        assert!(matches!(
            read_unified_order(down.as_bytes(), &m),
            Err(PayApiError::Unavailable(_))
        ));
        let paid = answer(
            &[
                ("return_code", "SUCCESS"),
                ("result_code", "FAIL"),
                ("err_code", "ORDERPAID"),
            ],
            &m,
        );
        assert_eq!(read_close_order(&paid, &m), Ok(CloseOutcome::AlreadyPaid));
        let closed = answer(
            &[
                ("return_code", "SUCCESS"),
                ("result_code", "FAIL"),
                ("err_code", "ORDERCLOSED"),
            ],
            &m,
        );
        assert_eq!(read_close_order(&closed, &m), Ok(CloseOutcome::Closed));
    }
}
