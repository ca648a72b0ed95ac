//! The Official Account's access token, cached per container until shortly before it expires.
//! `stable_token` gives every container the same token, so a refresh here never invalidates
//! another container's (two containers refreshing at once is harmless).

use super::oa_api::{self, OaApiError};
use crate::time::BusinessTime;
use std::sync::{Mutex, PoisonError};

/// Refresh this long before WeChat's expiry.
const MARGIN_MS: i64 = 5 * 60 * 1000;

#[derive(Default)]
pub struct TokenCache(Mutex<Option<(String, BusinessTime)>>);

impl TokenCache {
    /// Forgets the cached token (WeChat refused it): the next `get` fetches a new one.
    pub fn forget(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// A valid token at `now`: the cached one, or a fresh one from WeChat.
    pub async fn get(
        &self,
        http: &reqwest::Client,
        base: &str,
        appid: &str,
        secret: &str,
        now: BusinessTime,
    ) -> Result<String, OaApiError> {
        let cached = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((token, _)) = cached.filter(|(_, refresh_at)| now < *refresh_at) {
            return Ok(token);
        }
        let fresh = oa_api::stable_token(http, base, appid, secret).await?;
        let refresh_at = now.plus_ms(fresh.expires_in_s.saturating_mul(1000) - MARGIN_MS);
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((fresh.token.clone(), refresh_at));
        Ok(fresh.token)
    }
}
