//! Invites (seed 001: 邀请有礼 100 积分): a member's invite code is a QR code whose scene names
//! them; a newcomer who follows the Official Account through it earns the bonus, and so does the
//! member who invited them — once per newcomer (`invite:<newcomer>:<beneficiary>`), never for
//! inviting oneself, never for someone Linli had seen before.

use crate::ids::{MemberId, PostingId};
use crate::ledger::{Op, PostingRequest, Source};
use crate::money::Points;
use crate::time::BusinessTime;

/// Points for each side of an invite (default from the seeds).
pub const INVITE_POINTS: Points = Points::new(100);

/// A member first seen this long before the follow push still counts as new: the push's time is
/// WeChat's, the member's creation is ours a moment later (and WeChat retries for seconds).
const NEWCOMER_SLACK_MS: i64 = 60_000;

const SCENE_PREFIX: &str = "i_";

/// The QR scene (`scene_str`, ≤ 64 characters) of `member`'s invite code.
pub fn invite_scene(member: &MemberId) -> String {
    format!("{SCENE_PREFIX}{member}")
}

/// The member an invite scene names, if it is one.
pub fn referrer_of(scene: &str) -> Option<MemberId> {
    scene
        .strip_prefix(SCENE_PREFIX)
        .and_then(|id| MemberId::parse(id).ok())
}

/// The bonuses when `newcomer` followed at `pushed_at` through `referrer`'s code: both sides, or
/// nothing for a self-invite or a member who existed before the push.
pub fn invite_bonuses(
    referrer: &MemberId,
    newcomer: &MemberId,
    pushed_at: BusinessTime,
) -> Vec<PostingRequest> {
    let is_new = newcomer
        .created_at()
        .is_some_and(|created| created.epoch_ms() >= pushed_at.epoch_ms() - NEWCOMER_SLACK_MS);
    if referrer == newcomer || !is_new {
        return vec![];
    }
    [newcomer, referrer]
        .into_iter()
        .map(|beneficiary| {
            PostingRequest::new(
                PostingId::invite(newcomer, beneficiary),
                beneficiary.clone(),
                pushed_at,
                vec![Op::Earn {
                    source: Source::Invite,
                    points: INVITE_POINTS,
                }],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> BusinessTime {
        BusinessTime::from_epoch_ms(ms).unwrap()
    }

    #[test]
    fn a_newcomer_and_the_referrer_each_earn_once() {
        let push = at(1_795_521_600_000);
        let referrer = MemberId::generate(at(1_700_000_000_000), 1);
        let newcomer = MemberId::generate(push.plus_ms(800), 2);
        assert_eq!(
            referrer_of(&invite_scene(&referrer)),
            Some(referrer.clone())
        );
        let bonuses = invite_bonuses(&referrer, &newcomer, push);
        assert_eq!(bonuses.len(), 2);
        assert_eq!(bonuses[0].member, newcomer);
        assert_eq!(bonuses[1].member, referrer);
        assert_ne!(bonuses[0].id, bonuses[1].id);
        assert_eq!(
            invite_bonuses(&referrer, &newcomer, push),
            bonuses,
            "a repeat is the same postings"
        );
    }

    #[test]
    fn no_bonus_for_oneself_or_someone_seen_before() {
        let push = at(1_795_521_600_000);
        let member = MemberId::generate(push, 1);
        assert!(invite_bonuses(&member, &member, push).is_empty());
        let old_timer = MemberId::generate(push.plus_ms(-3_600_000), 2);
        assert!(invite_bonuses(&member, &old_timer, push).is_empty());
        assert_eq!(referrer_of("qr_other"), None);
        assert_eq!(referrer_of("i_not-a-ulid"), None);
    }
}
