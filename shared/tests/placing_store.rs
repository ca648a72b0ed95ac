//! Placing a delivery order against DynamoDB Local: the order, its stock and its points hold are
//! one transaction; a payment that finds the hold gone (voided at its expiry before the payment
//! came) is a `hold_lapsed` anomaly, the fee waived, and the payment's posting captures nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{at, client, ledger_table, new_member, orders_table, NOW_MS};
use linli::catalog::Sku;
use linli::delivery::{Heat, Platform, Route};
use linli::ids::{OpenId, OrderId, PostingId, SkuId, StoreId, TicketId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::{Fen, Points};
use linli::order::{
    Anomaly, AnomalyKind, Delivery, FeeChoice, Fulfilment, Order, OrderLine, OrderStatus, Payment,
    PAYMENT_WINDOW_MS,
};
use linli::store::catalog::{CatalogStore, DynamoCatalog};
use linli::store::ledger::{DynamoLedger, LedgerStore};
use linli::store::orders::{DynamoOrders, OrderStore};
use linli::store::placing::{settle_fee_hold, Placed};
use linli::wechat::pay_v2::SignType;

fn delivery_order(member: &linli::ids::MemberId, store: &StoreId) -> Order {
    let placed = at(NOW_MS);
    let route = Route {
        store_id: store.clone(),
        platform: Platform::Dada,
        fallbacks: vec![Platform::Meituan],
        promised_minutes: 40,
        courier_fee_fen: 600,
        reasons: vec![],
    };
    let heat = Heat::of((31.2, 121.4), placed, &route, 500, 50);
    Order {
        order_id: OrderId::parse(&format!("O-{:08x}", fastrand::u32(..))).unwrap(),
        member: member.clone(),
        payer: OpenId::parse("o-payer").unwrap(),
        store_id: store.clone(),
        fulfilment: Fulfilment::Delivery,
        address: None,
        lines: vec![OrderLine {
            sku: SkuId::parse("OIL-5L").unwrap(),
            name: "菜籽油 5L".into(),
            qty: 1,
            price_fen: Fen::new(3_000),
            category: String::new(),
        }],
        goods_fen: Fen::new(3_000),
        amount_fen: Fen::new(3_000),
        status: OrderStatus::Pending,
        placed_at: placed,
        pay_deadline: placed.plus_ms(PAYMENT_WINDOW_MS),
        sign_type: SignType::HmacSha256,
        pay_api: Default::default(),
        prepay_id: "wx-prepay".into(),
        payment: None,
        ended_at: None,
        refund_requested_fen: Fen::ZERO,
        refunded_fen: Fen::ZERO,
        fee_refunded_fen: Fen::ZERO,
        delivery: Some(Delivery {
            fee: FeeChoice::Points,
            fee_fen: 0,
            points: 50,
            priority: false,
            distance_m: 1_200,
            factors: vec![],
            quoted_at: placed,
            route,
            heat,
            fee_waived: false,
        }),
        stock_reserved: true,
        dispatch: None,
        round: None,
    }
}

#[tokio::test]
async fn a_payment_after_the_hold_lapsed_waives_the_fee_once_and_captures_nothing() {
    let client = client();
    let ledger = DynamoLedger::new(client.clone(), ledger_table(&client, "lapsed").await);
    let catalog_table = orders_table(&client, "lapsed-catalog").await;
    let catalog = DynamoCatalog::new(client.clone(), catalog_table.clone());
    let orders = DynamoOrders::new(client.clone(), orders_table(&client, "lapsed").await)
        .with_catalog(catalog_table);
    let store = StoreId::parse("SH-TEST").unwrap();
    let sku = Sku {
        sku: SkuId::parse("OIL-5L").unwrap(),
        name: "菜籽油 5L".into(),
        price_fen: Fen::new(3_000),
        stock: 1,
        category: String::new(),
    };
    catalog.put_sku(&store, &sku).await.unwrap();
    let member = new_member();
    ledger.open(&member, at(NOW_MS)).await.unwrap();
    let grant = PostingRequest::new(
        PostingId::adjust(&TicketId::parse("T-LAPSED").unwrap()),
        member.clone(),
        at(NOW_MS),
        vec![Op::Earn {
            source: Source::Adjust,
            points: Points::new(200),
        }],
    );
    ledger.post(&grant).await.unwrap();

    let order = delivery_order(&member, &store);
    assert!(matches!(
        orders.place(&order, &ledger).await.unwrap(),
        Placed::Placed { .. }
    ));
    // The last unit is taken: a second order for it is refused and holds nothing.
    let second = delivery_order(&member, &store);
    assert!(matches!(
        orders.place(&second, &ledger).await.unwrap(),
        Placed::OutOfStock { available: 0, .. }
    ));
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(
        (profile.available, profile.held),
        (Points::new(150), Points::new(50))
    );

    // The hold is voided at its expiry (the order's own close never ran), then the payment lands.
    let void = PostingRequest::new(
        PostingId::void_order(&order.order_id),
        member.clone(),
        at(NOW_MS + 50 * 60_000),
        vec![Op::Void {
            order: order.order_id.clone(),
        }],
    );
    ledger.post(&void).await.unwrap();
    let payment = Payment {
        transaction_id: "4200-LAPSED".into(),
        paid_at: at(NOW_MS + 60_000),
        earned: None,
    };
    orders.mark_paid(&order.order_id, &payment).await.unwrap();
    let paid = orders.get(&order.order_id).await.unwrap().unwrap();
    let now = at(NOW_MS + 51 * 60_000);
    let settled = settle_fee_hold(&ledger, &orders, paid.clone(), now)
        .await
        .unwrap();
    assert!(settled.delivery.as_ref().unwrap().fee_waived);
    let posting = settled.pay_posting().unwrap();
    assert!(
        !posting
            .ops
            .iter()
            .any(|op| matches!(op, Op::Capture { .. })),
        "{posting:?}"
    );
    ledger.post(&posting).await.unwrap();
    // Once: settled again (a repeated notify reads the order anew), nothing changes and the
    // anomaly exists already.
    let stored = orders.get(&order.order_id).await.unwrap().unwrap();
    let again = settle_fee_hold(&ledger, &orders, stored, now)
        .await
        .unwrap();
    assert_eq!(again.pay_posting(), Some(posting));
    let anomaly = Anomaly {
        kind: AnomalyKind::HoldLapsed,
        out_trade_no: order.order_id.to_string(),
        transaction_id: "4200-LAPSED".into(),
        paid_fen: Fen::new(3_000),
        expected_fen: Some(Fen::new(3_000)),
        detail: String::new(),
        recorded_at: now,
    };
    assert!(
        !orders.record_anomaly(&anomaly).await.unwrap(),
        "recorded once already"
    );
    let profile = ledger.profile(&member).await.unwrap().unwrap();
    assert_eq!(
        (profile.available, profile.held),
        (Points::new(230), Points::ZERO)
    );
}
