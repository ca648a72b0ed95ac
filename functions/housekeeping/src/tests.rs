//! The ledger tasks over a ledger in memory (`ledger::Book` behind the walk trait) and checkpoints
//! in memory: resuming, repeating, and what each run reports. The schedule inputs of
//! `events/housekeeping/` and template.yaml parse.

use crate::walk::{Budget, LedgerWalk};
use crate::{audit, expiry, holds, Input, Task};
use linli::ids::{Identity, MemberId, OrderId, PostingId};
use linli::ledger::{Book, Op, Posting, PostingRequest, Profile, Source};
use linli::money::Points;
use linli::store::checkpoints::{CheckpointKey, CheckpointStore, MemoryCheckpoints};
use linli::store::ledger::item::hold_shard;
use linli::store::ledger::{HistoryCursor, HistoryPage, LedgerStore, Posted, ProfilePage};
use linli::store::wru::WriteCost;
use linli::store::StoreError;
use linli::time::{BusinessTime, Month};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// A ledger in memory whose scan pages hold `page_size` profiles, and whose stored profiles can
/// be tampered with (as a hand edit would).
#[derive(Default)]
struct FakeLedger {
    book: Mutex<Book>,
    page_size: usize,
    tampered: Mutex<BTreeMap<MemberId, Profile>>,
}

impl FakeLedger {
    fn with<T>(&self, f: impl FnOnce(&mut Book) -> T) -> T {
        f(&mut self.book.lock().unwrap())
    }

    fn stored(&self, member: &MemberId) -> Option<Profile> {
        let tampered = self.tampered.lock().unwrap().get(member).cloned();
        tampered.or_else(|| self.with(|b| b.profile(member).cloned()))
    }

    fn count(&self, id: &PostingId) -> usize {
        self.with(|b| b.postings().filter(|p| &p.request.id == id).count())
    }
}

impl LedgerStore for FakeLedger {
    async fn open(&self, member: &MemberId, _at: BusinessTime) -> Result<bool, StoreError> {
        Ok(self.with(|b| {
            let new = b.profile(member).is_none();
            b.open(member.clone());
            new
        }))
    }

    async fn profile(&self, member: &MemberId) -> Result<Option<Profile>, StoreError> {
        Ok(self.with(|b| b.profile(member).cloned()))
    }

    async fn post(&self, request: &PostingRequest) -> Result<Posted, StoreError> {
        let outcome = self.with(|b| b.post(request))?;
        Ok(Posted {
            outcome,
            cost: WriteCost::default(),
            attempts: 1,
        })
    }

    async fn merge(
        &self,
        from: &MemberId,
        into: &MemberId,
        _repoint: &[Identity],
        at: BusinessTime,
    ) -> Result<Posted, StoreError> {
        let outcome = self.with(|b| b.merge(from, into, at))?;
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
        Ok(self.with(|b| {
            b.postings()
                .find(|p| &p.request.member == member && &p.request.id == id)
                .cloned()
        }))
    }

    async fn postings(
        &self,
        member: &MemberId,
        ids: &[PostingId],
    ) -> Result<Vec<Option<Posting>>, StoreError> {
        let mut found = vec![];
        for id in ids {
            found.push(self.posting(member, id).await?);
        }
        Ok(found)
    }

    async fn history(
        &self,
        _member: &MemberId,
        _cursor: Option<&HistoryCursor>,
        _limit: u16,
    ) -> Result<HistoryPage, StoreError> {
        Ok(HistoryPage::default())
    }
}

impl LedgerWalk for FakeLedger {
    async fn profiles_page(
        &self,
        segment: u32,
        segments: u32,
        cursor: Option<&str>,
        _limit: i32,
    ) -> Result<ProfilePage, StoreError> {
        let members: Vec<MemberId> = self.with(|b| {
            b.profiles()
                .map(|p| p.member.clone())
                .filter(|m| u32::from(hold_shard(m)) % segments == segment)
                .collect()
        });
        let from: usize = cursor.map_or(0, |c| c.parse().unwrap());
        let upto = (from + self.page_size.max(1)).min(members.len());
        let profiles = members[from..upto]
            .iter()
            .map(|m| Ok(self.stored(m).unwrap()))
            .collect();
        let next = (upto < members.len()).then(|| upto.to_string());
        Ok(ProfilePage { profiles, next })
    }

    async fn all_postings(&self, member: &MemberId) -> Result<Vec<Posting>, StoreError> {
        Ok(self.with(|b| {
            b.postings()
                .filter(|p| &p.request.member == member)
                .cloned()
                .collect()
        }))
    }

    async fn profile_as_stored(&self, member: &MemberId) -> Result<Option<Profile>, StoreError> {
        Ok(self.stored(member))
    }

    async fn holds_due(
        &self,
        shard: u8,
        due: BusinessTime,
        limit: i32,
    ) -> Result<Vec<MemberId>, StoreError> {
        let limit = usize::try_from(limit).unwrap();
        Ok(self.with(|b| {
            b.profiles()
                .filter(|p| hold_shard(&p.member) == shard)
                .filter(|p| p.holds.values().map(|h| h.expires_at).min() <= Some(due))
                .filter(|p| !p.holds.is_empty())
                .map(|p| p.member.clone())
                .take(limit)
                .collect()
        }))
    }
}

fn month(text: &str) -> Month {
    text.parse().unwrap()
}

/// `n` members, each with 10 points earned in 2025-01 and 20 in 2025-02.
fn ledger(n: u128, page_size: usize) -> (FakeLedger, Vec<MemberId>) {
    let ledger = FakeLedger {
        page_size,
        ..FakeLedger::default()
    };
    let members: Vec<MemberId> = (0..n)
        .map(|i| MemberId::generate(month("2025-01").start(), 7_000 + i))
        .collect();
    ledger.with(|book| {
        for (i, member) in members.iter().enumerate() {
            book.open(member.clone());
            for (m, points) in [("2025-01", 10), ("2025-02", 20)] {
                let id = PostingId::parse(&format!("adjust:E-{i}-{m}")).unwrap();
                let earn = Op::Earn {
                    source: Source::Pay,
                    points: Points::new(points),
                };
                let at = month(m).start().plus_ms(60_000);
                book.post(&PostingRequest::new(id, member.clone(), at, vec![earn]))
                    .unwrap();
            }
        }
    });
    (ledger, members)
}

#[tokio::test]
async fn expiry_resumes_across_runs_expires_each_due_lot_once_and_keeps_the_others() {
    let (ledger, members) = ledger(9, 1);
    let checkpoints = MemoryCheckpoints::default();
    // 2026-02: the January 2025 lots are due, the February ones not yet.
    let now = month("2026-02").start().plus_ms(3_600_000);

    let first = expiry::run(&ledger, &checkpoints, now, &Budget::pages(3)).await;
    assert_eq!((first.month.as_str(), first.failed), ("2026-02", 0));
    assert!(
        first.members <= 3,
        "three pages of at most one profile, then the budget is spent"
    );
    assert!(!first.pass_done);

    let second = expiry::run(&ledger, &checkpoints, now, &Budget::pages(100)).await;
    assert!(second.pass_done);
    assert_eq!(
        first.members + second.members,
        9,
        "no member twice, none skipped"
    );
    assert_eq!(first.expired + second.expired, 9);
    assert_eq!(
        (second.pass.members, second.pass.lots, second.pass.points),
        (9, 9, 90)
    );

    // Fired again in the same month: the pass is done, nothing is read or written.
    let third = expiry::run(
        &ledger,
        &checkpoints,
        now.plus_ms(3_600_000),
        &Budget::pages(100),
    )
    .await;
    assert_eq!(
        (third.members, third.expired, third.pass_done),
        (0, 0, true)
    );

    for member in &members {
        let profile = ledger.stored(member).unwrap();
        assert_eq!(
            profile.available,
            Points::new(20),
            "the February lot is kept"
        );
        assert_eq!(profile.lots.get(month("2025-02")), Points::new(20));
        assert_eq!(
            ledger.count(&PostingId::expire(member, month("2025-01"))),
            1
        );
    }

    // A new month starts a new pass; March 2026 expires the February lots.
    let march = month("2026-03").start();
    let next = expiry::run(&ledger, &checkpoints, march, &Budget::pages(100)).await;
    assert_eq!(
        (next.month.as_str(), next.members, next.expired),
        ("2026-03", 9, 9)
    );
    let key = CheckpointKey::segment(expiry::TASK, 0);
    let saved = checkpoints
        .load::<crate::walk::Progress<expiry::ExpiryTally>>(&key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (saved.state.period.as_str(), saved.state.done),
        ("2026-03", true)
    );
}

#[tokio::test]
async fn the_audit_sums_a_resumed_pass_publishes_it_once_and_reports_violations() {
    let (ledger, members) = ledger(6, 1);
    let checkpoints = MemoryCheckpoints::default();
    let now = month("2025-03").start().plus_ms(3 * 3_600_000);

    let first = audit::run(&ledger, &checkpoints, "test", now, &Budget::pages(2)).await;
    assert!(first.members <= 2 && !first.pass_done, "{first:?}");
    assert!(first.pass.is_none());
    let second = audit::run(&ledger, &checkpoints, "test", now, &Budget::pages(100)).await;
    assert!(second.pass_done && second.published);
    assert_eq!(
        first.members + second.members,
        6,
        "each member once over the two runs"
    );
    let pass = second.pass.clone().unwrap();
    assert_eq!(
        (pass.tally.members, pass.tally.postings, pass.violations),
        (6, 12, 0)
    );
    assert_eq!(pass.tally.members_net, 6 * 30);
    assert_eq!(pass.tally.system_total(), -6 * 30);
    assert_eq!(second.violations_found(), 0);

    let again = audit::run(&ledger, &checkpoints, "test", now, &Budget::pages(100)).await;
    assert!(!again.published, "the day's result is published once");
    assert_eq!(again.pass, Some(pass));

    // A hand-edited profile, audited the next day: named, counted, and the run fails.
    let mut edited = ledger.stored(&members[2]).unwrap();
    edited.available = Points::new(31);
    ledger
        .tampered
        .lock()
        .unwrap()
        .insert(members[2].clone(), edited);
    let tomorrow = now.plus_ms(24 * 3_600_000);
    let broken = audit::run(&ledger, &checkpoints, "test", tomorrow, &Budget::pages(100)).await;
    assert!(broken.published);
    assert!(broken.violations >= 1, "{broken:?}");
    let pass = broken.pass.clone().unwrap();
    assert!(
        pass.violations > broken.violations,
        "the global sums disagree too: {pass:?}"
    );
    assert_eq!(broken.violations_found(), pass.violations);
}

#[tokio::test]
async fn expired_holds_are_voided_once_and_open_ones_kept() {
    let (ledger, members) = ledger(3, 10);
    let at = month("2025-03").start();
    for (member, minutes) in members.iter().zip([5, 15, 25]) {
        let order = OrderId::parse(&format!("O-{}", &member.as_str()[20..])).unwrap();
        let hold = PostingRequest::new(
            PostingId::hold_order(&order),
            member.clone(),
            at,
            vec![Op::Hold {
                order,
                points: Points::new(12),
                expires_at: at.plus_ms(minutes * 60_000),
            }],
        );
        ledger.post(&hold).await.unwrap();
    }
    let now = at.plus_ms(20 * 60_000);
    let first = holds::run(&ledger, now, &Budget::pages(100)).await;
    assert_eq!((first.members, first.voided, first.failed), (2, 2, 0));
    let again = holds::run(&ledger, now, &Budget::pages(100)).await;
    assert_eq!(
        (again.members, again.voided),
        (0, 0),
        "voided holds leave the index"
    );
    let available: Vec<i64> = members
        .iter()
        .map(|m| ledger.stored(m).unwrap().available.value())
        .collect();
    assert_eq!(available, [30, 30, 18], "the last hold has not expired yet");
}

#[test]
fn the_sample_events_and_the_template_inputs_name_known_tasks() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/housekeeping");
    let mut tasks = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let input: Input = serde_json::from_str(&text).unwrap();
        BusinessTime::parse_rfc3339(&input.time).unwrap();
        tasks.push(input.task);
    }
    let template = include_str!("../../../template.yaml");
    // Housekeeping's own schedules: from its function's definition to the next resource's.
    let own = template
        .split("  HousekeepingFunction:")
        .nth(1)
        .and_then(|rest| rest.split("\n\n  ").next())
        .unwrap_or_default();
    let scheduled: Vec<Task> = own
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Input: '{\"task\""))
        .map(|rest| {
            let json = format!("{{\"task\"{}", rest.trim_end_matches('\''));
            let json = json.replace("<aws.scheduler.scheduled-time>", "2026-11-24T12:00:00Z");
            serde_json::from_str::<Input>(&json).unwrap().task
        })
        .collect();
    for task in [
        Task::CloseUnpaid,
        Task::Redrive,
        Task::VoidExpiredHolds,
        Task::ExpireLots,
        Task::TierReview,
        Task::Reminders,
        Task::Audit,
        Task::OverdueWaybills,
    ] {
        assert!(tasks.contains(&task), "events/housekeeping has no {task:?}");
        assert!(
            scheduled.contains(&task),
            "template.yaml does not schedule {task:?}"
        );
    }
}
