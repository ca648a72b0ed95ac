//! Community group-buy rounds as the group chat sees them (issue 11):
//! - `GET /api/group-buys/{round}` — public (no token: the link is shared in the chat) →
//!   `{round_id, title, community, store_id, handover, fulfil_on, cutoff_at, seconds_left,
//!   open, status, skus: [{sku, name, kind, price_fen, joined, min_qty, max_qty, left,
//!   per_member, goes_ahead}]}`, the counts live (paid joins, summed over their shards).
//!   404 for an unknown round.
//! - `POST /api/group-buys/{round}/orders` `{items: [{sku, qty}]}` (a member's session) → 201
//!   the order with `pay_params`, priced from the round (never the client), within each SKU's
//!   per-member limit (counting earlier paid joins) and what is left of a capped SKU. The
//!   quantities count toward the round when the payment is confirmed (pay-notify); the payment
//!   window ends at the cutoff at the latest. 409 `round_closed` after the cutoff, `over_limit`,
//!   `sold_out`; 400 naming the field; 404 unknown round.

use crate::account::authenticate;
use crate::answer::{error, invalid, reply, store_failed};
use crate::orders::{pay_params, pay_unavailable, read_items, view};
use crate::{source_ip, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::groupbuy::cutoff::decide;
use linli::groupbuy::join::{price, JoinError, JoinLine};
use linli::groupbuy::{Handover, Round};
use linli::ids::{OrderId, RoundId, SkuId};
use linli::money::Fen;
use linli::order::{Fulfilment, Order, OrderLine, OrderStatus, PAYMENT_WINDOW_MS};
use linli::session::Session;
use linli::store::orders::OrderStore;
use linli::time::BusinessTime;
use linli::wechat::pay_api::Prepay;
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

/// The shortest payment window WeChat Pay accepts.
const MIN_WINDOW_MS: i64 = 5 * 60 * 1000;

fn refused(e: &JoinError) -> Response<Body> {
    let (status, code) = match e {
        JoinError::Closed => (StatusCode::CONFLICT, "round_closed"),
        JoinError::OverLimit { .. } => (StatusCode::CONFLICT, "over_limit"),
        JoinError::SoldOut { .. } => (StatusCode::CONFLICT, "sold_out"),
        JoinError::TooMany => {
            let most = linli::groupbuy::join::MAX_LINES;
            return invalid("items", &format!("at most {most} lines in one join"));
        }
        JoinError::Empty | JoinError::Quantity(_) => return invalid("items", &e.to_string()),
        JoinError::UnknownSku(_) => return invalid("items", &e.to_string()),
    };
    error(status, code, &e.to_string(), None)
}

/// `POST /api/group-buys/{round}/orders`: a member joins the round.
pub async fn join<L, M, C, O: OrderStore>(
    app: &App<L, M, C, O>,
    request: &Request,
    id: &str,
    now: BusinessTime,
) -> Response<Body> {
    let session = match authenticate(app, request, now) {
        Ok(s) => s,
        Err(refused) => return refused.into(),
    };
    let Ok(id) = RoundId::parse(id) else {
        return error(
            StatusCode::NOT_FOUND,
            "round_not_found",
            "no such round",
            None,
        );
    };
    let body: Value = match serde_json::from_slice(request.body().as_ref()) {
        Ok(body @ Value::Object(_)) => body,
        _ => return invalid("body", "the body must be a JSON object"),
    };
    let items = match read_items(&body) {
        Ok(items) => items,
        Err(refusal) => return refusal.into(),
    };
    let mut requested = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match SkuId::parse(&item.sku) {
            Ok(sku) => requested.push((sku, item.qty)),
            Err(_) => return invalid(&format!("items[{i}].sku"), "not a SKU of this round"),
        }
    }
    let round = match app.rounds.get(&id).await {
        Ok(Some(round)) => round,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                "round_not_found",
                "no such round",
                None,
            )
        }
        Err(e) => return store_failed(&e),
    };
    let counts = async {
        let mine = app.rounds.member_joined(&id, &session.member).await?;
        let all = app.rounds.joined(&id).await?;
        Ok::<_, linli::store::StoreError>((mine, all))
    };
    let (mine, all) = match counts.await {
        Ok(counts) => counts,
        Err(e) => return store_failed(&e),
    };
    // WeChat Pay wants a payment window of 5 minutes at least; the round closes before that.
    if round.accepts(now) && round.cutoff_at.epoch_ms() - now.epoch_ms() < MIN_WINDOW_MS {
        return error(
            StatusCode::CONFLICT,
            "round_closing",
            "the round closes in under 5 minutes: joins are no longer taken",
            None,
        );
    }
    match price(&round, &requested, &mine, &all, now) {
        Ok(lines) => place(app, request, &session, &round, lines, now).await,
        Err(e) => refused(&e),
    }
}

/// Prepares the payment and stores the pending order (paid by the cutoff at the latest).
async fn place<L, M, C, O: OrderStore>(
    app: &App<L, M, C, O>,
    request: &Request,
    session: &Session,
    round: &Round,
    lines: Vec<JoinLine>,
    now: BusinessTime,
) -> Response<Body> {
    let goods: i64 = lines.iter().map(|l| l.amount_fen).sum();
    let order_id = OrderId::generate(
        now,
        u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..)),
    );
    let deadline = now.plus_ms(PAYMENT_WINDOW_MS).min(round.cutoff_at);
    let description = format!("邻里集单 {}", round.title);
    let prepay = Prepay {
        order: &order_id,
        description: &description,
        amount: Fen::new(goods),
        payer: &session.payer,
        client_ip: &source_ip(request),
        notify_url: app.pay.payment_notify_url(),
        expires_at: deadline,
    };
    let prepared = match app.pay.prepay(&prepay, now).await {
        Ok(prepared) => prepared,
        Err(e) => return pay_unavailable(&e),
    };
    let order = Order {
        order_id,
        member: session.member.clone(),
        payer: session.payer.clone(),
        store_id: round.store_id.clone(),
        fulfilment: match round.handover {
            Handover::Pickup => Fulfilment::Pickup,
            Handover::Delivery => Fulfilment::Delivery,
        },
        address: None,
        lines: lines
            .iter()
            .map(|l| OrderLine {
                sku: l.sku.clone(),
                name: l.name.clone(),
                qty: l.qty,
                price_fen: Fen::new(l.price_fen),
                category: String::new(),
            })
            .collect(),
        goods_fen: Fen::new(goods),
        amount_fen: Fen::new(goods),
        status: OrderStatus::Pending,
        placed_at: now,
        pay_deadline: deadline,
        sign_type: prepared.sign_type,
        pay_api: prepared.api,
        prepay_id: prepared.prepay_id,
        payment: None,
        ended_at: None,
        refund_requested_fen: Fen::ZERO,
        refunded_fen: Fen::ZERO,
        fee_refunded_fen: Fen::ZERO,
        delivery: None,
        stock_reserved: false,
        dispatch: None,
        round: Some(round.round_id.clone()),
    };
    match app.orders.create(&order).await {
        Ok(cost) => {
            tracing::info!(order_id = %order.order_id, round = %round.round_id, member = %order.member.masked(), amount_fen = goods, wru = cost.total(), "group-buy join placed");
            let mut body = view(&order);
            body["round_id"] = json!(round.round_id);
            body["pay_params"] = pay_params(app, &order, now);
            reply(StatusCode::CREATED, body)
        }
        Err(e) => store_failed(&e),
    }
}
