//! Orders: `POST /api/orders`, `GET /api/orders/{id}`, `POST /api/orders/{id}/cancel`.
//!
//! The server prices every order from the catalog (any price the client sends is ignored),
//! prepares the payment with WeChat Pay (`pay/unifiedorder`, JSAPI, `out_trade_no` = order id,
//! `time_expire` = the payment deadline) and only then stores the order, pending, so a failed
//! prepare leaves nothing behind. The answer carries the `wx.requestPayment` parameters, signed
//! with the order's sign type; pay-notify marks the order paid, housekeeping closes it unpaid
//! after the deadline. Another member's order is a 404, never a 403: ids are not confirmed.

use crate::account::authenticate;
use crate::answer::{error, invalid, not_found, reply, store_failed, Refusal};
use crate::{source_ip, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::catalog::valid_coordinate;
use linli::ids::{OrderId, StoreId};
use linli::order::{
    price, Address, Fulfilment, ItemRequest, Order, OrderError, OrderStatus, MAX_LINES,
    PAYMENT_WINDOW_MS,
};
use linli::paying::Prepared;
use linli::store::catalog::CatalogStore;
use linli::store::orders::{EndOutcome, OrderStore};
use linli::store::refunds::RefundStore;
use linli::time::BusinessTime;
use linli::wechat::pay_api::{CloseOutcome, PayApiError, Prepay};
use serde_json::{json, Value};

/// What `POST /api/orders` asked for, checked field by field.
struct Placement {
    store_id: StoreId,
    items: Vec<ItemRequest>,
    fulfilment: Fulfilment,
    address: Option<Address>,
}

pub(crate) fn read_items(body: &Value) -> Result<Vec<ItemRequest>, Refusal> {
    let Some(items) = body.get("items").and_then(Value::as_array) else {
        return Err(invalid("items", "items must be a list of {sku, qty}").into());
    };
    if items.len() > MAX_LINES {
        return Err(invalid("items", &format!("at most {MAX_LINES} items")).into());
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let sku = item
                .get("sku")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(&format!("items[{i}].sku"), "sku must be a string"))?;
            let qty = item
                .get("qty")
                .and_then(Value::as_i64)
                .ok_or_else(|| invalid(&format!("items[{i}].qty"), "qty must be a whole number"))?;
            Ok(ItemRequest {
                sku: sku.to_owned(),
                qty,
            })
        })
        .collect()
}

pub(crate) fn read_address(body: &Value) -> Result<Address, Refusal> {
    let address = body.get("address").filter(|a| a.is_object());
    let number = |name: &str| address.and_then(|a| a.get(name)).and_then(Value::as_f64);
    let text = address
        .and_then(|a| a.get("text"))
        .and_then(Value::as_str)
        .map(str::trim)
        .unwrap_or_default();
    match (number("lat"), number("lng")) {
        (Some(lat), Some(lng)) if valid_coordinate(lat, lng) => {}
        _ => {
            return Err(invalid(
                "address",
                "a delivery needs an address {lat, lng, text} on Earth",
            )
            .into())
        }
    }
    if text.is_empty() || text.chars().count() > 200 {
        return Err(invalid(
            "address.text",
            "the address text must be 1 to 200 characters",
        )
        .into());
    }
    Ok(Address {
        lat: number("lat").unwrap_or_default(),
        lng: number("lng").unwrap_or_default(),
        text: text.to_owned(),
    })
}

fn read_placement(raw: &[u8]) -> Result<Placement, Refusal> {
    let body: Value = serde_json::from_slice(raw)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| Refusal::from(invalid("body", "the body must be a JSON object")))?;
    let store_id = body
        .get("store_id")
        .and_then(Value::as_str)
        .and_then(|s| StoreId::parse(s).ok())
        .ok_or_else(|| Refusal::from(invalid("store_id", "store_id must name a store")))?;
    let fulfilment = match body.get("fulfilment").and_then(Value::as_str) {
        Some("pickup") => Fulfilment::Pickup,
        Some("delivery") => Fulfilment::Delivery,
        _ => {
            return Err(invalid(
                "fulfilment",
                "fulfilment must be \"pickup\" or \"delivery\"",
            )
            .into())
        }
    };
    let address = match fulfilment {
        Fulfilment::Delivery => Some(read_address(&body)?),
        Fulfilment::Pickup => None,
    };
    Ok(Placement {
        store_id,
        items: read_items(&body)?,
        fulfilment,
        address,
    })
}

/// The order as the member sees it.
fn view(order: &Order) -> Value {
    let lines: Vec<Value> = order
        .lines
        .iter()
        .map(|l| {
            json!({
                "sku": l.sku, "name": l.name, "qty": l.qty, "price_fen": l.price_fen.value(),
                "amount_fen": l.price_fen.value().saturating_mul(l.qty),
            })
        })
        .collect();
    let mut v = json!({
        "order_id": order.order_id,
        "out_trade_no": order.order_id,
        "status": order.status.as_str(),
        "store_id": order.store_id,
        "fulfilment": order.fulfilment,
        "lines": lines,
        "goods_fen": order.goods_fen.value(),
        "amount_fen": order.amount_fen.value(),
        "points": order.earned_points().value(),
        "placed_at": order.placed_at.to_string(),
        "pay_deadline": order.pay_deadline.to_string(),
    });
    if let Some(address) = &order.address {
        v["address"] = json!(address);
    }
    if let Some(payment) = &order.payment {
        v["paid_at"] = json!(payment.paid_at.to_string());
        if let Some(earned) = &payment.earned {
            v["points_explained"] = json!(earned.explanation);
            v["rules_version"] = json!(earned.rules_version);
        }
    }
    if let Some(at) = order.ended_at {
        v["ended_at"] = json!(at.to_string());
    }
    v
}

fn random() -> u128 {
    u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..))
}

fn pay_unavailable(e: &PayApiError) -> Response<Body> {
    tracing::warn!(error = %e, "WeChat Pay did not prepare or close the payment");
    error(
        StatusCode::BAD_GATEWAY,
        "wechatpay_unavailable",
        "WeChat Pay did not answer as expected; retry",
        None,
    )
}

pub async fn place<L, M, C: CatalogStore, O: OrderStore>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let session = match authenticate(app, request, now) {
        Ok(s) => s,
        Err(refused) => return refused.into(),
    };
    let placement = match read_placement(request.body().as_ref()) {
        Ok(p) => p,
        Err(refused) => return refused.into(),
    };
    let store = match app.catalog.store(&placement.store_id).await {
        Ok(Some(store)) => store,
        Ok(None) => return invalid("store_id", "no such store"),
        Err(e) => return store_failed(&e),
    };
    let catalog = match app.catalog.skus(&store.store_id).await {
        Ok(skus) => skus,
        Err(e) => return store_failed(&e),
    };
    let priced = match price(&placement.items, &catalog) {
        Ok(priced) => priced,
        Err(OrderError::Invalid { field, message }) => return invalid(&field, &message),
        Err(OrderError::OutOfStock {
            field,
            sku,
            available,
        }) => {
            let message = format!("only {available} of {sku} left");
            return error(StatusCode::CONFLICT, "out_of_stock", &message, Some(&field));
        }
    };
    let order_id = OrderId::generate(now, random());
    let deadline = now.plus_ms(PAYMENT_WINDOW_MS);
    let description = format!("邻里 {}", store.name);
    let prepay = Prepay {
        order: &order_id,
        description: &description,
        amount: priced.goods_fen,
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
        store_id: store.store_id,
        fulfilment: placement.fulfilment,
        address: placement.address,
        lines: priced.lines,
        goods_fen: priced.goods_fen,
        amount_fen: priced.goods_fen,
        status: OrderStatus::Pending,
        placed_at: now,
        pay_deadline: deadline,
        sign_type: prepared.sign_type,
        pay_api: prepared.api,
        prepay_id: prepared.prepay_id,
        payment: None,
        ended_at: None,
        refund_requested_fen: linli::money::Fen::ZERO,
        refunded_fen: linli::money::Fen::ZERO,
    };
    let cost = match app.orders.create(&order).await {
        Ok(cost) => cost,
        Err(e) => return store_failed(&e),
    };
    tracing::info!(order_id = %order.order_id, member = %order.member.masked(), amount_fen = order.amount_fen.value(), wru = cost.total(), "order placed");
    let mut body = view(&order);
    body["pay_params"] = pay_params(app, &order, now);
    reply(StatusCode::CREATED, body)
}

fn pay_params<L, M, C, O>(app: &App<L, M, C, O>, order: &Order, now: BusinessTime) -> Value {
    match app.pay.pay_params(&Prepared::of(order), now) {
        Ok(params) => serde_json::to_value(params).unwrap_or(Value::Null),
        Err(e) => {
            tracing::error!(order_id = %order.order_id, error = %e, "payment sheet not signed");
            Value::Null
        }
    }
}

/// The caller's own order `id`, or the answer to give instead (401 without a session; 404 for
/// another member's order too).
pub(crate) async fn own_order<L, M, C, O: OrderStore>(
    app: &App<L, M, C, O>,
    request: &Request,
    id: &str,
    now: BusinessTime,
) -> Result<Order, Refusal> {
    let session = authenticate(app, request, now)?;
    let missing = || Refusal::from(not_found("order_not_found", "no such order"));
    let id = OrderId::parse(id).map_err(|_| missing())?;
    match app.orders.get(&id).await {
        Ok(Some(order)) if order.member == session.member => Ok(order),
        Ok(_) => Err(missing()),
        Err(e) => Err(store_failed(&e).into()),
    }
}

pub async fn show<L, M, C, O: OrderStore + RefundStore>(
    app: &App<L, M, C, O>,
    request: &Request,
    id: &str,
    now: BusinessTime,
) -> Response<Body> {
    let order = match own_order(app, request, id, now).await {
        Ok(order) => order,
        Err(answer) => return answer.into(),
    };
    let mut body = view(&order);
    if order.status == OrderStatus::Pending && now < order.pay_deadline {
        body["pay_params"] = pay_params(app, &order, now);
    }
    if order.status == OrderStatus::Paid {
        match app.orders.refunds(&order.order_id).await {
            Ok(refunds) => {
                body["refunds"] = refunds.iter().map(crate::refunds::view).collect();
                body["refundable_fen"] = order.refundable().value().into();
                body["refunded_fen"] = order.refunded_fen.value().into();
            }
            Err(e) => return store_failed(&e),
        }
    }
    reply(StatusCode::OK, body)
}

pub async fn cancel<L, M, C, O: OrderStore>(
    app: &App<L, M, C, O>,
    request: &Request,
    id: &str,
    now: BusinessTime,
) -> Response<Body> {
    let order = match own_order(app, request, id, now).await {
        Ok(order) => order,
        Err(answer) => return answer.into(),
    };
    let not_pending = |order: &Order| {
        error(
            StatusCode::CONFLICT,
            "not_pending",
            &format!(
                "the order is {}; only a pending order can be cancelled",
                order.status
            ),
            None,
        )
    };
    if order.status != OrderStatus::Pending {
        return not_pending(&order);
    }
    // WeChat Pay first: once it has closed the payment, nobody can pay this order any more.
    match app.pay.close(&order.order_id, order.pay_api, now).await {
        Ok(CloseOutcome::Closed) => {}
        Ok(CloseOutcome::AlreadyPaid) => {
            tracing::info!(order_id = %order.order_id, "cancel refused: paid at WeChat Pay, notify on its way");
            return error(
                StatusCode::CONFLICT,
                "already_paid",
                "the order was paid; it can no longer be cancelled",
                None,
            );
        }
        Err(e) => return pay_unavailable(&e),
    }
    match app
        .orders
        .end(&order.order_id, OrderStatus::Cancelled, now)
        .await
    {
        Ok(EndOutcome::Ended(order)) => {
            tracing::info!(order_id = %order.order_id, member = %order.member.masked(), "order cancelled");
            reply(StatusCode::OK, view(&order))
        }
        Ok(EndOutcome::NotPending(order)) => not_pending(&order),
        Ok(EndOutcome::Missing) => not_found("order_not_found", "no such order"),
        Err(e) => store_failed(&e),
    }
}
