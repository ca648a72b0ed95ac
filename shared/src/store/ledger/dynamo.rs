//! The ledger on DynamoDB: one `TransactWriteItems` per posting (DESIGN §4–5).
//!
//! 1. Read the profile (consistent).
//! 2. `ledger::apply` decides: the posting's legs and result, and the next profile.
//! 3. Write, in one transaction: put `POSTING#<id>` if it does not exist, and update the profile's
//!    ledger attributes if its version did not move; both return the old item on a failed
//!    condition (`ALL_OLD`), which tells the outcomes apart without another read:
//!    - the posting exists → same content: its stored result (a replay); other content: error;
//!    - the version moved → re-decide against the profile the failure returned;
//!    - `TransactionConflict` (another transaction on the same items) → jittered backoff, retry.
//!
//! A refusal by the ledger (e.g. insufficient points) may be a retry of a posting that already
//! succeeded (its own effect is why it is now refused), so a refusal first looks for the posting.

use super::item::{
    self, decode_posting, decode_profile, integer, posting_key, profile_key, string, Item,
    HISTORY_INDEX, HISTORY_KEYS, HISTORY_PROJECTION, HOLD_INDEX_KEYS, PK, POSTED_AT, SK,
};
use super::{HistoryCursor, HistoryLine, HistoryPage, LedgerStore, Posted, RetryPolicy};
use crate::ids::{Identity, MemberId, PostingId};
use crate::ledger::{
    apply, closed_hold, explain_closed_hold, redirected, replay, Applied, LedgerError, Posting,
    PostingOutcome, PostingRequest, Profile, TierChange, MAX_MERGE_HOPS,
};
use crate::money::Points;
use crate::store::wru::{index_entry_writes, item_size, lsi_entry_size, WriteCost};
use crate::store::StoreError;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, Put, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use std::borrow::Cow;
use std::collections::HashMap;
use std::time::Duration;

pub(crate) const CONDITION_FAILED: &str = "ConditionalCheckFailed";
/// BatchGetItem's limit on keys per request.
const MAX_BATCH_GET: usize = 100;
pub(crate) const TRANSACTION_CONFLICT: &str = "TransactionConflict";

#[derive(Clone, Debug)]
pub struct DynamoLedger {
    pub(super) client: Client,
    pub(super) table: String,
    pub(super) retry: RetryPolicy,
}

/// Why a posting transaction did not commit.
enum Cancelled {
    /// The posting id is already recorded (its stored item, when DynamoDB returned it).
    PostingExists(Option<Box<Item>>),
    /// The profile changed since it was read (its current item), or it does not exist (None).
    ProfileMoved(Option<Box<Item>>),
    /// Another transaction was working on the same items.
    Conflict,
    /// A write the caller added failed its condition (its index among them, its old item).
    Extra(usize, Option<Box<Item>>),
}

/// A write the caller adds to a posting's transaction.
#[derive(Clone, Debug)]
pub struct ExtraWrite {
    pub item: TransactWriteItem,
    /// What it writes, for the write cost (e.g. "order", "stock").
    pub label: &'static str,
    /// Its item's size in bytes.
    pub size: usize,
}

/// What a posting written together with the caller's own writes found.
#[derive(Debug)]
pub enum PostedWith {
    /// The posting and every extra write committed (or the posting had: a replay).
    Posted(Posted),
    /// The extra write at `index` failed its condition: nothing was written.
    ExtraRefused { index: usize, old: Option<Item> },
}

impl DynamoLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            retry: RetryPolicy::default(),
        }
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    pub(super) fn client(&self) -> &Client {
        &self.client
    }

    pub(super) fn retry(&self) -> RetryPolicy {
        self.retry
    }

    pub(crate) async fn get(&self, key: Item) -> Result<Option<Item>, StoreError> {
        crate::store::get_consistent(&self.client, &self.table, key).await
    }

    pub(super) async fn stored_posting(
        &self,
        member: &MemberId,
        id: &PostingId,
    ) -> Result<Option<Posting>, StoreError> {
        match self.get(posting_key(member, id)).await? {
            Some(item) => decode_posting(&item).map(Some),
            None => Ok(None),
        }
    }

    /// The ledger refused `request`. A retry of a posting that already succeeded gets its stored
    /// result; a capture of a voided hold (or the reverse) gets the precise error.
    async fn refused(
        &self,
        request: &PostingRequest,
        error: LedgerError,
        attempts: u32,
    ) -> Result<Posted, StoreError> {
        if let Some(stored) = self.stored_posting(&request.member, &request.id).await? {
            return replayed(&stored, request, attempts);
        }
        if let LedgerError::HoldNotOpen(_) = &error {
            for op in &request.ops {
                let Some(order) = closed_hold(op) else {
                    continue;
                };
                let member = &request.member;
                let voided = self.get(posting_key(member, &PostingId::void_order(order)));
                let captured = self.get(posting_key(member, &PostingId::pay_order(order)));
                let (voided, captured) = tokio::try_join!(voided, captured)?;
                if let Some(precise) = explain_closed_hold(op, voided.is_some(), captured.is_some())
                {
                    return Err(precise.into());
                }
            }
        }
        if !matches!(error, LedgerError::Merged { .. }) {
            tracing::info!(
                posting = %request.id,
                member = %request.member.masked(),
                reason = %error,
                "posting refused"
            );
        }
        Err(error.into())
    }

    /// Writes a decided posting; `profile_item` is the profile item it was decided against.
    async fn write(
        &self,
        applied: &Applied,
        profile_item: &Item,
        before: &Profile,
        extra: &[ExtraWrite],
    ) -> Result<Result<WriteCost, Cancelled>, StoreError> {
        let mut cost = WriteCost::default();
        let put = self.posting_put(&applied.posting, &mut cost)?;
        let update = self.profile_update(profile_item, before, &applied.profile, &mut cost)?;
        let mut items = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder().update(update).build(),
        ];
        if let Some(change) = &applied.tier_change {
            items.push(self.tier_change_put(change, &mut cost)?);
        }
        let extra_from = items.len();
        for write in extra {
            cost.add_transactional(write.label, write.size);
            items.push(write.item.clone());
        }
        let sent = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Ok(cost)),
            Err(error) => {
                let reasons = match error.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                        cancelled.cancellation_reasons().to_vec()
                    }
                    _ => return Err(StoreError::dynamo("TransactWriteItems", error)),
                };
                match classify(&reasons, extra_from) {
                    Some(cancelled) => Ok(Err(cancelled)),
                    None => Err(StoreError::dynamo("TransactWriteItems", error)),
                }
            }
        }
    }

    /// The put of a posting item, on the condition that its id is not recorded yet.
    pub(super) fn posting_put(
        &self,
        posting: &Posting,
        cost: &mut WriteCost,
    ) -> Result<Put, StoreError> {
        let posting_item = item::posting_item(posting)?;
        cost.add_transactional("posting", item_size(&posting_item))
            .add_transactional(
                "history index",
                lsi_entry_size(&posting_item, &HISTORY_KEYS, &HISTORY_PROJECTION),
            );
        Put::builder()
            .table_name(&self.table)
            .set_item(Some(posting_item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))
    }

    /// The record of a tier change, written with the posting that made it (after the posting
    /// and the profile in the transaction, so cancellation reasons keep their positions).
    pub(super) fn tier_change_put(
        &self,
        change: &TierChange,
        cost: &mut WriteCost,
    ) -> Result<TransactWriteItem, StoreError> {
        let record = item::tier_change_item(change)?;
        cost.add_transactional("tier change", item_size(&record));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(record))
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// The update of a profile's ledger attributes to `after`, on the condition that its
    /// version is still the one `before` was read at. It sets or removes the hold index keys
    /// in the same update, so the index never disagrees with the holds for long.
    pub(super) fn profile_update(
        &self,
        profile_item: &Item,
        before: &Profile,
        after: &Profile,
        cost: &mut WriteCost,
    ) -> Result<Update, StoreError> {
        let next_profile_item = item::updated_profile_item(profile_item, after)?;
        cost.add_transactional(
            "profile",
            item_size(profile_item).max(item_size(&next_profile_item)),
        );
        // A GSI is updated after the transaction commits, not inside it: its entry writes are
        // standard writes, and only when the profile enters, leaves or moves in the index.
        for entry in index_entry_writes(
            profile_item,
            &next_profile_item,
            &[PK, SK],
            &HOLD_INDEX_KEYS,
            &[],
        ) {
            cost.add("hold index", entry);
        }
        let mut names = HashMap::from([("#v".to_owned(), item::VERSION.to_owned())]);
        let mut values = HashMap::from([(
            ":expected".to_owned(),
            AttributeValue::N(before.version.to_string()),
        )]);
        let mut sets = Vec::new();
        for (i, (name, value)) in item::ledger_attributes(after)?.into_iter().enumerate() {
            names.insert(format!("#a{i}"), name);
            values.insert(format!(":a{i}"), value);
            sets.push(format!("#a{i} = :a{i}"));
        }
        let mut expression = format!("SET {}", sets.join(", "));
        let removed = item::removed_attributes(after);
        for (i, name) in removed.iter().enumerate() {
            names.insert(format!("#r{i}"), (*name).to_owned());
        }
        if !removed.is_empty() {
            let list: Vec<String> = (0..removed.len()).map(|i| format!("#r{i}")).collect();
            expression.push_str(&format!(" REMOVE {}", list.join(", ")));
        }
        Update::builder()
            .table_name(&self.table)
            .set_key(Some(profile_key(&before.member)))
            .update_expression(expression)
            .condition_expression("#v = :expected")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))
    }

    async fn post_here(
        &self,
        request: &PostingRequest,
        extra: &[ExtraWrite],
    ) -> Result<PostedWith, StoreError> {
        let mut profile_item = self.get(profile_key(&request.member)).await?;
        for attempt in 1..=self.retry.max_attempts {
            let Some(current) = profile_item.take() else {
                return match self.stored_posting(&request.member, &request.id).await? {
                    Some(stored) => replayed(&stored, request, attempt).map(PostedWith::Posted),
                    None => Err(LedgerError::UnknownMember.into()),
                };
            };
            let before = decode_profile(&current)?;
            let applied = match apply(&before, request) {
                Ok(applied) => applied,
                Err(error) => {
                    return self
                        .refused(request, error, attempt)
                        .await
                        .map(PostedWith::Posted)
                }
            };
            match self.write(&applied, &current, &before, extra).await? {
                Ok(cost) => {
                    tracing::info!(
                        posting = %request.id,
                        member = %request.member.masked(),
                        available = applied.profile.available.value(),
                        delta = applied.posting.result.available_delta.value(),
                        wru = cost.total(),
                        attempts = attempt,
                        "posting applied"
                    );
                    return Ok(PostedWith::Posted(Posted {
                        outcome: PostingOutcome {
                            result: applied.posting.result,
                            replayed: false,
                        },
                        cost,
                        attempts: attempt,
                    }));
                }
                Err(Cancelled::PostingExists(Some(stored))) => {
                    return replayed(&decode_posting(&stored)?, request, attempt)
                        .map(PostedWith::Posted);
                }
                Err(Cancelled::PostingExists(None)) => {
                    let stored = self.stored_posting(&request.member, &request.id).await?;
                    return match stored {
                        Some(stored) => replayed(&stored, request, attempt).map(PostedWith::Posted),
                        None => Err(StoreError::Corrupt {
                            key: request.id.to_string(),
                            why: "the posting exists but cannot be read".to_owned(),
                        }),
                    };
                }
                Err(Cancelled::ProfileMoved(now)) => {
                    tracing::debug!(posting = %request.id, attempt, "profile moved: re-deciding");
                    profile_item = now.map(|item| *item);
                }
                Err(Cancelled::Extra(index, old)) => {
                    return Ok(PostedWith::ExtraRefused {
                        index,
                        old: old.map(|item| *item),
                    });
                }
                Err(Cancelled::Conflict) => {
                    tracing::debug!(posting = %request.id, attempt, "transaction conflict: retrying");
                    self.pause(attempt).await;
                    profile_item = self.get(profile_key(&request.member)).await?;
                }
            }
        }
        tracing::warn!(
            posting = %request.id,
            member = %request.member.masked(),
            attempts = self.retry.max_attempts,
            "posting gave up under contention"
        );
        Err(StoreError::Contended {
            attempts: self.retry.max_attempts,
        })
    }

    pub(super) async fn pause(&self, attempt: u32) {
        let ceiling = self.retry.ceiling_ms(attempt);
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=ceiling))).await;
    }
}

fn classify(reasons: &[CancellationReason], extra_from: usize) -> Option<Cancelled> {
    let code = |i: usize| reasons.get(i).and_then(CancellationReason::code);
    let old = |i: usize| {
        reasons
            .get(i)
            .and_then(CancellationReason::item)
            .filter(|item| !item.is_empty())
            .map(|item| Box::new(item.clone()))
    };
    if code(0) == Some(CONDITION_FAILED) {
        return Some(Cancelled::PostingExists(old(0)));
    }
    if code(1) == Some(CONDITION_FAILED) {
        return Some(Cancelled::ProfileMoved(old(1)));
    }
    if let Some(i) = (extra_from..reasons.len()).find(|&i| code(i) == Some(CONDITION_FAILED)) {
        return Some(Cancelled::Extra(i - extra_from, old(i)));
    }
    if reasons
        .iter()
        .any(|r| r.code() == Some(TRANSACTION_CONFLICT))
    {
        return Some(Cancelled::Conflict);
    }
    None
}

fn replayed(
    stored: &Posting,
    request: &PostingRequest,
    attempts: u32,
) -> Result<Posted, StoreError> {
    let outcome = replay(stored, request).inspect_err(|e| {
        tracing::error!(
            posting = %request.id,
            member = %request.member.masked(),
            error = %e,
            "posting id reused with different content"
        );
    })?;
    tracing::info!(
        posting = %request.id,
        member = %request.member.masked(),
        "posting already recorded: stored result returned"
    );
    Ok(Posted {
        outcome,
        cost: WriteCost::default(),
        attempts,
    })
}

impl super::PostWith for DynamoLedger {
    async fn post_with(
        &self,
        request: &PostingRequest,
        extra: &[ExtraWrite],
    ) -> Result<PostedWith, StoreError> {
        self.post_here(request, extra).await
    }
}

impl LedgerStore for DynamoLedger {
    async fn open(&self, member: &MemberId, at: BusinessTime) -> Result<bool, StoreError> {
        let item = item::new_profile_item(member, at)?;
        let mut cost = WriteCost::default();
        cost.add("profile", item_size(&item));
        let opened = crate::store::put_if_absent(&self.client, &self.table, item).await?;
        if opened {
            tracing::info!(member = %member.masked(), wru = cost.total(), "profile opened");
        }
        Ok(opened)
    }

    async fn profile(&self, member: &MemberId) -> Result<Option<Profile>, StoreError> {
        match self.get(profile_key(member)).await? {
            Some(item) => decode_profile(&item).map(Some),
            None => Ok(None),
        }
    }

    async fn posting(
        &self,
        member: &MemberId,
        id: &PostingId,
    ) -> Result<Option<Posting>, StoreError> {
        self.stored_posting(member, id).await
    }

    async fn post(&self, request: &PostingRequest) -> Result<Posted, StoreError> {
        let mut request = Cow::Borrowed(request);
        for _ in 0..MAX_MERGE_HOPS {
            let posted = match self.post_here(&request, &[]).await {
                Ok(PostedWith::Posted(posted)) => Ok(posted),
                Ok(PostedWith::ExtraRefused { .. }) => Err(StoreError::Corrupt {
                    key: request.id.to_string(),
                    why: "a condition failed on a write the posting did not make".to_owned(),
                }),
                Err(e) => Err(e),
            };
            match posted {
                Err(StoreError::Ledger(LedgerError::Merged { into })) => {
                    tracing::info!(
                        posting = %request.id,
                        member = %request.member.masked(),
                        into = %into.masked(),
                        "member was merged: posting recorded for the member it joined"
                    );
                    request = Cow::Owned(redirected(&request, &into));
                }
                Ok(posted) => {
                    if posted.cost.total() > 0 {
                        // Written now (a replay writes nothing): counted once.
                        let f = request.flows();
                        let counts = [
                            ("PointsIssued", f.issued),
                            ("PointsRedeemed", f.redeemed),
                            ("PointsCompensated", f.compensated),
                        ];
                        crate::metrics::record(request.at, &counts, &[]);
                    }
                    return Ok(posted);
                }
                answered => return answered,
            }
        }
        Err(LedgerError::CannotMerge("too many merges in a row").into())
    }

    async fn merge(
        &self,
        from: &MemberId,
        into: &MemberId,
        repoint: &[Identity],
        at: BusinessTime,
    ) -> Result<Posted, StoreError> {
        self.merge_members(from, into, repoint, at).await
    }

    async fn postings(
        &self,
        member: &MemberId,
        ids: &[PostingId],
    ) -> Result<Vec<Option<Posting>>, StoreError> {
        if ids.len() > MAX_BATCH_GET {
            return Err(StoreError::Dynamo {
                operation: "BatchGetItem",
                message: format!("{} keys asked, at most {MAX_BATCH_GET}", ids.len()),
            });
        }
        let mut found: HashMap<String, Posting> = HashMap::new();
        // BatchGetItem refuses a key asked twice.
        let unique: std::collections::BTreeSet<&PostingId> = ids.iter().collect();
        let keys: Vec<Item> = unique
            .into_iter()
            .map(|id| posting_key(member, id))
            .collect();
        let rounds = self.retry.max_attempts;
        let items =
            crate::store::batch_get_consistent(&self.client, &self.table, keys, rounds).await?;
        for item in items {
            let posting = decode_posting(&item)?;
            found.insert(posting.request.id.to_string(), posting);
        }
        Ok(ids
            .iter()
            .map(|id| found.get(id.as_str()).cloned())
            .collect())
    }

    async fn history(
        &self,
        member: &MemberId,
        cursor: Option<&HistoryCursor>,
        limit: u16,
    ) -> Result<HistoryPage, StoreError> {
        let pk = item::member_pk(member);
        let start = cursor.map(|c| {
            HashMap::from([
                (PK.to_owned(), AttributeValue::S(pk.clone())),
                (
                    SK.to_owned(),
                    AttributeValue::S(item::posting_sk(&c.posting_id)),
                ),
                (POSTED_AT.to_owned(), item::number(c.at.epoch_ms())),
            ])
        });
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(HISTORY_INDEX)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .set_exclusive_start_key(start)
            .consistent_read(true)
            .scan_index_forward(false)
            .limit(i32::from(limit.max(1)))
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        let lines: Vec<HistoryLine> = output
            .items()
            .iter()
            .map(history_line)
            .collect::<Result<_, _>>()?;
        // DynamoDB says whether more may follow; the last line is where the next page starts.
        let next = output
            .last_evaluated_key()
            .and_then(|_| lines.last())
            .map(HistoryCursor::of);
        Ok(HistoryPage { lines, next })
    }
}

fn history_line(item: &Item) -> Result<HistoryLine, StoreError> {
    let sk = string(item, SK).unwrap_or_default();
    let bad = |why: &str| StoreError::Corrupt {
        key: sk.clone(),
        why: why.to_owned(),
    };
    let posting_id = sk
        .strip_prefix("POSTING#")
        .and_then(|id| PostingId::parse(id).ok())
        .ok_or_else(|| bad("not a posting key"))?;
    let at = integer(item, POSTED_AT)
        .and_then(|ms| BusinessTime::from_epoch_ms(ms).ok())
        .ok_or_else(|| bad("no posted_at"))?;
    Ok(HistoryLine {
        posting_id,
        kind: string(item, item::KIND).unwrap_or_default(),
        at,
        delta: Points::new(integer(item, item::DELTA).unwrap_or(0)),
    })
}
