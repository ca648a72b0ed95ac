//! Refund notifies (`POST /wechat/pay/refund-notify`, DESIGN §6) and the automatic refund of
//! late payments.
//!
//! The notify is encrypted with the API key but not signed, so it is believed only when it
//! matches a refund Linli started (order, refund id and amounts); otherwise WeChat Pay is asked
//! (`pay/refundquery`) and only a refund it confirms for a paid order of ours is recorded (a
//! refund made on the merchant platform). Anything else → 200 FAIL + WARN, nothing changes.
//! A settled refund claws back its share of the order's points once (`claw:refund:<id>` to
//! `points-postings.fifo`; a repeat notify re-sends the same posting, which posts once).

use crate::{fail, retry_later, success, App};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Response};
use linli::ids::{OrderId, RefundId};
use linli::order::{late_payment_refund_id, Anomaly, Order, Refund, RefundOrigin, RefundState};
use linli::queue::Envelope;
use linli::refunding::{self, Started};
use linli::store::orders::OrderStore;
use linli::store::refunds::{RefundStore, Requested, Settled};
use linli::time::BusinessTime;
use linli::wechat::pay_refund::{self, RefundNotice, RefundNoticeError, RefundStatus};
use linli::wechat::pay_v2::PayV2Error;
use linli::wechat::xml::XmlError;

pub async fn notify<O: OrderStore + RefundStore>(
    app: &App<O>,
    body: &[u8],
    now: BusinessTime,
) -> Response<Body> {
    let notice = match pay_refund::read_notice(body, &app.pay.config.merchant) {
        Ok(notice) => notice,
        Err(RefundNoticeError::Malformed(why)) => {
            let too_large = linli::wechat::pay_v2::parse(body)
                .err()
                .is_some_and(|e| matches!(e, PayV2Error::Xml(XmlError::TooLarge)));
            tracing::warn!(reason = why, bytes = body.len(), "malformed refund notify");
            return if too_large {
                fail(StatusCode::PAYLOAD_TOO_LARGE, "TOO_LARGE")
            } else {
                fail(StatusCode::BAD_REQUEST, "BAD_XML")
            };
        }
        Err(e) => {
            tracing::warn!(reason = %e, "refund notify refused");
            return fail(StatusCode::OK, "REFUSED");
        }
    };
    settle_notice(app, notice, None, now).await
}

/// A refund notice read from a v2 notify or a verified v3 one; `at` is its settlement time when
/// the notify gave one in RFC 3339 (v3).
pub(crate) async fn settle_notice<O: OrderStore + RefundStore>(
    app: &App<O>,
    notice: RefundNotice,
    at: Option<BusinessTime>,
    now: BusinessTime,
) -> Response<Body> {
    let ids = OrderId::parse(&notice.out_trade_no)
        .ok()
        .zip(RefundId::parse(&notice.out_refund_no).ok());
    let Some((order_id, refund_id)) = ids else {
        tracing::warn!(out_trade_no = %notice.out_trade_no, out_refund_no = %notice.out_refund_no, "refund notify for ids Linli never issues: refused");
        return fail(StatusCode::OK, "REFUND_NOT_FOUND");
    };
    let (order, refund) = match tokio::try_join!(
        app.orders.get(&order_id),
        app.orders.refund(&order_id, &refund_id)
    ) {
        Ok(found) => found,
        Err(e) => return retry_later("reading the order and refund", &e),
    };
    let refund = match refund {
        Some(refund) if matches_notice(&refund, &notice) => refund,
        Some(refund) => {
            tracing::warn!(refund = %refund.refund_id, notified_fen = notice.refund_fee.value(), ours_fen = refund.amount_fen.value(), "refund notify does not match the refund Linli started: refused");
            return fail(StatusCode::OK, "MISMATCH");
        }
        None => match confirmed_elsewhere(app, order.as_ref(), &notice, &refund_id, now).await {
            Ok(Some(refund)) => refund,
            Ok(None) => return fail(StatusCode::OK, "NOT_CONFIRMED"),
            Err(response) => return response,
        },
    };
    let at = at
        .or_else(|| {
            notice
                .success_time
                .as_deref()
                .and_then(pay_refund::success_at)
        })
        .unwrap_or(now);
    let earned = order.as_ref().map(Order::earned_points).unwrap_or_default();
    let settled = match notice.status {
        RefundStatus::Success => {
            app.orders
                .succeeded(&order_id, &refund.refund_id, &notice.refund_id, at, earned)
                .await
        }
        RefundStatus::Failed => app.orders.failed(&order_id, &refund.refund_id, now).await,
        RefundStatus::Processing => {
            tracing::info!(refund = %refund.refund_id, "refund still processing");
            return success();
        }
    };
    match settled {
        Ok(Settled::Now(refund)) | Ok(Settled::Before(refund)) => claw(app, &refund).await,
        Ok(Settled::Conflict(refund)) => {
            tracing::error!(refund = %refund.refund_id, stored = ?refund.state, notified = ?notice.status, "refund notify contradicts the stored outcome: an operator must look");
            success()
        }
        Ok(Settled::Missing) => {
            tracing::error!(refund = %refund.refund_id, "refund vanished while settling");
            fail(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEMERROR")
        }
        Err(e) => retry_later("settling the refund", &e),
    }
}

fn matches_notice(refund: &Refund, notice: &RefundNotice) -> bool {
    refund.amount_fen == notice.refund_fee && refund.total_fen == notice.total_fee
}

/// A refund Linli did not start: recorded only if WeChat Pay confirms it for a paid order.
async fn confirmed_elsewhere<O: OrderStore + RefundStore>(
    app: &App<O>,
    order: Option<&Order>,
    notice: &RefundNotice,
    refund_id: &RefundId,
    now: BusinessTime,
) -> Result<Option<Refund>, Response<Body>> {
    let Some(order) = order else {
        tracing::warn!(out_trade_no = %notice.out_trade_no, "refund notify for no order of ours: refused");
        return Ok(None);
    };
    let queried = match app.pay.refund_query_v2(&notice.out_refund_no).await {
        Ok(q) => q,
        Err(e) => {
            tracing::warn!(refund = %refund_id, error = %e, "unknown refund not confirmed by refundquery: refused");
            return Ok(None);
        }
    };
    let confirmed = queried.status == notice.status
        && queried.out_trade_no == notice.out_trade_no
        && queried.refund_fee == notice.refund_fee
        && queried.total_fee == order.amount_fen;
    if !confirmed {
        tracing::warn!(refund = %refund_id, "refundquery does not confirm the notify: refused");
        return Ok(None);
    }
    let refund = Refund {
        refund_id: refund_id.clone(),
        order_id: order.order_id.clone(),
        member: order.member.clone(),
        transaction_id: notice.transaction_id.clone(),
        total_fen: order.amount_fen,
        amount_fen: notice.refund_fee,
        origin: RefundOrigin::Merchant,
        reason: "merchant platform".to_owned(),
        operator: None,
        state: RefundState::Requested,
        requested_at: now,
        counts_against_order: true,
        wechat_refund_id: Some(notice.refund_id.clone()),
        settled_at: None,
        clawback: None,
        growth: None,
    };
    match app.orders.request(&refund).await {
        Ok(Requested::Created) => {
            tracing::warn!(refund = %refund_id, order_id = %order.order_id, amount_fen = refund.amount_fen.value(), "refund made outside Linli, confirmed by refundquery: recorded");
            Ok(Some(refund))
        }
        Ok(Requested::Exists(existing)) => Ok(Some(*existing)),
        Ok(other) => {
            tracing::error!(refund = %refund_id, outcome = ?other, "a confirmed refund does not fit the order: an operator must look");
            Ok(None)
        }
        Err(e) => Err(retry_later("recording the confirmed refund", &e)),
    }
}

/// Sends the refund's clawback, if it takes points back (deterministic id: posts once).
async fn claw<O>(app: &App<O>, refund: &Refund) -> Response<Body> {
    let Some(posting) = refund.claw_posting() else {
        tracing::info!(refund = %refund.refund_id, state = ?refund.state, "refund settled: no points to take back");
        return success();
    };
    match app
        .publisher
        .send(&app.settings.points_queue, &Envelope::posting(posting))
        .await
    {
        Ok(_) => {
            tracing::info!(refund = %refund.refund_id, member = %refund.member.masked(), points = refund.clawback.map(|p| p.value()), "refund settled: clawback enqueued");
            success()
        }
        Err(e) => retry_later("enqueueing the clawback", &e),
    }
}

/// A late payment's money goes back: the whole payment, not counted against the order. Err
/// (a response asking WeChat Pay to notify again) when it could not be recorded or asked.
pub async fn refund_late_payment<O: RefundStore>(
    app: &App<O>,
    order: &Order,
    anomaly: &Anomaly,
    now: BusinessTime,
) -> Result<(), Response<Body>> {
    let Ok(refund_id) = late_payment_refund_id(&anomaly.transaction_id) else {
        tracing::error!(transaction_id = %anomaly.transaction_id, "late payment with an unusable transaction id: refund it by hand");
        return Ok(());
    };
    let refund = Refund {
        refund_id,
        order_id: order.order_id.clone(),
        member: order.member.clone(),
        transaction_id: anomaly.transaction_id.clone(),
        total_fen: anomaly.paid_fen,
        amount_fen: anomaly.paid_fen,
        origin: RefundOrigin::LatePayment,
        reason: "订单已关闭，款项原路退回".to_owned(),
        operator: None,
        state: RefundState::Requested,
        requested_at: now,
        counts_against_order: false,
        wechat_refund_id: None,
        settled_at: None,
        clawback: None,
        growth: None,
    };
    match refunding::start(&app.orders, &app.pay, refund, now).await {
        Ok(Started::Asked(refund)) | Ok(Started::Existing(refund)) => {
            tracing::warn!(refund = %refund.refund_id, order_id = %order.order_id, state = ?refund.state, "late payment refunded automatically");
            Ok(())
        }
        Ok(Started::Unavailable(why)) => Err(retry_later("asking the late payment's refund", &why)),
        Ok(other) => {
            tracing::error!(order_id = %order.order_id, outcome = ?other, "late payment not refunded: an operator must look");
            Ok(())
        }
        Err(e) => Err(retry_later("recording the late payment's refund", &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use linli::wechat::pay_api::Merchant;
    use linli::wechat::pay_v2::SignType;

    fn local(name: &str) -> String {
        let env = include_str!("../../../infra/local/local.env");
        env.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_default()
            .to_owned()
    }

    fn sample(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/../../events/pay-notify/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let event: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        event["body"].as_str().unwrap().as_bytes().to_vec()
    }

    #[test]
    fn the_refund_notify_samples_are_what_events_readme_says() {
        let merchant = Merchant {
            appid: local("WECHAT_MINI_APP_ID"),
            mch_id: local("WECHAT_PAY_MCH_ID"),
            api_key: local("WECHAT_PAY_API_KEY"),
            sign_type: SignType::Md5,
        };
        let unknown =
            pay_refund::read_notice(&sample("refund-notify-unknown.json"), &merchant).unwrap();
        assert_eq!(unknown.out_trade_no, "01JNOSUCHORDER000000000000");
        assert_eq!(unknown.status, RefundStatus::Success);
        assert_eq!(
            pay_refund::read_notice(&sample("refund-notify-foreign.json"), &merchant),
            Err(RefundNoticeError::Undecryptable)
        );
    }
}
