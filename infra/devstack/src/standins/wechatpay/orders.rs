//! What WeChat Pay decides for `unifiedorder`, `closeorder` and `orderquery` once the envelope
//! (XML, sign, app and merchant) passed: the result fields of the answer (`result_code`, and
//! `err_code` + `err_code_des` when it is `FAIL`), before the envelope fields and the sign; and
//! the fields that describe a payment, shared by `orderquery` and the payment notify.

use super::notify::notify_path;
use super::{fields, given, random, shanghai_compact, Orders, PayApi, PayOrder, TradeState};
use chrono::{DateTime, Utc};
use linli::wechat::pay_v2::SignType;
use linli::wechat::xml::Fields;

/// Creates the order, or answers a repeat with the same `prepay_id` when it asks for the same
/// payment (amount and payer), as WeChat Pay does.
pub fn unified_order(
    orders: &mut Orders,
    request: &Fields,
    sign_type: SignType,
    now: DateTime<Utc>,
) -> Fields {
    let order = match new_order(request, sign_type, now) {
        Ok(order) => order,
        Err(des) => return result_fail("PARAM_ERROR", &des),
    };
    let out_trade_no = given(request, "out_trade_no");
    let prepay_id = match orders.get(out_trade_no) {
        Some(old) if old.state == TradeState::Success => {
            return result_fail("ORDERPAID", "该订单已支付")
        }
        Some(old) if old.state == TradeState::Closed => {
            return result_fail("ORDERCLOSED", "该订单已关闭")
        }
        Some(old) if old.total_fee != order.total_fee || old.openid != order.openid => {
            return result_fail("INVALID_REQUEST", "201 商户订单号重复")
        }
        Some(old) => old.prepay_id.clone(),
        None => {
            let prepay_id = order.prepay_id.clone();
            orders.insert(out_trade_no.to_owned(), order);
            prepay_id
        }
    };
    result_success([("prepay_id", prepay_id.as_str()), ("trade_type", "JSAPI")])
}

/// The order a valid JSAPI `unifiedorder` creates; `Err` is the `err_code_des`.
fn new_order(
    request: &Fields,
    sign_type: SignType,
    now: DateTime<Utc>,
) -> Result<PayOrder, String> {
    let required = [
        "nonce_str",
        "body",
        "out_trade_no",
        "total_fee",
        "spbill_create_ip",
        "notify_url",
        "trade_type",
    ];
    if let Some(missing) = required.iter().find(|k| given(request, k).is_empty()) {
        return Err(format!("缺少参数{missing}"));
    }
    let out_trade_no = given(request, "out_trade_no");
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"_-|*@".contains(&b);
    if out_trade_no.len() > 32 || !out_trade_no.bytes().all(allowed) {
        return Err("out_trade_no参数格式错误".into());
    }
    let total_fee = Some(given(request, "total_fee"))
        .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|fee| *fee > 0)
        .ok_or("total_fee参数格式错误")?;
    if given(request, "trade_type") != "JSAPI" {
        return Err("trade_type参数错误".into());
    }
    if given(request, "openid").is_empty() {
        return Err("JSAPI支付必须传openid".into());
    }
    // WeChat Pay refuses notify URLs with parameters.
    let notify_url = given(request, "notify_url");
    if notify_url.contains('?') || notify_path(notify_url).is_none() {
        return Err("notify_url参数格式错误".into());
    }
    Ok(PayOrder {
        appid: given(request, "appid").to_owned(),
        mch_id: given(request, "mch_id").to_owned(),
        openid: given(request, "openid").to_owned(),
        total_fee,
        notify_url: notify_url.to_owned(),
        attach: given(request, "attach").to_owned(),
        sign_type,
        prepay_id: new_prepay_id(now),
        state: TradeState::NotPay,
        transaction_id: None,
        time_end: None,
        api: PayApi::V2,
    })
}

/// A new `prepay_id` (v2 and v3 alike): `wx`, the Beijing time, 20 hex digits.
pub fn new_prepay_id(now: DateTime<Utc>) -> String {
    format!("wx{}{}", shanghai_compact(now), random(20, 16))
}

/// Closes an unpaid order; a paid or closed one stays as it is.
pub fn close_order(orders: &mut Orders, request: &Fields) -> Fields {
    let out_trade_no = given(request, "out_trade_no");
    if out_trade_no.is_empty() {
        return result_fail("PARAM_ERROR", "缺少参数out_trade_no");
    }
    let Some(order) = orders.get_mut(out_trade_no) else {
        return result_fail("ORDERNOTEXIST", "订单不存在");
    };
    match order.state {
        TradeState::NotPay => {
            order.state = TradeState::Closed;
            result_success([])
        }
        TradeState::Success => result_fail("ORDERPAID", "该订单已支付"),
        TradeState::Closed => result_fail("ORDERCLOSED", "该订单已关闭"),
    }
}

/// The order's `trade_state`, found by `out_trade_no` or else `transaction_id`.
pub fn order_query(orders: &Orders, request: &Fields) -> Fields {
    let out_trade_no = given(request, "out_trade_no");
    let transaction_id = given(request, "transaction_id");
    let found = if !out_trade_no.is_empty() {
        orders.get_key_value(out_trade_no)
    } else if !transaction_id.is_empty() {
        let paid_by = |o: &PayOrder| o.transaction_id.as_deref() == Some(transaction_id);
        orders.iter().find(|(_, o)| paid_by(o))
    } else {
        return result_fail("PARAM_ERROR", "out_trade_no或transaction_id至少填一个");
    };
    let Some((out_trade_no, order)) = found else {
        return result_fail("ORDERNOTEXIST", "订单不存在");
    };
    let desc = match order.state {
        TradeState::NotPay => "订单未支付",
        TradeState::Success => "支付成功",
        TradeState::Closed => "订单已关闭",
    };
    let mut result = match order.state {
        TradeState::Success => payment_fields(out_trade_no, order),
        _ => fields([("out_trade_no", out_trade_no.as_str())]),
    };
    result.extend(fields([
        ("trade_state", order.state.as_str()),
        ("trade_state_desc", desc),
        ("result_code", "SUCCESS"),
    ]));
    result
}

/// What WeChat Pay says about a payment of `order`, in notifies and order queries (fields without
/// a value are left out).
pub fn payment_fields(out_trade_no: &str, order: &PayOrder) -> Fields {
    let fee = order.total_fee.to_string();
    let mut payment = fields([
        ("attach", order.attach.as_str()),
        ("bank_type", "OTHERS"),
        ("cash_fee", &fee),
        ("fee_type", "CNY"),
        ("is_subscribe", "N"),
        ("openid", &order.openid),
        ("out_trade_no", out_trade_no),
        ("time_end", order.time_end.as_deref().unwrap_or_default()),
        ("total_fee", &fee),
        ("trade_type", "JSAPI"),
        (
            "transaction_id",
            order.transaction_id.as_deref().unwrap_or_default(),
        ),
    ]);
    payment.retain(|_, v| !v.is_empty());
    payment
}

fn result_success<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Fields {
    let mut result = fields(pairs);
    result.insert("result_code".into(), "SUCCESS".into());
    result
}

fn result_fail(err_code: &str, err_code_des: &str) -> Fields {
    fields([
        ("result_code", "FAIL"),
        ("err_code", err_code),
        ("err_code_des", err_code_des),
    ])
}

#[cfg(test)]
mod tests {
    use super::super::tests::{call, now, request, KEY, ORDER};
    use super::super::Api;
    use super::*;

    fn create(orders: &mut Orders, changes: &[(&str, &str)]) -> Fields {
        let body = request(changes, SignType::Md5, KEY);
        call(Api::UnifiedOrder, orders, &body, SignType::Md5)
    }

    fn result(answer: &Fields) -> (&str, &str) {
        (given(answer, "result_code"), given(answer, "err_code"))
    }

    #[test]
    fn missing_or_invalid_parameters_are_param_errors() {
        let cases: [&[(&str, &str)]; 8] = [
            &[("openid", "<drop>")],
            &[("notify_url", "<drop>")],
            &[("spbill_create_ip", "<drop>")],
            &[("total_fee", "0")],
            &[("total_fee", "19.90")],
            &[("out_trade_no", "O-123456789012345678901234567890X")],
            &[("trade_type", "NATIVE")],
            &[("notify_url", "http://127.0.0.1:3000/wechat/pay/notify?x=1")],
        ];
        for changes in cases {
            let mut orders = Orders::new();
            let answer = create(&mut orders, changes);
            assert_eq!(answer["return_code"], "SUCCESS");
            assert_eq!(result(&answer), ("FAIL", "PARAM_ERROR"), "{changes:?}");
            assert!(orders.is_empty());
        }
        let answer = create(&mut Orders::new(), &[("openid", "<drop>")]);
        assert_eq!(answer["err_code_des"], "JSAPI支付必须传openid");
    }

    #[test]
    fn a_repeat_gets_the_same_prepay_id_and_a_changed_payment_is_refused() {
        let mut orders = Orders::new();
        let first = create(&mut orders, &[]);
        let again = create(&mut orders, &[("nonce_str", "another")]);
        assert_eq!(again["prepay_id"], first["prepay_id"]);
        let dearer = create(&mut orders, &[("total_fee", "2990")]);
        assert_eq!(result(&dearer), ("FAIL", "INVALID_REQUEST"));
        let other_payer = create(&mut orders, &[("openid", "o-bob")]);
        assert_eq!(result(&other_payer), ("FAIL", "INVALID_REQUEST"));
        assert_eq!(orders[ORDER].total_fee, 1990);
    }

    #[test]
    fn close_order_closes_an_unpaid_order_once_and_never_a_paid_one() {
        let mut orders = Orders::new();
        create(&mut orders, &[]);
        let close = |orders: &mut Orders, no: &str| {
            let body = request(
                &[("out_trade_no", no), ("body", "<drop>")],
                SignType::Md5,
                KEY,
            );
            let answer = call(Api::CloseOrder, orders, &body, SignType::Md5);
            let (code, err) = result(&answer);
            (code.to_owned(), err.to_owned())
        };
        let pair = |code: &str, err: &str| (code.to_owned(), err.to_owned());
        assert_eq!(close(&mut orders, ORDER), pair("SUCCESS", ""));
        assert_eq!(orders[ORDER].state, TradeState::Closed);
        assert_eq!(close(&mut orders, ORDER), pair("FAIL", "ORDERCLOSED"));
        assert_eq!(result(&create(&mut orders, &[])), ("FAIL", "ORDERCLOSED"));
        assert_eq!(
            close(&mut orders, "O-unknown"),
            pair("FAIL", "ORDERNOTEXIST")
        );
        create(&mut orders, &[("out_trade_no", "O-paid")]);
        orders.get_mut("O-paid").unwrap().state = TradeState::Success;
        assert_eq!(close(&mut orders, "O-paid"), pair("FAIL", "ORDERPAID"));
        assert_eq!(orders["O-paid"].state, TradeState::Success);
        let repeat = create(&mut orders, &[("out_trade_no", "O-paid")]);
        assert_eq!(result(&repeat), ("FAIL", "ORDERPAID"));
    }

    #[test]
    fn order_query_tells_the_trade_state_and_the_payment() {
        let mut orders = Orders::new();
        let hmac = SignType::HmacSha256;
        let query = |orders: &mut Orders, by: (&str, &str)| {
            let body = request(&[("out_trade_no", "<drop>"), by], hmac, KEY);
            call(Api::OrderQuery, orders, &body, hmac)
        };
        let by_no = ("out_trade_no", ORDER);
        assert_eq!(
            result(&query(&mut orders, by_no)),
            ("FAIL", "ORDERNOTEXIST")
        );
        create(&mut orders, &[]);
        let unpaid = query(&mut orders, by_no);
        assert_eq!(unpaid["trade_state"], "NOTPAY");
        assert!(!unpaid.contains_key("transaction_id"));
        let order = orders.get_mut(ORDER).unwrap();
        super::super::notify::settle(order, super::super::notify::PayResult::Success, now());
        let transaction_id = order.transaction_id.clone().unwrap();
        let paid = query(&mut orders, ("transaction_id", &transaction_id));
        assert_eq!(paid["trade_state"], "SUCCESS");
        assert_eq!(paid["out_trade_no"], ORDER);
        assert_eq!(
            (paid["total_fee"].as_str(), paid["cash_fee"].as_str()),
            ("1990", "1990")
        );
        assert_eq!(paid["openid"], "o-alice");
        assert_eq!(paid["time_end"], "20261125003005");
        assert_eq!(paid["bank_type"], "OTHERS");
    }
}
