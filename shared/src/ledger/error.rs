//! The ledger's errors. Business errors are answers (insufficient points, a hold already
//! captured); they are decided before anything is written and never retried.

use crate::ids::{MemberId, OrderId, PostingId};
use crate::money::Points;
use crate::time::Month;

/// How a caller should treat an error (STYLE 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// A rule of the business said no: answer it, do not retry.
    Business,
    /// The input can never succeed: dead-letter it with the reason.
    Permanent,
    /// Retry later.
    Transient,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("amount must be positive, got {0}")]
    NonPositiveAmount(Points),
    #[error("insufficient points: {available} available, {wanted} wanted")]
    InsufficientPoints { available: Points, wanted: Points },
    #[error("order {0} already has an open hold")]
    HoldAlreadyOpen(OrderId),
    #[error("order {0} has no open hold")]
    HoldNotOpen(OrderId),
    #[error("the hold of order {0} was voided; it cannot be captured")]
    CaptureAfterVoid(OrderId),
    #[error("the hold of order {0} was captured; it cannot be voided")]
    VoidAfterCapture(OrderId),
    #[error("at most {max} holds may be open at once")]
    TooManyOpenHolds { max: usize },
    #[error("the lot of {month} has not expired yet")]
    LotNotExpired { month: Month },
    #[error("the lot of {month} is empty: nothing to expire")]
    NothingToExpire { month: Month },
    #[error("posting {id} does not match its operation: {why}")]
    MalformedPosting { id: PostingId, why: &'static str },
    #[error("posting {0} is for another member than the profile")]
    WrongMember(PostingId),
    #[error("posting {0} was already recorded with different content")]
    IdReusedWithDifferentContent(PostingId),
    #[error("no member profile for this posting's member")]
    UnknownMember,
    /// The member was merged: its postings are recorded for `into` (the store redirects).
    #[error("the member was merged into {into}")]
    Merged { into: MemberId },
    /// A merge whose two members are the same, or whose target was itself merged away.
    #[error("cannot merge: {0}")]
    CannotMerge(&'static str),
    #[error("amount overflow")]
    Overflow,
    #[error("ledger invariant violated: {0}")]
    Invariant(#[from] Violation),
}

impl LedgerError {
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::InsufficientPoints { .. }
            | Self::HoldAlreadyOpen(_)
            | Self::HoldNotOpen(_)
            | Self::CaptureAfterVoid(_)
            | Self::VoidAfterCapture(_)
            | Self::TooManyOpenHolds { .. }
            | Self::LotNotExpired { .. }
            | Self::NothingToExpire { .. } => ErrorClass::Business,
            Self::NonPositiveAmount(_)
            | Self::MalformedPosting { .. }
            | Self::WrongMember(_)
            | Self::IdReusedWithDifferentContent(_)
            | Self::UnknownMember
            | Self::Merged { .. }
            | Self::CannotMerge(_)
            | Self::Overflow
            | Self::Invariant(_) => ErrorClass::Permanent,
        }
    }
}

/// A broken ledger invariant (DESIGN §5). Seeing one is a bug or corruption: a human must look.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Violation {
    #[error("available is negative")]
    NegativeAvailable,
    #[error("held is negative")]
    NegativeHeld,
    #[error("debt is negative")]
    NegativeDebt,
    #[error("a lot is not positive")]
    NonPositiveLot,
    #[error("Σ lots ≠ available")]
    LotsNotEqualAvailable,
    #[error("Σ holds ≠ held")]
    HoldsNotEqualHeld,
    #[error("a hold is not positive or its lots do not add up to it")]
    HoldLotsNotEqualHold,
    #[error("debt is owed while points are available")]
    DebtWithAvailable,
    #[error("posting {0}: legs do not sum to zero")]
    UnbalancedLegs(String),
    #[error("member {member}: {account} balance {profile} ≠ Σ legs {legs}")]
    BalanceNotEqualLegs {
        member: String,
        account: &'static str,
        profile: i64,
        legs: i64,
    },
    #[error("Σ members ({members}) ≠ −Σ system accounts ({system})")]
    MembersNotEqualSystem { members: i64, system: i64 },
    #[error("posting {0} names a member with no profile")]
    OrphanPosting(String),
    #[error("a merged member still holds points, lots, holds or debt")]
    MergedNotEmpty,
    #[error("amount overflow while checking")]
    Overflow,
}
