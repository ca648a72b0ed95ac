//! Postings: what a cause asks of the ledger (`PostingRequest`) and what the ledger recorded
//! (`Posting`: the request, its balanced legs and the result it answered).

use super::account::{Legs, Source, Usage};
use super::error::LedgerError;
use super::standing::GrowthEntry;
use crate::ids::{MemberId, OrderId, PostingId};
use crate::money::Points;
use crate::time::{BusinessTime, Month};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// At most this many operations make one posting (e.g. capture a hold and earn).
pub const MAX_OPS: usize = 4;

/// One movement a posting asks for. Amounts are positive; the direction is in the operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    /// Issue points; they repay debt first, the rest lands in the lot of the posting's month.
    Earn { source: Source, points: Points },
    /// Spend available points, oldest lots first.
    Redeem { usage: Usage, points: Points },
    /// Set points aside for an order until it is paid or abandoned.
    Hold {
        order: OrderId,
        points: Points,
        expires_at: BusinessTime,
    },
    /// The order was paid: the held points are redeemed for `usage`.
    Capture { order: OrderId, usage: Usage },
    /// The order was abandoned: the held points go back to the lots they came from.
    Void { order: OrderId },
    /// A redemption is returned (e.g. a points-paid delivery fee for a delivery that did not
    /// happen); the points land in the lot of the posting's month.
    ReturnRedemption { usage: Usage, points: Points },
    /// Take points back after a refund; what is not available becomes debt.
    Clawback { points: Points },
    /// The lot earned in `month` expired unspent.
    Expire { month: Month },
    /// This member turned out to be the same person as `into` (an OpenID-only member whose
    /// UnionID appeared): everything it holds moves there. Decided by `ledger::merge` only.
    MergeOut { into: MemberId },
    /// The other half of a merge: what `from` held arrives here, lot by lot.
    MergeIn { from: MemberId },
}

/// What a cause asks of the ledger. Its content hash tells a retry of the same cause (same id,
/// same content) from a different cause reusing an id (same id, different content).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostingRequest {
    pub id: PostingId,
    pub member: MemberId,
    /// The cause's business time: lots, expiry checks and rules are read at this instant.
    pub at: BusinessTime,
    pub ops: Vec<Op>,
    /// The version of the earn rules that priced this posting, when rules did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_version: Option<u32>,
    /// The goods spend (or refund) this cause adds to the member's growth value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth: Option<GrowthEntry>,
    /// How the rules priced it, for the member's history (e.g. "150 = 100 base × 1.5 金卡").
    /// Presentation only: not part of the content hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// The points a posting moves, as the business metrics count them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flows {
    /// Earned (every source but compensation).
    pub issued: u64,
    /// Redeemed outright (holds are counted when captured, by their usage's redemption, not here).
    pub redeemed: u64,
    /// Granted for late or cancelled deliveries.
    pub compensated: u64,
}

impl PostingRequest {
    /// What this posting moves, by kind (the ops' own amounts; holds, voids and captures move
    /// points between the member's balances and are not counted).
    pub fn flows(&self) -> Flows {
        let amount = |p: &Points| u64::try_from(p.value()).unwrap_or(0);
        self.ops.iter().fold(Flows::default(), |mut f, op| {
            match op {
                Op::Earn {
                    source: Source::Compensation,
                    points,
                } => f.compensated += amount(points),
                Op::Earn { points, .. } => f.issued += amount(points),
                Op::Redeem { points, .. } => f.redeemed += amount(points),
                _ => {}
            }
            f
        })
    }

    pub fn new(id: PostingId, member: MemberId, at: BusinessTime, ops: Vec<Op>) -> Self {
        Self {
            id,
            member,
            at,
            ops,
            rule_version: None,
            growth: None,
            explanation: None,
        }
    }

    /// Lowercase hex SHA-256 of the canonical JSON of what the cause asks: id, member, operations,
    /// rule version and growth (month and amount; the thresholds follow from the rule version).
    /// The business time is left out on purpose: a repeat of the same cause
    /// observed later (a second sign-in the same day, a catch-up expiry run) is the same posting.
    pub fn content_hash(&self) -> String {
        #[derive(Serialize)]
        struct Content<'a> {
            id: &'a PostingId,
            member: &'a MemberId,
            ops: &'a [Op],
            rule_version: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            growth: Option<(Month, i64)>,
        }
        let content = Content {
            id: &self.id,
            member: &self.member,
            ops: &self.ops,
            rule_version: self.rule_version,
            growth: self.growth.as_ref().map(|g| (g.month, g.fen.value())),
        };
        // Struct fields serialize in declaration order and maps are BTreeMaps: canonical.
        let bytes = serde_json::to_vec(&content).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }

    /// Checks the shape: a few operations, positive amounts, and ids that match the operation
    /// (a hold is `hold:order:<id>`, its capture `pay:order:<id>`, its void `void:order:<id>`),
    /// so a hold can be captured or voided only once, by construction.
    pub fn validate(&self) -> Result<(), LedgerError> {
        let malformed = |why| LedgerError::MalformedPosting {
            id: self.id.clone(),
            why,
        };
        let records_growth = self.growth.as_ref().is_some_and(|g| !g.fen.is_zero());
        if (self.ops.is_empty() && !records_growth) || self.ops.len() > MAX_OPS {
            return Err(malformed(
                "a posting has 1 to 4 operations (none only when it records growth)",
            ));
        }
        for op in &self.ops {
            if let Some(points) = op.amount() {
                if !points.is_positive() {
                    return Err(LedgerError::NonPositiveAmount(points));
                }
            }
            let expected_id = match op {
                Op::Hold { order, .. } => Some(PostingId::hold_order(order)),
                Op::Capture { order, .. } => Some(PostingId::pay_order(order)),
                Op::Void { order } => Some(PostingId::void_order(order)),
                Op::Expire { month } => Some(PostingId::expire(&self.member, *month)),
                Op::MergeOut { .. } => Some(PostingId::merge(&self.member)),
                Op::MergeIn { from } => Some(PostingId::merge(from)),
                _ => None,
            };
            if expected_id.is_some_and(|id| id != self.id) {
                return Err(malformed("the id does not match the operation"));
            }
        }
        let standalone = |op: &Op| {
            matches!(
                op,
                Op::Hold { .. }
                    | Op::Void { .. }
                    | Op::Expire { .. }
                    | Op::MergeOut { .. }
                    | Op::MergeIn { .. }
            )
        };
        if self.ops.len() > 1 && self.ops.iter().any(standalone) {
            return Err(malformed(
                "hold, void, expire and merge stand alone in their posting",
            ));
        }
        let merge_with_self = self.ops.iter().any(|op| match op {
            Op::MergeOut { into: other } | Op::MergeIn { from: other } => other == &self.member,
            _ => false,
        });
        if merge_with_self {
            return Err(malformed("a member cannot merge with itself"));
        }
        Ok(())
    }
}

impl Op {
    /// The amount an operation names, if it names one.
    pub fn amount(&self) -> Option<Points> {
        match self {
            Op::Earn { points, .. }
            | Op::Redeem { points, .. }
            | Op::Hold { points, .. }
            | Op::ReturnRedemption { points, .. }
            | Op::Clawback { points } => Some(*points),
            Op::Capture { .. }
            | Op::Void { .. }
            | Op::Expire { .. }
            | Op::MergeOut { .. }
            | Op::MergeIn { .. } => None,
        }
    }
}

/// What a posting answered: the member's balances right after it and the change to `available`.
/// A retry of the same posting gets this same result back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostingResult {
    pub posting_id: PostingId,
    pub available: Points,
    pub held: Points,
    pub debt: Points,
    /// Change of `available` made by this posting (negative for spends, holds, clawbacks).
    pub available_delta: Points,
}

/// A recorded posting: immutable once written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Posting {
    pub request: PostingRequest,
    pub legs: Legs,
    pub result: PostingResult,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member() -> MemberId {
        MemberId::generate(BusinessTime::from_epoch_ms(1_764_000_000_000).unwrap(), 7)
    }

    fn at() -> BusinessTime {
        BusinessTime::from_epoch_ms(1_764_000_000_000).unwrap()
    }

    #[test]
    fn flows_count_earnings_compensations_and_redemptions_apart() {
        let order = OrderId::parse("O1").unwrap();
        let ops = vec![
            Op::Earn {
                source: Source::Pay,
                points: Points::new(30),
            },
            Op::Earn {
                source: Source::Compensation,
                points: Points::new(600),
            },
            Op::Redeem {
                usage: Usage::DeliveryFee,
                points: Points::new(50),
            },
            Op::Void {
                order: order.clone(),
            },
        ];
        let request = PostingRequest::new(PostingId::pay_order(&order), member(), at(), ops);
        let flows = request.flows();
        assert_eq!(
            (flows.issued, flows.compensated, flows.redeemed),
            (30, 600, 50)
        );
    }

    #[test]
    fn the_content_hash_changes_with_the_content() {
        let order = OrderId::parse("O1").unwrap();
        let earn = |points| Op::Earn {
            source: Source::Pay,
            points: Points::new(points),
        };
        let a = PostingRequest::new(PostingId::pay_order(&order), member(), at(), vec![earn(10)]);
        let mut b = a.clone();
        assert_eq!(a.content_hash(), b.content_hash());
        b.at = b.at.plus_ms(60_000);
        assert_eq!(
            a.content_hash(),
            b.content_hash(),
            "a later repeat of the cause is the same"
        );
        b.ops = vec![earn(11)];
        assert_ne!(a.content_hash(), b.content_hash());
        assert_eq!(a.content_hash().len(), 64);
    }

    #[test]
    fn a_hold_must_carry_its_orders_hold_id() {
        let order = OrderId::parse("O1").unwrap();
        let hold = Op::Hold {
            order: order.clone(),
            points: Points::new(50),
            expires_at: at(),
        };
        let wrong = PostingRequest::new(
            PostingId::pay_order(&order),
            member(),
            at(),
            vec![hold.clone()],
        );
        assert!(matches!(
            wrong.validate(),
            Err(LedgerError::MalformedPosting { .. })
        ));
        let right = PostingRequest::new(PostingId::hold_order(&order), member(), at(), vec![hold]);
        assert_eq!(right.validate(), Ok(()));
    }

    #[test]
    fn amounts_must_be_positive_and_ops_few() {
        let order = OrderId::parse("O1").unwrap();
        let id = PostingId::pay_order(&order);
        let zero = Op::Earn {
            source: Source::Pay,
            points: Points::ZERO,
        };
        let req = PostingRequest::new(id.clone(), member(), at(), vec![zero]);
        assert_eq!(
            req.validate(),
            Err(LedgerError::NonPositiveAmount(Points::ZERO))
        );
        let empty = PostingRequest::new(id, member(), at(), vec![]);
        assert!(empty.validate().is_err());
    }

    #[test]
    fn requests_round_trip_through_json() {
        let order = OrderId::parse("O1").unwrap();
        let ops = vec![
            Op::Capture {
                order: order.clone(),
                usage: Usage::DeliveryFee,
            },
            Op::Earn {
                source: Source::Pay,
                points: Points::new(88),
            },
        ];
        let req = PostingRequest::new(PostingId::pay_order(&order), member(), at(), ops);
        let json = serde_json::to_string(&req).unwrap();
        assert!(json.contains(r#""op":"capture""#), "{json}");
        assert_eq!(serde_json::from_str::<PostingRequest>(&json).unwrap(), req);
    }
}
