//! Orders (pure): what a member bought, priced by the server from the catalog, and where its
//! payment stands. The statuses move only forward: `pending` → `paid`, or `pending` → `closed`
//! (payment deadline passed) / `cancelled` (the member gave up). Later issues add delivery states.

mod anomaly;
mod delivery;
mod dispatch;
mod pricing;
mod refund;
mod tracking;

pub use anomaly::{Anomaly, AnomalyKind};
pub use delivery::{Delivery, FeeChoice, FeeError, HOLD_GRACE_MS};
pub use dispatch::{Dispatch, Step, Try, TryOutcome, Waybill, MAX_REDISPATCHES};
pub use pricing::{price, ItemRequest, OrderError, Priced, MAX_LINES, MAX_QTY};
pub use refund::{
    cancelled_join_refund_id, clawback, delivery_fee_refund_id, late_payment_refund_id,
    member_refund_id, refund_growth, staff_refund_id, Refund, RefundOrigin, RefundState,
};
pub use tracking::{
    assess, Assessment, CancelledBy, Effect, Event, Report, Rider, Tracked, QUERIED,
};

use crate::ids::{MemberId, OpenId, OrderId, PostingId, SkuId, StoreId};
use crate::ledger::{GrowthEntry, Op, PostingRequest, Source};
use crate::money::{Fen, Points};
use crate::rules::base_earn;
use crate::rules::earning::{Channel, EarnLine, EarnRules, Purchase, Tier, TierThresholds};
use crate::time::BusinessTime;
use crate::wechat::pay_api::PayApi;
use crate::wechat::pay_v2::SignType;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How long a member has to pay before the order is closed (and its payment closed at WeChat).
pub const PAYMENT_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Housekeeping finds due orders through this many sweep shards (DESIGN §4), so no index
/// partition is hot.
pub const SWEEP_SHARDS: u8 = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fulfilment {
    Pickup,
    Delivery,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Pending,
    Paid,
    /// The payment deadline passed unpaid.
    Closed,
    /// The member cancelled before paying.
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Paid => "paid",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a delivery goes (WGS-84 degrees and the address as the member wrote it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub lat: f64,
    pub lng: f64,
    pub text: String,
}

/// One priced line: the catalog's name and unit price at the time of the order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub sku: SkuId,
    pub name: String,
    pub qty: i64,
    pub price_fen: Fen,
    /// The SKU's category when ordered (earn rules' category bonuses); empty = none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub category: String,
}

/// The payment WeChat Pay confirmed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    pub transaction_id: String,
    /// `time_end`: the business time of the payment (points are earned as of then).
    pub paid_at: BusinessTime,
    /// What the payment earns, decided once when it was confirmed (absent on orders paid before
    /// earn rules: the base rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub earned: Option<EarnDecision>,
}

/// The points a payment earns under the earn rules in force at its business time, decided once
/// (so a repeated notify or a redrive posts exactly the same thing).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EarnDecision {
    pub points: Points,
    pub rules_version: u32,
    /// E.g. "150 = 100 base × 1.5 周末".
    pub explanation: String,
    /// The tier thresholds of that rules version: the payment's growth may upgrade by them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholds: Option<TierThresholds>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub member: MemberId,
    /// The mini-program OpenID that pays (JSAPI).
    pub payer: OpenId,
    pub store_id: StoreId,
    pub fulfilment: Fulfilment,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    pub lines: Vec<OrderLine>,
    /// Goods only (what earns points).
    pub goods_fen: Fen,
    /// What the member pays (goods; delivery fees join with the delivery issue).
    pub amount_fen: Fen,
    pub status: OrderStatus,
    pub placed_at: BusinessTime,
    pub pay_deadline: BusinessTime,
    /// The sign type Linli chose for this order's payment: its notify is verified with it.
    pub sign_type: SignType,
    /// The WeChat Pay API that created the payment: it closes it and signs its payment sheet.
    #[serde(default)]
    pub pay_api: PayApi,
    pub prepay_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment: Option<Payment>,
    /// When the order was closed or cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<BusinessTime>,
    /// Refunds asked of WeChat Pay and not failed (never more than `amount_fen`).
    #[serde(default)]
    pub refund_requested_fen: Fen,
    /// Refunds WeChat Pay settled.
    #[serde(default)]
    pub refunded_fen: Fen,
    /// Of `refunded_fen`, what was a cash delivery fee given back (it earned no points, so
    /// clawbacks are figured on the rest).
    #[serde(default)]
    pub fee_refunded_fen: Fen,
    /// The delivery's terms (fee, route), for a delivery ordered against a quote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// The order took its lines out of stock when placed (released if it ends unpaid). Orders
    /// placed before stock was reserved have `false` and release nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stock_reserved: bool,
    /// Where dispatching its delivery to a courier platform stands (paid deliveries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dispatch: Option<Dispatch>,
    /// The group-buy round this order joins (its lines count toward the round once paid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub round: Option<crate::ids::RoundId>,
}

impl Order {
    /// The points the payment earns: as decided when it was confirmed, else the base rule
    /// (1 yuan of goods = 1 point, rounded down once).
    pub fn earned_points(&self) -> Points {
        // A group-buy order earns nothing by its payment (its confirmed lines earn at the
        // cutoff, by their own posting): a refund of it takes nothing back.
        if self.round.is_some() {
            return Points::ZERO;
        }
        match self.payment.as_ref().and_then(|p| p.earned.as_ref()) {
            Some(decision) => decision.points,
            None => base_earn(self.goods_fen),
        }
    }

    /// What a payment at `paid_at` earns under `rules` (the version in force then) for a member
    /// of `tier`, each line with its SKU's category.
    pub fn decide_earning(
        &self,
        rules: &EarnRules,
        paid_at: BusinessTime,
        tier: Tier,
    ) -> EarnDecision {
        let lines: Vec<EarnLine<'_>> = self
            .lines
            .iter()
            .map(|line| EarnLine {
                category: &line.category,
                cash: Fen::new(line.price_fen.value().saturating_mul(line.qty)),
            })
            .collect();
        let lines = if lines.is_empty() {
            vec![EarnLine {
                category: "",
                cash: self.goods_fen,
            }]
        } else {
            lines
        };
        let earned = rules.evaluate(&Purchase {
            at: paid_at,
            store: self.store_id.as_str(),
            channel: Channel::MiniProgram,
            tier,
            lines: &lines,
            earned_today: Points::ZERO,
        });
        EarnDecision {
            points: earned.points,
            rules_version: earned.rules_version,
            explanation: earned.explanation,
            thresholds: Some(rules.tier_thresholds.clone()),
        }
    }

    /// The posting a confirmed payment causes: `pay:order:<id>` at the payment's business time,
    /// earning its points and recording its goods toward the member's tier. None when there is
    /// nothing to post or the order is not paid.
    pub fn pay_posting(&self) -> Option<PostingRequest> {
        // A group-buy order earns at the cutoff, for its confirmed lines only.
        if self.round.is_some() {
            return None;
        }
        let payment = self.payment.as_ref()?;
        let decision = payment.earned.as_ref();
        let points = self.earned_points();
        // Growth rides on payments decided with tier thresholds (a posting rebuilt for a payment
        // decided before tiers keeps exactly its first content); it is recorded even when the
        // payment earns nothing (e.g. the day's cap reached).
        let growth = decision
            .and_then(|d| d.thresholds.clone())
            .filter(|_| self.goods_fen.is_positive())
            .map(|thresholds| GrowthEntry {
                month: payment.paid_at.month(),
                fen: self.goods_fen,
                thresholds: Some(thresholds),
            });
        let mut ops: Vec<Op> = self
            .delivery
            .as_ref()
            .and_then(|d| d.capture(&self.order_id))
            .into_iter()
            .collect();
        if points.is_positive() {
            ops.push(Op::Earn {
                source: Source::Pay,
                points,
            });
        }
        if ops.is_empty() && growth.is_none() {
            return None;
        }
        let mut posting = PostingRequest::new(
            PostingId::pay_order(&self.order_id),
            self.member.clone(),
            payment.paid_at,
            ops,
        );
        posting.rule_version = decision.map(|d| d.rules_version);
        posting.explanation = decision.map(|d| d.explanation.clone());
        posting.growth = growth;
        Some(posting)
    }

    /// What can still be refunded: paid and not yet asked back.
    pub fn refundable(&self) -> Fen {
        if self.status != OrderStatus::Paid {
            return Fen::ZERO;
        }
        Fen::new(
            self.amount_fen
                .value()
                .saturating_sub(self.refund_requested_fen.value())
                .max(0),
        )
    }

    /// The sweep shard housekeeping finds this order in (stable per order).
    pub fn sweep_shard(&self) -> u8 {
        self.order_id.shard(SWEEP_SHARDS)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::money::Points;

    pub(crate) fn order(goods: i64) -> Order {
        let at = BusinessTime::from_epoch_ms(1_795_521_600_000).unwrap();
        Order {
            order_id: OrderId::parse("01JD0000000000000000000000").unwrap(),
            member: MemberId::generate(at, 7),
            payer: OpenId::parse("o-payer").unwrap(),
            store_id: StoreId::parse("sh-001").unwrap(),
            fulfilment: Fulfilment::Pickup,
            address: None,
            lines: vec![],
            goods_fen: Fen::new(goods),
            amount_fen: Fen::new(goods),
            status: OrderStatus::Paid,
            placed_at: at,
            pay_deadline: at.plus_ms(PAYMENT_WINDOW_MS),
            sign_type: SignType::HmacSha256,
            pay_api: PayApi::V2,
            prepay_id: "wx1".into(),
            payment: Some(Payment {
                transaction_id: "4200".into(),
                paid_at: at.plus_ms(60_000),
                earned: None,
            }),
            ended_at: None,
            refund_requested_fen: Fen::ZERO,
            refunded_fen: Fen::ZERO,
            fee_refunded_fen: Fen::ZERO,
            delivery: None,
            stock_reserved: false,
            dispatch: None,
            round: None,
        }
    }

    #[test]
    fn a_paid_order_earns_floor_of_goods_yuan_at_the_payment_time() {
        let o = order(12_999);
        let posting = o.pay_posting().unwrap();
        assert_eq!(posting.id, PostingId::pay_order(&o.order_id));
        assert_eq!(posting.at, o.payment.as_ref().unwrap().paid_at);
        assert_eq!(
            posting.ops,
            vec![Op::Earn {
                source: Source::Pay,
                points: Points::new(129)
            }]
        );
    }

    #[test]
    fn a_decided_earning_is_what_the_posting_and_clawbacks_use() {
        let mut o = order(10_000);
        let rules = EarnRules::from_toml(
            r#"
fen_per_point = 100
[tiers]
regular = 10000
silver = 12000
gold = 15000
diamond = 20000
[[campaigns]]
name = "周末"
multiplier_bp = 15000
starts_on = "2026-11-01"
ends_on = "2026-11-30"
stores = ["sh-001"]
"#,
        )
        .unwrap();
        let paid_at = o.payment.as_ref().unwrap().paid_at;
        let decision = o.decide_earning(
            &EarnRules {
                version: 4,
                ..rules
            },
            paid_at,
            Tier::Regular,
        );
        assert_eq!(decision.points, Points::new(150));
        assert_eq!(decision.rules_version, 4);
        assert_eq!(decision.explanation, "150 = 100 base × 1.5 周末");
        o.payment.as_mut().unwrap().earned = Some(decision);
        assert_eq!(o.earned_points(), Points::new(150));
        let posting = o.pay_posting().unwrap();
        assert_eq!(posting.rule_version, Some(4));
        let growth = posting.growth.clone().unwrap();
        assert_eq!(
            (growth.month, growth.fen),
            (paid_at.month(), Fen::new(10_000))
        );
        assert_eq!(growth.thresholds, Some(TierThresholds::default()));
        assert_eq!(
            posting.ops,
            vec![Op::Earn {
                source: Source::Pay,
                points: Points::new(150)
            }]
        );
    }

    #[test]
    fn nothing_is_posted_under_one_yuan_or_before_payment() {
        assert_eq!(order(99).pay_posting(), None);
        let mut unpaid = order(10_000);
        unpaid.payment = None;
        assert_eq!(unpaid.pay_posting(), None);
    }

    #[test]
    fn sweep_shards_are_stable_and_in_range() {
        let o = order(100);
        assert_eq!(o.sweep_shard(), o.sweep_shard());
        assert!(o.sweep_shard() < SWEEP_SHARDS);
    }
}
