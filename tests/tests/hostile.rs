//! Hostile requests against the running stack (issue 13, part 3), one table: forged and missing
//! signatures, foreign or junk ids, entity-laden, malformed and oversized bodies, forged
//! sessions — on every public route. Each gets its documented status, and nothing changes: the
//! items in the Ledger, Orders and GroupBuys tables are the same count after as before.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use aws_sdk_dynamodb::types::Select;
use linli_e2e::{base, stack_table};

/// (what, method, path, content type, body, the documented status)
type Row = (
    &'static str,
    &'static str,
    String,
    &'static str,
    String,
    u16,
);

fn rows() -> Vec<Row> {
    let xxe = "<!DOCTYPE x [<!ENTITY e \"boom\">]><xml><a>&e;</a></xml>".to_owned();
    let laughs = format!(
        "<!DOCTYPE l [<!ENTITY a \"lol\">{}]><xml><a>&a9;</a></xml>",
        (1..10)
            .map(|i| format!("<!ENTITY a{i} \"&a{};&a{};\">", i - 1, i - 1))
            .collect::<String>()
    );
    let huge = format!("<xml><a>{}</a></xml>", "x".repeat(70 * 1024));
    let push = "<xml><ToUserName>gh</ToUserName><MsgType>text</MsgType></xml>".to_owned();
    let xml = "text/xml";
    let json = "application/json";
    vec![
        (
            "OA push, forged signature",
            "POST",
            "/wechat/callback?timestamp=1&nonce=1&signature=forged".into(),
            xml,
            push.clone(),
            401,
        ),
        (
            "OA push, no signature",
            "POST",
            "/wechat/callback".into(),
            xml,
            push,
            401,
        ),
        (
            "Pay notify, malformed",
            "POST",
            "/wechat/pay/notify".into(),
            xml,
            "<xml><out_trade_no>".into(),
            400,
        ),
        (
            "Pay notify, XXE",
            "POST",
            "/wechat/pay/notify".into(),
            xml,
            xxe.clone(),
            400,
        ),
        (
            "Pay notify, billion laughs",
            "POST",
            "/wechat/pay/notify".into(),
            xml,
            laughs,
            400,
        ),
        (
            "Pay notify, oversize",
            "POST",
            "/wechat/pay/notify".into(),
            xml,
            huge.clone(),
            413,
        ),
        (
            "refund notify, XXE",
            "POST",
            "/wechat/pay/refund-notify".into(),
            xml,
            xxe,
            400,
        ),
        (
            "Dada callback, malformed",
            "POST",
            "/courier/dada/callback/junk-token".into(),
            json,
            "{}".into(),
            400,
        ),
        (
            "Dada callback, unknown delivery and token",
            "POST",
            "/courier/dada/callback/junk-token".into(),
            json,
            r#"{"client_id":"c1","order_id":"O-JUNK-1","order_status":3,"update_time":1795000000,"signature":"0"}"#.into(),
            404,
        ),
        (
            "unknown courier",
            "POST",
            "/courier/nobody/callback/x".into(),
            json,
            "{}".into(),
            404,
        ),
        (
            "SF callback, wrong path secret",
            "POST",
            "/courier/sf/callback/wrong".into(),
            json,
            "{}".into(),
            404,
        ),
        (
            "Meituan callback, wrong path secret",
            "POST",
            "/courier/meituan/callback/wrong".into(),
            "application/x-www-form-urlencoded",
            "a=1".into(),
            404,
        ),
        (
            "member API, no session",
            "GET",
            "/api/me".into(),
            json,
            String::new(),
            401,
        ),
        (
            "member API, junk order id, no session",
            "GET",
            "/api/orders/..%2F..%2Fetc".into(),
            json,
            String::new(),
            401,
        ),
        (
            "member API, erase without a session",
            "DELETE",
            "/api/me".into(),
            json,
            String::new(),
            401,
        ),
        (
            "group-buy page, junk round",
            "GET",
            "/api/group-buys/%00%FF".into(),
            json,
            String::new(),
            404,
        ),
        (
            "POS sale, unsigned",
            "POST",
            "/pos/sales".into(),
            json,
            "{}".into(),
            401,
        ),
    ]
}

/// Items in the stack's table `logical_id` (a counting scan, all pages).
async fn items(logical_id: &str) -> i64 {
    let (client, table) = stack_table(logical_id).await;
    let mut total = 0;
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(&table)
            .select(Select::Count)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        total += i64::from(page.count);
        match page.last_evaluated_key {
            Some(next) if !next.is_empty() => start = Some(next),
            _ => return total,
        }
    }
}

async fn counts() -> [i64; 3] {
    [
        items("LedgerTable").await,
        items("OrdersTable").await,
        items("GroupBuysTable").await,
    ]
}

/// Waits for the work earlier tests left in the queues, so only this test's requests could
/// change the tables.
async fn settle() {
    for queue in [
        "PointsPostingsQueue",
        "CourierDispatchQueue",
        "CompensationsQueue",
        "CutoffPagesQueue",
    ] {
        let (sqs, url) = linli_e2e::stack_queue(queue).await;
        linli_e2e::drained(&sqs, &url).await;
    }
}

#[tokio::test]
async fn every_hostile_request_gets_its_documented_status_and_changes_nothing() {
    settle().await;
    let before = counts().await;
    let http = reqwest::Client::new();
    let mut wrong = Vec::new();
    for (what, method, path, content_type, body, expected) in rows() {
        let request = http
            .request(method.parse().unwrap(), format!("{}{path}", base()))
            .header("content-type", content_type)
            .body(body);
        let status = request.send().await.unwrap().status().as_u16();
        if status != expected {
            wrong.push(format!("{what}: {status}, documented {expected}"));
        }
    }
    for token in ["forged.token", "MDFLQVYyWjBYMDAw.1.forged", ""] {
        let forged = http
            .get(format!("{}/api/me", base()))
            .header("authorization", format!("Bearer {token}"))
            .send()
            .await
            .unwrap();
        if forged.status().as_u16() != 401 {
            wrong.push(format!(
                "member API, forged session {token:?}: {}",
                forged.status()
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
    settle().await;
    let after = counts().await;
    assert_eq!(
        after, before,
        "items in Ledger, Orders, GroupBuys unchanged"
    );
}
