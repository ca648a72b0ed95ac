//! `compensation-grant`: the consumer of `compensations` (DESIGN §2). Each message names a
//! delivery that ended late or was cancelled by the platform (`comp:order:<id>`, sent by
//! courier-webhook, courier-dispatch or housekeeping); the member is granted goodwill points
//! once (seed 000: 应急配送的积分关怀):
//!
//! 1. The platform is asked about the waybill first and its answer is what counts (a Dada
//!    callback has no secret; a forged or mistaken Delivered grants nothing): lateness is the
//!    platform's finish time minus the first promise, whole minutes (`order::assess`).
//! 2. The policy (delivery rules' `compensation`: half-open lateness bands, the cancellation
//!    grant) prices it; nothing under 10 minutes.
//! 3. The grant is the posting `comp:order:<id>` with the member's day and month totals raised
//!    in the same transaction, each only within its cap (`store::compensations`): one grant per
//!    order, whatever the number of messages or redispatches.
//! 4. The member is told through a subscribe message when a consent is left for the
//!    compensation template (once, `REMINDED#comp:<order>`); a notification that fails is
//!    logged and neither blocks nor repeats the grant.
//!
//! When Linli recorded an end the platform's records do not show yet (a lag, or a forged
//! callback), the message is retried; a platform that does not answer is asked again. On the
//! fifth receive it goes to the DLQ with the reason, as do an unreadable message, an unknown
//! order or delivery, a platform that refuses the query and a delivery whose finish time the
//! platform does not give: an operator decides.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::LambdaEvent;
use linli::courier::client::Couriers;
use linli::courier::CourierError;
use linli::ids::{MemberId, OrderId, PostingId};
use linli::notice::{self, Notice, Notified};
use linli::order::{assess, Assessment};
use linli::queue::batch::{dead_letter, lift, Outcome, Received};
use linli::queue::{Envelope, Message, Publisher};
use linli::rules::compensation::Shortfall;
use linli::rules::reminders::ReminderTemplates;
use linli::store::compensations::{grant, Granted};
use linli::store::delivery_rules::DeliveryRulesStore;
use linli::store::ledger::DynamoLedger;
use linli::store::orders::OrderStore;
use linli::store::reminders::ReminderStore;
use linli::time::BusinessTime;
use linli::wechat::subscribe::Messenger;
use std::collections::BTreeMap;

/// The queue's maxReceiveCount: a message failing this many times goes to the DLQ.
const LAST_RECEIVE: u32 = 5;

pub struct App<O, R, N, M> {
    pub orders: O,
    pub ledger: DynamoLedger,
    /// The delivery rules (the compensation policy).
    pub rules: R,
    /// Consents and the once-only claim of the notification.
    pub reminders: N,
    pub messenger: M,
    pub templates: ReminderTemplates,
    pub couriers: Couriers,
    /// The publisher and the DLQ's URL (None in tests: dead-lettering is then a retry).
    pub dead_letters: Option<(Publisher, String)>,
}

pub async fn handle<O, R, N, M>(
    app: &App<O, R, N, M>,
    event: LambdaEvent<SqsEvent>,
) -> SqsBatchResponse
where
    O: OrderStore + Sync,
    R: DeliveryRulesStore + Sync,
    N: ReminderStore + Sync,
    M: Messenger,
{
    let messages: Vec<Received> = event
        .payload
        .records
        .into_iter()
        .map(|r| Received {
            message_id: r.message_id.unwrap_or_default(),
            group: None,
            receive_count: r
                .attributes
                .get("ApproximateReceiveCount")
                .and_then(|c| c.parse().ok())
                .unwrap_or(1),
            body: r.body.unwrap_or_default(),
        })
        .collect();
    let failed = lift(&messages, async |m: &Received| one(app, m).await).await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

async fn one<O, R, N, M>(app: &App<O, R, N, M>, message: &Received) -> Outcome
where
    O: OrderStore + Sync,
    R: DeliveryRulesStore + Sync,
    N: ReminderStore + Sync,
    M: Messenger,
{
    let envelope = match Envelope::from_json(&message.body) {
        Ok(envelope) => envelope,
        Err(e) => {
            return dead_letter(
                app.dead_letters.as_ref(),
                message,
                &format!("unreadable envelope: {e}"),
                "compensate",
            )
            .await
        }
    };
    let Message::Compensate { order_id } = &envelope.message else {
        return dead_letter(
            app.dead_letters.as_ref(),
            message,
            "not a compensation: this queue takes those only",
            "compensate",
        )
        .await;
    };
    match compensate(app, order_id, envelope.at).await {
        Ok(()) => Outcome::Done,
        Err(Failure::Permanent(reason)) => {
            dead_letter(app.dead_letters.as_ref(), message, &reason, "compensate").await
        }
        // The last receive before SQS would redrive it: to the DLQ with the reason instead.
        Err(Failure::Transient(reason)) if message.receive_count >= LAST_RECEIVE => {
            let reason = format!("{reason} (still after {LAST_RECEIVE} tries)");
            dead_letter(app.dead_letters.as_ref(), message, &reason, "compensate").await
        }
        Err(Failure::Transient(reason)) => Outcome::Retry(format!("order {order_id}: {reason}")),
    }
}

enum Failure {
    Permanent(String),
    Transient(String),
}

fn transient(e: impl std::fmt::Display) -> Failure {
    Failure::Transient(e.to_string())
}

async fn compensate<O, R, N, M>(
    app: &App<O, R, N, M>,
    id: &OrderId,
    at: BusinessTime,
) -> Result<(), Failure>
where
    O: OrderStore + Sync,
    R: DeliveryRulesStore + Sync,
    N: ReminderStore + Sync,
    M: Messenger,
{
    let Some((member, shortfall)) = owed(app, id, at).await? else {
        return Ok(());
    };
    let policy = app
        .rules
        .delivery_rules()
        .await
        .map_err(transient)?
        .rules
        .compensation;
    let points = policy.points(shortfall);
    if points == 0 {
        tracing::info!(order_id = %id, ?shortfall, "under the first band: no compensation");
        return Ok(());
    }
    let (member, _) = linli::store::ledger::owner(&app.ledger, &member)
        .await
        .map_err(transient)?;
    let posting = PostingId::comp_order(id);
    let why = reason(shortfall);
    let granted = grant(&app.ledger, &member, &posting, points, &policy, at, &why)
        .await
        .map_err(transient)?;
    match granted {
        Granted::Posted { points } => {
            tracing::info!(order_id = %id, member = %member.masked(), points, ?shortfall, "compensation granted");
            notify(app, &member, id, points, &why, at).await;
        }
        Granted::Already { points } => {
            tracing::info!(order_id = %id, points, "compensated before: nothing more");
            // The notification may be what was left undone.
            notify(app, &member, id, points, &why, at).await;
        }
        Granted::AtCap { today, this_month } => {
            tracing::info!(order_id = %id, member = %member.masked(), today, this_month, "member at the compensation cap: nothing granted")
        }
    }
    Ok(())
}

/// Whom the delivery of order `id` owes what, by the platform's own answer (None: nothing).
async fn owed<O: OrderStore + Sync, R, N, M>(
    app: &App<O, R, N, M>,
    id: &OrderId,
    at: BusinessTime,
) -> Result<Option<(MemberId, Shortfall)>, Failure> {
    let order = app
        .orders
        .get(id)
        .await
        .map_err(transient)?
        .ok_or_else(|| Failure::Permanent(format!("no order {id}")))?;
    let Some(dispatch) = order.dispatch.as_ref() else {
        return Err(Failure::Permanent(format!(
            "order {id} has no dispatched delivery"
        )));
    };
    let Some(waybill) = dispatch.last_waybill() else {
        return Err(Failure::Permanent(format!("order {id} has no waybill")));
    };
    let seconds = linli::time::wall_ms().max(at.epoch_ms()) / 1000;
    let remote = match app
        .couriers
        .query(waybill.platform, id.as_str(), seconds)
        .await
    {
        Ok(remote) => remote,
        Err(e @ (CourierError::Refused { .. } | CourierError::NotConfigured(_))) => {
            return Err(Failure::Permanent(format!(
                "the platform cannot be asked: {e}"
            )))
        }
        Err(e) => {
            let why = format!("the platform's answer is needed first: {e}");
            return Err(Failure::Transient(why));
        }
    };
    match assess(dispatch, &remote) {
        Assessment::Owed(shortfall) => Ok(Some((order.member.clone(), shortfall))),
        Assessment::Nothing(why) => {
            tracing::info!(order_id = %id, platform = ?waybill.platform, state = ?remote.state, why, "no compensation");
            Ok(None)
        }
        Assessment::NotYet(why) => Err(Failure::Transient(format!(
            "{why} (it reports {:?}; Linli recorded {:?})",
            remote.state, waybill.state
        ))),
        Assessment::Unclear(why) => Err(Failure::Permanent(why.to_owned())),
    }
}

/// What the member reads about it.
fn reason(shortfall: Shortfall) -> String {
    match shortfall {
        Shortfall::Late { minutes } => format!("配送迟到 {minutes} 分钟"),
        Shortfall::CancelledByPlatform => "配送被取消".to_owned(),
    }
}

/// Tells the member, once, if they left a consent for it; failures are only logged.
async fn notify<O, R, N: ReminderStore + Sync, M: Messenger>(
    app: &App<O, R, N, M>,
    member: &MemberId,
    id: &OrderId,
    points: i64,
    why: &str,
    at: BusinessTime,
) {
    let notice = Notice {
        member,
        template: &app.templates.compensation,
        cause: format!("comp:{id}"),
        page: format!("pages/orders/detail?id={id}"),
        data: BTreeMap::from([
            ("thing1".to_owned(), why.to_owned()),
            ("number2".to_owned(), points.to_string()),
            ("character_string3".to_owned(), id.to_string()),
        ]),
        at,
    };
    match notice::once(&app.reminders, &app.messenger, notice).await {
        Notified::Sent => tracing::info!(order_id = %id, "compensation notified"),
        Notified::Failed(e) => {
            tracing::warn!(order_id = %id, error = %e, "compensation notification failed (the grant stands)")
        }
        other => tracing::info!(order_id = %id, outcome = ?other, "no compensation notification"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_event_is_a_compensation_envelope() {
        let event: SqsEvent = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/compensation-grant/late-delivery.json"
        )))
        .unwrap();
        let body = event.records[0].body.clone().unwrap();
        let envelope = Envelope::from_json(&body).unwrap();
        assert!(matches!(envelope.message, Message::Compensate { .. }));
        assert_eq!(envelope.id, "comp:order:01KAV2Z0X0SAMPLE0RDER00001");
    }

    #[test]
    fn members_read_why_they_were_compensated() {
        assert_eq!(reason(Shortfall::Late { minutes: 25 }), "配送迟到 25 分钟");
        assert_eq!(reason(Shortfall::CancelledByPlatform), "配送被取消");
    }
}
