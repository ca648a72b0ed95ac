//! The ledger over memory, for other crates' fast GIVEN/WHEN/THEN tests (feature `memory`).
//! Same semantics as `DynamoLedger` (both delegate the decision to `ledger::Book`/`apply`);
//! adapter tests prove the DynamoDB one against DynamoDB Local.

use super::{HistoryCursor, HistoryLine, HistoryPage, LedgerStore, Posted};
use crate::ids::{Identity, MemberId, PostingId};
use crate::ledger::{Book, Posting, PostingRequest, Profile};
use crate::store::wru::WriteCost;
use crate::store::StoreError;
use crate::time::BusinessTime;
use std::sync::{Mutex, PoisonError};

#[derive(Debug, Default)]
pub struct MemoryLedger {
    book: Mutex<Book>,
}

impl MemoryLedger {
    /// A copy of the book, e.g. to audit it.
    pub fn book(&self) -> Book {
        self.book
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Book) -> T) -> T {
        f(&mut self.book.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl LedgerStore for MemoryLedger {
    async fn open(&self, member: &MemberId, _at: BusinessTime) -> Result<bool, StoreError> {
        Ok(self.with(|book| {
            let new = book.profile(member).is_none();
            book.open(member.clone());
            new
        }))
    }

    async fn profile(&self, member: &MemberId) -> Result<Option<Profile>, StoreError> {
        Ok(self.with(|book| book.profile(member).cloned()))
    }

    async fn post(&self, request: &PostingRequest) -> Result<Posted, StoreError> {
        let outcome = self.with(|book| book.post(request))?;
        Ok(Posted {
            outcome,
            cost: WriteCost::default(),
            attempts: 1,
        })
    }

    /// Identities live in the members store, not here: `_repoint` is the DynamoDB store's job.
    async fn merge(
        &self,
        from: &MemberId,
        into: &MemberId,
        _repoint: &[Identity],
        at: BusinessTime,
    ) -> Result<Posted, StoreError> {
        let outcome = self.with(|book| book.merge(from, into, at))?;
        Ok(Posted {
            outcome,
            cost: WriteCost::default(),
            attempts: 1,
        })
    }

    async fn posting(
        &self,
        member: &MemberId,
        id: &PostingId,
    ) -> Result<Option<Posting>, StoreError> {
        Ok(self.with(|book| {
            book.postings()
                .find(|p| &p.request.member == member && &p.request.id == id)
                .cloned()
        }))
    }

    async fn postings(
        &self,
        member: &MemberId,
        ids: &[PostingId],
    ) -> Result<Vec<Option<Posting>>, StoreError> {
        let book = self.book();
        Ok(ids
            .iter()
            .map(|id| {
                book.postings()
                    .find(|p| &p.request.member == member && &p.request.id == id)
                    .cloned()
            })
            .collect())
    }

    async fn history(
        &self,
        member: &MemberId,
        cursor: Option<&HistoryCursor>,
        limit: u16,
    ) -> Result<HistoryPage, StoreError> {
        let mut lines: Vec<HistoryLine> = self.with(|book| {
            book.postings()
                .filter(|p| &p.request.member == member)
                .map(|p| HistoryLine {
                    posting_id: p.request.id.clone(),
                    kind: p.request.id.kind().to_owned(),
                    at: p.request.at,
                    delta: p.result.available_delta,
                })
                .filter(|l| cursor.is_none_or(|c| (l.at, &l.posting_id) < (c.at, &c.posting_id)))
                .collect()
        });
        lines.sort_by(|a, b| {
            b.at.cmp(&a.at)
                .then_with(|| b.posting_id.cmp(&a.posting_id))
        });
        let limit = usize::from(limit.max(1));
        let more = lines.len() > limit;
        lines.truncate(limit);
        let next = lines.last().filter(|_| more).map(HistoryCursor::of);
        Ok(HistoryPage { lines, next })
    }
}
