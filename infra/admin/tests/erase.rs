//! `linli-admin member erase` against DynamoDB Local (PIPL): the member's identities, consents
//! and the payer and address of their orders are gone; the ledger keeps its amounts under the
//! member id (the audit still balances, the balance is still shown); a second run removes
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed step should panic

mod common;

use common::{admin, client, earn, ledger_table, new_member, on, orders_table, post};
use linli::ids::{Identity, OpenId, OrderId, PostingId, StoreId, TicketId};
use linli::ledger::Source;
use linli::money::Fen;
use linli::order::{Address, Fulfilment, Order, OrderStatus};
use linli::store::ledger::DynamoLedger;
use linli::store::members::{DynamoMembers, Members};
use linli::store::orders::{DynamoOrders, OrderStore};
use linli::store::reminders::{DynamoReminders, ReminderStore};
use linli::wechat::pay_v2::SignType;

fn order(member: &linli::ids::MemberId, payer: &OpenId) -> Order {
    let at = on("2026-03", 2);
    Order {
        order_id: OrderId::generate(at, u128::from(fastrand::u64(..))),
        member: member.clone(),
        payer: payer.clone(),
        store_id: StoreId::parse("sh-001").unwrap(),
        fulfilment: Fulfilment::Delivery,
        address: Some(Address {
            lat: 31.22,
            lng: 121.44,
            text: "静安寺路 1 号 1 室 王女士 13800000000".into(),
        }),
        lines: vec![],
        goods_fen: Fen::new(1_000),
        amount_fen: Fen::new(1_000),
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
    }
}

#[tokio::test]
async fn a_members_personal_data_is_erased_once_and_the_ledger_still_balances() {
    let client = client();
    let ledger_name = ledger_table(&client, "erase").await;
    let orders_name = orders_table(&client, "erase").await;
    let at = on("2026-03", 1);
    let members = DynamoMembers::new(client.clone(), ledger_name.clone());
    let openid = OpenId::parse(&format!("o-erase-{:08x}", fastrand::u32(..))).unwrap();
    let identity = Identity::Oa(openid.clone());
    let member = members
        .find_or_create(&identity, new_member(at), at)
        .await
        .unwrap()
        .member;
    let ledger = DynamoLedger::new(client.clone(), ledger_name.clone());
    let grant = PostingId::adjust(&TicketId::parse("T-ERASE-1").unwrap());
    post(&ledger, &member, grant, at, earn(Source::Adjust, 100)).await;
    let reminders = DynamoReminders::new(client.clone(), ledger_name.clone());
    reminders
        .add_consents(&member, &openid, &["tpl".to_owned()])
        .await
        .unwrap();
    let orders = DynamoOrders::new(client.clone(), orders_name.clone());
    let placed = order(&member, &openid);
    orders.create(&placed).await.unwrap();
    // A second order with a dispatch record holding the rider's contact (only its shape
    // matters to the erasure: it is read and written back as a map).
    let delivered = order(&member, &openid);
    orders.create(&delivered).await.unwrap();
    let dispatch: aws_sdk_dynamodb::types::AttributeValue = serde_dynamo::to_attribute_value(
        serde_json::json!({"version": 2, "waybill": {"riders": [{"name": "张师傅", "phone": "13800000000"}]}}),
    )
    .unwrap();
    client
        .update_item()
        .table_name(&orders_name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ORDER#{}", delivered.order_id)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("ORDER".into()),
        )
        .update_expression("SET dispatch = :d")
        .expression_attribute_values(":d", dispatch)
        .send()
        .await
        .unwrap();

    let tables = [
        "--ledger-table",
        ledger_name.as_str(),
        "--orders-table",
        orders_name.as_str(),
    ];
    let erase = || async {
        let mut args = tables.to_vec();
        let id = member.to_string();
        args.extend([
            "member",
            "erase",
            id.as_str(),
            "--operator",
            "ops-li",
            "--reason",
            "PIPL-7",
            "--json",
        ]);
        admin(&args).await
    };
    let run = erase().await;
    assert_eq!(run.code, 0, "{run:?}");
    let erased = &run.json()["erased"];
    assert_eq!(
        (erased["identities"].as_i64(), erased["orders"].as_i64()),
        (Some(1), Some(2)),
        "{erased}"
    );
    assert_eq!(erased["consents"], true);

    assert_eq!(
        members.find(&identity).await.unwrap(),
        None,
        "the OpenID names no one"
    );
    assert!(reminders.consents(&member).await.unwrap().openid.is_none());
    let scrubbed = orders.get(&placed.order_id).await.unwrap().unwrap();
    assert_eq!(
        (scrubbed.payer.as_str(), scrubbed.address.as_ref()),
        ("erased", None)
    );
    assert_eq!(scrubbed.amount_fen, placed.amount_fen, "amounts kept");
    let stored = client
        .get_item()
        .table_name(&orders_name)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("ORDER#{}", delivered.order_id)),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("ORDER".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let dispatch: serde_json::Value =
        serde_dynamo::from_attribute_value(stored["dispatch"].clone()).unwrap();
    assert_eq!(
        dispatch["waybill"]["riders"][0],
        serde_json::json!({"name": "已删除", "phone": ""})
    );
    assert_eq!(dispatch["version"], 2);
    assert_eq!(stored["payer"].as_s().unwrap(), "erased");
    assert!(!stored.contains_key("address"));
    // The ledger is untouched: same balance under the member id, audit clean.
    let mut args = tables.to_vec();
    let id = member.to_string();
    args.extend(["member", id.as_str(), "--json"]);
    let shown = admin(&args).await;
    assert_eq!(shown.json()["available"], 100, "{}", shown.stdout);
    let mut args = tables.to_vec();
    args.push("audit");
    assert_eq!(admin(&args).await.code, 0, "the audit still balances");

    let again = erase().await;
    let erased = &again.json()["erased"];
    assert_eq!(
        (erased["identities"].as_i64(), erased["orders"].as_i64()),
        (Some(0), Some(0)),
        "{erased}"
    );
    assert_eq!(
        (erased["consents"].as_bool(), erased["before"].as_bool()),
        (Some(false), Some(true))
    );
}

#[tokio::test]
async fn members_who_asked_are_erased_with_requested_and_their_request_is_done() {
    let client = client();
    let ledger_name = ledger_table(&client, "erase-requested").await;
    let orders_name = orders_table(&client, "erase-requested").await;
    let at = on("2026-03", 1);
    let members = DynamoMembers::new(client.clone(), ledger_name.clone());
    let openid = OpenId::parse(&format!("o-ask-{:08x}", fastrand::u32(..))).unwrap();
    let identity = Identity::Oa(openid);
    let member = members
        .find_or_create(&identity, new_member(at), at)
        .await
        .unwrap()
        .member;
    let first = members.request_erasure(&member, at).await.unwrap();
    let again = members
        .request_erasure(&member, at.plus_ms(60_000))
        .await
        .unwrap();
    assert_eq!(first, again, "asked once");

    let tables = [
        "--ledger-table",
        ledger_name.as_str(),
        "--orders-table",
        orders_name.as_str(),
    ];
    let erase = || async {
        let mut args = tables.to_vec();
        args.extend([
            "member",
            "erase",
            "--requested",
            "--operator",
            "ops-li",
            "--reason",
            "DELETE /api/me",
            "--json",
        ]);
        admin(&args).await
    };
    let run = erase().await;
    assert_eq!(run.code, 0, "{run:?}");
    let done = run.json()["members"].as_array().unwrap().clone();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0]["member"], member.as_str());
    assert_eq!(members.find(&identity).await.unwrap(), None);
    let none = erase().await;
    assert_eq!(
        none.json()["members"].as_array().unwrap().len(),
        0,
        "the request is done"
    );
}
