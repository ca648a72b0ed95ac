//! `GET /api/me/tier` (seed 003): the member's tier and what it rests on.
//!
//! `{tier, tier_name, multiplier_bp, since?, growth_fen, months: [{month, fen}], next?: {tier,
//! tier_name, threshold_fen, needed_fen}, review: {at, tier, tier_name, to_keep_fen},
//! changes: [{from, to, at, reason, growth_fen}]}`: growth is the goods paid over the 12 business
//! months ending with this one; `next` is absent at the top tier; `review` says when the tier is
//! reviewed and what that review decides if nothing else is bought or refunded (`to_keep_fen`:
//! the spend still needed to keep the tier). Thresholds and multipliers are the rules in force.

use crate::account::signed_in;
use crate::answer::{reply, store_failed};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::ledger::{TierChange, TierOutlook};
use linli::rules::earning::Tier;
use linli::store::ledger::{LedgerStore, Standings};
use linli::time::BusinessTime;
use serde_json::{json, Value};

/// Tier changes shown, newest first.
const CHANGES: i32 = 10;

fn tier(t: Tier) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

fn change(c: &TierChange) -> Value {
    json!({
        "from": tier(c.from), "to": tier(c.to), "to_name": c.to.name(), "at": c.at.to_string(),
        "reason": c.reason.describe(), "growth_fen": c.growth.value(),
    })
}

pub async fn show<L: LedgerStore + Standings, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let (_, member, profile) = match signed_in(app, request, now).await {
        Ok(found) => found,
        Err(answer) => return answer,
    };
    let rules = linli::store::rules::in_force_at(&app.rules, now);
    let changes = app.ledger.tier_changes(&member, CHANGES);
    let (rules, changes) = match tokio::try_join!(rules, changes) {
        Ok(read) => read,
        Err(e) => return store_failed(&e),
    };
    let thresholds = &rules.earn.tier_thresholds;
    let standing = &profile.standing;
    let outlook = TierOutlook::of(standing, thresholds, now);
    let next = outlook.next.map(|(t, needed)| {
        json!({
            "tier": tier(t), "tier_name": t.name(),
            "threshold_fen": thresholds.threshold(t).value(), "needed_fen": needed.value(),
        })
    });
    let months: Vec<Value> = standing
        .growth
        .months()
        .filter(|(m, _)| *m > now.month().plus(-linli::rules::earning::GROWTH_MONTHS))
        .map(|(m, fen)| json!({ "month": m.to_string(), "fen": fen.value() }))
        .collect();
    reply(
        StatusCode::OK,
        json!({
            "tier": tier(outlook.tier),
            "tier_name": outlook.tier.name(),
            "multiplier_bp": rules.earn.tier_bp(outlook.tier),
            "since": standing.since.map(|s| s.to_string()),
            "growth_fen": outlook.growth.value(),
            "months": months,
            "next": next,
            "review": {
                "at": outlook.review_at.to_string(),
                "tier": tier(outlook.at_review),
                "tier_name": outlook.at_review.name(),
                "to_keep_fen": outlook.to_keep.value(),
            },
            "changes": changes.iter().map(change).collect::<Vec<_>>(),
        }),
    )
}
