//! Counting a paid join into its round, and taking a cancelled one back out (see `mod.rs`).

use super::{invalid, n, round_pk, DynamoRounds, LineItem, ROUND_SK, SKU_SHARDS};
use crate::groupbuy::join::JoinLine;
use crate::groupbuy::Round;
use crate::ids::{MemberId, OrderId, SkuId};
use crate::store::ledger::item::{key, Item};
use crate::store::StoreError;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem, Update};
use std::collections::HashMap;

/// Tries of a paid join's transaction while other joins conflict with it.
const CONFLICT_ATTEMPTS: u32 = 10;

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

/// What taking a cancelled join back out of its round found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Withdrawn {
    /// Taken out now: its quantities no longer count toward the round.
    Withdrawn,
    /// Taken out before (a repeated cancel).
    Already,
    /// The round's cutoff has begun (or its time passed): the join stays.
    Closed,
    /// No paid join of this order is counted (the payment not yet confirmed, or refused).
    NotCounted,
}

impl DynamoRounds {
    /// Counts a paid join of `round` by `member` (order `order`, paid at `paid_at`), once.
    pub async fn count_paid(
        &self,
        round: &Round,
        order: &OrderId,
        member: &MemberId,
        lines: &[JoinLine],
        paid_at: BusinessTime,
    ) -> Result<Counted, StoreError> {
        retrying(|| self.count_once(round, order, member, lines, paid_at)).await
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
        items.push(self.still_open(&pk, paid_at)?);
        // What each later item refuses, in order.
        let mut refusals = vec![Counted::Already, Counted::Closed];
        for line in lines {
            let Some(offer) = round.sku(&line.sku) else {
                return Ok(Some(Counted::UnknownSku(line.sku.clone())));
            };
            let counter = sku_counter(order, line, offer.max_qty);
            items.push(self.raise(&pk, &counter, line.qty, offer.max_qty)?);
            refusals.push(Counted::SoldOut(line.sku.clone()));
            let mine = format!("MEMBER#{member}#{}", line.sku);
            items.push(self.raise(&pk, &mine, line.qty, offer.per_member)?);
            refusals.push(Counted::OverLimit(line.sku.clone()));
        }
        Ok(match self.transact(items).await? {
            Some(failed) => refusals
                .into_iter()
                .zip(failed)
                .find_map(|(refusal, failed)| failed.then_some(refusal)),
            None => Some(Counted::Counted),
        })
    }

    /// Takes a counted join of `order` back out of its round at `now` (the member cancelled
    /// before the cutoff), once, in one transaction: its `LINE#` item marked `cancelled_at`
    /// (kept, so a repeated payment notify still counts nothing), a check that the round is
    /// open, and each counter the payment raised lowered by the same quantity.
    pub async fn withdraw(
        &self,
        round: &Round,
        order: &OrderId,
        now: BusinessTime,
    ) -> Result<Withdrawn, StoreError> {
        let Some(line) = self.line(&round.round_id, order).await? else {
            return Ok(Withdrawn::NotCounted);
        };
        if line.cancelled_at.is_some() {
            return Ok(Withdrawn::Already);
        }
        if line.fates.is_some() {
            return Ok(Withdrawn::Closed);
        }
        retrying(|| self.withdraw_once(round, order, &line, now)).await
    }

    async fn withdraw_once(
        &self,
        round: &Round,
        order: &OrderId,
        line: &LineItem,
        now: BusinessTime,
    ) -> Result<Option<Withdrawn>, StoreError> {
        let pk = round_pk(&round.round_id);
        let mark = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), format!("LINE#{order}"))))
            .update_expression("SET cancelled_at = :now")
            .condition_expression(
                "attribute_exists(pk) AND attribute_not_exists(cancelled_at) \
                 AND attribute_not_exists(fates)",
            )
            .expression_attribute_values(":now", n(now.epoch_ms()))
            .build()
            .map_err(invalid)?;
        let mut items = vec![
            TransactWriteItem::builder().update(mark).build(),
            self.still_open(&pk, now)?,
        ];
        for joined in &line.lines {
            let max = round.sku(&joined.sku).and_then(|offer| offer.max_qty);
            let counter = sku_counter(order, joined, max);
            items.push(self.lower(&pk, &counter, joined.qty)?);
            let mine = format!("MEMBER#{}#{}", line.member, joined.sku);
            items.push(self.lower(&pk, &mine, joined.qty)?);
        }
        let Some(failed) = self.transact(items).await? else {
            return Ok(Some(Withdrawn::Withdrawn));
        };
        let failed_at = |i: usize| failed.get(i).copied().unwrap_or(false);
        if failed_at(1) {
            // The cutoff began (its fates may be recorded too): the join stays.
            return Ok(Some(Withdrawn::Closed));
        }
        if failed_at(0) {
            // Changed since it was read: cancelled meanwhile, or decided by the cutoff.
            let now_line = self.line(&round.round_id, order).await?;
            return Ok(Some(match now_line {
                Some(l) if l.fates.is_some() && l.cancelled_at.is_none() => Withdrawn::Closed,
                Some(l) if l.cancelled_at.is_some() => Withdrawn::Already,
                _ => Withdrawn::NotCounted,
            }));
        }
        match failed.iter().any(|f| *f) {
            false => Ok(None),
            true => Err(StoreError::Corrupt {
                key: format!("{pk}/LINE#{order}"),
                why: "a counter holds less than the join it would give back".into(),
            }),
        }
    }

    /// The round is open and its cutoff after `at`.
    fn still_open(&self, pk: &str, at: BusinessTime) -> Result<TransactWriteItem, StoreError> {
        let open = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), ROUND_SK.to_owned())))
            .condition_expression("#status = :open AND cutoff_at > :at")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":open", AttributeValue::S("open".into()))
            .expression_attribute_values(":at", n(at.epoch_ms()))
            .build()
            .map_err(invalid)?;
        Ok(TransactWriteItem::builder().condition_check(open).build())
    }

    /// Sends one transaction: None when it was written, else which items' conditions failed
    /// (none of them: it conflicted with another transaction and may be tried again).
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
    ) -> Result<Option<Vec<bool>>, StoreError> {
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(None),
            Err(e) => match crate::store::condition_failed(e.as_service_error()) {
                Some(failed) => Ok(Some(failed)),
                None => Err(StoreError::dynamo("TransactWriteItems", e)),
            },
        }
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

    /// Takes `qty` off the counter `sk` (never below zero).
    fn lower(&self, pk: &str, sk: &str, qty: i64) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.to_owned(), sk.to_owned())))
            .update_expression("ADD qty :minus")
            .condition_expression("qty >= :q")
            .expression_attribute_values(":minus", n(-qty))
            .expression_attribute_values(":q", n(qty))
            .build()
            .map_err(invalid)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }
}

/// The counter a line of `order` raises: an SKU with a maximum has one, the others spread over
/// `SKU_SHARDS` by order.
fn sku_counter(order: &OrderId, line: &JoinLine, max: Option<i64>) -> String {
    let shard = match max {
        Some(_) => 0,
        None => order.shard(SKU_SHARDS),
    };
    format!("SKU#{}#SHARD#{shard}", line.sku)
}

/// Runs `once` until it answers (None: it conflicted with another transaction — joins at the
/// same time conflict on the round's item and a capped SKU's counter), pausing a random,
/// growing while between tries; at most `CONFLICT_ATTEMPTS` tries.
async fn retrying<T, F, Fut>(mut once: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, StoreError>>,
{
    for attempt in 0..CONFLICT_ATTEMPTS {
        if let Some(answer) = once().await? {
            return Ok(answer);
        }
        let ceiling = 10u64.saturating_mul(1 << attempt.min(6));
        tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(1..=ceiling))).await;
    }
    Err(StoreError::Contended {
        attempts: CONFLICT_ATTEMPTS,
    })
}
