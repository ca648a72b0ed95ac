//! `store::ledger`: the only writer of postings (DESIGN §5). It reads the member's profile,
//! lets `ledger::apply` decide, and writes the posting and the new profile in one transaction
//! whose conditions make a duplicate collide and a concurrent change re-decide.

mod dynamo;
mod holds;
pub mod item;
#[cfg(any(test, feature = "memory"))]
mod memory;
mod merge;
mod scan;
mod standing;

pub use dynamo::{DynamoLedger, ExtraWrite, PostedWith};
pub(crate) use dynamo::{CONDITION_FAILED, TRANSACTION_CONFLICT};
#[cfg(any(test, feature = "memory"))]
pub use memory::MemoryLedger;
pub use scan::ProfilePage;
pub use standing::{current_tier, Reviewed, Standings};

use super::wru::WriteCost;
use super::StoreError;
use crate::ids::{Identity, MemberId, PostingId};
use crate::ledger::{Posting, PostingOutcome, PostingRequest, Profile};
use crate::money::Points;
use crate::time::BusinessTime;
use std::future::Future;

/// A posting request's answer, with what it cost to write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posted {
    pub outcome: PostingOutcome,
    /// Nothing for a replay: the stored result is returned and nothing is written.
    pub cost: WriteCost,
    /// How many times the transaction was tried (1 without contention).
    pub attempts: u32,
}

/// One line of a member's points history, newest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryLine {
    pub posting_id: PostingId,
    pub kind: String,
    pub at: BusinessTime,
    /// The change of available points.
    pub delta: Points,
}

/// Where a page of history ends: the last line's time and posting id, opaque to callers
/// (`<ms>.<posting id>`; a posting id never starts with a digit-only prefix ending in '.').
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryCursor {
    pub at: BusinessTime,
    pub posting_id: PostingId,
}

impl HistoryCursor {
    pub fn of(line: &HistoryLine) -> Self {
        Self {
            at: line.at,
            posting_id: line.posting_id.clone(),
        }
    }

    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.epoch_ms(), self.posting_id)
    }

    /// None for anything `encode` did not make.
    pub fn decode(text: &str) -> Option<Self> {
        let (ms, id) = text.trim().split_once('.')?;
        Some(Self {
            at: BusinessTime::from_epoch_ms(ms.parse().ok()?).ok()?,
            posting_id: PostingId::parse(id).ok()?,
        })
    }
}

/// A page of history, newest first, and where the next page starts (None: no more).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryPage {
    pub lines: Vec<HistoryLine>,
    pub next: Option<HistoryCursor>,
}

/// The ledger's persistence, in domain terms.
pub trait LedgerStore {
    /// Creates the member's empty profile unless it exists. True when created.
    fn open(
        &self,
        member: &MemberId,
        at: BusinessTime,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The member's ledger profile, read consistently.
    fn profile(
        &self,
        member: &MemberId,
    ) -> impl Future<Output = Result<Option<Profile>, StoreError>> + Send;

    /// Applies `request` exactly once: a repeat with the same content returns the stored
    /// result; a different request under a recorded id is `IdReusedWithDifferentContent`.
    fn post(
        &self,
        request: &PostingRequest,
    ) -> impl Future<Output = Result<Posted, StoreError>> + Send;

    /// Merges `from` into `into` exactly once (DESIGN §3, posting `merge:<from>` on both
    /// members, one transaction): `from`'s points, lots, holds and debt move to `into`, `from` is
    /// marked merged (its later postings are recorded for `into`), and each identity in
    /// `repoint` is made to name `into` in the same transaction. A repeat answers the stored
    /// result of the receiving side.
    fn merge(
        &self,
        from: &MemberId,
        into: &MemberId,
        repoint: &[Identity],
        at: BusinessTime,
    ) -> impl Future<Output = Result<Posted, StoreError>> + Send;

    /// The posting recorded under `id` for `member`, if any (consistent read).
    fn posting(
        &self,
        member: &MemberId,
        id: &PostingId,
    ) -> impl Future<Output = Result<Option<Posting>, StoreError>> + Send;

    /// The postings recorded under `ids` for `member`, in the order asked (None where there is
    /// none), read consistently in one round trip; at most 100 ids.
    fn postings(
        &self,
        member: &MemberId,
        ids: &[PostingId],
    ) -> impl Future<Output = Result<Vec<Option<Posting>>, StoreError>> + Send;

    /// The member's postings, newest first, at most `limit`, after `cursor` when given (a
    /// consistent read: a posting just applied is on the first page).
    fn history(
        &self,
        member: &MemberId,
        cursor: Option<&HistoryCursor>,
        limit: u16,
    ) -> impl Future<Output = Result<HistoryPage, StoreError>> + Send;
}

/// The member whose ledger now holds `member`'s points: `member` itself, or the member it was
/// merged into (followed, as postings are), with its profile as read on the way. Reads of a
/// member's holds and postings go there.
pub async fn owner<L: LedgerStore>(
    ledger: &L,
    member: &MemberId,
) -> Result<(MemberId, Option<Profile>), StoreError> {
    let mut current = member.clone();
    let mut profile = ledger.profile(&current).await?;
    for _ in 0..crate::ledger::MAX_MERGE_HOPS {
        match profile.as_ref().and_then(|p| p.merged_into.clone()) {
            Some(into) => {
                profile = ledger.profile(&into).await?;
                current = into;
            }
            None => break,
        }
    }
    Ok((current, profile))
}

/// A posting written in one transaction with the caller's own writes (e.g. a points hold with
/// the order and its stock): all commit or none. A refused posting is an error as with
/// `LedgerStore::post`; an extra write whose condition fails is `ExtraRefused`. Merged members
/// are not followed.
pub trait PostWith {
    fn post_with(
        &self,
        request: &PostingRequest,
        extra: &[ExtraWrite],
    ) -> impl Future<Output = Result<PostedWith, StoreError>> + Send;
}

/// How hard `post` tries under contention: full-jitter exponential backoff.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u32,
    pub base_ms: u64,
    pub cap_ms: u64,
}

impl Default for RetryPolicy {
    /// A member's postings are rarely concurrent (the FIFO queue orders them per member); the
    /// budget is sized for a burst of a few dozen at once, within a Lambda's timeout.
    fn default() -> Self {
        Self {
            max_attempts: 80,
            base_ms: 4,
            cap_ms: 250,
        }
    }
}

impl RetryPolicy {
    /// The longest pause before attempt `attempt + 1`; the caller draws uniformly below it.
    pub fn ceiling_ms(&self, attempt: u32) -> u64 {
        let growth = 1u64.checked_shl(attempt.min(16)).unwrap_or(u64::MAX);
        self.base_ms.saturating_mul(growth).min(self.cap_ms)
    }
}
