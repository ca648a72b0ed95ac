//! How the ledger lives in the `Ledger` table (DESIGN §4):
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `MEMBER#<id>` | `PROFILE` | `v` version, `av` available, `hd` held, `db` debt, `lots` {`YYYYMM`: points}, `holds` {order: {`p` points, `x` expires ms, `l` {`YYYYMM`: points}}}, `into` member (once merged), `since` ms; `hold_shard` + `hold_due` while a hold is open |
//! | `MEMBER#<id>` | `POSTING#<posting-id>` | `posted_at` ms, `kind`, `delta` (change of available), `body` (the posting as JSON) |
//!
//! The profile's attribute names are short because the item must stay within 1 KB (1 WRU per
//! write) with 13 lots, 13 growth buckets and a few open holds; the tier and growth (`tier`,
//! `gr`, `ts`, `rv`) are the ledger's too, moved by the postings that record spend; other
//! features add their own attributes to the same item, and the ledger's update only touches its
//! own.
//! The history index `by_posted_at` (LSI) projects `kind` and `delta`.
//!
//! While a member has open holds, its profile also carries `hold_shard` (`HOLDS#<0..15>`, from
//! the member id) and `hold_due` (the earliest open hold's `expires_at`, ms): the keys of the
//! sparse, keys-only GSI `by_hold_due` through which housekeeping finds expired holds without
//! scanning. The update that closes the last hold removes them, so the profile leaves the index.

use crate::ids::{MemberId, OrderId, PostingId};
use crate::ledger::{Hold, Lots, Posting, Profile, Standing, TierChange};
use crate::money::{Fen, Points};
use crate::rules::earning::{Growth, Tier};
use crate::store::StoreError;
use crate::time::{BusinessTime, Month};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const POSTED_AT: &str = "posted_at";
pub const KIND: &str = "kind";
pub const DELTA: &str = "delta";
pub const BODY: &str = "body";
pub const VERSION: &str = "v";
pub const PROFILE_SK: &str = "PROFILE";
/// The local secondary index that lists a member's postings by business time.
pub const HISTORY_INDEX: &str = "by_posted_at";
/// The keys a history-index entry carries: the table's and the index's sort key.
pub const HISTORY_KEYS: [&str; 3] = [PK, SK, POSTED_AT];
/// What the history index projects besides its keys.
pub const HISTORY_PROJECTION: [&str; 2] = [KIND, DELTA];

/// The sparse global secondary index of profiles with open holds, by shard and earliest expiry.
pub const HOLD_INDEX: &str = "by_hold_due";
pub const HOLD_SHARD: &str = "hold_shard";
pub const HOLD_DUE: &str = "hold_due";
/// The hold index's keys; its entries carry the table's keys too (keys only).
pub const HOLD_INDEX_KEYS: [&str; 2] = [HOLD_SHARD, HOLD_DUE];
/// Shards of the hold index: spreads its writes over 16 partitions.
pub const HOLD_SHARDS: u8 = 16;

/// The hold-index shard of `member` (stable per member).
pub fn hold_shard(member: &MemberId) -> u8 {
    let sum = member.as_str().bytes().fold(0u32, |acc, b| {
        acc.wrapping_mul(31).wrapping_add(u32::from(b))
    });
    u8::try_from(sum % u32::from(HOLD_SHARDS)).unwrap_or(0)
}

/// The `hold_shard` value of shard `shard`.
pub fn hold_shard_key(shard: u8) -> String {
    format!("HOLDS#{shard}")
}

pub fn member_pk(member: &MemberId) -> String {
    format!("MEMBER#{member}")
}

pub fn posting_sk(id: &PostingId) -> String {
    format!("POSTING#{id}")
}

pub fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), AttributeValue::S(sk)),
    ])
}

pub fn profile_key(member: &MemberId) -> Item {
    key(member_pk(member), PROFILE_SK.to_owned())
}

pub fn posting_key(member: &MemberId, id: &PostingId) -> Item {
    key(member_pk(member), posting_sk(id))
}

/// The ledger's attributes of the profile item.
#[derive(Serialize, Deserialize)]
struct LedgerAttributes {
    v: u64,
    av: i64,
    hd: i64,
    db: i64,
    #[serde(default)]
    lots: BTreeMap<String, i64>,
    #[serde(default)]
    holds: BTreeMap<String, HoldAttributes>,
    /// Set once, by a merge: the member that now holds everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    into: Option<String>,
    /// Tier (absent: 普卡), growth {`YYYYMM`: fen}, tier since (ms), last reviewed month.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tier: Option<Tier>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    gr: BTreeMap<String, i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rv: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct HoldAttributes {
    p: i64,
    x: i64,
    l: BTreeMap<String, i64>,
}

fn month_map<'a>(lots: impl Iterator<Item = (Month, Points)> + 'a) -> BTreeMap<String, i64> {
    lots.map(|(m, p)| (m.key(), p.value())).collect()
}

/// The ledger's attributes of `profile`, as `SET` values (names without `#`): with the hold
/// index keys while a hold is open (see [`removed_attributes`] for when none is).
pub fn ledger_attributes(profile: &Profile) -> Result<Item, StoreError> {
    let mut item = own_attributes(profile)?;
    let earliest = profile.holds.values().map(|h| h.expires_at).min();
    if let Some(due) = earliest {
        let shard = hold_shard_key(hold_shard(&profile.member));
        item.insert(HOLD_SHARD.to_owned(), AttributeValue::S(shard));
        item.insert(HOLD_DUE.to_owned(), number(due.epoch_ms()));
    }
    Ok(item)
}

/// The ledger's attributes an update of the profile to `profile` removes (removing an absent
/// attribute is a no-op): the hold index keys once no hold is open, and the standing's
/// attributes that went back to their default.
pub fn removed_attributes(profile: &Profile) -> Vec<&'static str> {
    let mut removed = Vec::new();
    if profile.holds.is_empty() {
        removed.extend(HOLD_INDEX_KEYS);
    }
    let standing = &profile.standing;
    let defaults = [
        ("tier", standing.tier == Tier::Regular),
        ("gr", standing.growth.months().next().is_none()),
        ("ts", standing.since.is_none()),
        ("rv", standing.reviewed.is_none()),
    ];
    removed.extend(
        defaults
            .iter()
            .filter(|(_, absent)| *absent)
            .map(|(n, _)| *n),
    );
    removed
}

fn own_attributes(profile: &Profile) -> Result<Item, StoreError> {
    let standing = &profile.standing;
    let attrs = LedgerAttributes {
        v: profile.version,
        av: profile.available.value(),
        hd: profile.held.value(),
        db: profile.debt.value(),
        lots: month_map(profile.lots.iter()),
        holds: profile
            .holds
            .iter()
            .map(|(order, hold)| {
                let attrs = HoldAttributes {
                    p: hold.points.value(),
                    x: hold.expires_at.epoch_ms(),
                    l: month_map(hold.lots.iter().map(|(m, p)| (*m, *p))),
                };
                (order.to_string(), attrs)
            })
            .collect(),
        into: profile.merged_into.as_ref().map(MemberId::to_string),
        tier: Some(standing.tier).filter(|t| *t != Tier::Regular),
        gr: standing
            .growth
            .months()
            .map(|(m, fen)| (m.key(), fen.value()))
            .collect(),
        ts: standing.since.map(BusinessTime::epoch_ms),
        rv: standing.reviewed.map(Month::key),
    };
    serde_dynamo::to_item(attrs).map_err(|e| corrupt("profile", e))
}

/// A new member's profile item: no points, version 0.
pub fn new_profile_item(member: &MemberId, since: BusinessTime) -> Result<Item, StoreError> {
    let mut item = profile_key(member);
    item.extend(ledger_attributes(&Profile::new(member.clone()))?);
    item.insert("since".to_owned(), number(since.epoch_ms()));
    Ok(item)
}

/// `item` with its ledger attributes replaced by those of `profile`: what the update leaves.
pub fn updated_profile_item(item: &Item, profile: &Profile) -> Result<Item, StoreError> {
    let mut next = item.clone();
    next.extend(ledger_attributes(profile)?);
    for name in removed_attributes(profile) {
        next.remove(name);
    }
    Ok(next)
}

/// Reads the ledger's view of a member from the profile item, checking its invariants.
pub fn decode_profile(item: &Item) -> Result<Profile, StoreError> {
    let profile = decode_profile_unchecked(item)?;
    profile
        .check_invariants()
        .map_err(|v| StoreError::Corrupt {
            key: string(item, PK).unwrap_or_default(),
            why: format!("ledger invariant: {v}"),
        })?;
    Ok(profile)
}

/// Reads the profile item as it is, broken invariants included: what the audit examines.
pub fn decode_profile_unchecked(item: &Item) -> Result<Profile, StoreError> {
    let pk = string(item, PK).unwrap_or_default();
    let bad = |why: String| StoreError::Corrupt {
        key: pk.clone(),
        why,
    };
    let member = pk
        .strip_prefix("MEMBER#")
        .ok_or_else(|| bad("not a member key".to_owned()))
        .and_then(|id| MemberId::parse(id).map_err(|e| bad(e.to_string())))?;
    let attrs: LedgerAttributes =
        serde_dynamo::from_item(item.clone()).map_err(|e| bad(e.to_string()))?;
    let lots = decode_months(&attrs.lots).map_err(&bad)?;
    let mut profile_lots = Lots::default();
    for (month, points) in lots {
        profile_lots
            .add(month, points)
            .ok_or_else(|| bad("lot overflow".to_owned()))?;
    }
    let mut holds = BTreeMap::new();
    for (order, hold) in &attrs.holds {
        let order = OrderId::parse(order).map_err(|e| bad(e.to_string()))?;
        let expires_at = BusinessTime::from_epoch_ms(hold.x).map_err(|e| bad(e.to_string()))?;
        let hold = Hold {
            points: Points::new(hold.p),
            expires_at,
            lots: decode_months(&hold.l).map_err(&bad)?,
        };
        holds.insert(order, hold);
    }
    let merged_into = attrs
        .into
        .as_deref()
        .map(MemberId::parse)
        .transpose()
        .map_err(|e| bad(e.to_string()))?;
    let standing = decode_standing(&attrs).map_err(&bad)?;
    let profile = Profile {
        member,
        merged_into,
        standing,
        version: attrs.v,
        available: Points::new(attrs.av),
        held: Points::new(attrs.hd),
        debt: Points::new(attrs.db),
        lots: profile_lots,
        holds,
    };
    Ok(profile)
}

fn decode_standing(attrs: &LedgerAttributes) -> Result<Standing, String> {
    let growth = attrs
        .gr
        .iter()
        .map(|(m, fen)| {
            Ok((
                m.parse::<Month>().map_err(|e| e.to_string())?,
                Fen::new(*fen),
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let since = attrs
        .ts
        .map(BusinessTime::from_epoch_ms)
        .transpose()
        .map_err(|e| e.to_string())?;
    let reviewed = attrs
        .rv
        .as_deref()
        .map(str::parse::<Month>)
        .transpose()
        .map_err(|e| e.to_string())?;
    Ok(Standing {
        tier: attrs.tier.unwrap_or_default(),
        growth: Growth::from_months(growth),
        since,
        reviewed,
    })
}

fn decode_months(map: &BTreeMap<String, i64>) -> Result<BTreeMap<Month, Points>, String> {
    map.iter()
        .map(|(m, p)| {
            let month = m.parse::<Month>().map_err(|e| e.to_string())?;
            if *p < 0 {
                return Err(format!("negative lot {m}"));
            }
            Ok((month, Points::new(*p)))
        })
        .collect()
}

/// The immutable posting item.
pub fn posting_item(posting: &Posting) -> Result<Item, StoreError> {
    let request = &posting.request;
    let body = serde_json::to_string(posting).map_err(|e| corrupt("posting", e))?;
    let mut item = posting_key(&request.member, &request.id);
    item.insert(POSTED_AT.to_owned(), number(request.at.epoch_ms()));
    item.insert(
        KIND.to_owned(),
        AttributeValue::S(request.id.kind().to_owned()),
    );
    item.insert(
        DELTA.to_owned(),
        number(posting.result.available_delta.value()),
    );
    item.insert(BODY.to_owned(), AttributeValue::S(body));
    Ok(item)
}

/// Tier change records sort after this prefix, oldest first.
pub const TIER_SK_PREFIX: &str = "TIER#";

/// The record of a tier change: `MEMBER#<id>` / `TIER#<at ms, 13 digits>#<reason>`, with the
/// change as JSON in `body` (written in the transaction that made the change; idempotent).
pub fn tier_change_item(change: &TierChange) -> Result<Item, StoreError> {
    let sk = format!(
        "{TIER_SK_PREFIX}{:013}#{}",
        change.at.epoch_ms(),
        change.reason.key()
    );
    let mut item = key(member_pk(&change.member), sk);
    let body = serde_json::to_string(change).map_err(|e| corrupt("tier change", e))?;
    item.insert(BODY.to_owned(), AttributeValue::S(body));
    Ok(item)
}

pub fn decode_tier_change(item: &Item) -> Result<TierChange, StoreError> {
    let body = string(item, BODY).unwrap_or_default();
    serde_json::from_str(&body).map_err(|e| StoreError::Corrupt {
        key: string(item, SK).unwrap_or_default(),
        why: e.to_string(),
    })
}

pub fn decode_posting(item: &Item) -> Result<Posting, StoreError> {
    let bad = |why: String| StoreError::Corrupt {
        key: format!(
            "{}/{}",
            string(item, PK).unwrap_or_default(),
            string(item, SK).unwrap_or_default()
        ),
        why,
    };
    let body = string(item, BODY).ok_or_else(|| bad("no body".to_owned()))?;
    serde_json::from_str(&body).map_err(|e| bad(e.to_string()))
}

pub fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

pub fn string(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

pub fn integer(item: &Item, name: &str) -> Option<i64> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse().ok(),
        _ => None,
    }
}

fn corrupt(what: &str, error: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: what.to_owned(),
        why: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{apply, GrowthEntry, Op, PostingRequest, Source, Usage, MAX_OPEN_HOLDS};
    use crate::rules::earning::TierThresholds;
    use crate::store::wru::{item_size, write_units};

    fn at(ms: i64) -> BusinessTime {
        BusinessTime::from_epoch_ms(ms).unwrap()
    }

    /// A member with a lot in each of 13 months and the most open holds, each spread over lots.
    fn busy_profile() -> (Profile, Vec<Posting>) {
        let start = Month::new(2025, 11).unwrap().start().epoch_ms();
        let member = MemberId::generate(at(start), 42);
        let mut profile = Profile::new(member.clone());
        let mut postings = vec![];
        let mut post = |profile: &mut Profile, id: &str, when: BusinessTime, ops: Vec<Op>| {
            let id = PostingId::parse(id).unwrap();
            let mut request = PostingRequest::new(id, member.clone(), when, ops);
            // Every month's payment also records a large growth bucket (and upgrades).
            request.growth = Some(GrowthEntry {
                month: when.month(),
                fen: Fen::new(123_456_789),
                thresholds: Some(TierThresholds::default()),
            });
            let applied = apply(profile, &request).unwrap();
            *profile = applied.profile;
            postings.push(applied.posting);
        };
        for month in 0..13 {
            let when = Month::new(2025, 11).unwrap().plus(month).start();
            let order = format!("pay:order:O-2025-{month:03}-AAAAAAAAAAAAAAAAAAAA");
            let earn = Op::Earn {
                source: Source::Pay,
                points: Points::new(12_345),
            };
            post(&mut profile, &order, when, vec![earn]);
        }
        let when = Month::new(2026, 11).unwrap().start();
        for n in 0..MAX_OPEN_HOLDS {
            let order = OrderId::parse(&format!("O-HOLD-{n}-AAAAAAAAAAAAAAAAAAAAAAAA")).unwrap();
            let hold = Op::Hold {
                order: order.clone(),
                points: Points::new(12_345 + 50),
                expires_at: when.plus_ms(900_000),
            };
            post(
                &mut profile,
                &format!("hold:order:{order}"),
                when,
                vec![hold],
            );
        }
        let spend = Op::Redeem {
            usage: Usage::Goods,
            points: Points::new(1),
        };
        post(&mut profile, "adjust:T1", when, vec![spend]);
        (profile, postings)
    }

    #[test]
    fn a_busy_profile_round_trips_and_fits_in_one_kilobyte() {
        let (profile, _) = busy_profile();
        assert_eq!(profile.holds.len(), MAX_OPEN_HOLDS);
        assert!(profile.lots.len() >= 8, "{:?}", profile.lots);
        assert_eq!(profile.standing.growth.months().count(), 13);
        assert_eq!(profile.standing.tier, Tier::Diamond);
        assert!(profile.standing.since.is_some());
        let mut item = new_profile_item(&profile.member, at(1_764_000_000_000)).unwrap();
        item = updated_profile_item(&item, &profile).unwrap();
        assert_eq!(decode_profile(&item).unwrap(), profile);
        let size = item_size(&item);
        assert!(size <= 1024, "profile item is {size} bytes");
        assert_eq!(write_units(size), 1);
        assert!(
            item.contains_key(HOLD_SHARD),
            "with open holds it is in the hold index"
        );
    }

    #[test]
    fn the_hold_index_keys_follow_the_earliest_open_hold_and_go_with_the_last() {
        let (mut profile, _) = busy_profile();
        let earliest = profile.holds.values().map(|h| h.expires_at).min().unwrap();
        let first = profile.holds.keys().next().unwrap().clone();
        profile.holds.get_mut(&first).unwrap().expires_at = earliest.plus_ms(-60_000);
        let mut item = new_profile_item(&profile.member, at(1_764_000_000_000)).unwrap();
        item = updated_profile_item(&item, &profile).unwrap();
        let shard = hold_shard(&profile.member);
        assert!(shard < HOLD_SHARDS);
        assert_eq!(string(&item, HOLD_SHARD), Some(format!("HOLDS#{shard}")));
        assert_eq!(integer(&item, HOLD_DUE), Some(earliest.epoch_ms() - 60_000));
        assert!(!removed_attributes(&profile).contains(&HOLD_DUE));

        profile.holds.clear();
        profile.held = Points::ZERO;
        assert!(HOLD_INDEX_KEYS
            .iter()
            .all(|k| removed_attributes(&profile).contains(k)));
        let after = updated_profile_item(&item, &profile).unwrap();
        assert!(!after.contains_key(HOLD_SHARD) && !after.contains_key(HOLD_DUE));
        assert!(!ledger_attributes(&profile).unwrap().contains_key(HOLD_DUE));
    }

    #[test]
    fn postings_round_trip_and_fit_in_one_kilobyte() {
        let (_, postings) = busy_profile();
        for posting in postings {
            let item = posting_item(&posting).unwrap();
            assert_eq!(decode_posting(&item).unwrap(), posting);
            let size = item_size(&item);
            assert!(size <= 1024, "posting item is {size} bytes");
        }
    }

    #[test]
    fn a_tampered_profile_is_refused_not_trusted() {
        let (profile, _) = busy_profile();
        let mut item = new_profile_item(&profile.member, at(1_764_000_000_000)).unwrap();
        item = updated_profile_item(&item, &profile).unwrap();
        item.insert("av".to_owned(), number(profile.available.value() + 1));
        assert!(matches!(
            decode_profile(&item),
            Err(StoreError::Corrupt { .. })
        ));
        item.remove("av");
        assert!(matches!(
            decode_profile(&item),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
