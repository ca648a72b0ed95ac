//! `Book`: the ledger's exactly-once semantics over plain memory, for unit tests, the seeded
//! simulation and other crates' fast tests. The DynamoDB store implements the same semantics
//! with one transaction per posting; both call `apply` and `explain_closed_hold`.

use super::apply::{apply, closed_hold, explain_closed_hold, merge};
use super::error::LedgerError;
use super::posting::{Op, Posting, PostingRequest, PostingResult};
use super::profile::Profile;
use crate::ids::{MemberId, PostingId};
use crate::time::BusinessTime;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// How many merges a posting may follow to the member that holds everything now. A member is
/// merged at most once and a merge target holds the UnionID, so one hop is the norm.
pub const MAX_MERGE_HOPS: usize = 4;

/// `request` recorded for `into` instead: its member was merged there.
pub fn redirected(request: &PostingRequest, into: &MemberId) -> PostingRequest {
    PostingRequest {
        member: into.clone(),
        ..request.clone()
    }
}

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
    /// A posting for a merged member is recorded for the member it was merged into, unless it
    /// was recorded before the merge.
    pub fn post(&mut self, request: &PostingRequest) -> Result<PostingOutcome, LedgerError> {
        let mut request = Cow::Borrowed(request);
        for _ in 0..MAX_MERGE_HOPS {
            match self.post_here(&request) {
                Err(LedgerError::Merged { into }) => {
                    request = Cow::Owned(redirected(&request, &into))
                }
                answered => return answered,
            }
        }
        Err(LedgerError::CannotMerge("too many merges in a row"))
    }

    /// Merges `from` into `into` once (posting `merge:<from>` on both); a repeat answers the
    /// stored result of the receiving side.
    pub fn merge(
        &mut self,
        from: &MemberId,
        into: &MemberId,
        at: BusinessTime,
    ) -> Result<PostingOutcome, LedgerError> {
        let id = PostingId::merge(from);
        if let Some(stored) = self.postings.get(&(into.clone(), id.clone())) {
            let same = stored.request.ops == [Op::MergeIn { from: from.clone() }];
            return if same {
                Ok(PostingOutcome {
                    result: stored.result.clone(),
                    replayed: true,
                })
            } else {
                Err(LedgerError::IdReusedWithDifferentContent(id))
            };
        }
        let known = |m: &MemberId| self.profiles.get(m).ok_or(LedgerError::UnknownMember);
        let merged = merge(known(from)?, known(into)?, at)?;
        let result = merged.into.posting.result.clone();
        for applied in [merged.out, merged.into] {
            let member = applied.profile.member.clone();
            self.postings
                .insert((member.clone(), id.clone()), applied.posting);
            self.profiles.insert(member, applied.profile);
        }
        Ok(PostingOutcome {
            result,
            replayed: false,
        })
    }

    fn post_here(&mut self, request: &PostingRequest) -> Result<PostingOutcome, LedgerError> {
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
