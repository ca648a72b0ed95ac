//! Daily sign-in (seed 001: 签到 5 积分): once per business day (Asia/Shanghai), so the posting id
//! is the member and the date — a second sign-in that day is the same posting, granted once.

use crate::ids::{MemberId, PostingId};
use crate::ledger::{Op, PostingRequest, Source};
use crate::money::Points;
use crate::time::BusinessTime;

/// Points for a daily sign-in (default from the seeds).
pub const SIGN_IN_POINTS: Points = Points::new(5);

/// The sign-in of `member` at `at`: `signin:<member>:<yyyy-mm-dd>` in business time.
pub fn sign_in(member: &MemberId, at: BusinessTime) -> PostingRequest {
    PostingRequest::new(
        PostingId::sign_in(member, at.date()),
        member.clone(),
        at,
        vec![Op::Earn {
            source: Source::SignIn,
            points: SIGN_IN_POINTS,
        }],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sign_in_per_business_day() {
        // 2026-11-24 23:59 and 2026-11-25 00:01 in Shanghai: two days, though 2 minutes apart.
        let late = BusinessTime::parse_rfc3339("2026-11-24T23:59:00+08:00").unwrap();
        let early = BusinessTime::parse_rfc3339("2026-11-25T00:01:00+08:00").unwrap();
        let member = MemberId::generate(late, 1);
        assert_ne!(sign_in(&member, late).id, sign_in(&member, early).id);
        let same_day = BusinessTime::parse_rfc3339("2026-11-25T20:00:00+08:00").unwrap();
        assert_eq!(sign_in(&member, early).id, sign_in(&member, same_day).id);
        assert_eq!(
            sign_in(&member, early).content_hash(),
            sign_in(&member, same_day).content_hash(),
            "a repeat the same day is the same posting"
        );
    }
}
