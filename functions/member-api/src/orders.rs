//! Orders: `GET /api/orders/{id}`, `POST /api/orders/{id}/cancel` (placing is `placing.rs`).
//!
//! An order is paid through WeChat Pay (`pay/unifiedorder`, JSAPI, `out_trade_no` = order id,
//! `time_expire` = the payment deadline); its answer carries the `wx.requestPayment`
//! parameters, signed with the order's sign type; pay-notify marks the order paid, housekeeping
//! closes it unpaid after the deadline. Cancelling (or closing) puts the lines back in stock in
//! the same transaction and voids a delivery fee's points hold. Another member's order is a
//! 404, never a 403: ids are not confirmed.

use crate::account::authenticate;
use crate::answer::{error, invalid, not_found, reply, store_failed, Refusal};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::catalog::valid_coordinate;
use linli::ids::OrderId;
use linli::order::{Address, ItemRequest, Order, OrderStatus, MAX_LINES};
use linli::paying::Prepared;
use linli::store::ledger::LedgerStore;
use linli::store::orders::{EndOutcome, OrderStore};
use linli::store::refunds::RefundStore;
use linli::time::BusinessTime;
use linli::wechat::pay_api::{CloseOutcome, PayApiError};
use serde_json::{json, Value};

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

/// The order as the member sees it.
pub(crate) fn view(order: &Order) -> Value {
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
    if let Some(d) = &order.delivery {
        v["delivery"] = json!({
            "fee": d.fee, "fee_fen": d.fee_fen, "points": d.points, "fee_waived": d.fee_waived,
            "priority": d.priority, "distance_m": d.distance_m, "factors": d.factors,
            "platform": d.route.platform, "platform_name": d.route.platform.name(),
            "fallbacks": d.route.fallbacks, "promised_minutes": d.route.promised_minutes,
            "route_reasons": d.route.reasons,
        });
        if let Some(dispatch) = &order.dispatch {
            v["delivery"]["dispatch"] = json!({
                "waybill": dispatch.waybill.as_ref().map(|w| json!({
                    "platform": w.platform, "platform_name": w.platform.name(),
                    "waybill_id": w.waybill_id, "created_at": w.created_at.to_string(),
                    "promised_at": w.promised_at.to_string(), "fee_fen": w.fee_fen,
                })),
                "failed_at": dispatch.failed_at.map(|t| t.to_string()),
                "tries": dispatch.tries.iter().map(|t| json!({
                    "platform": t.platform, "at": t.at.to_string(), "outcome": t.outcome,
                })).collect::<Vec<_>>(),
            });
            if let Some(tracking) = crate::timeline::tracking(dispatch) {
                v["delivery"]["tracking"] = tracking;
            }
        }
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

pub(crate) fn pay_unavailable(e: &PayApiError) -> Response<Body> {
    tracing::warn!(error = %e, "WeChat Pay did not prepare or close the payment");
    error(
        StatusCode::BAD_GATEWAY,
        "wechatpay_unavailable",
        "WeChat Pay did not answer as expected; retry",
        None,
    )
}

pub(crate) fn pay_params<L, M, C, O>(
    app: &App<L, M, C, O>,
    order: &Order,
    now: BusinessTime,
) -> Value {
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
    let mut body = match with_refunds(app, &order).await {
        Ok(body) => body,
        Err(e) => return store_failed(&e),
    };
    if order.status == OrderStatus::Pending && now < order.pay_deadline {
        body["pay_params"] = pay_params(app, &order, now);
    }
    reply(StatusCode::OK, body)
}

/// The order as the member sees it, with its refunds and what is left to refund once paid.
pub(crate) async fn with_refunds<L, M, C, O: OrderStore + RefundStore>(
    app: &App<L, M, C, O>,
    order: &Order,
) -> Result<Value, linli::store::StoreError> {
    let mut body = view(order);
    if order.status == OrderStatus::Paid {
        let refunds = app.orders.refunds(&order.order_id).await?;
        body["refunds"] = refunds.iter().map(crate::refunds::view).collect();
        body["refundable_fen"] = order.refundable().value().into();
        body["refunded_fen"] = order.refunded_fen.value().into();
    }
    Ok(body)
}

/// Voids the points hold of an order that ended unpaid (idempotent: `void:order:<id>`). A
/// failure is logged: housekeeping voids the hold at its expiry anyway.
pub(crate) async fn void_hold<L: LedgerStore>(ledger: &L, order: &Order) {
    let Some(void) = order.void_posting() else {
        return;
    };
    match ledger.post(&void).await {
        Ok(posted) => {
            tracing::info!(order_id = %order.order_id, member = %order.member.masked(), returned = posted.outcome.result.available_delta.value(), "delivery fee hold voided")
        }
        Err(e) => {
            tracing::warn!(order_id = %order.order_id, error = %e, "hold not voided now: housekeeping voids it at its expiry")
        }
    }
}

pub async fn cancel<L: LedgerStore, M, C, O: OrderStore>(
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
        // Ended by an earlier try (or the sweep): its hold's void may still be due.
        void_hold(&app.ledger, &order).await;
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
            void_hold(&app.ledger, &order).await;
            reply(StatusCode::OK, view(&order))
        }
        Ok(EndOutcome::NotPending(order)) => {
            // Ended by an earlier try (or the sweep): its hold's void may still be due.
            void_hold(&app.ledger, &order).await;
            not_pending(&order)
        }
        Ok(EndOutcome::Missing) => not_found("order_not_found", "no such order"),
        Err(e) => store_failed(&e),
    }
}
