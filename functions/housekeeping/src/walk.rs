//! Resumable passes over every member's profile (ExpireLots, Audit): a parallel scan in
//! `SEGMENTS` segments, page by page, each segment's place kept in a checkpoint
//! (`CHECKPOINT#<task>#<segment>` in the Config table) with the period it is for and what the
//! pass has summed so far. A run stops starting pages when its time budget is spent; the next
//! run continues from the checkpoint; a segment that finished its pass for the period is done
//! until the period changes, when a new pass starts from the beginning.

use linli::ids::MemberId;
use linli::ledger::{Posting, Profile};
use linli::store::checkpoints::{CheckpointKey, CheckpointStore};
use linli::store::ledger::{DynamoLedger, LedgerStore, ProfilePage};
use linli::store::StoreError;
use linli::time::BusinessTime;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Scan segments walked at once.
pub const SEGMENTS: u32 = 4;
/// Items a scan page examines (postings included, so a page holds at most this many profiles).
pub const PAGE_ITEMS: i32 = 200;
/// No new page is started after this much of the run (the function's timeout is 60 s).
pub const PASS_BUDGET: Duration = Duration::from_secs(40);

/// What the ledger tasks need of the ledger store besides postings: every profile page by page,
/// a member's postings, its profile as stored, and the hold index.
pub trait LedgerWalk: LedgerStore + Sync {
    fn profiles_page(
        &self,
        segment: u32,
        segments: u32,
        cursor: Option<&str>,
        limit: i32,
    ) -> impl Future<Output = Result<ProfilePage, StoreError>> + Send;

    fn all_postings(
        &self,
        member: &MemberId,
    ) -> impl Future<Output = Result<Vec<Posting>, StoreError>> + Send;

    fn profile_as_stored(
        &self,
        member: &MemberId,
    ) -> impl Future<Output = Result<Option<Profile>, StoreError>> + Send;

    fn holds_due(
        &self,
        shard: u8,
        due: BusinessTime,
        limit: i32,
    ) -> impl Future<Output = Result<Vec<MemberId>, StoreError>> + Send;
}

impl LedgerWalk for DynamoLedger {
    async fn profiles_page(
        &self,
        segment: u32,
        segments: u32,
        cursor: Option<&str>,
        limit: i32,
    ) -> Result<ProfilePage, StoreError> {
        DynamoLedger::profiles_page(self, segment, segments, cursor, limit).await
    }

    async fn all_postings(&self, member: &MemberId) -> Result<Vec<Posting>, StoreError> {
        DynamoLedger::all_postings(self, member).await
    }

    async fn profile_as_stored(&self, member: &MemberId) -> Result<Option<Profile>, StoreError> {
        DynamoLedger::profile_as_stored(self, member).await
    }

    async fn holds_due(
        &self,
        shard: u8,
        due: BusinessTime,
        limit: i32,
    ) -> Result<Vec<MemberId>, StoreError> {
        DynamoLedger::holds_due(self, shard, due, limit).await
    }
}

/// When a run stops starting new work: after a time limit, or (in tests) a number of pages.
#[derive(Debug)]
pub struct Budget {
    started: tokio::time::Instant,
    limit: Duration,
    pages: Option<AtomicU32>,
}

impl Budget {
    pub fn new(limit: Duration) -> Self {
        Self {
            started: tokio::time::Instant::now(),
            limit,
            pages: None,
        }
    }

    /// A budget of `pages` pages in all, whatever the time (to test resuming).
    pub fn pages(pages: u32) -> Self {
        Self {
            pages: Some(AtomicU32::new(pages)),
            ..Self::new(Duration::MAX)
        }
    }

    pub fn spent(&self) -> bool {
        let no_pages = self
            .pages
            .as_ref()
            .is_some_and(|p| p.load(Ordering::SeqCst) == 0);
        no_pages || self.started.elapsed() > self.limit
    }

    /// Takes one page from the budget; false when it is spent.
    pub fn take_page(&self) -> bool {
        if self.started.elapsed() > self.limit {
            return false;
        }
        match &self.pages {
            None => true,
            Some(left) => left
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok(),
        }
    }
}

/// A pass as this run left it over every segment.
pub struct Walk<T> {
    /// This run's counts.
    pub run: RunCounts,
    /// The pass's sums so far, every run included.
    pub tally: T,
    /// Every segment has finished the pass for its period.
    pub done: bool,
}

/// Continues `pass` in every segment at once with `visitor`, and sums where it stands.
pub async fn walk_all<W, C, V>(
    ledger: &W,
    checkpoints: &C,
    visitor: &V,
    pass: &Pass<'_>,
) -> Walk<V::Tally>
where
    W: LedgerWalk,
    C: CheckpointStore + Sync,
    V: PageVisitor,
{
    let walked =
        each_segment(|segment| walk_segment(ledger, checkpoints, visitor, pass, segment)).await;
    let mut walk = Walk {
        run: RunCounts::default(),
        tally: V::Tally::default(),
        done: walked.iter().all(|s| s.progress.done),
    };
    for segment in &walked {
        walk.run.add(&segment.run);
        walk.tally.combine(&segment.progress.tally);
    }
    walk
}

/// The profile of a scanned item, or None (logged, counted as failed) when it cannot be read:
/// the audit reports it.
pub fn readable(profile: Result<Profile, StoreError>, run: &mut RunCounts) -> Option<Profile> {
    match profile {
        Ok(profile) => Some(profile),
        Err(e) => {
            tracing::error!(error = %e, "unreadable profile: left for the audit to report");
            run.failed += 1;
            None
        }
    }
}

/// Runs `work` on every scan segment at once and answers their results in segment order.
async fn each_segment<T, F, Fut>(work: F) -> [T; 4]
where
    F: Fn(u32) -> Fut,
    Fut: Future<Output = T>,
{
    const _: () = assert!(SEGMENTS == 4, "each_segment joins exactly SEGMENTS futures");
    let (a, b, c, d) = tokio::join!(work(0), work(1), work(2), work(3));
    [a, b, c, d]
}

/// A segment's place in its pass, as its checkpoint keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress<T> {
    /// The period the pass is for (a month for ExpireLots, a business date for Audit).
    pub period: String,
    /// Where the next page starts; None at the start of the pass or once it is done.
    pub cursor: Option<String>,
    pub done: bool,
    /// What the pass has summed so far in this segment.
    pub tally: T,
}

/// This run's counts, over every segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RunCounts {
    pub members: u64,
    /// Postings written (lots expired, holds voided).
    pub posted: u64,
    pub violations: u64,
    pub failed: u32,
    /// Segments (or shards) whose pass is complete for the period.
    pub segments_done: u32,
}

impl RunCounts {
    pub fn add(&mut self, other: &RunCounts) {
        self.members += other.members;
        self.posted += other.posted;
        self.violations += other.violations;
        self.failed += other.failed;
        self.segments_done += other.segments_done;
    }
}

/// What a pass sums, segment by segment; the segments' tallies add up to the pass's.
pub trait Tally: Clone + Default + Serialize + DeserializeOwned + Send + Sync {
    fn combine(&mut self, other: &Self);
}

/// What a pass does with each page of profiles.
pub trait PageVisitor: Sync {
    type Tally: Tally;

    /// Visits a page, adding to `tally` and `run`. False when the page must be visited again
    /// (a transient failure): the checkpoint then stays before it and the segment stops.
    fn visit(
        &self,
        profiles: Vec<Result<Profile, StoreError>>,
        tally: &mut Self::Tally,
        run: &mut RunCounts,
    ) -> impl Future<Output = bool> + Send;
}

/// One run of a task's pass: which pass, for which period, at what time, within what budget.
pub struct Pass<'a> {
    pub task: &'static str,
    /// The period the pass is for (a month for ExpireLots, a business date for Audit).
    pub period: &'a str,
    pub now: BusinessTime,
    pub budget: &'a Budget,
}

/// Where a segment's walk ended in this run, with its tally.
pub struct Walked<T> {
    pub progress: Progress<T>,
    pub run: RunCounts,
}

/// The version to save from and the progress of the pass for `period`: the saved one, or a new
/// pass when the checkpoint is for another period (or there is none yet).
async fn resume<C: CheckpointStore, T: Default + DeserializeOwned + Send>(
    checkpoints: &C,
    key: &CheckpointKey,
    period: &str,
) -> Result<(u64, Progress<T>), StoreError> {
    let saved = checkpoints.load::<Progress<T>>(key).await?;
    Ok(match saved {
        Some(saved) if saved.state.period == period => (saved.version, saved.state),
        other => (
            other.map_or(0, |s| s.version),
            Progress {
                period: period.to_owned(),
                ..Progress::default()
            },
        ),
    })
}

/// Walks segment `segment` of `pass` from its checkpoint until it is done, the budget is spent,
/// a page must be visited again, or another run overtook this one.
pub async fn walk_segment<W: LedgerWalk, C: CheckpointStore + Sync, V: PageVisitor>(
    ledger: &W,
    checkpoints: &C,
    visitor: &V,
    pass: &Pass<'_>,
    segment: u32,
) -> Walked<V::Tally> {
    let (task, period, now, budget) = (pass.task, pass.period, pass.now, pass.budget);
    let key = CheckpointKey::segment(task, segment);
    let mut run = RunCounts::default();
    let (mut version, mut progress) = match resume::<_, V::Tally>(checkpoints, &key, period).await {
        Ok(resumed) => resumed,
        Err(e) => {
            tracing::error!(task, segment, error = %e, "checkpoint unreadable");
            run.failed += 1;
            let progress = Progress {
                period: period.to_owned(),
                ..Progress::default()
            };
            return Walked { progress, run };
        }
    };
    while !progress.done && budget.take_page() {
        let page = match ledger
            .profiles_page(segment, SEGMENTS, progress.cursor.as_deref(), PAGE_ITEMS)
            .await
        {
            Ok(page) => page,
            Err(e) => {
                tracing::error!(task, segment, error = %e, "scan page failed; the next run retries it");
                run.failed += 1;
                break;
            }
        };
        let mut tally = progress.tally.clone();
        if !visitor.visit(page.profiles, &mut tally, &mut run).await {
            break;
        }
        let next = Progress {
            period: period.to_owned(),
            done: page.next.is_none(),
            cursor: page.next,
            tally,
        };
        match checkpoints.save(&key, version, &next, now).await {
            Ok(true) => {
                version += 1;
                progress = next;
            }
            Ok(false) => {
                tracing::warn!(task, segment, "another run is on this segment: leaving it");
                break;
            }
            Err(e) => {
                tracing::error!(task, segment, error = %e, "checkpoint not saved; the next run repeats the page");
                run.failed += 1;
                break;
            }
        }
    }
    if progress.done {
        run.segments_done += 1;
    } else if budget.spent() {
        tracing::warn!(task, segment, "time budget spent; the next run continues");
    }
    Walked { progress, run }
}
