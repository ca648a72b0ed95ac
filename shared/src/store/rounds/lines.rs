//! A round's paid orders (`LINE#<order>`) as the cutoff reads and decides them, and its outputs.

use super::{round_pk, DynamoRounds};
use crate::groupbuy::join::JoinLine;
use crate::ids::{MemberId, OrderId, RoundId};
use crate::store::ledger::item::{key, Item};
use crate::store::StoreError;
use aws_sdk_dynamodb::types::AttributeValue;

/// A paid order's lines as stored (`LINE#<order>`), with their fates once the cutoff decided.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct LineItem {
    pub sk: String,
    pub member: MemberId,
    pub lines: Vec<JoinLine>,
    #[serde(default)]
    pub fates: Option<Vec<crate::groupbuy::cutoff::LineFate>>,
    /// When the member cancelled the join before the cutoff (epoch ms): it no longer counts.
    #[serde(default)]
    pub cancelled_at: Option<i64>,
}

impl LineItem {
    pub fn order_id(&self) -> Option<OrderId> {
        self.sk
            .strip_prefix("LINE#")
            .and_then(|id| OrderId::parse(id).ok())
    }
}

impl DynamoRounds {
    /// Up to `limit` paid orders of the round after `after` (an `LINE#` key), and the key to
    /// continue from (None: the last page).
    pub async fn lines_page(
        &self,
        id: &RoundId,
        after: Option<String>,
        limit: i32,
    ) -> Result<(Vec<LineItem>, Option<String>), StoreError> {
        let start = after.map(|sk| key(round_pk(id), sk));
        let page = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(round_pk(id)))
            .expression_attribute_values(":prefix", AttributeValue::S("LINE#".into()))
            .consistent_read(true)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let items = page
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
                    key: round_pk(id),
                    why: e.to_string(),
                })
            })
            .collect::<Result<Vec<LineItem>, _>>()?;
        let next = page
            .last_evaluated_key
            .and_then(|k| k.get("sk").and_then(|v| v.as_s().ok()).cloned());
        Ok((items, next))
    }

    /// One paid order's `LINE#` item.
    pub async fn line(
        &self,
        id: &RoundId,
        order: &OrderId,
    ) -> Result<Option<LineItem>, StoreError> {
        let found = crate::store::get_consistent(
            &self.client,
            &self.table,
            key(round_pk(id), format!("LINE#{order}")),
        )
        .await?;
        found
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
                    key: format!("{}/LINE#{order}", round_pk(id)),
                    why: e.to_string(),
                })
            })
            .transpose()
    }

    /// Records the fates of an order's lines, once; false when recorded before.
    pub async fn set_fates(
        &self,
        id: &RoundId,
        order: &OrderId,
        fates: &[crate::groupbuy::cutoff::LineFate],
    ) -> Result<bool, StoreError> {
        let value = serde_dynamo::to_attribute_value(fates).map_err(|e| StoreError::Corrupt {
            key: format!("LINE#{order}"),
            why: e.to_string(),
        })?;
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(round_pk(id), format!("LINE#{order}"))))
            .update_expression("SET fates = :f")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(fates)")
            .expression_attribute_values(":f", value)
            .send()
            .await;
        crate::store::conditional_update(sent)
    }

    /// Stores one output item of the round (`LIST#…`, `BATCH#…#PAGE#<n>`, `METRICS`), replacing
    /// any earlier write of it (a resumed cutoff writes the same content).
    pub async fn put_output(
        &self,
        id: &RoundId,
        sk: &str,
        body: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let mut item: Item = key(round_pk(id), sk.to_owned());
        item.insert("body".into(), AttributeValue::S(body.to_string()));
        crate::store::put(&self.client, &self.table, item).await
    }

    /// An output item's body, if written.
    pub async fn output(
        &self,
        id: &RoundId,
        sk: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let found = crate::store::get_consistent(
            &self.client,
            &self.table,
            key(round_pk(id), sk.to_owned()),
        )
        .await?;
        Ok(found
            .and_then(|i| i.get("body").and_then(|b| b.as_s().ok()).cloned())
            .and_then(|text| serde_json::from_str(&text).ok()))
    }
}
