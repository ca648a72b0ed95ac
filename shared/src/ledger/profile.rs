//! The ledger's view of a member: balances, lots, open holds, debt and a version for optimistic
//! concurrency. It is the part of the member's `PROFILE` item that only the ledger writes.

use super::error::Violation;
use super::hold::Hold;
use super::lot::Lots;
use super::standing::Standing;
use crate::ids::{MemberId, OrderId};
use crate::money::{checked_sum, Points};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub member: MemberId,
    /// Incremented by every posting; the store writes on the condition that it did not move.
    pub version: u64,
    pub available: Points,
    pub held: Points,
    /// Points owed after a clawback larger than what was available; repaid first from credits.
    pub debt: Points,
    pub lots: Lots,
    pub holds: BTreeMap<OrderId, Hold>,
    /// Set by a merge: this member is the same person as that one, which now holds everything;
    /// postings for this member are recorded there from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<MemberId>,
    /// Tier and growth value (seed 003).
    #[serde(default)]
    pub standing: Standing,
}

fn ensure(fact: bool, violation: Violation) -> Result<(), Violation> {
    if fact {
        Ok(())
    } else {
        Err(violation)
    }
}

impl Profile {
    /// A member's profile before any posting.
    pub fn new(member: MemberId) -> Self {
        Self {
            member,
            version: 0,
            available: Points::ZERO,
            held: Points::ZERO,
            debt: Points::ZERO,
            lots: Lots::default(),
            holds: BTreeMap::new(),
            merged_into: None,
            standing: Standing::default(),
        }
    }

    /// The invariants of DESIGN §5 that one profile can check on its own.
    pub fn check_invariants(&self) -> Result<(), Violation> {
        ensure(!self.available.is_negative(), Violation::NegativeAvailable)?;
        ensure(!self.held.is_negative(), Violation::NegativeHeld)?;
        ensure(!self.debt.is_negative(), Violation::NegativeDebt)?;
        ensure(
            self.lots.iter().all(|(_, p)| p.is_positive()),
            Violation::NonPositiveLot,
        )?;
        let lots = self.lots.total().ok_or(Violation::Overflow)?;
        ensure(lots == self.available, Violation::LotsNotEqualAvailable)?;
        let holds =
            checked_sum(self.holds.values().map(|h| h.points)).ok_or(Violation::Overflow)?;
        ensure(holds == self.held, Violation::HoldsNotEqualHeld)?;
        ensure(
            self.holds.values().all(hold_is_whole),
            Violation::HoldLotsNotEqualHold,
        )?;
        ensure(
            self.debt.is_zero() || self.available.is_zero(),
            Violation::DebtWithAvailable,
        )?;
        let emptied = self.available.is_zero()
            && self.held.is_zero()
            && self.debt.is_zero()
            && self.lots.is_empty()
            && self.holds.is_empty();
        ensure(
            self.merged_into.is_none() || emptied,
            Violation::MergedNotEmpty,
        )?;
        Ok(())
    }
}

fn hold_is_whole(hold: &Hold) -> bool {
    hold.points.is_positive()
        && hold.lots.values().all(|p| p.is_positive())
        && hold.lots_total() == Some(hold.points)
}
