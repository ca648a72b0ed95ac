//! The pieces of a dispatch that are not its steps: the shipment a platform is sent, the
//! waybill kept with its promise, Dada's callback token, and the wall clock.

use linli::courier::client::Couriers;
use linli::courier::{Platform, Shipment};
use linli::delivery::DeliveryRules;
use linli::order::{Order, Waybill};
use linli::store::catalog::CatalogStore;
use linli::store::delivery_rules::DeliveryRulesStore;
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
    Ok(Waybill {
        platform,
        waybill_id,
        created_at: now,
        promised_at: now.plus_ms(i64::from(minutes) * 60_000),
        fee_fen,
    })
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

/// Wall-clock Unix milliseconds. STYLE 11's exception: whether a platform call is still in
/// flight is a question about real time (the HTTP timeout), not business time, and no event
/// carries the moment of this redelivery.
#[allow(clippy::disallowed_methods)]
pub(crate) fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}
