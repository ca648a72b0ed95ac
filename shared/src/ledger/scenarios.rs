//! GIVEN/WHEN/THEN scenarios of the ledger's rules, on the in-memory `Book`.

use super::*;
use crate::ids::{MemberId, OrderId, PostingId, RefundId, TicketId};
use crate::money::Points;
use crate::time::{BusinessTime, Month};

fn at(text: &str) -> BusinessTime {
    BusinessTime::parse_rfc3339(text).unwrap()
}

fn month(text: &str) -> Month {
    text.parse().unwrap()
}

fn pts(n: i64) -> Points {
    Points::new(n)
}

struct World {
    book: Book,
    member: MemberId,
}

impl World {
    fn new() -> Self {
        let member = MemberId::generate(at("2026-01-01T00:00:00Z"), 99);
        let mut book = Book::default();
        book.open(member.clone());
        Self { book, member }
    }

    fn post(
        &mut self,
        id: PostingId,
        when: &str,
        ops: Vec<Op>,
    ) -> Result<PostingOutcome, LedgerError> {
        self.book
            .post(&PostingRequest::new(id, self.member.clone(), at(when), ops))
    }

    fn earn(&mut self, order: &str, when: &str, points: i64) -> PostingOutcome {
        let ops = vec![Op::Earn {
            source: Source::Pay,
            points: pts(points),
        }];
        self.post(PostingId::pay_order(&order_id(order)), when, ops)
            .unwrap()
    }

    fn hold(
        &mut self,
        order: &str,
        when: &str,
        points: i64,
    ) -> Result<PostingOutcome, LedgerError> {
        let order = order_id(order);
        let op = Op::Hold {
            order: order.clone(),
            points: pts(points),
            expires_at: at(when).plus_ms(900_000),
        };
        self.post(PostingId::hold_order(&order), when, vec![op])
    }

    fn capture(&mut self, order: &str, when: &str) -> Result<PostingOutcome, LedgerError> {
        let order = order_id(order);
        let op = Op::Capture {
            order: order.clone(),
            usage: Usage::DeliveryFee,
        };
        self.post(PostingId::pay_order(&order), when, vec![op])
    }

    fn void(&mut self, order: &str, when: &str) -> Result<PostingOutcome, LedgerError> {
        let order = order_id(order);
        self.post(
            PostingId::void_order(&order),
            when,
            vec![Op::Void { order }],
        )
    }

    fn clawback(&mut self, refund: &str, when: &str, points: i64) -> PostingOutcome {
        let id = PostingId::claw_refund(&RefundId::parse(refund).unwrap());
        self.post(
            id,
            when,
            vec![Op::Clawback {
                points: pts(points),
            }],
        )
        .unwrap()
    }

    fn profile(&self) -> &Profile {
        self.book.profile(&self.member).unwrap()
    }

    fn assert_audit_clean(&self) {
        let report = audit(self.book.profiles(), self.book.postings());
        assert!(report.is_clean(), "{:?}", report.violations);
    }
}

fn order_id(text: &str) -> OrderId {
    OrderId::parse(text).unwrap()
}

#[test]
fn earned_points_land_in_the_lot_of_the_business_month() {
    let mut w = World::new();
    // 23:30 Shanghai on 31 Jan is still January.
    w.earn("O1", "2026-01-31T15:30:00Z", 88);
    w.earn("O2", "2026-01-31T16:30:00Z", 12);
    assert_eq!(w.profile().lots.get(month("2026-01")), pts(88));
    assert_eq!(w.profile().lots.get(month("2026-02")), pts(12));
    assert_eq!(w.profile().available, pts(100));
    w.assert_audit_clean();
}

#[test]
fn a_repeated_posting_is_applied_once_and_answers_the_same_result() {
    let mut w = World::new();
    let first = w.earn("O1", "2026-01-10T00:00:00Z", 50);
    let second = w.earn("O1", "2026-01-10T00:00:00Z", 50);
    assert!(!first.replayed && second.replayed);
    assert_eq!(first.result, second.result);
    assert_eq!(w.profile().available, pts(50));
    assert_eq!(w.book.postings().count(), 1);
}

#[test]
fn reusing_an_id_with_different_content_is_refused() {
    let mut w = World::new();
    w.earn("O1", "2026-01-10T00:00:00Z", 50);
    let ops = vec![Op::Earn {
        source: Source::Pay,
        points: pts(51),
    }];
    let err = w.post(
        PostingId::pay_order(&order_id("O1")),
        "2026-01-10T00:00:00Z",
        ops,
    );
    assert_eq!(
        err,
        Err(LedgerError::IdReusedWithDifferentContent(
            PostingId::pay_order(&order_id("O1"))
        ))
    );
    assert_eq!(w.profile().available, pts(50));
}

#[test]
fn a_hold_takes_the_oldest_lots_and_a_void_returns_exactly_them() {
    let mut w = World::new();
    w.earn("O1", "2026-01-10T00:00:00Z", 30);
    w.earn("O2", "2026-02-10T00:00:00Z", 40);
    w.hold("D1", "2026-03-01T00:00:00Z", 50).unwrap();
    let p = w.profile();
    assert_eq!((p.available, p.held), (pts(20), pts(50)));
    assert_eq!(p.lots.get(month("2026-01")), Points::ZERO);
    assert_eq!(p.lots.get(month("2026-02")), pts(20));
    w.void("D1", "2026-03-01T00:20:00Z").unwrap();
    let p = w.profile();
    assert_eq!((p.available, p.held), (pts(70), Points::ZERO));
    assert_eq!(p.lots.get(month("2026-01")), pts(30));
    assert_eq!(p.lots.get(month("2026-02")), pts(40));
    w.assert_audit_clean();
}

#[test]
fn a_captured_hold_is_redeemed_and_cannot_be_voided() {
    let mut w = World::new();
    w.earn("O1", "2026-01-10T00:00:00Z", 80);
    w.hold("D1", "2026-01-11T00:00:00Z", 50).unwrap();
    let capture = w.capture("D1", "2026-01-11T00:05:00Z").unwrap();
    assert_eq!(
        (capture.result.available, capture.result.held),
        (pts(30), Points::ZERO)
    );
    assert_eq!(
        w.void("D1", "2026-01-11T00:20:00Z"),
        Err(LedgerError::VoidAfterCapture(order_id("D1")))
    );
    let redeemed = w
        .book
        .postings()
        .map(|p| p.legs.amount(Account::Redemption(Usage::DeliveryFee)))
        .sum::<i64>();
    assert_eq!(redeemed, 50);
    w.assert_audit_clean();
}

#[test]
fn a_voided_hold_cannot_be_captured() {
    let mut w = World::new();
    w.earn("O1", "2026-01-10T00:00:00Z", 80);
    w.hold("D1", "2026-01-11T00:00:00Z", 50).unwrap();
    w.void("D1", "2026-01-11T00:20:00Z").unwrap();
    assert_eq!(
        w.capture("D1", "2026-01-11T00:30:00Z"),
        Err(LedgerError::CaptureAfterVoid(order_id("D1")))
    );
    assert_eq!(w.profile().available, pts(80));
    assert_eq!(
        w.capture("D9", "2026-01-11T00:30:00Z"),
        Err(LedgerError::HoldNotOpen(order_id("D9")))
    );
}

#[test]
fn capture_and_earn_in_one_posting_for_a_paid_delivery_order() {
    let mut w = World::new();
    w.earn("O1", "2026-01-10T00:00:00Z", 60);
    w.hold("D1", "2026-01-11T00:00:00Z", 50).unwrap();
    let ops = vec![
        Op::Capture {
            order: order_id("D1"),
            usage: Usage::DeliveryFee,
        },
        Op::Earn {
            source: Source::Pay,
            points: pts(35),
        },
    ];
    let out = w
        .post(
            PostingId::pay_order(&order_id("D1")),
            "2026-01-11T00:03:00Z",
            ops,
        )
        .unwrap();
    assert_eq!(
        (out.result.available, out.result.held),
        (pts(45), Points::ZERO)
    );
    assert_eq!(out.result.available_delta, pts(35));
    w.assert_audit_clean();
}

#[test]
fn holds_beyond_available_or_the_open_limit_are_refused() {
    let mut w = World::new();
    w.earn("O1", "2026-01-10T00:00:00Z", 100);
    assert_eq!(
        w.hold("D0", "2026-01-11T00:00:00Z", 101),
        Err(LedgerError::InsufficientPoints {
            available: pts(100),
            wanted: pts(101)
        })
    );
    for i in 0..MAX_OPEN_HOLDS {
        w.hold(&format!("D{}", i + 1), "2026-01-11T00:00:00Z", 10)
            .unwrap();
    }
    assert_eq!(
        w.hold("D9", "2026-01-11T00:00:00Z", 10),
        Err(LedgerError::TooManyOpenHolds {
            max: MAX_OPEN_HOLDS
        })
    );
    w.assert_audit_clean();
}

#[test]
fn a_clawback_beyond_available_becomes_debt_repaid_first_from_later_earnings() {
    let mut w = World::new();
    w.earn("O1", "2026-01-10T00:00:00Z", 100);
    let spend = vec![Op::Redeem {
        usage: Usage::Goods,
        points: pts(80),
    }];
    w.post(
        PostingId::adjust(&TicketId::parse("T1").unwrap()),
        "2026-01-11T00:00:00Z",
        spend,
    )
    .unwrap();
    let claw = w.clawback("R1", "2026-01-12T00:00:00Z", 50);
    assert_eq!(
        (claw.result.available, claw.result.debt),
        (Points::ZERO, pts(30))
    );
    let later = w.earn("O2", "2026-02-01T00:00:00Z", 45);
    assert_eq!(
        (later.result.available, later.result.debt),
        (pts(15), Points::ZERO)
    );
    assert_eq!(w.profile().lots.get(month("2026-02")), pts(15));
    w.assert_audit_clean();
}

#[test]
fn a_lot_expires_only_after_month_plus_twelve_and_only_once() {
    let mut w = World::new();
    w.earn("O1", "2026-01-10T00:00:00Z", 70);
    w.earn("O2", "2026-02-10T00:00:00Z", 5);
    let id = PostingId::expire(&w.member, month("2026-01"));
    let op = vec![Op::Expire {
        month: month("2026-01"),
    }];
    // 31 Jan 2027, 23:59 Shanghai: still spendable.
    let early = w.post(id.clone(), "2027-01-31T15:59:00Z", op.clone());
    assert_eq!(
        early,
        Err(LedgerError::LotNotExpired {
            month: month("2026-01")
        })
    );
    let expired = w
        .post(id.clone(), "2027-01-31T16:00:00Z", op.clone())
        .unwrap();
    assert_eq!(expired.result.available, pts(5));
    assert!(w.post(id, "2027-01-31T16:00:00Z", op).unwrap().replayed);
    let breakage = w
        .book
        .postings()
        .map(|p| p.legs.amount(Account::Breakage))
        .sum::<i64>();
    assert_eq!(breakage, 70);
    w.assert_audit_clean();
}

#[test]
fn a_void_after_the_lot_expired_breaks_those_points_at_once() {
    let mut w = World::new();
    w.earn("O1", "2026-01-10T00:00:00Z", 40);
    w.earn("O2", "2027-01-10T00:00:00Z", 10);
    w.hold("D1", "2027-01-31T15:00:00Z", 45).unwrap();
    let out = w.void("D1", "2027-02-01T01:00:00Z").unwrap();
    assert_eq!(
        out.result.available,
        pts(10),
        "the 40 points of January 2026 expired meanwhile"
    );
    assert_eq!(w.profile().lots.get(month("2026-01")), Points::ZERO);
    w.assert_audit_clean();
}

#[test]
fn the_audit_notices_a_tampered_profile_and_an_unbalanced_posting() {
    let mut w = World::new();
    w.earn("O1", "2026-01-10T00:00:00Z", 40);
    let mut profiles: Vec<Profile> = w.book.profiles().cloned().collect();
    let mut postings: Vec<Posting> = w.book.postings().cloned().collect();
    assert!(audit(&profiles, &postings).is_clean());
    profiles[0].available = pts(41);
    let report = audit(&profiles, &postings);
    assert!(report
        .violations
        .contains(&Violation::LotsNotEqualAvailable));
    assert!(report.violations.iter().any(|v| matches!(
        v,
        Violation::BalanceNotEqualLegs {
            account: "available",
            ..
        }
    )));
    profiles[0].available = pts(40);
    postings[0].legs.post(Account::Breakage, 1).unwrap();
    let report = audit(&profiles, &postings);
    assert!(report
        .violations
        .iter()
        .any(|v| matches!(v, Violation::UnbalancedLegs(_))));
}

#[test]
fn a_posting_for_another_member_or_an_unknown_one_is_refused() {
    let mut w = World::new();
    let stranger = MemberId::generate(at("2026-01-01T00:00:00Z"), 100);
    let ops = vec![Op::Earn {
        source: Source::SignIn,
        points: pts(5),
    }];
    let req = PostingRequest::new(
        PostingId::sign_in(&stranger, at("2026-01-01T00:00:00Z").date()),
        stranger,
        at("2026-01-01T00:00:00Z"),
        ops,
    );
    assert_eq!(w.book.post(&req), Err(LedgerError::UnknownMember));
    let profile = w.profile().clone();
    assert_eq!(
        apply(&profile, &req).map(|_| ()),
        Err(LedgerError::WrongMember(req.id.clone()))
    );
}

/// Two members of one person: `world.member` (OpenID-only, merged away) and `into`.
fn merge_world() -> (World, MemberId) {
    let mut world = World::new();
    let into = MemberId::generate(at("2026-02-01T00:00:00Z"), 7);
    world.book.open(into.clone());
    (world, into)
}

fn earn_for(world: &mut World, member: &MemberId, order: &str, when: &str, points: i64) {
    let ops = vec![Op::Earn {
        source: Source::Pay,
        points: pts(points),
    }];
    let id = PostingId::pay_order(&order_id(order));
    world
        .book
        .post(&PostingRequest::new(id, member.clone(), at(when), ops))
        .unwrap();
}

#[test]
fn a_merge_moves_points_lot_by_lot_and_holds_exactly_once() {
    let (mut w, into) = merge_world();
    w.earn("O1", "2026-01-10T10:00:00+08:00", 30);
    w.earn("O2", "2026-03-10T10:00:00+08:00", 20);
    w.hold("O3", "2026-03-11T10:00:00+08:00", 10).unwrap();
    earn_for(&mut w, &into, "O4", "2026-03-12T10:00:00+08:00", 7);
    let from = w.member.clone();

    let merged = w
        .book
        .merge(&from, &into, at("2026-04-01T09:00:00+08:00"))
        .unwrap();
    assert!(!merged.replayed);
    assert_eq!(merged.result.available, pts(47), "30 + 20 − 10 held + 7");
    assert_eq!(merged.result.available_delta, pts(40));
    assert_eq!(merged.result.held, pts(10));

    let target = w.book.profile(&into).unwrap();
    assert_eq!(
        target.lots.get(month("2026-01")),
        pts(20),
        "the hold took the oldest lot"
    );
    assert_eq!(
        target.lots.get(month("2026-03")),
        pts(27),
        "lots keep their months"
    );
    assert!(target.holds.contains_key(&order_id("O3")));
    let emptied = w.book.profile(&from).unwrap();
    assert_eq!(emptied.merged_into.as_ref(), Some(&into));
    assert!(emptied.available.is_zero() && emptied.lots.is_empty() && emptied.holds.is_empty());
    w.assert_audit_clean();

    let again = w
        .book
        .merge(&from, &into, at("2026-04-02T09:00:00+08:00"))
        .unwrap();
    assert!(again.replayed, "a repeated merge answers the stored result");
    assert_eq!(again.result, merged.result);
    assert_eq!(w.book.profile(&into).unwrap().available, pts(47));
    w.assert_audit_clean();
}

#[test]
fn postings_for_a_merged_member_land_on_the_member_it_joined_unless_recorded_before() {
    let (mut w, into) = merge_world();
    w.earn("O1", "2026-01-10T10:00:00+08:00", 30);
    w.hold("O3", "2026-01-11T10:00:00+08:00", 10).unwrap();
    let from = w.member.clone();
    w.book
        .merge(&from, &into, at("2026-01-12T09:00:00+08:00"))
        .unwrap();

    // A retry of a posting recorded before the merge answers its stored result.
    let retry = w.earn("O1", "2026-01-13T10:00:00+08:00", 30);
    assert!(retry.replayed);
    assert_eq!(w.book.profile(&into).unwrap().available, pts(20));
    // The hold moved: its capture (posted for the order's member) finds it on the target.
    let captured = w.capture("O3", "2026-01-13T10:05:00+08:00").unwrap();
    assert_eq!(captured.result.held, pts(0));
    // New earnings arrive on the target, once.
    let fresh = w.earn("O5", "2026-01-14T10:00:00+08:00", 5);
    assert!(!fresh.replayed);
    assert!(w.earn("O5", "2026-01-14T10:00:00+08:00", 5).replayed);
    assert_eq!(w.book.profile(&into).unwrap().available, pts(25));
    assert!(w.book.profile(&from).unwrap().available.is_zero());
    w.assert_audit_clean();
}

#[test]
fn a_merge_carries_debt_repaid_at_once_and_breaks_lots_past_expiry() {
    let (mut w, into) = merge_world();
    w.earn("O1", "2026-01-10T10:00:00+08:00", 10);
    w.clawback("R1", "2026-01-11T10:00:00+08:00", 25);
    assert_eq!(w.profile().debt, pts(15));
    earn_for(&mut w, &into, "O2", "2026-01-12T10:00:00+08:00", 40);
    let from = w.member.clone();
    let merged = w
        .book
        .merge(&from, &into, at("2026-01-13T09:00:00+08:00"))
        .unwrap();
    assert_eq!(merged.result.available, pts(25), "40 − 15 debt repaid");
    assert_eq!(merged.result.debt, pts(0));
    w.assert_audit_clean();

    // A lot already past its expiry breaks on arrival instead of living on.
    let (mut w, into) = merge_world();
    w.earn("O1", "2026-01-10T10:00:00+08:00", 10);
    let from = w.member.clone();
    let merged = w
        .book
        .merge(&from, &into, at("2027-02-01T00:00:00+08:00"))
        .unwrap();
    assert_eq!(merged.result.available, pts(0));
    let breakage: i64 = w
        .book
        .postings()
        .filter(|p| p.request.member == into)
        .map(|p| p.legs.amount(Account::Breakage))
        .sum();
    assert_eq!(breakage, 10);
    w.assert_audit_clean();
}

#[test]
fn a_merge_with_itself_or_into_a_merged_member_is_refused() {
    let (mut w, into) = merge_world();
    let from = w.member.clone();
    let when = at("2026-01-13T09:00:00+08:00");
    assert!(matches!(
        w.book.merge(&from, &from, when),
        Err(LedgerError::CannotMerge(_))
    ));
    w.book.merge(&from, &into, when).unwrap();
    assert!(matches!(
        w.book.merge(&into, &from, when),
        Err(LedgerError::CannotMerge(_))
    ));
    let third = MemberId::generate(at("2026-03-01T00:00:00Z"), 3);
    w.book.open(third.clone());
    assert_eq!(
        w.book.merge(&from, &third, when),
        Err(LedgerError::Merged { into: into.clone() }),
        "merged once, into one member"
    );
    // A merge posting cannot be smuggled in through apply.
    let smuggled = PostingRequest::new(
        PostingId::merge(&third),
        third.clone(),
        when,
        vec![Op::MergeOut { into }],
    );
    assert!(matches!(
        w.book.post(&smuggled),
        Err(LedgerError::MalformedPosting { .. })
    ));
}
