//! Seeded simulation (proptest): random earn / spend / hold / capture / void / clawback / return /
//! expire causes for two members, delivered with duplicates and in random order. After every
//! delivery the ledger's invariants and the audit hold, and the final state depends only on which
//! causes arrived first, never on how often they were repeated. proptest prints the failing seed.

use super::*;
use crate::ids::{MemberId, OrderId, PostingId, RefundId, TicketId};
use crate::money::Points;
use crate::time::BusinessTime;
use proptest::prelude::*;

const START_MS: i64 = 1_767_196_800_000; // 2026-01-01T00:00:00+08:00
const DAY_MS: i64 = 86_400_000;

#[derive(Clone, Debug)]
enum Cause {
    Earn(i64),
    Spend(i64),
    Hold(u8, i64),
    Capture(u8, Option<i64>),
    Void(u8),
    Clawback(i64),
    ReturnFee(i64),
    Expire(i32),
}

fn cause() -> impl Strategy<Value = Cause> {
    prop_oneof![
        3 => (1i64..200).prop_map(Cause::Earn),
        1 => (1i64..150).prop_map(Cause::Spend),
        // An order's hold and payment are one cause each: their amounts follow from the order.
        2 => (0u8..6).prop_map(|o| Cause::Hold(o, 10 + 23 * i64::from(o))),
        2 => (0u8..6).prop_map(|o| Cause::Capture(o, (o % 2 == 0).then_some(5 + 17 * i64::from(o)))),
        2 => (0u8..6).prop_map(Cause::Void),
        1 => (1i64..250).prop_map(Cause::Clawback),
        1 => (1i64..60).prop_map(Cause::ReturnFee),
        1 => (0i32..30).prop_map(Cause::Expire),
    ]
}

fn members() -> [MemberId; 2] {
    let at = BusinessTime::from_epoch_ms(START_MS).unwrap_or_else(|_| unreachable!());
    [MemberId::generate(at, 1), MemberId::generate(at, 2)]
}

/// Turns the n-th cause into its request; ids come from the cause, so repeats collide.
fn request(n: usize, member_ix: usize, day: i64, cause: &Cause) -> PostingRequest {
    let member = members()[member_ix % 2].clone();
    let at =
        BusinessTime::from_epoch_ms(START_MS + day * DAY_MS).unwrap_or_else(|_| unreachable!());
    let order =
        |o: &u8| OrderId::parse(&format!("M{member_ix}D{o}")).unwrap_or_else(|_| unreachable!());
    let ticket = TicketId::parse(&format!("T{n}")).unwrap_or_else(|_| unreachable!());
    let refund = RefundId::parse(&format!("R{n}")).unwrap_or_else(|_| unreachable!());
    let (id, ops) = match cause {
        Cause::Earn(p) => {
            let o = OrderId::parse(&format!("E{n}")).unwrap_or_else(|_| unreachable!());
            (
                PostingId::pay_order(&o),
                vec![Op::Earn {
                    source: Source::Pay,
                    points: Points::new(*p),
                }],
            )
        }
        Cause::Spend(p) => (
            PostingId::adjust(&ticket),
            vec![Op::Redeem {
                usage: Usage::Goods,
                points: Points::new(*p),
            }],
        ),
        Cause::Hold(o, p) => {
            let expires_at = BusinessTime::from_epoch_ms(START_MS + i64::from(*o) * DAY_MS)
                .unwrap_or_else(|_| unreachable!());
            let op = Op::Hold {
                order: order(o),
                points: Points::new(*p),
                expires_at,
            };
            (PostingId::hold_order(&order(o)), vec![op])
        }
        Cause::Capture(o, earn) => {
            let mut ops = vec![Op::Capture {
                order: order(o),
                usage: Usage::DeliveryFee,
            }];
            ops.extend(earn.map(|e| Op::Earn {
                source: Source::Pay,
                points: Points::new(e),
            }));
            (PostingId::pay_order(&order(o)), ops)
        }
        Cause::Void(o) => (
            PostingId::void_order(&order(o)),
            vec![Op::Void { order: order(o) }],
        ),
        Cause::Clawback(p) => (
            PostingId::claw_refund(&refund),
            vec![Op::Clawback {
                points: Points::new(*p),
            }],
        ),
        Cause::ReturnFee(p) => {
            let o = OrderId::parse(&format!("F{n}")).unwrap_or_else(|_| unreachable!());
            let op = Op::ReturnRedemption {
                usage: Usage::DeliveryFee,
                points: Points::new(*p),
            };
            (PostingId::feeback_order(&o), vec![op])
        }
        Cause::Expire(month_ix) => {
            let month = BusinessTime::from_epoch_ms(START_MS)
                .unwrap_or_else(|_| unreachable!())
                .month()
                .plus(*month_ix);
            (
                PostingId::expire(&member, month),
                vec![Op::Expire { month }],
            )
        }
    };
    PostingRequest::new(id, member, at, ops)
}

fn fresh_book() -> Book {
    let mut book = Book::default();
    for m in members() {
        book.open(m);
    }
    book
}

/// Delivers `order` (indices into `requests`), checks the invariants after every delivery and
/// that a repeat of an applied posting answers its first result; returns the book and the
/// indices that took effect, in the order they did.
fn deliver(
    requests: &[PostingRequest],
    order: &[usize],
) -> Result<(Book, Vec<usize>), TestCaseError> {
    let mut book = fresh_book();
    let mut effective = Vec::new();
    let mut first_results = std::collections::BTreeMap::new();
    for &ix in order {
        let request = &requests[ix];
        match book.post(request) {
            Ok(outcome) if outcome.replayed => {
                let key = (request.member.clone(), request.id.clone());
                prop_assert_eq!(first_results.get(&key), Some(&outcome.result));
            }
            Ok(outcome) => {
                prop_assert_eq!(&outcome.result.posting_id, &request.id);
                first_results.insert((request.member.clone(), request.id.clone()), outcome.result);
                effective.push(ix);
            }
            Err(e) => prop_assert_eq!(e.class(), ErrorClass::Business, "{:?} for {:?}", e, request),
        }
        for profile in book.profiles() {
            prop_assert_eq!(profile.check_invariants(), Ok(()));
        }
        let report = audit(book.profiles(), book.postings());
        prop_assert!(report.is_clean(), "{:?}", report.violations);
    }
    Ok((book, effective))
}

fn scenario() -> impl Strategy<Value = (Vec<PostingRequest>, Vec<usize>)> {
    proptest::collection::vec((cause(), 0usize..2, 0i64..800), 1..60).prop_flat_map(|causes| {
        let mut days: Vec<i64> = causes.iter().map(|(_, _, d)| *d).collect();
        days.sort_unstable();
        let requests: Vec<PostingRequest> = causes
            .iter()
            .zip(days)
            .enumerate()
            .map(|(n, ((cause, member, _), day))| request(n, *member, day, cause))
            .collect();
        let len = requests.len();
        let deliveries = proptest::collection::vec(0..len, len..len * 3)
            .prop_map(move |mut extra| {
                // Every cause arrives at least once; some arrive again, in any order.
                extra.extend(0..len);
                extra
            })
            .prop_shuffle();
        (Just(requests), deliveries)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn duplicated_and_reordered_deliveries_keep_the_ledger_whole((requests, order) in scenario()) {
        let (with_repeats, effective) = deliver(&requests, &order)?;
        // Only the first effective delivery of each cause counts: the same causes delivered once
        // each, in that order, all apply and leave exactly the same ledger.
        let (once_each, effective_again) = deliver(&requests, &effective)?;
        prop_assert_eq!(&effective_again, &effective);
        let profiles = |b: &Book| b.profiles().cloned().collect::<Vec<_>>();
        let postings = |b: &Book| b.postings().cloned().collect::<Vec<_>>();
        prop_assert_eq!(profiles(&with_repeats), profiles(&once_each));
        prop_assert_eq!(postings(&with_repeats), postings(&once_each));
    }

    #[test]
    fn causes_in_their_own_order_never_go_negative(requests in scenario().prop_map(|(r, _)| r)) {
        let order: Vec<usize> = (0..requests.len()).collect();
        let (book, _) = deliver(&requests, &order)?;
        for p in book.profiles() {
            prop_assert!(!p.available.is_negative() && !p.held.is_negative() && !p.debt.is_negative());
        }
    }
}
