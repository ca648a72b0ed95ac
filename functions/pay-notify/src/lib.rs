//! `pay-notify`: WeChat Pay v2 payment notifies (`POST /wechat/pay/notify`, DESIGN §6) and
//! refund notifies (`POST /wechat/pay/refund-notify`, see `refund.rs`) and API v3 notifies
//! (`POST /wechat/pay/v3/notify`, see `v3.rs`).
//!
//! Verify the sign with the sign type Linli chose for the order (for an order Linli does not
//! know: the notify's `sign_type`, default MD5) → check appid (the mini-program's), mch_id,
//! result and amount against the stored order → mark it paid once (conditional on pending) →
//! enqueue `pay:order:<id>` to `points-postings.fifo` at the payment's `time_end`.
//!
//! Replies (XML): SUCCESS once the notify is handled or known; a repeat on a paid order re-sends
//! the same messages (deterministic ids, so nothing doubles). A forged or foreign notify → 200
//! FAIL + WARN, nothing changes. A real payment that does not fit (amount, late, unknown order,
//! a second payment) → an `ANOMALY#` record + ERROR + SUCCESS, so WeChat stops retrying and an
//! operator looks; a late payment (the order was closed first) is refunded automatically.
//! Malformed → 400 FAIL; > 64 KiB → 413 FAIL; a store or queue failure → 500
//! FAIL, and WeChat Pay retries.

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
mod group_buy;
mod refund;
mod v3;

use linli::config::{optional, required, ConfigError, Source};
use linli::ids::OrderId;
use linli::order::{Anomaly, AnomalyKind, Order, Payment};
use linli::queue::{Envelope, Publisher};
use linli::store::orders::{OrderStore, PaidOutcome};
use linli::store::refunds::RefundStore;
use linli::store::StoreError;
use linli::time::BusinessTime;
use linli::wechat::pay_notify::{self, Expected, PaidNotice, Verdict};
use linli::wechat::pay_v2::{self, PayV2Error, SignType};
use linli::wechat::pay_v3::{ApiV3Key, Platform};
use linli::wechat::xml::{XmlError, MAX_BODY};

/// What the handler needs from the configuration (DESIGN §7).
/// The merchant (appid, mch_id, API key) is the pay gateway's (`App::pay`), read once.
pub struct Settings {
    pub points_queue: String,
    /// `QUEUE_COURIER_DISPATCH`: paid deliveries go there for their waybill.
    pub dispatch_queue: String,
    /// Opens v3 notifies' resources (`WECHAT_PAY_API_V3_KEY`, 32 bytes).
    pub api_v3_key: Option<ApiV3Key>,
    /// Verifies v3 notifies (`WECHAT_PAY_PLATFORM_SERIAL` + `WECHAT_PAY_PLATFORM_PUBLIC_KEY`).
    pub platform: Option<Platform>,
}

impl Settings {
    pub fn from_source(source: &impl Source) -> Result<Self, ConfigError> {
        Ok(Self {
            points_queue: required(source, "QUEUE_POINTS_POSTINGS")?,
            dispatch_queue: required(source, "QUEUE_COURIER_DISPATCH")?,
            api_v3_key: optional(source, "WECHAT_PAY_API_V3_KEY")
                .map(|k| ApiV3Key::new(k.trim().as_bytes()))
                .transpose()
                .map_err(|e| ConfigError::Invalid {
                    name: "WECHAT_PAY_API_V3_KEY",
                    why: e.to_string(),
                })?,
            platform: match (
                optional(source, "WECHAT_PAY_PLATFORM_SERIAL"),
                linli::paying::pem(source, "WECHAT_PAY_PLATFORM_PUBLIC_KEY")?,
            ) {
                (Some(serial), Some(pem)) => {
                    Some(
                        Platform::new(&serial, &pem).map_err(|e| ConfigError::Invalid {
                            name: "WECHAT_PAY_PLATFORM_PUBLIC_KEY",
                            why: e.to_string(),
                        })?,
                    )
                }
                _ => None,
            },
        })
    }
}

pub struct App<O, R = linli::store::rules::DynamoRules, L = linli::store::ledger::DynamoLedger> {
    pub orders: O,
    /// The members' profiles: a payment earns at the member's tier when it is settled.
    pub ledger: L,
    /// Purchase rhythms (repurchase reminders), counted when an order is first marked paid.
    pub reminders: linli::store::reminders::DynamoReminders,
    /// The earn rules' versions (Config table): a payment earns by the version in force at its
    /// business time.
    pub rules: R,
    pub publisher: Publisher,
    /// WeChat Pay: refunds of late payments, refundquery.
    pub pay: linli::paying::PayGateway,
    /// Group-buy rounds: a paid join counts toward its round.
    pub rounds: linli::store::rounds::DynamoRounds,
    pub settings: Settings,
}

fn xml_reply(status: StatusCode, xml: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(xml));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("text/xml; charset=utf-8"),
    );
    response
}

pub(crate) fn success() -> Response<Body> {
    xml_reply(StatusCode::OK, pay_v2::reply_success())
}

pub(crate) fn fail(status: StatusCode, message: &str) -> Response<Body> {
    xml_reply(status, pay_v2::reply_fail(message))
}

/// A failure of ours: WeChat Pay retries the notify later.
pub(crate) fn retry_later(what: &str, error: &dyn std::fmt::Display) -> Response<Body> {
    tracing::error!(error = %error, "{what} failed; WeChat Pay will retry the notify");
    fail(StatusCode::INTERNAL_SERVER_ERROR, "SYSTEMERROR")
}

/// The request's time (API Gateway's `timeEpoch`).
fn now(request: &Request) -> Option<BusinessTime> {
    match request.request_context_ref()? {
        RequestContext::ApiGatewayV2(ctx) => BusinessTime::from_epoch_ms(ctx.time_epoch).ok(),
        _ => None,
    }
}

pub async fn handle<O: OrderStore + RefundStore>(app: &App<O>, request: Request) -> Response<Body> {
    let route = (
        now(&request),
        request.method().as_str(),
        request.uri().path(),
    );
    let now = match route {
        (Some(now), "POST", "/wechat/pay/notify") => now,
        (Some(now), "POST", "/wechat/pay/refund-notify") => {
            return refund::notify(app, request.body().as_ref(), now).await;
        }
        (Some(now), "POST", "/wechat/pay/v3/notify") => {
            return v3::notify(app, request.headers(), request.body().as_ref(), now).await;
        }
        _ => {
            tracing::info!(method = %request.method(), path = request.uri().path(), "not a notify route");
            return fail(StatusCode::NOT_FOUND, "NOT_FOUND");
        }
    };
    let body = request.body().as_ref();
    let fields = match pay_v2::parse(body) {
        Ok(fields) => fields,
        Err(PayV2Error::Xml(XmlError::TooLarge)) => {
            tracing::warn!(bytes = body.len(), limit = MAX_BODY, "notify too large");
            return fail(StatusCode::PAYLOAD_TOO_LARGE, "TOO_LARGE");
        }
        Err(e) => {
            tracing::warn!(reason = %e, bytes = body.len(), "malformed notify");
            return fail(StatusCode::BAD_REQUEST, "BAD_XML");
        }
    };
    let out_trade_no = fields.get("out_trade_no").cloned().unwrap_or_default();
    let order = match OrderId::parse(&out_trade_no) {
        Ok(id) => match app.orders.get(&id).await {
            Ok(order) => order,
            Err(e) => return retry_later("reading the order", &e),
        },
        Err(_) => None,
    };
    // The sign type Linli chose for the order; for an order it does not know, the notify's own.
    let sign_type = match &order {
        Some(order) => Ok(order.sign_type),
        None => fields
            .get("sign_type")
            .map(|t| t.parse::<SignType>())
            .unwrap_or(Ok(SignType::Md5)),
    };
    let verified =
        sign_type.and_then(|t| pay_v2::verify(&fields, &app.pay.config.merchant.api_key, t));
    if let Err(e) = verified {
        tracing::warn!(out_trade_no, reason = %e, "notify refused: sign does not verify");
        return fail(StatusCode::OK, "SIGN_ERROR");
    }
    let notice = match pay_notify::read(&fields) {
        Ok(notice) => notice,
        Err(pay_notify::NoticeError::NotReturned(why)) => {
            tracing::warn!(out_trade_no, why, "notify without a result: nothing to do");
            return success();
        }
        Err(e) => {
            tracing::warn!(out_trade_no, reason = %e, "signed notify is malformed");
            return fail(StatusCode::BAD_REQUEST, "BAD_NOTIFY");
        }
    };
    paid(app, order, &notice, now).await
}

/// A payment notice that passed its checks (v2 sign or v3 signature): the order it names is
/// looked up and the payment settled.
pub(crate) async fn settle_payment<O: OrderStore + RefundStore>(
    app: &App<O>,
    notice: PaidNotice,
    now: BusinessTime,
) -> Response<Body> {
    let order = match OrderId::parse(&notice.out_trade_no) {
        Ok(id) => match app.orders.get(&id).await {
            Ok(order) => order,
            Err(e) => return retry_later("reading the order", &e),
        },
        Err(_) => None,
    };
    paid(app, order, &notice, now).await
}

async fn paid<O: OrderStore + RefundStore>(
    app: &App<O>,
    order: Option<Order>,
    notice: &PaidNotice,
    now: BusinessTime,
) -> Response<Body> {
    let out_trade_no = &notice.out_trade_no;
    match order {
        Some(order) => settle(app, order, notice, now).await,
        None => {
            let foreign = notice.appid != app.pay.config.merchant.appid
                || notice.mch_id != app.pay.config.merchant.mch_id;
            if foreign || !notice.succeeded {
                tracing::warn!(
                    out_trade_no,
                    foreign,
                    "notify for no order of ours: refused"
                );
                return fail(StatusCode::OK, "ORDER_NOT_FOUND");
            }
            anomaly(
                app,
                AnomalyKind::UnknownOrder,
                notice,
                None,
                "no such order",
                now,
            )
            .await
        }
    }
}

/// What the payment earns, by the rules in force at `paid_at` and the member's tier. Only a
/// pending order can be marked paid: repeats and late payments need no rules read (None).
async fn earning<O>(
    app: &App<O>,
    order: &Order,
    paid_at: BusinessTime,
) -> Result<Option<linli::order::EarnDecision>, linli::store::StoreError> {
    if order.status != linli::order::OrderStatus::Pending {
        return Ok(None);
    }
    let rules = linli::store::rules::in_force_at(&app.rules, paid_at);
    let tier = linli::store::ledger::current_tier(&app.ledger, &order.member);
    let (rules, tier) = tokio::try_join!(rules, tier)?;
    Ok(Some(order.decide_earning(&rules.earn, paid_at, tier)))
}

/// A verified notice for a known order.
async fn settle<O: OrderStore + RefundStore>(
    app: &App<O>,
    order: Order,
    notice: &PaidNotice,
    now: BusinessTime,
) -> Response<Body> {
    let expected = Expected {
        appid: &app.pay.config.merchant.appid,
        mch_id: &app.pay.config.merchant.mch_id,
        amount: order.amount_fen,
    };
    let paid_at = match (pay_notify::judge(notice, &expected), notice.paid_at) {
        (Verdict::Matches, Some(paid_at)) => paid_at,
        (Verdict::Foreign(why), _) => {
            tracing::warn!(order_id = %order.order_id, why, "notify refused: not our app or merchant");
            return fail(StatusCode::OK, "FOREIGN");
        }
        (Verdict::Mismatch(why), _) => {
            let expected = Some(order.amount_fen);
            return anomaly(
                app,
                AnomalyKind::AmountMismatch,
                notice,
                expected,
                &why,
                now,
            )
            .await;
        }
        (Verdict::Failed | Verdict::Matches, _) => {
            tracing::info!(order_id = %order.order_id, "payment failed at WeChat Pay: nothing to do");
            return success();
        }
    };
    // A group-buy join earns at the cutoff (confirmed lines only), not by its payment.
    let decided = match order.round {
        Some(_) => Ok(None),
        None => earning(app, &order, paid_at).await,
    };
    let earned = match decided {
        Ok(earned) => earned,
        Err(e) => return retry_later("reading the earn rules and the member's tier", &e),
    };
    let payment = Payment {
        transaction_id: notice.transaction_id.clone(),
        paid_at,
        earned,
    };
    match app.orders.mark_paid(&order.order_id, &payment).await {
        Ok(PaidOutcome::Marked { order, cost }) => {
            let earned = order.payment.as_ref().and_then(|p| p.earned.as_ref());
            tracing::info!(order_id = %order.order_id, member = %order.member.masked(), amount_fen = order.amount_fen.value(), wru = cost.total(), rules_version = earned.map(|e| e.rules_version), earned = earned.map(|e| e.explanation.as_str()), "order paid");
            let fen = u64::try_from(order.amount_fen.value()).unwrap_or(0);
            linli::metrics::record(paid_at, &[("PaidOrders", 1), ("PaidFen", fen)], &[]);
            count_purchase(app, &order, paid_at).await;
            emit(app, &order, now).await
        }
        Ok(PaidOutcome::AlreadyPaid(order)) => {
            let same =
                order.payment.as_ref().map(|p| &p.transaction_id) == Some(&payment.transaction_id);
            if same {
                tracing::info!(order_id = %order.order_id, "repeat notify: messages re-sent");
                return emit(app, &order, now).await;
            }
            let expected = Some(order.amount_fen);
            anomaly(
                app,
                AnomalyKind::DoublePayment,
                notice,
                expected,
                "the order was paid by another transaction",
                now,
            )
            .await
        }
        Ok(PaidOutcome::Ended(order)) => {
            let why = format!("paid after the order was {}", order.status);
            let answer = anomaly(
                app,
                AnomalyKind::LatePayment,
                notice,
                Some(order.amount_fen),
                &why,
                now,
            )
            .await;
            if answer.status() != StatusCode::OK {
                return answer;
            }
            let recorded = late_anomaly(notice, &order, &why, now);
            match refund::refund_late_payment(app, &order, &recorded, now).await {
                Ok(()) => answer,
                Err(retry) => retry,
            }
        }
        Ok(PaidOutcome::Missing) => {
            anomaly(
                app,
                AnomalyKind::UnknownOrder,
                notice,
                None,
                "the order vanished",
                now,
            )
            .await
        }
        Err(e) => retry_later("marking the order paid", &e),
    }
}

/// Sends what a paid order causes. Safe to repeat: the ids are deterministic.
/// Counts the order's SKUs toward the member's purchase rhythm (repurchase reminders). Only a
/// reminder's timing depends on it: a failure is logged and the payment goes on.
async fn count_purchase<O>(app: &App<O>, order: &Order, paid_at: BusinessTime) {
    use linli::store::rhythm::{Purchased, RhythmStore};
    // A group-buy join may still be refused by its round: not a purchase habit yet.
    if order.round.is_some() {
        return;
    }
    let lines: Vec<Purchased> = order
        .lines
        .iter()
        .map(|l| Purchased {
            sku: l.sku.to_string(),
            name: l.name.clone(),
        })
        .collect();
    let counted = app
        .reminders
        .record_purchase(&order.member, &lines, paid_at.date())
        .await;
    if let Err(e) = counted {
        tracing::warn!(order_id = %order.order_id, error = %e, "purchase rhythm not counted: repurchase reminders may come late");
    }
}

async fn emit<O: OrderStore + RefundStore>(
    app: &App<O>,
    order: &Order,
    now: BusinessTime,
) -> Response<Body> {
    if order.round.is_some() {
        return group_buy::count(app, order, now).await;
    }
    let order =
        match linli::store::placing::settle_fee_hold(&app.ledger, &app.orders, order.clone(), now)
            .await
        {
            Ok(order) => order,
            Err(e) => return retry_later("checking the delivery fee's points hold", &e),
        };
    if let Some(posting) = order.pay_posting() {
        let sent = app
            .publisher
            .send(&app.settings.points_queue, &Envelope::posting(posting))
            .await;
        // The order stays paid: WeChat's retry re-sends, housekeeping's Redrive is the backstop.
        if let Err(e) = sent {
            return retry_later("enqueueing the points", &e);
        }
    } else {
        tracing::info!(order_id = %order.order_id, "nothing to post (under 1 yuan of goods)");
    }
    let undispatched = order.dispatch.as_ref().is_none_or(|d| d.waybill.is_none());
    if order.delivery.is_some() && undispatched {
        let paid_at = order.payment.as_ref().map_or(now, |p| p.paid_at);
        let message = Envelope::dispatch(order.order_id.clone(), paid_at);
        if let Err(e) = app
            .publisher
            .send(&app.settings.dispatch_queue, &message)
            .await
        {
            return retry_later("enqueueing the courier dispatch", &e);
        }
    }
    success()
}

fn late_anomaly(notice: &PaidNotice, order: &Order, why: &str, now: BusinessTime) -> Anomaly {
    Anomaly {
        kind: AnomalyKind::LatePayment,
        out_trade_no: order.order_id.to_string(),
        transaction_id: notice.transaction_id.clone(),
        paid_fen: notice.total_fee,
        expected_fen: Some(order.amount_fen),
        detail: why.to_owned(),
        recorded_at: now,
    }
}

async fn anomaly<O: OrderStore>(
    app: &App<O>,
    kind: AnomalyKind,
    notice: &PaidNotice,
    expected_fen: Option<linli::money::Fen>,
    detail: &str,
    now: BusinessTime,
) -> Response<Body> {
    let anomaly = Anomaly {
        kind,
        out_trade_no: notice.out_trade_no.clone(),
        transaction_id: notice.transaction_id.clone(),
        paid_fen: notice.total_fee,
        expected_fen,
        detail: detail.to_owned(),
        recorded_at: now,
    };
    match app.orders.record_anomaly(&anomaly).await {
        Ok(new) => {
            tracing::error!(
                anomaly = kind.as_str(),
                out_trade_no = %anomaly.out_trade_no,
                transaction_id = %anomaly.transaction_id,
                paid_fen = anomaly.paid_fen.value(),
                expected_fen = expected_fen.map(|f| f.value()),
                detail,
                new,
                "payment anomaly: no points granted; an operator must look"
            );
            success()
        }
        Err(e) => retry_later("recording the anomaly", &e as &StoreError),
    }
}
