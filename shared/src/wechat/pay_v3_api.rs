//! WeChat Pay API v3 calls Linli makes (`WECHAT_PAY_API=v3`): JSAPI prepay, close, query,
//! refund, refund query, and the RSA-signed payment sheet. Requests and answers are built and
//! read by pure functions; the HTTP edge is `linli::paying`. A request carries
//! `Authorization: WECHATPAY2-SHA256-RSA2048 …` signed with the merchant key; a successful answer
//! is believed only when its `Wechatpay-Signature` verifies with the platform key (an error
//! answer changes nothing, so it is read unverified).

use super::pay_api::{CloseOutcome, PayApiError, PayParams, Prepay};
use super::pay_refund::RefundAsk;
use super::pay_v3::{Platform, RequestToSign, RsaSigner, SignedHeaders};
use crate::ids::OrderId;
use crate::time::BusinessTime;
use serde::Deserialize;
use serde_json::json;
use std::fmt;

/// The merchant as v3 knows it: the key that signs requests and the platform key that signs
/// answers.
#[derive(Clone)]
pub struct V3Merchant {
    /// The mini-program's appid (JSAPI payments are the mini-program's).
    pub appid: String,
    pub mch_id: String,
    /// The serial number of the merchant's API certificate (`WECHAT_PAY_MCH_SERIAL`).
    pub serial: String,
    pub signer: RsaSigner,
    pub platform: Platform,
}

impl fmt::Debug for V3Merchant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("V3Merchant")
            .field("appid", &self.appid)
            .field("mch_id", &self.mch_id)
            .field("serial", &self.serial)
            .field("signer", &"***")
            .finish()
    }
}

/// A v3 request: method, path with query, JSON body (empty for GET).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct V3Request {
    pub method: &'static str,
    pub path: String,
    pub body: String,
}

impl V3Merchant {
    /// The `Authorization` header of `request` at `timestamp` (epoch seconds) with `nonce`.
    pub fn authorization(&self, request: &V3Request, timestamp: &str, nonce: &str) -> String {
        self.signer.authorization(
            &self.mch_id,
            &self.serial,
            &RequestToSign {
                method: request.method,
                url_path: &request.path,
                timestamp,
                nonce,
                body: &request.body,
            },
        )
    }
}

/// `description` is limited to 127 characters.
fn clip_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

/// `POST /v3/pay/transactions/jsapi`.
pub fn jsapi_request(merchant: &V3Merchant, prepay: &Prepay<'_>) -> V3Request {
    let body = json!({
        "appid": merchant.appid,
        "mchid": merchant.mch_id,
        "description": clip_chars(prepay.description, 127),
        "out_trade_no": prepay.order.as_str(),
        "time_expire": prepay.expires_at.shanghai_rfc3339(),
        "notify_url": prepay.notify_url,
        "amount": { "total": prepay.amount.value(), "currency": "CNY" },
        "payer": { "openid": prepay.payer.as_str() },
    });
    V3Request {
        method: "POST",
        path: "/v3/pay/transactions/jsapi".to_owned(),
        body: body.to_string(),
    }
}

/// `POST /v3/pay/transactions/out-trade-no/{id}/close` (answers 204, even for an order it does
/// not know, so the close is followed by a query).
pub fn close_request(merchant: &V3Merchant, order: &OrderId) -> V3Request {
    V3Request {
        method: "POST",
        path: format!("/v3/pay/transactions/out-trade-no/{order}/close"),
        body: json!({ "mchid": merchant.mch_id }).to_string(),
    }
}

/// `GET /v3/pay/transactions/out-trade-no/{id}?mchid=…`.
pub fn query_request(merchant: &V3Merchant, order: &OrderId) -> V3Request {
    V3Request {
        method: "GET",
        path: format!(
            "/v3/pay/transactions/out-trade-no/{order}?mchid={}",
            merchant.mch_id
        ),
        body: String::new(),
    }
}

/// `POST /v3/refund/domestic/refunds`.
pub fn refund_request(ask: &RefundAsk<'_>) -> V3Request {
    let mut body = json!({
        "out_trade_no": ask.order.as_str(),
        "out_refund_no": ask.refund.as_str(),
        "notify_url": ask.notify_url,
        "amount": { "refund": ask.amount.value(), "total": ask.total.value(), "currency": "CNY" },
    });
    let reason = clip_chars(ask.reason.trim(), 80);
    if !reason.is_empty() {
        body["reason"] = reason.into();
    }
    V3Request {
        method: "POST",
        path: "/v3/refund/domestic/refunds".to_owned(),
        body: body.to_string(),
    }
}

/// An answer as received: status, the `Wechatpay-*` headers (absent ones as empty) and body.
#[derive(Clone, Copy, Debug)]
pub struct V3Answer<'a> {
    pub status: u16,
    pub headers: SignedHeaders<'a>,
    pub body: &'a [u8],
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// A successful answer's body once its signature verifies at `now`; an error answer as the
/// error it is (401, 429, 5xx and `SYSTEM_ERROR` are worth retrying, other refusals are not).
pub fn read_answer<'a>(
    merchant: &V3Merchant,
    answer: &V3Answer<'a>,
    now: BusinessTime,
) -> Result<&'a [u8], PayApiError> {
    if (200..300).contains(&answer.status) {
        merchant
            .platform
            .verify(&answer.headers, answer.body, now.epoch_seconds())
            .map_err(|e| PayApiError::BadAnswer(format!("answer signature: {e}")))?;
        return Ok(answer.body);
    }
    let error: ErrorBody = serde_json::from_slice(answer.body).unwrap_or(ErrorBody {
        code: String::new(),
        message: String::new(),
    });
    // 401: WeChat Pay did not accept our signature (serial, key or clock): ours to fix, and
    // never a verdict on the payment or refund itself.
    let retryable = answer.status == 401
        || answer.status == 429
        || answer.status >= 500
        || matches!(
            error.code.as_str(),
            "SYSTEM_ERROR" | "FREQUENCY_LIMITED" | "BANKERROR" | ""
        );
    if retryable {
        return Err(PayApiError::Unavailable(format!(
            "HTTP {} {} {}",
            answer.status, error.code, error.message
        )));
    }
    Err(PayApiError::Refused {
        code: error.code,
        message: error.message,
    })
}

fn field<'a>(value: &'a serde_json::Value, name: &str) -> Result<&'a str, PayApiError> {
    value[name]
        .as_str()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| PayApiError::BadAnswer(format!("no {name}")))
}

fn json_of(body: &[u8]) -> Result<serde_json::Value, PayApiError> {
    serde_json::from_slice(body).map_err(|e| PayApiError::BadAnswer(e.to_string()))
}

/// The `prepay_id` of a verified jsapi answer.
pub fn read_prepay(body: &[u8]) -> Result<String, PayApiError> {
    Ok(field(&json_of(body)?, "prepay_id")?.to_owned())
}

/// WeChat Pay's refund id from a verified refund answer (the money moves later: the notify
/// or a query says when).
pub fn read_refund(body: &[u8]) -> Result<String, PayApiError> {
    Ok(field(&json_of(body)?, "refund_id")?.to_owned())
}

/// What a close means once the order is queried (`trade_state` of a verified query answer, or
/// `None` when WeChat Pay does not know the order: it was never created there).
pub fn close_outcome(trade_state: Option<&str>) -> Result<CloseOutcome, PayApiError> {
    match trade_state {
        // Paid (and maybe refunded since): its notify marks the order paid.
        Some("SUCCESS" | "REFUND") => Ok(CloseOutcome::AlreadyPaid),
        Some("CLOSED" | "REVOKED" | "PAYERROR") | None => Ok(CloseOutcome::Closed),
        // NOTPAY after a close, or USERPAYING: not closed yet; ask again later.
        Some(other) => Err(PayApiError::Unavailable(format!(
            "the order is still {other} after the close"
        ))),
    }
}

/// The `trade_state` of a verified query answer.
pub fn read_trade_state(body: &[u8]) -> Result<String, PayApiError> {
    Ok(field(&json_of(body)?, "trade_state")?.to_owned())
}

/// Signs the payment sheet for `prepay_id` (`signType` RSA: the merchant key over
/// `appId\ntimeStamp\nnonceStr\npackage\n`).
pub fn pay_params(
    merchant: &V3Merchant,
    prepay_id: &str,
    now: BusinessTime,
    nonce: &str,
) -> PayParams {
    let time_stamp = now.epoch_seconds().to_string();
    let package = format!("prepay_id={prepay_id}");
    let pay_sign = merchant
        .signer
        .sign_lines(&[&merchant.appid, &time_stamp, nonce, &package]);
    PayParams {
        app_id: merchant.appid.clone(),
        time_stamp,
        nonce_str: nonce.to_owned(),
        package,
        sign_type: "RSA".to_owned(),
        pay_sign,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{OpenId, RefundId};
    use crate::money::Fen;
    use base64::engine::general_purpose::STANDARD as BASE64;
    use base64::Engine;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::Verifier;
    use serde_json::Value;

    const MERCHANT_KEY: &str = include_str!("../../vectors/test-merchant-key.pem");
    const PLATFORM_KEY: &str = include_str!("../../vectors/test-platform-key.pem");
    const PLATFORM_PUB: &str = include_str!("../../vectors/test-platform-pub.pem");

    fn merchant() -> V3Merchant {
        V3Merchant {
            appid: "wxmini".into(),
            mch_id: "1900000109".into(),
            serial: "MCHSERIAL".into(),
            signer: RsaSigner::new(MERCHANT_KEY).unwrap(),
            platform: Platform::new("PLATSERIAL", PLATFORM_PUB).unwrap(),
        }
    }

    fn merchant_verifier() -> VerifyingKey<sha2::Sha256> {
        let key = rsa::PrivateKey::from_pkcs8_pem(MERCHANT_KEY).unwrap();
        VerifyingKey::new(key.to_public_key())
    }

    fn at(seconds: i64) -> BusinessTime {
        BusinessTime::from_epoch_ms(seconds * 1000).unwrap()
    }

    fn order() -> OrderId {
        OrderId::parse("O-20261125-a1b2c3d4").unwrap()
    }

    #[test]
    fn jsapi_request_carries_the_order_in_v3_terms() {
        let payer = OpenId::parse("o-alice").unwrap();
        let prepay = Prepay {
            order: &order(),
            description: &"邻".repeat(200),
            amount: Fen::new(1990),
            payer: &payer,
            client_ip: "127.0.0.1",
            notify_url: "https://linli.example/wechat/pay/v3/notify",
            expires_at: at(1_764_037_800),
        };
        let request = jsapi_request(&merchant(), &prepay);
        assert_eq!(
            (request.method, request.path.as_str()),
            ("POST", "/v3/pay/transactions/jsapi")
        );
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["amount"]["total"], 1990);
        assert_eq!(body["amount"]["currency"], "CNY");
        assert_eq!(body["payer"]["openid"], "o-alice");
        assert_eq!(body["out_trade_no"], "O-20261125-a1b2c3d4");
        assert_eq!(body["time_expire"], "2025-11-25T10:30:00+08:00");
        assert_eq!(body["description"].as_str().unwrap().chars().count(), 127);
        assert_eq!(
            (body["appid"].as_str(), body["mchid"].as_str()),
            (Some("wxmini"), Some("1900000109"))
        );
    }

    #[test]
    fn authorization_signs_method_path_time_nonce_and_body() {
        let m = merchant();
        let request = query_request(&m, &order());
        assert_eq!(
            request.path,
            "/v3/pay/transactions/out-trade-no/O-20261125-a1b2c3d4?mchid=1900000109"
        );
        let header = m.authorization(&request, "1764037800", "n0nce");
        assert!(header.starts_with("WECHATPAY2-SHA256-RSA2048 mchid=\"1900000109\""));
        assert!(header.contains("serial_no=\"MCHSERIAL\""));
        let signature = header.split("signature=\"").nth(1).unwrap();
        let signature = BASE64.decode(signature.split('"').next().unwrap()).unwrap();
        let signed = format!("GET\n{}\n1764037800\nn0nce\n\n", request.path);
        let signature = Signature::try_from(signature.as_slice()).unwrap();
        assert!(merchant_verifier()
            .verify(signed.as_bytes(), &signature)
            .is_ok());
        let other = "POST\n/v3/pay/transactions/jsapi\n1764037800\nn0nce\n\n";
        assert!(merchant_verifier()
            .verify(other.as_bytes(), &signature)
            .is_err());
    }

    #[test]
    fn the_rsa_payment_sheet_verifies_with_the_merchant_key() {
        let params = pay_params(
            &merchant(),
            "wx201410272009395522657a690389285100",
            at(1_414_561_699),
            "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
        );
        assert_eq!(params.sign_type, "RSA");
        assert_eq!(
            params.package,
            "prepay_id=wx201410272009395522657a690389285100"
        );
        let text = format!(
            "wxmini\n1414561699\n{}\n{}\n",
            params.nonce_str, params.package
        );
        let raw = BASE64.decode(&params.pay_sign).unwrap();
        let signature = Signature::try_from(raw.as_slice()).unwrap();
        assert!(merchant_verifier()
            .verify(text.as_bytes(), &signature)
            .is_ok());
    }

    fn signed_answer(
        status: u16,
        body: &str,
        now_s: i64,
        key: &str,
    ) -> (u16, String, String, String) {
        let signer = RsaSigner::new(key).unwrap();
        let ts = now_s.to_string();
        let signature = signer.sign(&ts, "abc", body.as_bytes());
        (status, ts, signature, body.to_owned())
    }

    fn read(
        a: &(u16, String, String, String),
        serial: &str,
        now_s: i64,
    ) -> Result<Vec<u8>, PayApiError> {
        let answer = V3Answer {
            status: a.0,
            headers: SignedHeaders {
                serial,
                timestamp: &a.1,
                nonce: "abc",
                signature: &a.2,
            },
            body: a.3.as_bytes(),
        };
        read_answer(&merchant(), &answer, at(now_s)).map(<[u8]>::to_vec)
    }

    #[test]
    fn only_a_platform_signed_success_is_believed() {
        let now = 1_764_037_800;
        let good = signed_answer(200, r#"{"prepay_id":"wx1"}"#, now, PLATFORM_KEY);
        let body = read(&good, "PLATSERIAL", now).unwrap();
        assert_eq!(read_prepay(&body).unwrap(), "wx1");
        let forged = signed_answer(200, r#"{"prepay_id":"wx1"}"#, now, MERCHANT_KEY);
        assert!(matches!(
            read(&forged, "PLATSERIAL", now),
            Err(PayApiError::BadAnswer(_))
        ));
        assert!(matches!(
            read(&good, "OTHER", now),
            Err(PayApiError::BadAnswer(_))
        ));
        assert!(matches!(
            read(&good, "PLATSERIAL", now + 301),
            Err(PayApiError::BadAnswer(_))
        ));
        let empty = signed_answer(204, "", now, PLATFORM_KEY);
        assert_eq!(read(&empty, "PLATSERIAL", now).unwrap(), b"");
    }

    #[test]
    fn errors_are_refusals_unless_worth_retrying() {
        let now = 1_764_037_800;
        let refusal = |status, body: &str| {
            read(
                &(status, String::new(), String::new(), body.to_owned()),
                "PLATSERIAL",
                now,
            )
        };
        assert_eq!(
            refusal(403, r#"{"code":"NOT_ENOUGH","message":"余额不足"}"#),
            Err(PayApiError::Refused {
                code: "NOT_ENOUGH".into(),
                message: "余额不足".into()
            })
        );
        assert!(matches!(
            refusal(500, r#"{"code":"SYSTEM_ERROR","message":"x"}"#),
            Err(PayApiError::Unavailable(_))
        ));
        assert!(matches!(
            refusal(429, r#"{"code":"FREQUENCY_LIMITED","message":"x"}"#),
            Err(PayApiError::Unavailable(_))
        ));
        // Our signature refused (a wrong serial, key or clock): never a verdict on a refund.
        assert!(matches!(
            refusal(401, r#"{"code":"SIGN_ERROR","message":"签名错误"}"#),
            Err(PayApiError::Unavailable(_))
        ));
        assert!(matches!(
            refusal(400, "<html>"),
            Err(PayApiError::Unavailable(_))
        ));
    }

    #[test]
    fn a_close_is_judged_by_the_query_after_it() {
        assert_eq!(
            close_outcome(Some("SUCCESS")),
            Ok(CloseOutcome::AlreadyPaid)
        );
        assert_eq!(close_outcome(Some("REFUND")), Ok(CloseOutcome::AlreadyPaid));
        assert_eq!(close_outcome(Some("CLOSED")), Ok(CloseOutcome::Closed));
        assert_eq!(close_outcome(None), Ok(CloseOutcome::Closed));
        assert!(close_outcome(Some("NOTPAY")).is_err());
        assert!(close_outcome(Some("USERPAYING")).is_err());
    }

    #[test]
    fn refund_request_names_order_refund_and_amounts() {
        let refund = RefundId::parse("O-20261125-a1b2c3d4-M").unwrap();
        let ask = RefundAsk {
            order: &order(),
            refund: &refund,
            total: Fen::new(1990),
            amount: Fen::new(500),
            reason: "  ",
            notify_url: "https://linli.example/wechat/pay/v3/notify",
        };
        let request = refund_request(&ask);
        assert_eq!(request.path, "/v3/refund/domestic/refunds");
        let body: Value = serde_json::from_str(&request.body).unwrap();
        assert_eq!(body["out_refund_no"], "O-20261125-a1b2c3d4-M");
        assert_eq!(
            (
                body["amount"]["refund"].as_i64(),
                body["amount"]["total"].as_i64()
            ),
            (Some(500), Some(1990))
        );
        assert!(body.get("reason").is_none(), "a blank reason is left out");
        assert_eq!(
            read_refund(br#"{"refund_id":"50000000382019052709732678859","status":"PROCESSING"}"#)
                .unwrap(),
            "50000000382019052709732678859"
        );
        assert!(read_refund(br#"{"status":"PROCESSING"}"#).is_err());
    }
}
