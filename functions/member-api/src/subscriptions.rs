//! The member's consents to subscribe messages (seed 001's reminders).
//!
//! - `POST /api/me/subscriptions` with the object `wx.requestSubscribeMessage` answered
//!   (`{"errMsg": "requestSubscribeMessage:ok", "<template id>": "accept" | "reject" | "ban" |
//!   "filter", …}`): each of Linli's templates marked `accept` gains one consent (WeChat's
//!   consents are one-time: each message uses one). Templates Linli does not use are listed in
//!   `ignored`. → `{consents: {<template>: left}, ignored: [..]}`.
//! - `GET /api/me/subscriptions` → `{consents: {..}, templates: {tier_changed, points_expiring,
//!   repurchase}}`: what the mini-program asks consent for.

use crate::account::{authenticate, live_profile, signed_in};
use crate::answer::{invalid, reply, store_failed};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::store::ledger::LedgerStore;
use linli::store::reminders::{Consents, ReminderStore};
use linli::time::BusinessTime;
use serde_json::{json, Map, Value};

/// At most this many templates in one answer (WeChat asks for at most 3 at a time).
const MAX_TEMPLATES: usize = 20;

fn consents_json(consents: &Consents) -> Value {
    json!(consents.left)
}

/// The templates `body` says were accepted, and the keys that are not Linli's.
fn accepted(
    body: &Map<String, Value>,
    known: impl Fn(&str) -> bool,
) -> Result<(Vec<String>, Vec<&str>), &'static str> {
    let mut accepted = Vec::new();
    let mut ignored = Vec::new();
    for (key, value) in body {
        if key == "errMsg" {
            continue;
        }
        let Some(answer) = value.as_str() else {
            return Err("each template's answer is a string: accept, reject, ban or filter");
        };
        match (answer, known(key)) {
            ("accept", true) => accepted.push(key.clone()),
            ("accept" | "reject" | "ban" | "filter", false) => ignored.push(key.as_str()),
            ("reject" | "ban" | "filter", true) => {}
            _ => return Err("each template's answer is accept, reject, ban or filter"),
        }
    }
    Ok((accepted, ignored))
}

pub async fn record<L: LedgerStore, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let session = match authenticate(app, request, now) {
        Ok(session) => session,
        Err(refused) => return refused.into(),
    };
    let body: Map<String, Value> = match serde_json::from_slice(request.body().as_ref()) {
        Ok(body) => body,
        Err(_) => return invalid("body", "the object wx.requestSubscribeMessage answered"),
    };
    if body.len() > MAX_TEMPLATES {
        return invalid("body", "too many templates in one answer");
    }
    let templates = &app.settings.templates;
    let (accepted, ignored) = match accepted(&body, |t| templates.knows(t)) {
        Ok(found) => found,
        Err(why) => return invalid("body", why),
    };
    // Consents belong to the member as it is now (a merged member's go to the one it joined).
    let (member, _) = match live_profile(app, session.member.clone()).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let consents = if accepted.is_empty() {
        app.reminders.consents(&member).await
    } else {
        app.reminders
            .add_consents(&member, &session.payer, &accepted)
            .await
    };
    match consents {
        Ok(consents) => {
            tracing::info!(member = %member.masked(), accepted = accepted.len(), ignored = ignored.len(), "subscribe consents recorded");
            reply(
                StatusCode::OK,
                json!({ "consents": consents_json(&consents), "ignored": ignored }),
            )
        }
        Err(e) => store_failed(&e),
    }
}

pub async fn show<L: LedgerStore, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let (_, member, _) = match signed_in(app, request, now).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let t = &app.settings.templates;
    match app.reminders.consents(&member).await {
        Ok(consents) => reply(
            StatusCode::OK,
            json!({
                "consents": consents_json(&consents),
                "templates": {
                    "tier_changed": t.tier_changed, "points_expiring": t.points_expiring,
                    "compensation": t.compensation,
                    "repurchase": t.repurchase,
                },
            }),
        ),
        Err(e) => store_failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_templates_count_and_foreign_ones_are_listed() {
        let body: Map<String, Value> = serde_json::from_str(
            r#"{"errMsg":"requestSubscribeMessage:ok","T-EXP":"accept","T-TIER":"reject","X":"accept"}"#,
        )
        .unwrap();
        let known = |t: &str| t.starts_with("T-");
        let (accepted, ignored) = accepted(&body, known).unwrap();
        assert_eq!(accepted, ["T-EXP"]);
        assert_eq!(ignored, ["X"]);
        let bad: Map<String, Value> = serde_json::from_str(r#"{"T-EXP":"yes"}"#).unwrap();
        assert!(super::accepted(&bad, known).is_err());
        let not_text: Map<String, Value> = serde_json::from_str(r#"{"T-EXP":1}"#).unwrap();
        assert!(super::accepted(&not_text, known).is_err());
    }
}
