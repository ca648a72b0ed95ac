//! `wechat`: WeChat's server API as Linli uses it, checked as WeChat would check it.
//! - `GET /_local/wechat/sns/jscode2session?appid&secret&js_code&grant_type=authorization_code`:
//!   the app id and secret must be the local settings' `WECHAT_MINI_APP_ID` /
//!   `WECHAT_MINI_APP_SECRET`; test codes are `test:<openid>` or `test:<openid>:<unionid>`;
//!   anything else is WeChat's `40029 invalid code`.
//!
//! Access tokens, user info, QR codes and subscribe messages join with the issues that use them.

use super::{Kit, StandIn};
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub struct Wechat;

impl StandIn for Wechat {
    fn name(&self) -> &'static str {
        "wechat"
    }

    fn routes(&self, kit: Kit) -> Router {
        Router::new()
            .route("/sns/jscode2session", get(code_to_session))
            .with_state(kit)
    }
}

fn error(code: i64, message: &str) -> Json<Value> {
    Json(json!({ "errcode": code, "errmsg": message }))
}

/// The answer for a login code, given the app's settings.
pub fn answer(settings: &BTreeMap<String, String>, query: &BTreeMap<String, String>) -> Value {
    let given = |k: &str| query.get(k).map(String::as_str).unwrap_or_default();
    let setting = |k: &str| settings.get(k).map(String::as_str);
    if setting("WECHAT_MINI_APP_ID") != Some(given("appid")) {
        return json!({ "errcode": 40013, "errmsg": "invalid appid" });
    }
    if setting("WECHAT_MINI_APP_SECRET") != Some(given("secret")) {
        return json!({ "errcode": 40125, "errmsg": "invalid appsecret" });
    }
    if given("grant_type") != "authorization_code" {
        return json!({ "errcode": 40002, "errmsg": "invalid grant_type" });
    }
    let parts: Vec<&str> = given("js_code").split(':').collect();
    match parts.as_slice() {
        ["test", openid] if !openid.is_empty() => {
            json!({ "openid": openid, "session_key": "local-session-key" })
        }
        ["test", openid, unionid] if !openid.is_empty() && !unionid.is_empty() => {
            json!({ "openid": openid, "session_key": "local-session-key", "unionid": unionid })
        }
        _ => json!({ "errcode": 40029, "errmsg": "invalid code" }),
    }
}

async fn code_to_session(
    State(kit): State<Kit>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Json<Value> {
    let answer = answer(&kit.settings, &query);
    if answer.get("errcode").is_some() {
        tracing::info!(stand_in = "wechat", answer = %answer, "code2Session refused");
        return error(
            answer["errcode"].as_i64().unwrap_or(-1),
            answer["errmsg"].as_str().unwrap_or_default(),
        );
    }
    Json(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BTreeMap<String, String> {
        BTreeMap::from([
            ("WECHAT_MINI_APP_ID".to_owned(), "wxmini".to_owned()),
            ("WECHAT_MINI_APP_SECRET".to_owned(), "s3cret".to_owned()),
        ])
    }

    fn query(appid: &str, secret: &str, code: &str) -> BTreeMap<String, String> {
        [
            ("appid", appid),
            ("secret", secret),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    #[test]
    fn test_codes_log_in_and_wrong_credentials_do_not() {
        let s = settings();
        assert_eq!(
            answer(&s, &query("wxmini", "s3cret", "test:alice"))["openid"],
            "alice"
        );
        let both = answer(&s, &query("wxmini", "s3cret", "test:alice:u-alice"));
        assert_eq!(
            (both["openid"].as_str(), both["unionid"].as_str()),
            (Some("alice"), Some("u-alice"))
        );
        assert_eq!(
            answer(&s, &query("wxother", "s3cret", "test:alice"))["errcode"],
            40013
        );
        assert_eq!(
            answer(&s, &query("wxmini", "nope", "test:alice"))["errcode"],
            40125
        );
        assert_eq!(
            answer(&s, &query("wxmini", "s3cret", "real-code"))["errcode"],
            40029
        );
        assert_eq!(
            answer(&s, &query("wxmini", "s3cret", "test:"))["errcode"],
            40029
        );
    }
}
