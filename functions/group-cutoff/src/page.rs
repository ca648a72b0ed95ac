//! One page of a round's paid orders, decided at its cutoff: each order's lines confirmed or
//! refunded by the round's final counts, its confirmed lines' points sent, its fates recorded
//! once. Safe to repeat: a decided order is skipped, a refund under its fixed id is asked once,
//! the posting has a fixed id.

use crate::App;
use futures_util::stream::{self, StreamExt};
use linli::groupbuy::cutoff::{decide, fate, line_refund_id, LineFate, SkuOutcome};
use linli::groupbuy::{Handover, Round};
use linli::ids::{MemberId, OrderId, PostingId, RefundId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::Fen;
use linli::notice::{self, Notice, Notified};
use linli::order::{Order, Refund};
use linli::queue::{Envelope, Message};
use linli::refunding::{self, Owed};
use linli::rules::base_earn;
use linli::store::orders::OrderStore;
use linli::store::refunds::RefundStore;
use linli::store::rounds::LineItem;
use linli::time::BusinessTime;
use std::collections::BTreeMap;

type Failure = Box<dyn std::error::Error + Send + Sync>;

pub async fn settle<O: OrderStore + RefundStore + Sync>(
    app: &App<O>,
    body: &str,
) -> Result<(), Failure> {
    let envelope = Envelope::from_json(body)?;
    let Message::CutoffPage { round_id, orders } = &envelope.message else {
        tracing::error!(id = %envelope.id, "not a cutoff page: dropped to the DLQ by redrive");
        return Err("not a cutoff page".into());
    };
    let round = app
        .rounds
        .get(round_id)
        .await?
        .ok_or_else(|| format!("no round {round_id}"))?;
    let outcomes = decide(&round, &app.rounds.joined(round_id).await?);
    // Orders are independent (each safe to repeat): several at once, as a refund is a slow
    // HTTP call. Every order is tried; the page fails (and is retried) if any did.
    let settled: Vec<Result<(), Failure>> = stream::iter(orders)
        .map(|order| settle_order(app, &round, &outcomes, order, envelope.at))
        .buffer_unordered(ORDERS_AT_ONCE)
        .collect()
        .await;
    settled.into_iter().collect()
}

/// Orders of a page decided at the same time.
const ORDERS_AT_ONCE: usize = 8;

async fn settle_order<O: OrderStore + RefundStore + Sync>(
    app: &App<O>,
    round: &Round,
    outcomes: &[SkuOutcome],
    order: &OrderId,
    at: BusinessTime,
) -> Result<(), Failure> {
    let Some(item) = app.rounds.line(&round.round_id, order).await? else {
        tracing::error!(order_id = %order, round = %round.round_id, "a page names an order the round has no line for");
        return Ok(());
    };
    match (&item.fates, item.cancelled_at) {
        (Some(_), _) => Ok(()),
        (None, Some(_)) => settle_cancelled(app, round, order, &item, at).await,
        (None, None) => decide_order(app, round, outcomes, order, &item, at).await,
    }
}

/// One order: refunds for its lines that do not go ahead, points for those that do, then the
/// fates recorded.
async fn decide_order<O: OrderStore + RefundStore + Sync>(
    app: &App<O>,
    round: &Round,
    outcomes: &[SkuOutcome],
    order_id: &OrderId,
    item: &LineItem,
    at: BusinessTime,
) -> Result<(), Failure> {
    let fates: Vec<LineFate> = item.lines.iter().map(|l| fate(outcomes, &l.sku)).collect();
    let amount = |wanted: LineFate| -> i64 {
        let lines = item.lines.iter().zip(&fates);
        lines
            .filter(|(_, f)| **f == wanted)
            .map(|(l, _)| l.amount_fen)
            .sum()
    };
    let (confirmed, refunded) = (amount(LineFate::Confirmed), amount(LineFate::Refunded));
    // The order (its payment) is read only when something goes back.
    if refunded > 0 {
        let order = app
            .orders
            .get(order_id)
            .await?
            .ok_or_else(|| format!("no order {order_id}"))?;
        for (i, (line, fate)) in item.lines.iter().zip(&fates).enumerate() {
            if *fate != LineFate::Refunded {
                continue;
            }
            let id = RefundId::parse(&line_refund_id(order_id, i))?;
            let reason = format!("{} 未成团，款项原路退回", line.name);
            let asked = Refund::group_buy(&order, id, Fen::new(line.amount_fen), &reason, at);
            refund(app, &order, asked, at).await?;
        }
    }
    let points = base_earn(Fen::new(confirmed));
    if points.is_positive() {
        let posting = PostingRequest::new(
            PostingId::earn_round(&round.round_id, order_id),
            item.member.clone(),
            at,
            vec![Op::Earn {
                source: Source::Round,
                points,
            }],
        );
        app.publisher
            .send(&app.settings.points_queue, &Envelope::posting(posting))
            .await?;
    }
    // Before the fates: a retried page tells the member again, and the notice's claim keeps it
    // to one message; after them, a crash in between would lose it.
    notify(
        app,
        round,
        order_id,
        &item.member,
        (confirmed, refunded),
        at,
    )
    .await;
    // Stopped here, the order's refunds are asked, its points sent and its notice claimed, but
    // its fates are not recorded: the retried page must do none of them twice.
    app.faults
        .trip(&format!("cutoff-page-{}", round.round_id))?;
    app.rounds
        .set_fates(&round.round_id, order_id, &fates)
        .await?;
    tracing::info!(order_id = %order_id, round = %round.round_id, confirmed_fen = confirmed, points = points.value(), "order decided at the cutoff");
    Ok(())
}

/// Tells the member how the round went for their order (once per order, with consent);
/// failures are only logged — the decision stands.
async fn notify<O>(
    app: &App<O>,
    round: &Round,
    order_id: &OrderId,
    member: &MemberId,
    (confirmed_fen, refunded_fen): (i64, i64),
    at: BusinessTime,
) {
    // Subscribe-message values: `thing` at most 20 characters, `phrase` at most 5.
    let thing = |text: &str| text.chars().take(20).collect::<String>();
    let (outcome, next) = match (confirmed_fen > 0, refunded_fen > 0) {
        (true, false) => ("成团成功", "按时提货"),
        (true, true) => ("部分成团", "未成团商品退款已发起"),
        _ => ("未成团", "全部款项退款已发起"),
    };
    let handover = match round.handover {
        Handover::Pickup => format!("{} 到店自提", round.fulfil_on.format("%m-%d")),
        Handover::Delivery => format!("{} 送货上门", round.fulfil_on.format("%m-%d")),
    };
    let notice = Notice {
        member,
        template: &app.templates.group_buy,
        cause: format!("group:{}:{order_id}", round.round_id),
        page: format!("pages/orders/detail?id={order_id}"),
        data: BTreeMap::from([
            ("thing1".to_owned(), thing(&round.title)),
            ("phrase2".to_owned(), outcome.to_owned()),
            ("amount3".to_owned(), Fen::new(confirmed_fen).yuan()),
            ("amount4".to_owned(), Fen::new(refunded_fen).yuan()),
            (
                "thing5".to_owned(),
                thing(if confirmed_fen > 0 { &handover } else { next }),
            ),
            ("thing6".to_owned(), thing(next)),
        ]),
        at,
    };
    match notice::once(&app.reminders, &app.messenger, notice).await {
        Notified::Failed(e) => {
            tracing::warn!(order_id = %order_id, error = %e, "group-buy outcome not notified (the decision stands)")
        }
        outcome => {
            tracing::info!(order_id = %order_id, outcome = ?outcome, "group-buy outcome notice")
        }
    }
}

/// A join the member cancelled before the cutoff whose refund was not seen through (the member
/// API stopped between taking it out of the round and the refund): the whole payment refunded
/// under its fixed id, then its fates recorded.
async fn settle_cancelled<O: OrderStore + RefundStore + Sync>(
    app: &App<O>,
    round: &Round,
    order_id: &OrderId,
    item: &LineItem,
    at: BusinessTime,
) -> Result<(), Failure> {
    let order = app
        .orders
        .get(order_id)
        .await?
        .ok_or_else(|| format!("no order {order_id}"))?;
    refund(app, &order, Refund::cancelled_join(&order, at)?, at).await?;
    let fates = vec![LineFate::Cancelled; item.lines.len()];
    app.rounds
        .set_fates(&round.round_id, order_id, &fates)
        .await?;
    tracing::info!(order_id = %order_id, round = %round.round_id, "cancelled join's refund seen through at the cutoff");
    Ok(())
}

/// Asks for one refund of `order` (or again, if still requested): an error when WeChat Pay
/// did not answer, so the page is retried. One that cannot be made is an anomaly for an
/// operator (`refunding::owe`), and the order's decision stands.
async fn refund<O: OrderStore + RefundStore + Sync>(
    app: &App<O>,
    order: &Order,
    refund: Option<Refund>,
    at: BusinessTime,
) -> Result<(), Failure> {
    let Some(refund) = refund else {
        return Err(format!("order {} counted but not paid", order.order_id).into());
    };
    match refunding::owe(&app.orders, &app.pay, refund, at).await? {
        Owed::Asked | Owed::Refused(_) => Ok(()),
        Owed::Unanswered(why) => Err(format!("refund not asked yet: {why}").into()),
    }
}
