//! The stores' pickers' load in the Catalog table against DynamoDB Local: delivery orders are
//! counted in 10-minute windows and the load is the last half hour of them, per store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{at, client, orders_table, NOW_MS};
use linli::ids::StoreId;
use linli::store::catalog::{CatalogStore, DynamoCatalog};

#[tokio::test]
async fn the_load_is_the_orders_of_the_last_half_hour_per_store() {
    let client = client();
    // Any pk/sk table will do for the Catalog's items (NOW_MS starts a 10-minute window).
    let catalog = DynamoCatalog::new(client.clone(), orders_table(&client, "catalog-load").await);
    let (busy, calm) = (
        StoreId::parse("SH-BUSY").unwrap(),
        StoreId::parse("SH-CALM").unwrap(),
    );
    let minute = 60_000;
    for offset in [0, 5 * minute, 12 * minute, 25 * minute, 29 * minute] {
        catalog
            .count_order(&busy, at(NOW_MS + offset))
            .await
            .unwrap();
    }
    catalog
        .count_order(&calm, at(NOW_MS + 29 * minute))
        .await
        .unwrap();
    assert_eq!(
        catalog.load(&busy, at(NOW_MS + 29 * minute)).await.unwrap(),
        5
    );
    assert_eq!(
        catalog.load(&calm, at(NOW_MS + 29 * minute)).await.unwrap(),
        1
    );
    // An hour on, the early windows are out of the half hour.
    assert_eq!(
        catalog.load(&busy, at(NOW_MS + 60 * minute)).await.unwrap(),
        0
    );
    assert_eq!(
        catalog
            .load(&StoreId::parse("SH-NONE").unwrap(), at(NOW_MS))
            .await
            .unwrap(),
        0
    );
}
