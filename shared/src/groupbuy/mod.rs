//! Community group-buy rounds (社群集单, seed 002), pure: a store gathers orders in a community
//! group chat until a cutoff (e.g. every Tuesday and Thursday at 20:00), buys to demand
//! (以销定产) and delivers, or hands out, the next day. Each SKU of a round goes ahead only if
//! its members together joined its minimum; an SKU with a maximum (its stock) is never
//! oversold; a member may join up to the SKU's per-member limit.
//!
//! - `Round` and its `RoundSku`s, checked (`Round::validate`);
//! - `join`: a member's request priced from the round, never from the client;
//! - `cutoff`: which SKUs go ahead and what happens to each order line;
//! - `schedule`, `template`: recurring rounds (weekdays and a time, Asia/Shanghai).

pub mod cutoff;
pub mod join;
pub mod outputs;
pub mod schedule;
pub mod template;

use crate::ids::{RoundId, SkuId, StoreId, TemplateId};
use crate::time::BusinessTime;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What kind of offer an SKU is (seed 002): a single hot item, a bundle, or a pre-sale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkuKind {
    /// 爆款
    Hot,
    /// 套餐
    Bundle,
    /// 预售
    Presale,
}

/// How the goods reach the members.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Handover {
    /// Collected at the store (or a pickup point) on the fulfilment date.
    Pickup,
    /// One consolidated delivery to the community on the fulfilment date.
    Delivery,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundSku {
    pub sku: SkuId,
    pub name: String,
    pub kind: SkuKind,
    pub price_fen: i64,
    /// Total quantity the round must gather for this SKU to go ahead.
    pub min_qty: i64,
    /// Stock: never more than this in total (None: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_qty: Option<i64>,
    /// At most this many per member (None: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_member: Option<i64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoundStatus {
    Open,
    /// The cutoff has begun: no joins; lines are being confirmed or refunded.
    Closing,
    Closed,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Round {
    pub round_id: RoundId,
    pub store_id: StoreId,
    /// The community (group chat) it is gathered in.
    pub community: String,
    pub title: String,
    pub cutoff_at: BusinessTime,
    /// When the goods are handed over (the day after the cutoff, usually).
    pub fulfil_on: NaiveDate,
    pub handover: Handover,
    pub skus: Vec<RoundSku>,
    pub status: RoundStatus,
    /// The recurring template it was opened from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<TemplateId>,
    pub created_at: BusinessTime,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {why}")]
pub struct RoundError {
    pub field: String,
    pub why: String,
}

fn check(ok: bool, field: impl Into<String>, why: &str) -> Result<(), RoundError> {
    match ok {
        true => Ok(()),
        false => Err(RoundError {
            field: field.into(),
            why: why.to_owned(),
        }),
    }
}

/// A round has at most this many SKUs (its page in the chat stays readable).
pub const MAX_SKUS: usize = 50;

impl Round {
    /// Checks what an operator created (at `now`).
    pub fn validate(&self, now: BusinessTime) -> Result<(), RoundError> {
        check(!self.community.trim().is_empty(), "community", "required")?;
        check(!self.title.trim().is_empty(), "title", "required")?;
        check(self.cutoff_at > now, "cutoff_at", "must be in the future")?;
        check(
            self.fulfil_on >= self.cutoff_at.date(),
            "fulfil_on",
            "not before the cutoff's date",
        )?;
        check(
            (1..=MAX_SKUS).contains(&self.skus.len()),
            "skus",
            "1 to 50 SKUs",
        )?;
        for (i, sku) in self.skus.iter().enumerate() {
            let field = |name: &str| format!("skus[{i}].{name}");
            let again = self.skus[..i].iter().any(|s| s.sku == sku.sku);
            check(!again, field("sku"), "each SKU once")?;
            check(!sku.name.trim().is_empty(), field("name"), "required")?;
            check(
                (1..=10_000_000).contains(&sku.price_fen),
                field("price_fen"),
                "1 fen to ¥100,000",
            )?;
            check(
                (1..=1_000_000).contains(&sku.min_qty),
                field("min_qty"),
                "1 to 1,000,000",
            )?;
            check(
                sku.max_qty
                    .is_none_or(|max| max >= sku.min_qty && max <= 1_000_000),
                field("max_qty"),
                "at least min_qty, at most 1,000,000",
            )?;
            check(
                sku.per_member.is_none_or(|n| (1..=1_000).contains(&n)),
                field("per_member"),
                "1 to 1,000",
            )?;
        }
        Ok(())
    }

    pub fn sku(&self, sku: &SkuId) -> Option<&RoundSku> {
        self.skus.iter().find(|s| &s.sku == sku)
    }

    /// Open for joins at `now`.
    pub fn accepts(&self, now: BusinessTime) -> bool {
        self.status == RoundStatus::Open && now < self.cutoff_at
    }
}

/// A round as an operator writes it (TOML): times as RFC 3339 text.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundFile {
    pub round_id: String,
    pub store_id: String,
    pub community: String,
    pub title: String,
    pub cutoff_at: String,
    pub fulfil_on: NaiveDate,
    pub handover: Handover,
    pub skus: Vec<RoundSku>,
}

impl RoundFile {
    /// The round it describes, created at `now` and checked.
    pub fn round(self, now: BusinessTime) -> Result<Round, RoundError> {
        let bad = |field: &str, why: &str| RoundError {
            field: field.to_owned(),
            why: why.to_owned(),
        };
        let round = Round {
            round_id: RoundId::parse(&self.round_id)
                .map_err(|_| bad("round_id", "letters, digits, - and _ (at most 64)"))?,
            store_id: StoreId::parse(&self.store_id).map_err(|_| bad("store_id", "a store id"))?,
            community: self.community,
            title: self.title,
            cutoff_at: BusinessTime::parse_rfc3339(&self.cutoff_at).map_err(|_| {
                bad(
                    "cutoff_at",
                    "an RFC 3339 time, e.g. 2026-12-08T20:00:00+08:00",
                )
            })?,
            fulfil_on: self.fulfil_on,
            handover: self.handover,
            skus: self.skus,
            status: RoundStatus::Open,
            template: None,
            created_at: now,
        };
        round.validate(now)?;
        Ok(round)
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub fn at(text: &str) -> BusinessTime {
        BusinessTime::parse_rfc3339(text).unwrap()
    }

    pub fn sku(id: &str, min: i64, max: Option<i64>) -> RoundSku {
        RoundSku {
            sku: SkuId::parse(id).unwrap(),
            name: format!("{id} 名称"),
            kind: SkuKind::Hot,
            price_fen: 1_990,
            min_qty: min,
            max_qty: max,
            per_member: Some(5),
        }
    }

    pub fn round() -> Round {
        Round {
            round_id: RoundId::parse("R-2026-12-08-SH01").unwrap(),
            store_id: StoreId::parse("SH-JINGAN-01").unwrap(),
            community: "静安寺小区 2 群".into(),
            title: "周二集单".into(),
            cutoff_at: at("2026-12-08T20:00:00+08:00"),
            fulfil_on: NaiveDate::from_ymd_opt(2026, 12, 9).unwrap(),
            handover: Handover::Pickup,
            skus: vec![sku("EGG-30", 20, None), sku("CAKE-SET", 10, Some(30))],
            status: RoundStatus::Open,
            template: None,
            created_at: at("2026-12-07T09:00:00+08:00"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::*;

    #[test]
    fn a_round_is_checked_field_by_field() {
        let now = at("2026-12-07T10:00:00+08:00");
        assert_eq!(round().validate(now), Ok(()));
        let mut late = round();
        late.cutoff_at = at("2026-12-07T09:00:00+08:00");
        assert_eq!(late.validate(now).unwrap_err().field, "cutoff_at");
        let mut twice = round();
        twice.skus.push(sku("EGG-30", 1, None));
        assert_eq!(twice.validate(now).unwrap_err().field, "skus[2].sku");
        let mut small = round();
        small.skus[1].max_qty = Some(5);
        assert_eq!(small.validate(now).unwrap_err().field, "skus[1].max_qty");
        assert!(round().accepts(now));
        assert!(
            !round().accepts(at("2026-12-08T20:00:00+08:00")),
            "closed at the cutoff"
        );
    }
}
