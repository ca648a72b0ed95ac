//! Fixtures of the API v3 tests: the stand-in served on a loopback port beside a notify
//! receiver, requests signed as Linli signs them, answers and notifies checked as Linli checks
//! them (the repository's test keys and the `local.env` values).

use super::v3::Keys;
use super::WechatPay;
use crate::clock::Clock;
use crate::standins::{mount, Callbacks};
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use linli::wechat::pay_v3::V3Error;
use linli::wechat::pay_v3::{ApiV3Key, Notify, Platform, RequestToSign, RsaSigner, SignedHeaders};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const MERCHANT_KEY: &str = include_str!("../../../../../shared/vectors/test-merchant-key.pem");
pub const PLATFORM_KEY: &str = include_str!("../../../../../shared/vectors/test-platform-key.pem");
pub const PLATFORM_PUB: &str = include_str!("../../../../../shared/vectors/test-platform-pub.pem");
pub const MCH_ID: &str = "1900000109";
pub const MCH_SERIAL: &str = "LOCALMERCHANTSERIAL000000000001";
pub const PLATFORM_SERIAL: &str = "LOCALPLATFORMSERIAL0000000000001";
pub const V3_KEY: &str = "localpayv3key0123456789abcdefghi";
pub const NOTIFY_URL: &str = "http://127.0.0.1:3000/wechat/pay/v3/notify";

pub fn settings() -> BTreeMap<String, String> {
    let mut settings = super::tests::settings();
    for (name, value) in [
        ("WECHAT_PAY_MCH_SERIAL", MCH_SERIAL),
        ("WECHAT_PAY_MCH_PRIVATE_KEY", MERCHANT_KEY),
        ("WECHAT_PAY_API_V3_KEY", V3_KEY),
        ("WECHAT_PAY_PLATFORM_SERIAL", PLATFORM_SERIAL),
    ] {
        settings.insert(name.to_owned(), value.to_owned());
    }
    settings
}

pub fn keys() -> Keys {
    Keys::from_settings(&settings()).unwrap()
}

pub fn now_s() -> i64 {
    Clock::default().now().timestamp()
}

/// How a test request is signed; `Signing::linli()` is how Linli signs.
#[derive(Clone, Copy)]
pub struct Signing {
    pub key: &'static str,
    pub serial: &'static str,
    pub mchid: &'static str,
    pub skew_s: i64,
    /// Put before the path that is signed (not the one called).
    pub signed_prefix: &'static str,
    /// Signed instead of the body sent.
    pub signed_body: Option<&'static str>,
    /// No `Authorization` at all.
    pub unsigned: bool,
}

impl Signing {
    pub fn linli() -> Self {
        Self {
            key: MERCHANT_KEY,
            serial: MCH_SERIAL,
            mchid: MCH_ID,
            skew_s: 0,
            signed_prefix: "",
            signed_body: None,
            unsigned: false,
        }
    }
}

/// Checks `Wechatpay-*` headers over `body` with the platform's public key.
pub fn verify(headers: &HeaderMap, body: &[u8]) -> Result<(), V3Error> {
    let header = |name: &str| headers.get(name).map_or("", |v| v.to_str().unwrap());
    let platform = Platform::new(PLATFORM_SERIAL, PLATFORM_PUB).unwrap();
    let signed = SignedHeaders {
        serial: header("wechatpay-serial"),
        timestamp: header("wechatpay-timestamp"),
        nonce: header("wechatpay-nonce"),
        signature: header("wechatpay-signature"),
    };
    platform.verify(&signed, body, now_s())
}

pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }

    /// The error code of a refusal, after checking the answer is signed.
    pub fn code(&self) -> (u16, String) {
        let verified = verify(&self.headers, self.body.as_bytes());
        assert_eq!(verified, Ok(()), "{:?} {}", self.headers, self.body);
        (
            self.status,
            self.json()["code"].as_str().unwrap().to_owned(),
        )
    }
}

/// A notify the receiver got.
#[derive(Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    /// The notify's envelope and decrypted resource, once its signature verifies.
    pub fn open(&self) -> Result<(Value, Value), V3Error> {
        verify(&self.headers, &self.body)?;
        let notify = Notify::parse(&self.body)?;
        let plain = notify.open(&ApiV3Key::new(V3_KEY.as_bytes())?)?;
        let envelope = serde_json::from_slice(&self.body).unwrap();
        Ok((envelope, serde_json::from_str(&plain).unwrap()))
    }
}

pub fn jsapi_body(out_trade_no: &str, total: i64, openid: &str) -> Value {
    json!({
        "appid": "wxlocalmini000001", "mchid": MCH_ID, "description": "邻里-龙井 250g",
        "out_trade_no": out_trade_no, "time_expire": "2026-11-25T10:30:00+08:00",
        "notify_url": NOTIFY_URL, "amount": {"total": total, "currency": "CNY"},
        "payer": {"openid": openid},
    })
}

/// The stand-in on a loopback port; notifies to `/wechat/pay/v3/notify` are answered 204.
pub struct Stand {
    base: String,
    http: reqwest::Client,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Stand {
    pub async fn serve() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let receiver = post(move |headers: HeaderMap, body: Bytes| async move {
            let body = body.to_vec();
            sink.lock().unwrap().push(Received { headers, body });
            StatusCode::NO_CONTENT
        });
        let callbacks = Callbacks::new(base.clone());
        let router = mount(&WechatPay, Arc::default(), callbacks, Arc::new(settings()))
            .merge(Router::new().route("/wechat/pay/v3/notify", receiver));
        tokio::spawn(async move { axum::serve(listener, router).await });
        let http = reqwest::Client::new();
        Self {
            base,
            http,
            received,
        }
    }

    /// A v3 call signed as Linli signs it.
    pub async fn call(&self, method: &str, target: &str, body: &str) -> Answer {
        self.call_as(Signing::linli(), method, target, body).await
    }

    pub async fn call_as(&self, s: Signing, method: &str, target: &str, body: &str) -> Answer {
        let timestamp = (now_s() + s.skew_s).to_string();
        let nonce = format!("n{}", fastrand::u64(..));
        let signed_path = format!("{}{target}", s.signed_prefix);
        let request = RequestToSign {
            method,
            url_path: &signed_path,
            timestamp: &timestamp,
            nonce: &nonce,
            body: s.signed_body.unwrap_or(body),
        };
        let signer = RsaSigner::new(s.key).unwrap();
        let authorization = signer.authorization(s.mchid, s.serial, &request);
        let url = format!("{}/_local/wechatpay{target}", self.base);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, url);
        if !s.unsigned {
            request = request.header("Authorization", authorization);
        }
        let response = request
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let body = response.text().await.unwrap();
        Answer {
            status,
            headers,
            body,
        }
    }

    /// Creates a JSAPI order of `total` fen; its `prepay_id`.
    pub async fn create(&self, out_trade_no: &str, total: i64) -> String {
        let body = jsapi_body(out_trade_no, total, "o-alice").to_string();
        let answer = self.call("POST", "/v3/pay/transactions/jsapi", &body).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.json()["prepay_id"].as_str().unwrap().to_owned()
    }

    /// A test control (`path` under the stand-in): its answer.
    pub async fn control(&self, path: &str, control: Value) -> Value {
        let url = format!("{}/_local/wechatpay{path}", self.base);
        let response = self.http.post(url).json(&control).send().await.unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// The member pays `out_trade_no` (the pay control); the control's answer.
    pub async fn pay(&self, out_trade_no: &str, control: Value) -> Value {
        self.control(&format!("/pay/{out_trade_no}"), control).await
    }

    /// The notifies received so far, once there are at least `count` (bounded wait).
    pub async fn notifies(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            let received = self.received.lock().unwrap().clone();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("fewer than {count} notifies within 2 s");
    }
}
