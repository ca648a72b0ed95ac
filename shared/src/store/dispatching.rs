//! An order's dispatch (`dispatch` attribute of `ORDER#<id>`): replaced whole, on the condition
//! that nobody changed it since it was read (`dispatch.version`), so two dispatchers of the same
//! order never both call a platform (see `order::dispatch`).

use super::orders::{order_key, DynamoOrders};
use super::StoreError;
use crate::ids::OrderId;
use crate::order::Dispatch;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

impl DynamoOrders {
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
            .update_expression("SET dispatch = :next")
            .expression_attribute_values(":next", value);
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
