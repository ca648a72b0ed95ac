//! The `Orders` table (DESIGN §4): `ORDER#<id>` / `ORDER` holds the order as Linli priced it and
//! where its payment stands; `ORDER#<out_trade_no>` / `ANOMALY#<kind>:<transaction>` records a
//! payment gone wrong. Status changes are conditional updates on the current status, so a notify,
//! a cancel and the deadline sweep racing each other end in exactly one outcome.
//!
//! Sweep (sparse GSI `by_sweep`, keys only): an order is in `SWEEP#order#<0..15>` with `due_at` =
//! its payment deadline until housekeeping has seen it through (closed, or paid and posted).
//! Updating `status` does not touch the index (keys only), so marking an order paid costs one
//! write unit for an order item ≤ 1 KB — the budget of DESIGN §10. Anomalies are listed in
//! `SWEEP#anomaly#<0..15>` for operators.

use super::ledger::item::{key, Item};
use super::ledger::PostWith;
use super::placing::Placed;
use super::wru::{item_size, WriteCost};
use super::{put_if_absent, StoreError};
use crate::ids::OrderId;
use crate::order::{Anomaly, Order, OrderStatus, Payment, SWEEP_SHARDS};
use crate::time::BusinessTime;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use std::future::Future;

const ORDER_SK: &str = "ORDER";
mod anomalies;
pub use anomalies::StoredAnomaly;

pub const SWEEP_INDEX: &str = "by_sweep";

/// What marking an order paid found.
#[derive(Clone, Debug, PartialEq)]
pub enum PaidOutcome {
    /// This call marked it paid.
    Marked { order: Order, cost: WriteCost },
    /// It was paid already (compare the transaction to tell a repeat from a second payment).
    AlreadyPaid(Order),
    /// It was closed or cancelled first.
    Ended(Order),
    /// No such order.
    Missing,
}

/// What ending (closing or cancelling) a pending order found.
#[derive(Clone, Debug, PartialEq)]
pub enum EndOutcome {
    Ended(Order),
    /// It was no longer pending (paid, or ended already).
    NotPending(Order),
    Missing,
}

pub trait OrderStore {
    /// Stores a new order (never overwrites one).
    fn create(&self, order: &Order) -> impl Future<Output = Result<WriteCost, StoreError>> + Send;
    /// Stores a new order with its stock taken and its delivery fee's points held, all in one
    /// transaction (see `placing`).
    fn place<L: PostWith + Sync>(
        &self,
        order: &Order,
        ledger: &L,
    ) -> impl Future<Output = Result<Placed, StoreError>> + Send;
    /// The order (consistent read).
    fn get(&self, id: &OrderId) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;
    /// pending → paid with `payment`.
    fn mark_paid(
        &self,
        id: &OrderId,
        payment: &Payment,
    ) -> impl Future<Output = Result<PaidOutcome, StoreError>> + Send;
    /// pending → `status` (closed or cancelled) at `at`; the order leaves the sweep.
    fn end(
        &self,
        id: &OrderId,
        status: OrderStatus,
        at: BusinessTime,
    ) -> impl Future<Output = Result<EndOutcome, StoreError>> + Send;
    /// Records `anomaly` once; true when this call recorded it.
    fn record_anomaly(
        &self,
        anomaly: &Anomaly,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Orders of sweep `shard` due at or before `due`, oldest first, at most `limit`.
    fn due(
        &self,
        shard: u8,
        due: BusinessTime,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<OrderId>, StoreError>> + Send;
    /// Takes the order out of the sweep: nothing more awaits it.
    fn retire(&self, id: &OrderId) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Replaces the order's dispatch if nobody changed it since (see `dispatching`).
    fn save_dispatch(
        &self,
        id: &OrderId,
        next: &crate::order::Dispatch,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
    /// Orders whose live waybill was promised at or before `due` (track shard `shard`, at most
    /// `limit`, oldest promise first).
    fn overdue_waybills(
        &self,
        shard: u8,
        due: BusinessTime,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<OrderId>, StoreError>> + Send;
    /// Asks about the order's waybill again no sooner than `until`.
    fn defer_track(
        &self,
        id: &OrderId,
        until: BusinessTime,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Waives the delivery fee of a paid order whose points hold lapsed (its payment then
    /// captures nothing); the order as it now stands.
    fn waive_fee(
        &self,
        id: &OrderId,
    ) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;
}

#[derive(Clone, Debug)]
pub struct DynamoOrders {
    pub(super) client: Client,
    pub(super) table: String,
    /// The Catalog table, where placing takes stock and ending returns it.
    pub(super) catalog: Option<String>,
}

pub(crate) fn order_key(id: &OrderId) -> Item {
    key(format!("ORDER#{id}"), ORDER_SK.to_owned())
}

fn sweep(kind: &str, shard: u8) -> AttributeValue {
    AttributeValue::S(format!("SWEEP#{kind}#{shard}"))
}

fn corrupt(id: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: format!("ORDER#{id}"),
        why: why.to_string(),
    }
}

pub fn decode_order(item: Item) -> Result<Order, StoreError> {
    let id = match item.get("pk") {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    };
    serde_dynamo::from_item(item).map_err(|e| corrupt(&id, e))
}

/// The orders an index query found (keys only: `pk` = `ORDER#<id>`).
pub(super) fn order_ids(items: &[Item]) -> Result<Vec<OrderId>, StoreError> {
    items
        .iter()
        .map(|item| match item.get("pk") {
            Some(AttributeValue::S(pk)) => pk
                .strip_prefix("ORDER#")
                .and_then(|id| OrderId::parse(id).ok())
                .ok_or_else(|| corrupt(pk, "not an order key")),
            _ => Err(corrupt("?", "index entry without pk")),
        })
        .collect()
}

/// The order's item: its attributes, keys and sweep entry.
pub fn order_item(order: &Order) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(order).map_err(|e| corrupt(order.order_id.as_str(), e))?;
    item.extend(order_key(&order.order_id));
    if order.status == OrderStatus::Pending {
        item.insert("sweep".into(), sweep("order", order.sweep_shard()));
        item.insert(
            "due_at".into(),
            AttributeValue::N(order.pay_deadline.epoch_ms().to_string()),
        );
    }
    Ok(item)
}

impl DynamoOrders {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            catalog: None,
        }
    }

    /// A conditional update of the order's status from pending; ALL_NEW on success, ALL_OLD
    /// when the condition failed (to tell why).
    async fn update_pending(
        &self,
        id: &OrderId,
        set: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Result<Item, Option<Item>>, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(id)))
            .update_expression(set)
            .condition_expression("attribute_exists(pk) AND #status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(
                ":pending",
                AttributeValue::S(OrderStatus::Pending.as_str().into()),
            )
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(out) => Ok(Ok(out.attributes.unwrap_or_default())),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(failed) => Ok(Err(failed.item)),
                other => Err(StoreError::dynamo("UpdateItem", other)),
            },
        }
    }
}

impl OrderStore for DynamoOrders {
    async fn place<L: PostWith + Sync>(
        &self,
        order: &Order,
        ledger: &L,
    ) -> Result<Placed, StoreError> {
        self.place_order(order, ledger).await
    }

    async fn create(&self, order: &Order) -> Result<WriteCost, StoreError> {
        let item = order_item(order)?;
        let mut cost = WriteCost::default();
        cost.add("order", item_size(&item));
        if !put_if_absent(&self.client, &self.table, item).await? {
            // Order ids are fresh ULIDs: a collision means a bug, never overwrite an order.
            return Err(corrupt(
                order.order_id.as_str(),
                "an order with this id exists",
            ));
        }
        Ok(cost)
    }

    async fn get(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(order_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("GetItem", e))?;
        out.item.map(decode_order).transpose()
    }

    async fn mark_paid(&self, id: &OrderId, payment: &Payment) -> Result<PaidOutcome, StoreError> {
        let value =
            serde_dynamo::to_attribute_value(payment).map_err(|e| corrupt(id.as_str(), e))?;
        let outcome = self
            .update_pending(
                id,
                "SET #status = :paid, payment = :payment",
                vec![
                    (
                        ":paid",
                        AttributeValue::S(OrderStatus::Paid.as_str().into()),
                    ),
                    (":payment", value),
                ],
            )
            .await?;
        match outcome {
            Ok(item) => {
                let mut cost = WriteCost::default();
                cost.add("order", item_size(&item));
                Ok(PaidOutcome::Marked {
                    order: decode_order(item)?,
                    cost,
                })
            }
            Err(None) => Ok(PaidOutcome::Missing),
            Err(Some(old)) => {
                let order = decode_order(old)?;
                Ok(if order.status == OrderStatus::Paid {
                    PaidOutcome::AlreadyPaid(order)
                } else {
                    PaidOutcome::Ended(order)
                })
            }
        }
    }

    async fn end(
        &self,
        id: &OrderId,
        status: OrderStatus,
        at: BusinessTime,
    ) -> Result<EndOutcome, StoreError> {
        debug_assert!(matches!(
            status,
            OrderStatus::Closed | OrderStatus::Cancelled
        ));
        match self.get(id).await? {
            None => return Ok(EndOutcome::Missing),
            Some(order) if order.status != OrderStatus::Pending => {
                return Ok(EndOutcome::NotPending(order))
            }
            Some(order) if order.stock_reserved => {
                return self.end_with_stock(&order, status, at).await
            }
            Some(_) => {}
        }
        let outcome = self
            .update_pending(
                id,
                "SET #status = :ended, ended_at = :at REMOVE sweep, due_at",
                vec![
                    (":ended", AttributeValue::S(status.as_str().into())),
                    (":at", AttributeValue::N(at.epoch_ms().to_string())),
                ],
            )
            .await?;
        Ok(match outcome {
            Ok(item) => EndOutcome::Ended(decode_order(item)?),
            Err(None) => EndOutcome::Missing,
            Err(Some(old)) => EndOutcome::NotPending(decode_order(old)?),
        })
    }

    async fn record_anomaly(&self, anomaly: &Anomaly) -> Result<bool, StoreError> {
        let mut item: Item =
            serde_dynamo::to_item(anomaly).map_err(|e| corrupt(&anomaly.out_trade_no, e))?;
        item.extend(key(
            format!("ORDER#{}", anomaly.out_trade_no),
            format!("ANOMALY#{}", anomaly.id()),
        ));
        let shard = u8::try_from(
            anomaly
                .recorded_at
                .epoch_ms()
                .rem_euclid(i64::from(SWEEP_SHARDS)),
        )
        .unwrap_or(0);
        item.insert("sweep".into(), sweep("anomaly", shard));
        item.insert(
            "due_at".into(),
            AttributeValue::N(anomaly.recorded_at.epoch_ms().to_string()),
        );
        let recorded = put_if_absent(&self.client, &self.table, item).await?;
        if recorded {
            let kind = serde_json::json!(anomaly.kind.as_str());
            crate::metrics::record(anomaly.recorded_at, &[("Anomalies", 1)], &[("kind", kind)]);
        }
        Ok(recorded)
    }

    async fn due(
        &self,
        shard: u8,
        due: BusinessTime,
        limit: i32,
    ) -> Result<Vec<OrderId>, StoreError> {
        debug_assert!(shard < SWEEP_SHARDS);
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(SWEEP_INDEX)
            .key_condition_expression("sweep = :sweep AND due_at <= :due")
            .expression_attribute_values(":sweep", sweep("order", shard))
            .expression_attribute_values(":due", AttributeValue::N(due.epoch_ms().to_string()))
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        order_ids(&out.items.unwrap_or_default())
    }

    async fn defer_track(&self, id: &OrderId, until: BusinessTime) -> Result<(), StoreError> {
        self.defer(id, until).await
    }

    async fn overdue_waybills(
        &self,
        shard: u8,
        due: BusinessTime,
        limit: i32,
    ) -> Result<Vec<OrderId>, StoreError> {
        self.query_overdue(shard, due, limit).await
    }

    async fn save_dispatch(
        &self,
        id: &OrderId,
        next: &crate::order::Dispatch,
    ) -> Result<bool, StoreError> {
        self.save_dispatch_if_unchanged(id, next).await
    }

    async fn waive_fee(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(id)))
            .update_expression("SET delivery.fee_waived = :yes")
            .condition_expression("attribute_exists(delivery)")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .return_values(ReturnValue::AllNew)
            .send()
            .await;
        match out {
            Ok(out) => out.attributes.map(decode_order).transpose(),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(None),
                other => Err(StoreError::dynamo("UpdateItem", other)),
            },
        }
    }

    async fn retire(&self, id: &OrderId) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(id)))
            .update_expression("REMOVE sweep, due_at")
            .condition_expression("attribute_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::dynamo("UpdateItem", e))?;
        Ok(())
    }
}
