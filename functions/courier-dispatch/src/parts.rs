//! The pieces of a dispatch that are not its steps: the shipment a platform is sent, the
//! waybill kept with its promise, the cash fee's refund, Dada's callback token, and the wall
//! clock.

use linli::courier::client::Couriers;
use linli::courier::{Platform, Shipment};
use linli::delivery::DeliveryRules;
use linli::money::Fen;
use linli::order::{delivery_fee_refund_id, Order, Refund, RefundOrigin, RefundState, Waybill};
use linli::paying::PayGateway;
use linli::refunding::{self, Started};
use linli::store::catalog::CatalogStore;
use linli::store::delivery_rules::DeliveryRulesStore;
use linli::store::refunds::RefundStore;
use linli::store::StoreError;
use linli::time::BusinessTime;

/// What the rider needs, from the order and its store.
pub(crate) async fn shipment<C: CatalogStore>(
    catalog: &C,
    order: &Order,
    token: Option<&str>,
    couriers: &Couriers,
    now: BusinessTime,
) -> Result<Shipment, StoreError> {
    let store = catalog.store(&order.store_id).await?;
    let address = order.address.clone().unwrap_or(linli::order::Address {
        lat: 0.0,
        lng: 0.0,
        text: String::new(),
    });
    let items: i64 = order.lines.iter().map(|l| l.qty).sum();
    let (lat, lng) = linli::courier::wgs84_to_gcj02(address.lat, address.lng);
    Ok(Shipment {
        order_id: order.order_id.clone(),
        store_id: order.store_id.to_string(),
        store_name: store.map(|s| s.name).unwrap_or_default(),
        receiver_address: address.text,
        receiver_lat: lat,
        receiver_lng: lng,
        receiver_name: format!("邻里会员 {}", order.member.masked()),
        goods_fen: order.goods_fen.value(),
        items: u32::try_from(items.max(1)).unwrap_or(u32::MAX),
        weight_g: 1_000,
        callback_url: token
            .map(|t| couriers.config.dada_callback(t))
            .unwrap_or_default(),
        timestamp: now.epoch_ms() / 1000,
    })
}

/// The waybill a platform created (or that a settle found live), with its promise.
pub(crate) async fn waybill<R: DeliveryRulesStore>(
    rules: &R,
    platform: Platform,
    waybill_id: String,
    fee_fen: Option<i64>,
    now: BusinessTime,
) -> Result<Waybill, StoreError> {
    let rules = rules
        .delivery_rules()
        .await
        .map(|r| r.rules)
        .unwrap_or_else(|_| DeliveryRules::default());
    let minutes = rules
        .platforms
        .iter()
        .find(|t| t.platform == platform)
        .map_or(60, |t| t.promised_minutes);
    Ok(Waybill::new(
        platform,
        waybill_id,
        now,
        now.plus_ms(i64::from(minutes) * 60_000),
        fee_fen,
    ))
}

/// An unguessable per-delivery token for Dada's callback URL (128 bits from the OS, hex).
pub(crate) fn new_token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // The OS source failing is near impossible; the token is then still unique, and a
        // forged callback is only a hint anyway (money moves after re-querying Dada).
        bytes = (u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..))).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Wall-clock Unix milliseconds: whether a platform call is still in flight is a question
/// about real time (the HTTP timeout), not business time.
pub(crate) fn wall_ms() -> i64 {
    linli::time::wall_ms()
}

/// Refunds the cash delivery fee of `order` (no platform took it): recorded, then asked of
/// WeChat Pay, under one id per order (`<order>-F`), so a retry asks again rather than twice.
/// False when WeChat Pay did not answer: try again later.
pub(crate) async fn refund_cash_fee<O: RefundStore>(
    orders: &O,
    pay: &PayGateway,
    order: &Order,
    now: BusinessTime,
) -> Result<bool, StoreError> {
    let fee = order.delivery.as_ref().map_or(0, |d| d.fee_fen);
    let (Some(payment), true) = (order.payment.as_ref(), fee > 0) else {
        return Ok(true);
    };
    let Ok(refund_id) = delivery_fee_refund_id(&order.order_id) else {
        tracing::error!(order_id = %order.order_id, "no refund id for the delivery fee: refund it by hand");
        return Ok(true);
    };
    let refund = Refund {
        refund_id,
        order_id: order.order_id.clone(),
        member: order.member.clone(),
        transaction_id: payment.transaction_id.clone(),
        total_fen: order.amount_fen,
        amount_fen: Fen::new(fee),
        origin: RefundOrigin::DeliveryFee,
        reason: "配送未能成行，配送费原路退回".to_owned(),
        operator: None,
        state: RefundState::Requested,
        requested_at: now,
        counts_against_order: true,
        wechat_refund_id: None,
        settled_at: None,
        clawback: None,
        growth: None,
    };
    match refunding::start(orders, pay, refund, now).await? {
        Started::Existing(r) if r.state == RefundState::Failed => {
            tracing::error!(order_id = %order.order_id, refund = %r.refund_id, "the delivery fee's refund failed at WeChat Pay: an operator must refund it (the message stays until the DLQ)");
            Ok(false)
        }
        Started::Refused { code, message } => {
            tracing::error!(order_id = %order.order_id, code, message, "WeChat Pay refused the delivery fee's refund: retried, then the DLQ for an operator");
            Ok(false)
        }
        Started::Asked(r) | Started::Existing(r) => {
            tracing::warn!(order_id = %order.order_id, refund = %r.refund_id, fee_fen = fee, state = ?r.state, "cash delivery fee refunded");
            Ok(true)
        }
        Started::Unavailable(why) => {
            tracing::warn!(order_id = %order.order_id, why, "WeChat Pay did not answer the fee's refund: later");
            Ok(false)
        }
        other => {
            tracing::error!(order_id = %order.order_id, outcome = ?other, "the delivery fee was not refunded: an operator must look");
            Ok(true)
        }
    }
}
