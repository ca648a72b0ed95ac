//! Mini-program login: `code2Session` (`GET {WECHAT_API_BASE}/sns/jscode2session`). The answer's
//! parsing is pure; `code_to_session` is the thin HTTP call (the base is configurable so the
//! devstack's `wechat` stand-in replaces WeChat locally).

use crate::ids::{OpenId, UnionId};
use serde::Deserialize;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// WeChat refused the code (expired, used, forged): the user must log in again.
    #[error("WeChat refused the login code: {code} {message}")]
    Refused { code: i64, message: String },
    /// WeChat answered something we cannot read.
    #[error("unreadable code2Session answer: {0}")]
    Unreadable(String),
    /// WeChat could not be reached or failed: retry later.
    #[error("code2Session failed: {0}")]
    Unavailable(String),
}

/// Who logged in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MiniLogin {
    pub openid: OpenId,
    pub unionid: Option<UnionId>,
}

#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    openid: Option<String>,
    #[serde(default)]
    unionid: Option<String>,
    #[serde(default)]
    errcode: Option<i64>,
    #[serde(default)]
    errmsg: Option<String>,
}

/// Reads code2Session's JSON answer. The session key is deliberately not kept.
pub fn read_answer(body: &[u8]) -> Result<MiniLogin, LoginError> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| LoginError::Unreadable(e.to_string()))?;
    if let Some(code) = answer.errcode.filter(|c| *c != 0) {
        return Err(LoginError::Refused {
            code,
            message: answer.errmsg.unwrap_or_default(),
        });
    }
    let openid = answer
        .openid
        .as_deref()
        .map(OpenId::parse)
        .transpose()
        .map_err(|e| LoginError::Unreadable(e.to_string()))?
        .ok_or_else(|| LoginError::Unreadable("no openid".to_owned()))?;
    let unionid = answer
        .unionid
        .as_deref()
        .filter(|u| !u.is_empty())
        .map(UnionId::parse)
        .transpose()
        .map_err(|e| LoginError::Unreadable(e.to_string()))?;
    Ok(MiniLogin { openid, unionid })
}

/// Exchanges a login `code` for the user's ids.
pub async fn code_to_session(
    http: &reqwest::Client,
    base: &str,
    appid: &str,
    secret: &str,
    code: &str,
) -> Result<MiniLogin, LoginError> {
    let url = format!("{}/sns/jscode2session", base.trim_end_matches('/'));
    let response = http
        .get(url)
        .query(&[
            ("appid", appid),
            ("secret", secret),
            ("js_code", code),
            ("grant_type", "authorization_code"),
        ])
        .timeout(std::time::Duration::from_secs(3))
        .send()
        .await
        .map_err(|e| LoginError::Unavailable(e.to_string()))?;
    if !response.status().is_success() {
        return Err(LoginError::Unavailable(format!(
            "HTTP {}",
            response.status()
        )));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| LoginError::Unavailable(e.to_string()))?;
    read_answer(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_with_and_without_unionid_and_refusals() {
        let login =
            read_answer(br#"{"openid":"o-mini-1","session_key":"k","unionid":"u-1"}"#).unwrap();
        assert_eq!(
            (login.openid.as_str(), login.unionid.map(|u| u.to_string())),
            ("o-mini-1", Some("u-1".to_owned()))
        );
        assert_eq!(
            read_answer(br#"{"openid":"o-mini-1","session_key":"k"}"#)
                .unwrap()
                .unionid,
            None
        );
        assert_eq!(
            read_answer(br#"{"errcode":40029,"errmsg":"invalid code"}"#),
            Err(LoginError::Refused {
                code: 40029,
                message: "invalid code".into()
            })
        );
        assert!(matches!(
            read_answer(b"<html>"),
            Err(LoginError::Unreadable(_))
        ));
        assert!(matches!(
            read_answer(br#"{"session_key":"k"}"#),
            Err(LoginError::Unreadable(_))
        ));
        assert!(matches!(
            read_answer(br#"{"openid":"has space"}"#),
            Err(LoginError::Unreadable(_))
        ));
    }
}
