//! An order's dispatch (`dispatch` attribute of `ORDER#<id>`): replaced whole, on the condition
//! that nobody changed it since it was read (`dispatch.version`), so two dispatchers of the same
//! order never both call a platform (see `order::dispatch`).

use super::orders::{order_key, DynamoOrders};
use super::StoreError;
use crate::ids::OrderId;
use crate::order::{Dispatch, SWEEP_SHARDS};
use crate::time::BusinessTime;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

/// Live waybills by promise (sparse GSI, keys only): `TRACK#<0..15>` / `track_due` ms.
pub const TRACK_INDEX: &str = "by_track";

fn track_shard(id: &OrderId) -> AttributeValue {
    AttributeValue::S(format!("TRACK#{}", id.shard(SWEEP_SHARDS)))
}

impl DynamoOrders {
    /// Asks about the order's waybill again no sooner than `until` (it stays in `by_track`).
    pub(super) async fn defer(&self, id: &OrderId, until: BusinessTime) -> Result<(), StoreError> {
        let deferred = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(id)))
            .update_expression("SET track_due = :until")
            .condition_expression("attribute_exists(track)")
            .expression_attribute_values(":until", AttributeValue::N(until.epoch_ms().to_string()))
            .send()
            .await;
        match deferred {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                // It left the index meanwhile: nothing to defer.
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(()),
                other => Err(StoreError::dynamo("UpdateItem", other)),
            },
        }
    }

    /// Orders of track shard `shard` whose live waybill was promised at or before `due`,
    /// oldest promise first, at most `limit`.
    pub(super) async fn query_overdue(
        &self,
        shard: u8,
        due: BusinessTime,
        limit: i32,
    ) -> Result<Vec<OrderId>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TRACK_INDEX)
            .key_condition_expression("track = :track AND track_due <= :due")
            .expression_attribute_values(":track", AttributeValue::S(format!("TRACK#{shard}")))
            .expression_attribute_values(":due", AttributeValue::N(due.epoch_ms().to_string()))
            .limit(limit)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        super::orders::order_ids(&out.items.unwrap_or_default())
    }

    /// Stores `next` if the order's dispatch is still the one `next` was made from (version
    /// one less, or none yet); false when another dispatcher got there first.
    pub(super) async fn save_dispatch_if_unchanged(
        &self,
        id: &OrderId,
        next: &Dispatch,
    ) -> Result<bool, StoreError> {
        let value = serde_dynamo::to_attribute_value(next).map_err(|e| StoreError::Corrupt {
            key: format!("ORDER#{id}"),
            why: e.to_string(),
        })?;
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(order_key(id)))
            .expression_attribute_values(":next", value);
        // A live waybill is followed (`by_track`) from its promise on, and an unsent effect at
        // once; otherwise the order leaves the index.
        let promise = next.waybill.as_ref().filter(|w| w.state.is_live());
        let due = match (next.unsent, promise) {
            (Some(_), _) => Some(0),
            (None, Some(waybill)) => Some(waybill.promised_at.epoch_ms()),
            (None, None) => None,
        };
        request = match due {
            Some(due) => request
                .update_expression("SET dispatch = :next, track = :track, track_due = :due")
                .expression_attribute_values(":track", track_shard(id))
                .expression_attribute_values(":due", AttributeValue::N(due.to_string())),
            None => request.update_expression("SET dispatch = :next REMOVE track, track_due"),
        };
        request = if next.version <= 1 {
            request.condition_expression("attribute_exists(pk) AND attribute_not_exists(dispatch)")
        } else {
            request
                .condition_expression("dispatch.version = :before")
                .expression_attribute_values(
                    ":before",
                    AttributeValue::N((next.version - 1).to_string()),
                )
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(_) => Ok(false),
                other => Err(StoreError::dynamo("UpdateItem", other)),
            },
        }
    }
}
