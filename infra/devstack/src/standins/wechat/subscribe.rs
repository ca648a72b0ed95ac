//! Subscribe messages: `cgi-bin/message/subscribe/send` checked as WeChat checks it, the
//! messages kept for tests to read, and users who refuse them.

use super::{error, slot_valid, WechatState};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::PoisonError;

/// Messages accepted, by touser, and the users who refuse them.
#[derive(Default)]
pub(super) struct Messages {
    sent: BTreeMap<String, Vec<Value>>,
    refusing: BTreeSet<String>,
}

/// WeChat's answer to a send `request` (before consent), or None when it is well-formed.
pub(super) fn check(request: &Value) -> Option<Value> {
    let text = |k: &str| request.get(k).and_then(Value::as_str).unwrap_or_default();
    if text("touser").is_empty() {
        return Some(json!({ "errcode": 40003, "errmsg": "invalid openid" }));
    }
    if text("template_id").is_empty() {
        return Some(json!({ "errcode": 40037, "errmsg": "invalid template_id" }));
    }
    let data_ok = request
        .get("data")
        .and_then(Value::as_object)
        .is_some_and(|d| {
            !d.is_empty()
                && d.values().all(|v| {
                    v.get("value")
                        .and_then(Value::as_str)
                        .is_some_and(|t| !t.is_empty() && t.chars().count() <= 32)
                })
        });
    if !data_ok {
        return Some(json!({ "errcode": 47003, "errmsg": "argument invalid! data.value invalid" }));
    }
    None
}

pub(super) async fn send(
    State(state): State<WechatState>,
    Query(query): Query<BTreeMap<String, String>>,
    body: axum::body::Bytes,
) -> Json<Value> {
    if !slot_valid(
        &state,
        &state.accounts.mini_token,
        query.get("access_token"),
    ) {
        return error(
            40001,
            "invalid credential, access_token is invalid or not latest",
        );
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    if let Some(refused) = check(&request) {
        return Json(refused);
    }
    let touser = request["touser"].as_str().unwrap_or_default().to_owned();
    let mut messages = state
        .accounts
        .messages
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if messages.refusing.contains(&touser) {
        return error(43101, "user refuse to accept the msg");
    }
    let mut kept = request.clone();
    kept["sent_at_ms"] = json!(state.kit.clock.now_ms());
    messages.sent.entry(touser).or_default().push(kept);
    tracing::info!(stand_in = "wechat", template = %request["template_id"], "subscribe message sent");
    Json(json!({ "errcode": 0, "errmsg": "ok" }))
}

pub(super) async fn refuse(
    State(state): State<WechatState>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let Some(openid) = body
        .get("openid")
        .and_then(Value::as_str)
        .filter(|o| !o.is_empty())
    else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "openid is required" })),
        );
    };
    let mut messages = state
        .accounts
        .messages
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    messages.refusing.insert(openid.to_owned());
    (StatusCode::NO_CONTENT, Json(Value::Null))
}

pub(super) async fn sent(
    State(state): State<WechatState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Json<Value> {
    let touser = query.get("touser").cloned().unwrap_or_default();
    let messages = state
        .accounts
        .messages
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let list = messages.sent.get(&touser).cloned().unwrap_or_default();
    Json(json!({ "messages": list }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_sends_get_wechats_error_codes() {
        let ok = json!({"touser": "o-1", "template_id": "T", "data": {"number1": {"value": "30"}}});
        assert_eq!(check(&ok), None);
        let code = |v: Value| check(&v).map(|a| a["errcode"].as_i64().unwrap());
        assert_eq!(code(json!({"template_id": "T"})), Some(40003));
        assert_eq!(code(json!({"touser": "o-1", "data": {}})), Some(40037));
        assert_eq!(
            code(json!({"touser": "o-1", "template_id": "T", "data": {}})),
            Some(47003)
        );
        assert_eq!(
            code(json!({"touser": "o-1", "template_id": "T", "data": {"k": {"value": 3}}})),
            Some(47003)
        );
    }
}
