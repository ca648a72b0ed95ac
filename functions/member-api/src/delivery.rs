//! `POST /api/delivery/quote` (seed 000: the delivery fee paid with points).
//!
//! Body `{address: {lat, lng, text}, items: [{sku, qty}], priority?: bool}` → 200 with the
//! signed quote: `{quote_id, expires_at, store: {store_id, name, distance_m, open_orders}, goods_fen,
//! fee_fen, points, free, free_threshold_fen, add_for_free_fen, priority, weather, factors:
//! [{name, effect}], alternatives: [{store_id, name, distance_m}]}` (up to 5). The store is the nearest
//! that has every item in stock within 3 km (else within 5 km); the fee is priced by distance,
//! the points by peak hour, the city's weather (set by operators) and the member's tier. The
//! quote is valid 5 minutes for this member. 409 `no_store` when no store in range can deliver
//! the basket; 400 naming the field for a bad body. The pricing rules are the ones operators set
//! (`linli-admin delivery set`, Config table), else the seed's defaults.

use crate::account::authenticate;
use crate::answer::{error, invalid, reply, store_failed, Refusal};
use crate::orders::{read_address, read_items};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use linli::catalog::{nearest, Store};
use linli::delivery::{choose, make_quote, Candidate, DeliveryRules, Quote, QuoteKey};
use linli::order::{price, ItemRequest, MAX_QTY};
use linli::store::catalog::CatalogStore;
use linli::store::delivery_rules::DeliveryRulesStore;
use linli::store::ledger::{current_tier, LedgerStore};
use linli::store::weather::WeatherStore;
use linli::store::StoreError;
use linli::time::BusinessTime;
use serde_json::{json, Value};

/// Other stores that could deliver, nearest first, at most this many.
const MAX_ALTERNATIVES: usize = 5;

struct Asked {
    address: linli::order::Address,
    items: Vec<ItemRequest>,
    priority: bool,
}

fn read(raw: &[u8]) -> Result<Asked, Refusal> {
    let body: Value = serde_json::from_slice(raw)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| Refusal::from(invalid("body", "the body must be a JSON object")))?;
    let items = read_items(&body)?;
    if items.is_empty() {
        return Err(invalid("items", "a quote needs at least one item").into());
    }
    if let Some(i) = items.iter().position(|i| i.qty <= 0 || i.qty > MAX_QTY) {
        let field = format!("items[{i}].qty");
        return Err(invalid(&field, &format!("quantity must be 1 to {MAX_QTY}")).into());
    }
    let priority = match body.get("priority") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(invalid("priority", "priority must be true or false").into()),
    };
    Ok(Asked {
        address: read_address(&body)?,
        items,
        priority,
    })
}

/// The stores within the maximum range, each priced for the basket (covers = all in stock),
/// with its pickers' load.
async fn candidates<C: CatalogStore>(
    catalog: &C,
    rules: &DeliveryRules,
    asked: &Asked,
    now: BusinessTime,
) -> Result<Vec<(Store, Candidate)>, StoreError> {
    let from = (asked.address.lat, asked.address.lng);
    let mut found = Vec::new();
    for (store, distance_m) in nearest(catalog.stores().await?, from) {
        if distance_m > rules.max_range_m {
            break;
        }
        let priced = price(&asked.items, &catalog.skus(&store.store_id).await?);
        // Only a store that could take the basket has its pickers' load read.
        let open_orders = match &priced {
            Ok(_) => catalog.load(&store.store_id, now).await?,
            Err(_) => 0,
        };
        let candidate = Candidate {
            store_id: store.store_id.clone(),
            name: store.name.clone(),
            distance_m,
            covers: priced.is_ok(),
            goods_fen: priced.map(|p| p.goods_fen.value()).unwrap_or_default(),
            open_orders,
        };
        found.push((store, candidate));
    }
    Ok(found)
}

fn view(quote: &Quote, id: &str, name: &str, others: &[Candidate]) -> Value {
    let p = &quote.price;
    json!({
        "quote_id": id, "expires_at": quote.expires_at.to_string(),
        "store": {"store_id": quote.store_id, "name": name, "distance_m": quote.distance_m,
            "open_orders": quote.open_orders, "picker_capacity": quote.picker_capacity},
        "goods_fen": quote.goods_fen, "fee_fen": p.fee_fen, "points": p.points, "free": p.free,
        "free_threshold_fen": p.free_threshold_fen, "add_for_free_fen": p.add_for_free_fen,
        "priority": quote.priority, "weather": quote.weather, "factors": p.factors,
        "alternatives": others.iter().take(MAX_ALTERNATIVES).map(|c| json!({
            "store_id": c.store_id, "name": c.name, "distance_m": c.distance_m,
        })).collect::<Vec<_>>(),
    })
}

pub async fn quote<L: LedgerStore, M, C: CatalogStore, O>(
    app: &App<L, M, C, O>,
    request: &Request,
    now: BusinessTime,
) -> Response<Body> {
    let session = match authenticate(app, request, now) {
        Ok(session) => session,
        Err(refused) => return refused.into(),
    };
    let asked = match read(request.body().as_ref()) {
        Ok(asked) => asked,
        Err(refused) => return refused.into(),
    };
    let rules = match app.delivery_rules.delivery_rules().await {
        Ok(in_force) => in_force.rules,
        Err(e) => return store_failed(&e),
    };
    let found = match candidates(&app.catalog, &rules, &asked, now).await {
        Ok(found) => found,
        Err(e) => return store_failed(&e),
    };
    let all: Vec<Candidate> = found.iter().map(|(_, c)| c.clone()).collect();
    let Ok(choice) = choose(&rules, all) else {
        tracing::info!(member = %session.member.masked(), stores = found.len(), "no store in range covers the basket");
        let message = "no store within 5 km has every item in stock";
        return error(StatusCode::CONFLICT, "no_store", message, None);
    };
    // The chosen store's city prices the weather (the store may not be the nearest: load).
    let city = found
        .iter()
        .find(|(s, _)| s.store_id == choice.store.store_id)
        .map_or("default", |(s, _)| s.city());
    let weather = app.weather.weather(city);
    let tier = current_tier(&app.ledger, &session.member);
    let (weather, tier) = match tokio::try_join!(weather, tier) {
        Ok(read) => read,
        Err(e) => return store_failed(&e),
    };
    let items = asked.items.iter().map(|i| (i.sku.clone(), i.qty)).collect();
    let (member, address, priority) = (session.member.clone(), asked.address, asked.priority);
    let made = make_quote(
        &rules,
        member,
        address,
        items,
        &choice,
        weather.weather,
        tier,
        priority,
        now,
    );
    let Ok(quote) = made else {
        return error(
            StatusCode::CONFLICT,
            "no_store",
            "no store can deliver this basket",
            None,
        );
    };
    let key = QuoteKey::derive(&app.settings.session_key);
    let Some(id) = key.sign(&quote) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the quote could not be signed",
            None,
        );
    };
    tracing::info!(member = %session.member.masked(), store = %quote.store_id, distance_m = quote.distance_m, fee_fen = quote.price.fee_fen, points = quote.price.points, free = quote.price.free, ?weather.weather, ?tier, "delivery quoted");
    reply(
        StatusCode::OK,
        view(&quote, &id, &choice.store.name, &choice.others),
    )
}
