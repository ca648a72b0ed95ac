//! The simulated business: a seeded stream of causes, each the posting requests the handler
//! that owns it builds (the same ids and operations), and whether that handler posts directly
//! (sign-in, holds, voids, POS, compensation) or hands the posting to `points-postings.fifo`
//! (paid orders, refunds, cutoffs). Pure: no I/O, the same seed gives the same stream.

use linli::ids::{
    IdError, MemberId, OrderId, PostingId, RefundId, ReturnId, RoundId, SaleId, StoreId, TicketId,
};
use linli::ledger::{Op, PostingRequest, Source, Usage};
use linli::money::Points;
use linli::time::{BusinessTime, TimeError};

/// 2026-11-02T00:00:00+08:00, a Monday.
const START_MS: i64 = 1_793_548_800_000;
const HOUR_MS: i64 = 3_600_000;
/// The most business time one cause moves the clock: 50,000 causes stay within nine months, so
/// no lot expires during a run (the pure simulation in `linli::ledger` covers expiry and
/// breakage; here a voided hold's points always come back).
const STEP_MS: i64 = 15 * 60_000;
/// The points a delivery fee holds (the seeds: 50 points waive a delivery fee).
const FEE_POINTS: i64 = 50;
const SIGN_IN_POINTS: i64 = 5;
const COMPENSATION_POINTS: i64 = 20;

#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Time(#[from] TimeError),
}

/// Which handler a cause stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// pay-notify: an order paid, its earn queued.
    PaidOrder,
    /// member-api: a delivery order placed with its fee held in points.
    DeliveryHold,
    /// pay-notify: the delivery order paid, the hold captured and the goods earned (queued).
    DeliveryPaid,
    /// housekeeping: the unpaid delivery order closed, its hold voided.
    DeliveryAbandoned,
    /// pay-notify: a refund's clawback (queued).
    Refund,
    SignIn,
    PosSale,
    PosReturn,
    /// compensation-grant: a late delivery's points.
    Compensation,
    /// group-cutoff: one earn per confirmed order of a round (queued).
    Cutoff,
    /// member-api: points spent on goods.
    Redeem,
    /// A forged or corrupted message: a known posting id with other content (queued).
    Forged,
    /// A posting for a member nobody opened (queued).
    UnknownMember,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::PaidOrder => "paid order",
            Kind::DeliveryHold => "delivery hold",
            Kind::DeliveryPaid => "delivery paid",
            Kind::DeliveryAbandoned => "delivery abandoned",
            Kind::Refund => "refund",
            Kind::SignIn => "sign-in",
            Kind::PosSale => "POS sale",
            Kind::PosReturn => "POS return",
            Kind::Compensation => "compensation",
            Kind::Cutoff => "cutoff",
            Kind::Redeem => "redeem",
            Kind::Forged => "forged",
            Kind::UnknownMember => "unknown member",
        }
    }

    /// True when the handler hands the posting to the points queue.
    pub fn queued(self) -> bool {
        matches!(
            self,
            Kind::PaidOrder
                | Kind::DeliveryPaid
                | Kind::Refund
                | Kind::Cutoff
                | Kind::Forged
                | Kind::UnknownMember
        )
    }
}

#[derive(Clone, Debug)]
pub struct Cause {
    pub kind: Kind,
    pub requests: Vec<PostingRequest>,
}

/// Something earned that a later refund, return or compensation can refer to.
#[derive(Clone, Debug)]
struct Earned {
    member: usize,
    order: String,
    points: i64,
}

pub struct World {
    rng: fastrand::Rng,
    members: Vec<MemberId>,
    clock_ms: i64,
    /// The current cause's business time (`clock_ms`).
    at: BusinessTime,
    n: u64,
    paid: Vec<Earned>,
    sales: Vec<Earned>,
    /// Accepted holds not yet settled: (member, order).
    holds: Vec<(usize, OrderId)>,
    queued_pays: Vec<PostingRequest>,
}

impl World {
    /// `members` members, their ids fixed by the seed.
    pub fn new(seed: u64, members: usize) -> Result<Self, WorldError> {
        let at = BusinessTime::from_epoch_ms(START_MS)?;
        let members = (0..members)
            .map(|i| MemberId::generate(at, (u128::from(seed) << 32) | i as u128))
            .collect();
        Ok(Self {
            rng: fastrand::Rng::with_seed(seed),
            members,
            clock_ms: START_MS,
            at,
            n: 0,
            paid: Vec::new(),
            sales: Vec::new(),
            holds: Vec::new(),
            queued_pays: Vec::new(),
        })
    }

    pub fn members(&self) -> &[MemberId] {
        &self.members
    }

    pub fn start() -> Result<BusinessTime, WorldError> {
        Ok(BusinessTime::from_epoch_ms(START_MS)?)
    }

    /// The next cause; business time moves on by up to a quarter of an hour.
    pub fn next_cause(&mut self) -> Result<Cause, WorldError> {
        self.n += 1;
        self.clock_ms += self.rng.i64(0..=STEP_MS);
        self.at = BusinessTime::from_epoch_ms(self.clock_ms)?;
        let roll = self.rng.u8(..100);
        let kind = match roll {
            0..=17 => Kind::PaidOrder,
            18..=29 => Kind::DeliveryHold,
            30..=37 if !self.holds.is_empty() => Kind::DeliveryPaid,
            38..=40 if !self.holds.is_empty() => Kind::DeliveryAbandoned,
            41..=48 if !self.paid.is_empty() => Kind::Refund,
            49..=62 => Kind::SignIn,
            63..=70 => Kind::PosSale,
            71..=73 if !self.sales.is_empty() => Kind::PosReturn,
            74..=79 if !self.paid.is_empty() => Kind::Compensation,
            80..=84 => Kind::Cutoff,
            85..=92 => Kind::Redeem,
            93..=96 if !self.queued_pays.is_empty() => Kind::Forged,
            97..=99 => Kind::UnknownMember,
            _ => Kind::SignIn,
        };
        let requests = self.requests(kind)?;
        Ok(Cause { kind, requests })
    }

    /// Told by the driver when a direct hold was accepted, so the order can be settled later.
    pub fn hold_accepted(&mut self, request: &PostingRequest) {
        for op in &request.ops {
            if let Op::Hold { order, .. } = op {
                if let Some(m) = self.members.iter().position(|m| *m == request.member) {
                    self.holds.push((m, order.clone()));
                }
            }
        }
    }

    fn requests(&mut self, kind: Kind) -> Result<Vec<PostingRequest>, WorldError> {
        let at = self.at;
        let m = self.rng.usize(..self.members.len());
        match kind {
            Kind::Cutoff => self.cutoff(at),
            Kind::Forged | Kind::UnknownMember => self.hostile(kind, at),
            Kind::SignIn | Kind::PosSale | Kind::PosReturn | Kind::Compensation | Kind::Redeem => {
                self.member_cause(kind, at, m)
            }
            _ => self.order_cause(kind, at, m),
        }
    }

    /// One request of `member`, at the cause's time.
    fn one(&self, id: PostingId, member: usize, ops: Vec<Op>) -> Vec<PostingRequest> {
        vec![PostingRequest::new(
            id,
            self.members[member].clone(),
            self.at,
            ops,
        )]
    }

    /// Orders: paid, placed with a points hold, settled, refunded.
    fn order_cause(
        &mut self,
        kind: Kind,
        at: BusinessTime,
        m: usize,
    ) -> Result<Vec<PostingRequest>, WorldError> {
        let n = self.n;
        Ok(match kind {
            Kind::PaidOrder => {
                let points = self.rng.i64(1..=500);
                let order = format!("O{n}");
                let requests = self.one(
                    PostingId::pay_order(&OrderId::parse(&order)?),
                    m,
                    vec![earn(Source::Pay, points)],
                );
                self.paid.push(Earned {
                    member: m,
                    order,
                    points,
                });
                self.queued_pays.extend(requests.iter().cloned());
                requests
            }
            Kind::DeliveryHold => {
                let order = OrderId::parse(&format!("D{n}"))?;
                let hold = Op::Hold {
                    order: order.clone(),
                    points: Points::new(FEE_POINTS),
                    expires_at: at.plus_ms(7 * 24 * HOUR_MS),
                };
                self.one(PostingId::hold_order(&order), m, vec![hold])
            }
            Kind::DeliveryPaid => {
                let (member, order) = self.holds.swap_remove(self.rng.usize(..self.holds.len()));
                let points = self.rng.i64(1..=300);
                let capture = Op::Capture {
                    order: order.clone(),
                    usage: Usage::DeliveryFee,
                };
                let requests = self.one(
                    PostingId::pay_order(&order),
                    member,
                    vec![capture, earn(Source::Pay, points)],
                );
                self.paid.push(Earned {
                    member,
                    order: order.to_string(),
                    points,
                });
                requests
            }
            Kind::DeliveryAbandoned => {
                let (member, order) = self.holds.swap_remove(self.rng.usize(..self.holds.len()));
                let void = Op::Void {
                    order: order.clone(),
                };
                self.one(PostingId::void_order(&order), member, vec![void])
            }
            Kind::Refund => {
                let paid = self.paid[self.rng.usize(..self.paid.len())].clone();
                let points = self.rng.i64(1..=paid.points);
                let refund = RefundId::parse(&format!("{}-R{n}", paid.order))?;
                let claw = Op::Clawback {
                    points: Points::new(points),
                };
                self.one(PostingId::claw_refund(&refund), paid.member, vec![claw])
            }
            _ => Vec::new(),
        })
    }

    /// A member's own causes: sign-in, in-store sales and returns, compensation, spending.
    fn member_cause(
        &mut self,
        kind: Kind,
        at: BusinessTime,
        m: usize,
    ) -> Result<Vec<PostingRequest>, WorldError> {
        let n = self.n;
        Ok(match kind {
            Kind::SignIn => self.one(
                PostingId::sign_in(&self.members[m], at.date()),
                m,
                vec![earn(Source::SignIn, SIGN_IN_POINTS)],
            ),
            Kind::PosSale => {
                let points = self.rng.i64(1..=200);
                let sale = format!("S{n}");
                let id = PostingId::earn_pos(&store()?, &SaleId::parse(&sale)?);
                self.sales.push(Earned {
                    member: m,
                    order: sale,
                    points,
                });
                self.one(id, m, vec![earn(Source::Pos, points)])
            }
            Kind::PosReturn => {
                let sale = self.sales[self.rng.usize(..self.sales.len())].clone();
                let ret = ReturnId::parse(&format!("{}-X{n}", sale.order))?;
                let claw = Op::Clawback {
                    points: Points::new(self.rng.i64(1..=sale.points)),
                };
                self.one(
                    PostingId::claw_pos(&store()?, &ret),
                    sale.member,
                    vec![claw],
                )
            }
            Kind::Compensation => {
                // Chosen again, the same order gives the same request: one grant per order.
                let paid = self.paid[self.rng.usize(..self.paid.len())].clone();
                let id = PostingId::comp_order(&OrderId::parse(&paid.order)?);
                self.one(
                    id,
                    paid.member,
                    vec![earn(Source::Compensation, COMPENSATION_POINTS)],
                )
            }
            Kind::Redeem => {
                let redeem = Op::Redeem {
                    usage: Usage::Goods,
                    points: Points::new(self.rng.i64(1..=300)),
                };
                self.one(
                    PostingId::adjust(&TicketId::parse(&format!("T{n}"))?),
                    m,
                    vec![redeem],
                )
            }
            _ => Vec::new(),
        })
    }

    /// Messages that must be refused: a known posting id with other content, a stranger.
    fn hostile(&mut self, kind: Kind, at: BusinessTime) -> Result<Vec<PostingRequest>, WorldError> {
        let n = self.n;
        Ok(match kind {
            Kind::Forged => {
                let mut forged = self.queued_pays[self.rng.usize(..self.queued_pays.len())].clone();
                forged.ops = vec![earn(Source::Pay, 9_999)];
                vec![forged]
            }
            Kind::UnknownMember => {
                let stranger = MemberId::generate(at, u128::from(n) | (1 << 100));
                let order = OrderId::parse(&format!("U{n}"))?;
                vec![PostingRequest::new(
                    PostingId::pay_order(&order),
                    stranger,
                    at,
                    vec![earn(Source::Pay, 10)],
                )]
            }
            _ => Vec::new(),
        })
    }

    /// A round's cutoff: each of up to five members' confirmed order earns its goods' points.
    fn cutoff(&mut self, at: BusinessTime) -> Result<Vec<PostingRequest>, WorldError> {
        let round = RoundId::parse(&format!("round-{}", self.n))?;
        let mut joined: Vec<usize> = (0..self.members.len()).collect();
        self.rng.shuffle(&mut joined);
        joined.truncate(self.rng.usize(1..=5.min(self.members.len())));
        joined
            .into_iter()
            .map(|m| {
                let order = OrderId::parse(&format!("G{}M{m}", self.n))?;
                let points = self.rng.i64(1..=120);
                Ok(PostingRequest::new(
                    PostingId::earn_round(&round, &order),
                    self.members[m].clone(),
                    at,
                    vec![Op::Earn {
                        source: Source::Round,
                        points: Points::new(points),
                    }],
                ))
            })
            .collect()
    }
}

fn earn(source: Source, points: i64) -> Op {
    Op::Earn {
        source,
        points: Points::new(points),
    }
}

fn store() -> Result<StoreId, IdError> {
    StoreId::parse("store-1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(seed: u64) -> Vec<(Kind, Vec<String>)> {
        let mut world = World::new(seed, 6).unwrap();
        (0..300)
            .map(|_| {
                let cause = world.next_cause().unwrap();
                if cause.kind == Kind::DeliveryHold {
                    world.hold_accepted(&cause.requests[0]);
                }
                let ids = cause.requests.iter().map(|r| r.content_hash()).collect();
                (cause.kind, ids)
            })
            .collect()
    }

    #[test]
    fn a_seed_gives_the_same_stream_and_another_seed_another() {
        assert_eq!(stream(7), stream(7));
        assert_ne!(stream(7), stream(8));
    }

    #[test]
    fn every_request_is_well_formed_and_every_kind_appears() {
        let mut world = World::new(3, 6).unwrap();
        let mut kinds = std::collections::BTreeSet::new();
        for _ in 0..2_000 {
            let cause = world.next_cause().unwrap();
            if cause.kind == Kind::DeliveryHold {
                world.hold_accepted(&cause.requests[0]);
            }
            for request in &cause.requests {
                request.validate().unwrap();
            }
            kinds.insert(cause.kind);
        }
        assert_eq!(kinds.len(), 13, "{kinds:?}");
    }
}
