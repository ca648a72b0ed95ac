//! `linli-admin refund <order> <amount> --reason … --operator … [--ticket …]`: staff's
//! after-sales refund (origin `staff`, refund id `<order>-S<ticket>`), started through
//! `linli::refunding::start` like the member's own: recorded first — never more than is left to
//! refund — then asked of WeChat Pay. The same ticket is the same refund: a retry after WeChat
//! Pay did not answer asks for that refund again, never a second one. The points go back when
//! the refund notify settles it (pay-notify's clawback).

use crate::adjust::{new_ticket, text_flag};
use crate::amount::{parse_amount, Amount};
use crate::cli::RefundArgs;
use crate::output::{yuan, Outcome, Table};
use crate::tables::OrdersTable;
use crate::AdminError;
use linli::config::ProcessEnv;
use linli::ids::{RefundId, TicketId};
use linli::money::Fen;
use linli::order::{staff_refund_id, Order, OrderStatus, Refund, RefundOrigin, RefundState};
use linli::paying::{PayConfig, PayGateway};
use linli::refunding::{self, Started};
use linli::store::orders::OrderStore;
use linli::store::refunds::RefundStore;
use linli::time::BusinessTime;
use serde_json::{json, Value};

/// WeChat Pay as the functions reach it (DESIGN §7 names; PEMs inline or as file paths).
fn gateway() -> Result<PayGateway, AdminError> {
    let config = PayConfig::from_source(&ProcessEnv)?;
    PayGateway::new(config).map_err(|e| {
        AdminError::Usage(format!(
            "the merchant certificate does not load ({e}): check WECHAT_PAY_MCH_CERT and \
             WECHAT_PAY_MCH_PRIVATE_KEY"
        ))
    })
}

/// What staff asked for, checked.
struct Ask {
    amount: Amount,
    reason: String,
    operator: String,
}

pub async fn run(table: &OrdersTable, args: RefundArgs) -> Result<Outcome, AdminError> {
    let ask = Ask {
        amount: parse_amount(&args.amount)?,
        reason: text_flag("--reason", &args.reason, 200)?,
        operator: text_flag("--operator", &args.operator, 64)?,
    };
    let pay = gateway()?;
    let now = crate::now()?;
    let (ticket, generated) = match args.ticket {
        Some(ticket) => (ticket, false),
        None => (new_ticket(now)?, true),
    };
    let Some(order) = table.orders.get(&args.order).await? else {
        return Err(AdminError::Problem(format!(
            "no order {} in table {}: check the id and the table",
            args.order, table.name
        )));
    };
    let refund_id = staff_refund_id(&order.order_id, ticket.as_str())
        .map_err(|e| AdminError::Usage(format!("the ticket makes no refund id ({e})")))?;
    let said = Said {
        order: order.order_id.to_string(),
        refund_id: refund_id.to_string(),
        ticket: &ticket,
        generated,
    };
    let existing = table.orders.refund(&order.order_id, &refund_id).await?;
    let refund = match staff_refund(&order, existing, refund_id, ask, now) {
        Ok(refund) => refund,
        Err((outcome, why)) => return Ok(said.problem(outcome, &why)),
    };
    let amount_fen = refund.amount_fen;
    let started = refunding::start(&table.orders, &pay, refund, now).await?;
    Ok(said.started(started, amount_fen))
}

/// The refund to start, or why there is none (an outcome and its reason). A refund this ticket
/// already names is started again as it was (WeChat Pay treats it as the same refund).
fn staff_refund(
    order: &Order,
    existing: Option<Refund>,
    refund_id: RefundId,
    ask: Ask,
    now: BusinessTime,
) -> Result<Refund, (&'static str, String)> {
    let paid = order
        .payment
        .as_ref()
        .filter(|_| order.status == OrderStatus::Paid);
    let Some(payment) = paid else {
        return Err((
            "not_paid",
            format!("the order is {}, not paid", order.status),
        ));
    };
    let amount_fen = match (ask.amount, existing) {
        (Amount::Fen(fen), Some(e)) if e.amount_fen != fen => {
            let why = format!(
                "this ticket already names refund {} of {}: pick another ticket",
                e.refund_id,
                yuan(i128::from(e.amount_fen.value()))
            );
            return Err(("ticket_reused", why));
        }
        (_, Some(e)) => e.amount_fen,
        (Amount::Fen(fen), None) => fen,
        (Amount::All, None) if order.refundable().is_positive() => order.refundable(),
        (Amount::All, None) => {
            return Err((
                "too_much",
                "nothing is left to refund on this order".to_owned(),
            ))
        }
    };
    Ok(Refund {
        refund_id,
        order_id: order.order_id.clone(),
        member: order.member.clone(),
        transaction_id: payment.transaction_id.clone(),
        total_fen: order.amount_fen,
        amount_fen,
        origin: RefundOrigin::Staff,
        reason: ask.reason,
        operator: Some(ask.operator),
        state: RefundState::Requested,
        requested_at: now,
        counts_against_order: true,
        wechat_refund_id: None,
        settled_at: None,
        clawback: None,
        growth: None,
    })
}

/// What the operator is told.
struct Said<'a> {
    order: String,
    refund_id: String,
    ticket: &'a TicketId,
    generated: bool,
}

impl Said<'_> {
    fn base(&self, outcome: &str) -> Value {
        json!({
            "outcome": outcome,
            "order": self.order,
            "refund_id": self.refund_id,
            "ticket": self.ticket.to_string(),
        })
    }

    fn retry_line(&self) -> String {
        format!(
            "To ask for this same refund again (never a second one): --ticket {}\n",
            self.ticket
        )
    }

    fn problem(&self, outcome: &str, why: &str) -> Outcome {
        let mut json = self.base(outcome);
        json["message"] = json!(why);
        Outcome {
            text: format!(
                "REFUSED: {why}\nOrder {}, refund {}.\n",
                self.order, self.refund_id
            ),
            json,
            problem: true,
        }
    }

    fn refund_table(&self, refund: &Refund) -> String {
        let mut table = Table::new(&["", ""]);
        let state = match refund.state {
            RefundState::Requested => "requested",
            RefundState::Succeeded => "succeeded",
            RefundState::Failed => "failed",
        };
        for (label, value) in [
            ("order", refund.order_id.to_string()),
            ("refund", refund.refund_id.to_string()),
            ("amount", yuan(i128::from(refund.amount_fen.value()))),
            ("of payment", yuan(i128::from(refund.total_fen.value()))),
            ("state", state.to_owned()),
            ("operator", refund.operator.clone().unwrap_or_default()),
            ("reason", refund.reason.clone()),
            ("requested at", refund.requested_at.to_string()),
        ] {
            table.row(vec![label.to_owned(), value]);
        }
        table.render()
    }

    fn started(&self, started: Started, amount: Fen) -> Outcome {
        let (outcome, headline, refund, problem) = match started {
            Started::Asked(r) => (
                "asked",
                "Refund asked of WeChat Pay: the money goes back when it settles (refund \
                 notify), and the order's points are clawed back then."
                    .to_owned(),
                Some(r),
                false,
            ),
            Started::Existing(r) => (
                "existing",
                "This refund exists already: nothing new was asked.".to_owned(),
                Some(r),
                false,
            ),
            Started::Refused { code, message } => {
                let why = format!(
                    "WeChat Pay refused the refund: {code} {message} (recorded as failed; the \
                     amount is refundable again)"
                );
                let mut shown = self.problem("refused", &why);
                shown.json["code"] = json!(code);
                return shown;
            }
            Started::TooMuch { refundable } => {
                let why = format!(
                    "{} is more than is left to refund: {} refundable",
                    yuan(i128::from(amount.value())),
                    yuan(i128::from(refundable.value()))
                );
                let mut shown = self.problem("too_much", &why);
                shown.json["refundable_fen"] = json!(refundable.value());
                return shown;
            }
            Started::NotPaid => return self.problem("not_paid", "the order is not paid"),
            Started::Unavailable(why) => (
                "unavailable",
                format!(
                    "WeChat Pay did not answer ({why}). The refund is recorded as requested: \
                     ask again with the same ticket."
                ),
                None,
                true,
            ),
        };
        let mut text = format!("{headline}\n");
        let mut json = self.base(outcome);
        json["amount_fen"] = json!(amount.value());
        if let Some(refund) = &refund {
            text.push_str(&self.refund_table(refund));
            json["amount_fen"] = json!(refund.amount_fen.value());
            json["state"] = serde_json::to_value(refund.state).unwrap_or(Value::Null);
        }
        if problem || self.generated {
            text.push_str(&self.retry_line());
        }
        Outcome {
            text,
            json,
            problem,
        }
    }
}
