//! One subscribe message per cause, only with the member's consent (adapter glue over
//! `store::reminders` and `wechat::subscribe`): the consent left for the template is checked,
//! the cause claimed once (`ReminderStore::claim_notice`), then the message sent. Used for
//! notices that follow a business event — a compensation granted, a group-buy round's outcome —
//! whose failure never undoes the event: every refusal is an answer, not an error.

use crate::ids::MemberId;
use crate::store::reminders::{Claimed, ReminderStore};
use crate::time::BusinessTime;
use crate::wechat::subscribe::{Messenger, SubscribeMessage};
use std::collections::BTreeMap;

/// A message to send once for `cause`.
#[derive(Clone, Debug)]
pub struct Notice<'a> {
    pub member: &'a MemberId,
    pub template: &'a str,
    /// What makes it unique (`comp:<order>`, `group:<round>:<order>`).
    pub cause: String,
    /// The mini-program page it opens.
    pub page: String,
    pub data: BTreeMap<String, String>,
    pub at: BusinessTime,
}

/// What became of a notice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notified {
    Sent,
    /// No consent left for the template, or no OpenID to send to.
    NoConsent,
    /// Claimed before (a repeated event) or not claimable now.
    NotClaimed,
    /// The store or WeChat failed: logged, not retried.
    Failed(String),
}

/// Sends `notice` once if the member consented; never an error.
pub async fn once<N: ReminderStore + Sync, M: Messenger>(
    reminders: &N,
    messenger: &M,
    notice: Notice<'_>,
) -> Notified {
    let consents = match reminders.consents(notice.member).await {
        Ok(consents) => consents,
        Err(e) => return Notified::Failed(e.to_string()),
    };
    let Some(openid) = consents.openid.clone() else {
        return Notified::NoConsent;
    };
    if consents.left.get(notice.template).copied().unwrap_or(0) == 0 {
        return Notified::NoConsent;
    }
    let claimed = reminders
        .claim_notice(notice.member, notice.template, &notice.cause, notice.at)
        .await;
    match claimed {
        Ok(Claimed::Claimed) => {}
        Ok(_) => return Notified::NotClaimed,
        Err(e) => return Notified::Failed(e.to_string()),
    }
    let message = SubscribeMessage {
        touser: openid,
        template_id: notice.template.to_owned(),
        page: notice.page,
        data: notice.data,
    };
    match messenger.send(&message, notice.at).await {
        Ok(()) => Notified::Sent,
        Err(e) => {
            // Not delivered: WeChat kept the consent, so the claim gives it back.
            let released = reminders
                .release(
                    notice.member,
                    notice.template,
                    &notice.cause,
                    notice.at,
                    true,
                )
                .await;
            match released {
                Ok(()) => Notified::Failed(e.to_string()),
                Err(r) => Notified::Failed(format!("{e}; and releasing the claim: {r}")),
            }
        }
    }
}
