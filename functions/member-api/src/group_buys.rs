//! Community group-buy rounds as the group chat sees them (issue 11):
//! - `GET /api/group-buys/{round}` — public (no token: the link is shared in the chat) →
//!   `{round_id, title, community, store_id, handover, fulfil_on, cutoff_at, seconds_left,
//!   open, status, skus: [{sku, name, kind, price_fen, joined, min_qty, max_qty, left,
//!   per_member, goes_ahead}]}`, the counts live (paid joins, summed over their shards).
//!   404 for an unknown round.

use crate::answer::{error, reply, store_failed};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use linli::groupbuy::cutoff::decide;
use linli::ids::RoundId;
use linli::time::BusinessTime;
use serde_json::{json, Value};

pub async fn progress<L, M, C, O>(
    app: &App<L, M, C, O>,
    id: &str,
    now: BusinessTime,
) -> Response<Body> {
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            "round_not_found",
            "no such round",
            None,
        )
    };
    let Ok(id) = RoundId::parse(id) else {
        return not_found();
    };
    let round = match app.rounds.get(&id).await {
        Ok(Some(round)) => round,
        Ok(None) => return not_found(),
        Err(e) => return store_failed(&e),
    };
    let joined = match app.rounds.joined(&id).await {
        Ok(joined) => joined,
        Err(e) => return store_failed(&e),
    };
    let outcomes = decide(&round, &joined);
    let skus: Vec<Value> = round
        .skus
        .iter()
        .zip(&outcomes)
        .map(|(s, o)| {
            json!({
                "sku": s.sku, "name": s.name, "kind": s.kind, "price_fen": s.price_fen,
                "joined": o.joined, "min_qty": s.min_qty, "max_qty": s.max_qty,
                "left": s.max_qty.map(|max| (max - o.joined).max(0)),
                "per_member": s.per_member, "goes_ahead": o.goes_ahead,
            })
        })
        .collect();
    let seconds_left = ((round.cutoff_at.epoch_ms() - now.epoch_ms()) / 1000).max(0);
    reply(
        StatusCode::OK,
        json!({
            "round_id": round.round_id, "title": round.title, "community": round.community,
            "store_id": round.store_id, "handover": round.handover, "fulfil_on": round.fulfil_on,
            "cutoff_at": round.cutoff_at.shanghai_rfc3339(), "seconds_left": seconds_left,
            "open": round.accepts(now), "status": round.status, "skus": skus,
        }),
    )
}
