//! WeChat Pay API v3's envelope as the stand-in checks and writes it (DESIGN §6 "Pay v3").
//! A request must carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
//! signature="…",timestamp="…",serial_no="…"`, the signature being RSA-SHA256 (PKCS#1 v1.5) by
//! the merchant key over `METHOD\nPATH_AND_QUERY\ntimestamp\nnonce\nbody\n`, the path as Linli
//! calls it (`/v3/…`, under the stand-in's mount). Checked in this order, each failure a 401
//! `SIGN_ERROR`: the header is there and parses, `serial_no` = `WECHAT_PAY_MCH_SERIAL`, `mchid` =
//! `WECHAT_PAY_MCH_ID`, `timestamp` within ±300 s of the devstack clock, the signature verifies
//! with the public half of `WECHAT_PAY_MCH_PRIVATE_KEY` (standing in for the merchant
//! certificate WeChat Pay holds). Then the route decides (`v3_transactions.rs`,
//! `v3_refunds.rs`): a body that is not the JSON asked for is a 400 `PARAM_ERROR`.
//!
//! Every answer, error or not, 204 included, carries `Wechatpay-Timestamp`, `Wechatpay-Nonce`,
//! `Wechatpay-Serial` (`WECHAT_PAY_PLATFORM_SERIAL`), `Wechatpay-Signature` (the repository's
//! test platform key over `timestamp\nnonce\nbody\n`) and `Request-ID`; errors are
//! `{"code", "message"}`. Notifies are signed the same way (`v3_notify.rs`).

use super::{random, v3_refunds, v3_transactions, PayState};
use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::StatusCode;
use axum::response::{AppendHeaders, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chrono::{DateTime, Utc};
use linli::wechat::pay_v3::{failure_body, ApiV3Key, RsaSigner, TIMESTAMP_WINDOW_S};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::BTreeMap;

/// The platform's private key: the repository's test key (its public half is
/// `WECHAT_PAY_PLATFORM_PUBLIC_KEY` in `local.env`).
const PLATFORM_KEY: &str = include_str!("../../../../../shared/vectors/test-platform-key.pem");

/// Largest v3 request body read.
const MAX_BODY: usize = 1 << 20;

pub fn routes() -> Router<PayState> {
    let transaction = "/v3/pay/transactions/out-trade-no/{out_trade_no}";
    Router::new()
        .route(
            "/v3/pay/transactions/jsapi",
            post(v3_transactions::jsapi_api),
        )
        .route(transaction, get(v3_transactions::query_api))
        .route(
            &format!("{transaction}/close"),
            post(v3_transactions::close_api),
        )
        .route("/v3/refund/domestic/refunds", post(v3_refunds::refund_api))
        .route(
            "/v3/refund/domestic/refunds/{out_refund_no}",
            get(v3_refunds::refund_query_api),
        )
}

/// The merchant as WeChat Pay v3 knows it, and the platform key it answers with. No `Debug`:
/// keys must not reach a log.
pub struct Keys {
    pub appid: String,
    pub mch_id: String,
    mch_serial: String,
    /// The public half of the merchant's key: WeChat Pay holds the merchant's certificate.
    merchant: VerifyingKey<Sha256>,
    pub(super) api_v3_key: ApiV3Key,
    platform_serial: String,
    platform: RsaSigner,
}

impl Keys {
    /// The keys from the local settings; `Err` names what is missing or unreadable.
    pub fn from_settings(settings: &BTreeMap<String, String>) -> Result<Self, String> {
        let setting = |name: &str| {
            let value = settings.get(name).map(|v| v.trim()).unwrap_or_default();
            if value.is_empty() {
                Err(format!("settings lack {name}"))
            } else {
                Ok(value.to_owned())
            }
        };
        let merchant_pem = setting("WECHAT_PAY_MCH_PRIVATE_KEY")?;
        let merchant = rsa::PrivateKey::from_pkcs8_pem(&merchant_pem)
            .map_err(|e| format!("WECHAT_PAY_MCH_PRIVATE_KEY: {e}"))?;
        let api_v3_key = ApiV3Key::new(setting("WECHAT_PAY_API_V3_KEY")?.as_bytes())
            .map_err(|e| format!("WECHAT_PAY_API_V3_KEY: {e}"))?;
        Ok(Self {
            appid: setting("WECHAT_MINI_APP_ID")?,
            mch_id: setting("WECHAT_PAY_MCH_ID")?,
            mch_serial: setting("WECHAT_PAY_MCH_SERIAL")?,
            merchant: VerifyingKey::new(merchant.to_public_key()),
            api_v3_key,
            platform_serial: setting("WECHAT_PAY_PLATFORM_SERIAL")?,
            platform: RsaSigner::new(PLATFORM_KEY).map_err(|e| format!("platform key: {e}"))?,
        })
    }

    /// The `Wechatpay-*` headers of an answer or notify `body` at `now_s`; `forged` signs
    /// another body, so the signature does not verify.
    pub(super) fn wechatpay_headers(
        &self,
        now_s: i64,
        body: &[u8],
        forged: bool,
    ) -> Vec<(String, String)> {
        let (timestamp, nonce) = (now_s.to_string(), random(32, 36));
        let signed: &[u8] = if forged { b"forged" } else { body };
        let signature = self.platform.sign(&timestamp, &nonce, signed);
        vec![
            ("Wechatpay-Timestamp".to_owned(), timestamp),
            ("Wechatpay-Nonce".to_owned(), nonce),
            ("Wechatpay-Serial".to_owned(), self.platform_serial.clone()),
            ("Wechatpay-Signature".to_owned(), signature),
        ]
    }

    fn signed_answer(&self, now_s: i64, status: StatusCode, body: Vec<u8>) -> Response {
        let mut headers = self.wechatpay_headers(now_s, &body, false);
        headers.push(("Request-ID".to_owned(), random(32, 16).to_uppercase()));
        if !body.is_empty() {
            let json = "application/json; charset=utf-8".to_owned();
            headers.push((CONTENT_TYPE.as_str().to_owned(), json));
        }
        (status, AppendHeaders(headers), Body::from(body)).into_response()
    }
}

/// A v3 request as it arrived.
pub struct Call {
    method: String,
    /// Path and query under the stand-in (`/v3/…`): what Linli signs.
    target: String,
    authorization: Option<String>,
    pub body: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Call {
    type Rejection = Response;

    async fn from_request(request: Request, _: &S) -> Result<Self, Response> {
        let (parts, body) = request.into_parts();
        let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let authorization = parts.headers.get(AUTHORIZATION);
        let body = to_bytes(body, MAX_BODY)
            .await
            .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, e.to_string()).into_response())?;
        Ok(Self {
            method: parts.method.to_string(),
            target: target
                .strip_prefix("/_local/wechatpay")
                .unwrap_or(target)
                .to_owned(),
            authorization: authorization
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            body,
        })
    }
}

impl Call {
    /// The query string (after `?`), empty when there is none.
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, query)| query)
    }
}

/// A refused request: its HTTP status and WeChat Pay's error code and message.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl Refusal {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `PARAM_ERROR`.
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "PARAM_ERROR", message)
    }

    fn sign(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "SIGN_ERROR", message)
    }
}

/// An accepted request's answer before it is signed.
#[derive(Debug, PartialEq)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Option<Value>,
}

impl Reply {
    pub fn json(body: Value) -> Self {
        Self {
            status: StatusCode::OK,
            body: Some(body),
        }
    }

    pub fn no_content() -> Self {
        Self {
            status: StatusCode::NO_CONTENT,
            body: None,
        }
    }
}

/// The `Authorization` header's parameters.
struct Authorization<'a> {
    mchid: &'a str,
    nonce: &'a str,
    signature: &'a str,
    timestamp: &'a str,
    serial: &'a str,
}

fn parse_authorization(header: &str) -> Option<Authorization<'_>> {
    let params = header.strip_prefix("WECHATPAY2-SHA256-RSA2048 ")?;
    let mut found = BTreeMap::new();
    for pair in params.split(',') {
        let (name, value) = pair.trim().split_once('=')?;
        let value = value.strip_prefix('"')?.strip_suffix('"')?;
        found.insert(name, value);
    }
    let take = |name: &str| found.get(name).copied();
    Some(Authorization {
        mchid: take("mchid")?,
        nonce: take("nonce_str")?,
        signature: take("signature")?,
        timestamp: take("timestamp")?,
        serial: take("serial_no")?,
    })
}

/// WeChat Pay's checks of a request's `Authorization`, in its order.
fn authenticate(keys: &Keys, call: &Call, now_s: i64) -> Result<(), Refusal> {
    let header = call
        .authorization
        .as_deref()
        .ok_or_else(|| Refusal::sign("缺少Authorization请求头"))?;
    let auth =
        parse_authorization(header).ok_or_else(|| Refusal::sign("Authorization请求头格式错误"))?;
    if auth.serial != keys.mch_serial {
        return Err(Refusal::sign("商户证书序列号有误"));
    }
    if auth.mchid != keys.mch_id {
        return Err(Refusal::sign("Authorization中的商户号与证书不匹配"));
    }
    let at: i64 = auth
        .timestamp
        .parse()
        .map_err(|_| Refusal::sign("timestamp格式错误"))?;
    if now_s.abs_diff(at) > TIMESTAMP_WINDOW_S.unsigned_abs() {
        return Err(Refusal::sign("请求的时间戳已过期"));
    }
    let signed_lines = [
        call.method.as_str(),
        &call.target,
        auth.timestamp,
        auth.nonce,
    ];
    let mut text = signed_lines.join("\n").into_bytes();
    text.push(b'\n');
    text.extend_from_slice(&call.body);
    text.push(b'\n');
    let raw = BASE64.decode(auth.signature).unwrap_or_default();
    Signature::try_from(raw.as_slice())
        .ok()
        .filter(|signature| keys.merchant.verify(&text, signature).is_ok())
        .map(|_| ())
        .ok_or_else(|| Refusal::sign("错误的签名，验签失败"))
}

/// Answers a v3 call as WeChat Pay would: authenticates it, lets `decide` answer it (given the
/// keys and the devstack time), signs the answer with the platform key.
pub fn respond(
    state: &PayState,
    call: &Call,
    api: &'static str,
    decide: impl FnOnce(&Keys, DateTime<Utc>) -> Result<Reply, Refusal>,
) -> Response {
    let keys = match &state.v3 {
        Ok(keys) => keys,
        Err(missing) => {
            tracing::error!(stand_in = "wechatpay", api, %missing, "API v3 unusable");
            let body = failure_body("SYSTEM_ERROR", "devstack: WeChat Pay v3 settings missing");
            let json = [(CONTENT_TYPE, "application/json")];
            return (StatusCode::INTERNAL_SERVER_ERROR, json, body).into_response();
        }
    };
    let now = state.kit.clock.now();
    let decided = authenticate(keys, call, now.timestamp()).and_then(|()| decide(keys, now));
    let (status, body, outcome) = match decided {
        Ok(reply) => {
            let body = reply.body.map(|b| b.to_string()).unwrap_or_default();
            (reply.status, body, "OK")
        }
        Err(refusal) => {
            let body = failure_body(refusal.code, &refusal.message);
            (refusal.status, body, refusal.code)
        }
    };
    tracing::info!(
        stand_in = "wechatpay",
        api,
        target = %call.target,
        status = status.as_u16(),
        outcome,
        "pay API v3 answered"
    );
    keys.signed_answer(now.timestamp(), status, body.into_bytes())
}

/// The request body as `T`, or 400 `PARAM_ERROR` (bad JSON, a required field missing).
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| Refusal::param(format!("输入参数有误: {e}")))
}

/// The `mchid` (and `appid`, when the API takes one) a request names must be the merchant's.
pub fn check_merchant(keys: &Keys, appid: Option<&str>, mchid: &str) -> Result<(), Refusal> {
    if mchid != keys.mch_id {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "MCH_NOT_EXISTS",
            "商户号不存在",
        ));
    }
    if appid.is_some_and(|appid| appid != keys.appid) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "APPID_MCHID_NOT_MATCH",
            "appid和mch_id不匹配",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::v3_testkit::{jsapi_body, verify, Signing, Stand, PLATFORM_KEY};
    use super::*;
    use linli::wechat::pay_v3::{Platform, SignedHeaders};

    const JSAPI: &str = "/v3/pay/transactions/jsapi";
    const ORDER: &str = "O-20261125-v3sign01";

    #[tokio::test]
    async fn a_correctly_signed_jsapi_request_gets_a_prepay_id_in_a_platform_signed_answer() {
        let stand = Stand::serve().await;
        let body = jsapi_body(ORDER, 1990, "o-alice").to_string();
        let answer = stand.call("POST", JSAPI, &body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(verify(&answer.headers, answer.body.as_bytes()), Ok(()));
        let prepay_id = answer.json()["prepay_id"].as_str().unwrap().to_owned();
        assert!(
            prepay_id.starts_with("wx") && prepay_id.len() == 36,
            "{prepay_id}"
        );
        let header = |name: &str| answer.headers[name].to_str().unwrap().to_owned();
        assert_eq!(header("wechatpay-nonce").len(), 32);
        assert!(header("content-type").starts_with("application/json"));
        assert!(!header("request-id").is_empty());
        let tampered = answer.body.replace("wx", "wy");
        assert!(verify(&answer.headers, tampered.as_bytes()).is_err());
    }

    #[tokio::test]
    async fn a_request_signed_wrongly_too_late_or_for_another_serial_is_a_401_and_creates_nothing()
    {
        let stand = Stand::serve().await;
        let body = jsapi_body(ORDER, 1990, "o-alice").to_string();
        let linli = Signing::linli();
        let refused = [
            Signing {
                unsigned: true,
                ..linli
            },
            Signing {
                key: PLATFORM_KEY,
                ..linli
            },
            Signing {
                skew_s: -301,
                ..linli
            },
            Signing {
                skew_s: 301,
                ..linli
            },
            Signing {
                serial: "ANOTHERSERIAL",
                ..linli
            },
            Signing {
                mchid: "1900000999",
                ..linli
            },
        ];
        for signing in refused {
            let answer = stand.call_as(signing, "POST", JSAPI, &body).await;
            assert_eq!(answer.code(), (401, "SIGN_ERROR".to_owned()));
        }
        // Signed over the devstack's own path, or over another body.
        let local = Signing {
            signed_prefix: "/_local/wechatpay",
            ..linli
        };
        let answer = stand.call_as(local, "POST", JSAPI, &body).await;
        assert_eq!(answer.code(), (401, "SIGN_ERROR".to_owned()));
        let other = Signing {
            signed_body: Some("{}"),
            ..linli
        };
        let answer = stand.call_as(other, "POST", JSAPI, &body).await;
        assert_eq!(answer.code(), (401, "SIGN_ERROR".to_owned()));
        let query = format!("/v3/pay/transactions/out-trade-no/{ORDER}?mchid=1900000109");
        let unknown = stand.call("GET", &query, "").await;
        assert_eq!(unknown.code(), (404, "ORDER_NOT_EXIST".to_owned()));
    }

    #[test]
    fn the_local_settings_make_keys_whose_platform_half_is_the_one_linli_trusts() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../local/local.env");
        let text = std::fs::read_to_string(path).unwrap();
        let settings = crate::envfile::parse(path, &text).unwrap();
        let keys = Keys::from_settings(&settings).unwrap();
        let answer = keys.signed_answer(1_764_000_000, StatusCode::OK, b"{}".to_vec());
        let serial = &settings["WECHAT_PAY_PLATFORM_SERIAL"];
        let platform = Platform::new(serial, &settings["WECHAT_PAY_PLATFORM_PUBLIC_KEY"]);
        let header = |name: &str| answer.headers()[name].to_str().unwrap();
        let signed = SignedHeaders {
            serial: header("wechatpay-serial"),
            timestamp: header("wechatpay-timestamp"),
            nonce: header("wechatpay-nonce"),
            signature: header("wechatpay-signature"),
        };
        assert_eq!(
            platform.unwrap().verify(&signed, b"{}", 1_764_000_000),
            Ok(())
        );
    }

    #[test]
    fn the_authorization_header_parses_only_in_wechatpay_form() {
        let header = concat!(
            r#"WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="n0","#,
            r#"signature="c2ln==",timestamp="1764000000",serial_no="S1""#
        );
        let auth = parse_authorization(header).unwrap();
        assert_eq!(
            (auth.mchid, auth.nonce, auth.serial),
            ("1900000109", "n0", "S1")
        );
        assert_eq!((auth.signature, auth.timestamp), ("c2ln==", "1764000000"));
        assert!(parse_authorization(&header.replace("RSA2048", "RSA")).is_none());
        assert!(parse_authorization(&header.replace(",serial_no=\"S1\"", "")).is_none());
        assert!(parse_authorization(&header.replace("\"n0\"", "n0")).is_none());
        assert!(parse_authorization("").is_none());
    }
}
