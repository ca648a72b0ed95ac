//! Following a delivery (pure): the platforms' status reports — a callback, or the answer to a
//! query — moving the order's waybill through the forward-only states of DESIGN §6, and what
//! each move asks for next (a redispatch, a compensation).
//!
//! - A report moves the waybill only to a higher rank: a repeat or a late report of an earlier
//!   state changes nothing, and the first terminal state wins (Delivered then Cancelled stays
//!   Delivered). Statuses may skip (Delivered straight after Accepted).
//! - A new rider at the same rank is a reassignment: recorded, the state unchanged.
//! - An exception report is a flag beside the state.
//! - A cancellation (or expiry) the merchant did not ask for ends the waybill and dispatches the
//!   delivery again (`MAX_REDISPATCHES`); Linli is the only merchant, and it never keeps a
//!   waybill it cancelled itself, so a cancelled current waybill was the platform's or its
//!   rider's doing unless the report says the merchant did it.
//! - Delivered after the first promise asks for a compensation, which re-queries the platform
//!   (`assess`) before granting anything: a Dada callback carries no secret.

use super::dispatch::{Dispatch, Waybill};
use crate::courier::{DeliveryState, Platform, Remote};
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelledBy {
    /// The platform, its rider or its customer service.
    Platform,
    /// The merchant (Linli, or the store in the platform's console).
    Merchant,
    /// The platform did not say: the delivery is dispatched again, but not compensated
    /// (compensation is for the platform's or its rider's doing only).
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rider {
    pub name: String,
    pub phone: String,
}

impl Rider {
    /// The phone as a member sees it: `138****0000`.
    pub fn masked_phone(&self) -> String {
        let chars: Vec<char> = self.phone.chars().collect();
        if chars.len() < 7 {
            return "*".repeat(chars.len());
        }
        let (head, tail) = (&chars[..3], &chars[chars.len() - 4..]);
        format!(
            "{}****{}",
            head.iter().collect::<String>(),
            tail.iter().collect::<String>()
        )
    }
}

/// One change recorded on a waybill.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub state: DeliveryState,
    /// The platform's own status code (`QUERIED`: learned by asking the platform).
    pub code: i64,
    /// When the platform says it happened.
    pub at: BusinessTime,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exception: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reassigned: bool,
}

/// The code of a report learned by querying the platform (its answers name no callback code).
pub const QUERIED: i64 = -1;

/// What a platform reported about the waybill it carries for an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    pub platform: Platform,
    pub state: DeliveryState,
    pub code: i64,
    pub at: BusinessTime,
    pub rider: Option<Rider>,
    pub exception: bool,
    /// Who cancelled, when the report says.
    pub cancelled_by: Option<CancelledBy>,
    /// `at` is the platform's own time for the change (false: only when Linli learned of it).
    pub timed: bool,
}

/// What a move asks for next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Dispatch the delivery again (the dispatcher tries the next platform, or gives up).
    Redispatch,
    /// Delivered after the first promise: ask compensation-grant.
    Compensate,
}

/// What a report does to an order's dispatch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tracked {
    /// The dispatch to store (version bumped) and what to do once it is stored.
    Moved {
        next: Dispatch,
        effect: Option<Effect>,
    },
    /// Nothing changes; `effect` is what the state already reached asks for (sent again, so a
    /// platform retrying a callback Linli failed to act on still gets it acted on).
    Unchanged {
        why: &'static str,
        effect: Option<Effect>,
    },
    /// The platform's waybill is not recorded yet (its create call is still being answered):
    /// the platform should try again.
    NotYet,
}

impl Dispatch {
    /// The first promise made to the member (lateness is measured from it, across redispatches).
    pub fn first_promise(&self) -> Option<BusinessTime> {
        self.ended
            .first()
            .or(self.waybill.as_ref())
            .map(|w| w.promised_at)
    }

    /// What `report` does to this dispatch.
    pub fn track(&self, report: &Report) -> Tracked {
        let Some(current) = self
            .waybill
            .as_ref()
            .filter(|w| w.platform == report.platform)
        else {
            return self.stray(report);
        };
        if !current.state.is_live() {
            return match report.state == current.state {
                true => Tracked::Unchanged {
                    why: "a repeat of the final state",
                    effect: self.pending_effect(),
                },
                false => Tracked::Unchanged {
                    why: "the first final state wins",
                    effect: None,
                },
            };
        }
        let mut waybill = current.clone();
        let moved = waybill.take(report);
        if !moved {
            return Tracked::Unchanged {
                why: "not ahead of the state reached",
                effect: None,
            };
        }
        let mut next = self.clone();
        next.version += 1;
        let ends = matches!(
            waybill.state,
            DeliveryState::Cancelled | DeliveryState::Expired | DeliveryState::CreateFailed
        ) && waybill.cancelled_by != Some(CancelledBy::Merchant);
        if ends {
            next.waybill = None;
            next.ended.push(waybill);
        } else {
            next.waybill = Some(waybill);
        }
        let effect = next.pending_effect();
        // Stored with the move and cleared once sent (an outbox: a crash between the two
        // leaves it for OverdueWaybills to send).
        next.unsent = effect;
        Tracked::Moved { next, effect }
    }

    /// A report about a waybill that is not the current one.
    fn stray(&self, report: &Report) -> Tracked {
        let open = self
            .tries
            .last()
            .is_some_and(|t| t.platform == report.platform && t.outcome.is_none());
        if open {
            return Tracked::NotYet;
        }
        match self
            .ended
            .iter()
            .rev()
            .find(|w| w.platform == report.platform)
        {
            // The platform repeats the report that ended it: what that asked is asked again.
            Some(ended) => Tracked::Unchanged {
                why: "a waybill that already ended (the delivery was dispatched again)",
                effect: (ended.state == report.state)
                    .then(|| self.pending_effect())
                    .flatten(),
            },
            None => Tracked::Unchanged {
                why: "no waybill on this platform",
                effect: None,
            },
        }
    }

    /// What the state reached asks for: a redispatch while a platform's cancellation is not
    /// answered yet, a compensation once delivered late or given up after a cancellation.
    pub fn pending_effect(&self) -> Option<Effect> {
        if let Some(waybill) = &self.waybill {
            let promise = self.first_promise()?;
            let late = waybill.finished_at.is_some_and(|done| done > promise);
            return (waybill.state == DeliveryState::Delivered && late)
                .then_some(Effect::Compensate);
        }
        if self.ended.is_empty() {
            return None;
        }
        match self.failed_at {
            Some(_) => Some(Effect::Compensate),
            None => Some(Effect::Redispatch),
        }
    }

    /// The waybill to re-query before compensating: the current one, else the last ended.
    pub fn last_waybill(&self) -> Option<&Waybill> {
        self.waybill.as_ref().or(self.ended.last())
    }
}

impl Report {
    /// What a platform's answer to a query (at `now`) reports.
    pub fn queried(platform: Platform, remote: &Remote, now: BusinessTime) -> Self {
        let at = remote
            .finished_at
            .and_then(|s| BusinessTime::from_epoch_ms(s.saturating_mul(1000)).ok())
            .unwrap_or(now);
        Self {
            platform,
            state: remote.state,
            code: QUERIED,
            at,
            rider: remote.rider_name.clone().map(|name| Rider {
                name,
                phone: remote.rider_phone.clone().unwrap_or_default(),
            }),
            exception: false,
            cancelled_by: None,
            timed: remote.finished_at.is_some(),
        }
    }
}

impl Waybill {
    /// Takes `report` in; true when anything changed.
    fn take(&mut self, report: &Report) -> bool {
        let event = |reassigned| Event {
            state: report.state,
            code: report.code,
            at: report.at,
            exception: report.exception,
            reassigned,
        };
        if report.state.rank() > self.state.rank() {
            self.state = report.state;
            self.events.push(event(false));
            self.note_rider(report);
            match report.state {
                DeliveryState::Delivered => self.finished_at = report.timed.then_some(report.at),
                DeliveryState::Cancelled | DeliveryState::Expired | DeliveryState::CreateFailed => {
                    self.cancelled_by = Some(report.cancelled_by.unwrap_or(CancelledBy::Unknown));
                }
                _ => {}
            }
            self.exception |= report.exception;
            return true;
        }
        // A report older than the last one recorded says nothing new about the rider.
        let stale = self.events.last().is_some_and(|e| report.at < e.at);
        let same_rank = report.state.rank() == self.state.rank();
        if same_rank && !stale && self.note_rider(report) {
            self.events.push(event(true));
            self.exception |= report.exception;
            return true;
        }
        if report.exception && !self.exception {
            self.exception = true;
            self.events.push(event(false));
            return true;
        }
        false
    }

    /// Records the report's rider when it is a new one; true when it was.
    fn note_rider(&mut self, report: &Report) -> bool {
        let Some(rider) = &report.rider else {
            return false;
        };
        // A report without the phone (some queries) names the same rider by name alone.
        let same = self.riders.last().is_some_and(|last| {
            last.name == rider.name
                && (last.phone == rider.phone || last.phone.is_empty() || rider.phone.is_empty())
        });
        if same {
            return false;
        }
        self.riders.push(rider.clone());
        true
    }
}

/// What a re-query says is owed for a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assessment {
    Owed(crate::rules::compensation::Shortfall),
    Nothing(&'static str),
    /// Linli recorded an end the platform does not show yet: ask again later.
    NotYet(&'static str),
    /// The platform's answer cannot be priced: an operator must look.
    Unclear(&'static str),
}

/// What the platform's own answer (`remote`, about `dispatch.last_waybill()`) says is owed.
/// Lateness is measured from the first promise to the platform's finish time (the callback's
/// when the query gives none).
pub fn assess(dispatch: &Dispatch, remote: &Remote) -> Assessment {
    use crate::rules::compensation::Shortfall;
    let Some(waybill) = dispatch.last_waybill() else {
        return Assessment::Nothing("no waybill");
    };
    let Some(promise) = dispatch.first_promise() else {
        return Assessment::Nothing("no promise");
    };
    match remote.state {
        DeliveryState::Delivered => {
            let finished = remote
                .finished_at
                .and_then(|s| BusinessTime::from_epoch_ms(s.saturating_mul(1000)).ok())
                .or(waybill.finished_at);
            let Some(finished) = finished else {
                return Assessment::Unclear("delivered, but the platform gives no finish time");
            };
            let minutes = (finished.epoch_ms() - promise.epoch_ms()).div_euclid(60_000);
            Assessment::Owed(Shortfall::Late { minutes })
        }
        DeliveryState::Cancelled | DeliveryState::Expired | DeliveryState::CreateFailed => {
            match waybill.cancelled_by {
                Some(CancelledBy::Merchant) => Assessment::Nothing("cancelled by the merchant"),
                Some(CancelledBy::Unknown) | None => {
                    Assessment::Nothing("the platform did not say who cancelled")
                }
                Some(CancelledBy::Platform) if dispatch.failed_at.is_none() => {
                    Assessment::Nothing("dispatched again: the delivery is not over")
                }
                Some(CancelledBy::Platform) => Assessment::Owed(Shortfall::CancelledByPlatform),
            }
        }
        DeliveryState::Returned => Assessment::Nothing("returned to the store"),
        // Linli recorded an end (a callback) the platform's records do not show yet: a lag, or
        // a forged callback. Asked again; if it never shows, an operator looks (the DLQ).
        _ if !waybill.state.is_live() => {
            Assessment::NotYet("Linli recorded an end the platform does not show")
        }
        _ => Assessment::Nothing("the platform says it is still under way"),
    }
}

#[cfg(test)]
mod tests;
