//! Merging two members of one person on DynamoDB (DESIGN §3, `ledger::merge`): both postings,
//! both profiles and the re-pointed identities in one `TransactWriteItems`.

use super::dynamo::{DynamoLedger, CONDITION_FAILED, TRANSACTION_CONFLICT};
use super::item::{self, decode_profile, profile_key};
use super::Posted;
use crate::ids::{Identity, MemberId, PostingId};
use crate::ledger::{merge, LedgerError, PostingOutcome};
use crate::store::members::identity_key;
use crate::store::wru::{item_size, WriteCost};
use crate::store::StoreError;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, TransactWriteItem, Update};

impl DynamoLedger {
    pub(super) async fn merge_members(
        &self,
        from: &MemberId,
        into: &MemberId,
        repoint: &[Identity],
        at: BusinessTime,
    ) -> Result<Posted, StoreError> {
        for attempt in 1..=self.retry.max_attempts {
            let (from_item, into_item) =
                tokio::try_join!(self.get(profile_key(from)), self.get(profile_key(into)))?;
            let (Some(from_item), Some(into_item)) = (from_item, into_item) else {
                return Err(LedgerError::UnknownMember.into());
            };
            let (from_profile, into_profile) =
                (decode_profile(&from_item)?, decode_profile(&into_item)?);
            if from_profile.merged_into.as_ref() == Some(into) {
                return self.merged_before(from, into, repoint, attempt).await;
            }
            let merged = match merge(&from_profile, &into_profile, at) {
                Ok(merged) => merged,
                // The two profiles are read at once, not atomically: a concurrent merge that
                // committed between the reads shows `into` merged and `from` not yet (e.g. the
                // hold already open). Read `from` again before refusing.
                Err(error) => {
                    let again = self.get(profile_key(from)).await?;
                    let merged = again.map(|i| decode_profile(&i)).transpose()?;
                    if merged.is_some_and(|p| p.merged_into.as_ref() == Some(into)) {
                        return self.merged_before(from, into, repoint, attempt).await;
                    }
                    return Err(error.into());
                }
            };
            let mut cost = WriteCost::default();
            let mut items = vec![
                TransactWriteItem::builder()
                    .put(self.posting_put(&merged.out.posting, &mut cost)?)
                    .build(),
                TransactWriteItem::builder()
                    .put(self.posting_put(&merged.into.posting, &mut cost)?)
                    .build(),
                TransactWriteItem::builder()
                    .update(self.profile_update(
                        &from_item,
                        &from_profile,
                        &merged.out.profile,
                        &mut cost,
                    )?)
                    .build(),
                TransactWriteItem::builder()
                    .update(self.profile_update(
                        &into_item,
                        &into_profile,
                        &merged.into.profile,
                        &mut cost,
                    )?)
                    .build(),
            ];
            for identity in repoint {
                let (update, size) = self.repoint(identity, from, into, at)?;
                cost.add_transactional("identity", size);
                items.push(TransactWriteItem::builder().update(update).build());
            }
            if let Some(change) = &merged.into.tier_change {
                items.push(self.tier_change_put(change, &mut cost)?);
            }
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let reasons = match sent {
                Ok(_) => {
                    let result = merged.into.posting.result;
                    tracing::info!(
                        from = %from.masked(),
                        into = %into.masked(),
                        moved = result.available_delta.value(),
                        held = merged.into.profile.held.value(),
                        available = result.available.value(),
                        wru = cost.total(),
                        attempts = attempt,
                        "members merged"
                    );
                    return Ok(Posted {
                        outcome: PostingOutcome {
                            result,
                            replayed: false,
                        },
                        cost,
                        attempts: attempt,
                    });
                }
                Err(error) => match error.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                        cancelled.cancellation_reasons().to_vec()
                    }
                    _ => return Err(StoreError::dynamo("TransactWriteItems", error)),
                },
            };
            let failed = |i: usize| {
                reasons.get(i).and_then(CancellationReason::code) == Some(CONDITION_FAILED)
            };
            if (4..reasons.len()).any(failed) {
                return Err(StoreError::Corrupt {
                    key: format!("merge:{}", from.masked()),
                    why: "an identity to re-point names a third member".to_owned(),
                });
            }
            if !(0..4).any(failed)
                && !reasons
                    .iter()
                    .any(|r| r.code() == Some(TRANSACTION_CONFLICT))
            {
                return Err(StoreError::Dynamo {
                    operation: "TransactWriteItems",
                    message: format!("merge cancelled: {reasons:?}"),
                });
            }
            // A posting already recorded or a profile that moved: read again and decide again
            // (a merge that won meanwhile is then answered by `merged_before`).
            tracing::debug!(from = %from.masked(), attempt, "merge cancelled: re-deciding");
            self.pause(attempt).await;
        }
        Err(StoreError::Contended {
            attempts: self.retry.max_attempts,
        })
    }

    /// The answer to a merge that was already made: the receiving side's stored result. The
    /// identities are re-pointed again in case this caller names one the first did not.
    async fn merged_before(
        &self,
        from: &MemberId,
        into: &MemberId,
        repoint: &[Identity],
        attempts: u32,
    ) -> Result<Posted, StoreError> {
        let id = PostingId::merge(from);
        let stored = self
            .stored_posting(into, &id)
            .await?
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("{}/{id}", into.masked()),
                why: "merged member without its merge posting".to_owned(),
            })?;
        for identity in repoint {
            let (update, _) = self.repoint(identity, from, into, stored.request.at)?;
            let sent = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(update.key))
                .update_expression(update.update_expression)
                .set_condition_expression(update.condition_expression)
                .set_expression_attribute_names(update.expression_attribute_names)
                .set_expression_attribute_values(update.expression_attribute_values)
                .send()
                .await;
            if let Err(error) = sent {
                let third = error
                    .as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception());
                if !third {
                    return Err(StoreError::dynamo("UpdateItem", error));
                }
                tracing::warn!(identity = %identity.masked(), "identity names a third member: left as is");
            }
        }
        tracing::info!(from = %from.masked(), into = %into.masked(), "members merged before: stored result returned");
        Ok(Posted {
            outcome: PostingOutcome {
                result: stored.result,
                replayed: true,
            },
            cost: WriteCost::default(),
            attempts,
        })
    }

    /// Makes `identity` name `into` unless it names a third member (it may name `from`, `into`
    /// or nobody yet), and the size of the item it leaves.
    fn repoint(
        &self,
        identity: &Identity,
        from: &MemberId,
        into: &MemberId,
        at: BusinessTime,
    ) -> Result<(Update, usize), StoreError> {
        let mut item = identity_key(identity);
        item.insert("member".to_owned(), AttributeValue::S(into.to_string()));
        item.insert("since".to_owned(), item::number(at.epoch_ms()));
        let size = item_size(&item);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(identity_key(identity)))
            .update_expression("SET #m = :into, merged_from = :from, merged_at = :at")
            .condition_expression("attribute_not_exists(pk) OR #m IN (:from, :into)")
            .expression_attribute_names("#m", "member")
            .expression_attribute_values(":into", AttributeValue::S(into.to_string()))
            .expression_attribute_values(":from", AttributeValue::S(from.to_string()))
            .expression_attribute_values(":at", item::number(at.epoch_ms()))
            .build()
            .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
        Ok((update, size))
    }
}
