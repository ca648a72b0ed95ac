//! `GET /api/me/expiring?days=30`: the member's points that expire soon (seed 001: remind before
//! they are lost) — each lot whose last spendable day is within `days` (1–366, default 30) of
//! today's business date, soonest first, and their total.

use crate::account::{authenticate, live_profile};
use crate::answer::{invalid, reply};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use linli::ledger::expiring as expiring_lots;
use linli::store::ledger::LedgerStore;
use linli::time::BusinessTime;
use serde_json::{json, Value};

const DEFAULT_DAYS: u32 = 30;
const MAX_DAYS: u32 = 366;

pub async fn expiring<L: LedgerStore, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let session = match authenticate(app, request, now) {
        Ok(session) => session,
        Err(refused) => return refused.into(),
    };
    let days = match request
        .query_string_parameters_ref()
        .and_then(|q| q.first("days"))
    {
        None => DEFAULT_DAYS,
        Some(text) => match text.trim().parse::<u32>() {
            Ok(days) if (1..=MAX_DAYS).contains(&days) => days,
            _ => return invalid("days", "a whole number of days from 1 to 366"),
        },
    };
    let (_, profile) = match live_profile(app, session.member).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let today = now.date();
    let lots = expiring_lots(&profile.lots, today, days);
    let listed: Vec<Value> = lots
        .iter()
        .map(|lot| {
            json!({
                "month": lot.month.to_string(),
                "points": lot.points.value(),
                "expires_on": lot.expires_on.to_string(),
                "days_left": (lot.expires_on - today).num_days().max(0),
            })
        })
        .collect();
    let total: i64 = lots.iter().map(|lot| lot.points.value()).sum();
    reply(
        StatusCode::OK,
        json!({ "within_days": days, "total": total, "lots": listed }),
    )
}
