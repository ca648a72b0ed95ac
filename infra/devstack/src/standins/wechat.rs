//! `wechat`: WeChat's server API as Linli uses it, checked as WeChat would check it.
//! - `GET /_local/wechat/sns/jscode2session?appid&secret&js_code&grant_type=authorization_code`:
//!   the app id and secret must be the local settings' `WECHAT_MINI_APP_ID` /
//!   `WECHAT_MINI_APP_SECRET`; test codes are `test:<openid>` or `test:<openid>:<unionid>`;
//!   anything else is WeChat's `40029 invalid code`.
//!
//! - `POST /_local/wechat/cgi-bin/stable_token` `{grant_type: client_credential, appid, secret,
//!   force_refresh?}`: the Official Account's (`WECHAT_OA_APP_ID` / `WECHAT_OA_APP_SECRET`) access
//!   token, the same one for every caller until it expires (2 h, devstack clock) or is forced;
//! - `GET /_local/wechat/cgi-bin/user/info?access_token&openid`: a follower; its `unionid` is the
//!   one registered for that OpenID (test control below), none otherwise; a wrong or expired token
//!   is WeChat's `40001`;
//! - `POST /_local/wechat/cgi-bin/qrcode/create?access_token` `{expire_seconds, action_name:
//!   QR_STR_SCENE, action_info: {scene: {scene_str}}}`: a temporary code (≤ 30 days, scene ≤ 64
//!   characters) → `{ticket, expire_seconds, url}`; the ticket carries the scene in base64url;
//! - `POST /_local/wechat/cgi-bin/message/subscribe/send?access_token` `{touser, template_id,
//!   page?, data: {key: {value}}}`: needs the mini-program's token (`stable_token` with
//!   `WECHAT_MINI_APP_ID` / `WECHAT_MINI_APP_SECRET`); a missing touser is `40003`, a missing
//!   template `40037`, data that is not `{key: {value: text}}` `47003`, and a touser registered
//!   as refusing `43101` (user refuse to accept the msg); accepted messages are kept;
//! - test control: `POST /_local/wechat/followers` `{"openid": …, "unionid": …}` registers the
//!   UnionID WeChat would report for an Official Account OpenID; `POST /_local/wechat/refusals`
//!   `{"openid": …}` makes WeChat refuse that user's subscribe messages; `GET
//!   /_local/wechat/subscribe-messages?touser=` lists the messages sent to that user, oldest first.

use super::{Kit, StandIn};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

/// How long an access token lives (WeChat: 7200 s).
const TOKEN_MS: i64 = 7_200_000;

pub struct Wechat;

/// The stand-in's memory: the current access tokens (Official Account, mini-program), the
/// followers' UnionIDs, and the subscribe messages.
#[derive(Clone, Default)]
struct Accounts {
    token: Arc<Mutex<Option<(String, i64)>>>,
    mini_token: Arc<Mutex<Option<(String, i64)>>>,
    unionids: Arc<Mutex<BTreeMap<String, String>>>,
    messages: Arc<Mutex<subscribe::Messages>>,
}

mod subscribe;

#[derive(Clone)]
struct WechatState {
    kit: Kit,
    accounts: Accounts,
}

impl StandIn for Wechat {
    fn name(&self) -> &'static str {
        "wechat"
    }

    fn routes(&self, kit: Kit) -> Router {
        let state = WechatState {
            kit,
            accounts: Accounts::default(),
        };
        Router::new()
            .route("/sns/jscode2session", get(code_to_session))
            .route("/cgi-bin/stable_token", post(stable_token))
            .route("/cgi-bin/user/info", get(user_info))
            .route("/cgi-bin/qrcode/create", post(create_qr))
            .route("/followers", post(register_follower))
            .route("/cgi-bin/message/subscribe/send", post(subscribe::send))
            .route("/refusals", post(subscribe::refuse))
            .route("/subscribe-messages", get(subscribe::sent))
            .with_state(state)
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
    State(state): State<WechatState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Json<Value> {
    let answer = answer(&state.kit.settings, &query);
    if answer.get("errcode").is_some() {
        tracing::info!(stand_in = "wechat", answer = %answer, "code2Session refused");
        return error(
            answer["errcode"].as_i64().unwrap_or(-1),
            answer["errmsg"].as_str().unwrap_or_default(),
        );
    }
    Json(answer)
}

/// The token for `request`, or WeChat's refusal: the app id must be the OA's or the
/// mini-program's, and the secret that app's.
fn token_answer(
    settings: &BTreeMap<String, String>,
    request: &Value,
    current: &mut Option<(String, i64)>,
    now_ms: i64,
) -> Value {
    let given = |k: &str| request.get(k).and_then(Value::as_str).unwrap_or_default();
    let setting = |k: &str| settings.get(k).map(String::as_str);
    if given("grant_type") != "client_credential" {
        return json!({ "errcode": 40002, "errmsg": "invalid grant_type" });
    }
    let secret = match given("appid") {
        a if setting("WECHAT_OA_APP_ID") == Some(a) => "WECHAT_OA_APP_SECRET",
        a if setting("WECHAT_MINI_APP_ID") == Some(a) => "WECHAT_MINI_APP_SECRET",
        _ => return json!({ "errcode": 40013, "errmsg": "invalid appid" }),
    };
    if setting(secret) != Some(given("secret")) {
        return json!({ "errcode": 40125, "errmsg": "invalid appsecret" });
    }
    let forced = request.get("force_refresh").and_then(Value::as_bool) == Some(true);
    let (token, expires_at) = match current.take() {
        Some((token, expires_at)) if !forced && expires_at > now_ms => (token, expires_at),
        _ => (
            format!("local-oa-token-{:016x}", fastrand::u64(..)),
            now_ms + TOKEN_MS,
        ),
    };
    *current = Some((token.clone(), expires_at));
    json!({ "access_token": token, "expires_in": (expires_at - now_ms) / 1000 })
}

async fn stable_token(State(state): State<WechatState>, body: axum::body::Bytes) -> Json<Value> {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mini = state
        .kit
        .settings
        .get("WECHAT_MINI_APP_ID")
        .map(String::as_str)
        == request.get("appid").and_then(Value::as_str);
    let slot = if mini {
        &state.accounts.mini_token
    } else {
        &state.accounts.token
    };
    let mut current = slot.lock().unwrap_or_else(PoisonError::into_inner);
    let answer = token_answer(
        &state.kit.settings,
        &request,
        &mut current,
        state.kit.clock.now_ms(),
    );
    tracing::info!(
        stand_in = "wechat",
        ok = answer.get("errcode").is_none(),
        "stable_token"
    );
    Json(answer)
}

/// Whether `token` is the Official Account's current access token.
fn token_valid(state: &WechatState, token: Option<&String>) -> bool {
    slot_valid(state, &state.accounts.token, token)
}

/// Whether `token` is the access token in `slot` at the devstack's now.
fn slot_valid(
    state: &WechatState,
    slot: &Mutex<Option<(String, i64)>>,
    token: Option<&String>,
) -> bool {
    let current = slot.lock().unwrap_or_else(PoisonError::into_inner);
    matches!(&*current, Some((valid, expires_at))
        if Some(valid) == token && *expires_at > state.kit.clock.now_ms())
}

/// The answer to a QR code request (temporary string scenes only: what Linli asks for).
fn qr_answer(request: &Value) -> Value {
    let expire = request
        .get("expire_seconds")
        .and_then(Value::as_i64)
        .unwrap_or(60);
    let scene = request
        .pointer("/action_info/scene/scene_str")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if request.get("action_name").and_then(Value::as_str) != Some("QR_STR_SCENE") {
        return json!({ "errcode": 40097, "errmsg": "invalid args: action_name" });
    }
    if scene.is_empty() || scene.len() > 64 {
        return json!({ "errcode": 40097, "errmsg": "invalid args: scene_str must be 1 to 64 characters" });
    }
    let expire = expire.clamp(60, 2_592_000);
    let ticket =
        base64::engine::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, scene);
    json!({ "ticket": ticket, "expire_seconds": expire, "url": format!("http://weixin.qq.com/q/{ticket}") })
}

async fn create_qr(
    State(state): State<WechatState>,
    Query(query): Query<BTreeMap<String, String>>,
    body: axum::body::Bytes,
) -> Json<Value> {
    if !token_valid(&state, query.get("access_token")) {
        return error(
            40001,
            "invalid credential, access_token is invalid or not latest",
        );
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    Json(qr_answer(&request))
}

async fn user_info(
    State(state): State<WechatState>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Json<Value> {
    if !token_valid(&state, query.get("access_token")) {
        return error(
            40001,
            "invalid credential, access_token is invalid or not latest",
        );
    }
    let Some(openid) = query.get("openid").filter(|o| !o.is_empty()) else {
        return error(40003, "invalid openid");
    };
    let unionid = state
        .accounts
        .unionids
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(openid)
        .cloned();
    let mut answer = json!({ "subscribe": 1, "openid": openid, "language": "zh_CN" });
    if let Some(unionid) = unionid {
        answer["unionid"] = json!(unionid);
    }
    Json(answer)
}

async fn register_follower(
    State(state): State<WechatState>,
    Json(follower): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let field = |k: &str| {
        follower
            .get(k)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    };
    let (Some(openid), Some(unionid)) = (field("openid"), field("unionid")) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "openid and unionid are required" })),
        );
    };
    state
        .accounts
        .unionids
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(openid.to_owned(), unionid.to_owned());
    (StatusCode::NO_CONTENT, Json(Value::Null))
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

    #[test]
    fn the_stable_token_is_shared_until_it_expires_or_is_forced() {
        let settings = BTreeMap::from([
            ("WECHAT_OA_APP_ID".to_owned(), "wxoa".to_owned()),
            ("WECHAT_OA_APP_SECRET".to_owned(), "oa-secret".to_owned()),
        ]);
        let request =
            json!({"grant_type": "client_credential", "appid": "wxoa", "secret": "oa-secret"});
        let mut current = None;
        let first = token_answer(&settings, &request, &mut current, 0);
        let again = token_answer(&settings, &request, &mut current, 1_000);
        assert_eq!(first["access_token"], again["access_token"]);
        assert_eq!(again["expires_in"], 7_199);
        let later = token_answer(&settings, &request, &mut current, TOKEN_MS);
        assert_ne!(
            later["access_token"], first["access_token"],
            "expired: a new one"
        );
        let mut forced = request.clone();
        forced["force_refresh"] = json!(true);
        assert_ne!(
            token_answer(&settings, &forced, &mut current, TOKEN_MS + 1)["access_token"],
            later["access_token"]
        );
        let mut wrong = request.clone();
        wrong["secret"] = json!("nope");
        assert_eq!(
            token_answer(&settings, &wrong, &mut current, 0)["errcode"],
            40125
        );
    }

    #[test]
    fn temporary_string_scene_codes_carry_their_scene() {
        let ok = qr_answer(&json!({
            "expire_seconds": 9_999_999, "action_name": "QR_STR_SCENE",
            "action_info": {"scene": {"scene_str": "i_01KAV2Z0X00000000000000001"}}
        }));
        assert_eq!(ok["expire_seconds"], 2_592_000, "at most 30 days");
        assert!(ok["url"]
            .as_str()
            .unwrap()
            .ends_with(ok["ticket"].as_str().unwrap()));
        let bad = qr_answer(
            &json!({"action_name": "QR_LIMIT_SCENE", "action_info": {"scene": {"scene_id": 1}}}),
        );
        assert_eq!(bad["errcode"], 40097);
        let long = qr_answer(
            &json!({"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": "x".repeat(65)}}}),
        );
        assert_eq!(long["errcode"], 40097);
    }
}
