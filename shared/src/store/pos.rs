//! In-store sales and returns in the `Orders` table (DESIGN §4), beside the online orders:
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `POS#<store>#<sale>` | `SALE` | `store_id`, `sale_id`, `till`, `member`, `goods_fen`, `earned`, `returned_fen`, `clawed`, `at` |
//! | `POS#<store>#RETURN#<return>` | `RETURN` | `store_id`, `return_id`, `sale_id`, `till`, `member`, `returned_fen`, `returned_total_fen`, `clawed`, `at` |
//!
//! Ids never contain `#`, so the two key shapes never meet. Uniqueness is by item: a sale is put
//! with `attribute_not_exists(pk)` (1 WRU), and a return is one transaction (4 WRU) that puts its
//! item if absent and moves the sale's `returned_fen`/`clawed` on the condition that they are
//! still what the return was decided against — so concurrent or repeated returns never take back
//! more than the sale earned. A return id is unique per store (its key does not name the sale),
//! like its posting id `claw:pos:<store>:<return>`. The items carry neither `placed_at` nor
//! `sweep`, so they never enter the table's indexes.

use super::ledger::item::{key, Item};
use super::wru::{item_size, WriteCost};
use super::StoreError;
use crate::ids::{ReturnId, SaleId, StoreId};
use crate::pos::{decide_return, Return, ReturnError, ReturnRequest, Sale};
use crate::time::BusinessTime;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use std::future::Future;

const SALE_SK: &str = "SALE";
const RETURN_SK: &str = "RETURN";
const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// A return re-reads and re-decides at most this many times when other returns of the same sale
/// keep landing first, pausing a jittered, growing while between attempts (≤ 0.6 s in all).
pub const MAX_RETURN_ATTEMPTS: u32 = 8;

/// What recording a sale found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaleOutcome {
    /// This call recorded it.
    Recorded { cost: WriteCost },
    /// A sale with this id was recorded before (compare it to tell a retry from a reused id).
    Exists(Sale),
}

/// What recording a return found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReturnOutcome {
    /// This call recorded it and counted it on the sale.
    Recorded { cost: WriteCost },
    /// A return with this id was recorded before; nothing was written.
    Exists(Return),
    /// The sale changed (another return) or vanished since it was read: read and decide again.
    SaleChanged,
}

pub trait PosStore {
    /// Records a new sale unless its id is taken.
    fn record_sale(
        &self,
        sale: &Sale,
    ) -> impl Future<Output = Result<SaleOutcome, StoreError>> + Send;
    /// The sale (consistent read).
    fn sale(
        &self,
        store: &StoreId,
        sale: &SaleId,
    ) -> impl Future<Output = Result<Option<Sale>, StoreError>> + Send;
    /// The return (consistent read).
    fn return_of(
        &self,
        store: &StoreId,
        ret: &ReturnId,
    ) -> impl Future<Output = Result<Option<Return>, StoreError>> + Send;
    /// Records `ret` and moves the sale from `before` to `after`, in one transaction.
    fn record_return(
        &self,
        ret: &Return,
        before: &Sale,
        after: &Sale,
    ) -> impl Future<Output = Result<ReturnOutcome, StoreError>> + Send;
}

#[derive(Clone, Debug)]
pub struct DynamoPos {
    client: Client,
    table: String,
}

impl DynamoPos {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        super::get_consistent(&self.client, &self.table, key).await
    }
}

fn sale_key(store: &StoreId, sale: &SaleId) -> Item {
    key(format!("POS#{store}#{sale}"), SALE_SK.to_owned())
}

fn return_key(store: &StoreId, ret: &ReturnId) -> Item {
    key(format!("POS#{store}#RETURN#{ret}"), RETURN_SK.to_owned())
}

fn corrupt(item: &Item, why: impl std::fmt::Display) -> StoreError {
    let pk = match item.get("pk") {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    };
    StoreError::Corrupt {
        key: pk,
        why: why.to_string(),
    }
}

fn decode_sale(item: Item) -> Result<Sale, StoreError> {
    let sale: Sale = serde_dynamo::from_item(item.clone()).map_err(|e| corrupt(&item, e))?;
    // Pair assertion (STYLE 14): what was written by the pure core is checked on read.
    sale.check_invariants().map_err(|v| corrupt(&item, v))?;
    Ok(sale)
}

fn decode_return(item: Item) -> Result<Return, StoreError> {
    serde_dynamo::from_item(item.clone()).map_err(|e| corrupt(&item, e))
}

fn encode<T: serde::Serialize>(value: &T, key: Item) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(value).map_err(|e| corrupt(&key, e))?;
    item.extend(key);
    Ok(item)
}

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

impl DynamoPos {
    fn return_put(&self, ret: &Return) -> Result<(Put, usize), StoreError> {
        let item = encode(ret, return_key(&ret.store_id, &ret.return_id))?;
        let size = item_size(&item);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        Ok((put, size))
    }

    /// The sale's returned goods and clawed points, from `before`'s to `after`'s.
    fn sale_update(&self, before: &Sale, after: &Sale) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(sale_key(&before.store_id, &before.sale_id)))
            .update_expression("SET returned_fen = :returned_after, clawed = :clawed_after")
            .condition_expression(
                "attribute_exists(pk) AND returned_fen = :returned_before \
                 AND clawed = :clawed_before",
            )
            .expression_attribute_values(":returned_after", number(after.returned_fen.value()))
            .expression_attribute_values(":clawed_after", number(after.clawed.value()))
            .expression_attribute_values(":returned_before", number(before.returned_fen.value()))
            .expression_attribute_values(":clawed_before", number(before.clawed.value()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))
    }
}

impl PosStore for DynamoPos {
    async fn record_sale(&self, sale: &Sale) -> Result<SaleOutcome, StoreError> {
        debug_assert!(sale.check_invariants().is_ok());
        let item = encode(sale, sale_key(&sale.store_id, &sale.sale_id))?;
        let mut cost = WriteCost::default();
        cost.add("pos sale", item_size(&item));
        let sent = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match sent {
            Ok(_) => Ok(SaleOutcome::Recorded { cost }),
            Err(e) => match e.into_service_error() {
                PutItemError::ConditionalCheckFailedException(failed) => match failed.item {
                    Some(old) => Ok(SaleOutcome::Exists(decode_sale(old)?)),
                    // DynamoDB returns the old item on request; without it, read it.
                    None => match self.sale(&sale.store_id, &sale.sale_id).await? {
                        Some(old) => Ok(SaleOutcome::Exists(old)),
                        None => Err(StoreError::Corrupt {
                            key: format!("POS#{}#{}", sale.store_id, sale.sale_id),
                            why: "the sale exists and does not".to_owned(),
                        }),
                    },
                },
                other => Err(StoreError::dynamo("PutItem", other)),
            },
        }
    }

    async fn sale(&self, store: &StoreId, sale: &SaleId) -> Result<Option<Sale>, StoreError> {
        self.get(sale_key(store, sale))
            .await?
            .map(decode_sale)
            .transpose()
    }

    async fn return_of(
        &self,
        store: &StoreId,
        ret: &ReturnId,
    ) -> Result<Option<Return>, StoreError> {
        self.get(return_key(store, ret))
            .await?
            .map(decode_return)
            .transpose()
    }

    async fn record_return(
        &self,
        ret: &Return,
        before: &Sale,
        after: &Sale,
    ) -> Result<ReturnOutcome, StoreError> {
        debug_assert!(after.check_invariants().is_ok());
        debug_assert_eq!(after.returned_fen, ret.returned_total_fen);
        let (put, return_size) = self.return_put(ret)?;
        let update = self.sale_update(before, after)?;
        let sale_item = encode(after, sale_key(&after.store_id, &after.sale_id))?;
        let mut cost = WriteCost::default();
        cost.add_transactional("pos return", return_size)
            .add_transactional("pos sale", item_size(&sale_item));
        let sent = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .send()
            .await;
        let error = match sent {
            Ok(_) => return Ok(ReturnOutcome::Recorded { cost }),
            Err(error) => error,
        };
        let reasons: Vec<CancellationReason> = match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                cancelled.cancellation_reasons().to_vec()
            }
            _ => return Err(StoreError::dynamo("TransactWriteItems", error)),
        };
        let code = |i: usize| reasons.get(i).and_then(|r| r.code());
        if code(0) == Some(CONDITION_FAILED) {
            let existing = match reasons.first().and_then(|r| r.item.clone()) {
                Some(item) => Some(decode_return(item)?),
                None => self.return_of(&ret.store_id, &ret.return_id).await?,
            };
            if let Some(existing) = existing {
                return Ok(ReturnOutcome::Exists(existing));
            }
        }
        // The sale moved, vanished, or another transaction held it (TransactionConflict).
        if reasons
            .iter()
            .any(|r| matches!(r.code(), Some(CONDITION_FAILED | "TransactionConflict")))
        {
            return Ok(ReturnOutcome::SaleChanged);
        }
        Err(StoreError::dynamo("TransactWriteItems", error))
    }
}

/// What a till's return came to (`take_return`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Returned {
    /// Recorded now: its clawback is to be posted.
    Recorded { ret: Return, cost: WriteCost },
    /// The same return again: the stored one, nothing written (post its clawback again: the
    /// posting id makes that harmless).
    Replayed(Return),
    /// The return id was used before for another sale, till or amount: nothing written.
    IdReused(Return),
    /// No such sale at this store.
    UnknownSale,
    /// More than is left of the sale.
    Refused(ReturnError),
}

/// Reads, decides (`pos::decide_return`) and records a return exactly once: a repeat answers
/// the stored return, and a return racing another of the same sale is decided again against the
/// sale as the other left it (at most `MAX_RETURN_ATTEMPTS` times).
pub async fn take_return<S: PosStore + Sync>(
    store: &S,
    request: &ReturnRequest,
    at: BusinessTime,
) -> Result<Returned, StoreError> {
    let known = |existing: Return| {
        if existing.is_repeat_of(request) {
            Returned::Replayed(existing)
        } else {
            Returned::IdReused(existing)
        }
    };
    for attempt in 0..MAX_RETURN_ATTEMPTS {
        if attempt > 0 {
            let ceiling_ms = 5u64 << attempt.min(5);
            tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(
                1..=ceiling_ms,
            )))
            .await;
        }
        let (existing, sale) = tokio::try_join!(
            store.return_of(&request.store, &request.ret),
            store.sale(&request.store, &request.sale)
        )?;
        if let Some(existing) = existing {
            return Ok(known(existing));
        }
        let Some(sale) = sale else {
            return Ok(Returned::UnknownSale);
        };
        let decided = match decide_return(&sale, request, at) {
            Ok(decided) => decided,
            Err(refused) => return Ok(Returned::Refused(refused)),
        };
        match store
            .record_return(&decided.ret, &sale, &decided.after)
            .await?
        {
            ReturnOutcome::Recorded { cost } => {
                return Ok(Returned::Recorded {
                    ret: decided.ret,
                    cost,
                })
            }
            ReturnOutcome::Exists(existing) => return Ok(known(existing)),
            ReturnOutcome::SaleChanged => continue,
        }
    }
    // Transient: the till retries later.
    Err(StoreError::Dynamo {
        operation: "TransactWriteItems",
        message: format!("the sale kept changing; gave up after {MAX_RETURN_ATTEMPTS} attempts"),
    })
}
