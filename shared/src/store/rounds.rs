//! Group-buy rounds in the `GroupBuys` table (DESIGN §4), all under the round's partition:
//!
//! | sk | attributes |
//! |---|---|
//! | `ROUND` | the round (`groupbuy::Round`), `status` |
//! | `SKU#<sku>#SHARD#<n>` | `qty` paid for that SKU in this shard |
//! | `MEMBER#<member>#<sku>` | `qty` that member paid for |
//! | `LINE#<order>` | the order's lines (`member`, `lines`, `paid_at`) |
//!
//! A payment is counted once, in one transaction: the order's `LINE#` item (only if absent — a
//! repeated notify counts nothing), a check that the round is still open at the payment's time,
//! and per line the SKU's counter and the member's. An SKU without a maximum spreads over
//! `SKU_SHARDS` counters (by order), so a hot item is never one hot key and no increment is
//! lost (each is an atomic ADD); an SKU with a maximum has one counter, raised only while it
//! stays within the maximum (never oversold); a member's counter only within the per-member
//! limit. A payment any condition refuses is counted not at all, and says which.

use super::ledger::item::{key, Item};
use super::StoreError;
use crate::groupbuy::join::JoinLine;
use crate::groupbuy::{Round, RoundStatus};
use crate::ids::{MemberId, OrderId, RoundId, SkuId};
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use aws_sdk_dynamodb::Client;
use std::collections::{BTreeMap, HashMap};

/// Tries of a paid join's transaction while other joins conflict with it.
const CONFLICT_ATTEMPTS: u32 = 10;
/// Counters an uncapped SKU spreads over.
pub const SKU_SHARDS: u8 = 8;
const ROUND_SK: &str = "ROUND";

fn round_pk(id: &RoundId) -> String {
    format!("ROUND#{id}")
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn invalid(e: impl std::error::Error) -> StoreError {
    StoreError::dynamo("TransactWriteItems", e)
}

/// What counting a paid join found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Counted {
    /// Counted now.
    Counted,
    /// Counted before (a repeated notify).
    Already,
    /// The round was closed (or its cutoff passed) when the payment came.
    Closed,
    /// Counting would sell more of this SKU than its maximum.
    SoldOut(SkuId),
    /// Counting would take the member past this SKU's limit.
    OverLimit(SkuId),
    /// A line names an SKU the round does not offer.
    UnknownSku(SkuId),
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
        let mut rounds = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("sk = :round")
                .expression_attribute_values(":round", AttributeValue::S(ROUND_SK.to_owned()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Scan", e))?;
            for item in page.items.unwrap_or_default() {
                let round = serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
                    key: "ROUND".into(),
                    why: e.to_string(),
                })?;
                rounds.push(round);
            }
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => break,
            }
        }
        rounds.sort_by_key(|r: &Round| r.cutoff_at);
        Ok(rounds)
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
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", AttributeValue::S(round_pk(id)))
                .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| StoreError::dynamo("Query", e))?;
            items.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(next) if !next.is_empty() => start = Some(next),
                _ => return Ok(items),
            }
        }
    }

    /// Counts a paid join of `round` by `member` (order `order`, paid at `paid_at`), once.
    pub async fn count_paid(
        &self,
        round: &Round,
        order: &OrderId,
        member: &MemberId,
        lines: &[JoinLine],
        paid_at: BusinessTime,
    ) -> Result<Counted, StoreError> {
        // Joins at the same time conflict on the round's item (and a capped SKU's counter):
        // a cancelled transaction with no failed condition is tried again after a pause.
        for attempt in 0..CONFLICT_ATTEMPTS {
            match self
                .count_once(round, order, member, lines, paid_at)
                .await?
            {
                Some(counted) => return Ok(counted),
                None => {
                    let ceiling = 10u64.saturating_mul(1 << attempt.min(6));
                    tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(
                        1..=ceiling,
                    )))
                    .await;
                }
            }
        }
        Err(StoreError::Contended {
            attempts: CONFLICT_ATTEMPTS,
        })
    }

    /// One try: None when the transaction conflicted with another (no condition failed).
    async fn count_once(
        &self,
        round: &Round,
        order: &OrderId,
        member: &MemberId,
        lines: &[JoinLine],
        paid_at: BusinessTime,
    ) -> Result<Option<Counted>, StoreError> {
        let pk = round_pk(&round.round_id);
        let mut items = vec![self.line_put(&pk, order, member, lines, paid_at)?];
        let open = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), ROUND_SK.to_owned())))
            .condition_expression("#status = :open AND cutoff_at > :paid")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":open", AttributeValue::S("open".into()))
            .expression_attribute_values(":paid", n(paid_at.epoch_ms()))
            .build()
            .map_err(invalid)?;
        items.push(TransactWriteItem::builder().condition_check(open).build());
        // What each later item refuses, in order.
        let mut refusals = vec![Counted::Already, Counted::Closed];
        for line in lines {
            let Some(offer) = round.sku(&line.sku) else {
                return Ok(Some(Counted::UnknownSku(line.sku.clone())));
            };
            let shard = match offer.max_qty {
                Some(_) => 0,
                None => order.shard(SKU_SHARDS),
            };
            let counter = format!("SKU#{}#SHARD#{shard}", line.sku);
            items.push(self.raise(&pk, &counter, line.qty, offer.max_qty)?);
            refusals.push(Counted::SoldOut(line.sku.clone()));
            let mine = format!("MEMBER#{member}#{}", line.sku);
            items.push(self.raise(&pk, &mine, line.qty, offer.per_member)?);
            refusals.push(Counted::OverLimit(line.sku.clone()));
        }
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let failed = match sent {
            Ok(_) => return Ok(Some(Counted::Counted)),
            Err(e) => match super::condition_failed(e.as_service_error()) {
                Some(failed) => failed,
                None => return Err(StoreError::dynamo("TransactWriteItems", e)),
            },
        };
        Ok(refusals
            .into_iter()
            .zip(failed)
            .find_map(|(refusal, failed)| failed.then_some(refusal)))
    }

    fn line_put(
        &self,
        pk: &str,
        order: &OrderId,
        member: &MemberId,
        lines: &[JoinLine],
        paid_at: BusinessTime,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut item: Item = HashMap::new();
        item.extend(key(pk.to_owned(), format!("LINE#{order}")));
        item.insert("member".into(), AttributeValue::S(member.to_string()));
        item.insert("paid_at".into(), n(paid_at.epoch_ms()));
        let lines = serde_dynamo::to_attribute_value(lines).map_err(|e| StoreError::Corrupt {
            key: format!("{pk}/LINE#{order}"),
            why: e.to_string(),
        })?;
        item.insert("lines".into(), lines);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(invalid)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Adds `qty` to the counter `sk`, only while it stays within `cap` (None: always).
    fn raise(
        &self,
        pk: &str,
        sk: &str,
        qty: i64,
        cap: Option<i64>,
    ) -> Result<TransactWriteItem, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), sk.to_owned())))
            .update_expression("ADD qty :q")
            .expression_attribute_values(":q", n(qty));
        if let Some(cap) = cap {
            update = update
                .condition_expression("(attribute_not_exists(qty) AND :q <= :cap) OR qty <= :room")
                .expression_attribute_values(":cap", n(cap))
                .expression_attribute_values(":room", n(cap - qty));
        }
        let update = update.build().map_err(invalid)?;
        Ok(TransactWriteItem::builder().update(update).build())
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
            .update_expression("SET #status = :to")
            .condition_expression("#status = :from")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":from", status(from)?)
            .expression_attribute_values(":to", status(to)?)
            .send()
            .await;
        super::conditional_update(sent)
    }
}

/// A paid order's lines as stored (`LINE#<order>`), with their fates once the cutoff decided.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct LineItem {
    pub sk: String,
    pub member: MemberId,
    pub lines: Vec<JoinLine>,
    #[serde(default)]
    pub fates: Option<Vec<crate::groupbuy::cutoff::LineFate>>,
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
        let found = super::get_consistent(
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
        super::conditional_update(sent)
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
        super::put(&self.client, &self.table, item).await
    }

    /// An output item's body, if written.
    pub async fn output(
        &self,
        id: &RoundId,
        sk: &str,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let found =
            super::get_consistent(&self.client, &self.table, key(round_pk(id), sk.to_owned()))
                .await?;
        Ok(found
            .and_then(|i| i.get("body").and_then(|b| b.as_s().ok()).cloned())
            .and_then(|text| serde_json::from_str(&text).ok()))
    }
}
