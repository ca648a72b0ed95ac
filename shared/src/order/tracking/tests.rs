use super::*;
use crate::order::{TryOutcome, MAX_REDISPATCHES};
use crate::rules::compensation::Shortfall;
use proptest::prelude::*;
use DeliveryState::*;

fn at(minutes: i64) -> BusinessTime {
    BusinessTime::parse_rfc3339("2026-12-04T10:00:00+08:00")
        .unwrap()
        .plus_ms(minutes * 60_000)
}

/// A dispatch with a Dada waybill created at 0, promised at 40.
fn dispatched(platform: Platform) -> Dispatch {
    Dispatch::default().begin(platform, at(0), 0, None).end(
        TryOutcome::Created,
        Some(Waybill::new(platform, "w1".into(), at(0), at(40), None)),
    )
}

fn report(state: DeliveryState, minute: i64) -> Report {
    Report {
        platform: Platform::Dada,
        state,
        code: 0,
        at: at(minute),
        rider: Some(Rider {
            name: "骑手".into(),
            phone: "13800001234".into(),
        }),
        exception: false,
        cancelled_by: None,
        timed: true,
    }
}

fn cancelled_by_platform(minute: i64) -> Report {
    Report {
        cancelled_by: Some(CancelledBy::Platform),
        ..report(Cancelled, minute)
    }
}

fn moved(d: &Dispatch, r: &Report) -> (Dispatch, Option<Effect>) {
    match d.track(r) {
        Tracked::Moved { next, effect } => (next, effect),
        other => panic!("expected a move, got {other:?}"),
    }
}

fn remote(state: DeliveryState, finished_minute: Option<i64>) -> Remote {
    Remote {
        waybill_id: "w1".into(),
        state,
        rider_name: None,
        rider_phone: None,
        finished_at: finished_minute.map(|m| at(m).epoch_ms() / 1000),
    }
}

#[test]
fn states_move_forward_and_a_late_delivery_asks_for_compensation() {
    let d = dispatched(Platform::Dada);
    let (d, effect) = moved(&d, &report(Accepted, 5));
    assert_eq!(effect, None);
    let (d, effect) = moved(&d, &report(Delivered, 65));
    assert_eq!(
        effect,
        Some(Effect::Compensate),
        "25 minutes after the promise"
    );
    let waybill = d.waybill.as_ref().unwrap();
    assert_eq!(
        (waybill.state, waybill.finished_at),
        (Delivered, Some(at(65)))
    );
    assert_eq!(waybill.events.len(), 2);
    // The platform repeats it (Linli's answer was lost): the compensation is asked again.
    assert_eq!(
        d.track(&report(Delivered, 65)),
        Tracked::Unchanged {
            why: "a repeat of the final state",
            effect: Some(Effect::Compensate)
        }
    );
    assert!(matches!(
        d.track(&report(Cancelled, 70)),
        Tracked::Unchanged {
            why: "the first final state wins",
            ..
        }
    ));
    assert!(matches!(
        d.track(&report(PickedUp, 50)),
        Tracked::Unchanged { effect: None, .. }
    ));
}

#[test]
fn delivered_before_picked_up_ends_delivered_and_on_time_asks_nothing() {
    let d = dispatched(Platform::Dada);
    let (d, effect) = moved(&d, &report(Delivered, 30));
    assert_eq!(effect, None);
    assert!(matches!(
        d.track(&report(PickedUp, 20)),
        Tracked::Unchanged { .. }
    ));
    assert_eq!(d.waybill.unwrap().state, Delivered);
}

#[test]
fn a_new_rider_at_the_same_state_is_a_reassignment_and_exceptions_are_flags() {
    let d = dispatched(Platform::Dada);
    let (d, _) = moved(&d, &report(Accepted, 5));
    let mut other = report(Accepted, 8);
    other.rider = Some(Rider {
        name: "另一位".into(),
        phone: "13900005678".into(),
    });
    let (d, _) = moved(&d, &other);
    let waybill = d.waybill.clone().unwrap();
    assert_eq!(waybill.riders.len(), 2);
    assert!(waybill.events.last().unwrap().reassigned);
    assert_eq!(waybill.state, Accepted);
    let mut exception = report(Dispatching, 9);
    exception.exception = true;
    let (d, _) = moved(&d, &exception);
    assert!(d.waybill.as_ref().unwrap().exception);
    assert!(matches!(d.track(&exception), Tracked::Unchanged { .. }));
    assert_eq!(
        waybill.riders[1].masked_phone(),
        "139****5678",
        "members see a masked phone"
    );
}

#[test]
fn a_platform_cancellation_redispatches_once_then_gives_up_and_compensates() {
    let d = dispatched(Platform::Dada);
    let (d, effect) = moved(&d, &cancelled_by_platform(10));
    assert_eq!(effect, Some(Effect::Redispatch));
    assert_eq!((d.waybill.is_none(), d.ended.len()), (true, 1));
    assert_eq!(d.unsent, Some(Effect::Redispatch), "stored with the move");
    assert_eq!(d.sent().unsent, None);
    // A late report about the ended waybill changes nothing.
    assert!(matches!(
        d.track(&report(Accepted, 11)),
        Tracked::Unchanged { .. }
    ));
    // Redispatched to SF; it too is cancelled: no third platform, the dispatcher gives up.
    let d = d.begin(Platform::SfSameCity, at(12), 0, None).end(
        TryOutcome::Created,
        Some(Waybill::new(
            Platform::SfSameCity,
            "s1".into(),
            at(12),
            at(52),
            None,
        )),
    );
    assert_eq!(d.unsent, None, "the new waybill answers the redispatch");
    assert_eq!(d.first_promise(), Some(at(40)), "the first promise stays");
    let mut sf = cancelled_by_platform(20);
    sf.platform = Platform::SfSameCity;
    let (d, _) = moved(&d, &sf);
    assert_eq!(d.ended.len(), MAX_REDISPATCHES + 1);
    let route = crate::delivery::Route {
        store_id: crate::ids::StoreId::parse("sh-001").unwrap(),
        platform: Platform::Dada,
        fallbacks: vec![Platform::SfSameCity, Platform::Meituan],
        promised_minutes: 40,
        courier_fee_fen: 600,
        reasons: vec![],
    };
    assert_eq!(d.next(&route), crate::order::Step::GiveUp);
    assert_eq!(
        assess(&d, &remote(Cancelled, None)),
        Assessment::Nothing("dispatched again: the delivery is not over")
    );
    let d = d.give_up(at(21));
    assert_eq!(d.pending_effect(), Some(Effect::Compensate));
    assert_eq!(
        d.unsent,
        Some(Effect::Compensate),
        "the give-up's compensation is stored"
    );
    assert_eq!(
        assess(&d, &remote(Cancelled, None)),
        Assessment::Owed(Shortfall::CancelledByPlatform)
    );
}

#[test]
fn a_merchant_cancellation_is_kept_and_asks_nothing() {
    let d = dispatched(Platform::Dada);
    let mut r = report(Cancelled, 10);
    r.cancelled_by = Some(CancelledBy::Merchant);
    let (d, effect) = moved(&d, &r);
    assert_eq!(effect, None);
    assert!(d.ended.is_empty());
    assert_eq!(
        assess(&d, &remote(Cancelled, None)),
        Assessment::Nothing("cancelled by the merchant")
    );
}

#[test]
fn reports_before_the_waybill_is_recorded_are_asked_again() {
    let open = Dispatch::default().begin(Platform::Dada, at(0), 0, None);
    assert_eq!(open.track(&report(Accepted, 1)), Tracked::NotYet);
    assert!(matches!(
        dispatched(Platform::Meituan).track(&report(Accepted, 1)),
        Tracked::Unchanged {
            why: "no waybill on this platform",
            ..
        }
    ));
}

#[test]
fn the_requery_decides_lateness_from_the_first_promise() {
    let d = dispatched(Platform::Dada);
    let (d, _) = moved(&d, &report(Delivered, 65));
    assert_eq!(
        assess(&d, &remote(Delivered, Some(52))),
        Assessment::Owed(Shortfall::Late { minutes: 12 }),
        "the platform's finish time wins over the callback's"
    );
    assert_eq!(
        assess(&d, &remote(Delivered, None)),
        Assessment::Owed(Shortfall::Late { minutes: 25 })
    );
    assert_eq!(
        assess(&d, &remote(PickedUp, None)),
        Assessment::NotYet("Linli recorded an end the platform does not show"),
        "a forged (or early) Delivered is not believed: asked again later"
    );
}

#[test]
fn an_unknown_canceller_redispatches_without_compensation_and_a_query_has_no_finish_time() {
    let d = dispatched(Platform::Dada);
    let (d, effect) = moved(&d, &report(Cancelled, 10));
    assert_eq!(effect, Some(Effect::Redispatch));
    let d = d.give_up(at(11));
    assert_eq!(
        assess(&d, &remote(Cancelled, None)),
        Assessment::Nothing("the platform did not say who cancelled")
    );
    // A query that finds it delivered without saying when: no lateness is made up.
    let queried = Report::queried(Platform::Dada, &remote(Delivered, None), at(300));
    let (d, _) = moved(&dispatched(Platform::Dada), &queried);
    assert_eq!(d.waybill.as_ref().unwrap().finished_at, None);
    assert!(matches!(
        assess(&d, &remote(Delivered, None)),
        Assessment::Unclear(_)
    ));
}

#[test]
fn an_older_report_does_not_bring_back_an_earlier_rider() {
    let d = dispatched(Platform::Dada);
    let (d, _) = moved(&d, &report(Accepted, 5));
    let mut second = report(Accepted, 8);
    second.rider = Some(Rider {
        name: "另一位".into(),
        phone: "13900005678".into(),
    });
    let (d, _) = moved(&d, &second);
    // The first rider's report, delivered late, and the second's without a phone.
    assert!(matches!(
        d.track(&report(Accepted, 6)),
        Tracked::Unchanged { .. }
    ));
    let mut no_phone = second.clone();
    no_phone.rider = Some(Rider {
        name: "另一位".into(),
        phone: String::new(),
    });
    no_phone.at = at(9);
    assert!(matches!(d.track(&no_phone), Tracked::Unchanged { .. }));
    assert_eq!(d.waybill.unwrap().riders.len(), 2);
}

fn state_strategy() -> impl Strategy<Value = DeliveryState> {
    prop_oneof![
        Just(Accepted),
        Just(ArrivedAtStore),
        Just(PickedUp),
        Just(Delivered),
        Just(Cancelled),
    ]
}

proptest! {
    /// Shuffled, duplicated callback streams: the waybill ends in the state the rank rule says
    /// (the first report of the highest rank reached, the first terminal winning), and at most
    /// one compensation is asked per move into a final state.
    #[test]
    fn shuffled_and_duplicated_streams_follow_the_rank_rule(
        stream in proptest::collection::vec((state_strategy(), 0i64..120), 1..30)
    ) {
        let mut d = dispatched(Platform::Dada);
        let mut expected = Dispatching;
        let mut compensations = 0;
        for (state, minute) in &stream {
            if state.rank() > expected.rank() {
                expected = *state;
            }
            if let Tracked::Moved { next, effect } = d.track(&report(*state, *minute)) {
                if effect == Some(Effect::Compensate) {
                    compensations += 1;
                }
                d = next;
            }
        }
        let final_state = d.waybill.as_ref().map_or(Cancelled, |w| w.state);
        prop_assert_eq!(final_state, expected);
        prop_assert!(compensations <= 1);
        let ranks: Vec<u8> = d
            .last_waybill()
            .unwrap()
            .events
            .iter()
            .map(|e| e.state.rank())
            .collect();
        prop_assert!(ranks.windows(2).all(|w| w[0] <= w[1]), "{:?}", ranks);
    }
}
