//! `linli-admin anomalies` against DynamoDB Local: recorded anomalies are listed open (exit 1),
//! resolved once with who and how (a second time exits 1), and leave the open list.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{admin, client, orders_table};
use linli::money::Fen;
use linli::order::{Anomaly, AnomalyKind};
use linli::store::orders::{DynamoOrders, OrderStore};
use linli::time::BusinessTime;

fn anomaly(kind: AnomalyKind, order: &str, transaction: &str, at_ms: i64) -> Anomaly {
    Anomaly {
        kind,
        out_trade_no: order.to_owned(),
        transaction_id: transaction.to_owned(),
        paid_fen: Fen::new(8_800),
        expected_fen: Some(Fen::new(8_000)),
        detail: "test".to_owned(),
        recorded_at: BusinessTime::from_epoch_ms(at_ms).unwrap(),
    }
}

#[tokio::test]
async fn anomalies_are_listed_open_and_resolved_once() {
    let client = client();
    let table = orders_table(&client, "anomalies").await;
    let orders = DynamoOrders::new(client, table.clone());
    let first = anomaly(
        AnomalyKind::AmountMismatch,
        "O-A1",
        "T-1",
        1_795_000_000_000,
    );
    let second = anomaly(AnomalyKind::RefundRefused, "O-A2", "T-2", 1_795_000_060_000);
    assert!(orders.record_anomaly(&second).await.unwrap());
    assert!(orders.record_anomaly(&first).await.unwrap());
    assert!(
        !orders.record_anomaly(&first).await.unwrap(),
        "recorded once"
    );
    let t = ["--orders-table", table.as_str()];
    let list = || async {
        let run = admin(&[t[0], t[1], "anomalies", "list", "--json"]).await;
        let ids: Vec<String> = run.json()["open"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| {
                format!(
                    "{}:{}",
                    a["kind"].as_str().unwrap(),
                    a["transaction_id"].as_str().unwrap()
                )
            })
            .collect();
        (run.code, ids)
    };
    assert_eq!(
        list().await,
        (1, vec![first.id(), second.id()]),
        "oldest first"
    );

    let resolve = |order: &'static str, id: String| async move {
        let args = [
            t[0],
            t[1],
            "anomalies",
            "resolve",
            order,
            &id,
            "--operator",
            "ops-li",
            "--note",
            "refunded by hand",
        ];
        admin(&args).await.code
    };
    assert_eq!(resolve("O-A1", first.id()).await, 0);
    assert_eq!(resolve("O-A1", first.id()).await, 1, "once");
    assert_eq!(resolve("O-NONE", first.id()).await, 1);
    assert_eq!(list().await, (1, vec![second.id()]));
    assert_eq!(resolve("O-A2", second.id()).await, 0);
    assert_eq!(list().await, (0, vec![]));
}
