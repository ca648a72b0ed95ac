//! Mini-program subscribe messages (`cgi-bin/message/subscribe/send`): one message per consent
//! the member gave in `wx.requestSubscribeMessage`. The answer is read by a pure function; the
//! call is thin. WeChat refuses a send without consent with errcode 43101.

use crate::time::BusinessTime;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

/// WeChat's "user refuse to accept the msg": no consent left for that template.
pub const NO_CONSENT: i64 = 43101;
/// Codes that say WeChat did not take the message for a passing reason: system busy, rate
/// limited, access token invalid or expired.
const PASSING: [i64; 5] = [-1, 45009, 40001, 40014, 42001];

/// Why a send did not go through.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The message never reached WeChat (no connection, no access token): safe to send again.
    #[error("not sent: {0}")]
    NotSent(String),
    /// WeChat's answer is unknown (timeout, HTTP error, unreadable answer): it may have been
    /// delivered, so it is not sent again.
    #[error("answer unknown: {0}")]
    Unknown(String),
    /// WeChat answered with an error code.
    #[error("refused: errcode {code} {message}")]
    Refused { code: i64, message: String },
}

impl SendError {
    /// WeChat certainly did not deliver it, and a later try may succeed.
    pub fn worth_retrying(&self) -> bool {
        match self {
            Self::NotSent(_) => true,
            Self::Unknown(_) => false,
            Self::Refused { code, .. } => PASSING.contains(code),
        }
    }

    /// The access token was refused: fetch a new one before the next send.
    pub fn token_refused(&self) -> bool {
        matches!(
            self,
            Self::Refused {
                code: 40001 | 40014 | 42001,
                ..
            }
        )
    }
}

/// One subscribe message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscribeMessage {
    /// The member's mini-program OpenID.
    pub touser: String,
    pub template_id: String,
    /// The mini-program page the message opens.
    pub page: String,
    /// Template keys (`thing1`, `number2`, `date3`, …) and their values.
    pub data: BTreeMap<String, String>,
}

impl SubscribeMessage {
    /// The request body WeChat expects.
    pub fn body(&self) -> Value {
        let data: serde_json::Map<String, Value> = self
            .data
            .iter()
            .map(|(k, v)| (k.clone(), json!({ "value": v })))
            .collect();
        json!({
            "touser": self.touser, "template_id": self.template_id, "page": self.page,
            "miniprogram_state": "formal", "lang": "zh_CN", "data": data,
        })
    }
}

/// Reads WeChat's answer: errcode 0 is sent; anything else is refused with its code.
pub fn read_answer(body: &[u8]) -> Result<(), SendError> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|e| SendError::Unknown(e.to_string()))?;
    match answer.get("errcode").and_then(Value::as_i64).unwrap_or(0) {
        0 => Ok(()),
        code => Err(SendError::Refused {
            code,
            message: answer
                .get("errmsg")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .chars()
                .take(200)
                .collect(),
        }),
    }
}

/// `POST cgi-bin/message/subscribe/send?access_token=…` (the mini-program's token).
pub async fn send(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    message: &SubscribeMessage,
) -> Result<(), SendError> {
    let url = format!(
        "{}/cgi-bin/message/subscribe/send",
        base.trim_end_matches('/')
    );
    let response = http
        .post(url)
        .query(&[("access_token", token)])
        .json(&message.body())
        .timeout(Duration::from_secs(3))
        .send()
        .await
        .map_err(|e| match e.is_connect() {
            true => SendError::NotSent(e.to_string()),
            false => SendError::Unknown(e.to_string()),
        })?;
    if !response.status().is_success() {
        return Err(SendError::Unknown(format!("HTTP {}", response.status())));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| SendError::Unknown(e.to_string()))?;
    read_answer(&bytes)
}

/// Sends a subscribe message (the mini-program's token and WeChat's API, or a test double).
pub trait Messenger: Sync {
    fn send(
        &self,
        message: &SubscribeMessage,
        now: BusinessTime,
    ) -> impl Future<Output = Result<(), SendError>> + Send;
}

/// WeChat's `subscribe/send` with the mini-program's access token (cached per container).
pub struct WechatMessenger {
    pub http: reqwest::Client,
    pub base: String,
    pub appid: String,
    pub secret: String,
    pub tokens: crate::wechat::oa_token::TokenCache,
}

impl WechatMessenger {
    /// From `WECHAT_MINI_APP_ID`, `WECHAT_MINI_APP_SECRET` and `WECHAT_API_BASE` (default
    /// WeChat's).
    pub fn from_source(
        source: &impl crate::config::Source,
    ) -> Result<Self, crate::config::ConfigError> {
        use crate::config::{optional, required};
        Ok(Self {
            http: reqwest::Client::new(),
            base: optional(source, "WECHAT_API_BASE")
                .unwrap_or_else(|| "https://api.weixin.qq.com".to_owned()),
            appid: required(source, "WECHAT_MINI_APP_ID")?,
            secret: required(source, "WECHAT_MINI_APP_SECRET")?,
            tokens: Default::default(),
        })
    }
}

impl Messenger for WechatMessenger {
    async fn send(&self, message: &SubscribeMessage, now: BusinessTime) -> Result<(), SendError> {
        let token = self
            .tokens
            .get(&self.http, &self.base, &self.appid, &self.secret, now)
            .await
            .map_err(|e| SendError::NotSent(format!("no access token: {e}")))?;
        let sent = send(&self.http, &self.base, &token, message).await;
        if sent.as_ref().is_err_and(SendError::token_refused) {
            self.tokens.forget();
        }
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_wraps_each_value_and_answers_are_read() {
        let message = SubscribeMessage {
            touser: "o-1".into(),
            template_id: "T-EXPIRING".into(),
            page: "pages/points/index".into(),
            data: BTreeMap::from([("number1".to_owned(), "30".to_owned())]),
        };
        let body = message.body();
        assert_eq!(body["data"]["number1"]["value"], "30");
        assert_eq!(body["touser"], "o-1");
        assert_eq!(read_answer(br#"{"errcode":0,"errmsg":"ok"}"#), Ok(()));
        assert_eq!(
            read_answer(br#"{"errcode":43101,"errmsg":"user refuse to accept the msg"}"#),
            Err(SendError::Refused {
                code: NO_CONSENT,
                message: "user refuse to accept the msg".into()
            })
        );
        assert!(matches!(read_answer(b"<html>"), Err(SendError::Unknown(_))));
        let busy = read_answer(br#"{"errcode":-1,"errmsg":"system error"}"#).unwrap_err();
        assert!(busy.worth_retrying() && !busy.token_refused());
        let expired = read_answer(br#"{"errcode":42001,"errmsg":"access_token expired"}"#);
        assert!(expired.as_ref().unwrap_err().token_refused());
        let template = read_answer(br#"{"errcode":40037,"errmsg":"invalid template_id"}"#);
        assert!(!template.unwrap_err().worth_retrying());
        assert!(!SendError::Unknown("timeout".into()).worth_retrying());
    }
}
