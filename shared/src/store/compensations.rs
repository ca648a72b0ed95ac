//! Delay compensation grants in the `Ledger` table: the posting `comp:order:<id>` and, in the
//! same transaction, the member's running totals that the caps are checked against:
//!
//! | sk | attributes |
//! |---|---|
//! | `COMP#day:<YYYY-MM-DD>` | `points` granted that business day |
//! | `COMP#month:<YYYY-MM>` | `points` granted that month |
//!
//! Each total is raised only if it stays within its cap (a conditional update in the posting's
//! transaction), so two grants racing for the last room of a day never both get it: the loser
//! reads the totals again and is granted what is left.

use super::ledger::item::{key, member_pk};
use super::ledger::{DynamoLedger, ExtraWrite, LedgerStore, PostWith, PostedWith};
use super::StoreError;
use crate::ids::{MemberId, PostingId};
use crate::ledger::{Op, PostingRequest, Source};
use crate::money::Points;
use crate::rules::compensation::CompensationPolicy;
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::{AttributeValue, TransactWriteItem, Update};

/// Tries when another grant took the same room first.
const ATTEMPTS: u32 = 5;

/// What granting found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Granted {
    /// Posted now: this many points (less than asked when a cap left less room).
    Posted { points: i64 },
    /// Granted before (a repeated message): nothing more.
    Already { points: i64 },
    /// The member is at a cap: nothing granted.
    AtCap { today: i64, this_month: i64 },
}

fn day_sk(at: BusinessTime) -> String {
    format!("COMP#day:{}", at.date().format("%Y-%m-%d"))
}

fn month_sk(at: BusinessTime) -> String {
    format!("COMP#month:{}", at.date().format("%Y-%m"))
}

/// Grants `points` (before caps) to `member` as posting `id` at `at`, once.
pub async fn grant(
    ledger: &DynamoLedger,
    member: &MemberId,
    id: &PostingId,
    points: i64,
    policy: &CompensationPolicy,
    at: BusinessTime,
    explanation: &str,
) -> Result<Granted, StoreError> {
    for _ in 0..ATTEMPTS {
        if let Some(done) = ledger.posting(member, id).await? {
            return Ok(Granted::Already {
                points: done.result.available_delta.value(),
            });
        }
        let (today, this_month) = (
            total(ledger, member, &day_sk(at)).await?,
            total(ledger, member, &month_sk(at)).await?,
        );
        let room = policy.capped(points, today, this_month);
        if room == 0 {
            return Ok(Granted::AtCap { today, this_month });
        }
        let mut request = PostingRequest::new(
            id.clone(),
            member.clone(),
            at,
            vec![Op::Earn {
                source: Source::Compensation,
                points: Points::new(room),
            }],
        );
        request.explanation = Some(explanation.to_owned());
        let extra = [
            raise(ledger, member, &day_sk(at), room, policy.day_cap)?,
            raise(ledger, member, &month_sk(at), room, policy.month_cap)?,
        ];
        let posted = match ledger.post_with(&request, &extra).await {
            Ok(posted) => posted,
            // Another message for the same delivery granted first (with other room): that
            // grant stands.
            Err(e) => match ledger.posting(member, id).await? {
                Some(done) => {
                    return Ok(Granted::Already {
                        points: done.result.available_delta.value(),
                    })
                }
                None => return Err(e),
            },
        };
        match posted {
            PostedWith::Posted(posted) if posted.outcome.replayed => {
                return Ok(Granted::Already {
                    points: posted.outcome.result.available_delta.value(),
                })
            }
            PostedWith::Posted(_) => return Ok(Granted::Posted { points: room }),
            // Another grant took the room first: read the totals again.
            PostedWith::ExtraRefused { .. } => continue,
        }
    }
    Err(StoreError::Contended { attempts: ATTEMPTS })
}

async fn total(ledger: &DynamoLedger, member: &MemberId, sk: &str) -> Result<i64, StoreError> {
    let item = ledger.get(key(member_pk(member), sk.to_owned())).await?;
    Ok(item
        .as_ref()
        .and_then(|i| i.get("points"))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

/// Raises a total by `points` only if it stays within `cap`.
fn raise(
    ledger: &DynamoLedger,
    member: &MemberId,
    sk: &str,
    points: i64,
    cap: i64,
) -> Result<ExtraWrite, StoreError> {
    let update = Update::builder()
        .table_name(ledger.table())
        .set_key(Some(key(member_pk(member), sk.to_owned())))
        .update_expression("SET points = if_not_exists(points, :zero) + :p")
        .condition_expression("attribute_not_exists(points) OR points <= :limit")
        .expression_attribute_values(":zero", AttributeValue::N("0".into()))
        .expression_attribute_values(":p", AttributeValue::N(points.to_string()))
        .expression_attribute_values(":limit", AttributeValue::N((cap - points).to_string()))
        .build()
        .map_err(|e| StoreError::dynamo("TransactWriteItems", e))?;
    Ok(ExtraWrite {
        item: TransactWriteItem::builder().update(update).build(),
        label: "comp-total",
        size: 80,
    })
}
