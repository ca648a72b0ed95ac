//! Anomalies for operators (`linli-admin anomalies`): the open ones, found through the sweep
//! index's `SWEEP#anomaly#<n>` shards (an anomaly leaves the index when resolved), and resolving
//! one with who and how, once.

use super::{sweep, DynamoOrders, SWEEP_INDEX};
use crate::order::{Anomaly, SWEEP_SHARDS};
use crate::store::ledger::item::{key, Item};
use crate::store::StoreError;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::AttributeValue;

/// An anomaly as stored, with its resolution once resolved.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct StoredAnomaly {
    #[serde(flatten)]
    pub anomaly: Anomaly,
    #[serde(default)]
    pub resolved_by: Option<String>,
    #[serde(default)]
    pub resolution: Option<String>,
}

/// Pages of one shard read for a listing at most.
const MAX_PAGES: usize = 20;

impl DynamoOrders {
    /// Open (unresolved) anomalies, oldest first, at most `limit`.
    pub async fn open_anomalies(&self, limit: usize) -> Result<Vec<StoredAnomaly>, StoreError> {
        let mut keys: Vec<(i64, Item)> = Vec::new();
        for shard in 0..SWEEP_SHARDS {
            let mut start: Option<Item> = None;
            for _ in 0..MAX_PAGES {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .index_name(SWEEP_INDEX)
                    .key_condition_expression("sweep = :sweep")
                    .expression_attribute_values(":sweep", sweep("anomaly", shard))
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(|e| StoreError::dynamo("Query", e))?;
                for item in page.items.unwrap_or_default() {
                    let due = item.get("due_at").and_then(|v| v.as_n().ok());
                    let due = due.and_then(|n| n.parse::<i64>().ok()).unwrap_or(0);
                    keys.push((due, item));
                }
                match page.last_evaluated_key {
                    Some(next) if !next.is_empty() => start = Some(next),
                    _ => break,
                }
            }
        }
        keys.sort_by_key(|(due, _)| *due);
        let mut found = Vec::new();
        for (_, item) in keys.into_iter().take(limit) {
            let (Some(pk), Some(sk)) = (item.get("pk"), item.get("sk")) else {
                continue;
            };
            let wanted = Item::from([("pk".to_owned(), pk.clone()), ("sk".to_owned(), sk.clone())]);
            if let Some(stored) =
                crate::store::get_consistent(&self.client, &self.table, wanted).await?
            {
                let anomaly = serde_dynamo::from_item(stored).map_err(|e| StoreError::Corrupt {
                    key: format!("{pk:?}/{sk:?}"),
                    why: e.to_string(),
                })?;
                found.push(anomaly);
            }
        }
        Ok(found)
    }

    /// Marks anomaly `id` of `out_trade_no` resolved by `operator` with `resolution`, and takes it
    /// out of the open list; false when there is no such open anomaly.
    pub async fn resolve_anomaly(
        &self,
        out_trade_no: &str,
        id: &str,
        operator: &str,
        resolution: &str,
        at: BusinessTime,
    ) -> Result<bool, StoreError> {
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                format!("ORDER#{out_trade_no}"),
                format!("ANOMALY#{id}"),
            )))
            .update_expression(
                "SET resolved_by = :who, resolution = :how, resolved_at = :at REMOVE sweep, due_at",
            )
            .condition_expression("attribute_exists(pk) AND attribute_exists(sweep)")
            .expression_attribute_values(":who", AttributeValue::S(operator.to_owned()))
            .expression_attribute_values(":how", AttributeValue::S(resolution.to_owned()))
            .expression_attribute_values(":at", AttributeValue::N(at.epoch_ms().to_string()))
            .send()
            .await;
        crate::store::conditional_update(sent)
    }
}
