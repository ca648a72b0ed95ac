//! Earn rules end to end: a campaign activated in the Config table (scoped to this test's store,
//! so nothing else on the stack earns differently) doubles what a payment earns, the order shows
//! the explanation and the rules version, and the posting's points follow the decision.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::catalog::Sku;
use linli::ids::{SkuId, StoreId};
use linli::money::Fen;
use linli::rules::earning::{Campaign, CategoryBonus, Channel};
use linli::store::catalog::{CatalogStore, DynamoCatalog};
use linli::store::rules::{Activated, DynamoRules, RulesStore};
use linli_e2e::{call, clock, eventually, login, stack_table, tag, test_store};
use serde_json::{json, Value};

const NAME_PREFIX: &str = "e2e开业双倍";

/// Activates a ×2 campaign for `store` from yesterday for three years (other tests move the
/// devstack clock forward by months); answers the version.
async fn activate_double_points(store: &str) -> u32 {
    let (client, table) = stack_table("ConfigTable").await;
    let rules = DynamoRules::new(client, table);
    let today = clock().await.date();
    loop {
        let current = rules.current().await.unwrap();
        let mut earn = current.earn.clone();
        // Earlier runs' campaigns go: the rules stay within their limits however often this runs.
        earn.campaigns.retain(|c| !c.name.starts_with(NAME_PREFIX));
        earn.categories.retain(|c| !c.name.starts_with(NAME_PREFIX));
        // Only this test's SKUs carry this category: +50% on them.
        earn.categories.push(CategoryBonus {
            name: format!("{NAME_PREFIX}生鲜"),
            category: category(store),
            bonus_bp: 5_000,
        });
        earn.campaigns.push(Campaign {
            name: format!("{NAME_PREFIX}{}", &store[store.len() - 4..]),
            multiplier_bp: 20_000,
            starts_on: today.pred_opt().unwrap().to_string(),
            ends_on: (today + chrono::Days::new(3 * 366)).to_string(),
            weekdays: vec![],
            hours: None,
            stores: vec![store.to_owned()],
            channels: vec![Channel::MiniProgram],
            categories: vec![],
        });
        earn.validate().unwrap();
        // A moment ago: WeChat Pay's `time_end` has whole seconds, so a payment in the same
        // second as the activation would otherwise count as made before it.
        let at = clock().await.plus_ms(-2_000);
        match rules
            .activate(&earn, current.version, "e2e", "store opening", at)
            .await
            .unwrap()
        {
            Activated::Now(version) => return version,
            Activated::Moved => continue,
        }
    }
}

/// The category only `store`'s fresh SKU has.
fn category(store: &str) -> String {
    format!("e2e-fresh-{store}")
}

async fn me(token: &str) -> Value {
    call("GET", "/api/me", Some(token), None).await.1
}

#[tokio::test]
async fn a_campaign_in_force_doubles_the_points_and_the_order_explains_them() {
    let tag = tag();
    let store = test_store(&tag, &[("OIL-5L", "花生油 5L", 8_850, 9)]).await;
    let other_store = test_store(&format!("{tag}x"), &[("OIL-5L", "花生油 5L", 8_850, 9)]).await;
    let version = activate_double_points(store.as_str()).await;
    let (client, table) = stack_table("CatalogTable").await;
    let fresh = Sku {
        sku: SkuId::parse("EGG-10").unwrap(),
        name: "土鸡蛋 10枚".into(),
        price_fen: Fen::new(2_000),
        stock: 9,
        category: category(store.as_str()),
    };
    DynamoCatalog::new(client, table)
        .put_sku(&StoreId::parse(store.as_str()).unwrap(), &fresh)
        .await
        .unwrap();
    let (token, _) = login(&format!("test:o-{tag}:u-{tag}")).await;

    let mut earned = 0;
    let mut orders = Vec::new();
    // Oil 88.50 × 2 = 177; eggs 20.00 × 1.5 (this test's fresh bonus) × 2 = 60: 237.
    let both = json!([{"sku": "OIL-5L", "qty": 1}, {"sku": "EGG-10", "qty": 1}]);
    let oil = json!([{"sku": "OIL-5L", "qty": 1}]);
    for (store, items, expected) in [(store.as_str(), both, 237), (other_store.as_str(), oil, 88)] {
        let (status, order) = call(
            "POST",
            "/api/orders",
            Some(&token),
            Some(json!({"store_id": store, "fulfilment": "pickup", "items": items})),
        )
        .await;
        assert_eq!(status, 201, "{order}");
        let id = order["order_id"].as_str().unwrap();
        orders.push(id.to_owned());
        let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
        assert_eq!(status, 200, "{paid}");
        earned += expected;
        eventually(30, "the order's points", || async {
            (me(&token).await["available"] == earned).then_some(())
        })
        .await;
        let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
        assert_eq!(shown["points"], expected, "{shown}");
        assert!(
            shown["rules_version"].as_u64().unwrap() >= u64::from(version),
            "{shown}"
        );
        let explained = shown["points_explained"].as_str().unwrap();
        if expected == 237 {
            let campaign = format!("{NAME_PREFIX}{}", &store[store.len() - 4..]);
            assert_eq!(
                explained,
                format!("237 = 88.5 base × 2 {campaign} + 20 base × 1.5 {NAME_PREFIX}生鲜 × 2 {campaign}")
            );
        } else {
            assert_eq!(explained, "88 = 88.5 base, rounded down");
        }
    }

    // The history, a posting per page: newest first, each order's posting once, then no cursor.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..5 {
        let path = format!("/api/me/points?limit=1&cursor={cursor}");
        let (status, page) = call("GET", &path, Some(&token), None).await;
        assert_eq!(status, 200, "{page}");
        for line in page["postings"].as_array().unwrap() {
            assert_eq!(
                (line["kind"].as_str(), line["label"].as_str()),
                (Some("pay:order"), Some("订单消费积分"))
            );
            seen.push((
                line["at"].as_str().unwrap().to_owned(),
                line["order_id"].as_str().unwrap().to_owned(),
                line["delta"].as_i64().unwrap(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => break,
        }
    }
    // Newest first (both payments may share WeChat Pay's whole-second time_end).
    assert!(seen.windows(2).all(|w| w[0].0 >= w[1].0), "{seen:?}");
    let mut found: Vec<(String, i64)> = seen
        .into_iter()
        .map(|(_, order, delta)| (order, delta))
        .collect();
    found.sort();
    let mut expected = vec![(orders[0].clone(), 237), (orders[1].clone(), 88)];
    expected.sort();
    assert_eq!(found, expected);
    let (status, refused) = call("GET", "/api/me/points?cursor=junk", Some(&token), None).await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("cursor"))
    );
}

/// Tiers end to end: a ¥20,000 order (on the campaign: ×2) makes its member 金卡 on the
/// posting that records it; the next order earns ×1.5 金卡 × 2 campaign, the history explains
/// it, and `GET /api/me/tier` shows the tier, its growth, the change and what 钻石卡 needs.
#[tokio::test]
async fn the_payment_that_crosses_a_threshold_upgrades_and_the_next_earns_at_gold() {
    let tag = tag();
    let store = test_store(
        &tag,
        &[
            ("TV-85", "85寸电视", 2_000_000, 5),
            ("OIL-5L", "花生油 5L", 8_850, 9),
        ],
    )
    .await;
    activate_double_points(store.as_str()).await;
    let campaign = format!(
        "{NAME_PREFIX}{}",
        &store.as_str()[store.as_str().len() - 4..]
    );
    let (token, _) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let (_, tier) = call("GET", "/api/me/tier", Some(&token), None).await;
    assert_eq!(
        (tier["tier"].as_str(), tier["growth_fen"].as_i64()),
        (Some("regular"), Some(0)),
        "{tier}"
    );

    let mut earned = 0;
    for (sku, expected) in [("TV-85", 40_000), ("OIL-5L", 265)] {
        let items = json!([{"sku": sku, "qty": 1}]);
        let body = json!({"store_id": store.as_str(), "fulfilment": "pickup", "items": items});
        let (status, order) = call("POST", "/api/orders", Some(&token), Some(body)).await;
        assert_eq!(status, 201, "{order}");
        let id = order["order_id"].as_str().unwrap().to_owned();
        let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
        assert_eq!(status, 200, "{paid}");
        earned += expected;
        eventually(30, "the order's points", || async {
            (me(&token).await["available"] == earned).then_some(())
        })
        .await;
    }
    let (status, tier) = call("GET", "/api/me/tier", Some(&token), None).await;
    assert_eq!(status, 200, "{tier}");
    assert_eq!(tier["tier"], "gold", "{tier}");
    assert_eq!(tier["tier_name"], "金卡");
    assert_eq!(tier["multiplier_bp"], 15_000);
    assert_eq!(tier["growth_fen"], 2_008_850);
    assert_eq!(tier["next"]["tier"], "diamond");
    assert_eq!(tier["next"]["needed_fen"], 5_000_000 - 2_008_850);
    assert_eq!(
        tier["review"]["tier"], "gold",
        "kept at the next review: {tier}"
    );
    assert_eq!(tier["review"]["to_keep_fen"], 0);
    let changes = tier["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{tier}");
    assert_eq!(
        (changes[0]["from"].as_str(), changes[0]["to"].as_str()),
        (Some("regular"), Some("gold"))
    );
    assert_eq!(changes[0]["growth_fen"], 2_000_000);
    assert_eq!(me(&token).await["tier"], "金卡");

    let (_, page) = call("GET", "/api/me/points?limit=2", Some(&token), None).await;
    let lines = page["postings"].as_array().unwrap();
    // Both payments may share WeChat Pay's whole-second time_end: compare without order.
    let mut explained: Vec<_> = lines
        .iter()
        .map(|l| l["explained"].as_str().unwrap_or(""))
        .collect();
    explained.sort();
    assert_eq!(
        explained,
        [
            format!("265 = 88.5 base × 1.5 金卡 × 2 {campaign}, rounded down"),
            format!("40000 = 20000 base × 2 {campaign}"),
        ],
        "{page}"
    );
}
