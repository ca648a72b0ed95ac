//! Delivery quotes through the stack (issue 9, first part): the nearest store with the basket in
//! stock is chosen, the fee is priced in cash and in points with every factor listed, the
//! city's weather set by operators and priority move the points, and a basket no store in range
//! can deliver is a 409. The clock is pinned to 10:00 (no peak, no quiet-hour threshold).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::delivery::Weather;
use linli::store::weather::{DynamoWeather, WeatherStore};
use linli::time::BusinessTime;
use linli_e2e::{call, login, next_hour_of_day, stack_table, tag, test_store_at};
use serde_json::{json, Value};

async fn quote(token: &str, body: Value) -> (u16, Value) {
    call("POST", "/api/delivery/quote", Some(token), Some(body)).await
}

#[tokio::test]
async fn a_quote_prices_the_fee_in_points_with_every_factor_and_the_weather_moves_it() {
    let tag = tag();
    // Somewhere no other test puts stores: a near one with the basket, a nearer one without.
    let (lat, lng) = (30.60 + f64::from(fastrand::u8(..)) / 10_000.0, 104.06);
    let sku = format!("RICE-{tag}");
    let near = test_store_at(
        &format!("{tag}n"),
        (lat + 0.009, lng),
        &[(&sku, "五常大米 5kg", 3_990, 3)],
    )
    .await;
    test_store_at(
        &format!("{tag}e"),
        (lat + 0.001, lng),
        &[(&sku, "五常大米 5kg", 3_990, 0)],
    )
    .await;
    let now = next_hour_of_day(10).await;
    let (token, _) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let address = json!({"lat": lat, "lng": lng, "text": "成都市武侯区 测试路 1 号"});
    let basket = json!([{"sku": sku, "qty": 1}]);

    let (status, q) = quote(&token, json!({"address": address, "items": basket})).await;
    assert_eq!(status, 200, "{q}");
    assert_eq!(
        q["store"]["store_id"],
        near.as_str(),
        "the nearest with stock: {q}"
    );
    assert_eq!(
        (q["fee_fen"].as_i64(), q["points"].as_i64()),
        (Some(500), Some(50)),
        "{q}"
    );
    assert_eq!(
        (q["free"].as_bool(), q["add_for_free_fen"].as_i64()),
        (Some(false), Some(5_900 - 3_990))
    );
    assert_eq!(q["factors"][0]["effect"], "¥5.00");
    // Valid 5 minutes from the request (the devstack clock runs on from `now`).
    let expires = BusinessTime::parse_rfc3339(q["expires_at"].as_str().unwrap()).unwrap();
    let valid_ms = expires.epoch_ms() - now.epoch_ms();
    assert!((300_000..310_000).contains(&valid_ms), "{q}");
    assert!(q["quote_id"].as_str().unwrap().contains('.'));

    let (client, table) = stack_table("ConfigTable").await;
    let weather = DynamoWeather::new(client, table);
    let at = linli_e2e::clock().await;
    weather
        .set_weather("e2e", Weather::Rain, "e2e", at)
        .await
        .unwrap();
    let (_, rainy) = quote(
        &token,
        json!({"address": address, "items": basket, "priority": true}),
    )
    .await;
    weather
        .set_weather("e2e", Weather::Normal, "e2e", at)
        .await
        .unwrap();
    // 50 × 1.3 = 65, + 30 for priority; cash ¥5 + ¥3.
    assert_eq!(
        (rainy["points"].as_i64(), rainy["fee_fen"].as_i64()),
        (Some(95), Some(800)),
        "{rainy}"
    );
    let names: Vec<&str> = rainy["factors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(
        names.contains(&"雨天") && names.contains(&"优先配送"),
        "{names:?}"
    );

    let two = json!([{"sku": sku, "qty": 4}]);
    let (status, none) = quote(&token, json!({"address": address, "items": two})).await;
    assert_eq!(
        (status, none["error"]["code"].as_str()),
        (409, Some("no_store")),
        "{none}"
    );
    let far = json!({"lat": lat + 0.2, "lng": lng, "text": "20 km away"});
    let (status, _) = quote(&token, json!({"address": far, "items": basket})).await;
    assert_eq!(status, 409);
    let (status, bad) = quote(
        &token,
        json!({"address": address, "items": [{"sku": sku, "qty": 0}]}),
    )
    .await;
    assert_eq!(
        (status, bad["error"]["field"].as_str()),
        (400, Some("items[0].qty")),
        "{bad}"
    );
    let (status, _) = call("POST", "/api/delivery/quote", None, Some(json!({}))).await;
    assert_eq!(status, 401);
}
