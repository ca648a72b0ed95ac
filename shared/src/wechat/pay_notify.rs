//! What a verified Pay v2 payment notify says, and whether it matches the order Linli priced
//! (DESIGN §6). Pure: pay-notify verifies the sign with the order's sign type (`pay_v2::verify`),
//! then lets `judge` decide; only a match marks the order paid.

use super::xml::Fields;
use crate::money::Fen;
use crate::time::BusinessTime;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoticeError {
    #[error("return_code is not SUCCESS: {0}")]
    NotReturned(String),
    #[error("field {0} is missing")]
    Missing(&'static str),
    #[error("field {name} is malformed: {value:?}")]
    Malformed { name: &'static str, value: String },
}

/// A payment WeChat Pay says happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaidNotice {
    pub appid: String,
    pub mch_id: String,
    pub out_trade_no: String,
    pub transaction_id: String,
    pub openid: String,
    pub total_fee: Fen,
    /// `time_end` (Beijing time): the business time of the payment; none for a failed payment.
    pub paid_at: Option<BusinessTime>,
    /// False when `result_code` is FAIL (the payment did not go through).
    pub succeeded: bool,
}

fn field(fields: &Fields, name: &'static str) -> Result<String, NoticeError> {
    fields
        .get(name)
        .filter(|v| !v.is_empty())
        .cloned()
        .ok_or(NoticeError::Missing(name))
}

/// Reads a notify's fields (after its sign was verified).
pub fn read(fields: &Fields) -> Result<PaidNotice, NoticeError> {
    let return_code = field(fields, "return_code")?;
    if return_code != "SUCCESS" {
        let msg = fields.get("return_msg").cloned().unwrap_or_default();
        return Err(NoticeError::NotReturned(
            format!("{return_code} {msg}").trim().to_owned(),
        ));
    }
    let succeeded = field(fields, "result_code")? == "SUCCESS";
    let total_fee_text = field(fields, "total_fee")?;
    let total_fee = total_fee_text
        .parse::<i64>()
        .ok()
        .filter(|fee| *fee > 0)
        .map(Fen::new)
        .ok_or(NoticeError::Malformed {
            name: "total_fee",
            value: total_fee_text.chars().take(32).collect(),
        })?;
    let paid_at = if succeeded {
        let time_end = field(fields, "time_end")?;
        Some(
            BusinessTime::parse_shanghai_compact(&time_end).map_err(|_| {
                NoticeError::Malformed {
                    name: "time_end",
                    value: time_end.chars().take(32).collect(),
                }
            })?,
        )
    } else {
        None
    };
    Ok(PaidNotice {
        appid: field(fields, "appid")?,
        mch_id: field(fields, "mch_id")?,
        out_trade_no: field(fields, "out_trade_no")?,
        transaction_id: if succeeded {
            field(fields, "transaction_id")?
        } else {
            fields.get("transaction_id").cloned().unwrap_or_default()
        },
        openid: fields.get("openid").cloned().unwrap_or_default(),
        total_fee,
        paid_at,
        succeeded,
    })
}

/// What Linli expects of a payment for one of its orders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected<'a> {
    pub appid: &'a str,
    pub mch_id: &'a str,
    pub amount: Fen,
}

/// How a verified notice relates to the order it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The payment is the order's: mark it paid (once) and post its points.
    Matches,
    /// Signed by WeChat Pay but not for our app/merchant: refuse it (FAIL), change nothing.
    Foreign(String),
    /// A real payment that does not match the order (amount): record an anomaly, alarm, grant
    /// nothing, answer SUCCESS so WeChat stops retrying.
    Mismatch(String),
    /// WeChat Pay reports the payment failed: nothing to do.
    Failed,
}

pub fn judge(notice: &PaidNotice, expected: &Expected<'_>) -> Verdict {
    if notice.appid != expected.appid {
        return Verdict::Foreign(format!("appid {} is not ours", notice.appid));
    }
    if notice.mch_id != expected.mch_id {
        return Verdict::Foreign(format!("mch_id {} is not ours", notice.mch_id));
    }
    if !notice.succeeded {
        return Verdict::Failed;
    }
    if notice.total_fee != expected.amount {
        return Verdict::Mismatch(format!(
            "paid {} for an order of {}",
            notice.total_fee, expected.amount
        ));
    }
    Verdict::Matches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify() -> Fields {
        [
            ("appid", "wx2421b1c4370ec43b"),
            ("mch_id", "10000100"),
            ("out_trade_no", "O-20261124-0001"),
            ("transaction_id", "1004400740201409030005092168"),
            ("openid", "oUpF8uMEb4qRXf22hE3X68TekukE"),
            ("total_fee", "3990"),
            ("time_end", "20261124200105"),
            ("return_code", "SUCCESS"),
            ("result_code", "SUCCESS"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    fn expected(amount: i64) -> Expected<'static> {
        Expected {
            appid: "wx2421b1c4370ec43b",
            mch_id: "10000100",
            amount: Fen::new(amount),
        }
    }

    #[test]
    fn a_matching_payment_is_read_in_beijing_time() {
        let notice = read(&notify()).unwrap();
        assert_eq!(notice.total_fee, Fen::new(3990));
        assert_eq!(
            notice.paid_at.unwrap().to_string(),
            "2026-11-24T20:01:05.000+08:00"
        );
        assert_eq!(judge(&notice, &expected(3990)), Verdict::Matches);
    }

    #[test]
    fn foreign_mismatching_and_failed_payments_are_told_apart() {
        let notice = read(&notify()).unwrap();
        assert!(matches!(
            judge(&notice, &expected(3999)),
            Verdict::Mismatch(_)
        ));
        let other_app = Expected {
            appid: "wxother",
            ..expected(3990)
        };
        assert!(matches!(judge(&notice, &other_app), Verdict::Foreign(_)));
        let other_mch = Expected {
            mch_id: "1",
            ..expected(3990)
        };
        assert!(matches!(judge(&notice, &other_mch), Verdict::Foreign(_)));
        let mut failed = notify();
        failed.insert("result_code".into(), "FAIL".into());
        assert_eq!(
            judge(&read(&failed).unwrap(), &expected(3990)),
            Verdict::Failed
        );
    }

    #[test]
    fn malformed_notices_say_which_field() {
        let mut f = notify();
        f.insert("total_fee".into(), "39.90".into());
        assert!(matches!(
            read(&f),
            Err(NoticeError::Malformed {
                name: "total_fee",
                ..
            })
        ));
        let mut f = notify();
        f.insert("total_fee".into(), "0".into());
        assert!(read(&f).is_err());
        let mut f = notify();
        f.remove("out_trade_no");
        assert_eq!(read(&f), Err(NoticeError::Missing("out_trade_no")));
        let mut f = notify();
        f.insert("time_end".into(), "2026-11-24".into());
        assert!(matches!(
            read(&f),
            Err(NoticeError::Malformed {
                name: "time_end",
                ..
            })
        ));
        let mut f = notify();
        f.insert("return_code".into(), "FAIL".into());
        assert!(matches!(read(&f), Err(NoticeError::NotReturned(_))));
    }
}
