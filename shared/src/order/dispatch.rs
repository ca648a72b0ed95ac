//! Dispatching a paid delivery (pure): which courier platform to try next, and what each try
//! left behind. Every try is claimed on the order before the platform is called (a conditional
//! write on `version`), so two dispatchers never call the same platform for the same order at
//! once, and a try whose outcome was never recorded (a crash, a timeout) is settled first: the
//! platform is asked whether it created the waybill; a live one is adopted, otherwise the next
//! platform is tried. Only one waybill is ever kept; a platform that could not be settled is
//! named on the order for an operator.

use super::tracking::{CancelledBy, Event, Rider};
use crate::courier::DeliveryState;
use crate::delivery::{Platform, Route};
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};

/// A delivery the platform cancelled is dispatched again this many times (to a platform not
/// tried yet); after that it is given up (the fee returned, the member compensated).
pub const MAX_REDISPATCHES: usize = 1;

/// The waybill that carries the delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waybill {
    pub platform: Platform,
    /// The platform's id for it.
    pub waybill_id: String,
    pub created_at: BusinessTime,
    /// When the platform promised delivery (the first promise: lateness is measured from it).
    pub promised_at: BusinessTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_fen: Option<i64>,
    /// Where the delivery stands as the platform reported it (see `tracking`).
    #[serde(default, skip_serializing_if = "DeliveryState::is_dispatching")]
    pub state: DeliveryState,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// Every rider it had, the current one last (a reassignment adds one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub riders: Vec<Rider>,
    /// The platform reported an exception (a flag beside the state).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exception: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<CancelledBy>,
    /// When the platform says it was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<BusinessTime>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum TryOutcome {
    Created,
    /// The platform said no: nothing was created.
    Refused {
        reason: String,
    },
    /// The platform may have acted; asked again, it holds no live waybill (none, or cancelled).
    Withdrawn {
        reason: String,
    },
    /// It may have acted and could not be asked or told to cancel: an operator must check.
    Unsettled {
        reason: String,
    },
}

/// One platform tried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Try {
    pub platform: Platform,
    pub at: BusinessTime,
    /// Dada's per-delivery callback token (chosen before the call, so an adopted waybill keeps
    /// the URL it was created with).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// Wall-clock Unix ms when the try was claimed: how stale an open try is (business time
    /// may be a test's clock).
    #[serde(default)]
    pub opened_ms: i64,
    /// None while the call is in flight (or its caller crashed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<TryOutcome>,
}

impl Waybill {
    /// A waybill just created, waiting for a rider.
    pub fn new(
        platform: Platform,
        waybill_id: String,
        created_at: BusinessTime,
        promised_at: BusinessTime,
        fee_fen: Option<i64>,
    ) -> Self {
        Self {
            platform,
            waybill_id,
            created_at,
            promised_at,
            fee_fen,
            state: DeliveryState::Dispatching,
            events: Vec::new(),
            riders: Vec::new(),
            exception: false,
            cancelled_by: None,
            finished_at: None,
        }
    }
}

/// Where dispatching an order stands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispatch {
    /// Bumped by every change (the conditional writes compare it).
    pub version: u32,
    pub tries: Vec<Try>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waybill: Option<Waybill>,
    /// Every platform failed: flagged for the store, the fee returned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_at: Option<BusinessTime>,
    /// Waybills the platform cancelled (or let expire), oldest first: the delivery was
    /// dispatched again (once, `MAX_REDISPATCHES`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ended: Vec<Waybill>,
    /// What a move asked for and is not known to be sent yet (cleared once sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsent: Option<super::tracking::Effect>,
}

/// What the dispatcher does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// A waybill exists, or dispatching already failed for good.
    Done,
    /// The last try's outcome is unknown: ask that platform first.
    Settle(Platform),
    Try(Platform),
    /// No platform is left.
    GiveUp,
}

impl Dispatch {
    /// The next step for a delivery routed by `route`.
    pub fn next(&self, route: &Route) -> Step {
        if self.waybill.is_some() || self.failed_at.is_some() {
            return Step::Done;
        }
        if self.ended.len() > MAX_REDISPATCHES {
            return Step::GiveUp;
        }
        if let Some(last) = self.tries.last() {
            if last.outcome.is_none() {
                return Step::Settle(last.platform);
            }
        }
        let order = std::iter::once(route.platform).chain(route.fallbacks.iter().copied());
        let mut untried = order.filter(|p| !self.tries.iter().any(|t| t.platform == *p));
        untried.next().map_or(Step::GiveUp, Step::Try)
    }

    /// This dispatch with a try of `platform` begun at `at`.
    pub fn begin(
        &self,
        platform: Platform,
        at: BusinessTime,
        opened_ms: i64,
        token: Option<String>,
    ) -> Self {
        let mut next = self.clone();
        next.version += 1;
        next.tries.push(Try {
            platform,
            at,
            token,
            opened_ms,
            outcome: None,
        });
        next
    }

    /// This dispatch with the open try ended by `outcome` (and the waybill, when created).
    pub fn end(&self, outcome: TryOutcome, waybill: Option<Waybill>) -> Self {
        let mut next = self.clone();
        next.version += 1;
        if let Some(last) = next.tries.last_mut() {
            last.outcome = Some(outcome);
        }
        next.waybill = waybill.or(next.waybill);
        if next.waybill.is_some() && next.unsent == Some(super::tracking::Effect::Redispatch) {
            next.unsent = None;
        }
        next
    }

    /// This dispatch with its unsent effect sent.
    pub fn sent(&self) -> Self {
        let mut next = self.clone();
        next.version += 1;
        next.unsent = None;
        next
    }

    /// This dispatch given up at `at`.
    pub fn give_up(&self, at: BusinessTime) -> Self {
        let mut next = self.clone();
        next.version += 1;
        next.failed_at = Some(at);
        next.unsent = next.pending_effect();
        next
    }

    /// The open try's callback token.
    pub fn open_token(&self) -> Option<&str> {
        self.tries
            .last()
            .filter(|t| t.outcome.is_none())
            .and_then(|t| t.token.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::StoreId;

    fn route() -> Route {
        Route {
            store_id: StoreId::parse("sh-001").unwrap(),
            platform: Platform::Dada,
            fallbacks: vec![Platform::Meituan, Platform::SfSameCity],
            promised_minutes: 40,
            courier_fee_fen: 600,
            reasons: vec![],
        }
    }

    fn at(minute: i64) -> BusinessTime {
        BusinessTime::from_epoch_ms(1_795_536_000_000 + minute * 60_000).unwrap()
    }

    #[test]
    fn platforms_are_tried_in_route_order_and_an_open_try_is_settled_before_the_next() {
        let d = Dispatch::default();
        assert_eq!(d.next(&route()), Step::Try(Platform::Dada));
        let d = d.begin(Platform::Dada, at(0), 0, Some("tok".into()));
        assert_eq!(d.version, 1);
        assert_eq!(d.open_token(), Some("tok"));
        assert_eq!(
            d.next(&route()),
            Step::Settle(Platform::Dada),
            "in doubt: ask Dada first"
        );
        let d = d.end(
            TryOutcome::Withdrawn {
                reason: "none found".into(),
            },
            None,
        );
        assert_eq!(d.next(&route()), Step::Try(Platform::Meituan));
        let d = d.begin(Platform::Meituan, at(1), 0, None).end(
            TryOutcome::Refused {
                reason: "no riders".into(),
            },
            None,
        );
        assert_eq!(d.next(&route()), Step::Try(Platform::SfSameCity));
        let d = d.begin(Platform::SfSameCity, at(2), 0, None).end(
            TryOutcome::Refused {
                reason: "closed".into(),
            },
            None,
        );
        assert_eq!(d.next(&route()), Step::GiveUp);
        let d = d.give_up(at(3));
        assert_eq!((d.next(&route()), d.version), (Step::Done, 7));
    }

    #[test]
    fn a_waybill_ends_dispatching() {
        let waybill = Waybill::new(Platform::Dada, "w1".into(), at(0), at(40), Some(600));
        let d = Dispatch::default()
            .begin(Platform::Dada, at(0), 0, None)
            .end(TryOutcome::Created, Some(waybill.clone()));
        assert_eq!(d.next(&route()), Step::Done);
        assert_eq!(d.waybill, Some(waybill));
    }
}
