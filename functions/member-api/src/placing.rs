//! `POST /api/orders`: a pickup `{store_id, items, fulfilment: "pickup"}`, or a delivery ordered
//! against a quote `{quote_id, fee: "cash" | "points" | "free"}` (the quote names the store, the
//! basket and the address; see `delivery.rs`).
//!
//! The server prices the goods from the catalog (client prices are ignored), prepares the
//! payment with WeChat Pay (goods, plus the fee when paid in cash) and only then stores the
//! order, pending, in one transaction that also takes the lines out of stock and, for a fee
//! paid in points, holds the points: two members cannot buy the last unit, and a refused hold
//! leaves nothing behind. Answers: 201 with the order and the `wx.requestPayment` parameters;
//! 409 `out_of_stock`, `insufficient_points` (with `shortfall`), `quote_expired`, `not_free`
//! (with `add_for_free_fen`); 400 naming the field.

use crate::account::authenticate;
use crate::answer::{error, invalid, reply, store_failed, Refusal};
use crate::orders::{pay_params, pay_unavailable, read_items, view};
use crate::{source_ip, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::catalog::Store;
use linli::delivery::{
    route, DeliveryRules, Heat, Quote, QuoteError, QuoteKey, RoutingRules, StoreOption,
};
use linli::ids::{OrderId, StoreId};
use linli::ledger::LedgerError;
use linli::money::Fen;
use linli::order::{
    price, Address, Delivery, FeeChoice, FeeError, Fulfilment, ItemRequest, Order, OrderError,
    OrderStatus, Priced, PAYMENT_WINDOW_MS,
};
use linli::session::Session;
use linli::store::catalog::CatalogStore;
use linli::store::delivery_rules::DeliveryRulesStore;
use linli::store::ledger::{LedgerStore, PostWith};
use linli::store::orders::OrderStore;
use linli::store::placing::Placed;
use linli::time::BusinessTime;
use linli::wechat::pay_api::Prepay;
use serde_json::{json, Value};

/// An order priced and ready to be paid for.
struct Draft {
    store: Store,
    priced: Priced,
    fulfilment: Fulfilment,
    address: Option<Address>,
    delivery: Option<Delivery>,
}

fn body_of(raw: &[u8]) -> Result<Value, Refusal> {
    serde_json::from_slice(raw)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| invalid("body", "the body must be a JSON object").into())
}

async fn store_and_price<C: CatalogStore>(
    catalog: &C,
    store_id: &StoreId,
    items: &[ItemRequest],
) -> Result<(Store, Priced), Refusal> {
    let store = match catalog.store(store_id).await {
        Ok(Some(store)) => store,
        Ok(None) => return Err(invalid("store_id", "no such store").into()),
        Err(e) => return Err(store_failed(&e).into()),
    };
    let skus = catalog
        .skus(&store.store_id)
        .await
        .map_err(|e| Refusal::from(store_failed(&e)))?;
    match price(items, &skus) {
        Ok(priced) => Ok((store, priced)),
        Err(OrderError::Invalid { field, message }) => Err(invalid(&field, &message).into()),
        Err(OrderError::OutOfStock {
            field,
            sku,
            available,
        }) => Err(out_of_stock(&sku.to_string(), available, Some(&field)).into()),
    }
}

fn out_of_stock(sku: &str, available: i64, field: Option<&str>) -> Response<Body> {
    let message = format!("only {available} of {sku} left");
    error(StatusCode::CONFLICT, "out_of_stock", &message, field)
}

/// A pickup order `{store_id, items, fulfilment: "pickup"}`.
async fn pickup<C: CatalogStore>(catalog: &C, body: &Value) -> Result<Draft, Refusal> {
    let store_id = body
        .get("store_id")
        .and_then(Value::as_str)
        .and_then(|s| StoreId::parse(s).ok())
        .ok_or_else(|| Refusal::from(invalid("store_id", "store_id must name a store")))?;
    match body.get("fulfilment").and_then(Value::as_str) {
        Some("pickup") => {}
        Some("delivery") => {
            let message = "a delivery is ordered against a quote (POST /api/delivery/quote): send quote_id and fee";
            return Err(invalid("quote_id", message).into());
        }
        _ => {
            let message = "fulfilment must be \"pickup\" or \"delivery\"";
            return Err(invalid("fulfilment", message).into());
        }
    }
    let items = read_items(body)?;
    let (store, priced) = store_and_price(catalog, &store_id, &items).await?;
    Ok(Draft {
        store,
        priced,
        fulfilment: Fulfilment::Pickup,
        address: None,
        delivery: None,
    })
}

fn shortfall(available: i64, wanted: i64) -> Response<Body> {
    let short = wanted.saturating_sub(available).max(0);
    let message = format!("the fee is {wanted} points; {available} available, {short} short");
    let mut answer = json!({"error": {"code": "insufficient_points", "message": message}});
    answer["shortfall"] = json!(short);
    answer["available"] = json!(available);
    answer["points"] = json!(wanted);
    reply(StatusCode::CONFLICT, answer)
}

/// The quote and fee choice a delivery names (the quote must be this member's, unexpired).
fn quote_and_choice(
    key: &QuoteKey,
    session: &Session,
    body: &Value,
    now: BusinessTime,
) -> Result<(Quote, FeeChoice), Refusal> {
    let id = body.get("quote_id").and_then(Value::as_str).unwrap_or("");
    let quote = match key.open(id, &session.member, now) {
        Ok(quote) => quote,
        Err(QuoteError::Expired) => {
            let message = "the quote has expired: ask for a new one";
            let field = Some("quote_id");
            return Err(error(StatusCode::CONFLICT, "quote_expired", message, field).into());
        }
        Err(e) => {
            tracing::info!(member = %session.member.masked(), reason = %e, "quote refused");
            return Err(invalid("quote_id", "not a quote of yours").into());
        }
    };
    let choice = body
        .get("fee")
        .and_then(Value::as_str)
        .and_then(FeeChoice::parse)
        .ok_or_else(|| {
            let message = "fee must be \"cash\", \"points\" or \"free\"";
            Refusal::from(invalid("fee", message))
        })?;
    Ok((quote, choice))
}

/// The delivery terms: the route from the quote's store (platforms by the rules in force), the
/// heatmap record and the fee as chosen.
fn terms(
    quote: &Quote,
    choice: FeeChoice,
    rules: &DeliveryRules,
    now: BusinessTime,
) -> Result<Delivery, Refusal> {
    let option = StoreOption {
        store_id: quote.store_id.clone(),
        distance_m: quote.distance_m,
        covers: true,
        open_orders: quote.open_orders,
        picker_capacity: quote.picker_capacity,
    };
    let offers = rules.offers(quote.store_id.as_str());
    let Ok(chosen) = route(&RoutingRules::default(), &[option], &offers) else {
        let message = "no courier platform serves this store now";
        return Err(error(StatusCode::CONFLICT, "no_courier", message, None).into());
    };
    let (lat, lng) = (quote.address.lat, quote.address.lng);
    let heat = Heat::of(
        (lat, lng),
        now,
        &chosen,
        quote.price.fee_fen,
        quote.price.points,
    );
    Delivery::terms(quote, choice, chosen, heat).map_err(|FeeError::NotFree(short)| {
        let message = format!("add ¥{}.{:02} for free delivery", short / 100, short % 100);
        let mut answer = json!({"error": {"code": "not_free", "message": message, "field": "fee"}});
        answer["add_for_free_fen"] = json!(short);
        Refusal::from(reply(StatusCode::CONFLICT, answer))
    })
}

/// A delivery `{quote_id, fee}` against a quote this member got in the last 5 minutes.
async fn delivery<L: LedgerStore, M, C: CatalogStore, O>(
    app: &App<L, M, C, O>,
    session: &Session,
    body: &Value,
    now: BusinessTime,
) -> Result<Draft, Refusal> {
    let key = QuoteKey::derive(&app.settings.session_key);
    let (quote, choice) = quote_and_choice(&key, session, body, now)?;
    let items: Vec<ItemRequest> = quote
        .items
        .iter()
        .map(|(sku, qty)| ItemRequest {
            sku: sku.clone(),
            qty: *qty,
        })
        .collect();
    let (store, priced) = store_and_price(&app.catalog, &quote.store_id, &items).await?;
    let rules = match app.delivery_rules.delivery_rules().await {
        Ok(in_force) => in_force.rules,
        Err(e) => return Err(store_failed(&e).into()),
    };
    let terms = terms(&quote, choice, &rules, now)?;
    let wanted = terms.held_points().value();
    if wanted > 0 {
        let available = match app.ledger.profile(&session.member).await {
            Ok(profile) => profile.map(|p| p.available.value()).unwrap_or(0),
            Err(e) => return Err(store_failed(&e).into()),
        };
        if available < wanted {
            return Err(shortfall(available, wanted).into());
        }
    }
    Ok(Draft {
        store,
        priced,
        fulfilment: Fulfilment::Delivery,
        address: Some(quote.address),
        delivery: Some(terms),
    })
}

fn random() -> u128 {
    u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..))
}

pub async fn place<L, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body>
where
    L: LedgerStore + PostWith + Sync,
    C: CatalogStore,
    O: OrderStore,
{
    let session = match authenticate(app, request, now) {
        Ok(s) => s,
        Err(refused) => return refused.into(),
    };
    let drafted = match body_of(request.body().as_ref()) {
        Ok(body) if body.get("quote_id").is_some() => delivery(app, &session, &body, now).await,
        Ok(body) => pickup(&app.catalog, &body).await,
        Err(refused) => Err(refused),
    };
    match drafted {
        Ok(draft) => commit(app, request, &session, draft, now).await,
        Err(refused) => refused.into(),
    }
}

/// Prepares the payment, then stores the order with its stock and hold.
async fn commit<L, M, C, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    session: &Session,
    draft: Draft,
    now: BusinessTime,
) -> Response<Body>
where
    L: LedgerStore + PostWith + Sync,
    C: CatalogStore,
    O: OrderStore,
{
    let fee = draft.delivery.as_ref().map_or(0, |d| d.fee_fen);
    let amount = Fen::new(draft.priced.goods_fen.value().saturating_add(fee));
    let order_id = OrderId::generate(now, random());
    let deadline = now.plus_ms(PAYMENT_WINDOW_MS);
    let description = format!("邻里 {}", draft.store.name);
    let prepay = Prepay {
        order: &order_id,
        description: &description,
        amount,
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
        store_id: draft.store.store_id,
        fulfilment: draft.fulfilment,
        address: draft.address,
        lines: draft.priced.lines,
        goods_fen: draft.priced.goods_fen,
        amount_fen: amount,
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
        delivery: draft.delivery,
        stock_reserved: true,
        dispatch: None,
        round: None,
    };
    let answer = match app.orders.place(&order, &app.ledger).await {
        Ok(Placed::Placed { cost }) => {
            if order.delivery.is_some() {
                // The pickers' load steers the next quotes; a miss only makes it look lighter.
                if let Err(e) = app.catalog.count_order(&order.store_id, now).await {
                    tracing::warn!(order_id = %order.order_id, error = %e, "order not counted toward the store's load");
                }
            }
            tracing::info!(order_id = %order.order_id, member = %order.member.masked(), amount_fen = order.amount_fen.value(), held = order.delivery.as_ref().map(|d| d.held_points().value()), wru = cost.total(), "order placed");
            let mut body = view(&order);
            body["pay_params"] = pay_params(app, &order, now);
            return reply(StatusCode::CREATED, body);
        }
        Ok(Placed::OutOfStock { sku, available }) => out_of_stock(sku.as_str(), available, None),
        Ok(Placed::Refused(LedgerError::InsufficientPoints { available, wanted })) => {
            shortfall(available.value(), wanted.value())
        }
        Ok(Placed::Refused(e)) => {
            error(StatusCode::CONFLICT, "points_refused", &e.to_string(), None)
        }
        Err(e) => store_failed(&e),
    };
    // The prepared payment is left to lapse at its deadline: nothing can pay an order that
    // does not exist (a notify for it would be an unknown-order anomaly).
    tracing::info!(order_id = %order.order_id, status = answer.status().as_u16(), "order not placed");
    answer
}
