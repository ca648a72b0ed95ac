//! `linli-admin round` against DynamoDB Local: a round file checked field by field (nothing
//! written when invalid), created once, listed, and shown with each SKU's progress.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{admin, client, group_buys_table};

const ROUND: &str = r#"
round_id = "R-TEST-TUE"
store_id = "SH-JINGAN-01"
community = "静安寺小区 2 群"
title = "周二集单"
cutoff_at = "2099-12-08T20:00:00+08:00"
fulfil_on = "2099-12-09"
handover = "pickup"

[[skus]]
sku = "EGG-30"
name = "土鸡蛋 30 枚"
kind = "hot"
price_fen = 2990
min_qty = 20

[[skus]]
sku = "CAKE-SET"
name = "节气糕点礼盒"
kind = "bundle"
price_fen = 8800
min_qty = 10
max_qty = 30
per_member = 2
"#;

fn file(name: &str, text: &str) -> String {
    let path =
        std::env::temp_dir().join(format!("linli-round-{name}-{:08x}.toml", fastrand::u32(..)));
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[tokio::test]
async fn a_round_is_checked_created_once_listed_and_shown() {
    let table = group_buys_table(&client(), "rounds").await;
    let bad = file("bad", &ROUND.replace("max_qty = 30", "max_qty = 5"));
    let run = admin(&["--group-buys-table", &table, "round", "create", &bad]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("skus[1].max_qty"), "{run:?}");
    let listed = admin(&["--group-buys-table", &table, "round", "list", "--json"]).await;
    assert_eq!(listed.json()["rounds"].as_array().unwrap().len(), 0);

    let good = file("good", ROUND);
    let run = admin(&["--group-buys-table", &table, "round", "create", &good]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("EGG-30"), "{}", run.stdout);
    let again = admin(&["--group-buys-table", &table, "round", "create", &good]).await;
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("exists already"), "{again:?}");

    let listed = admin(&["--group-buys-table", &table, "round", "list", "--json"]).await;
    let rounds = listed.json()["rounds"].as_array().unwrap().clone();
    assert_eq!(rounds.len(), 1);
    assert_eq!(rounds[0]["status"], "open");
    let shown = admin(&[
        "--group-buys-table",
        &table,
        "round",
        "show",
        "R-TEST-TUE",
        "--json",
    ])
    .await;
    assert_eq!(shown.code, 0, "{shown:?}");
    let skus = shown.json()["skus"].as_array().unwrap().clone();
    assert_eq!(skus[1]["max_qty"], 30);
    assert_eq!(skus[0]["joined"], 0);
    assert_eq!(skus[0]["goes_ahead"], false);
    let missing = admin(&["--group-buys-table", &table, "round", "show", "R-NONE"]).await;
    assert_eq!(missing.code, 1, "{missing:?}");
}

#[tokio::test]
async fn a_closed_rounds_outputs_export_as_csv_and_json() {
    use linli::groupbuy::RoundStatus;
    use linli::ids::RoundId;
    use linli::store::rounds::DynamoRounds;
    let table = group_buys_table(&client(), "export").await;
    let good = file("export", ROUND);
    let run = admin(&["--group-buys-table", &table, "round", "create", &good]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let open = admin(&[
        "--group-buys-table",
        &table,
        "round",
        "export",
        "R-TEST-TUE",
    ])
    .await;
    assert_eq!(open.code, 1, "{open:?}");
    assert!(
        open.stderr.contains("when the cutoff closes it"),
        "{open:?}"
    );
    // What group-cutoff writes when it closes the round.
    let rounds = DynamoRounds::new(client(), table.clone());
    let id = RoundId::parse("R-TEST-TUE").unwrap();
    let list =
        serde_json::json!({ "lines": [{ "sku": "EGG-30", "name": "土鸡蛋 30 枚", "qty": 24 }] });
    rounds
        .put_output(&id, "LIST#SH-JINGAN-01", &list)
        .await
        .unwrap();
    let batch = serde_json::json!({ "members": [{ "order_id": "O-1", "member": "M1", "skus": { "EGG-30": 24 } }] });
    rounds
        .put_output(&id, "BATCH#静安寺小区 2 群#PAGE#0", &batch)
        .await
        .unwrap();
    let metrics = serde_json::json!({ "orders": 3, "confirmed_fen": 71_760 });
    rounds.put_output(&id, "METRICS", &metrics).await.unwrap();
    for (from, to) in [
        (RoundStatus::Open, RoundStatus::Closing),
        (RoundStatus::Closing, RoundStatus::Closed),
    ] {
        assert!(rounds.advance(&id, from, to).await.unwrap());
    }
    let csv = admin(&[
        "--group-buys-table",
        &table,
        "round",
        "export",
        "R-TEST-TUE",
        "--csv",
    ])
    .await;
    assert_eq!(csv.code, 0, "{csv:?}");
    assert_eq!(
        csv.stdout.lines().collect::<Vec<_>>(),
        [
            "section,who,sku,name,qty",
            "purchase,SH-JINGAN-01,EGG-30,土鸡蛋 30 枚,24",
            "batch,M1,EGG-30,,24"
        ]
    );
    let json = admin(&[
        "--group-buys-table",
        &table,
        "round",
        "export",
        "R-TEST-TUE",
        "--json",
    ])
    .await;
    assert_eq!(json.json()["metrics"]["orders"], 3);
    assert_eq!(json.json()["batch"].as_array().unwrap().len(), 1);
}

const TEMPLATE: &str = r#"
template_id = "JINGAN-2"
store_id = "SH-JINGAN-01"
community = "静安寺小区 2 群"
title = "周二/周四集单"
handover = "delivery"

[recurrence]
weekdays = [2, 4]
cutoff_minutes = 1200
fulfil_after_days = 1

[[skus]]
sku = "EGG-30"
name = "土鸡蛋 30 枚"
kind = "hot"
price_fen = 2990
min_qty = 20
"#;

/// `linli-admin --group-buys-table <table> round template <args…>`.
async fn template(table: &str, args: &[&str]) -> common::Run {
    let mut all = vec!["--group-buys-table", table, "round", "template"];
    all.extend_from_slice(args);
    admin(&all).await
}

#[tokio::test]
async fn a_template_is_checked_stored_once_opens_its_first_round_and_stops() {
    let table = group_buys_table(&client(), "templates").await;
    let bad = file(
        "tpl-bad",
        &TEMPLATE.replace("weekdays = [2, 4]", "weekdays = [8]"),
    );
    let run = template(&table, &["create", &bad]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("recurrence"), "{run:?}");

    let good = file("tpl", TEMPLATE);
    let run = template(&table, &["create", &good, "--json"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let first = run.json()["first_round"].as_str().unwrap().to_owned();
    assert!(first.starts_with("JINGAN-2-2"), "{first}");
    let again = template(&table, &["create", &good]).await;
    assert_eq!(again.code, 1, "{again:?}");
    assert!(again.stderr.contains("exists already"), "{again:?}");
    let shown = admin(&["--group-buys-table", &table, "round", "show", &first]).await;
    assert_eq!(shown.code, 0, "the first round is open: {shown:?}");

    assert_eq!(template(&table, &["stop", "JINGAN-2"]).await.code, 0);
    let listed = template(&table, &["list", "--json"]).await;
    assert_eq!(listed.json()["templates"][0]["active"], false, "{listed:?}");
    assert_eq!(template(&table, &["stop", "NOPE"]).await.code, 1);
}
