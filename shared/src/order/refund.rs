//! Refunds (pure): money going back to the payer, and the points that go back with it.
//!
//! A refund is requested (the order's `refund_requested_fen` grows, never beyond what was paid),
//! then WeChat Pay settles it: succeeded (the order's `refunded_fen` grows and the earned points
//! are clawed back in proportion) or failed (the request is released). Refunds of a late payment
//! (the order was closed before the money arrived) return money Linli never counted: they do not
//! touch the order's totals and claw nothing back.

use super::Order;
use crate::ids::{IdError, MemberId, OrderId, PostingId, RefundId};
use crate::ledger::{GrowthEntry, Op, PostingRequest};
use crate::money::{Fen, Points};
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};

/// Who started a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundOrigin {
    /// The member, for a pickup order not yet collected.
    Member,
    /// Staff, after-sales (`linli-admin refund`), with a reason.
    Staff,
    /// Automatic: a payment that arrived after its order was closed.
    LatePayment,
    /// Made outside Linli (the merchant platform) and confirmed by `refundquery`.
    Merchant,
    /// Automatic: the cash delivery fee of a delivery no courier platform took. It takes no
    /// points back (the fee earned none).
    DeliveryFee,
    /// Automatic: group-buy lines whose SKU did not reach its minimum at the cutoff, or a
    /// join its round could not take. Group-buy payments earn nothing, so nothing comes back.
    GroupBuy,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Asked of WeChat Pay; the money has not moved yet.
    Requested,
    /// The money went back; the clawback is decided.
    Succeeded,
    /// WeChat Pay refused or closed it: no money moved, the amount is refundable again.
    Failed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// `out_refund_no`: Linli's id for the refund (deterministic per cause).
    pub refund_id: RefundId,
    pub order_id: OrderId,
    pub member: MemberId,
    /// The payment refunded.
    pub transaction_id: String,
    /// What that payment was (`total_fee`).
    pub total_fen: Fen,
    /// What goes back (`refund_fee`).
    pub amount_fen: Fen,
    pub origin: RefundOrigin,
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    pub state: RefundState,
    pub requested_at: BusinessTime,
    /// False for a late payment's refund: the order never counted that money.
    pub counts_against_order: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wechat_refund_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled_at: Option<BusinessTime>,
    /// The points clawed back for this refund, decided when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clawback: Option<Points>,
    /// The goods spend this refund takes off the member's growth value (in its payment's
    /// month), decided with the clawback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub growth: Option<GrowthEntry>,
}

impl Refund {
    /// An automatic group-buy refund of `amount` of `order`'s payment (a line whose SKU did
    /// not go ahead, a join the member cancelled or its round could not take), counted against
    /// the order; requested at `at`. None when the order is not paid.
    pub fn group_buy(
        order: &Order,
        refund_id: RefundId,
        amount: Fen,
        reason: &str,
        at: BusinessTime,
    ) -> Option<Self> {
        let payment = order.payment.as_ref()?;
        Some(Self {
            refund_id,
            order_id: order.order_id.clone(),
            member: order.member.clone(),
            transaction_id: payment.transaction_id.clone(),
            total_fen: order.amount_fen,
            amount_fen: amount,
            origin: RefundOrigin::GroupBuy,
            reason: reason.to_owned(),
            operator: None,
            state: RefundState::Requested,
            requested_at: at,
            counts_against_order: true,
            wechat_refund_id: None,
            settled_at: None,
            clawback: None,
            growth: None,
        })
    }

    /// The refund of the whole payment of a group-buy join the member cancelled before the
    /// cutoff (`<order>-GC`, once), requested at `at`; None when the order is not paid.
    pub fn cancelled_join(order: &Order, at: BusinessTime) -> Result<Option<Self>, IdError> {
        let id = cancelled_join_refund_id(&order.order_id)?;
        let reason = "已取消团购，款项原路退回";
        Ok(Self::group_buy(order, id, order.amount_fen, reason, at))
    }

    /// The clawback posting `claw:refund:<refund-id>` at the refund's business time, if any
    /// points go back.
    /// The refund also lowers the member's growth value by its goods share (even when no points
    /// go back).
    pub fn claw_posting(&self) -> Option<PostingRequest> {
        let points = self.clawback.filter(|p| p.is_positive());
        let growth = self.growth.clone().filter(|g| !g.fen.is_zero());
        if points.is_none() && growth.is_none() {
            return None;
        }
        let ops = points
            .map(|points| Op::Clawback { points })
            .into_iter()
            .collect();
        let mut posting = PostingRequest::new(
            PostingId::claw_refund(&self.refund_id),
            self.member.clone(),
            self.settled_at.unwrap_or(self.requested_at),
            ops,
        );
        posting.growth = growth;
        Some(posting)
    }
}

/// The growth a refund takes back from a payment of `paid` (of which `goods` were goods, paid at
/// `paid_at`) when the refunded total goes from `before` to `after`: the goods share of the
/// total, rounded down, less what earlier refunds took (cumulative, like `clawback`, so partial
/// refunds add up to exactly the goods share), as a negative entry.
pub fn refund_growth(
    paid: Fen,
    goods: Fen,
    before: Fen,
    after: Fen,
    paid_at: BusinessTime,
) -> GrowthEntry {
    let share = |refunded: Fen| -> i128 {
        if !paid.is_positive() {
            return 0;
        }
        let refunded = i128::from(refunded.value().clamp(0, paid.value()));
        refunded * i128::from(goods.value().clamp(0, paid.value())) / i128::from(paid.value())
    };
    let taken = (share(after) - share(before)).max(0);
    GrowthEntry {
        month: paid_at.month(),
        fen: Fen::new(-i64::try_from(taken).unwrap_or(i64::MAX)),
        thresholds: None,
    }
}

/// The refund id of the member's own refund of an order (one per order: the rest of it).
pub fn member_refund_id(order: &OrderId) -> Result<RefundId, IdError> {
    refund_id(&format!("{order}-M"))
}

/// The refund id of a late payment's automatic refund (one per payment).
pub fn late_payment_refund_id(transaction_id: &str) -> Result<RefundId, IdError> {
    refund_id(&format!("L-{transaction_id}"))
}

/// The refund id of the cash delivery fee of an order no platform delivered (one per order).
pub fn delivery_fee_refund_id(order: &OrderId) -> Result<RefundId, IdError> {
    refund_id(&format!("{order}-F"))
}

/// The refund id of a group-buy join of `order` the member cancelled before the cutoff (the
/// whole payment, once). Lines refunded at the cutoff use `groupbuy::cutoff::line_refund_id`.
pub fn cancelled_join_refund_id(order: &OrderId) -> Result<RefundId, IdError> {
    refund_id(&format!("{order}-GC"))
}

/// The refund id of staff's after-sales refund `ticket` of an order.
pub fn staff_refund_id(order: &OrderId, ticket: &str) -> Result<RefundId, IdError> {
    refund_id(&format!("{order}-S{ticket}"))
}

/// WeChat Pay's `out_refund_no` holds at most 64 characters: longer inputs are cut.
fn refund_id(text: &str) -> Result<RefundId, IdError> {
    let cut: String = text.chars().take(64).collect();
    RefundId::parse(&cut)
}

/// The points a refund takes back: the share of `earned` that the refunded total reaches, less
/// what earlier refunds took. Cumulative, so any number of partial refunds take back exactly
/// floor(earned × refunded / paid) in total — never more than was earned.
pub fn clawback(earned: Points, paid: Fen, refunded_before: Fen, refunded_after: Fen) -> Points {
    let share = |refunded: Fen| -> i64 {
        if paid.value() <= 0 {
            return 0;
        }
        let refunded = refunded.value().clamp(0, paid.value());
        let scaled =
            i128::from(earned.value().max(0)) * i128::from(refunded) / i128::from(paid.value());
        i64::try_from(scaled).unwrap_or(i64::MAX)
    };
    Points::new(
        share(refunded_after)
            .saturating_sub(share(refunded_before))
            .max(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_refunds_take_back_exactly_the_goods_share_of_growth() {
        let at = BusinessTime::from_epoch_ms(1_795_521_600_000).unwrap();
        let (paid, goods) = (Fen::new(10_000), Fen::new(9_000));
        let mut before = Fen::ZERO;
        let mut taken = 0;
        for part in [3_333, 3_333, 3_334] {
            let after = Fen::new(before.value() + part);
            let entry = refund_growth(paid, goods, before, after, at);
            assert_eq!(entry.month, at.month());
            taken -= entry.fen.value();
            before = after;
        }
        assert_eq!(
            taken, 9_000,
            "the whole goods share, no rounding left behind"
        );
        let none = refund_growth(Fen::ZERO, goods, Fen::ZERO, paid, at);
        assert_eq!(none.fen, Fen::ZERO);
    }
    use proptest::prelude::*;

    #[test]
    fn partial_refunds_claw_back_the_share_once() {
        let (earned, paid) = (Points::new(88), Fen::new(8_850));
        let first = clawback(earned, paid, Fen::new(0), Fen::new(3_000));
        assert_eq!(first, Points::new(29), "floor(88 × 3000 / 8850) = 29");
        let second = clawback(earned, paid, Fen::new(3_000), Fen::new(8_850));
        assert_eq!(
            first.value() + second.value(),
            88,
            "the rest on full refund"
        );
        assert_eq!(
            clawback(earned, paid, Fen::new(8_850), Fen::new(9_999)),
            Points::ZERO
        );
        assert_eq!(
            clawback(earned, Fen::new(0), Fen::new(0), Fen::new(1)),
            Points::ZERO
        );
    }

    #[test]
    fn refund_ids_are_deterministic_and_within_64_characters() {
        let order = OrderId::parse("01JRFAAAAAAAAAAAAAAAAAAAAA").unwrap();
        assert_eq!(
            member_refund_id(&order).unwrap().as_str(),
            "01JRFAAAAAAAAAAAAAAAAAAAAA-M"
        );
        assert_eq!(
            late_payment_refund_id("4200000215201811190261405420")
                .unwrap()
                .as_str(),
            "L-4200000215201811190261405420"
        );
        assert!(
            staff_refund_id(&order, &"T".repeat(80))
                .unwrap()
                .as_str()
                .len()
                <= 64
        );
        assert!(late_payment_refund_id("<bad>").is_err());
    }

    proptest! {
        #[test]
        fn clawbacks_sum_to_the_share_and_never_exceed_the_earning(
            earned in 0i64..100_000,
            paid in 1i64..10_000_000,
            cuts in proptest::collection::vec(1i64..1_000_000, 1..8),
        ) {
            let (earned, paid) = (Points::new(earned), Fen::new(paid));
            let mut refunded = 0i64;
            let mut total = 0i64;
            for cut in cuts {
                let before = refunded;
                refunded = (refunded + cut).min(paid.value());
                let claw = clawback(earned, paid, Fen::new(before), Fen::new(refunded));
                prop_assert!(claw.value() >= 0);
                total += claw.value();
            }
            prop_assert!(total <= earned.value());
            let expected = i128::from(earned.value()) * i128::from(refunded) / i128::from(paid.value());
            prop_assert_eq!(i128::from(total), expected);
        }
    }
}
