//! What a push does and what the member reads back (DESIGN §2, seeds 000/001):
//! - `subscribe`: the member (UnionID first, DESIGN §3) is created or reactivated; a welcome
//!   with the balance. `SCAN` by a follower is recorded in the log; `unsubscribe` marks the
//!   identity unfollowed (points and records stay).
//! - 签到 (text, or the menu key `SIGN_IN`): the daily sign-in, once per business day, with a
//!   streak bonus every N consecutive days and a daily cap.
//! - 积分 (text, or `BALANCE`): balance, held points and what expires within 30 days.
//! - a location (message or `LOCATION` event), or 附近门店 / `NEARBY`: the nearest open store
//!   within 3 km with its hours and the delivery price in points.
//!
//! Keywords, menu keys, points, streak and cap are configuration (`LINLI_OA_INTERACTIONS`,
//! `rules::InteractionRules`); the above are the defaults.
//!
//! Anything else: no reply (`success`) and an INFO line.
//!
//! A posting that cannot be committed within the reply budget goes to `points-postings.fifo`
//! under the same deterministic id, so it still happens exactly once, and the reply says so.

use crate::App;
use linli::catalog::nearby;
use linli::ids::{Identity, MemberId, PostingId, UnionId};
use linli::ledger::{lot_expires_on, LedgerError, PostingRequest};
use linli::money::Points;
use linli::queue::Envelope;
use linli::rules::{
    had_streak_bonus, invite_bonuses, referrer_of, Interaction, InteractionRules, INVITE_POINTS,
};
use linli::store::catalog::CatalogStore;
use linli::store::ledger::LedgerStore;
use linli::store::members::{resolve, Members};
use linli::store::StoreError;
use linli::time::BusinessTime;
use linli::wechat::oa::{Event, Inbound, Message};
use linli::wechat::oa_api;
use std::time::Duration;
use tokio::time::Instant;

/// Stores further than this are not suggested (seed: 3 km offers).
const NEARBY_RADIUS_M: u32 = 3_000;
/// The delivery fee in points until the delivery issue prices it (seed 000: 50 points).
const DELIVERY_FEE_POINTS: i64 = 50;
/// How long a posting may take before it is handed to the queue (WeChat waits 5 s).
const POSTING_BUDGET: Duration = Duration::from_millis(3_000);
/// What handing a posting to the queue may take, kept free before the reply deadline.
const QUEUE_MARGIN: Duration = Duration::from_millis(800);
/// Points expiring within this many days are mentioned with the balance.
const EXPIRY_NOTICE_DAYS: i64 = 30;

/// What the member can ask for, with the keywords the operator configured.
fn help(rules: &InteractionRules) -> String {
    let sign_in = rules.keyword_for(Interaction::SignIn);
    let balance = rules.keyword_for(Interaction::Balance);
    let mut text = String::new();
    if let Some(k) = sign_in {
        text.push_str(&format!("回复「{k}」每天领积分，"));
    }
    if let Some(k) = balance {
        text.push_str(&format!("回复「{k}」查余额，"));
    }
    text.push_str("发送位置查看附近门店。");
    text
}

/// What the member asked for.
enum Ask {
    SignIn,
    Balance,
    Nearby(Option<(f64, f64)>),
}

fn ask(rules: &InteractionRules, message: &Message) -> Option<Ask> {
    let interaction = match message {
        Message::Text { content, .. } => rules.for_text(content),
        Message::Event(Event::Click { key }) => rules.for_click(key),
        Message::Location { lat, lng, .. } | Message::Event(Event::Location { lat, lng, .. }) => {
            return Some(Ask::Nearby(Some((*lat, *lng))))
        }
        _ => None,
    };
    Some(match interaction? {
        Interaction::SignIn => Ask::SignIn,
        Interaction::Balance => Ask::Balance,
        Interaction::Nearby => Ask::Nearby(None),
    })
}

/// The reply text for `inbound` (None: no reply). Failures become a polite retry message.
pub async fn respond<L, M, C, D>(
    app: &App<L, M, C, D>,
    inbound: &Inbound,
    now: BusinessTime,
    deadline: Instant,
) -> Option<String>
where
    L: LedgerStore,
    M: Members,
    C: CatalogStore,
{
    let who = Identity::Oa(inbound.from_user.clone());
    let outcome = match &inbound.message {
        Message::Event(Event::Subscribe { scene }) => {
            let pushed_at = BusinessTime::from_epoch_ms(inbound.create_time.saturating_mul(1000)).unwrap_or(now);
            welcome(app, &who, scene.as_deref(), pushed_at, now, deadline).await.map(Some)
        }
        Message::Event(Event::Scan { .. }) => {
            tracing::info!(member = %who.masked(), "follower scanned a QR code");
            Ok(None)
        }
        Message::Event(Event::Unsubscribe) => app.members.set_following(&who, false, now).await.map(|()| {
            tracing::info!(member = %who.masked(), "unfollowed: member kept, marked unfollowed");
            None
        }),
        message => match ask(&app.settings.interactions, message) {
            Some(Ask::SignIn) => daily_sign_in(app, &who, now, deadline).await.map(Some),
            Some(Ask::Balance) => balance(app, &who, now).await.map(Some),
            Some(Ask::Nearby(Some(at))) => nearby_store(app, at, now).await.map(Some),
            Some(Ask::Nearby(None)) => Ok(Some("请发送你的位置（点击「+」→「位置」），我们为你找最近的门店。".to_owned())),
            None if matches!(message, Message::Text { .. }) => Ok(Some(help(&app.settings.interactions))),
            None => {
                tracing::info!(member = %who.masked(), "push not handled: no reply");
                Ok(None)
            }
        },
    };
    outcome.unwrap_or_else(|e| {
        tracing::error!(error = %e, member = %who.masked(), "callback failed");
        Some("系统繁忙，请稍后再试。".to_owned())
    })
}

/// The follower's member (DESIGN §3). A follow always asks WeChat for the UnionID (OA pushes
/// carry only the OpenID), so an OpenID-only member is linked to it or merged into the member
/// of the same person from the mini-program; other pushes use the member the OpenID names and
/// ask only when it names none. Without a UnionID (WeChat unreachable, or the account not bound
/// to an Open Platform) the member is OpenID-only until a later follow.
async fn member<L: LedgerStore, M: Members, C, D>(
    app: &App<L, M, C, D>,
    who: &Identity,
    following: bool,
    now: BusinessTime,
) -> Result<MemberId, StoreError> {
    if !following {
        if let Some(member) = app.members.find(who).await? {
            return Ok(member);
        }
    }
    let Identity::Oa(openid) = who else {
        return Err(StoreError::Corrupt {
            key: who.masked(),
            why: "not an OA identity".into(),
        });
    };
    let unionid = union_of(app, openid.as_str(), now).await;
    let candidate = MemberId::generate(
        now,
        u128::from(fastrand::u64(..)) << 64 | u128::from(fastrand::u64(..)),
    );
    let resolved = resolve(
        &app.members,
        &app.ledger,
        who,
        unionid.as_ref(),
        candidate,
        now,
    )
    .await?;
    tracing::info!(
        member = %resolved.member.masked(),
        created = resolved.created,
        merged = resolved.merged.is_some(),
        unionid = unionid.is_some(),
        "follower's member"
    );
    Ok(resolved.member)
}

/// The follower's UnionID from `cgi-bin/user/info`, or None (logged) when WeChat cannot say.
async fn union_of<L, M, C, D>(
    app: &App<L, M, C, D>,
    openid: &str,
    now: BusinessTime,
) -> Option<UnionId> {
    let s = &app.settings;
    let token = match app
        .tokens
        .get(&app.http, &s.wechat_api_base, &s.appid, &s.app_secret, now)
        .await
    {
        Ok(token) => token,
        Err(e) => {
            tracing::warn!(error = %e, "no access token: the follower stays OpenID-only for now");
            return None;
        }
    };
    match oa_api::user_info(&app.http, &s.wechat_api_base, &token, openid).await {
        Ok(follower) => follower.unionid,
        Err(e) => {
            tracing::warn!(error = %e, "user/info failed: the follower stays OpenID-only for now");
            None
        }
    }
}

async fn available<L: LedgerStore, M, C, D>(
    app: &App<L, M, C, D>,
    member: &MemberId,
) -> Result<i64, StoreError> {
    Ok(app
        .ledger
        .profile(member)
        .await?
        .map(|p| p.available.value())
        .unwrap_or(0))
}

/// A follow: the member, reactivated; through an invite code, the invite bonuses.
async fn welcome<L: LedgerStore, M: Members, C, D>(
    app: &App<L, M, C, D>,
    who: &Identity,
    scene: Option<&str>,
    pushed_at: BusinessTime,
    now: BusinessTime,
    deadline: Instant,
) -> Result<String, StoreError> {
    let member = member(app, who, true, now).await?;
    app.members.set_following(who, true, now).await?;
    let referrer = scene.and_then(referrer_of);
    let bonuses = referrer
        .as_ref()
        .map(|r| invite_bonuses(r, &member, pushed_at))
        .unwrap_or_default();
    if referrer.is_some() && bonuses.is_empty() {
        tracing::info!(member = %member.masked(), "invite code used by a member seen before, or by the inviter: no bonus");
    }
    for bonus in &bonuses {
        match post_in_time(app, bonus, deadline).await {
            Ok(_) => {}
            // The inviter may be unknown (a code from another environment): the newcomer's own
            // bonus still counts.
            Err(StoreError::Ledger(e)) => {
                tracing::warn!(posting = %bonus.id, error = %e, "invite bonus refused")
            }
            Err(e) => return Err(e),
        }
    }
    let points = available(app, &member).await?;
    let gift = if bonuses.is_empty() {
        String::new()
    } else {
        format!("好友邀请奖励 {} 积分已到账。", INVITE_POINTS.value())
    };
    Ok(format!(
        "欢迎来到邻里！{gift}你现在有 {points} 积分。{}",
        help(&app.settings.interactions)
    ))
}

/// Applies `posting` within the budget (3 s, and never past the reply deadline less the time
/// the queue needs), or hands it to the queue (same id: still once).
async fn post_in_time<L: LedgerStore, M, C, D>(
    app: &App<L, M, C, D>,
    posting: &PostingRequest,
    deadline: Instant,
) -> Result<Option<(i64, bool)>, StoreError> {
    let until = (Instant::now() + POSTING_BUDGET).min(deadline - QUEUE_MARGIN);
    match tokio::time::timeout_at(until, app.ledger.post(posting)).await {
        Ok(posted) => {
            let posted = posted?;
            Ok(Some((
                posted.outcome.result.available.value(),
                posted.outcome.replayed,
            )))
        }
        Err(_) => {
            tracing::warn!(posting = %posting.id, "posting too slow for the reply: handed to the queue");
            app.publisher
                .send(
                    &app.settings.points_queue,
                    &Envelope::posting(posting.clone()),
                )
                .await
                .map_err(|e| StoreError::Dynamo {
                    operation: "SendMessage",
                    message: e.to_string(),
                })?;
            Ok(None)
        }
    }
}

/// The daily sign-in. Today's posting, if recorded, answers at once; otherwise the streak bonus
/// is decided from the earlier days' sign-ins (read with today's in one round trip), so a retry
/// the same day asks for the same posting and is granted once.
async fn daily_sign_in<L: LedgerStore, M: Members, C, D>(
    app: &App<L, M, C, D>,
    who: &Identity,
    now: BusinessTime,
    deadline: Instant,
) -> Result<String, StoreError> {
    let rules = &app.settings.interactions;
    let member = member(app, who, false, now).await?;
    let today = PostingId::sign_in(&member, now.date());
    let mut ids = vec![today];
    ids.extend(
        rules
            .streak_window(now.date())
            .into_iter()
            .map(|date| PostingId::sign_in(&member, date)),
    );
    let mut recorded = app.ledger.postings(&member, &ids).await?.into_iter();
    if recorded.next().flatten().is_some() {
        return already_signed_in(app, &member).await;
    }
    let previous: Vec<Option<bool>> = recorded.map(|p| p.as_ref().map(had_streak_bonus)).collect();
    let posting = rules.sign_in(&member, now, rules.streak_bonus_due(&previous));
    let earned: i64 = posting
        .ops
        .iter()
        .filter_map(|op| op.amount())
        .map(|p| p.value())
        .sum();
    let bonus = posting.ops.len() > 1;
    let streak_note = match rules.streak().filter(|_| bonus) {
        Some(streak) => format!("（含连续签到 {} 天奖励）", streak.days),
        None => String::new(),
    };
    Ok(match post_in_time(app, &posting, deadline).await {
        Ok(Some((points, false))) => {
            format!("签到成功，+{earned} 积分{streak_note}！你现在有 {points} 积分。")
        }
        Ok(Some((_, true))) => return already_signed_in(app, &member).await,
        Ok(None) => format!("签到成功，{earned} 积分{streak_note}正在到账。"),
        // A concurrent sign-in today decided before an earlier day's posting landed.
        Err(StoreError::Ledger(LedgerError::IdReusedWithDifferentContent(_))) => {
            return already_signed_in(app, &member).await
        }
        Err(e) => return Err(e),
    })
}

async fn already_signed_in<L: LedgerStore, M, C, D>(
    app: &App<L, M, C, D>,
    member: &MemberId,
) -> Result<String, StoreError> {
    let points = available(app, member).await?;
    Ok(format!(
        "今天已经签到过了，明天再来～ 你现在有 {points} 积分。"
    ))
}

async fn balance<L: LedgerStore, M: Members, C, D>(
    app: &App<L, M, C, D>,
    who: &Identity,
    now: BusinessTime,
) -> Result<String, StoreError> {
    let member = member(app, who, false, now).await?;
    let Some(profile) = app.ledger.profile(&member).await? else {
        return Ok(format!(
            "你现在有 0 积分。{}",
            help(&app.settings.interactions)
        ));
    };
    let horizon = now.date() + chrono::Duration::days(EXPIRY_NOTICE_DAYS);
    let expiring: Vec<(chrono::NaiveDate, Points)> = profile
        .lots
        .iter()
        .map(|(month, points)| (lot_expires_on(month), points))
        .filter(|(on, points)| *on <= horizon && points.is_positive())
        .collect();
    let mut text = format!("普卡会员，你现在有 {} 积分", profile.available.value());
    if profile.held.is_positive() {
        text.push_str(&format!("（另有 {} 积分冻结中）", profile.held.value()));
    }
    text.push('。');
    match expiring.first() {
        Some((on, _)) => {
            let total: i64 = expiring.iter().map(|(_, p)| p.value()).sum();
            text.push_str(&format!("其中 {total} 积分将于 {on} 前到期，记得使用哦。"));
        }
        None => text.push_str("30 天内没有到期的积分。"),
    }
    Ok(text)
}

async fn nearby_store<L, M, C: CatalogStore, D>(
    app: &App<L, M, C, D>,
    at: (f64, f64),
    now: BusinessTime,
) -> Result<String, StoreError> {
    let stores = app.catalog.stores().await?;
    Ok(match nearby(stores, at, NEARBY_RADIUS_M, now) {
        Some((store, distance, true)) => format!(
            "离你最近的门店：{}，约 {distance} 米，营业时间 {}。配送费 {DELIVERY_FEE_POINTS} 积分即可抵扣。",
            store.name, store.hours
        ),
        Some((store, distance, false)) => format!(
            "离你最近的门店：{}，约 {distance} 米，现在已打烊（营业时间 {}）。",
            store.name, store.hours
        ),
        None => "你附近 3 公里内还没有邻里门店，我们正在努力开店中，敬请期待！".to_owned(),
    })
}
