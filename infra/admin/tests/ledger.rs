//! linli-admin's whole-ledger commands against DynamoDB Local, run as the operator runs them:
//! the audit over a clean and a deliberately corrupted ledger, and the report and liability over
//! a known set of postings.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::{adjust_id, admin, client, earn, ledger_table, new_member, on, post};
use linli::ids::{OrderId, PostingId};
use linli::ledger::{Op, Source, Usage};
use linli::money::Points;
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::time::Month;

async fn set_profile(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    member: &str,
    av: AttributeValue,
) {
    client
        .update_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("MEMBER#{member}")))
        .key("sk", AttributeValue::S("PROFILE".into()))
        .update_expression("SET av = :v")
        .expression_attribute_values(":v", av)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn audit_passes_a_clean_ledger_and_names_every_corrupted_member() {
    let client = client();
    let table = ledger_table(&client, "audit").await;
    let ledger = DynamoLedger::new(client.clone(), table.clone());
    let at = on("2026-03", 2);
    let mut members = Vec::new();
    for n in 0..3 {
        let member = new_member(at);
        ledger.open(&member, at).await.unwrap();
        post(
            &ledger,
            &member,
            adjust_id(&format!("A{n}")),
            at,
            earn(Source::Adjust, 40),
        )
        .await;
        members.push(member);
    }
    let spend = Op::Redeem {
        usage: Usage::Goods,
        points: Points::new(15),
    };
    post(&ledger, &members[1], adjust_id("S"), at, spend).await;

    let clean = admin(&["--ledger-table", &table, "audit", "--json"]).await;
    assert_eq!(clean.code, 0, "{clean:?}");
    let report = clean.json();
    assert_eq!(report["members"], 3);
    assert_eq!(report["postings"], 4);
    assert_eq!(report["system_total"], -105);
    assert_eq!(report["members_net"], 105);
    assert_eq!(report["clean"], true);
    let text = admin(&["--ledger-table", &table, "audit"]).await;
    assert_eq!(text.code, 0);
    assert!(text.stdout.contains("No violations"), "{}", text.stdout);

    // A hand edit: the profile no longer matches its postings.
    let victim = members[2].to_string();
    set_profile(&client, &table, &victim, AttributeValue::N("999".into())).await;
    // A profile that cannot even be read.
    let unreadable = new_member(at);
    ledger.open(&unreadable, at).await.unwrap();
    set_profile(
        &client,
        &table,
        unreadable.as_str(),
        AttributeValue::S("lots".into()),
    )
    .await;

    let broken = admin(&["--ledger-table", &table, "audit"]).await;
    assert_eq!(broken.code, 1, "{broken:?}");
    assert!(broken.stdout.contains(&victim), "{}", broken.stdout);
    assert!(
        broken.stdout.contains("Σ lots ≠ available"),
        "{}",
        broken.stdout
    );
    assert!(
        broken.stdout.contains(unreadable.as_str()),
        "{}",
        broken.stdout
    );
    let listed = admin(&["--ledger-table", &table, "audit", "--json"])
        .await
        .json();
    let violations = listed["violations"].as_array().unwrap();
    assert!(violations.iter().any(|v| v["member"] == victim.as_str()));
    assert!(violations
        .iter()
        .any(|v| v["key"].as_str().unwrap().contains(unreadable.as_str())
            && v["violation"].as_str().unwrap().starts_with("unreadable")));
    assert_eq!(listed["clean"], false);
}

/// Three members whose postings in and around March 2026 are known (see the figures asserted).
async fn known_ledger(ledger: &DynamoLedger) {
    let (a, b, c) = (
        new_member(on("2025-01", 1)),
        new_member(on("2025-01", 1)),
        new_member(on("2025-01", 1)),
    );
    for m in [&a, &b, &c] {
        ledger.open(m, on("2025-01", 1)).await.unwrap();
    }
    // A: 100 earned in January 2025; in March: +5 sign-in, −30 goods, 20 held, the rest of the
    // January lot (50) expires, +10 compensation.
    post(
        ledger,
        &a,
        adjust_id("A1"),
        on("2025-01", 10),
        earn(Source::Pay, 100),
    )
    .await;
    post(
        ledger,
        &a,
        adjust_id("A2"),
        on("2026-03", 2),
        earn(Source::SignIn, 5),
    )
    .await;
    let spend = Op::Redeem {
        usage: Usage::Goods,
        points: Points::new(30),
    };
    post(ledger, &a, adjust_id("A3"), on("2026-03", 3), spend).await;
    let order = OrderId::parse("O-HELD").unwrap();
    let hold = Op::Hold {
        order: order.clone(),
        points: Points::new(20),
        expires_at: on("2026-12", 1),
    };
    post(
        ledger,
        &a,
        PostingId::hold_order(&order),
        on("2026-03", 4),
        hold,
    )
    .await;
    let january: Month = "2025-01".parse().unwrap();
    post(
        ledger,
        &a,
        PostingId::expire(&a, january),
        on("2026-03", 5),
        Op::Expire { month: january },
    )
    .await;
    post(
        ledger,
        &a,
        adjust_id("A6"),
        on("2026-03", 6),
        earn(Source::Compensation, 10),
    )
    .await;
    // B: 40 from a till in February; in March a clawback of 60 (20 become debt), then 25 from a
    // group-buy round repay it; 7 more in April.
    post(
        ledger,
        &b,
        adjust_id("B1"),
        on("2026-02", 20),
        earn(Source::Pos, 40),
    )
    .await;
    post(
        ledger,
        &b,
        adjust_id("B2"),
        on("2026-03", 7),
        Op::Clawback {
            points: Points::new(60),
        },
    )
    .await;
    post(
        ledger,
        &b,
        adjust_id("B3"),
        on("2026-03", 8),
        earn(Source::Round, 25),
    )
    .await;
    post(
        ledger,
        &b,
        adjust_id("B4"),
        on("2026-04", 1),
        earn(Source::Pay, 7),
    )
    .await;
    // C: clawed back with nothing to take: 15 owed.
    post(
        ledger,
        &c,
        adjust_id("C1"),
        on("2026-03", 9),
        Op::Clawback {
            points: Points::new(15),
        },
    )
    .await;
}

#[tokio::test]
async fn the_report_and_the_liability_match_a_known_ledger() {
    let client = client();
    let table = ledger_table(&client, "report").await;
    let ledger = DynamoLedger::new(client.clone(), table.clone());
    known_ledger(&ledger).await;

    let run = admin(&[
        "--ledger-table",
        &table,
        "report",
        "--month",
        "2026-03",
        "--json",
    ])
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let r = run.json();
    assert_eq!(r["postings"], 8);
    assert_eq!(r["members"], 3);
    assert_eq!(
        r["issued"],
        serde_json::json!({"signin": 5, "compensation": 10, "round": 25})
    );
    assert_eq!(r["issued_total"], 40);
    assert_eq!(r["redeemed"], serde_json::json!({"goods": 30}));
    assert_eq!(r["expired"], 50);
    assert_eq!(r["compensated"], 10);
    assert_eq!(r["clawed_back"], 75);
    assert_eq!(r["debt_incurred"], 35);
    assert_eq!(r["debt_repaid"], 20);
    let text = admin(&["--ledger-table", &table, "report", "--month", "2026-03"]).await;
    assert!(
        text.stdout.contains("expired (breakage)"),
        "{}",
        text.stdout
    );

    let run = admin(&[
        "--ledger-table",
        &table,
        "liability",
        "--point-value-fen",
        "2",
        "--json",
    ])
    .await;
    assert_eq!(run.code, 0, "{run:?}");
    let l = run.json();
    assert_eq!(l["members"], 3);
    assert_eq!(l["available"], 27, "A 15 + B 12");
    assert_eq!(l["held"], 20);
    assert_eq!(l["outstanding_points"], 47);
    assert_eq!(l["outstanding_fen"], 94);
    assert_eq!(l["debt_points"], 15);
    assert_eq!(l["debt_fen"], 30);
    let months: Vec<(String, String, i64, i64)> = l["by_expiry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["earned"].as_str().unwrap().to_owned(),
                m["expires_on"].as_str().unwrap().to_owned(),
                m["available"].as_i64().unwrap(),
                m["held"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        months,
        vec![
            ("2025-01".into(), "2026-01-31".into(), 0, 20),
            ("2026-03".into(), "2027-03-31".into(), 20, 0),
            ("2026-04".into(), "2027-04-30".into(), 7, 0),
        ]
    );
}
