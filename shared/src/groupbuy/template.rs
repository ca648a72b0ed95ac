//! Recurring rounds (pure): a template is a round without a date — store, community, SKUs — and
//! a rhythm (`schedule::Recurrence`, seed 002's every Tuesday and Thursday at 20:00). Its rounds
//! are `<template>-<YYYYMMDD>` (the cutoff's date), so opening the same instance twice is the
//! same round; the cutoff of one opens the next while the template is active.

use super::schedule::Recurrence;
use super::{Handover, Round, RoundError, RoundSku, RoundStatus};
use crate::ids::{RoundId, StoreId, TemplateId};
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub template_id: TemplateId,
    pub store_id: StoreId,
    pub community: String,
    pub title: String,
    pub handover: Handover,
    pub recurrence: Recurrence,
    pub skus: Vec<RoundSku>,
    /// False once an operator stopped it: no further rounds open.
    pub active: bool,
    pub created_at: BusinessTime,
}

impl Template {
    /// Its next round: the first cutoff strictly after `after`, opened at `now`. None when the
    /// rhythm has no such day (an invalid recurrence).
    pub fn instance(&self, after: BusinessTime, now: BusinessTime) -> Option<Round> {
        let (cutoff_at, fulfil_on) = self.recurrence.next(after)?;
        let id = format!("{}-{}", self.template_id, cutoff_at.date().format("%Y%m%d"));
        Some(Round {
            round_id: RoundId::parse(&id).ok()?,
            store_id: self.store_id.clone(),
            community: self.community.clone(),
            title: self.title.clone(),
            cutoff_at,
            fulfil_on,
            handover: self.handover,
            skus: self.skus.clone(),
            status: RoundStatus::Open,
            template: Some(self.template_id.clone()),
            created_at: now,
        })
    }

    /// Checks a template as its first round would be checked (at `now`).
    pub fn validate(&self, now: BusinessTime) -> Result<(), RoundError> {
        if !self.recurrence.is_valid() {
            return Err(RoundError {
                field: "recurrence".into(),
                why: "weekdays 1 (Monday) to 7, cutoff_minutes below 1,440, at most 30 days to the handover".into(),
            });
        }
        match self.instance(now, now) {
            Some(first) => first.validate(now),
            None => Err(RoundError {
                field: "template_id".into(),
                why: "letters, digits, - and _ (at most 48)".into(),
            }),
        }
    }
}

/// A template as an operator writes it (TOML).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateFile {
    pub template_id: String,
    pub store_id: String,
    pub community: String,
    pub title: String,
    pub handover: Handover,
    pub recurrence: Recurrence,
    pub skus: Vec<RoundSku>,
}

impl TemplateFile {
    /// The template it describes, created at `now` and checked.
    pub fn template(self, now: BusinessTime) -> Result<Template, RoundError> {
        let bad = |field: &str, why: &str| RoundError {
            field: field.to_owned(),
            why: why.to_owned(),
        };
        let template = Template {
            template_id: TemplateId::parse(&self.template_id)
                .map_err(|_| bad("template_id", "letters, digits, - and _ (at most 48)"))?,
            store_id: StoreId::parse(&self.store_id).map_err(|_| bad("store_id", "a store id"))?,
            community: self.community,
            title: self.title,
            handover: self.handover,
            recurrence: self.recurrence,
            skus: self.skus,
            active: true,
            created_at: now,
        };
        template.validate(now)?;
        Ok(template)
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{at, round};
    use super::*;

    fn template() -> Template {
        let r = round();
        Template {
            template_id: TemplateId::parse("JINGAN-2").unwrap(),
            store_id: r.store_id,
            community: r.community,
            title: r.title,
            handover: r.handover,
            recurrence: Recurrence::tuesday_thursday(),
            skus: r.skus,
            active: true,
            created_at: at("2026-12-07T09:00:00+08:00"),
        }
    }

    #[test]
    fn a_template_opens_its_rounds_on_its_rhythm_under_ids_fixed_by_the_date() {
        let t = template();
        let now = at("2026-12-07T09:00:00+08:00");
        assert_eq!(t.validate(now), Ok(()));
        let first = t.instance(now, now).unwrap();
        assert_eq!(first.round_id.as_str(), "JINGAN-2-20261208");
        assert_eq!(first.cutoff_at, at("2026-12-08T20:00:00+08:00"));
        assert_eq!(first.template.as_ref(), Some(&t.template_id));
        assert_eq!(first.validate(now), Ok(()));
        // Its cutoff opens Thursday's; the same cutoff again opens the same round.
        let next = t.instance(first.cutoff_at, first.cutoff_at).unwrap();
        assert_eq!(next.round_id.as_str(), "JINGAN-2-20261210");
        assert_eq!(
            t.instance(first.cutoff_at, now).unwrap().round_id,
            next.round_id
        );
        let mut never = t.clone();
        never.recurrence.weekdays = vec![9];
        assert_eq!(never.validate(now).unwrap_err().field, "recurrence");
        let mut empty = t;
        empty.skus.clear();
        assert_eq!(empty.validate(now).unwrap_err().field, "skus");
    }
}
