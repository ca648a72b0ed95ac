//! One page of a round's paid orders, decided at its cutoff: each order's lines confirmed or
//! refunded by the round's final counts, its confirmed lines' points sent, its fates recorded
//! once. Safe to repeat: a decided order is skipped, a refund under its fixed id is asked once,
//! the posting has a fixed id.

use crate::App;
use linli::groupbuy::cutoff::{decide, fate, line_refund_id, LineFate, SkuOutcome};
use linli::groupbuy::Round;
use linli::ids::{OrderId, PostingId, RefundId};
use linli::ledger::{Op, PostingRequest, Source};
use linli::money::Fen;
use linli::order::{Refund, RefundOrigin, RefundState};
use linli::queue::{Envelope, Message};
use linli::refunding::{self, Started};
use linli::rules::base_earn;
use linli::store::orders::OrderStore;
use linli::store::refunds::RefundStore;
use linli::store::rounds::LineItem;
use linli::time::BusinessTime;

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
    for order in orders {
        let Some(item) = app.rounds.line(round_id, order).await? else {
            tracing::error!(order_id = %order, round = %round_id, "a page names an order the round has no line for");
            continue;
        };
        if item.fates.is_none() {
            decide_order(app, &round, &outcomes, order, &item, envelope.at).await?;
        }
    }
    Ok(())
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
    let order = app
        .orders
        .get(order_id)
        .await?
        .ok_or_else(|| format!("no order {order_id}"))?;
    let payment = order
        .payment
        .clone()
        .ok_or_else(|| format!("order {order_id} counted but not paid"))?;
    for (i, (line, fate)) in item.lines.iter().zip(&fates).enumerate() {
        if *fate == LineFate::Confirmed {
            continue;
        }
        let refund = Refund {
            refund_id: RefundId::parse(&line_refund_id(order_id, i))?,
            order_id: order_id.clone(),
            member: order.member.clone(),
            transaction_id: payment.transaction_id.clone(),
            total_fen: order.amount_fen,
            amount_fen: Fen::new(line.amount_fen),
            origin: RefundOrigin::GroupBuy,
            reason: format!("{} 未成团，款项原路退回", line.name),
            operator: None,
            state: RefundState::Requested,
            requested_at: at,
            counts_against_order: true,
            wechat_refund_id: None,
            settled_at: None,
            clawback: None,
            growth: None,
        };
        match refunding::start(&app.orders, &app.pay, refund, at).await? {
            Started::Asked(_) | Started::Existing(_) => {}
            Started::Unavailable(why) => return Err(format!("refund not asked yet: {why}").into()),
            other => {
                tracing::error!(order_id = %order_id, line = i, outcome = ?other, "line not refunded: an operator must look");
            }
        }
    }
    let confirmed: i64 = item
        .lines
        .iter()
        .zip(&fates)
        .filter(|(_, f)| **f == LineFate::Confirmed)
        .map(|(l, _)| l.amount_fen)
        .sum();
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
    app.rounds
        .set_fates(&round.round_id, order_id, &fates)
        .await?;
    tracing::info!(order_id = %order_id, round = %round.round_id, confirmed_fen = confirmed, points = points.value(), "order decided at the cutoff");
    Ok(())
}
