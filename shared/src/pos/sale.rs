//! In-store sales and returns (pure): what a sale earns, what a return claws back.
//!
//! A sale earns like an online order: `base_earn(goods_fen)` (1 yuan = 1 point, rounded down
//! once), posted as `earn:pos:<store>:<sale>` with `Source::Pos`. A return of `returned_fen`
//! claws back the earned points in proportion to the goods returned, **cumulatively**:
//!
//! ```text
//! clawed_total(R) = floor(earned × R / goods)      R = all goods returned so far, R ≤ goods
//! this return     = clawed_total(R_before + returned) − clawed_total(R_before)
//! ```
//!
//! so several partial returns never claw back more than the sale earned (Σ = clawed_total(R) ≤
//! earned), and returning everything claws back exactly what was earned. Rounding each return on
//! its own would not add up (three returns of a third of 100 points would take 3 × 33 = 99).
//! The clawback posts as `claw:pos:<store>:<return>` with `Op::Clawback`; what the member no
//! longer has becomes debt (the ledger's rule). A return of more than is left of the sale is
//! refused.

use crate::ids::{MemberId, PostingId, ReturnId, SaleId, StoreId, TillId};
use crate::ledger::{GrowthEntry, Op, PostingRequest, Source};
use crate::money::{Fen, Points};
use crate::pos::request::{ReturnRequest, SaleRequest};
use crate::rules::base_earn;
use crate::rules::earning::{Channel, EarnLine, EarnRules, Purchase, Tier, TierThresholds};
use crate::time::{BusinessTime, Month};
use serde::{Deserialize, Serialize};

/// A sale Linli accepted; the `SALE` item of the Orders table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sale {
    pub store_id: StoreId,
    pub sale_id: SaleId,
    pub till: TillId,
    pub member: MemberId,
    pub goods_fen: Fen,
    /// Decided when the sale was accepted, by the earn rules in force then (channel `pos`);
    /// `base_earn(goods_fen)` on sales accepted before earn rules.
    pub earned: Points,
    /// The earn rules' version that decided `earned` (absent: the base rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules_version: Option<u32>,
    /// How `earned` came about, for the receipt, e.g. "120 = 100 base × 1.2 晚市".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
    /// Goods returned so far, over all returns of this sale; never above `goods_fen`.
    pub returned_fen: Fen,
    /// Points clawed back so far: `clawback_total(earned, goods_fen, returned_fen)`.
    pub clawed: Points,
    /// When Linli accepted the sale (the request's time): the earn's business time.
    pub at: BusinessTime,
    /// The tier thresholds of the rules version that decided `earned`: the sale's growth may
    /// upgrade the member by them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<TierThresholds>,
}

/// A return Linli accepted; the `RETURN` item of the Orders table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Return {
    pub store_id: StoreId,
    pub return_id: ReturnId,
    pub sale_id: SaleId,
    pub till: TillId,
    /// The sale's member (a return needs no member code).
    pub member: MemberId,
    pub returned_fen: Fen,
    /// The sale's returned goods after this return.
    pub returned_total_fen: Fen,
    /// Points this return claws back (may be 0 for a small part of a small sale).
    pub clawed: Points,
    pub at: BusinessTime,
    /// The business month of the sale: the returned goods leave that month's growth.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_month: Option<Month>,
}

/// A broken rule of a stored sale: a bug or a hand edit, never input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SaleViolation {
    #[error("a sale's goods are positive")]
    NonPositiveGoods,
    #[error("a sale earns at least nothing, and base_earn(goods) without a rules version")]
    EarnedOutOfRange,
    #[error("returned goods stay within 0..=goods")]
    ReturnedOutOfRange,
    #[error("clawed back = floor(earned × returned / goods)")]
    ClawedNotProportional,
}

/// Why a return is refused (business rules; input errors are `InvalidInput`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReturnError {
    #[error("returning {asked} but only {left} of the sale's goods are not returned yet")]
    ExceedsSale { asked: Fen, left: Fen },
}

/// Points clawed back once `returned` of `goods` have been returned: floor(earned × returned /
/// goods), with `returned` clamped to 0..=goods. Monotonic in `returned`, equal to `earned` at
/// `returned == goods`, and computed in i128 so no product overflows.
pub fn clawback_total(earned: Points, goods: Fen, returned: Fen) -> Points {
    if !goods.is_positive() || !earned.is_positive() {
        return Points::ZERO;
    }
    let returned = returned.value().clamp(0, goods.value());
    let total = i128::from(earned.value()) * i128::from(returned) / i128::from(goods.value());
    // total ≤ earned, which is an i64.
    Points::new(i64::try_from(total).unwrap_or(earned.value()))
}

impl Sale {
    /// The sale `request` describes, for `member` of `tier`, accepted at `at` under `rules` (the
    /// version in force then).
    pub fn accept(
        request: &SaleRequest,
        member: MemberId,
        at: BusinessTime,
        rules: &EarnRules,
        tier: Tier,
    ) -> Self {
        let lines = [EarnLine {
            category: "",
            cash: request.goods_fen,
        }];
        let decided = rules.evaluate(&Purchase {
            at,
            store: request.store.as_str(),
            channel: Channel::Pos,
            tier,
            lines: &lines,
            earned_today: Points::ZERO,
        });
        let sale = Self {
            store_id: request.store.clone(),
            sale_id: request.sale.clone(),
            till: request.till.clone(),
            member,
            goods_fen: request.goods_fen,
            earned: decided.points,
            rules_version: Some(decided.rules_version),
            explanation: Some(decided.explanation),
            returned_fen: Fen::ZERO,
            clawed: Points::ZERO,
            at,
            thresholds: Some(rules.tier_thresholds.clone()),
        };
        debug_assert!(sale.check_invariants().is_ok());
        sale
    }

    /// Whether `request` (for `member`) is this sale again: same till, member and goods. The
    /// member code may differ (a cashier who scanned a fresh code for the same sale).
    pub fn is_repeat_of(&self, request: &SaleRequest, member: &MemberId) -> bool {
        self.till == request.till && &self.member == member && self.goods_fen == request.goods_fen
    }

    pub fn posting_id(&self) -> PostingId {
        PostingId::earn_pos(&self.store_id, &self.sale_id)
    }

    /// `earn:pos:<store>:<sale>`: the points and the sale's growth; None when there is nothing
    /// to post (a sale decided before tiers that earns nothing).
    pub fn earn_posting(&self) -> Option<PostingRequest> {
        // Growth rides on sales decided with tier thresholds, even when they earn nothing.
        let growth = self.thresholds.clone().map(|thresholds| GrowthEntry {
            month: self.at.month(),
            fen: self.goods_fen,
            thresholds: Some(thresholds),
        });
        let ops: Vec<Op> = self
            .earned
            .is_positive()
            .then_some(Op::Earn {
                source: Source::Pos,
                points: self.earned,
            })
            .into_iter()
            .collect();
        if ops.is_empty() && growth.is_none() {
            return None;
        }
        let mut posting = PostingRequest::new(self.posting_id(), self.member.clone(), self.at, ops);
        posting.rule_version = self.rules_version;
        posting.explanation = self.explanation.clone();
        posting.growth = growth;
        Some(posting)
    }

    /// Goods not returned yet.
    pub fn returnable(&self) -> Fen {
        self.goods_fen
            .checked_sub(self.returned_fen)
            .unwrap_or(Fen::ZERO)
    }

    /// The rules every stored sale keeps, one per line.
    pub fn check_invariants(&self) -> Result<(), SaleViolation> {
        use SaleViolation as V;
        ensure(self.goods_fen.is_positive(), V::NonPositiveGoods)?;
        ensure(!self.earned.is_negative(), V::EarnedOutOfRange)?;
        ensure(
            self.rules_version.is_some() || self.earned == base_earn(self.goods_fen),
            V::EarnedOutOfRange,
        )?;
        ensure(!self.returned_fen.is_negative(), V::ReturnedOutOfRange)?;
        ensure(self.returned_fen <= self.goods_fen, V::ReturnedOutOfRange)?;
        let proportional = clawback_total(self.earned, self.goods_fen, self.returned_fen);
        ensure(self.clawed == proportional, V::ClawedNotProportional)
    }
}

fn ensure(holds: bool, violation: SaleViolation) -> Result<(), SaleViolation> {
    if holds {
        Ok(())
    } else {
        Err(violation)
    }
}

/// A return decided against the sale as it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReturnDecision {
    pub ret: Return,
    /// The sale with this return counted.
    pub after: Sale,
}

/// Decides `request` against `sale` (as read), at `at`.
pub fn decide_return(
    sale: &Sale,
    request: &ReturnRequest,
    at: BusinessTime,
) -> Result<ReturnDecision, ReturnError> {
    debug_assert!(sale.check_invariants().is_ok());
    let left = sale.returnable();
    if request.returned_fen > left || !request.returned_fen.is_positive() {
        return Err(ReturnError::ExceedsSale {
            asked: request.returned_fen,
            left,
        });
    }
    let returned_total =
        sale.returned_fen
            .checked_add(request.returned_fen)
            .ok_or(ReturnError::ExceedsSale {
                asked: request.returned_fen,
                left,
            })?;
    let clawed_total = clawback_total(sale.earned, sale.goods_fen, returned_total);
    let clawed = clawed_total
        .checked_sub(sale.clawed)
        .unwrap_or(Points::ZERO);
    debug_assert!(!clawed.is_negative(), "clawback_total is monotonic");
    let after = Sale {
        returned_fen: returned_total,
        clawed: clawed_total,
        ..sale.clone()
    };
    debug_assert!(after.check_invariants().is_ok());
    let ret = Return {
        store_id: sale.store_id.clone(),
        return_id: request.ret.clone(),
        sale_id: sale.sale_id.clone(),
        till: request.till.clone(),
        member: sale.member.clone(),
        returned_fen: request.returned_fen,
        returned_total_fen: returned_total,
        clawed,
        at,
        sale_month: sale.thresholds.as_ref().map(|_| sale.at.month()),
    };
    Ok(ReturnDecision { ret, after })
}

impl Return {
    /// Whether `request` is this return again: same sale, till and amount.
    pub fn is_repeat_of(&self, request: &ReturnRequest) -> bool {
        self.sale_id == request.sale
            && self.till == request.till
            && self.returned_fen == request.returned_fen
    }

    pub fn posting_id(&self) -> PostingId {
        PostingId::claw_pos(&self.store_id, &self.return_id)
    }

    /// `claw:pos:<store>:<return>`: the points clawed back and the returned goods off growth;
    /// None when there is nothing to post.
    pub fn claw_posting(&self) -> Option<PostingRequest> {
        // Returns of sales decided with tiers (which know the sale's month) lower its growth.
        let growth = self.sale_month.map(|month| GrowthEntry {
            month,
            fen: Fen::new(self.returned_fen.value().saturating_neg()),
            thresholds: None,
        });
        let ops: Vec<Op> = self
            .clawed
            .is_positive()
            .then_some(Op::Clawback {
                points: self.clawed,
            })
            .into_iter()
            .collect();
        if ops.is_empty() && growth.is_none() {
            return None;
        }
        let mut posting = PostingRequest::new(self.posting_id(), self.member.clone(), self.at, ops);
        posting.growth = growth;
        Some(posting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at() -> BusinessTime {
        BusinessTime::from_epoch_ms(1_795_521_600_000).unwrap()
    }

    fn sale(goods: i64) -> Sale {
        let request = SaleRequest {
            store: StoreId::parse("S1").unwrap(),
            till: TillId::parse("T1").unwrap(),
            sale: SaleId::parse("A1").unwrap(),
            member_code: "LM1.x".into(),
            goods_fen: Fen::new(goods),
        };
        Sale::accept(
            &request,
            MemberId::generate(at(), 5),
            at(),
            &EarnRules::default(),
            Tier::Regular,
        )
    }

    fn ret(id: &str, fen: i64) -> ReturnRequest {
        ReturnRequest {
            store: StoreId::parse("S1").unwrap(),
            till: TillId::parse("T2").unwrap(),
            ret: ReturnId::parse(id).unwrap(),
            sale: SaleId::parse("A1").unwrap(),
            returned_fen: Fen::new(fen),
        }
    }

    /// Applies returns in order; answers each return's clawback (None when refused).
    fn returns(sale: &Sale, amounts: &[i64]) -> (Sale, Vec<Option<i64>>) {
        let mut current = sale.clone();
        let mut clawed = Vec::new();
        for (i, fen) in amounts.iter().enumerate() {
            match decide_return(&current, &ret(&format!("R{i}"), *fen), at()) {
                Ok(decided) => {
                    clawed.push(Some(decided.ret.clawed.value()));
                    current = decided.after;
                }
                Err(_) => clawed.push(None),
            }
        }
        (current, clawed)
    }

    #[test]
    fn a_sale_earns_like_an_online_order() {
        let s = sale(12_999);
        assert_eq!(s.earned, Points::new(129));
        let posting = s.earn_posting().unwrap();
        assert_eq!(posting.id.as_str(), "earn:pos:S1:A1");
        assert_eq!(
            posting.ops,
            vec![Op::Earn {
                source: Source::Pos,
                points: Points::new(129)
            }]
        );
        assert_eq!(posting.at, at());
        let tiny = sale(99).earn_posting().unwrap();
        assert!(tiny.ops.is_empty(), "under 1 yuan earns nothing");
        assert_eq!(
            tiny.growth.map(|g| g.fen),
            Some(Fen::new(99)),
            "but counts as spend"
        );
        let before_tiers = Sale {
            thresholds: None,
            ..sale(99)
        };
        assert_eq!(
            before_tiers.earn_posting(),
            None,
            "decided before tiers: nothing"
        );
    }

    #[test]
    fn partial_returns_add_up_to_the_earning_never_more() {
        // Three equal thirds of 300 points.
        let s = sale(30_000);
        let (after, clawed) = returns(&s, &[10_000, 10_000, 10_000]);
        assert_eq!(clawed, vec![Some(100), Some(100), Some(100)]);
        // 100 points in three near-thirds: 33 + 33 + 34, not 3 × 33.
        let s = sale(10_000);
        let (after_thirds, clawed) = returns(&s, &[3_333, 3_333, 3_334]);
        assert_eq!(clawed, vec![Some(33), Some(33), Some(34)]);
        assert_eq!(after_thirds.clawed, s.earned);
        assert_eq!(after.returnable(), Fen::ZERO);
        assert!(after.check_invariants().is_ok());
    }

    #[test]
    fn a_return_beyond_what_is_left_is_refused() {
        let s = sale(10_000);
        let (_, clawed) = returns(&s, &[6_000, 5_000, 4_000, 1]);
        assert_eq!(clawed, vec![Some(60), None, Some(40), None]);
        assert_eq!(
            decide_return(&s, &ret("R", 10_001), at()),
            Err(ReturnError::ExceedsSale {
                asked: Fen::new(10_001),
                left: Fen::new(10_000)
            })
        );
    }

    #[test]
    fn a_return_claws_back_the_sales_member_under_its_own_id() {
        let s = sale(5_000);
        let decided = decide_return(&s, &ret("R9", 2_500), at()).unwrap();
        let posting = decided.ret.claw_posting().unwrap();
        assert_eq!(posting.id.as_str(), "claw:pos:S1:R9");
        assert_eq!(posting.member, s.member);
        assert_eq!(
            posting.ops,
            vec![Op::Clawback {
                points: Points::new(25)
            }]
        );
        assert!(decided.ret.is_repeat_of(&ret("R9", 2_500)));
        assert!(!decided.ret.is_repeat_of(&ret("R9", 2_400)));
        let tiny = decide_return(&s, &ret("R1", 1), at()).unwrap();
        let posting = tiny.ret.claw_posting().unwrap();
        assert_eq!(tiny.ret.clawed, Points::ZERO);
        assert!(posting.ops.is_empty(), "no points back for 1 fen");
        assert_eq!(
            posting.growth.map(|g| g.fen),
            Some(Fen::new(-1)),
            "but off the growth"
        );
        let before_tiers = Return {
            sale_month: None,
            ..tiny.ret
        };
        assert_eq!(before_tiers.claw_posting(), None);
    }

    #[test]
    fn stored_sales_that_break_a_rule_are_caught() {
        let mut s = sale(10_000);
        s.clawed = Points::new(1);
        assert_eq!(
            s.check_invariants(),
            Err(SaleViolation::ClawedNotProportional)
        );
        let mut s = sale(10_000);
        s.returned_fen = Fen::new(10_001);
        assert_eq!(s.check_invariants(), Err(SaleViolation::ReturnedOutOfRange));
        // Decided by rules: recorded with their version; without one it must be the base rule.
        let mut s = sale(10_000);
        assert_eq!((s.rules_version, s.earned), (Some(0), Points::new(100)));
        s.earned = Points::new(-1);
        assert_eq!(s.check_invariants(), Err(SaleViolation::EarnedOutOfRange));
        let mut s = sale(10_000);
        s.rules_version = None;
        s.earned = Points::new(101);
        assert_eq!(s.check_invariants(), Err(SaleViolation::EarnedOutOfRange));
    }

    #[test]
    fn a_till_campaign_in_force_at_the_sale_prices_it_and_the_posting_says_which_version() {
        let mut rules = EarnRules {
            version: 3,
            ..EarnRules::default()
        };
        rules.campaigns.push(crate::rules::earning::Campaign {
            name: "晚市".into(),
            multiplier_bp: 12_000,
            starts_on: "2026-01-01".into(),
            ends_on: "2026-12-31".into(),
            weekdays: vec![],
            hours: None,
            stores: vec!["S1".into()],
            channels: vec![Channel::Pos],
            categories: vec![],
        });
        let request = SaleRequest {
            store: StoreId::parse("S1").unwrap(),
            till: TillId::parse("T1").unwrap(),
            sale: SaleId::parse("A1").unwrap(),
            member_code: "LM1.x".into(),
            goods_fen: Fen::new(10_000),
        };
        let s = Sale::accept(
            &request,
            MemberId::generate(at(), 5),
            at(),
            &rules,
            Tier::Gold,
        );
        assert_eq!(s.earned, Points::new(180), "a 金卡 member: ×1.5 on top");
        assert_eq!(
            s.explanation.as_deref(),
            Some("180 = 100 base × 1.5 金卡 × 1.2 晚市")
        );
        let growth = s.earn_posting().unwrap().growth.unwrap();
        assert_eq!(
            (growth.fen, growth.thresholds),
            (Fen::new(10_000), Some(TierThresholds::default()))
        );
        assert_eq!(s.check_invariants(), Ok(()));
        assert_eq!(s.earn_posting().unwrap().rule_version, Some(3));
    }

    proptest! {
        #[test]
        fn clawbacks_never_exceed_the_earning(
            (goods, amounts) in (1i64..=crate::pos::request::MAX_SALE_FEN).prop_flat_map(|g| {
                (Just(g), proptest::collection::vec(1i64..=g, 0..12))
            }),
        ) {
            let s = sale(goods);
            let (after, clawed) = returns(&s, &amounts);
            let total: i64 = clawed.iter().flatten().sum();
            prop_assert!(clawed.iter().flatten().all(|c| *c >= 0));
            prop_assert!(total <= s.earned.value());
            prop_assert_eq!(total, after.clawed.value());
            prop_assert!(after.check_invariants().is_ok());
            // Returning whatever is left takes back exactly the rest of the earning.
            if after.returnable().is_positive() {
                let last = decide_return(&after, &ret("LAST", after.returnable().value()), at());
                let last = last.unwrap();
                prop_assert_eq!(total + last.ret.clawed.value(), s.earned.value());
            }
        }
    }
}
