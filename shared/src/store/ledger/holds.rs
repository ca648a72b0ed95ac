//! Finding expired holds without scanning: the sparse, sharded GSI `by_hold_due` lists the
//! profiles that have open holds (`hold_shard` = `HOLDS#<0..15>`, `hold_due` = the earliest open
//! hold's expiry, ms). The index is eventually consistent: a member it names is re-read
//! (consistently) before anything is decided.

use super::dynamo::DynamoLedger;
use super::item::{self, string, HOLD_DUE, HOLD_INDEX, HOLD_SHARD, PK};
use crate::ids::MemberId;
use crate::store::StoreError;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::AttributeValue;

impl DynamoLedger {
    /// Members of hold shard `shard` whose earliest open hold expires at or before `due`,
    /// earliest first, at most `limit` (one page; the caller comes back for the rest).
    pub async fn holds_due(
        &self,
        shard: u8,
        due: BusinessTime,
        limit: i32,
    ) -> Result<Vec<MemberId>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(HOLD_INDEX)
            .key_condition_expression("#shard = :shard AND #due <= :due")
            .expression_attribute_names("#shard", HOLD_SHARD)
            .expression_attribute_names("#due", HOLD_DUE)
            .expression_attribute_values(":shard", AttributeValue::S(item::hold_shard_key(shard)))
            .expression_attribute_values(":due", item::number(due.epoch_ms()))
            .limit(limit.max(1))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        output
            .items()
            .iter()
            .map(|entry| {
                let pk = string(entry, PK).unwrap_or_default();
                pk.strip_prefix("MEMBER#")
                    .and_then(|id| MemberId::parse(id).ok())
                    .ok_or(StoreError::Corrupt {
                        key: pk,
                        why: "hold index entry without a member key".to_owned(),
                    })
            })
            .collect()
    }
}
