//! The points ledger (DESIGN §5): double-entry, exactly-once, never negative.
//!
//! Only this module decides a posting (`apply`), and only `store::ledger` writes one.

mod account;
mod apply;
mod audit;
mod book;
mod error;
mod hold;
mod lot;
mod posting;
mod profile;
mod standing;

pub use account::{Account, Legs, Source, UnknownAccount, Usage};
pub use apply::{apply, closed_hold, explain_closed_hold, merge, Applied, Merged};
pub use audit::{audit, AuditReport};
pub use book::{redirected, replay, Book, PostingOutcome, MAX_MERGE_HOPS};
pub use error::{ErrorClass, LedgerError, Violation};
pub use hold::{Hold, MAX_OPEN_HOLDS};
pub use lot::{expiring, lot_expired_from, lot_expires_on, Expiring, Lots, LOT_LIFETIME_MONTHS};
pub use posting::{Flows, Op, Posting, PostingRequest, PostingResult, MAX_OPS};
pub use profile::Profile;
pub use standing::{GrowthEntry, Standing, TierChange, TierOutlook, TierReason};

#[cfg(test)]
mod scenarios;
#[cfg(test)]
mod simulation;
