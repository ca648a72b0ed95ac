//! Tiers in the `Ledger` table: the monthly review writes the profile's standing (conditional
//! on its version, like a posting) with the change record in one transaction; the records of a
//! member's tier changes are read newest first.

use super::dynamo::DynamoLedger;
use super::item::{self, decode_profile, member_pk, profile_key, Item, PK, SK, TIER_SK_PREFIX};
use super::LedgerStore;
use crate::ids::MemberId;
use crate::ledger::{Profile, TierChange, MAX_MERGE_HOPS};
use crate::rules::earning::{Tier, TierThresholds};
use crate::store::wru::WriteCost;
use crate::store::StoreError;
use crate::time::{BusinessTime, Month};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem};
use std::future::Future;

/// What the monthly review did to one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reviewed {
    /// The review of that month had already run (or the member was merged away).
    AlreadyDone,
    /// Reviewed; the tier stays.
    Kept,
    Changed(TierChange),
}

/// The tier side of the ledger store.
pub trait Standings {
    /// Runs the review of `month` for `member` once (DESIGN: downgrades only here).
    fn review_tier(
        &self,
        member: &MemberId,
        month: Month,
        thresholds: &TierThresholds,
        at: BusinessTime,
    ) -> impl Future<Output = Result<Reviewed, StoreError>> + Send;

    /// The member's last `limit` tier changes, newest first.
    fn tier_changes(
        &self,
        member: &MemberId,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<TierChange>, StoreError>> + Send;
}

impl Standings for DynamoLedger {
    async fn review_tier(
        &self,
        member: &MemberId,
        month: Month,
        thresholds: &TierThresholds,
        at: BusinessTime,
    ) -> Result<Reviewed, StoreError> {
        for attempt in 1..=self.retry().max_attempts {
            let Some(current) = self.get(profile_key(member)).await? else {
                return Err(crate::ledger::LedgerError::UnknownMember.into());
            };
            let before = decode_profile(&current)?;
            if before.merged_into.is_some() || !before.standing.review_due(month) {
                return Ok(Reviewed::AlreadyDone);
            }
            let mut after = before.clone();
            let change = after.standing.review(member, month, thresholds, at);
            after.version = before.version.saturating_add(1);
            let mut cost = WriteCost::default();
            let update = self.profile_update(&current, &before, &after, &mut cost)?;
            let mut items = vec![TransactWriteItem::builder().update(update).build()];
            if let Some(change) = &change {
                items.push(self.tier_change_put(change, &mut cost)?);
            }
            let sent = self
                .client()
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            match sent {
                Ok(_) => {
                    tracing::info!(
                        member = %member.masked(),
                        %month,
                        from = ?before.standing.tier,
                        to = ?after.standing.tier,
                        wru = cost.total(),
                        "tier reviewed"
                    );
                    return Ok(change.map_or(Reviewed::Kept, Reviewed::Changed));
                }
                Err(error) if moved(error.as_service_error()) => {
                    tracing::debug!(member = %member.masked(), attempt, "profile moved: reviewing again");
                    self.pause(attempt).await;
                }
                Err(error) => return Err(StoreError::dynamo("TransactWriteItems", error)),
            }
        }
        Err(StoreError::Contended {
            attempts: self.retry().max_attempts,
        })
    }

    async fn tier_changes(
        &self,
        member: &MemberId,
        limit: i32,
    ) -> Result<Vec<TierChange>, StoreError> {
        let page = self
            .client()
            .query()
            .table_name(self.table())
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(member_pk(member)))
            .expression_attribute_values(":prefix", AttributeValue::S(TIER_SK_PREFIX.to_owned()))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 100))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        page.items()
            .iter()
            .map(|i: &Item| item::decode_tier_change(i))
            .collect()
    }
}

/// The tier `member` earns at now: its profile's, following merges (a member never seen is
/// 普卡).
pub async fn current_tier<L: LedgerStore>(
    ledger: &L,
    member: &MemberId,
) -> Result<Tier, StoreError> {
    let mut member = member.clone();
    for _ in 0..MAX_MERGE_HOPS {
        match ledger.profile(&member).await? {
            Some(Profile {
                merged_into: Some(into),
                ..
            }) => member = into,
            Some(profile) => return Ok(profile.standing.tier),
            None => return Ok(Tier::Regular),
        }
    }
    Ok(Tier::Regular)
}

/// The profile's version moved (or another transaction was on it): read and decide again.
fn moved(error: Option<&TransactWriteItemsError>) -> bool {
    match error {
        Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
            cancelled.cancellation_reasons().iter().any(|r| {
                matches!(
                    r.code(),
                    Some("ConditionalCheckFailed" | "TransactionConflict")
                )
            })
        }
        _ => false,
    }
}
