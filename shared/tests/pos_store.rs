//! In-store sales and returns in the Orders table against DynamoDB Local: a sale is recorded once,
//! and returns — repeated, reusing an id, or racing each other — never claw back more than the
//! sale earned.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{at, client, new_member, orders_table, NOW_MS};
use linli::ids::{ReturnId, SaleId, StoreId, TillId};
use linli::money::{Fen, Points};
use linli::pos::{ReturnError, ReturnRequest, Sale, SaleRequest};
use linli::store::pos::{take_return, DynamoPos, PosStore, Returned, SaleOutcome};

async fn store(test: &str) -> DynamoPos {
    let client = client();
    let table = orders_table(&client, test).await;
    DynamoPos::new(client, table)
}

fn sale(goods: i64) -> Sale {
    let request = SaleRequest {
        store: StoreId::parse("SH-JINGAN-01").unwrap(),
        till: TillId::parse("T1").unwrap(),
        sale: SaleId::parse(&format!("S-{:08x}", fastrand::u32(..))).unwrap(),
        member_code: String::new(),
        goods_fen: Fen::new(goods),
    };
    Sale::accept(
        &request,
        new_member(),
        at(NOW_MS),
        &linli::rules::earning::EarnRules::default(),
        linli::rules::earning::Tier::Regular,
    )
}

fn ret(sale: &Sale, id: &str, fen: i64) -> ReturnRequest {
    ReturnRequest {
        store: sale.store_id.clone(),
        till: TillId::parse("T2").unwrap(),
        ret: ReturnId::parse(id).unwrap(),
        sale: sale.sale_id.clone(),
        returned_fen: Fen::new(fen),
    }
}

#[tokio::test]
async fn a_sale_is_recorded_once() {
    let pos = store("pos-sale").await;
    let s = sale(12_990);
    let SaleOutcome::Recorded { cost } = pos.record_sale(&s).await.unwrap() else {
        panic!("first record")
    };
    assert_eq!(cost.total(), 1, "{cost}");
    let mut other = s.clone();
    other.goods_fen = Fen::new(1);
    other.earned = Points::ZERO;
    assert_eq!(
        pos.record_sale(&other).await.unwrap(),
        SaleOutcome::Exists(s.clone()),
        "never overwritten; the stored sale comes back"
    );
    assert_eq!(pos.sale(&s.store_id, &s.sale_id).await.unwrap(), Some(s));
}

#[tokio::test]
async fn returns_are_taken_once_and_never_beyond_the_sale() {
    let pos = store("pos-returns").await;
    let s = sale(10_000); // 100 points
    pos.record_sale(&s).await.unwrap();
    let first = take_return(&pos, &ret(&s, "R1", 3_333), at(NOW_MS)).await;
    let Returned::Recorded { ret: r1, cost } = first.unwrap() else {
        panic!("recorded")
    };
    assert_eq!((r1.clawed, cost.total()), (Points::new(33), 4));
    assert_eq!(
        take_return(&pos, &ret(&s, "R1", 3_333), at(NOW_MS))
            .await
            .unwrap(),
        Returned::Replayed(r1.clone())
    );
    assert_eq!(
        take_return(&pos, &ret(&s, "R1", 100), at(NOW_MS))
            .await
            .unwrap(),
        Returned::IdReused(r1)
    );
    assert_eq!(
        take_return(&pos, &ret(&s, "R2", 6_668), at(NOW_MS))
            .await
            .unwrap(),
        Returned::Refused(ReturnError::ExceedsSale {
            asked: Fen::new(6_668),
            left: Fen::new(6_667)
        })
    );
    let mut unknown = ret(&s, "R3", 1);
    unknown.sale = SaleId::parse("NO-SUCH").unwrap();
    assert_eq!(
        take_return(&pos, &unknown, at(NOW_MS)).await.unwrap(),
        Returned::UnknownSale
    );
}

#[tokio::test]
async fn racing_returns_claw_back_at_most_the_earning() {
    let pos = store("pos-race").await;
    let s = sale(10_000); // 100 points
    pos.record_sale(&s).await.unwrap();
    // Six returns of 2,000 fen at once: five fit, one is refused, Σ clawed = 100.
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..6 {
        let (pos, request) = (pos.clone(), ret(&s, &format!("R{i}"), 2_000));
        racing.spawn(async move { take_return(&pos, &request, at(NOW_MS)).await.unwrap() });
    }
    let outcomes = racing.join_all().await;
    let clawed: i64 = outcomes
        .iter()
        .filter_map(|o| match o {
            Returned::Recorded { ret, .. } => Some(ret.clawed.value()),
            _ => None,
        })
        .sum();
    let refused = outcomes
        .iter()
        .filter(|o| matches!(o, Returned::Refused(_)))
        .count();
    assert_eq!((clawed, refused), (100, 1), "{outcomes:?}");
    let after = pos.sale(&s.store_id, &s.sale_id).await.unwrap().unwrap();
    assert_eq!(
        (after.returned_fen, after.clawed),
        (Fen::new(10_000), Points::new(100))
    );
}
