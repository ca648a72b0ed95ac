//! linli-admin's operator commands against DynamoDB Local: how tables are found (flag,
//! environment, a devstack's `/_local/stack`), usage and configuration errors (exit 2, saying
//! what to fix), adjustments made exactly once per ticket (and refused without a trace), a
//! member's look-up, and a staff refund recorded once per ticket while WeChat Pay does not
//! answer.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::stubs::{stack_answering, wechat_pay_answering};
use common::{admin, admin_with, client, ledger_table, new_member, on, orders_table, Run};
use linli::ids::{Identity, MemberId, OpenId, OrderId, StoreId, UnionId};
use linli::ledger::lot_expires_on;
use linli::money::{Fen, Points};
use linli::order::{Fulfilment, Order, OrderStatus, Payment, RefundOrigin, RefundState};
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::store::members::{DynamoMembers, Members};
use linli::store::orders::{DynamoOrders, OrderStore};
use linli::store::refunds::RefundStore;
use linli::wechat::pay_v2::SignType;
use std::collections::HashMap;

#[tokio::test]
async fn tables_come_from_a_flag_the_environment_or_the_devstack_and_mistakes_exit_2() {
    let client = client();
    let table = ledger_table(&client, "edges").await;

    let nowhere = admin(&["audit"]).await;
    assert_eq!(nowhere.code, 2, "{nowhere:?}");
    assert!(nowhere.stderr.contains("--ledger-table") && nowhere.stderr.contains("TABLE_LEDGER"));

    let by_env = admin_with(&["audit", "--json"], &[("TABLE_LEDGER", &table)]).await;
    assert_eq!(by_env.code, 0, "{by_env:?}");
    assert_eq!(by_env.json()["members"], 0);

    let stack = stack_answering(table.clone()).await;
    let by_stack = admin(&["liability", "--stack-url", &stack, "--json"]).await;
    assert_eq!(by_stack.code, 0, "{by_stack:?}");
    assert_eq!(by_stack.json()["outstanding_points"], 0);

    let missing = admin(&["--ledger-table", "no-such-table", "audit"]).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("fix: "), "{}", missing.stderr);

    for args in [
        vec!["--ledger-table", &table, "report", "--month", "2026-13"],
        vec![
            "--ledger-table",
            &table,
            "adjust",
            "01JD0000000000000000000000",
            "0",
            "--reason",
            "r",
            "--operator",
            "o",
        ],
        vec!["--ledger-table", &table, "member", "bob"],
        vec![
            "--ledger-table",
            &table,
            "liability",
            "--point-value-fen",
            "-1",
        ],
    ] {
        let run = admin(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(!run.stderr.trim().is_empty(), "{args:?} says why");
    }
}

async fn paid_order(orders: &DynamoOrders, amount: i64) -> Order {
    let at = on("2026-03", 2);
    let mut order = Order {
        order_id: OrderId::generate(at, u128::from(fastrand::u64(..))),
        member: MemberId::generate(at, u128::from(fastrand::u64(..))),
        payer: OpenId::parse("o-payer").unwrap(),
        store_id: StoreId::parse("sh-001").unwrap(),
        fulfilment: Fulfilment::Delivery,
        address: None,
        lines: vec![],
        goods_fen: Fen::new(amount),
        amount_fen: Fen::new(amount),
        status: OrderStatus::Pending,
        placed_at: at,
        pay_deadline: at.plus_ms(15 * 60 * 1000),
        sign_type: SignType::HmacSha256,
        pay_api: Default::default(),
        prepay_id: "wx-prepay".into(),
        payment: None,
        ended_at: None,
        refund_requested_fen: Fen::ZERO,
        refunded_fen: Fen::ZERO,
        fee_refunded_fen: Fen::ZERO,
        delivery: None,
        stock_reserved: false,
        dispatch: None,
        round: None,
    };
    orders.create(&order).await.unwrap();
    let payment = Payment {
        transaction_id: format!("4200{:016}", fastrand::u64(..1_000_000_000_000)),
        paid_at: at.plus_ms(60_000),
        earned: None,
    };
    orders.mark_paid(&order.order_id, &payment).await.unwrap();
    order.status = OrderStatus::Paid;
    order.payment = Some(payment);
    order
}

const PAY_KEY: &str = "localpayapikey0123456789abcdefgh";

/// `linli-admin refund` of `amount` for `order` by `ticket`, WeChat Pay at `pay_base`.
async fn refund(table: &str, order: &str, amount: &str, ticket: &str, pay_base: &str) -> Run {
    let args = [
        "--orders-table",
        table,
        "refund",
        order,
        amount,
        "--ticket",
        ticket,
        "--reason",
        "broken eggs",
        "--operator",
        "carol",
        "--json",
    ];
    let pay_env = [
        ("WECHAT_PAY_API_BASE", pay_base),
        ("WECHAT_MINI_APP_ID", "wxlocalmini000001"),
        ("WECHAT_PAY_MCH_ID", "1900000109"),
        ("WECHAT_PAY_API_KEY", PAY_KEY),
        ("LINLI_PUBLIC_BASE_URL", "http://127.0.0.1:3000"),
    ];
    admin_with(&args, &pay_env).await
}

#[tokio::test]
async fn a_staff_refund_is_recorded_once_per_ticket_and_asked_again_until_wechat_pay_answers() {
    let client = client();
    let table = orders_table(&client, "refund").await;
    let orders = DynamoOrders::new(client.clone(), table.clone());
    let order = paid_order(&orders, 5_000).await;
    let id = order.order_id.to_string();
    // A port nobody listens on: WeChat Pay does not answer.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);

    for _ in 0..2 {
        let run = refund(&table, &id, "12.50", "R1", &silent).await;
        assert_eq!(run.code, 1, "{run:?}");
        let answer = run.json();
        assert_eq!(answer["outcome"], "unavailable");
        assert_eq!(answer["refund_id"], format!("{id}-SR1"));
        assert_eq!(answer["amount_fen"], 1250);
    }
    let stored = orders.refunds(&order.order_id).await.unwrap();
    assert_eq!(stored.len(), 1, "one refund for one ticket");
    assert_eq!(stored[0].state, RefundState::Requested);
    assert_eq!(stored[0].origin, RefundOrigin::Staff);
    assert_eq!(stored[0].operator.as_deref(), Some("carol"));
    assert_eq!(stored[0].amount_fen, Fen::new(1250));
    let now = orders.get(&order.order_id).await.unwrap().unwrap();
    assert_eq!(
        now.refund_requested_fen,
        Fen::new(1250),
        "asked once, counted once"
    );

    let answering = wechat_pay_answering(PAY_KEY, "SUCCESS").await;
    let asked = refund(&table, &id, "12.50", "R1", &answering).await;
    assert_eq!(asked.code, 0, "{asked:?}");
    assert_eq!(
        asked.json()["outcome"],
        "asked",
        "the same refund, asked again"
    );
    assert_eq!(orders.refunds(&order.order_id).await.unwrap().len(), 1);

    let too_much = refund(&table, &id, "40yuan", "R2", &answering).await;
    assert_eq!(too_much.code, 1, "{too_much:?}");
    assert_eq!(too_much.json()["outcome"], "too_much");
    assert_eq!(too_much.json()["refundable_fen"], 3750);
    let reused = refund(&table, &id, "1.00", "R1", &answering).await;
    assert_eq!(reused.json()["outcome"], "ticket_reused", "{reused:?}");

    let refusing = wechat_pay_answering(PAY_KEY, "NOTENOUGH").await;
    let refused = refund(&table, &id, "all", "R3", &refusing).await;
    assert_eq!(refused.code, 1, "{refused:?}");
    assert_eq!(refused.json()["code"], "NOTENOUGH");
    let failed = orders
        .refund(&order.order_id, &stored_id(&id, "R3"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.state, RefundState::Failed);
    let now = orders.get(&order.order_id).await.unwrap().unwrap();
    assert_eq!(
        now.refund_requested_fen,
        Fen::new(1250),
        "a refused refund is released"
    );

    let unconfigured = admin_with(
        &[
            "--orders-table",
            &table,
            "refund",
            &id,
            "all",
            "--reason",
            "r",
            "--operator",
            "o",
        ],
        &[("WECHAT_PAY_MCH_ID", "")],
    )
    .await;
    assert_eq!(unconfigured.code, 2, "{unconfigured:?}");
    assert!(
        unconfigured.stderr.contains("is not set"),
        "{}",
        unconfigured.stderr
    );
}

fn stored_id(order: &str, ticket: &str) -> linli::ids::RefundId {
    linli::order::staff_refund_id(&OrderId::parse(order).unwrap(), ticket).unwrap()
}

type Item = HashMap<String, AttributeValue>;

/// `linli-admin adjust` of `points` for `member`, by `ticket` when given.
async fn adjust(table: &str, member: &str, points: &str, ticket: Option<&str>) -> Run {
    let mut args = vec!["--ledger-table", table, "adjust", member, points, "--json"];
    args.extend(["--reason", "goodwill: late delivery", "--operator", "alice"]);
    if let Some(ticket) = ticket {
        args.extend(["--ticket", ticket]);
    }
    admin(&args).await
}

/// The record `MEMBER#<member>` / `ADJUST#<ticket>`, if any.
async fn record(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    member: &str,
    ticket: &str,
) -> Option<Item> {
    client
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("MEMBER#{member}")))
        .key("sk", AttributeValue::S(format!("ADJUST#{ticket}")))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

#[tokio::test]
async fn adjustments_post_once_per_ticket_and_an_overdraft_is_refused_without_a_trace() {
    let client = client();
    let table = ledger_table(&client, "adjust").await;
    let ledger = DynamoLedger::new(client.clone(), table.clone());
    let at = on("2026-03", 2);
    let union = format!("u-{:08x}", fastrand::u32(..));
    let identity = Identity::Union(UnionId::parse(&union).unwrap());
    let members = DynamoMembers::new(client.clone(), table.clone());
    let found = members.find_or_create(&identity, new_member(at), at).await;
    let member = found.unwrap().member;
    let id = member.to_string();

    let first = adjust(&table, &id, "+50", Some("T-1")).await;
    assert_eq!(
        (first.code, &first.json()["outcome"]),
        (0, &"posted".into()),
        "{first:?}"
    );
    let again = adjust(&table, &id, "+50", Some("T-1")).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(again.json()["outcome"], "already_recorded");
    assert_eq!(again.json()["available"], 50);
    assert_eq!(
        ledger.all_postings(&member).await.unwrap().len(),
        1,
        "one posting"
    );
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(profile.available, Points::new(50));
    let kept = record(&client, &table, &id, "T-1")
        .await
        .expect("who and why are kept");
    assert_eq!(kept["operator"], AttributeValue::S("alice".into()));
    assert_eq!(
        kept["reason"],
        AttributeValue::S("goodwill: late delivery".into())
    );
    assert_eq!(kept["points"], AttributeValue::N("50".into()));

    let take = adjust(&table, &id, "-80", Some("T-2")).await;
    assert_eq!(take.code, 1, "{take:?}");
    assert_eq!(take.json()["outcome"], "refused");
    let why = take.json()["reason_refused"].as_str().unwrap().to_owned();
    assert!(why.contains("insufficient points"), "{why}");
    assert_eq!(
        ledger.all_postings(&member).await.unwrap().len(),
        1,
        "nothing posted"
    );
    assert!(
        record(&client, &table, &id, "T-2").await.is_none(),
        "nothing recorded"
    );

    let untitled = admin(&[
        "--ledger-table",
        &table,
        "adjust",
        &id,
        "-20",
        "--reason",
        "wrong grant",
        "--operator",
        "bob",
    ])
    .await;
    assert_eq!(untitled.code, 0, "{untitled:?}");
    assert!(
        untitled.stdout.contains("--ticket "),
        "ticket printed: {}",
        untitled.stdout
    );

    let who = format!("union:{union}");
    let shown = admin(&["--ledger-table", &table, "member", &who, "--json"]).await;
    assert_eq!(shown.code, 0, "{shown:?}");
    let shown = shown.json();
    assert_eq!(shown["member"], id.as_str());
    assert_eq!(shown["found_by"], format!("union#{union}"));
    assert_eq!(shown["available"], 30);
    // Adjustments happen now: their lot is the current month's.
    let earned = ledger.all_postings(&member).await.unwrap()[0]
        .request
        .at
        .month();
    let lot = serde_json::json!({"earned": earned.to_string(), "points": 30,
        "expires_on": lot_expires_on(earned).to_string()});
    assert_eq!(shown["lots"], serde_json::json!([lot]));
    assert_eq!(shown["postings"].as_array().unwrap().len(), 2);
    assert_eq!(shown["postings"][0]["delta"], -20, "newest first");
    let text = admin(&["--ledger-table", &table, "member", &id]).await;
    assert!(
        text.stdout.contains("Lots (spent oldest first)"),
        "{}",
        text.stdout
    );

    let audit = admin(&["--ledger-table", &table, "audit"]).await;
    assert_eq!(
        audit.code, 0,
        "the records beside postings leave the audit clean: {audit:?}"
    );
}
