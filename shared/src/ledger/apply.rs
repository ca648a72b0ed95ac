//! The only place a posting is decided: `apply(profile, request)` returns the balanced legs, the
//! result and the next profile, or a typed error. Pure: the store persists what it returns.

use super::account::{Account, Legs};
use super::error::LedgerError;
use super::hold::{Hold, MAX_OPEN_HOLDS};
use super::lot::lot_expired_from;
use super::posting::{Op, Posting, PostingRequest, PostingResult};
use super::profile::Profile;
use super::standing::TierChange;
use crate::ids::{OrderId, PostingId};
use crate::money::Points;
use crate::time::{BusinessTime, Month};
use std::collections::BTreeMap;

/// A decided posting and the profile it leaves behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub posting: Posting,
    pub profile: Profile,
    /// The tier change this posting caused (an upgrade, or a merge bringing a higher tier).
    pub tier_change: Option<TierChange>,
}

/// Decides `request` against `profile`. The profile's invariants hold before and after; the
/// legs sum to zero; the returned profile's version is one more than the given one.
pub fn apply(profile: &Profile, request: &PostingRequest) -> Result<Applied, LedgerError> {
    debug_assert!(
        profile.check_invariants().is_ok(),
        "profile broken before apply"
    );
    request.validate()?;
    if request.member != profile.member {
        return Err(LedgerError::WrongMember(request.id.clone()));
    }
    if let Some(into) = &profile.merged_into {
        return Err(LedgerError::Merged { into: into.clone() });
    }
    let mut movement = Movement::new(profile, request.at);
    for op in &request.ops {
        movement.op(op)?;
    }
    let change = request.growth.as_ref().and_then(|growth| {
        let standing = &mut movement.profile.standing;
        standing.record(&request.member, growth, request.at, &request.id)
    });
    let mut applied = movement.finish(profile, request)?;
    applied.tier_change = change;
    Ok(applied)
}

/// The two halves of a merge: `out` empties the merged member, `into` receives its points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Merged {
    pub out: Applied,
    pub into: Applied,
}

/// Decides the merge of `from` into `into` at `at` (posting `merge:<from>` on both members):
/// `from`'s available points move lot by lot (each keeps its earning month, so its expiry does
/// not change; a lot already past expiry breaks at once), its open holds move with the lots they
/// took, and its debt moves too, repaid at once from what `into` has. `from` is left empty and
/// marked `merged_into`. The two postings balance through the `transfer` account, which nets to
/// zero over the pair; the store writes both in one transaction.
pub fn merge(from: &Profile, into: &Profile, at: BusinessTime) -> Result<Merged, LedgerError> {
    if let Some(target) = &from.merged_into {
        return Err(LedgerError::Merged {
            into: target.clone(),
        });
    }
    if into.merged_into.is_some() {
        return Err(LedgerError::CannotMerge(
            "the target was itself merged away",
        ));
    }
    if from.member == into.member {
        return Err(LedgerError::CannotMerge(
            "a member cannot merge with itself",
        ));
    }
    let id = PostingId::merge(&from.member);
    let out_request = PostingRequest::new(
        id.clone(),
        from.member.clone(),
        at,
        vec![Op::MergeOut {
            into: into.member.clone(),
        }],
    );
    let in_request = PostingRequest::new(
        id,
        into.member.clone(),
        at,
        vec![Op::MergeIn {
            from: from.member.clone(),
        }],
    );
    out_request.validate()?;
    in_request.validate()?;
    // What crosses over: available and held arrive, debt is owed by the receiver now.
    let crossing = overflow(
        from.available
            .checked_add(from.held)
            .and_then(|p| p.checked_sub(from.debt)),
    )?;

    let mut out = Movement::new(from, at);
    out.post(
        Account::Available,
        overflow(from.available.checked_neg())?.value(),
    )?;
    out.post(Account::Held, overflow(from.held.checked_neg())?.value())?;
    out.post(Account::Debt, from.debt.value())?;
    out.post(Account::Transfer, crossing.value())?;
    out.profile = Profile {
        merged_into: Some(into.member.clone()),
        version: from.version,
        ..Profile::new(from.member.clone())
    };

    let mut inn = Movement::new(into, at);
    for (month, points) in from.lots.iter() {
        inn.credit_available(month, points)?;
        if lot_expired_from(month) <= at {
            inn.break_lot_part(month, points)?;
        }
    }
    for (order, hold) in &from.holds {
        if inn.profile.holds.contains_key(order) {
            return Err(LedgerError::HoldAlreadyOpen(order.clone()));
        }
        if inn.profile.holds.len() >= MAX_OPEN_HOLDS {
            return Err(LedgerError::TooManyOpenHolds {
                max: MAX_OPEN_HOLDS,
            });
        }
        inn.profile.held = overflow(inn.profile.held.checked_add(hold.points))?;
        inn.post(Account::Held, hold.points.value())?;
        inn.profile.holds.insert(order.clone(), hold.clone());
    }
    inn.profile.debt = overflow(inn.profile.debt.checked_add(from.debt))?;
    inn.post(Account::Debt, overflow(from.debt.checked_neg())?.value())?;
    inn.post(Account::Transfer, overflow(crossing.checked_neg())?.value())?;
    inn.settle_debt()?;
    let change = inn
        .profile
        .standing
        .absorb(&into.member, &from.member, &from.standing, at);
    let mut into_applied = inn.finish(into, &in_request)?;
    into_applied.tier_change = change;

    Ok(Merged {
        out: out.finish(from, &out_request)?,
        into: into_applied,
    })
}

/// Turns a `HoldNotOpen` into the precise error once the caller knows whether the hold's void or
/// capture posting was recorded (capture after void and void after capture are distinct errors).
pub fn explain_closed_hold(op: &Op, voided: bool, captured: bool) -> Option<LedgerError> {
    match op {
        Op::Capture { order, .. } if voided => Some(LedgerError::CaptureAfterVoid(order.clone())),
        Op::Void { order } if captured => Some(LedgerError::VoidAfterCapture(order.clone())),
        _ => None,
    }
}

/// The order whose hold an operation closes, if it closes one.
pub fn closed_hold(op: &Op) -> Option<&OrderId> {
    match op {
        Op::Capture { order, .. } | Op::Void { order } => Some(order),
        _ => None,
    }
}

fn overflow<T>(value: Option<T>) -> Result<T, LedgerError> {
    value.ok_or(LedgerError::Overflow)
}

/// A profile being moved by one posting, with the legs recorded so far.
struct Movement {
    profile: Profile,
    legs: Legs,
    at: BusinessTime,
}

impl Movement {
    fn new(profile: &Profile, at: BusinessTime) -> Self {
        Self {
            profile: profile.clone(),
            legs: Legs::default(),
            at,
        }
    }

    /// Checks the moved profile and the legs, and records the posting that moved `before`.
    fn finish(self, before: &Profile, request: &PostingRequest) -> Result<Applied, LedgerError> {
        let Movement {
            profile: mut next,
            legs,
            ..
        } = self;
        if legs.sum() != Some(0) {
            let violation = super::Violation::UnbalancedLegs(request.id.to_string());
            return Err(LedgerError::Invariant(violation));
        }
        next.check_invariants()?;
        next.version = next.version.checked_add(1).ok_or(LedgerError::Overflow)?;
        let available_delta = next
            .available
            .checked_sub(before.available)
            .ok_or(LedgerError::Overflow)?;
        let result = PostingResult {
            posting_id: request.id.clone(),
            available: next.available,
            held: next.held,
            debt: next.debt,
            available_delta,
        };
        let posting = Posting {
            request: request.clone(),
            legs,
            result,
        };
        Ok(Applied {
            posting,
            profile: next,
            tier_change: None,
        })
    }

    fn op(&mut self, op: &Op) -> Result<(), LedgerError> {
        match op {
            Op::Earn { source, points } => self.issue(Account::Issuance(*source), *points),
            Op::Redeem { usage, points } => {
                self.debit_available(*points)?;
                self.post(Account::Redemption(*usage), points.value())
            }
            Op::Hold {
                order,
                points,
                expires_at,
            } => self.hold(order, *points, *expires_at),
            Op::Capture { order, usage } => {
                let hold = self.close_hold(order)?;
                self.post(Account::Redemption(*usage), hold.points.value())
            }
            Op::Void { order } => self.void(order),
            Op::ReturnRedemption { usage, points } => {
                self.issue(Account::Redemption(*usage), *points)
            }
            Op::Clawback { points } => self.clawback(*points),
            Op::Expire { month } => self.expire(*month),
            Op::MergeOut { .. } | Op::MergeIn { .. } => Err(LedgerError::MalformedPosting {
                id: PostingId::merge(&self.profile.member),
                why: "a merge is decided by ledger::merge, not apply",
            }),
        }
    }

    fn post(&mut self, account: Account, amount: i64) -> Result<(), LedgerError> {
        overflow(self.legs.post(account, amount))
    }

    /// Points come in from `from`: they repay debt first, the rest lands in this month's lot.
    fn issue(&mut self, from: Account, points: Points) -> Result<(), LedgerError> {
        debug_assert!(
            points.is_positive(),
            "validate() admits only positive amounts"
        );
        self.post(from, overflow(points.checked_neg())?.value())?;
        self.credit_available(self.at.month(), points)?;
        self.settle_debt()
    }

    fn credit_available(&mut self, month: Month, points: Points) -> Result<(), LedgerError> {
        let p = &mut self.profile;
        p.available = overflow(p.available.checked_add(points))?;
        overflow(p.lots.add(month, points))?;
        self.post(Account::Available, points.value())
    }

    /// Takes `points` from available, oldest lots first, and says which lots gave how much.
    fn debit_available(&mut self, points: Points) -> Result<BTreeMap<Month, Points>, LedgerError> {
        let p = &mut self.profile;
        if p.available < points {
            return Err(LedgerError::InsufficientPoints {
                available: p.available,
                wanted: points,
            });
        }
        let taken = overflow(p.lots.take_oldest(points))?;
        p.available = overflow(p.available.checked_sub(points))?;
        self.post(Account::Available, overflow(points.checked_neg())?.value())?;
        Ok(taken)
    }

    /// Debt is repaid from available points before they can be used for anything else.
    fn settle_debt(&mut self) -> Result<(), LedgerError> {
        let repay = self.profile.debt.min(self.profile.available);
        if repay.is_positive() {
            self.debit_available(repay)?;
            self.profile.debt = overflow(self.profile.debt.checked_sub(repay))?;
            self.post(Account::Debt, repay.value())?;
        }
        Ok(())
    }

    fn hold(
        &mut self,
        order: &OrderId,
        points: Points,
        expires_at: BusinessTime,
    ) -> Result<(), LedgerError> {
        if self.profile.holds.contains_key(order) {
            return Err(LedgerError::HoldAlreadyOpen(order.clone()));
        }
        if self.profile.holds.len() >= MAX_OPEN_HOLDS {
            return Err(LedgerError::TooManyOpenHolds {
                max: MAX_OPEN_HOLDS,
            });
        }
        let lots = self.debit_available(points)?;
        self.profile.held = overflow(self.profile.held.checked_add(points))?;
        self.post(Account::Held, points.value())?;
        self.profile.holds.insert(
            order.clone(),
            Hold {
                points,
                expires_at,
                lots,
            },
        );
        Ok(())
    }

    fn close_hold(&mut self, order: &OrderId) -> Result<Hold, LedgerError> {
        let hold = self
            .profile
            .holds
            .remove(order)
            .ok_or_else(|| LedgerError::HoldNotOpen(order.clone()))?;
        self.profile.held = overflow(self.profile.held.checked_sub(hold.points))?;
        self.post(Account::Held, overflow(hold.points.checked_neg())?.value())?;
        Ok(hold)
    }

    /// Returns exactly the lots the hold took. Lots that expired meanwhile break at once (their
    /// month's expiry may already have run), and returned points repay debt first.
    fn void(&mut self, order: &OrderId) -> Result<(), LedgerError> {
        let hold = self.close_hold(order)?;
        for (month, points) in hold.lots {
            self.credit_available(month, points)?;
            if lot_expired_from(month) <= self.at {
                self.break_lot_part(month, points)?;
            }
        }
        self.settle_debt()
    }

    fn break_lot_part(&mut self, month: Month, points: Points) -> Result<(), LedgerError> {
        let p = &mut self.profile;
        overflow(p.lots.take_exact(month, points))?;
        p.available = overflow(p.available.checked_sub(points))?;
        self.post(Account::Available, overflow(points.checked_neg())?.value())?;
        self.post(Account::Breakage, points.value())
    }

    fn clawback(&mut self, points: Points) -> Result<(), LedgerError> {
        let taken = self.profile.available.min(points);
        if taken.is_positive() {
            self.debit_available(taken)?;
        }
        let owed = overflow(points.checked_sub(taken))?;
        self.profile.debt = overflow(self.profile.debt.checked_add(owed))?;
        self.post(Account::Debt, overflow(owed.checked_neg())?.value())?;
        self.post(Account::Clawback, points.value())
    }

    fn expire(&mut self, month: Month) -> Result<(), LedgerError> {
        if self.at < lot_expired_from(month) {
            return Err(LedgerError::LotNotExpired { month });
        }
        let points = self.profile.lots.get(month);
        if points.is_zero() {
            return Err(LedgerError::NothingToExpire { month });
        }
        self.break_lot_part(month, points)
    }
}
