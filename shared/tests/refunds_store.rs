//! Refunds in the Orders table against DynamoDB Local: racing requests never ask back more than
//! was paid, a settlement happens once (a repeated notify finds it settled), a failure makes the
//! amount refundable again, and partial refunds claw back exactly the earned share in total.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{at, client, new_member, orders_table, NOW_MS};
use linli::ids::{OpenId, OrderId, RefundId, SkuId, StoreId};
use linli::money::{Fen, Points};
use linli::order::{
    Fulfilment, Order, OrderLine, OrderStatus, Payment, Refund, RefundOrigin, RefundState,
    PAYMENT_WINDOW_MS,
};
use linli::store::orders::{DynamoOrders, OrderStore};
use linli::store::refunds::{RefundStore, Requested, Settled};
use linli::wechat::pay_v2::SignType;

async fn paid_order(orders: &DynamoOrders, amount: i64) -> Order {
    paid_order_with(orders, amount, None).await
}

/// A paid delivery of `goods` fen whose `fee` fen of delivery was paid in cash with it.
async fn paid_delivery(orders: &DynamoOrders, goods: i64, fee: i64) -> Order {
    use linli::delivery::{Heat, Platform, Route};
    use linli::order::{Delivery, FeeChoice};
    let route = Route {
        store_id: StoreId::parse("SH-JINGAN-01").unwrap(),
        platform: Platform::Dada,
        fallbacks: vec![],
        promised_minutes: 40,
        courier_fee_fen: 600,
        reasons: vec![],
    };
    let heat = Heat::of((31.2, 121.4), at(NOW_MS), &route, fee, 0);
    let delivery = Delivery {
        fee: FeeChoice::Cash,
        fee_fen: fee,
        points: 0,
        priority: false,
        distance_m: 1_200,
        factors: vec![],
        quoted_at: at(NOW_MS),
        route,
        heat,
        fee_waived: false,
    };
    let mut order = paid_order_with(orders, goods + fee, Some(delivery)).await;
    order.goods_fen = Fen::new(goods);
    order
}

async fn paid_order_with(
    orders: &DynamoOrders,
    amount: i64,
    delivery: Option<linli::order::Delivery>,
) -> Order {
    let placed = at(NOW_MS);
    let order = Order {
        order_id: OrderId::parse(&format!("O-{:08x}", fastrand::u32(..))).unwrap(),
        member: new_member(),
        payer: OpenId::parse("o-payer").unwrap(),
        store_id: StoreId::parse("SH-JINGAN-01").unwrap(),
        fulfilment: Fulfilment::Pickup,
        address: None,
        lines: vec![OrderLine {
            sku: SkuId::parse("RICE-5KG").unwrap(),
            name: "大米 5kg".into(),
            qty: 1,
            price_fen: Fen::new(amount),
            category: String::new(),
        }],
        goods_fen: Fen::new(amount),
        amount_fen: Fen::new(amount),
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
        delivery,
        stock_reserved: false,
        dispatch: None,
        round: None,
    };
    orders.create(&order).await.unwrap();
    let payment = Payment {
        transaction_id: "4200-R".into(),
        paid_at: at(NOW_MS + 60_000),
        earned: None,
    };
    orders.mark_paid(&order.order_id, &payment).await.unwrap();
    orders.get(&order.order_id).await.unwrap().unwrap()
}

fn refund(order: &Order, id: &str, amount: i64) -> Refund {
    Refund {
        refund_id: RefundId::parse(&format!("{}-{id}", order.order_id)).unwrap(),
        order_id: order.order_id.clone(),
        member: order.member.clone(),
        transaction_id: "4200-R".into(),
        total_fen: order.amount_fen,
        amount_fen: Fen::new(amount),
        origin: RefundOrigin::Staff,
        reason: "售后".into(),
        operator: Some("ops-1".into()),
        state: RefundState::Requested,
        requested_at: at(NOW_MS + 120_000),
        counts_against_order: true,
        wechat_refund_id: None,
        settled_at: None,
        clawback: None,
        growth: None,
    }
}

#[tokio::test]
async fn racing_refund_requests_never_ask_back_more_than_was_paid() {
    let client = client();
    let orders = DynamoOrders::new(client.clone(), orders_table(&client, "refund-race").await);
    let order = paid_order(&orders, 10_000).await;
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..6 {
        let (orders, r) = (orders.clone(), refund(&order, &format!("S{i}"), 3_000));
        racing.spawn(async move { orders.request(&r).await.unwrap() });
    }
    let outcomes = racing.join_all().await;
    let created = outcomes
        .iter()
        .filter(|o| **o == Requested::Created)
        .count();
    assert_eq!(
        created, 3,
        "3 × 30 yuan fit in 100 yuan, a 4th does not: {outcomes:?}"
    );
    assert!(outcomes
        .iter()
        .all(|o| matches!(o, Requested::Created | Requested::TooMuch { .. })));
    let now = orders.get(&order.order_id).await.unwrap().unwrap();
    assert_eq!(now.refund_requested_fen, Fen::new(9_000));
    assert_eq!(now.refundable(), Fen::new(1_000));
    // The same request again is found, not recorded twice.
    let first = refund(&order, "S0", 3_000);
    let again = orders.request(&first).await.unwrap();
    assert!(
        matches!(&again, Requested::Exists(_))
            || again
                == Requested::TooMuch {
                    refundable: Fen::new(1_000)
                },
        "{again:?}"
    );
}

#[tokio::test]
async fn settlements_happen_once_and_claw_back_the_earned_share_in_total() {
    let client = client();
    let orders = DynamoOrders::new(client.clone(), orders_table(&client, "refund-settle").await);
    let order = paid_order(&orders, 8_850).await;
    let earned = Points::new(88);
    let a = refund(&order, "S1", 3_000);
    let b = refund(&order, "S2", 5_850);
    let c = refund(&order, "S3", 100);
    for r in [&a, &b] {
        assert_eq!(orders.request(r).await.unwrap(), Requested::Created);
    }
    assert!(matches!(
        orders.request(&c).await.unwrap(),
        Requested::TooMuch { refundable } if refundable == Fen::ZERO
    ));
    let when = at(NOW_MS + 600_000);
    let Settled::Now(first) = orders
        .succeeded(&order.order_id, &a.refund_id, "5030-1", when, earned)
        .await
        .unwrap()
    else {
        panic!("first settlement")
    };
    assert_eq!(first.clawback, Some(Points::new(29)));
    assert!(matches!(
        orders.succeeded(&order.order_id, &a.refund_id, "5030-1", when, earned).await.unwrap(),
        Settled::Before(r) if r.clawback == Some(Points::new(29))
    ));
    // The second refund fails at WeChat Pay: its amount is refundable again.
    assert!(matches!(
        orders
            .failed(&order.order_id, &b.refund_id, when)
            .await
            .unwrap(),
        Settled::Now(_)
    ));
    assert!(matches!(
        orders
            .succeeded(&order.order_id, &b.refund_id, "5030-2", when, earned)
            .await
            .unwrap(),
        Settled::Conflict(_)
    ));
    let now = orders.get(&order.order_id).await.unwrap().unwrap();
    assert_eq!(
        (now.refund_requested_fen, now.refunded_fen),
        (Fen::new(3_000), Fen::new(3_000))
    );
    let rest = refund(&order, "S4", 5_850);
    assert_eq!(orders.request(&rest).await.unwrap(), Requested::Created);
    let Settled::Now(second) = orders
        .succeeded(&order.order_id, &rest.refund_id, "5030-3", when, earned)
        .await
        .unwrap()
    else {
        panic!("second settlement")
    };
    assert_eq!(
        second.clawback,
        Some(Points::new(59)),
        "29 + 59 = all 88 on a full refund"
    );
    assert_eq!(orders.refunds(&order.order_id).await.unwrap().len(), 3);
    let now = orders.get(&order.order_id).await.unwrap().unwrap();
    assert_eq!(now.refunded_fen, Fen::new(8_850));
    assert_eq!(now.refundable(), Fen::ZERO);
}

#[tokio::test]
async fn a_delivery_fee_given_back_takes_no_points_and_the_goods_refund_then_takes_them_all() {
    let client = client();
    let orders = DynamoOrders::new(client.clone(), orders_table(&client, "refund-fee").await);
    // ¥30 of goods earning 30 points, plus a ¥5 cash delivery fee.
    let order = paid_delivery(&orders, 3_000, 500).await;
    let earned = Points::new(30);
    let when = at(NOW_MS + 600_000);
    let fee = Refund {
        refund_id: linli::order::delivery_fee_refund_id(&order.order_id).unwrap(),
        origin: RefundOrigin::DeliveryFee,
        ..refund(&order, "F", 500)
    };
    assert_eq!(orders.request(&fee).await.unwrap(), Requested::Created);
    let Settled::Now(fee) = orders
        .succeeded(&order.order_id, &fee.refund_id, "5030-F", when, earned)
        .await
        .unwrap()
    else {
        panic!("fee settlement")
    };
    assert_eq!(fee.clawback, Some(Points::ZERO), "the fee earned nothing");
    let now = orders.get(&order.order_id).await.unwrap().unwrap();
    assert_eq!(
        (now.refunded_fen, now.fee_refunded_fen),
        (Fen::new(500), Fen::new(500))
    );
    // The goods refunded afterwards take back every point they earned, not 30 × 3000/3500.
    let goods = refund(&order, "S1", 3_000);
    assert_eq!(orders.request(&goods).await.unwrap(), Requested::Created);
    let Settled::Now(goods) = orders
        .succeeded(&order.order_id, &goods.refund_id, "5030-G", when, earned)
        .await
        .unwrap()
    else {
        panic!("goods settlement")
    };
    assert_eq!(goods.clawback, Some(Points::new(30)));
    assert_eq!(
        orders
            .get(&order.order_id)
            .await
            .unwrap()
            .unwrap()
            .refundable(),
        Fen::ZERO
    );
}
