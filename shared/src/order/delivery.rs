//! An order's delivery terms (pure): what the quote priced, how the member chose to pay the fee
//! (cash with the goods, points held until payment, or free by the threshold), the route and the
//! heatmap record. The points of a points-paid fee are held when the order is placed (`hold:
//! order:<id>`), captured with the payment (`pay:order:<id>`), and voided when the order ends
//! unpaid (`void:order:<id>`).

use super::OrderStatus;
use crate::delivery::{Factor, Heat, Quote, Route};
use crate::ids::{OrderId, PostingId};
use crate::ledger::{Op, PostingRequest};
use crate::money::Points;
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};

/// A hold outlives the payment deadline by this much: the order's own close (which voids it)
/// comes first; housekeeping's expiry void is only the backstop.
pub const HOLD_GRACE_MS: i64 = 30 * 60 * 1000;

/// How the member pays the delivery fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeChoice {
    /// With the goods, through WeChat Pay.
    Cash,
    /// With points, held now and captured by the payment.
    Points,
    /// Nothing: the basket reached the free-delivery threshold.
    Free,
}

impl FeeChoice {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "cash" => Some(Self::Cash),
            "points" => Some(Self::Points),
            "free" => Some(Self::Free),
            _ => None,
        }
    }
}

/// Why a fee choice does not fit the quote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FeeError {
    /// The basket lacks this many fen for free delivery.
    #[error("the basket is {0} fen short of free delivery")]
    NotFree(i64),
}

/// The delivery part of an order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub fee: FeeChoice,
    /// The fee charged in cash (0 unless paid in cash).
    pub fee_fen: i64,
    /// The fee in points (0 unless paid in points).
    pub points: i64,
    pub priority: bool,
    pub distance_m: u32,
    /// Every factor of the quote that priced it.
    pub factors: Vec<Factor>,
    pub quoted_at: BusinessTime,
    pub route: Route,
    pub heat: Heat,
    /// Set when the payment arrived after the points hold was gone (anomaly `hold_lapsed`): the
    /// fee is not charged and the payment captures nothing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fee_waived: bool,
}

impl Delivery {
    /// The terms a quote gives for `choice` (a free quote is free whatever the choice).
    pub fn terms(
        quote: &Quote,
        choice: FeeChoice,
        route: Route,
        heat: Heat,
    ) -> Result<Self, FeeError> {
        let price = &quote.price;
        let fee = if price.free {
            FeeChoice::Free
        } else if choice == FeeChoice::Free {
            return Err(FeeError::NotFree(price.add_for_free_fen));
        } else {
            choice
        };
        Ok(Self {
            fee,
            fee_fen: if fee == FeeChoice::Cash {
                price.fee_fen
            } else {
                0
            },
            points: if fee == FeeChoice::Points {
                price.points
            } else {
                0
            },
            priority: quote.priority,
            distance_m: quote.distance_m,
            factors: price.factors.clone(),
            quoted_at: quote.quoted_at,
            route,
            heat,
            fee_waived: false,
        })
    }

    /// Points held for the fee (0 when it is not paid in points or was waived).
    pub fn held_points(&self) -> Points {
        if self.fee == FeeChoice::Points && !self.fee_waived {
            Points::new(self.points)
        } else {
            Points::ZERO
        }
    }

    /// The hold a points-paid fee takes when `order` is placed at `at`.
    pub fn hold_posting(
        &self,
        order: &OrderId,
        member: &crate::ids::MemberId,
        at: BusinessTime,
        pay_deadline: BusinessTime,
    ) -> Option<PostingRequest> {
        let points = self.held_points();
        if !points.is_positive() {
            return None;
        }
        Some(PostingRequest::new(
            PostingId::hold_order(order),
            member.clone(),
            at,
            vec![Op::Hold {
                order: order.clone(),
                points,
                expires_at: pay_deadline.plus_ms(HOLD_GRACE_MS),
            }],
        ))
    }

    /// The capture the payment adds to its posting, if the fee was held.
    pub fn capture(&self, order: &OrderId) -> Option<Op> {
        self.held_points().is_positive().then(|| Op::Capture {
            order: order.clone(),
            usage: crate::ledger::Usage::DeliveryFee,
        })
    }
}

/// An order's delivery fee in the ledger: held when placed, voided when it ends unpaid, returned
/// when the delivery did not happen.
impl super::Order {
    /// The hold a points-paid delivery fee takes when the order is placed.
    pub fn hold_posting(&self) -> Option<PostingRequest> {
        self.delivery.as_ref()?.hold_posting(
            &self.order_id,
            &self.member,
            self.placed_at,
            self.pay_deadline,
        )
    }

    /// The void of the fee's hold once the order ended unpaid (at its end time).
    pub fn void_posting(&self) -> Option<PostingRequest> {
        let held = self.delivery.as_ref()?.held_points();
        let ended = matches!(self.status, OrderStatus::Closed | OrderStatus::Cancelled);
        if !held.is_positive() || !ended {
            return None;
        }
        let at = self.ended_at.unwrap_or(self.placed_at);
        Some(PostingRequest::new(
            PostingId::void_order(&self.order_id),
            self.member.clone(),
            at,
            vec![Op::Void {
                order: self.order_id.clone(),
            }],
        ))
    }

    /// The return of a points-paid fee for a delivery that did not happen (`feeback:order:<id>`),
    /// at `at`. None when no points paid the fee.
    pub fn feeback_posting(&self, at: BusinessTime) -> Option<PostingRequest> {
        let points = self.delivery.as_ref()?.held_points();
        if !points.is_positive() || self.status != OrderStatus::Paid {
            return None;
        }
        Some(PostingRequest::new(
            PostingId::feeback_order(&self.order_id),
            self.member.clone(),
            at,
            vec![Op::ReturnRedemption {
                usage: crate::ledger::Usage::DeliveryFee,
                points,
            }],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{
        choose, make_quote, route, Candidate, DeliveryRules, Platform, RoutingRules,
    };
    use crate::delivery::{StoreOption, Weather};
    use crate::ids::{MemberId, StoreId};
    use crate::order::Address;
    use crate::rules::earning::Tier;

    /// 2026-11-25 15:00 Beijing time: a quiet hour, no peak.
    fn quiet() -> BusinessTime {
        BusinessTime::from_epoch_ms(1_795_536_000_000 + 900 * 60_000).unwrap()
    }

    fn quote(goods_fen: i64) -> (Quote, Route, Heat) {
        let rules = DeliveryRules::default();
        let candidate = Candidate {
            store_id: StoreId::parse("sh-001").unwrap(),
            name: "静安店".into(),
            distance_m: 1_200,
            covers: true,
            goods_fen,
            open_orders: 0,
        };
        let address = Address {
            lat: 31.22361,
            lng: 121.44534,
            text: "南京西路 1 号".into(),
        };
        let member = MemberId::generate(quiet(), 3);
        let choice = choose(&rules, vec![candidate]).unwrap();
        let quote = make_quote(
            &rules,
            member,
            address,
            vec![("OIL-5L".into(), 1)],
            &choice,
            Weather::Normal,
            Tier::Regular,
            false,
            quiet(),
        )
        .unwrap();
        let option = StoreOption {
            store_id: quote.store_id.clone(),
            distance_m: quote.distance_m,
            covers: true,
            open_orders: 0,
            picker_capacity: 0,
        };
        let chosen = route(&RoutingRules::default(), &[option], &rules.offers("sh-001")).unwrap();
        let heat = Heat::of((31.22361, 121.44534), quiet(), &chosen, 500, 50);
        (quote, chosen, heat)
    }

    #[test]
    fn each_fee_choice_charges_the_fee_one_way_only() {
        let (q, r, h) = quote(3_000);
        let points = Delivery::terms(&q, FeeChoice::Points, r.clone(), h.clone()).unwrap();
        assert_eq!((points.fee_fen, points.points), (0, 50));
        assert_eq!(points.held_points(), Points::new(50));
        let cash = Delivery::terms(&q, FeeChoice::Cash, r.clone(), h.clone()).unwrap();
        assert_eq!((cash.fee_fen, cash.points), (500, 0));
        assert_eq!(cash.held_points(), Points::ZERO);
        // Quiet hours lower the threshold to ¥49: ¥30 is ¥19 short.
        assert_eq!(
            Delivery::terms(&q, FeeChoice::Free, r, h),
            Err(FeeError::NotFree(1_900))
        );
    }

    #[test]
    fn a_free_quote_is_free_whatever_the_member_chose() {
        let (q, r, h) = quote(6_000);
        for choice in [FeeChoice::Cash, FeeChoice::Points, FeeChoice::Free] {
            let terms = Delivery::terms(&q, choice, r.clone(), h.clone()).unwrap();
            assert_eq!(
                (terms.fee, terms.fee_fen, terms.points),
                (FeeChoice::Free, 0, 0)
            );
        }
    }

    #[test]
    fn a_points_fee_holds_past_the_deadline_and_the_payment_captures_it_unless_waived() {
        let (q, r, h) = quote(3_000);
        assert_eq!(r.platform, Platform::Dada, "cheapest fee + time: {r:?}");
        let mut terms = Delivery::terms(&q, FeeChoice::Points, r, h).unwrap();
        let order = OrderId::parse("01JD0000000000000000000000").unwrap();
        let deadline = quiet().plus_ms(15 * 60_000);
        let hold = terms
            .hold_posting(&order, &q.member, quiet(), deadline)
            .unwrap();
        assert_eq!(hold.id, PostingId::hold_order(&order));
        assert_eq!(
            hold.ops,
            vec![Op::Hold {
                order: order.clone(),
                points: Points::new(50),
                expires_at: deadline.plus_ms(HOLD_GRACE_MS),
            }]
        );
        hold.validate().unwrap();
        assert!(terms.capture(&order).is_some());
        terms.fee_waived = true;
        assert!(terms.capture(&order).is_none());
        assert!(terms
            .hold_posting(&order, &q.member, quiet(), deadline)
            .is_none());
    }

    #[test]
    fn a_points_paid_delivery_captures_with_the_payment_and_voids_when_it_ends_unpaid() {
        use crate::delivery::{Heat, Platform, Route};
        let mut o = crate::order::tests::order(3_000);
        let route = Route {
            store_id: o.store_id.clone(),
            platform: Platform::Dada,
            fallbacks: vec![Platform::Meituan],
            promised_minutes: 40,
            courier_fee_fen: 600,
            reasons: vec![],
        };
        let heat = Heat::of((31.2, 121.4), o.placed_at, &route, 500, 50);
        o.delivery = Some(Delivery {
            fee: FeeChoice::Points,
            fee_fen: 0,
            points: 50,
            priority: false,
            distance_m: 1_200,
            factors: vec![],
            quoted_at: o.placed_at,
            route,
            heat,
            fee_waived: false,
        });
        let pay = o.pay_posting().unwrap();
        assert_eq!(
            pay.ops,
            vec![
                Op::Capture {
                    order: o.order_id.clone(),
                    usage: crate::ledger::Usage::DeliveryFee
                },
                Op::Earn {
                    source: crate::ledger::Source::Pay,
                    points: Points::new(30)
                }
            ]
        );
        pay.validate().unwrap();
        assert!(o.void_posting().is_none(), "a paid order keeps its hold");
        o.status = OrderStatus::Cancelled;
        o.ended_at = Some(o.placed_at.plus_ms(60_000));
        let void = o.void_posting().unwrap();
        assert_eq!(void.id, PostingId::void_order(&o.order_id));
        assert_eq!(void.at, o.placed_at.plus_ms(60_000));
        o.delivery.as_mut().unwrap().fee = FeeChoice::Cash;
        assert!(o.void_posting().is_none(), "nothing held for a cash fee");
    }
}
