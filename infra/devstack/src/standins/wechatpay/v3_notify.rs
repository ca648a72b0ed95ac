//! API v3 notifies: WeChat Pay's event envelope around a resource sealed with the APIv3 key
//! (AEAD_AES_256_GCM, 12-character nonce, `associated_data` = the resource's type), posted as
//! JSON with `Wechatpay-*` headers signed by the platform key afresh for each attempt; the
//! merchant accepts with HTTP 200 or 204, whatever the body. Also v3's way of writing times.

use super::notify::{AttemptHeaders, Outgoing};
use super::{random, PayState, SHANGHAI};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{json, Value};
use std::sync::Arc;

/// What a v3 notify says about its resource.
pub struct Event {
    pub event_type: String,
    pub summary: &'static str,
    /// `transaction` or `refund`; also the resource's `associated_data`.
    pub original_type: &'static str,
}

/// WeChat Pay v3 stops retrying once the merchant answers 200 or 204, whatever the body.
fn notify_accepted(status: u16, _: &[u8]) -> bool {
    status == 200 || status == 204
}

/// A v3 notify of `event` around `resource`, sealed with the APIv3 key, each delivery attempt
/// signed afresh at the devstack time (with a wrong signature when `forged`).
pub fn notify(
    state: &PayState,
    event: &Event,
    resource: &Value,
    forged: bool,
) -> Result<Outgoing, String> {
    let keys = state.v3.clone()?;
    let nonce = random(12, 36);
    let ciphertext = keys
        .api_v3_key
        .encrypt(&nonce, event.original_type, &resource.to_string())
        .map_err(|e| e.to_string())?;
    let hex = |len| random(len, 16);
    let body = json!({
        "id": format!("{}-{}-{}-{}-{}", hex(8), hex(4), hex(4), hex(4), hex(12)),
        "create_time": shanghai_rfc3339(state.kit.clock.now()),
        "resource_type": "encrypt-resource",
        "event_type": event.event_type,
        "summary": event.summary,
        "resource": {
            "original_type": event.original_type,
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": ciphertext,
            "associated_data": event.original_type,
            "nonce": nonce,
        },
    })
    .to_string()
    .into_bytes();
    let (clock, signed) = (state.kit.clock.clone(), body.clone());
    let headers: AttemptHeaders = Arc::new(move || {
        let mut headers = keys.wechatpay_headers(clock.now().timestamp(), &signed, forged);
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
        headers
    });
    Ok(Outgoing {
        body,
        headers,
        accepted: notify_accepted,
    })
}

/// RFC 3339 to the second in Beijing time, as v3 writes times (`2026-11-25T00:30:05+08:00`).
pub fn shanghai_rfc3339(at: DateTime<Utc>) -> String {
    at.with_timezone(&SHANGHAI)
        .format("%Y-%m-%dT%H:%M:%S%:z")
        .to_string()
}

/// A Beijing time the v2 way (`format`, e.g. `%Y%m%d%H%M%S`) the v3 way.
pub fn beijing_rfc3339(text: &str, format: &str) -> Option<String> {
    let local = NaiveDateTime::parse_from_str(text, format).ok()?;
    let at = local.and_local_timezone(SHANGHAI).single()?;
    Some(at.format("%Y-%m-%dT%H:%M:%S%:z").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_beijing_time_with_their_offset() {
        let at = DateTime::parse_from_rfc3339("2026-11-24T16:30:05Z").unwrap();
        assert_eq!(shanghai_rfc3339(at.to_utc()), "2026-11-25T00:30:05+08:00");
        let compact = beijing_rfc3339("20261125003005", "%Y%m%d%H%M%S");
        assert_eq!(compact.as_deref(), Some("2026-11-25T00:30:05+08:00"));
        let spaced = beijing_rfc3339("2026-11-25 00:30:05", "%Y-%m-%d %H:%M:%S");
        assert_eq!(spaced, compact);
        assert_eq!(beijing_rfc3339("", "%Y%m%d%H%M%S"), None);
    }

    #[test]
    fn only_200_and_204_stop_the_retries_whatever_the_body() {
        assert!(notify_accepted(200, b""));
        assert!(notify_accepted(204, b"<xml>FAIL</xml>"));
        for status in [201, 202, 400, 401, 500] {
            assert!(
                !notify_accepted(status, br#"{"code":"SUCCESS"}"#),
                "{status}"
            );
        }
    }
}
