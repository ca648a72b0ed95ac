//! `VoidExpiredHolds`: a hold whose `expires_at` has passed (its order was never paid) is voided
//! with posting `void:order:<id>`, which puts back exactly the lots it took. The members come
//! from the ledger's sparse hold index (`HOLDS#<0..15>`, due at each profile's earliest open
//! hold), so a run reads only profiles with a due hold, never the whole table. The index is
//! eventually consistent: each member's profile is read again, consistently, and only the holds
//! that have expired by then are voided; the others stay open.

use crate::walk::{Budget, LedgerWalk};
use linli::ids::{MemberId, OrderId, PostingId};
use linli::ledger::{ErrorClass, Op, PostingRequest, Profile};
use linli::store::ledger::item::HOLD_SHARDS;
use linli::time::BusinessTime;
use serde::Serialize;

/// Members looked at per shard and run; the next run (5 minutes later) continues.
const PAGE: i32 = 100;

/// The orders whose holds on `profile` have expired at `now`.
pub fn expired_holds(profile: &Profile, now: BusinessTime) -> Vec<OrderId> {
    profile
        .holds
        .iter()
        .filter(|(_, hold)| hold.expires_at <= now)
        .map(|(order, _)| order.clone())
        .collect()
}

/// The posting that voids the hold of `order` on `member`'s points at `now`.
pub fn void(member: &MemberId, order: &OrderId, now: BusinessTime) -> PostingRequest {
    PostingRequest::new(
        PostingId::void_order(order),
        member.clone(),
        now,
        vec![Op::Void {
            order: order.clone(),
        }],
    )
}

/// What a VoidExpiredHolds run did.
#[derive(Debug, Default, Serialize)]
pub struct HoldsSummary {
    /// Members the index listed as due.
    pub members: u64,
    pub voided: u64,
    /// Listed but with nothing to void (the index lagged, or the order was paid meanwhile).
    pub waiting: u64,
    pub failed: u32,
}

pub async fn run<L: LedgerWalk>(ledger: &L, now: BusinessTime, budget: &Budget) -> HoldsSummary {
    let mut summary = HoldsSummary::default();
    for shard in 0..HOLD_SHARDS {
        let due = match ledger.holds_due(shard, now, PAGE).await {
            Ok(due) => due,
            Err(e) => {
                tracing::error!(shard, error = %e, "hold index query failed");
                summary.failed += 1;
                continue;
            }
        };
        for member in due {
            if budget.spent() {
                tracing::warn!(shard, "time budget spent; the next run continues");
                return summary;
            }
            summary.members += 1;
            visit(ledger, &member, now, &mut summary).await;
        }
    }
    summary
}

/// One member the index listed: void each of its holds that has expired.
async fn visit<L: LedgerWalk>(
    ledger: &L,
    member: &MemberId,
    now: BusinessTime,
    summary: &mut HoldsSummary,
) {
    let profile = match ledger.profile(member).await {
        Ok(Some(profile)) => profile,
        Ok(None) => {
            tracing::error!(member = %member.masked(), "hold index names a member without a profile");
            summary.failed += 1;
            return;
        }
        Err(e) => {
            tracing::error!(member = %member.masked(), error = %e, "profile unreadable");
            summary.failed += 1;
            return;
        }
    };
    let expired = expired_holds(&profile, now);
    if expired.is_empty() {
        summary.waiting += 1;
    }
    for order in expired {
        match ledger.post(&void(member, &order, now)).await {
            Ok(posted) => {
                if !posted.outcome.replayed {
                    tracing::info!(member = %member.masked(), order_id = %order, returned = posted.outcome.result.available_delta.value(), "expired hold voided");
                    summary.voided += 1;
                }
            }
            // Captured or voided meanwhile: the hold is closed either way.
            Err(e) if e.class() == ErrorClass::Business => summary.waiting += 1,
            Err(e) => {
                tracing::error!(member = %member.masked(), order_id = %order, error = %e, "void failed; the next run retries");
                summary.failed += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli::ledger::{apply, Source};
    use linli::money::Points;
    use linli::time::Month;

    #[test]
    fn only_holds_past_their_expiry_are_voided_and_their_points_come_back() {
        let start = "2026-03".parse::<Month>().unwrap().start();
        let member = MemberId::generate(start, 5);
        let mut profile = Profile::new(member.clone());
        let earn = PostingRequest::new(
            PostingId::parse("adjust:SEED").unwrap(),
            member.clone(),
            start,
            vec![Op::Earn {
                source: Source::Adjust,
                points: Points::new(100),
            }],
        );
        profile = apply(&profile, &earn).unwrap().profile;
        for (order, minutes) in [("O-SOON", 10), ("O-EXACT", 20), ("O-LATER", 30)] {
            let order = OrderId::parse(order).unwrap();
            let hold = PostingRequest::new(
                PostingId::hold_order(&order),
                member.clone(),
                start,
                vec![Op::Hold {
                    order: order.clone(),
                    points: Points::new(10),
                    expires_at: start.plus_ms(minutes * 60_000),
                }],
            );
            profile = apply(&profile, &hold).unwrap().profile;
        }
        let now = start.plus_ms(20 * 60_000);
        let expired = expired_holds(&profile, now);
        let names: Vec<&str> = expired.iter().map(OrderId::as_str).collect();
        assert_eq!(
            names,
            ["O-EXACT", "O-SOON"],
            "at its expiry instant a hold is expired"
        );
        for order in &expired {
            profile = apply(&profile, &void(&member, order, now)).unwrap().profile;
        }
        assert_eq!(profile.available, Points::new(90));
        assert_eq!(profile.holds.len(), 1);
        assert!(expired_holds(&profile, now).is_empty());
    }
}
