//! Browsing (no token: it comes before login): `GET /api/stores?lat=&lng=` and
//! `GET /api/stores/{id}/skus`.

use crate::answer::{invalid, not_found, reply, store_failed};
use crate::App;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use linli::catalog::{nearest, valid_coordinate};
use linli::ids::StoreId;
use linli::store::catalog::CatalogStore;
use serde_json::{json, Value};

/// A query coordinate; `Err(name)` when present but not a number.
fn coordinate(request: &Request, name: &'static str) -> Result<Option<f64>, &'static str> {
    let params = request.query_string_parameters();
    let Some(text) = params.first(name) else {
        return Ok(None);
    };
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .map(Some)
        .ok_or(name)
}

pub async fn stores<L, M, C: CatalogStore, O>(
    app: &App<L, M, C, O>,
    request: &Request,
) -> Response<Body> {
    let (lat, lng) = match (coordinate(request, "lat"), coordinate(request, "lng")) {
        (Ok(lat), Ok(lng)) => (lat, lng),
        (Err(field), _) | (_, Err(field)) => {
            return invalid(field, &format!("{field} must be a number of degrees"))
        }
    };
    let from = match (lat, lng) {
        (Some(lat), Some(lng)) if valid_coordinate(lat, lng) => Some((lat, lng)),
        (None, None) => None,
        (Some(_), Some(_)) => return invalid("lat", "lat/lng is not a place on Earth"),
        (None, Some(_)) => return invalid("lat", "lat is required with lng"),
        (Some(_), None) => return invalid("lng", "lng is required with lat"),
    };
    let all = match app.catalog.stores().await {
        Ok(all) => all,
        Err(e) => return store_failed(&e),
    };
    let listed: Vec<Value> = match from {
        Some(from) => nearest(all, from)
            .into_iter()
            .map(|(s, d)| json!({ "store_id": s.store_id, "name": s.name, "lat": s.lat, "lng": s.lng, "hours": s.hours, "distance_m": d }))
            .collect(),
        None => all
            .into_iter()
            .map(|s| json!({ "store_id": s.store_id, "name": s.name, "lat": s.lat, "lng": s.lng, "hours": s.hours }))
            .collect(),
    };
    reply(StatusCode::OK, json!({ "stores": listed }))
}

pub async fn skus<L, M, C: CatalogStore, O>(app: &App<L, M, C, O>, id: &str) -> Response<Body> {
    let Ok(store) = StoreId::parse(id) else {
        return not_found("store_not_found", "no such store");
    };
    match app.catalog.store(&store).await {
        Ok(Some(_)) => {}
        Ok(None) => return not_found("store_not_found", "no such store"),
        Err(e) => return store_failed(&e),
    }
    match app.catalog.skus(&store).await {
        Ok(skus) => {
            let listed: Vec<Value> = skus
                .into_iter()
                .map(|s| json!({ "sku": s.sku, "name": s.name, "price_fen": s.price_fen.value(), "stock": s.stock, "category": s.category }))
                .collect();
            reply(StatusCode::OK, json!({ "skus": listed }))
        }
        Err(e) => store_failed(&e),
    }
}
