//! member-api end to end: login, points, stores; orders are in `orders.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::ids::{MemberId, PostingId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::Points;
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::time::BusinessTime;
use linli_e2e::{call, login, stack_table};
use serde_json::json;

#[tokio::test]
async fn a_member_logs_in_sees_their_points_and_bad_sessions_are_refused() {
    let tag = linli_e2e::tag();

    // One person, one member: the same code twice, and another OpenID with the same UnionID.
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    assert_eq!(login(&format!("test:o-{tag}:u-{tag}")).await.1, member);
    assert_eq!(
        login(&format!("test:o2-{tag}:u-{tag}")).await.1,
        member,
        "UnionID first"
    );
    let (_, loner) = login(&format!("test:o3-{tag}")).await;
    assert_ne!(loner, member);

    let (status, me) = call("GET", "/api/me", Some(&token), None).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        (me["member_id"].as_str(), me["available"].as_i64()),
        (Some(member.as_str()), Some(0))
    );

    // Points posted to the ledger show up (a sign-in, applied straight to the table).
    let (client, table) = stack_table("LedgerTable").await;
    let ledger = DynamoLedger::new(client, table);
    let member_id = MemberId::parse(&member).unwrap();
    let at = BusinessTime::from_epoch_ms(1_795_521_600_000).unwrap();
    let signin = PostingRequest::new(
        PostingId::sign_in(&member_id, at.date()),
        member_id.clone(),
        at,
        vec![Op::Earn {
            source: Source::SignIn,
            points: Points::new(5),
        }],
    );
    ledger.post(&signin).await.unwrap();
    let (_, me) = call("GET", "/api/me", Some(&token), None).await;
    assert_eq!(me["available"], 5);
    assert_eq!(
        me["lots"],
        json!([{ "month": "2026-11", "points": 5, "expires_on": "2027-11-30" }])
    );
    assert_eq!(me["postings"][0]["kind"], "signin");
    assert_eq!(me["postings"][0]["delta"], 5);

    // Refusals.
    let (status, body) = call("GET", "/api/me", None, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let (status, _) = call("GET", "/api/me", Some(&format!("{token}x")), None).await;
    assert_eq!(status, 401);
    let (status, body) = call(
        "POST",
        "/api/session",
        None,
        Some(json!({ "code": "not-a-test-code" })),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("login_refused"))
    );
    let (status, body) = call("POST", "/api/session", None, Some(json!({}))).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("code"))
    );
    let (status, _) = call("GET", "/api/nowhere", Some(&token), None).await;
    assert_eq!(status, 404);

    // Two hours and a bit later the session has expired (the devstack clock moves instantly).
    let (status, _) = call(
        "POST",
        "/_local/clock",
        None,
        Some(json!({ "advance": "2h1m" })),
    )
    .await;
    assert_eq!(status, 200);
    let (status, body) = call("GET", "/api/me", Some(&token), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("session_expired"))
    );
}

#[tokio::test]
async fn stores_are_listed_nearest_first_with_their_skus_and_bad_queries_are_refused() {
    use linli::catalog::{Sku, Store};
    use linli::ids::{SkuId, StoreId};
    use linli::money::Fen;
    use linli::store::catalog::{CatalogStore, DynamoCatalog};

    let (client, table) = stack_table("CatalogTable").await;
    let catalog = DynamoCatalog::new(client, table);
    let tag = linli_e2e::tag();
    let store = |suffix: &str, lat: f64, lng: f64| Store {
        store_id: StoreId::parse(&format!("T-{tag}-{suffix}")).unwrap(),
        name: format!("test store {suffix}"),
        lat,
        lng,
        hours: "07:00-22:00".into(),
        city: String::new(),
    };
    let (near, far) = (
        store("near", 31.2305, 121.4738),
        store("far", 31.2500, 121.5000),
    );
    catalog.put_store(&near).await.unwrap();
    catalog.put_store(&far).await.unwrap();
    let milk = Sku {
        sku: SkuId::parse("MILK-1L").unwrap(),
        name: "鲜牛奶 1L".into(),
        price_fen: Fen::new(1590),
        stock: 7,
        category: "dairy".into(),
    };
    catalog.put_sku(&near.store_id, &milk).await.unwrap();

    let (status, body) = call("GET", "/api/stores?lat=31.2304&lng=121.4737", None, None).await;
    assert_eq!(status, 200, "{body}");
    let listed = body["stores"].as_array().unwrap();
    let position = |id: &StoreId| {
        listed
            .iter()
            .position(|s| s["store_id"] == id.as_str())
            .unwrap()
    };
    assert!(
        position(&near.store_id) < position(&far.store_id),
        "nearest first"
    );
    let near_line = &listed[position(&near.store_id)];
    assert!(
        near_line["distance_m"].as_u64().unwrap() < 50,
        "{near_line}"
    );

    let (status, body) = call(
        "GET",
        &format!("/api/stores/{}/skus", near.store_id),
        None,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["skus"],
        json!([{ "sku": "MILK-1L", "name": "鲜牛奶 1L", "price_fen": 1590, "stock": 7, "category": "dairy" }])
    );
    let (status, body) = call("GET", "/api/stores/NO-SUCH-STORE/skus", None, None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("store_not_found"))
    );
    let (status, body) = call("GET", "/api/stores?lat=north&lng=121.4", None, None).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("lat"))
    );
    let (status, _) = call("GET", "/api/stores?lat=95&lng=121.4", None, None).await;
    assert_eq!(status, 400);
    let (status, body) = call("GET", "/api/stores?lat=31.2", None, None).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("lng"))
    );
}

#[tokio::test]
async fn expiring_points_are_the_lots_due_within_the_window() {
    let tag = linli_e2e::tag();
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let member = MemberId::parse(&member).unwrap();
    let (client, table) = stack_table("LedgerTable").await;
    let ledger = DynamoLedger::new(client, table);
    // 6 points earned 12 months ago (their lot's last day is the end of this month) and 9 now.
    let now = linli_e2e::clock().await;
    let a_year_ago = now.month().plus(-12).start().plus_ms(3_600_000);
    for (at, points) in [(a_year_ago, 6), (now, 9)] {
        let request = PostingRequest::new(
            PostingId::sign_in(&member, at.date()),
            member.clone(),
            at,
            vec![Op::Earn {
                source: Source::SignIn,
                points: Points::new(points),
            }],
        );
        ledger.post(&request).await.unwrap();
    }

    let (status, soon) = call("GET", "/api/me/expiring", Some(&token), None).await;
    assert_eq!(status, 200, "{soon}");
    assert_eq!(
        (soon["within_days"].as_u64(), soon["total"].as_i64()),
        (Some(30), Some(6)),
        "{soon}"
    );
    let lot = &soon["lots"][0];
    assert_eq!(lot["month"], a_year_ago.month().to_string());
    assert!(lot["days_left"].as_i64().unwrap() <= 31, "{lot}");
    // This month's 9 points last more than a year.
    let (_, year) = call("GET", "/api/me/expiring?days=366", Some(&token), None).await;
    assert_eq!(year["total"], 6, "{year}");

    for bad in ["0", "367", "x", "-1"] {
        let (status, refused) = call(
            "GET",
            &format!("/api/me/expiring?days={bad}"),
            Some(&token),
            None,
        )
        .await;
        assert_eq!(
            (status, refused["error"]["field"].as_str()),
            (400, Some("days")),
            "{bad}"
        );
    }
    let (status, _) = call("GET", "/api/me/expiring", None, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_member_asks_to_be_erased_once_and_an_operator_carries_it_out() {
    let tag = linli_e2e::tag();
    let code = format!("test:o-{tag}:u-{tag}");
    let (token, member) = login(&code).await;
    let (status, asked) = call("DELETE", "/api/me", Some(&token), None).await;
    assert_eq!(status, 202, "{asked}");
    assert_eq!(asked["erasure"], "requested");
    let (status, again) = call("DELETE", "/api/me", Some(&token), None).await;
    assert_eq!(
        (status, &again["requested_at"]),
        (202, &asked["requested_at"]),
        "once"
    );
    let (status, _) = call("DELETE", "/api/me", None, None).await;
    assert_eq!(status, 401, "a session is needed");

    // What `linli-admin member erase --requested` does: afterwards the same WeChat user is a
    // stranger (a new member), and the request is done.
    let (client, ledger) = stack_table("LedgerTable").await;
    let (_, orders) = stack_table("OrdersTable").await;
    let pending = linli::store::erase::requested(&client, &ledger)
        .await
        .unwrap();
    let id = MemberId::parse(&member).unwrap();
    assert!(pending.contains(&id));
    let at = linli_e2e::clock().await;
    let erased = linli::store::erase::erase_member(&client, &ledger, &orders, &id, at).await;
    assert_eq!(erased.unwrap().identities, 2, "the OpenID and the UnionID");
    assert_ne!(
        login(&code).await.1,
        member,
        "a new member: nothing links them any more"
    );
    let pending = linli::store::erase::requested(&client, &ledger)
        .await
        .unwrap();
    assert!(!pending.contains(&id));
}
