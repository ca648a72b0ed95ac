//! In-store sales end to end (pos-api): a till posts a signed sale naming the member by the code
//! `GET /api/me/member-code` shows; the points arrive once (through points-postings.fifo) however
//! often the till repeats it; partial returns claw back at most the earning, beyond the balance
//! as debt; forged, stale, foreign and expired requests are refused and change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

use linli::ids::{MemberId, PostingId, SaleId, StoreId, TicketId};
use linli::ledger::{Op, PostingRequest, Usage};
use linli::money::Points;
use linli::pos::signature::{sign, Signed};
use linli::pos::{till_key, MasterKey, TillKey};
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::store::pos::{DynamoPos, PosStore};
use linli_e2e::{
    advance, base, call, clock, drained, eventually, local_setting, login, stack_queue,
    stack_table, tag, test_store,
};
use serde_json::{json, Value};

/// A store's till, signing with the key derived from local.env's master key.
struct Till {
    store: StoreId,
    key: TillKey,
}

impl Till {
    fn of(store: &StoreId) -> Self {
        let master = MasterKey::new(local_setting("LINLI_POS_MASTER_KEY").into_bytes()).unwrap();
        Self {
            store: store.clone(),
            key: till_key(&master, store),
        }
    }

    /// Signs `body` for `path` at the devstack's now and posts it.
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let timestamp = clock().await.epoch_seconds();
        self.post_at(path, &body.to_string(), timestamp).await
    }

    async fn post_at(&self, path: &str, body: &str, timestamp: i64) -> (u16, Value) {
        let timestamp = timestamp.to_string();
        let nonce = format!("nonce-{}", tag());
        let signature = sign(
            &self.key,
            &Signed {
                method: "POST",
                path,
                timestamp: &timestamp,
                nonce: &nonce,
                body: body.as_bytes(),
            },
        );
        let headers = [
            ("x-linli-store", self.store.to_string()),
            ("x-linli-timestamp", timestamp),
            ("x-linli-nonce", nonce),
            ("x-linli-signature", signature),
        ];
        send(path, body, &headers).await
    }
}

async fn send(path: &str, body: &str, headers: &[(&str, String)]) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(format!("{}{path}", base()))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn member_code(token: &str) -> String {
    let (status, body) = call("GET", "/api/me/member-code", Some(token), None).await;
    assert_eq!(status, 200, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

async fn me(token: &str) -> Value {
    let (status, me) = call("GET", "/api/me", Some(token), None).await;
    assert_eq!(status, 200, "{me}");
    me
}

/// Waits until the member's balances are (available, debt).
async fn balances_become(token: &str, available: i64, debt: i64) -> Value {
    eventually(30, "the points", || async {
        let me = me(token).await;
        (me["available"] == available && me["debt"] == debt).then_some(me)
    })
    .await
}

fn sale(store: &StoreId, sale: &str, code: &str, goods_fen: i64) -> Value {
    json!({
        "store_id": store, "till": "T1", "sale_id": sale, "member_code": code,
        "goods_fen": goods_fen,
    })
}

fn give_back(store: &StoreId, ret: &str, sale: &str, fen: i64) -> Value {
    json!({"store_id": store, "till": "T2", "return_id": ret, "sale_id": sale, "returned_fen": fen})
}

fn error_code(answer: &(u16, Value)) -> (u16, Option<&str>) {
    (answer.0, answer.1["error"]["code"].as_str())
}

/// The deltas of the postings of `kind` in the member's history.
fn lines(me: &Value, kind: &str) -> Vec<i64> {
    me["postings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == kind)
        .map(|p| p["delta"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_sale_posted_twice_earns_once() {
    let tag = tag();
    let store = test_store(&tag, &[]).await;
    let till = Till::of(&store);
    let (token, member) = login(&format!("test:o-{tag}:u-{tag}")).await;
    let code = member_code(&token).await;
    let body = sale(&store, &format!("S-{tag}"), &code, 12_990);

    let first = till.post("/pos/sales", &body).await;
    assert_eq!(first.0, 201, "{}", first.1);
    assert_eq!(
        first.1["points_earned"], 129,
        "1 yuan = 1 point, rounded down"
    );
    assert_eq!(
        first.1["member"],
        MemberId::parse(&member).unwrap().masked()
    );
    assert_eq!(first.1["replayed"], false);
    // The till retries (a lost answer): the same sale, re-signed; and a replay of its bytes.
    let again = till.post("/pos/sales", &body).await;
    assert_eq!(again.0, 200, "{}", again.1);
    assert_eq!(again.1["replayed"], true);
    assert_eq!(again.1["points_earned"], first.1["points_earned"]);

    let me = balances_become(&token, 129, 0).await;
    let (sqs, queue) = stack_queue("PointsPostingsQueue").await;
    drained(&sqs, &queue).await;
    let me_after = self::me(&token).await;
    assert_eq!(me_after["available"], 129, "earned exactly once");
    assert_eq!(lines(&me, "earn:pos"), vec![129]);

    // Another sale under the same id is refused; a retry after the code expired still answers.
    let other = sale(&store, &format!("S-{tag}"), &code, 99_990);
    let reused = till.post("/pos/sales", &other).await;
    assert_eq!(error_code(&reused), (409, Some("sale_id_reused")));
    advance("3m").await;
    let late = till.post("/pos/sales", &body).await;
    assert_eq!((late.0, &late.1["replayed"]), (200, &json!(true)));
    assert_eq!(self::me(&token).await["available"], 129);
}

#[tokio::test]
async fn partial_returns_claw_back_at_most_the_earning() {
    let tag = tag();
    let store = test_store(&tag, &[]).await;
    let till = Till::of(&store);
    let (token, _) = login(&format!("test:o-{tag}")).await;
    let sale_id = format!("S-{tag}");
    let code = member_code(&token).await;
    let sold = till
        .post("/pos/sales", &sale(&store, &sale_id, &code, 10_000))
        .await;
    assert_eq!((sold.0, &sold.1["points_earned"]), (201, &json!(100)));
    balances_become(&token, 100, 0).await;

    // Three near-thirds: 33 + 33 + 34 = 100, never more; repeats and extras are refused.
    let r1 = till
        .post("/pos/returns", &give_back(&store, "R1", &sale_id, 3_333))
        .await;
    assert_eq!((r1.0, &r1.1["points_clawed_back"]), (201, &json!(33)));
    let r1_again = till
        .post("/pos/returns", &give_back(&store, "R1", &sale_id, 3_333))
        .await;
    assert_eq!(
        (
            r1_again.0,
            &r1_again.1["points_clawed_back"],
            &r1_again.1["replayed"]
        ),
        (200, &json!(33), &json!(true))
    );
    let reused = till
        .post("/pos/returns", &give_back(&store, "R1", &sale_id, 100))
        .await;
    assert_eq!(error_code(&reused), (409, Some("return_id_reused")));
    let r2 = till
        .post("/pos/returns", &give_back(&store, "R2", &sale_id, 3_333))
        .await;
    assert_eq!((r2.0, &r2.1["points_clawed_back"]), (201, &json!(33)));
    let too_much = till
        .post("/pos/returns", &give_back(&store, "R3", &sale_id, 3_335))
        .await;
    assert_eq!(error_code(&too_much), (409, Some("exceeds_sale")));
    assert_eq!(too_much.1["error"]["field"], "returned_fen");
    let unknown = till
        .post("/pos/returns", &give_back(&store, "R4", "NO-SUCH-SALE", 1))
        .await;
    assert_eq!(error_code(&unknown), (404, Some("sale_not_found")));
    let r5 = till
        .post("/pos/returns", &give_back(&store, "R5", &sale_id, 3_334))
        .await;
    assert_eq!(
        (
            r5.0,
            &r5.1["points_clawed_back"],
            &r5.1["returned_total_fen"]
        ),
        (201, &json!(34), &json!(10_000))
    );

    let me = balances_become(&token, 0, 0).await;
    let mut clawed = lines(&me, "claw:pos");
    clawed.sort_unstable();
    assert_eq!(clawed, vec![-34, -33, -33], "{me}");
}

#[tokio::test]
async fn a_return_after_the_member_spent_becomes_debt() {
    let tag = tag();
    let store = test_store(&tag, &[]).await;
    let till = Till::of(&store);
    let (token, member) = login(&format!("test:o-{tag}")).await;
    let sale_id = format!("S-{tag}");
    let code = member_code(&token).await;
    let sold = till
        .post("/pos/sales", &sale(&store, &sale_id, &code, 10_000))
        .await;
    assert_eq!(sold.0, 201, "{}", sold.1);
    balances_become(&token, 100, 0).await;
    // The member spends 80 points (an operator's redemption, straight to the ledger).
    let (client, table) = stack_table("LedgerTable").await;
    let member = MemberId::parse(&member).unwrap();
    let spend = PostingRequest::new(
        PostingId::adjust(&TicketId::parse(&format!("SPEND-{tag}")).unwrap()),
        member,
        clock().await,
        vec![Op::Redeem {
            usage: Usage::Adjust,
            points: Points::new(80),
        }],
    );
    DynamoLedger::new(client, table).post(&spend).await.unwrap();
    // Everything comes back: 100 points are clawed back, 20 available, 80 become debt.
    let back = till
        .post("/pos/returns", &give_back(&store, "R1", &sale_id, 10_000))
        .await;
    assert_eq!((back.0, &back.1["points_clawed_back"]), (201, &json!(100)));
    balances_become(&token, 0, 80).await;
}

#[tokio::test]
async fn forged_stale_foreign_and_expired_requests_are_refused_and_change_nothing() {
    let tag = tag();
    let store = test_store(&tag, &[]).await;
    let till = Till::of(&store);
    let (token, _) = login(&format!("test:o-{tag}")).await;
    let code = member_code(&token).await;
    let sale_id = |case: &str| format!("S-{tag}-{case}");
    let body = |case: &str| sale(&store, &sale_id(case), &code, 5_000);
    let now = clock().await.epoch_seconds();

    // A signature by another key, a store not in the catalog, a stale or future timestamp.
    let forger = Till {
        store: store.clone(),
        key: Till::of(&StoreId::parse("SOMEWHERE-ELSE").unwrap()).key,
    };
    let forged = forger.post("/pos/sales", &body("forged")).await;
    assert_eq!(error_code(&forged), (401, Some("bad_signature")));
    let stranger = Till::of(&StoreId::parse(&format!("GONE-{tag}")).unwrap());
    let foreign = sale(&stranger.store, &sale_id("foreign"), &code, 5_000);
    let unknown = stranger.post("/pos/sales", &foreign).await;
    assert_eq!(error_code(&unknown), (401, Some("unknown_store")));
    for (case, timestamp) in [("stale", now - 6 * 60), ("future", now + 6 * 60)] {
        let answer = till
            .post_at("/pos/sales", &body(case).to_string(), timestamp)
            .await;
        assert_eq!(
            error_code(&answer),
            (401, Some("stale_timestamp")),
            "{case}"
        );
    }
    let unsigned = send("/pos/sales", &body("unsigned").to_string(), &[]).await;
    assert_eq!(error_code(&unsigned), (401, Some("bad_signature")));

    // Member codes: forged, or older than 2 minutes.
    let forged_code = sale(&store, &sale_id("code"), &format!("{code}x"), 5_000);
    let answer = till.post("/pos/sales", &forged_code).await;
    assert_eq!(error_code(&answer), (401, Some("member_code_invalid")));
    advance("2m1s").await;
    let expired = till.post("/pos/sales", &body("expired")).await;
    assert_eq!(error_code(&expired), (401, Some("member_code_expired")));

    // Bad fields are named; oversized bodies are refused before anything else.
    let mut bad = body("bad");
    bad["goods_fen"] = json!(12.5);
    let answer = till.post("/pos/sales", &bad).await;
    assert_eq!(
        (answer.0, answer.1["error"]["field"].as_str()),
        (400, Some("goods_fen"))
    );
    let huge = format!(r#"{{"pad": "{}"}}"#, "x".repeat(65 * 1024));
    let answer = till.post_at("/pos/sales", &huge, now).await;
    assert_eq!(error_code(&answer), (413, Some("too_large")));

    // Nothing was written, nothing was earned.
    let (client, table) = stack_table("OrdersTable").await;
    let pos = DynamoPos::new(client, table);
    for case in [
        "forged", "stale", "future", "unsigned", "code", "expired", "bad",
    ] {
        let id = SaleId::parse(&sale_id(case)).unwrap();
        assert_eq!(pos.sale(&store, &id).await.unwrap(), None, "{case}");
    }
    let id = SaleId::parse(&sale_id("foreign")).unwrap();
    assert_eq!(pos.sale(&stranger.store, &id).await.unwrap(), None);
    let (sqs, queue) = stack_queue("PointsPostingsQueue").await;
    drained(&sqs, &queue).await;
    let me = me(&token).await;
    assert_eq!(
        (me["available"].as_i64(), lines(&me, "earn:pos").len()),
        (Some(0), 0)
    );
    let (status, _) = call("GET", "/api/me/member-code", None, None).await;
    assert_eq!(status, 401, "a member code needs a session");
}
