//! Delivery orders against a quote through the stack (issue 9): the fee paid in points is held
//! with the order and its stock in one transaction, captured by the payment, voided with the
//! stock returned by a cancel or the deadline; too few points is a 409 with the shortfall and
//! nothing held; two members racing for the last unit get one order and one 409. The clock is
//! pinned to a quiet hour (15:00: no peak, the free-delivery threshold lowered to ¥49) and the
//! weather is normal, so the standard fee is ¥5 = 50 points. Dispatching paid deliveries to the
//! courier platforms is `dispatch.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli_e2e::delivery::{grant, me, order, quote, shop, stock};
use linli_e2e::{advance, call, eventually, fire, login, next_hour_of_day, tag};

#[tokio::test]
async fn a_points_fee_is_held_with_the_stock_voided_by_a_cancel_and_captured_by_the_payment() {
    let tag = tag();
    let sku = format!("OIL-{tag}");
    let (store, address) = shop(&tag, &sku, 5).await;
    next_hour_of_day(15).await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    grant(&member, 80, &format!("T-{tag}")).await;
    let lots_before = me(&token).await["lots"].clone();

    let q = quote(&token, &address, &sku, 1).await;
    assert_eq!(
        (q["points"].as_i64(), q["fee_fen"].as_i64()),
        (Some(50), Some(500)),
        "{q}"
    );
    let (status, placed) = order(&token, q["quote_id"].as_str().unwrap(), "points").await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(placed["store_id"], store.as_str());
    assert_eq!(
        placed["amount_fen"], 3_000,
        "the fee is not in the cash amount: {placed}"
    );
    assert_eq!(placed["delivery"]["fee"], "points");
    assert_eq!(placed["delivery"]["points"], 50);
    assert_eq!(placed["delivery"]["platform"], "dada", "{placed}");
    let account = me(&token).await;
    assert_eq!(
        (account["available"].as_i64(), account["held"].as_i64()),
        (Some(30), Some(50))
    );
    assert_eq!(stock(&store, &sku).await, 4);

    // Cancel: the points go back to the lots they came from, the unit back on the shelf.
    let id = placed["order_id"].as_str().unwrap();
    let (status, cancelled) = call(
        "POST",
        &format!("/api/orders/{id}/cancel"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("cancelled")),
        "{cancelled}"
    );
    let account = me(&token).await;
    assert_eq!(
        (account["available"].as_i64(), account["held"].as_i64()),
        (Some(80), Some(0))
    );
    assert_eq!(account["lots"], lots_before);
    assert_eq!(stock(&store, &sku).await, 5);
    let (status, _) = call(
        "POST",
        &format!("/api/orders/{id}/cancel"),
        Some(&token),
        None,
    )
    .await;
    assert_eq!(status, 409, "a second cancel changes nothing");
    assert_eq!(stock(&store, &sku).await, 5, "stock returns once");
    assert_eq!(me(&token).await["available"], 80);

    // Paid: the hold is captured with the payment, which earns its ¥30 of goods.
    let q = quote(&token, &address, &sku, 1).await;
    let (status, placed) = order(&token, q["quote_id"].as_str().unwrap(), "points").await;
    assert_eq!(status, 201, "{placed}");
    let id = placed["order_id"].as_str().unwrap();
    let (status, paid) = call("POST", &format!("/_local/wechatpay/pay/{id}"), None, None).await;
    assert_eq!(status, 200, "{paid}");
    eventually(30, "the capture and the earning", || async {
        let account = me(&token).await;
        (account["available"] == 60 && account["held"] == 0).then_some(())
    })
    .await;
    let (status, history) = call("GET", "/api/me/points", Some(&token), None).await;
    assert_eq!(status, 200);
    let pay = history["postings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["posting_id"] == format!("pay:order:{id}"))
        .cloned()
        .unwrap_or_else(|| panic!("no pay:order posting in {history}"));
    // The hold already took the 50 from available: the capture adds only the earning.
    assert_eq!(pay["delta"], 30, "{pay}");
    assert_eq!(
        stock(&store, &sku).await,
        4,
        "sold: the unit stays out of stock"
    );
    let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(&token), None).await;
    assert_eq!(shown["status"], "paid", "{shown}");
}

#[tokio::test]
async fn too_few_points_is_a_409_with_the_shortfall_and_other_fee_choices_hold_nothing() {
    let tag = tag();
    let sku = format!("OIL-{tag}");
    let (store, address) = shop(&tag, &sku, 5).await;
    next_hour_of_day(15).await;
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    grant(&member, 10, &format!("T-{tag}")).await;
    let q = quote(&token, &address, &sku, 1).await;
    let quote_id = q["quote_id"].as_str().unwrap();

    let (status, refused) = order(&token, quote_id, "points").await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("insufficient_points")),
        "{refused}"
    );
    assert_eq!(
        (refused["shortfall"].as_i64(), refused["available"].as_i64()),
        (Some(40), Some(10))
    );
    let account = me(&token).await;
    assert_eq!(
        (account["available"].as_i64(), account["held"].as_i64()),
        (Some(10), Some(0))
    );
    assert_eq!(stock(&store, &sku).await, 5, "nothing reserved");

    // ¥30 is ¥19 short of the quiet-hour threshold of ¥49.
    let (status, refused) = order(&token, quote_id, "free").await;
    assert_eq!(
        (status, refused["add_for_free_fen"].as_i64()),
        (409, Some(1_900)),
        "{refused}"
    );
    let (status, refused) = order(&token, quote_id, "gold bars").await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("fee"))
    );
    let (status, refused) = order(&token, "forged.quote", "cash").await;
    assert_eq!(
        (status, refused["error"]["field"].as_str()),
        (400, Some("quote_id"))
    );
    let (other, _) = login(&format!("test:o2-{tag}:u2-{tag}")).await;
    let (status, _) = order(&other, quote_id, "cash").await;
    assert_eq!(status, 400, "a quote is its member's own");

    // Cash: the fee joins the amount paid through WeChat Pay.
    let (status, placed) = order(&token, quote_id, "cash").await;
    assert_eq!(status, 201, "{placed}");
    assert_eq!(
        (placed["amount_fen"].as_i64(), placed["goods_fen"].as_i64()),
        (Some(3_500), Some(3_000))
    );
    assert_eq!(me(&token).await["held"], 0);

    // A quote is good for 5 minutes.
    advance("6m").await;
    let (status, expired) = order(&token, quote_id, "cash").await;
    assert_eq!(
        (status, expired["error"]["code"].as_str()),
        (409, Some("quote_expired")),
        "{expired}"
    );
}

#[tokio::test]
async fn two_members_racing_for_the_last_unit_get_one_order_and_a_409_and_the_deadline_returns_it()
{
    let tag = tag();
    let sku = format!("OIL-{tag}");
    let (store, address) = shop(&tag, &sku, 1).await;
    next_hour_of_day(15).await;
    let (a, member_a) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let (b, member_b) = login(&format!("test:o2-{tag}:u2-{tag}")).await;
    grant(&member_a, 80, &format!("T-{tag}")).await;
    grant(&member_b, 80, &format!("T2-{tag}")).await;
    let (qa, qb) = tokio::join!(quote(&a, &address, &sku, 1), quote(&b, &address, &sku, 1));
    let (ra, rb) = tokio::join!(
        order(&a, qa["quote_id"].as_str().unwrap(), "points"),
        order(&b, qb["quote_id"].as_str().unwrap(), "points")
    );
    let mut statuses = [ra.0, rb.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 409], "{ra:?} {rb:?}");
    let (winner, loser, placed, refused) = if ra.0 == 201 {
        (&a, &b, ra.1, rb.1)
    } else {
        (&b, &a, rb.1, ra.1)
    };
    assert_eq!(refused["error"]["code"], "out_of_stock", "{refused}");
    assert_eq!(stock(&store, &sku).await, 0);
    assert_eq!(
        me(loser).await["held"],
        0,
        "the loser's hold was never written"
    );
    assert_eq!(me(winner).await["held"], 50);

    // Unpaid past its deadline: CloseUnpaid closes it, returns the unit and voids the hold.
    advance("16m").await;
    let (status, summary) = fire("HousekeepingFunction", "CloseUnpaid").await;
    assert_eq!(status, 200, "{summary}");
    let id = placed["order_id"].as_str().unwrap();
    let (_, shown) = call("GET", &format!("/api/orders/{id}"), Some(winner), None).await;
    assert_eq!(shown["status"], "closed", "{shown} {summary}");
    assert_eq!(stock(&store, &sku).await, 1);
    let account = me(winner).await;
    assert_eq!(
        (account["available"].as_i64(), account["held"].as_i64()),
        (Some(80), Some(0))
    );
}
