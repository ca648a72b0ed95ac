//! Refunds in the `Orders` table, beside their order: `ORDER#<id>` / `REFUND#<refund-id>`.
//!
//! The order's `refund_requested_fen` and `refunded_fen` move only in the same transaction as a
//! refund item's state, with conditions that keep requested ≤ paid and make each state change
//! happen once; so refunds started from the mini-program, by staff and automatically can race
//! without ever returning more than was paid or clawing back twice.

use super::ledger::item::{key, Item};
use super::orders::{decode_order, order_key, DynamoOrders};
use super::StoreError;
use crate::ids::{OrderId, RefundId};
use crate::money::{Fen, Points};
use crate::order::{
    clawback, refund_growth, Order, OrderStatus, Refund, RefundOrigin, RefundState,
};
use crate::time::BusinessTime;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use std::future::Future;

/// How often a settlement re-reads and retries when the order moved under it.
const MAX_ATTEMPTS: u32 = 20;

/// What asking for a refund found.
#[derive(Clone, Debug, PartialEq)]
pub enum Requested {
    /// This call recorded the request: now ask WeChat Pay.
    Created,
    /// A refund with this id exists (a retry): its current state.
    Exists(Box<Refund>),
    /// It would return more than is left to refund.
    TooMuch { refundable: Fen },
    /// The order is not paid (or does not exist).
    NotPaid,
}

/// What settling a refund found.
#[derive(Clone, Debug, PartialEq)]
pub enum Settled {
    /// This call settled it; the refund as stored (its clawback decided).
    Now(Refund),
    /// It was settled this way before (a repeated notify): the refund as stored.
    Before(Refund),
    /// It was settled the other way before (e.g. failed, now said to have succeeded).
    Conflict(Refund),
    Missing,
}

pub trait RefundStore {
    /// Records `refund` (state requested) and adds its amount to the order's requested total,
    /// unless that would exceed what was paid. A late payment's refund leaves the order alone.
    fn request(
        &self,
        refund: &Refund,
    ) -> impl Future<Output = Result<Requested, StoreError>> + Send;

    fn refund(
        &self,
        order: &OrderId,
        refund: &RefundId,
    ) -> impl Future<Output = Result<Option<Refund>, StoreError>> + Send;

    /// The order's refunds, oldest id first.
    fn refunds(
        &self,
        order: &OrderId,
    ) -> impl Future<Output = Result<Vec<Refund>, StoreError>> + Send;

    /// requested → succeeded: the order's refunded total grows and the clawback is decided from
    /// `earned` (the points the order's payment earned), once.
    fn succeeded(
        &self,
        order: &OrderId,
        refund: &RefundId,
        wechat_refund_id: &str,
        at: BusinessTime,
        earned: Points,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send;

    /// requested → failed: its amount is refundable again.
    fn failed(
        &self,
        order: &OrderId,
        refund: &RefundId,
        at: BusinessTime,
    ) -> impl Future<Output = Result<Settled, StoreError>> + Send;
}

fn refund_key(order: &OrderId, refund: &RefundId) -> Item {
    key(format!("ORDER#{order}"), format!("REFUND#{refund}"))
}

fn corrupt(what: &str, why: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: what.to_owned(),
        why: why.to_string(),
    }
}

fn decode_refund(item: Item) -> Result<Refund, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| corrupt("REFUND", e))
}

fn refund_item(refund: &Refund) -> Result<Item, StoreError> {
    let mut item: Item =
        serde_dynamo::to_item(refund).map_err(|e| corrupt(refund.refund_id.as_str(), e))?;
    item.extend(refund_key(&refund.order_id, &refund.refund_id));
    Ok(item)
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn build<T, E: std::error::Error>(built: Result<T, E>) -> Result<T, StoreError> {
    built.map_err(|e| StoreError::dynamo("TransactWriteItems", e))
}

impl DynamoOrders {
    async fn read(&self, key: Item) -> Result<Option<Item>, StoreError> {
        super::get_consistent(&self.client, &self.table, key).await
    }

    async fn order_now(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
        self.read(order_key(id))
            .await?
            .map(decode_order)
            .transpose()
    }

    /// The refund's state change and, when the order counts it, the order's totals: one
    /// transaction. Ok(false) when a condition failed (the caller re-reads).
    async fn settle(
        &self,
        refund: &Refund,
        order_update: Option<Update>,
    ) -> Result<bool, StoreError> {
        let mut values = vec![
            (":requested", s("requested")),
            (
                ":state",
                s(match refund.state {
                    RefundState::Succeeded => "succeeded",
                    RefundState::Failed => "failed",
                    RefundState::Requested => "requested",
                }),
            ),
            (
                ":at",
                n(refund.settled_at.map(|t| t.epoch_ms()).unwrap_or(0)),
            ),
        ];
        let mut set = "SET #state = :state, settled_at = :at".to_owned();
        if let Some(id) = &refund.wechat_refund_id {
            set.push_str(", wechat_refund_id = :wid");
            values.push((":wid", s(id)));
        }
        if let Some(points) = refund.clawback {
            set.push_str(", clawback = :claw");
            values.push((":claw", n(points.value())));
        }
        if let Some(growth) = &refund.growth {
            set.push_str(", growth = :growth");
            let value = serde_dynamo::to_attribute_value(growth)
                .map_err(|e| corrupt(refund.refund_id.as_str(), e))?;
            values.push((":growth", value));
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(refund_key(&refund.order_id, &refund.refund_id)))
            .update_expression(set)
            .condition_expression("#state = :requested")
            .expression_attribute_names("#state", "state");
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        let mut items = vec![TransactWriteItem::builder()
            .update(build(update.build())?)
            .build()];
        if let Some(order_update) = order_update {
            items.push(TransactWriteItem::builder().update(order_update).build());
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(error) => match super::condition_failed(error.as_service_error()) {
                Some(failed) if failed.iter().any(|f| *f) => Ok(false),
                Some(_) => Ok(false), // a transaction conflict: re-read and retry
                None => Err(StoreError::dynamo("TransactWriteItems", error)),
            },
        }
    }

    /// Settles `refund` into `state`, re-reading while the order moves under it.
    async fn settle_as(
        &self,
        order_id: &OrderId,
        refund_id: &RefundId,
        state: RefundState,
        decide: impl Fn(&mut Refund, Option<&Order>),
    ) -> Result<Settled, StoreError> {
        for _ in 0..MAX_ATTEMPTS {
            let Some(mut refund) = self.refund(order_id, refund_id).await? else {
                return Ok(Settled::Missing);
            };
            if refund.state != RefundState::Requested {
                return Ok(if refund.state == state {
                    Settled::Before(refund)
                } else {
                    Settled::Conflict(refund)
                });
            }
            let order = self.order_now(order_id).await?;
            let order_update = match (&order, refund.counts_against_order) {
                (Some(order), true) => Some(self.order_totals(order, &refund, state)?),
                (None, true) => return Ok(Settled::Missing),
                _ => None,
            };
            refund.state = state;
            decide(&mut refund, order.as_ref());
            if self.settle(&refund, order_update).await? {
                return Ok(Settled::Now(refund));
            }
        }
        Err(StoreError::Contended {
            attempts: MAX_ATTEMPTS,
        })
    }

    /// The order's totals after `refund` settles as `state`, on the condition they did not move.
    fn order_totals(
        &self,
        order: &Order,
        refund: &Refund,
        state: RefundState,
    ) -> Result<Update, StoreError> {
        let amount = refund.amount_fen.value();
        let (requested, refunded) = (
            order.refund_requested_fen.value(),
            order.refunded_fen.value(),
        );
        let (next_requested, next_refunded) = match state {
            RefundState::Succeeded => (requested, refunded.saturating_add(amount)),
            _ => (requested.saturating_sub(amount).max(0), refunded),
        };
        let fee = refund.origin == RefundOrigin::DeliveryFee && state == RefundState::Succeeded;
        let fee_refunded = order.fee_refunded_fen.value();
        let next_fee = if fee {
            fee_refunded.saturating_add(amount)
        } else {
            fee_refunded
        };
        build(
            Update::builder()
                .table_name(&self.table)
                .set_key(Some(order_key(&order.order_id)))
                .update_expression(
                    "SET refund_requested_fen = :nreq, refunded_fen = :nref, fee_refunded_fen = :nfee",
                )
                .condition_expression(
                    "(attribute_not_exists(refund_requested_fen) OR refund_requested_fen = :req) \
                     AND (attribute_not_exists(refunded_fen) OR refunded_fen = :ref)",
                )
                .expression_attribute_values(":req", n(requested))
                .expression_attribute_values(":ref", n(refunded))
                .expression_attribute_values(":nreq", n(next_requested))
                .expression_attribute_values(":nref", n(next_refunded))
                .expression_attribute_values(":nfee", n(next_fee))
                .build(),
        )
    }
}

impl RefundStore for DynamoOrders {
    async fn request(&self, refund: &Refund) -> Result<Requested, StoreError> {
        let put = build(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(refund_item(refund)?))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        if refund.counts_against_order {
            let limit = refund
                .total_fen
                .value()
                .saturating_sub(refund.amount_fen.value());
            let update = Update::builder()
                .table_name(&self.table)
                .set_key(Some(order_key(&refund.order_id)))
                .update_expression(
                    "SET refund_requested_fen = if_not_exists(refund_requested_fen, :zero) + :amount",
                )
                .condition_expression(
                    "#status = :paid AND amount_fen = :total \
                     AND (attribute_not_exists(refund_requested_fen) OR refund_requested_fen <= :limit)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":paid", s(OrderStatus::Paid.as_str()))
                .expression_attribute_values(":total", n(refund.total_fen.value()))
                .expression_attribute_values(":zero", n(0))
                .expression_attribute_values(":amount", n(refund.amount_fen.value()))
                .expression_attribute_values(":limit", n(limit))
                .build();
            items.push(TransactWriteItem::builder().update(build(update)?).build());
        }
        let error = match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(Requested::Created),
            Err(error) => error,
        };
        let Some(failed) = super::condition_failed(error.as_service_error()) else {
            return Err(StoreError::dynamo("TransactWriteItems", error));
        };
        if failed.first() == Some(&true) {
            return match self.refund(&refund.order_id, &refund.refund_id).await? {
                Some(existing) => Ok(Requested::Exists(Box::new(existing))),
                None => Err(StoreError::Contended { attempts: 1 }),
            };
        }
        if failed.get(1) == Some(&true) {
            return Ok(match self.order_now(&refund.order_id).await? {
                Some(order) if order.status == OrderStatus::Paid => Requested::TooMuch {
                    refundable: order.refundable(),
                },
                _ => Requested::NotPaid,
            });
        }
        Err(StoreError::Contended { attempts: 1 })
    }

    async fn refund(
        &self,
        order: &OrderId,
        refund: &RefundId,
    ) -> Result<Option<Refund>, StoreError> {
        self.read(refund_key(order, refund))
            .await?
            .map(decode_refund)
            .transpose()
    }

    async fn refunds(&self, order: &OrderId) -> Result<Vec<Refund>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :refund)")
            .expression_attribute_values(":pk", s(&format!("ORDER#{order}")))
            .expression_attribute_values(":refund", s("REFUND#"))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::dynamo("Query", e))?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(decode_refund)
            .collect()
    }

    async fn succeeded(
        &self,
        order: &OrderId,
        refund: &RefundId,
        wechat_refund_id: &str,
        at: BusinessTime,
        earned: Points,
    ) -> Result<Settled, StoreError> {
        self.settle_as(order, refund, RefundState::Succeeded, |r, o| {
            r.wechat_refund_id = Some(wechat_refund_id.to_owned());
            r.settled_at = Some(at);
            // A cash delivery fee given back earned nothing: it takes nothing back, and other
            // refunds are figured on what was paid besides it.
            let counted =
                o.filter(|_| r.counts_against_order && r.origin != RefundOrigin::DeliveryFee);
            // The basis is fixed (what was paid less the cash fee charged), so the points a
            // refund takes back do not depend on which refund settled first.
            let basis = counted.map(|o| {
                let cash_fee = o.delivery.as_ref().map_or(0, |d| d.fee_fen);
                let paid = Fen::new(o.amount_fen.value().saturating_sub(cash_fee));
                let before = o
                    .refunded_fen
                    .value()
                    .saturating_sub(o.fee_refunded_fen.value());
                (
                    paid,
                    Fen::new(before),
                    Fen::new(before.saturating_add(r.amount_fen.value())),
                )
            });
            r.clawback = Some(match basis {
                Some((paid, before, after)) => clawback(earned, paid, before, after),
                None => Points::ZERO,
            });
            // Only payments decided with tiers recorded growth; a refund takes back its share.
            r.growth = counted.zip(basis).and_then(|(o, (paid, before, after))| {
                let payment = o.payment.as_ref()?;
                payment.earned.as_ref()?.thresholds.as_ref()?;
                Some(refund_growth(
                    paid,
                    o.goods_fen,
                    before,
                    after,
                    payment.paid_at,
                ))
            });
        })
        .await
    }

    async fn failed(
        &self,
        order: &OrderId,
        refund: &RefundId,
        at: BusinessTime,
    ) -> Result<Settled, StoreError> {
        self.settle_as(order, refund, RefundState::Failed, |r, _| {
            r.settled_at = Some(at);
        })
        .await
    }
}
