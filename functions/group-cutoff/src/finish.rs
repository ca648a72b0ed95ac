//! Finishing a round once every order is decided: the delivery batch written page by page as
//! the orders are read (`BATCH#<community>#PAGE#<n>`, 200 handouts each, so memory stays one
//! page whatever the round's size), then the purchase list and the metrics, and the round
//! closed. Safe to repeat: every item is rewritten with the same content.

use crate::{App, PAGE};
use linli::groupbuy::cutoff::decide;
use linli::groupbuy::outputs::{Handout, PaidOrder, Tally};
use linli::groupbuy::{Round, RoundStatus};
use linli::ids::RoundId;
use linli::store::StoreError;
use linli::time::BusinessTime;
use serde_json::{json, Value};

/// Handouts per delivery-batch item.
const BATCH_PAGE: usize = 200;

/// The delivery batch being written: the handouts not yet written and the next page's number.
struct Batch {
    round_id: RoundId,
    sk_prefix: String,
    head: Value,
    pending: Vec<Handout>,
    page: usize,
}

impl Batch {
    fn new(round: &Round) -> Self {
        Self {
            round_id: round.round_id.clone(),
            sk_prefix: format!("BATCH#{}#PAGE#", round.community),
            head: json!({
                "store_id": round.store_id, "community": round.community,
                "handover": round.handover, "fulfil_on": round.fulfil_on,
            }),
            pending: Vec::with_capacity(BATCH_PAGE),
            page: 0,
        }
    }

    async fn push<O>(&mut self, app: &App<O>, handout: Handout) -> Result<(), StoreError> {
        self.pending.push(handout);
        if self.pending.len() >= BATCH_PAGE {
            self.write(app).await?;
        }
        Ok(())
    }

    /// Writes what is left (nothing when the last page was full).
    async fn flush<O>(&mut self, app: &App<O>) -> Result<(), StoreError> {
        match self.pending.is_empty() {
            true => Ok(()),
            false => self.write(app).await,
        }
    }

    async fn write<O>(&mut self, app: &App<O>) -> Result<(), StoreError> {
        let mut body = self.head.clone();
        body["members"] = json!(std::mem::take(&mut self.pending));
        let sk = format!("{}{}", self.sk_prefix, self.page);
        app.rounds.put_output(&self.round_id, &sk, &body).await?;
        self.page += 1;
        Ok(())
    }
}

/// Every order decided: the round's outputs, then closed.
pub(crate) async fn finish<O>(app: &App<O>, round: &Round) -> Result<(), StoreError> {
    let id = &round.round_id;
    let outcomes = decide(round, &app.rounds.joined(id).await?);
    let mut tally = Tally::default();
    let mut batch = Batch::new(round);
    let mut after = None;
    loop {
        let (items, next) = app.rounds.lines_page(id, after, PAGE).await?;
        let page: Vec<PaidOrder> = items
            .iter()
            .filter(|l| l.cancelled_at.is_none())
            .filter_map(|l| {
                Some(PaidOrder {
                    order_id: l.order_id()?,
                    member: l.member.clone(),
                    lines: l
                        .lines
                        .iter()
                        .map(|j| (j.sku.clone(), j.qty, j.amount_fen))
                        .collect(),
                })
            })
            .collect();
        for handout in tally.add(&outcomes, &page) {
            batch.push(app, handout).await?;
        }
        match next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    batch.flush(app).await?;
    write_totals(app, round, &outcomes, &tally).await?;
    app.rounds
        .advance(id, RoundStatus::Closing, RoundStatus::Closed)
        .await?;
    tracing::info!(round = %id, orders = tally.orders, confirmed_fen = tally.confirmed_fen, refunded_fen = tally.refunded_fen, "round closed");
    Ok(())
}

/// A round of a recurring template opens the template's next round when its cutoff begins —
/// once: its id is fixed by its date — unless the template was stopped. (At the cutoff, not
/// when the round closes: a page stuck in the DLQ must not hold next week's round back.) Normally the one after this cutoff; when
/// that one's cutoff already passed (the close ran late), the next still ahead.
pub(crate) async fn open_next<O>(
    app: &App<O>,
    round: &Round,
    now: BusinessTime,
) -> Result<(), StoreError> {
    let Some(template_id) = &round.template else {
        return Ok(());
    };
    let Some(template) = app.rounds.template(template_id).await? else {
        tracing::error!(round = %round.round_id, template = %template_id, "the round's template is gone: no next round");
        return Ok(());
    };
    if !template.active {
        tracing::info!(round = %round.round_id, template = %template_id, "template stopped: no next round");
        return Ok(());
    }
    let next = template
        .instance(round.cutoff_at, now)
        .filter(|next| next.cutoff_at > now)
        .or_else(|| template.instance(now, now));
    let Some(next) = next else {
        tracing::error!(template = %template_id, "the template has no next cutoff: no next round");
        return Ok(());
    };
    if app.rounds.create(&next).await? {
        tracing::info!(round = %next.round_id, template = %template_id, cutoff_at = %next.cutoff_at, "next round of the template opened");
    }
    Ok(())
}

/// The purchase list and the metrics (running totals, written once every order is in).
async fn write_totals<O>(
    app: &App<O>,
    round: &Round,
    outcomes: &[linli::groupbuy::cutoff::SkuOutcome],
    tally: &Tally,
) -> Result<(), StoreError> {
    let id = &round.round_id;
    let purchase: Vec<Value> = tally
        .purchase
        .iter()
        .map(|(sku, qty)| {
            let name = round.sku(sku).map(|s| s.name.clone()).unwrap_or_default();
            json!({ "sku": sku, "name": name, "qty": qty })
        })
        .collect();
    let list =
        json!({ "store_id": round.store_id, "fulfil_on": round.fulfil_on, "lines": purchase });
    app.rounds
        .put_output(id, &format!("LIST#{}", round.store_id), &list)
        .await?;
    let metrics = json!({
        "orders": tally.orders, "confirmed_orders": tally.confirmed_orders,
        "paid_fen": tally.paid_fen, "confirmed_fen": tally.confirmed_fen,
        "refunded_fen": tally.refunded_fen, "fill_rate_bp": Tally::fill_rates(outcomes),
        "skus": outcomes,
    });
    app.rounds.put_output(id, "METRICS", &metrics).await
}
