//! The Official Account's server API as Linli uses it: the access token (`cgi-bin/stable_token`,
//! which hands every caller the same token instead of invalidating the previous one — many Lambda
//! containers fetch it independently) and a follower's UnionID (`cgi-bin/user/info`, DESIGN §3:
//! OA pushes carry only the OpenID). Answers are read by pure functions; the calls are thin.

use crate::ids::UnionId;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OaApiError {
    #[error("WeChat API unavailable: {0}")]
    Unavailable(String),
    #[error("WeChat API refused: errcode {code} {message}")]
    Refused { code: i64, message: String },
    #[error("WeChat API answer unreadable: {0}")]
    Unreadable(String),
}

/// An access token and how long it stays valid.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken {
    pub token: String,
    pub expires_in_s: i64,
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AccessToken(***, {} s)", self.expires_in_s)
    }
}

/// What `user/info` says about a follower.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Follower {
    pub subscribed: bool,
    pub unionid: Option<UnionId>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    access_token: Option<String>,
    expires_in: Option<i64>,
    subscribe: Option<i64>,
    unionid: Option<String>,
}

fn read(body: &[u8]) -> Result<Answer, OaApiError> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| OaApiError::Unreadable(e.to_string()))?;
    if answer.errcode != 0 {
        return Err(OaApiError::Refused {
            code: answer.errcode,
            message: answer.errmsg.chars().take(200).collect(),
        });
    }
    Ok(answer)
}

pub fn read_token(body: &[u8]) -> Result<AccessToken, OaApiError> {
    let answer = read(body)?;
    match (answer.access_token, answer.expires_in) {
        (Some(token), Some(expires_in_s)) if !token.is_empty() && expires_in_s > 0 => {
            Ok(AccessToken {
                token,
                expires_in_s,
            })
        }
        _ => Err(OaApiError::Unreadable("no access_token".into())),
    }
}

pub fn read_follower(body: &[u8]) -> Result<Follower, OaApiError> {
    let answer = read(body)?;
    let unionid = answer
        .unionid
        .filter(|u| !u.is_empty())
        .map(|u| UnionId::parse(&u))
        .transpose()
        .map_err(|e| OaApiError::Unreadable(e.to_string()))?;
    Ok(Follower {
        subscribed: answer.subscribe == Some(1),
        unionid,
    })
}

/// A temporary QR code (`QR_STR_SCENE`): scanning it and following sends `qrscene_<scene>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QrCode {
    pub ticket: String,
    /// What the code encodes (a `weixin.qq.com/q/…` URL).
    pub url: String,
    pub expires_in_s: i64,
}

/// Temporary codes live at most 30 days (permanent ones are capped at 100,000 per account).
pub const QR_MAX_EXPIRE_S: i64 = 30 * 24 * 60 * 60;

#[derive(Deserialize)]
struct QrAnswer {
    #[serde(default)]
    errcode: i64,
    #[serde(default)]
    errmsg: String,
    ticket: Option<String>,
    url: Option<String>,
    expire_seconds: Option<i64>,
}

pub fn read_qr(body: &[u8]) -> Result<QrCode, OaApiError> {
    let answer: QrAnswer =
        serde_json::from_slice(body).map_err(|e| OaApiError::Unreadable(e.to_string()))?;
    if answer.errcode != 0 {
        return Err(OaApiError::Refused {
            code: answer.errcode,
            message: answer.errmsg.chars().take(200).collect(),
        });
    }
    match (answer.ticket, answer.url, answer.expire_seconds) {
        (Some(ticket), Some(url), Some(expires_in_s)) if !ticket.is_empty() && expires_in_s > 0 => {
            Ok(QrCode {
                ticket,
                url,
                expires_in_s,
            })
        }
        _ => Err(OaApiError::Unreadable("no ticket".into())),
    }
}

/// `POST cgi-bin/qrcode/create`: a temporary string-scene code valid `expire_s` seconds.
pub async fn create_qr(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    scene: &str,
    expire_s: i64,
) -> Result<QrCode, OaApiError> {
    let url = format!("{}/cgi-bin/qrcode/create", base.trim_end_matches('/'));
    let request = serde_json::json!({
        "expire_seconds": expire_s.clamp(60, QR_MAX_EXPIRE_S),
        "action_name": "QR_STR_SCENE",
        "action_info": { "scene": { "scene_str": scene } },
    });
    let sent = http
        .post(url)
        .query(&[("access_token", token)])
        .json(&request)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    read_qr(&body(sent).await?)
}

async fn body(response: Result<reqwest::Response, reqwest::Error>) -> Result<Vec<u8>, OaApiError> {
    let response = response.map_err(|e| OaApiError::Unavailable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(OaApiError::Unavailable(format!(
            "HTTP {}",
            response.status()
        )));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| OaApiError::Unavailable(e.to_string()))?;
    Ok(bytes.to_vec())
}

/// `POST cgi-bin/stable_token` (client_credential, not forced).
pub async fn stable_token(
    http: &reqwest::Client,
    base: &str,
    appid: &str,
    secret: &str,
) -> Result<AccessToken, OaApiError> {
    let url = format!("{}/cgi-bin/stable_token", base.trim_end_matches('/'));
    let request = serde_json::json!({
        "grant_type": "client_credential", "appid": appid, "secret": secret, "force_refresh": false
    });
    let sent = http
        .post(url)
        .json(&request)
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    read_token(&body(sent).await?)
}

/// `GET cgi-bin/user/info` for one follower.
pub async fn user_info(
    http: &reqwest::Client,
    base: &str,
    token: &str,
    openid: &str,
) -> Result<Follower, OaApiError> {
    let url = format!("{}/cgi-bin/user/info", base.trim_end_matches('/'));
    let sent = http
        .get(url)
        .query(&[
            ("access_token", token),
            ("openid", openid),
            ("lang", "zh_CN"),
        ])
        .timeout(Duration::from_secs(2))
        .send()
        .await;
    read_follower(&body(sent).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_followers_and_refusals_are_read() {
        let token = read_token(br#"{"access_token":"T","expires_in":7200}"#).unwrap();
        assert_eq!((token.token.as_str(), token.expires_in_s), ("T", 7200));
        assert_eq!(format!("{token:?}"), "AccessToken(***, 7200 s)");
        assert_eq!(
            read_token(br#"{"errcode":40013,"errmsg":"invalid appid"}"#),
            Err(OaApiError::Refused {
                code: 40013,
                message: "invalid appid".into()
            })
        );
        let follower = read_follower(br#"{"subscribe":1,"openid":"o1","unionid":"u-1"}"#).unwrap();
        assert_eq!(follower.unionid.map(|u| u.to_string()), Some("u-1".into()));
        assert!(follower.subscribed);
        let bare = read_follower(br#"{"subscribe":0,"openid":"o1"}"#).unwrap();
        assert_eq!((bare.subscribed, bare.unionid), (false, None));
        assert!(matches!(
            read_follower(b"<html>"),
            Err(OaApiError::Unreadable(_))
        ));
    }
}
