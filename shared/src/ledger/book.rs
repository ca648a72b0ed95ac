//! `Book`: the ledger's exactly-once semantics over plain memory, for unit tests, the seeded
//! simulation and other crates' fast tests. The DynamoDB store implements the same semantics
//! with one transaction per posting; both call `apply` and `explain_closed_hold`.

use super::apply::{apply, closed_hold, explain_closed_hold};
use super::error::LedgerError;
use super::posting::{Posting, PostingRequest, PostingResult};
use super::profile::Profile;
use crate::ids::{MemberId, PostingId};
use std::collections::BTreeMap;

/// What posting a request answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostingOutcome {
    pub result: PostingResult,
    /// True when the posting had been recorded before and this is its stored result.
    pub replayed: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Book {
    profiles: BTreeMap<MemberId, Profile>,
    postings: BTreeMap<(MemberId, PostingId), Posting>,
}

impl Book {
    pub fn open(&mut self, member: MemberId) {
        self.profiles
            .entry(member.clone())
            .or_insert_with(|| Profile::new(member));
    }

    pub fn profile(&self, member: &MemberId) -> Option<&Profile> {
        self.profiles.get(member)
    }

    pub fn profiles(&self) -> impl Iterator<Item = &Profile> {
        self.profiles.values()
    }

    pub fn postings(&self) -> impl Iterator<Item = &Posting> {
        self.postings.values()
    }

    /// Records `request` once: a repeat with the same content gets the stored result, a
    /// different request under a recorded id is refused.
    pub fn post(&mut self, request: &PostingRequest) -> Result<PostingOutcome, LedgerError> {
        let key = (request.member.clone(), request.id.clone());
        if let Some(stored) = self.postings.get(&key) {
            return replay(stored, request);
        }
        let profile = self
            .profiles
            .get(&request.member)
            .ok_or(LedgerError::UnknownMember)?;
        let applied = apply(profile, request).map_err(|e| self.explain(request, e))?;
        let result = applied.posting.result.clone();
        self.profiles
            .insert(request.member.clone(), applied.profile);
        self.postings.insert(key, applied.posting);
        Ok(PostingOutcome {
            result,
            replayed: false,
        })
    }

    fn explain(&self, request: &PostingRequest, error: LedgerError) -> LedgerError {
        let LedgerError::HoldNotOpen(_) = &error else {
            return error;
        };
        let recorded = |id: PostingId| self.postings.contains_key(&(request.member.clone(), id));
        request
            .ops
            .iter()
            .filter_map(|op| {
                let order = closed_hold(op)?;
                let voided = recorded(PostingId::void_order(order));
                let captured = recorded(PostingId::pay_order(order));
                explain_closed_hold(op, voided, captured)
            })
            .next()
            .unwrap_or(error)
    }
}

/// The answer to a request whose id is already recorded.
pub fn replay(stored: &Posting, request: &PostingRequest) -> Result<PostingOutcome, LedgerError> {
    if stored.request.content_hash() == request.content_hash() {
        Ok(PostingOutcome {
            result: stored.result.clone(),
            replayed: true,
        })
    } else {
        Err(LedgerError::IdReusedWithDifferentContent(
            request.id.clone(),
        ))
    }
}
