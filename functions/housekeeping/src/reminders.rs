//! `Reminders` (daily, seed 001): lifecycle reminders as WeChat subscribe messages. One
//! resumable pass over every profile per business date; for each member with consents left,
//! the due reminders (`linli::rules::reminders::due`: a recent tier change, points expiring
//! within 30 days, an overdue usual SKU) are tried most urgent first, and the first one the
//! member consented to is claimed (its cause once ever, one a day, one consent) and sent. No
//! consent, no message. A send WeChat certainly did not take (no connection, no token, busy,
//! rate-limited, token refused) is released and retried by the next run; one whose fate is
//! unknown (timeout) is not repeated (at most once); WeChat saying there is no consent drops
//! the member's count for that template and leaves the cause due.
//! Nothing is sent in quiet hours: such a run does nothing.

use crate::walk::{readable, walk_all, Budget, LedgerWalk, PageVisitor, Pass, RunCounts, Tally};
use linli::ids::MemberId;
use linli::ledger::Profile;
use linli::rules::reminders::{due, QuietHours, Reminder, ReminderKind, ReminderTemplates};
use linli::store::checkpoints::CheckpointStore;
use linli::store::reminders::{Claimed, Consents, ReminderStore};
use linli::store::rhythm::RhythmStore;
use linli::store::StoreError;
use linli::time::BusinessTime;
use linli::wechat::subscribe::{Messenger, SendError, SubscribeMessage, NO_CONSENT};
use serde::{Deserialize, Serialize};

pub const TASK: &str = "Reminders";

/// What a day's pass has done so far in one segment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReminderTally {
    pub members: u64,
    /// Members with consents left.
    pub consenting: u64,
    pub sent: u64,
    /// Sends WeChat refused (no consent on its side): the consent is spent, nothing repeated.
    pub refused: u64,
}

impl Tally for ReminderTally {
    fn combine(&mut self, other: &Self) {
        self.members += other.members;
        self.consenting += other.consenting;
        self.sent += other.sent;
        self.refused += other.refused;
    }
}

#[derive(Debug, Default, Serialize)]
pub struct RemindersSummary {
    pub date: String,
    /// The run fell in quiet hours and did nothing.
    pub quiet: bool,
    pub members: u64,
    pub sent: u64,
    pub failed: u32,
    pub pass_done: bool,
    pub pass: ReminderTally,
}

/// What the pass needs besides the ledger walk.
pub struct Reminding<'a, R, W> {
    pub store: &'a R,
    pub messenger: &'a W,
    pub templates: &'a ReminderTemplates,
    pub quiet: QuietHours,
}

struct Remind<'a, R, W> {
    with: &'a Reminding<'a, R, W>,
    now: BusinessTime,
}

/// How one member's reminders went.
enum Outcome {
    Nothing,
    Sent,
    Refused,
    /// WeChat or the store failed for a passing reason: the page is visited again.
    Retry,
}

impl<R: ReminderStore + RhythmStore + Sync, W: Messenger> Remind<'_, R, W> {
    async fn remind(&self, profile: &Profile, consents: &Consents) -> Outcome {
        let templates = self.with.templates;
        let has = |kind| {
            consents
                .left
                .get(templates.of(kind))
                .is_some_and(|n| *n > 0)
        };
        let rhythm = if has(ReminderKind::Repurchase) {
            match self.with.store.rhythm(&profile.member).await {
                Ok(rhythm) => rhythm,
                Err(e) => return self.failed(&profile.member, "reading the purchase rhythm", &e),
            }
        } else {
            Default::default()
        };
        let Some(openid) = consents.openid.clone() else {
            return Outcome::Nothing;
        };
        for reminder in due(profile, &rhythm, self.now) {
            if !has(reminder.kind) {
                continue;
            }
            let template = templates.of(reminder.kind);
            let member = &profile.member;
            match self
                .with
                .store
                .claim(member, template, &reminder.cause, self.now)
                .await
            {
                Ok(Claimed::Claimed) => {
                    return self.send(member, openid, template, &reminder).await
                }
                Ok(Claimed::AlreadyToday) => return Outcome::Nothing,
                Ok(Claimed::AlreadyReminded | Claimed::NoConsent) => continue,
                Err(e) => return self.failed(member, "claiming a reminder", &e),
            }
        }
        Outcome::Nothing
    }

    async fn send(
        &self,
        member: &MemberId,
        touser: String,
        template: &str,
        reminder: &Reminder,
    ) -> Outcome {
        let message = SubscribeMessage {
            touser,
            template_id: template.to_owned(),
            page: reminder.page.to_owned(),
            data: reminder.data.clone(),
        };
        let store = self.with.store;
        let cause = &reminder.cause;
        match self.with.messenger.send(&message, self.now).await {
            Ok(()) => {
                tracing::info!(member = %member.masked(), %cause, "reminder sent");
                Outcome::Sent
            }
            Err(SendError::Refused { code, message }) if code == NO_CONSENT => {
                // WeChat knows better: no consent there. Counted none, and the cause stays due.
                tracing::info!(member = %member.masked(), %cause, code, message, "no consent at WeChat: consents dropped");
                let released = store
                    .release(member, template, cause, self.now, false)
                    .await;
                match released.and(store.drop_consents(member, template).await) {
                    Ok(()) => Outcome::Refused,
                    Err(e) => self.failed(member, "dropping refused consents", &e),
                }
            }
            Err(e) if e.worth_retrying() => {
                tracing::warn!(member = %member.masked(), %cause, error = %e, "reminder not taken by WeChat; released for the next run");
                match store.release(member, template, cause, self.now, true).await {
                    Ok(()) => Outcome::Retry,
                    Err(e) => self.failed(member, "releasing a reminder", &e),
                }
            }
            Err(e @ SendError::Unknown(_)) => {
                tracing::warn!(member = %member.masked(), %cause, error = %e, "reminder may have been delivered: not sent again (at most once)");
                Outcome::Refused
            }
            Err(e) => {
                tracing::error!(member = %member.masked(), %cause, template, error = %e, "reminder refused by WeChat (template or data wrong?): not repeated");
                Outcome::Refused
            }
        }
    }

    fn failed(&self, member: &MemberId, what: &str, e: &StoreError) -> Outcome {
        tracing::error!(member = %member.masked(), error = %e, "{what} failed; the next run retries this page");
        Outcome::Retry
    }
}

impl<R: ReminderStore + RhythmStore + Sync, W: Messenger> PageVisitor for Remind<'_, R, W> {
    type Tally = ReminderTally;

    async fn visit(
        &self,
        profiles: Vec<Result<Profile, StoreError>>,
        tally: &mut ReminderTally,
        run: &mut RunCounts,
    ) -> bool {
        let profiles: Vec<Profile> = profiles
            .into_iter()
            .filter_map(|p| readable(p, run))
            .collect();
        run.members += profiles.len() as u64;
        tally.members += profiles.len() as u64;
        let mut ok = true;
        for chunk in profiles.chunks(100) {
            let members: Vec<MemberId> = chunk.iter().map(|p| p.member.clone()).collect();
            let consents = match self.with.store.consents_of(&members).await {
                Ok(consents) => consents,
                Err(e) => {
                    tracing::error!(error = %e, "reading consents failed; the next run retries this page");
                    run.failed += 1;
                    return false;
                }
            };
            for profile in chunk.iter().filter(|p| p.merged_into.is_none()) {
                let Some(consents) = consents.get(&profile.member).filter(|c| c.any()) else {
                    continue;
                };
                tally.consenting += 1;
                match self.remind(profile, consents).await {
                    Outcome::Nothing => {}
                    Outcome::Sent => {
                        tally.sent += 1;
                        run.posted += 1;
                    }
                    Outcome::Refused => tally.refused += 1,
                    Outcome::Retry => {
                        run.failed += 1;
                        ok = false;
                    }
                }
            }
        }
        ok
    }
}

/// Continues today's reminder pass in every segment within `budget` (nothing in quiet hours).
pub async fn run<L, C, R, W>(
    ledger: &L,
    checkpoints: &C,
    with: &Reminding<'_, R, W>,
    now: BusinessTime,
    budget: &Budget,
) -> RemindersSummary
where
    L: LedgerWalk,
    C: CheckpointStore + Sync,
    R: ReminderStore + RhythmStore + Sync,
    W: Messenger,
{
    let date = now.date().to_string();
    if with.quiet.contains(now) {
        return RemindersSummary {
            date,
            quiet: true,
            ..RemindersSummary::default()
        };
    }
    let visitor = Remind { with, now };
    let pass = Pass {
        task: TASK,
        period: &date,
        now,
        budget,
    };
    let walk = walk_all(ledger, checkpoints, &visitor, &pass).await;
    RemindersSummary {
        date,
        quiet: false,
        members: walk.run.members,
        sent: walk.run.posted,
        failed: walk.run.failed,
        pass_done: walk.done,
        pass: walk.tally,
    }
}
