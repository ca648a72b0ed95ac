//! Placing and ending orders together with their stock (DESIGN §4).
//!
//! Placing is one `TransactWriteItems`: put the order (never over another), take each line out
//! of its SKU's stock (`stock >= qty`, so two members cannot both buy the last unit) and, for a
//! delivery fee paid in points, hold the points (the ledger's posting and profile update) — all
//! of it or nothing. Ending an unpaid order (cancel, close) is one transaction too: the order
//! leaves `pending` and its lines go back into stock, so stock returns exactly once, whoever
//! ends it. The hold's void is a posting of its own (`void:order:<id>`, idempotent).

use super::catalog::sku_key;
use super::ledger::item::Item;
use super::ledger::LedgerStore;
use super::ledger::{ExtraWrite, PostWith, PostedWith};
use super::ledger::{CONDITION_FAILED, TRANSACTION_CONFLICT};
use super::orders::OrderStore;
use super::orders::{decode_order, order_item, order_key, DynamoOrders, EndOutcome};
use super::wru::{item_size, WriteCost};
use super::StoreError;
use crate::ids::{PostingId, SkuId};
use crate::ledger::LedgerError;
use crate::order::{Anomaly, AnomalyKind};
use crate::order::{Order, OrderStatus};
use crate::time::BusinessTime;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

/// Attempts at a transaction another one keeps conflicting with.
const ATTEMPTS: u32 = 4;
/// A stock item's size, roughly (name and price included): for the write cost.
const STOCK_ITEM_BYTES: usize = 120;

/// What placing an order found.
#[derive(Debug)]
pub enum Placed {
    Placed {
        cost: WriteCost,
    },
    /// A line wants more than the SKU has left (nothing was written).
    OutOfStock {
        sku: SkuId,
        available: i64,
    },
    /// The ledger refused the hold, e.g. not enough points (nothing was written).
    Refused(LedgerError),
}

fn invalid_write(e: impl std::error::Error) -> StoreError {
    StoreError::dynamo("TransactWriteItems", e)
}

impl DynamoOrders {
    /// The Catalog table the orders' stock lives in (needed to place or end with stock).
    pub fn with_catalog(mut self, table: impl Into<String>) -> Self {
        self.catalog = Some(table.into());
        self
    }

    fn catalog_table(&self) -> Result<&str, StoreError> {
        self.catalog.as_deref().ok_or_else(|| StoreError::Dynamo {
            operation: "TransactWriteItems",
            message: "no Catalog table configured for stock".to_owned(),
        })
    }

    /// Moves each line's stock by `sign` × qty; taking (−1) is conditional on enough stock.
    fn stock_writes(&self, order: &Order, sign: i64) -> Result<Vec<ExtraWrite>, StoreError> {
        let table = self.catalog_table()?;
        order
            .lines
            .iter()
            .map(|line| {
                let mut update = Update::builder()
                    .table_name(table)
                    .set_key(Some(sku_key(&order.store_id, &line.sku)))
                    .update_expression("SET stock = stock + :delta")
                    .expression_attribute_values(
                        ":delta",
                        AttributeValue::N((sign * line.qty).to_string()),
                    )
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    );
                update = if sign < 0 {
                    // A missing stock attribute (or SKU) compares false: nothing to take.
                    update
                        .condition_expression("stock >= :qty")
                        .expression_attribute_values(
                            ":qty",
                            AttributeValue::N(line.qty.to_string()),
                        )
                } else {
                    update.condition_expression("attribute_exists(pk)")
                };
                Ok(ExtraWrite {
                    item: TransactWriteItem::builder()
                        .update(update.build().map_err(invalid_write)?)
                        .build(),
                    label: "stock",
                    size: STOCK_ITEM_BYTES,
                })
            })
            .collect()
    }

    /// Puts the new order, takes its stock and holds its fee's points, in one transaction.
    pub(super) async fn place_order<L: PostWith>(
        &self,
        order: &Order,
        ledger: &L,
    ) -> Result<Placed, StoreError> {
        let item = order_item(order)?;
        let size = item_size(&item);
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(invalid_write)?;
        let mut writes = vec![ExtraWrite {
            item: TransactWriteItem::builder().put(put).build(),
            label: "order",
            size,
        }];
        writes.extend(self.stock_writes(order, -1)?);
        let refused = |index: usize, old: Option<Item>| match index {
            0 => Err(StoreError::Corrupt {
                key: format!("ORDER#{}", order.order_id),
                why: "an order with this id exists".to_owned(),
            }),
            i => out_of_stock(order, i - 1, old.as_ref()),
        };
        match order.hold_posting() {
            Some(hold) => match ledger.post_with(&hold, &writes).await {
                Ok(PostedWith::Posted(posted)) => Ok(Placed::Placed { cost: posted.cost }),
                Ok(PostedWith::ExtraRefused { index, old }) => refused(index, old),
                Err(StoreError::Ledger(e)) => Ok(Placed::Refused(e)),
                Err(e) => Err(e),
            },
            None => match self.transact(&writes).await? {
                Ok(cost) => Ok(Placed::Placed { cost }),
                Err((index, old)) => refused(index, old),
            },
        }
    }

    /// Sends `writes` as one transaction, retrying conflicts; a failed condition comes back as
    /// the index of the write and its old item.
    async fn transact(
        &self,
        writes: &[ExtraWrite],
    ) -> Result<Result<WriteCost, (usize, Option<Item>)>, StoreError> {
        let mut cost = WriteCost::default();
        for write in writes {
            cost.add_transactional(write.label, write.size);
        }
        let items: Vec<TransactWriteItem> = writes.iter().map(|w| w.item.clone()).collect();
        for attempt in 1..=ATTEMPTS {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let error = match sent {
                Ok(_) => return Ok(Ok(cost)),
                Err(error) => error,
            };
            let reasons = match error.as_service_error() {
                Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
                    c.cancellation_reasons().to_vec()
                }
                _ => return Err(invalid_write(error)),
            };
            if let Some(i) = reasons
                .iter()
                .position(|r| r.code() == Some(CONDITION_FAILED))
            {
                let old = reasons.get(i).and_then(|r| r.item().cloned());
                return Ok(Err((i, old)));
            }
            if !reasons
                .iter()
                .any(|r| r.code() == Some(TRANSACTION_CONFLICT))
            {
                return Err(invalid_write(error));
            }
            tracing::debug!(attempt, "order transaction conflict: retrying");
            tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(5..=40))).await;
        }
        Err(StoreError::Contended { attempts: ATTEMPTS })
    }

    /// pending → `status` (closed or cancelled) at `at`, its reserved stock returned in the
    /// same transaction.
    pub(super) async fn end_with_stock(
        &self,
        order: &Order,
        status: OrderStatus,
        at: BusinessTime,
    ) -> Result<EndOutcome, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(order_key(&order.order_id)))
            .update_expression("SET #status = :ended, ended_at = :at REMOVE sweep, due_at")
            .condition_expression("attribute_exists(pk) AND #status = :pending")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":ended", AttributeValue::S(status.as_str().into()))
            .expression_attribute_values(":at", AttributeValue::N(at.epoch_ms().to_string()))
            .expression_attribute_values(
                ":pending",
                AttributeValue::S(OrderStatus::Pending.as_str().into()),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(invalid_write)?;
        let mut writes = vec![ExtraWrite {
            item: TransactWriteItem::builder().update(update).build(),
            label: "order",
            size: 1_024,
        }];
        writes.extend(self.stock_writes(order, 1)?);
        match self.transact(&writes).await? {
            Ok(_) => {
                let mut ended = order.clone();
                ended.status = status;
                ended.ended_at = Some(at);
                Ok(EndOutcome::Ended(ended))
            }
            Err((0, Some(old))) if !old.is_empty() => {
                Ok(EndOutcome::NotPending(decode_order(old)?))
            }
            Err((0, _)) => Ok(EndOutcome::Missing),
            Err((i, _)) => Err(StoreError::Corrupt {
                key: format!("ORDER#{}", order.order_id),
                why: format!("line {} names a SKU the catalog no longer has", i - 1),
            }),
        }
    }
}

/// The out-of-stock answer for line `line` (what its SKU had left, from the failed write).
fn out_of_stock(order: &Order, line: usize, old: Option<&Item>) -> Result<Placed, StoreError> {
    let available = match old.and_then(|item| item.get("stock")) {
        Some(AttributeValue::N(n)) => n.parse::<i64>().unwrap_or(0).max(0),
        _ => 0,
    };
    let sku = order.lines.get(line).ok_or_else(|| StoreError::Corrupt {
        key: format!("ORDER#{}", order.order_id),
        why: format!("a condition failed on write {line} of the order's stock"),
    })?;
    Ok(Placed::OutOfStock {
        sku: sku.sku.clone(),
        available,
    })
}

/// Whether a paid delivery's points hold is still there to capture. When it lapsed (voided at
/// its expiry before the payment came — only if the order's own close never ran), the fee is
/// waived on the order, so its `pay:order` posting captures nothing and can never be refused,
/// and a `hold_lapsed` anomaly is recorded for an operator. Returns the order as it now stands.
/// Safe to repeat: every step is idempotent.
pub async fn settle_fee_hold<L: LedgerStore, O: OrderStore>(
    ledger: &L,
    orders: &O,
    order: Order,
    now: BusinessTime,
) -> Result<Order, StoreError> {
    let held = order.delivery.as_ref().map(|d| d.held_points());
    let (Some(held), Some(payment)) = (held, order.payment.as_ref()) else {
        return Ok(order);
    };
    if !held.is_positive() {
        return Ok(order);
    }
    // A merge moves open holds and later postings to the member it joined.
    let (owner, profile) = super::ledger::owner(ledger, &order.member).await?;
    if profile.is_some_and(|p| p.holds.contains_key(&order.order_id)) {
        return Ok(order);
    }
    let capture = PostingId::pay_order(&order.order_id);
    if ledger.posting(&owner, &capture).await?.is_some() {
        return Ok(order);
    }
    let anomaly = Anomaly {
        kind: AnomalyKind::HoldLapsed,
        out_trade_no: order.order_id.to_string(),
        transaction_id: payment.transaction_id.clone(),
        paid_fen: order.amount_fen,
        expected_fen: Some(order.amount_fen),
        detail: format!(
            "the {held}-point delivery fee hold was gone when the payment came: fee waived"
        ),
        recorded_at: now,
    };
    orders.record_anomaly(&anomaly).await?;
    tracing::error!(order_id = %order.order_id, member = %order.member.masked(), held = held.value(), "payment anomaly: delivery fee hold lapsed before the payment; fee waived");
    Ok(orders.waive_fee(&order.order_id).await?.unwrap_or(order))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::delivery::{Heat, Platform, Route};
    use crate::order::{Delivery, Dispatch, FeeChoice, OrderLine, TryOutcome, Waybill};

    /// A delivery order of 3 SKUs as placed, paid and dispatched.
    fn delivered_order() -> Order {
        let mut order = crate::order::tests::order(8_970);
        let at = order.placed_at;
        order.lines = (1..=3)
            .map(|i| OrderLine {
                sku: SkuId::parse(&format!("SKU-{i}")).unwrap(),
                name: "金龙鱼 菜籽油 5L".into(),
                qty: 1,
                price_fen: crate::money::Fen::new(2_990),
                category: "grain".into(),
            })
            .collect();
        order.address = Some(crate::order::Address {
            lat: 31.22361,
            lng: 121.44534,
            text: "上海市静安区南京西路 1266 号 恒隆广场 2 座 1801 室".into(),
        });
        let route = Route {
            store_id: order.store_id.clone(),
            platform: Platform::Dada,
            fallbacks: vec![Platform::Meituan, Platform::SfSameCity],
            promised_minutes: 40,
            courier_fee_fen: 600,
            reasons: vec![
                "门店 sh-001: 1200 m, 拣货负载 0% (得分 1200)".into(),
                "达达: ¥6.00, 承诺 40 分钟 (成本 1000)".into(),
            ],
        };
        let heat = Heat::of((31.22361, 121.44534), at, &route, 500, 50);
        order.delivery = Some(Delivery {
            fee: FeeChoice::Points,
            fee_fen: 0,
            points: 50,
            priority: false,
            distance_m: 1_200,
            factors: vec![crate::delivery::Factor {
                name: "距离 1.2 km".into(),
                effect: "¥5.00".into(),
            }],
            quoted_at: at,
            route,
            heat,
            fee_waived: false,
        });
        order.stock_reserved = true;
        let waybill = Waybill::new(
            Platform::Dada,
            order.order_id.to_string(),
            at,
            at.plus_ms(40 * 60_000),
            Some(600),
        );
        let dispatch = Dispatch::default()
            .begin(
                Platform::Dada,
                at,
                0,
                Some("0123456789abcdef0123456789abcdef".into()),
            )
            .end(TryOutcome::Created, Some(waybill));
        order.dispatch = Some(dispatch);
        order
    }

    #[test]
    fn a_dispatched_delivery_order_of_three_skus_fits_in_two_kilobytes() {
        let size = item_size(&order_item(&delivered_order()).unwrap());
        println!("order item with delivery and dispatch: {size} bytes");
        // Every write of it costs 2 WRU (4 in a transaction): the delivery's WRU budget counts
        // on that.
        assert!((1_024..=2_048).contains(&size), "{size} bytes");
    }
}
