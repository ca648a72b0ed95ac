//! Group-buy rounds in the `GroupBuys` table (DESIGN §4), all under the round's partition:
//!
//! | sk | attributes |
//! |---|---|
//! | `ROUND` | the round (`groupbuy::Round`), `status`; `due`/`due_at` (index `by_due`) until closed |
//! | `SKU#<sku>#SHARD#<n>` | `qty` paid for that SKU in this shard |
//! | `MEMBER#<member>#<sku>` | `qty` that member paid for |
//! | `LINE#<order>` | the order's lines (`member`, `lines`, `paid_at`; `cancelled_at`, `fates`) |
//! | `LIST#<store>`, `BATCH#<community>#PAGE#<n>`, `METRICS` | the cutoff's outputs (`body`) |
//!
//! Recurring templates live under `TEMPLATE#<id>` / `TEMPLATE` (`templates.rs`).
//!
//! A payment is counted once, in one transaction: the order's `LINE#` item (only if absent — a
//! repeated notify counts nothing), a check that the round is still open at the payment's time,
//! and per line the SKU's counter and the member's. An SKU without a maximum spreads over
//! `SKU_SHARDS` counters (by order), so a hot item is never one hot key and no increment is
//! lost (each is an atomic ADD); an SKU with a maximum has one counter, raised only while it
//! stays within the maximum (never oversold); a member's counter only within the per-member
//! limit. A payment any condition refuses is counted not at all, and says which.
//!
//! A join cancelled before the cutoff is taken back out the same way (`withdraw`): its `LINE#`
//! item marked `cancelled_at` — kept, so a repeated notify still finds it — and every counter
//! lowered by what the payment added, while the round is open.

use super::ledger::item::{key, Item};
use super::StoreError;
use crate::groupbuy::{Round, RoundStatus};
use crate::ids::{MemberId, RoundId, SkuId};
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use std::collections::BTreeMap;

mod count;
mod lines;
mod templates;

pub use count::{Counted, Withdrawn};
pub use lines::LineItem;

/// Counters an uncapped SKU spreads over.
pub const SKU_SHARDS: u8 = 8;
const ROUND_SK: &str = "ROUND";
/// The `by_due` partition of rounds not yet closed.
const DUE: &str = "DUE";
/// Pages of due rounds one run reads (1 MB each: thousands of rounds).
const MAX_DUE_PAGES: usize = 20;

fn round_pk(id: &RoundId) -> String {
    format!("ROUND#{id}")
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn invalid(e: impl std::error::Error) -> StoreError {
    StoreError::dynamo("TransactWriteItems", e)
}

#[derive(Clone, Debug)]
pub struct DynamoRounds {
    client: Client,
    table: String,
}

impl DynamoRounds {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores a new round; false when one with its id exists.
    pub async fn create(&self, round: &Round) -> Result<bool, StoreError> {
        let mut item: Item = serde_dynamo::to_item(round).map_err(|e| StoreError::Corrupt {
            key: round_pk(&round.round_id),
            why: e.to_string(),
        })?;
        item.extend(key(round_pk(&round.round_id), ROUND_SK.to_owned()));
        if round.status != RoundStatus::Closed {
            item.insert("due".into(), AttributeValue::S(DUE.to_owned()));
            item.insert("due_at".into(), n(round.cutoff_at.epoch_ms()));
        }
        super::put_if_absent(&self.client, &self.table, item).await
    }

    pub async fn get(&self, id: &RoundId) -> Result<Option<Round>, StoreError> {
        let found = super::get_consistent(
            &self.client,
            &self.table,
            key(round_pk(id), ROUND_SK.to_owned()),
        )
        .await?;
        found
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
                    key: round_pk(id),
                    why: e.to_string(),
                })
            })
            .transpose()
    }

    /// Every round (operators' listing: a scan of the round items, not for request paths).
    pub async fn list(&self) -> Result<Vec<Round>, StoreError> {
        let mut rounds = self
            .scan_sk(ROUND_SK)
            .await?
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
                    key: ROUND_SK.into(),
                    why: e.to_string(),
                })
            })
            .collect::<Result<Vec<Round>, _>>()?;
        rounds.sort_by_key(|r: &Round| r.cutoff_at);
        Ok(rounds)
    }

    /// Every round not yet closed whose cutoff is at or before `now` (the sparse `by_due`
    /// index, not a scan: its cost is the due rounds', not the table's).
    pub async fn due(&self, now: BusinessTime) -> Result<Vec<Round>, StoreError> {
        let mut rounds = Vec::new();
        let mut start: Option<Item> = None;
        for _ in 0..MAX_DUE_PAGES {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("by_due")
                .key_condition_expression("due = :due AND due_at <= :now")
                .expression_attribute_values(":due", AttributeValue::S(DUE.to_owned()))
                .expression_attribute_values(":now", n(now.epoch_ms()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            for item in page.items.unwrap_or_default() {
                let round: Round =
                    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
                        key: "by_due".into(),
                        why: e.to_string(),
                    })?;
                rounds.push(round);
            }
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        Ok(rounds)
    }

    /// Every item whose sort key is `sk` (a scan: operators' listings only).
    async fn scan_sk(&self, sk: &str) -> Result<Vec<Item>, StoreError> {
        let scan = self
            .client
            .scan()
            .table_name(&self.table)
            .filter_expression("sk = :sk")
            .expression_attribute_values(":sk", AttributeValue::S(sk.to_owned()));
        super::scan_all(scan).await
    }

    /// Each SKU's paid count so far (its shards summed).
    pub async fn joined(&self, id: &RoundId) -> Result<BTreeMap<SkuId, i64>, StoreError> {
        let mut totals = BTreeMap::new();
        for item in self.query_prefix(id, "SKU#").await? {
            let sku = match item.get("sk") {
                Some(AttributeValue::S(sk)) => sk
                    .strip_prefix("SKU#")
                    .and_then(|rest| rest.rsplit_once("#SHARD#"))
                    .and_then(|(sku, _)| SkuId::parse(sku).ok()),
                _ => None,
            };
            let qty = item
                .get("qty")
                .and_then(|v| v.as_n().ok())
                .and_then(|q| q.parse::<i64>().ok());
            if let (Some(sku), Some(qty)) = (sku, qty) {
                *totals.entry(sku).or_insert(0) += qty;
            }
        }
        Ok(totals)
    }

    /// What `member` has paid for in this round so far, per SKU.
    pub async fn member_joined(
        &self,
        id: &RoundId,
        member: &MemberId,
    ) -> Result<BTreeMap<SkuId, i64>, StoreError> {
        let prefix = format!("MEMBER#{member}#");
        let mut totals = BTreeMap::new();
        for item in self.query_prefix(id, &prefix).await? {
            let sku = match item.get("sk") {
                Some(AttributeValue::S(sk)) => {
                    sk.strip_prefix(&prefix).and_then(|s| SkuId::parse(s).ok())
                }
                _ => None,
            };
            let qty = item.get("qty").and_then(|v| v.as_n().ok());
            if let (Some(sku), Some(Ok(qty))) = (sku, qty.map(|q| q.parse::<i64>())) {
                totals.insert(sku, qty);
            }
        }
        Ok(totals)
    }

    async fn query_prefix(&self, id: &RoundId, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let query = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(round_pk(id)))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
            .consistent_read(true);
        super::query_all(query).await
    }

    /// Moves the round from `from` to `to` (conditional: exactly one caller moves it).
    pub async fn advance(
        &self,
        id: &RoundId,
        from: RoundStatus,
        to: RoundStatus,
    ) -> Result<bool, StoreError> {
        let status = |s: RoundStatus| {
            serde_dynamo::to_attribute_value(s).map_err(|e| StoreError::Corrupt {
                key: round_pk(id),
                why: e.to_string(),
            })
        };
        let sent = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(round_pk(id), ROUND_SK.to_owned())))
            .update_expression(match to {
                // A closed round leaves the due index.
                RoundStatus::Closed => "SET #status = :to REMOVE due, due_at",
                _ => "SET #status = :to",
            })
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":from", status(from)?)
            .expression_attribute_values(":to", status(to)?)
            .send()
            .await;
        super::conditional_update(sent)
    }
}
