//! The `Catalog` table (DESIGN §4): `STORE#<id>` / `STORE` (name, lat, lng, hours),
//! `STORE#<id>` / `SKU#<sku>` (name, price_fen, stock) and `STORE#<id>` / `LOAD#<window>` (`n`:
//! delivery orders taken in that 10-minute window, TTL `expires_at`: the pickers' load).

use super::ledger::item::{key, Item};
use super::StoreError;
use crate::catalog::{Sku, Store};
use crate::ids::StoreId;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::future::Future;

pub trait CatalogStore {
    fn put_store(&self, store: &Store) -> impl Future<Output = Result<(), StoreError>> + Send;
    fn put_sku(
        &self,
        store: &StoreId,
        sku: &Sku,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Every store of the chain (a small table: a scan of the `STORE` items).
    fn stores(&self) -> impl Future<Output = Result<Vec<Store>, StoreError>> + Send;
    fn store(&self, id: &StoreId)
        -> impl Future<Output = Result<Option<Store>, StoreError>> + Send;
    fn skus(&self, store: &StoreId) -> impl Future<Output = Result<Vec<Sku>, StoreError>> + Send;
    /// Counts a delivery order `store` took at `at` toward its pickers' load.
    fn count_order(
        &self,
        store: &StoreId,
        at: BusinessTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Delivery orders `store` took in the half hour before `at` (its pickers' load).
    fn load(
        &self,
        store: &StoreId,
        at: BusinessTime,
    ) -> impl Future<Output = Result<u32, StoreError>> + Send;
}

/// Orders are counted in windows of this length; the load is the last `LOAD_WINDOWS` of them.
const LOAD_WINDOW_MS: i64 = 10 * 60_000;
const LOAD_WINDOWS: i64 = 3;

fn load_key(store: &StoreId, window: i64) -> Item {
    key(store_pk(store), format!("LOAD#{window}"))
}

#[derive(Clone, Debug)]
pub struct DynamoCatalog {
    client: Client,
    table: String,
}

impl DynamoCatalog {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn put(&self, item: Item) -> Result<(), StoreError> {
        super::put(&self.client, &self.table, item).await
    }
}

fn store_pk(id: &StoreId) -> String {
    format!("STORE#{id}")
}

/// The key of `sku`'s item at `store` (its price and stock).
pub(crate) fn sku_key(store: &StoreId, sku: &crate::ids::SkuId) -> Item {
    key(store_pk(store), format!("SKU#{sku}"))
}

#[derive(Serialize, Deserialize)]
struct StoreAttributes {
    store_id: String,
    name: String,
    lat: f64,
    lng: f64,
    hours: String,
    #[serde(default)]
    city: String,
}

#[derive(Serialize, Deserialize)]
struct SkuAttributes {
    sku: String,
    name: String,
    price_fen: i64,
    stock: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    category: String,
}

fn corrupt(item: &Item, why: impl std::fmt::Display) -> StoreError {
    let part = |k: &str| match item.get(k) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    };
    StoreError::Corrupt {
        key: format!("{}/{}", part("pk"), part("sk")),
        why: why.to_string(),
    }
}

fn decode_store(item: &Item) -> Result<Store, StoreError> {
    let a: StoreAttributes = serde_dynamo::from_item(item.clone()).map_err(|e| corrupt(item, e))?;
    Ok(Store {
        store_id: StoreId::parse(&a.store_id).map_err(|e| corrupt(item, e))?,
        name: a.name,
        lat: a.lat,
        lng: a.lng,
        hours: a.hours,
        city: a.city,
    })
}

fn decode_sku(item: &Item) -> Result<Sku, StoreError> {
    let a: SkuAttributes = serde_dynamo::from_item(item.clone()).map_err(|e| corrupt(item, e))?;
    Ok(Sku {
        sku: crate::ids::SkuId::parse(&a.sku).map_err(|e| corrupt(item, e))?,
        name: a.name,
        price_fen: crate::money::Fen::new(a.price_fen),
        stock: a.stock,
        category: a.category,
    })
}

fn with_attributes(mut item: Item, attributes: Item) -> Item {
    item.extend(attributes);
    item
}

impl CatalogStore for DynamoCatalog {
    async fn count_order(&self, store: &StoreId, at: BusinessTime) -> Result<(), StoreError> {
        let window = at.epoch_ms().div_euclid(LOAD_WINDOW_MS);
        // Gone (TTL) a day after the window closed: only the last half hour is ever read.
        let expires = (window + 1) * LOAD_WINDOW_MS / 1000 + 86_400;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(load_key(store, window)))
            .update_expression("ADD n :one SET expires_at = :expires")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":expires", AttributeValue::N(expires.to_string()))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }

    async fn load(&self, store: &StoreId, at: BusinessTime) -> Result<u32, StoreError> {
        let last = at.epoch_ms().div_euclid(LOAD_WINDOW_MS);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(store_pk(store)))
            .expression_attribute_values(
                ":from",
                AttributeValue::S(format!("LOAD#{}", last - LOAD_WINDOWS + 1)),
            )
            .expression_attribute_values(":to", AttributeValue::S(format!("LOAD#{last}")))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let total: i64 = out
            .items()
            .iter()
            .filter_map(|item| match item.get("n") {
                Some(AttributeValue::N(n)) => n.parse::<i64>().ok(),
                _ => None,
            })
            .sum();
        Ok(u32::try_from(total.max(0)).unwrap_or(u32::MAX))
    }

    async fn put_store(&self, store: &Store) -> Result<(), StoreError> {
        let attributes: Item = serde_dynamo::to_item(StoreAttributes {
            store_id: store.store_id.to_string(),
            name: store.name.clone(),
            lat: store.lat,
            lng: store.lng,
            hours: store.hours.clone(),
            city: store.city.clone(),
        })
        .map_err(|e| StoreError::Corrupt {
            key: store_pk(&store.store_id),
            why: e.to_string(),
        })?;
        let item = with_attributes(
            key(store_pk(&store.store_id), "STORE".to_owned()),
            attributes,
        );
        self.put(item).await
    }

    async fn put_sku(&self, store: &StoreId, sku: &Sku) -> Result<(), StoreError> {
        let attributes: Item = serde_dynamo::to_item(SkuAttributes {
            sku: sku.sku.to_string(),
            name: sku.name.clone(),
            price_fen: sku.price_fen.value(),
            stock: sku.stock,
            category: sku.category.clone(),
        })
        .map_err(|e| StoreError::Corrupt {
            key: store_pk(store),
            why: e.to_string(),
        })?;
        let item = with_attributes(sku_key(store, &sku.sku), attributes);
        self.put(item).await
    }

    async fn stores(&self) -> Result<Vec<Store>, StoreError> {
        let mut stores = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :store")
                .expression_attribute_values(":store", AttributeValue::S("STORE".into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Scan", e))?;
            for item in page.items() {
                stores.push(decode_store(item)?);
            }
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(stores),
            }
        }
    }

    async fn store(&self, id: &StoreId) -> Result<Option<Store>, StoreError> {
        let found = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(store_pk(id), "STORE".to_owned())))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        found.item.as_ref().map(decode_store).transpose()
    }

    async fn skus(&self, store: &StoreId) -> Result<Vec<Sku>, StoreError> {
        let mut skus = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :sku)")
                .expression_attribute_values(":pk", AttributeValue::S(store_pk(store)))
                .expression_attribute_values(":sku", AttributeValue::S("SKU#".into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            for item in page.items() {
                skus.push(decode_sku(item)?);
            }
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(skus),
            }
        }
    }
}
