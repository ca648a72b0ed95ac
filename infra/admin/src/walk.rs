//! Every member of the ledger: a parallel scan of the `PROFILE` items in `SEGMENTS` segments,
//! page by page (`DynamoLedger::profiles_page`), each profile handed to a visitor that keeps its
//! own running sums per segment; the sums are combined at the end.

use crate::AdminError;
use linli::ledger::{Posting, Profile};
use linli::store::ledger::DynamoLedger;
use linli::store::StoreError;

/// Scan segments walked at once.
pub const SEGMENTS: u32 = 4;
/// Items a scan page examines (postings included, so a page holds at most this many profiles).
const PAGE_ITEMS: i32 = 200;
/// A bound on the pages of one segment (STYLE 16): 200 items a page, a billion items a segment.
const MAX_PAGES: u32 = 5_000_000;
/// How often a member is read again when a posting lands while it is being read.
const SNAPSHOT_TRIES: u32 = 3;

/// Running sums over members, combinable across segments.
pub trait Tally: Default {
    fn combine(&mut self, other: Self);
}

/// What a command does with each member's profile (or the error reading it).
pub trait Visitor {
    type Tally: Tally;

    async fn visit(
        &self,
        ledger: &DynamoLedger,
        found: Result<Profile, StoreError>,
        tally: &mut Self::Tally,
    ) -> Result<(), AdminError>;
}

/// Visits every member once; answers the combined tally. DynamoDB failing is an error; what a
/// visitor finds wrong is in its tally.
pub async fn every_member<V: Visitor>(
    ledger: &DynamoLedger,
    visitor: &V,
) -> Result<V::Tally, AdminError> {
    let (a, b, c, d) = tokio::try_join!(
        segment(ledger, visitor, 0),
        segment(ledger, visitor, 1),
        segment(ledger, visitor, 2),
        segment(ledger, visitor, 3),
    )?;
    let mut total = a;
    for part in [b, c, d] {
        total.combine(part);
    }
    Ok(total)
}

async fn segment<V: Visitor>(
    ledger: &DynamoLedger,
    visitor: &V,
    segment: u32,
) -> Result<V::Tally, AdminError> {
    let mut tally = V::Tally::default();
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let page = ledger
            .profiles_page(segment, SEGMENTS, cursor.as_deref(), PAGE_ITEMS)
            .await?;
        for found in page.profiles {
            visitor.visit(ledger, found, &mut tally).await?;
        }
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok(tally),
        }
    }
    Err(AdminError::Problem(format!(
        "scan segment {segment} did not end after {MAX_PAGES} pages: is the table looping?"
    )))
}

/// `first` and the member's postings as of one moment: a posting changes the profile's version
/// in the same transaction, so the same version read after the postings means nothing landed
/// in between (as the nightly audit reads them).
pub async fn snapshot(
    ledger: &DynamoLedger,
    first: Profile,
) -> Result<(Profile, Vec<Posting>), StoreError> {
    let mut profile = first;
    for _ in 0..SNAPSHOT_TRIES {
        let postings = ledger.all_postings(&profile.member).await?;
        match ledger.profile_as_stored(&profile.member).await? {
            Some(again) if again.version != profile.version => profile = again,
            _ => return Ok((profile, postings)),
        }
    }
    Err(StoreError::Contended {
        attempts: SNAPSHOT_TRIES,
    })
}
