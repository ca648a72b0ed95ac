//! The Orders table store against DynamoDB Local: status moves are conditional on pending, so a
//! notify, a cancel and the deadline sweep racing each other end in exactly one outcome.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{at, client, new_member, orders_table, NOW_MS};
use linli::ids::{OpenId, OrderId, SkuId, StoreId};
use linli::money::Fen;
use linli::order::{
    Anomaly, AnomalyKind, Fulfilment, Order, OrderLine, OrderStatus, Payment, PAYMENT_WINDOW_MS,
};
use linli::store::orders::{DynamoOrders, EndOutcome, OrderStore, PaidOutcome};
use linli::wechat::pay_v2::SignType;

fn order(id: &str) -> Order {
    let placed = at(NOW_MS);
    Order {
        order_id: OrderId::parse(id).unwrap(),
        member: new_member(),
        payer: OpenId::parse("o-payer").unwrap(),
        store_id: StoreId::parse("SH-JINGAN-01").unwrap(),
        fulfilment: Fulfilment::Pickup,
        address: None,
        lines: vec![OrderLine {
            sku: SkuId::parse("MILK-1L").unwrap(),
            name: "鲜牛奶 1L".into(),
            qty: 3,
            price_fen: Fen::new(1_590),
            category: String::new(),
        }],
        goods_fen: Fen::new(4_770),
        amount_fen: Fen::new(4_770),
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
        delivery: None,
        stock_reserved: false,
        dispatch: None,
        round: None,
    }
}

fn payment(transaction: &str) -> Payment {
    Payment {
        transaction_id: transaction.into(),
        paid_at: at(NOW_MS + 60_000),
        earned: None,
    }
}

async fn store(test: &str) -> DynamoOrders {
    let client = client();
    let table = orders_table(&client, test).await;
    DynamoOrders::new(client, table)
}

#[tokio::test]
async fn an_order_is_paid_once_even_when_notifies_race() {
    let orders = store("paid-once").await;
    let placed = order(&format!("O-{:08x}", fastrand::u32(..)));
    assert_eq!(orders.create(&placed).await.unwrap().total(), 1);
    assert!(orders.create(&placed).await.is_err(), "never overwritten");
    assert_eq!(
        orders.get(&placed.order_id).await.unwrap(),
        Some(placed.clone())
    );

    let mut racing = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let (orders, id) = (orders.clone(), placed.order_id.clone());
        racing.spawn(async move { orders.mark_paid(&id, &payment("4200-1")).await.unwrap() });
    }
    let outcomes = racing.join_all().await;
    let marked: Vec<_> = outcomes
        .iter()
        .filter(|o| matches!(o, PaidOutcome::Marked { .. }))
        .collect();
    assert_eq!(marked.len(), 1, "{outcomes:?}");
    let PaidOutcome::Marked { order: paid, cost } = marked[0] else {
        unreachable!()
    };
    assert_eq!(
        (paid.status, paid.payment.clone()),
        (OrderStatus::Paid, Some(payment("4200-1")))
    );
    assert_eq!(cost.total(), 1, "marking paid stays one write unit: {cost}");
    assert!(
        outcomes
            .iter()
            .filter(|o| matches!(o, PaidOutcome::AlreadyPaid(_)))
            .count()
            == 4
    );

    // Paid is final for the sweep's close and the member's cancel.
    let ended = orders
        .end(
            &placed.order_id,
            OrderStatus::Closed,
            at(NOW_MS + PAYMENT_WINDOW_MS),
        )
        .await
        .unwrap();
    assert!(matches!(ended, EndOutcome::NotPending(o) if o.status == OrderStatus::Paid));
}

#[tokio::test]
async fn the_sweep_finds_due_orders_and_ending_takes_them_out() {
    let orders = store("sweep").await;
    let placed = order(&format!("O-{:08x}", fastrand::u32(..)));
    orders.create(&placed).await.unwrap();
    let shard = placed.sweep_shard();
    let before = at(NOW_MS + PAYMENT_WINDOW_MS - 1);
    assert!(
        orders.due(shard, before, 100).await.unwrap().is_empty(),
        "not due before its deadline"
    );
    assert_eq!(
        orders.due(shard, placed.pay_deadline, 100).await.unwrap(),
        vec![placed.order_id.clone()]
    );

    let closed_at = at(NOW_MS + PAYMENT_WINDOW_MS + 5);
    let EndOutcome::Ended(closed) = orders
        .end(&placed.order_id, OrderStatus::Closed, closed_at)
        .await
        .unwrap()
    else {
        panic!("a pending order ends")
    };
    assert_eq!(
        (closed.status, closed.ended_at),
        (OrderStatus::Closed, Some(closed_at))
    );
    assert!(
        orders.due(shard, closed_at, 100).await.unwrap().is_empty(),
        "out of the sweep"
    );
    // A payment after closing is not accepted as one: pay-notify records it as an anomaly.
    assert!(matches!(
        orders
            .mark_paid(&placed.order_id, &payment("4200-late"))
            .await
            .unwrap(),
        PaidOutcome::Ended(_)
    ));
    assert_eq!(
        orders
            .mark_paid(&OrderId::parse("O-NONE").unwrap(), &payment("x"))
            .await
            .unwrap(),
        PaidOutcome::Missing
    );

    // A paid order stays due until housekeeping retires it.
    let paid = order(&format!("O-{:08x}", fastrand::u32(..)));
    orders.create(&paid).await.unwrap();
    orders
        .mark_paid(&paid.order_id, &payment("4200-2"))
        .await
        .unwrap();
    assert!(orders
        .due(paid.sweep_shard(), paid.pay_deadline, 100)
        .await
        .unwrap()
        .contains(&paid.order_id));
    orders.retire(&paid.order_id).await.unwrap();
    assert!(!orders
        .due(paid.sweep_shard(), paid.pay_deadline, 100)
        .await
        .unwrap()
        .contains(&paid.order_id));
}

#[tokio::test]
async fn an_anomaly_is_recorded_once() {
    let orders = store("anomaly").await;
    let anomaly = Anomaly {
        kind: AnomalyKind::AmountMismatch,
        out_trade_no: "O-1".into(),
        transaction_id: "4200-9".into(),
        paid_fen: Fen::new(1),
        expected_fen: Some(Fen::new(4_770)),
        detail: "paid 0.01 for an order of 47.70".into(),
        recorded_at: at(NOW_MS),
    };
    assert!(orders.record_anomaly(&anomaly).await.unwrap());
    assert!(
        !orders.record_anomaly(&anomaly).await.unwrap(),
        "a repeat notify records nothing new"
    );
}

/// Every order the track index lists as due at `due`, over all shards.
async fn overdue(store: &DynamoOrders, due: linli::time::BusinessTime) -> Vec<OrderId> {
    let mut all = Vec::new();
    for shard in 0..linli::order::SWEEP_SHARDS {
        all.extend(store.overdue_waybills(shard, due, 100).await.unwrap());
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_waybill_is_tracked_from_its_promise_until_it_ends() {
    use linli::courier::Platform;
    use linli::order::{Dispatch, Effect, TryOutcome, Waybill};
    let store = store("track").await;
    let o = order("O-TRACK-1");
    store.create(&o).await.unwrap();
    let (created, promised) = (at(NOW_MS), at(NOW_MS + 40 * 60_000));
    let waybill = Waybill::new(Platform::Dada, "W1".into(), created, promised, None);
    let dispatch = Dispatch::default()
        .begin(Platform::Dada, created, 0, None)
        .end(TryOutcome::Created, Some(waybill));
    assert!(store
        .save_dispatch(
            &o.order_id,
            &Dispatch::default().begin(Platform::Dada, created, 0, None)
        )
        .await
        .unwrap());
    assert!(store.save_dispatch(&o.order_id, &dispatch).await.unwrap());
    assert!(
        overdue(&store, at(NOW_MS + 39 * 60_000)).await.is_empty(),
        "not before its promise"
    );
    assert_eq!(overdue(&store, promised).await, vec![o.order_id.clone()]);
    // Deferred: behind the others until then.
    store
        .defer_track(&o.order_id, at(NOW_MS + 50 * 60_000))
        .await
        .unwrap();
    assert!(overdue(&store, at(NOW_MS + 45 * 60_000)).await.is_empty());
    // Ended with an effect not yet sent: due at once; once sent, out of the index.
    let mut ended = dispatch.clone();
    ended.version += 1;
    let mut w = ended.waybill.take().unwrap();
    w.state = linli::courier::DeliveryState::Cancelled;
    ended.ended.push(w);
    ended.unsent = Some(Effect::Redispatch);
    assert!(store.save_dispatch(&o.order_id, &ended).await.unwrap());
    assert_eq!(overdue(&store, at(NOW_MS)).await, vec![o.order_id.clone()]);
    assert!(store
        .save_dispatch(&o.order_id, &ended.sent())
        .await
        .unwrap());
    assert!(overdue(&store, at(NOW_MS + 100 * 60_000)).await.is_empty());
    // A stale writer (the version it read is gone) changes nothing.
    assert!(!store.save_dispatch(&o.order_id, &dispatch).await.unwrap());
}
