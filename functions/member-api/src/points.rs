//! The member's points over time.
//!
//! - `GET /api/me/points?cursor=&limit=20`: the postings, newest first, a page at a time
//!   (`limit` 1–100); each line says what it was (`label`), its change of available points,
//!   how the earn rules priced it (`explained`, e.g. "150 = 100 base × 1.5 金卡", on postings
//!   the rules priced) and, for an order's postings, the order. `next_cursor` is absent on the last page. Reads are consistent: a posting just
//!   applied is on the first page.
//! - `GET /api/me/expiring?days=30`: the points that expire soon (seed 001: remind before they are
//!   lost) — each lot whose last spendable day is within `days` (1–366, default 30) of today's
//!   business date, soonest first, and their total.

use crate::account::{authenticate, live_profile};
use crate::answer::{invalid, reply, Refusal};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use linli::ledger::expiring as expiring_lots;
use linli::store::ledger::{HistoryCursor, LedgerStore};
use linli::time::BusinessTime;
use serde_json::{json, Value};

const DEFAULT_LIMIT: u16 = 20;
const MAX_LIMIT: u16 = 100;
const DEFAULT_DAYS: u32 = 30;
const MAX_DAYS: u32 = 366;

/// Query parameter `name`: absent → `default`; else a whole number in 1..=`max`, or the 400
/// naming it.
fn whole_number<T>(request: &Request, name: &str, default: T, max: T) -> Result<T, Refusal>
where
    T: std::str::FromStr + PartialOrd + From<u8> + std::fmt::Display + Copy,
{
    let Some(text) = request
        .query_string_parameters_ref()
        .and_then(|q| q.first(name).map(str::to_owned))
    else {
        return Ok(default);
    };
    match text.trim().parse::<T>() {
        Ok(n) if n >= T::from(1) && n <= max => Ok(n),
        _ => Err(invalid(name, &format!("a whole number from 1 to {max}")).into()),
    }
}

pub async fn expiring<L: LedgerStore, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let session = match authenticate(app, request, now) {
        Ok(session) => session,
        Err(refused) => return refused.into(),
    };
    let days = match whole_number(request, "days", DEFAULT_DAYS, MAX_DAYS) {
        Ok(days) => days,
        Err(refused) => return refused.into(),
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

/// What a posting was, as the member reads it.
fn label(kind: &str) -> &'static str {
    match kind {
        "pay:order" => "订单消费积分",
        "hold:order" => "积分抵扣运费（冻结）",
        "void:order" => "冻结积分退回",
        "feeback:order" => "运费积分退回",
        "claw:refund" => "退款扣回积分",
        "earn:pos" => "门店消费积分",
        "claw:pos" => "门店退货扣回",
        "earn:round" => "社群团购积分",
        "comp:order" => "配送延误补偿",
        "signin" => "每日签到",
        "invite" => "邀请好友",
        "expire" => "积分过期",
        "merge" => "账户合并",
        "adjust" => "客服调整",
        _ => "积分变动",
    }
}

/// The order an order's posting belongs to (`pay:order:<id>`, `claw:refund:<order>-…`).
fn order_of(posting_id: &str) -> Option<&str> {
    let rest = [
        "pay:order:",
        "hold:order:",
        "void:order:",
        "feeback:order:",
        "comp:order:",
    ]
    .iter()
    .find_map(|p| posting_id.strip_prefix(p))
    .or_else(|| {
        posting_id
            .strip_prefix("claw:refund:")
            .map(|r| r.split('-').next().unwrap_or(r))
    })?;
    // Linli's order ids are ULIDs; a late payment's refund (`L-<transaction>`) names none.
    let ulid = rest.len() == 26 && rest.bytes().all(|b| b.is_ascii_alphanumeric());
    ulid.then_some(rest)
}

pub async fn history<L: LedgerStore, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let session = match authenticate(app, request, now) {
        Ok(session) => session,
        Err(refused) => return refused.into(),
    };
    let query = request.query_string_parameters_ref();
    let cursor = match query
        .and_then(|q| q.first("cursor"))
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(text) => match HistoryCursor::decode(text) {
            Some(cursor) => Some(cursor),
            None => return invalid("cursor", "not a cursor this API gave: start without one"),
        },
    };
    let limit = match whole_number(request, "limit", DEFAULT_LIMIT, MAX_LIMIT) {
        Ok(limit) => limit,
        Err(refused) => return refused.into(),
    };
    let (member, _) = match live_profile(app, session.member).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let page = match app.ledger.history(&member, cursor.as_ref(), limit).await {
        Ok(page) => page,
        Err(e) => return crate::answer::store_failed(&e),
    };
    // The postings' own records say how rules priced them (one batch read).
    let ids: Vec<_> = page.lines.iter().map(|l| l.posting_id.clone()).collect();
    let bodies = match app.ledger.postings(&member, &ids).await {
        Ok(bodies) => bodies,
        Err(e) => return crate::answer::store_failed(&e),
    };
    let lines: Vec<Value> = page
        .lines
        .iter()
        .zip(bodies)
        .map(|(line, body)| {
            let id = line.posting_id.to_string();
            let mut v = json!({
                "posting_id": id, "kind": line.kind, "label": label(&line.kind),
                "at": line.at.to_string(), "delta": line.delta.value(),
            });
            if let Some(order) = order_of(&id) {
                v["order_id"] = json!(order);
            }
            if let Some(explained) = body.and_then(|p| p.request.explanation) {
                v["explained"] = json!(explained);
            }
            v
        })
        .collect();
    let mut body = json!({ "postings": lines });
    if let Some(next) = page.next {
        body["next_cursor"] = json!(next.encode());
    }
    reply(StatusCode::OK, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_postings_name_their_order_and_others_do_not() {
        let order = "01JD0000000000000000000000";
        assert_eq!(order_of(&format!("pay:order:{order}")), Some(order));
        assert_eq!(order_of(&format!("claw:refund:{order}-M")), Some(order));
        assert_eq!(order_of("claw:refund:L-4200000001"), None);
        assert_eq!(
            order_of("signin:01JD0000000000000000000000:2026-11-25"),
            None
        );
        assert_eq!(label("signin"), "每日签到");
        assert_eq!(label("something-new"), "积分变动");
    }
}
