//! Mini-program subscribe messages (`cgi-bin/message/subscribe/send`): one message per consent
//! the member gave in `wx.requestSubscribeMessage`. The answer is read by a pure function; the
//! call is thin. WeChat refuses a send without consent with errcode 43101.

use super::oa_api::OaApiError;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::time::Duration;

/// WeChat's "user refuse to accept the msg": no consent left for that template.
pub const NO_CONSENT: i64 = 43101;

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
pub fn read_answer(body: &[u8]) -> Result<(), OaApiError> {
    let answer: Value =
        serde_json::from_slice(body).map_err(|e| OaApiError::Unreadable(e.to_string()))?;
    match answer.get("errcode").and_then(Value::as_i64).unwrap_or(0) {
        0 => Ok(()),
        code => Err(OaApiError::Refused {
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
) -> Result<(), OaApiError> {
    let url = format!(
        "{}/cgi-bin/message/subscribe/send",
        base.trim_end_matches('/')
    );
    let sent = http
        .post(url)
        .query(&[("access_token", token)])
        .json(&message.body())
        .timeout(Duration::from_secs(3))
        .send()
        .await;
    read_answer(&super::oa_api::body(sent).await?)
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
            Err(OaApiError::Refused {
                code: NO_CONSENT,
                message: "user refuse to accept the msg".into()
            })
        );
        assert!(matches!(
            read_answer(b"<html>"),
            Err(OaApiError::Unreadable(_))
        ));
    }
}
