//! Identifiers. Each is a newtype validated at the edge, so keys built from them
//! (`MEMBER#<id>`, `POSTING#<id>`) are never ambiguous: ids never contain `#`, `:` or spaces.
//! Posting ids are deterministic and come only from the constructors on [`PostingId`].

use crate::time::{BusinessTime, Month};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} must be 1–{max} characters of A–Z a–z 0–9 _ . -, got {len} characters")]
    Malformed {
        kind: &'static str,
        max: usize,
        len: usize,
    },
    #[error("member id must be a ULID")]
    NotAUlid,
    #[error("not a posting id: {0:?}")]
    NotAPostingId(String),
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

fn validate_token(kind: &'static str, max: usize, text: &str) -> Result<(), IdError> {
    if text.is_empty() || text.len() > max || !text.bytes().all(is_token_char) {
        return Err(IdError::Malformed {
            kind,
            max,
            len: text.chars().count(),
        });
    }
    Ok(())
}

/// Shows the first and last four characters only, for logs (STYLE 18).
fn mask(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 8 {
        return "***".to_owned();
    }
    let head: String = chars.iter().take(4).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{head}…{tail}")
}

macro_rules! token_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(text: &str) -> Result<Self, IdError> {
                validate_token($kind, $max, text)?;
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// For logs: never the whole id.
            pub fn masked(&self) -> String {
                mask(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(text: String) -> Result<Self, Self::Error> {
                validate_token($kind, $max, &text)?;
                Ok(Self(text))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

token_id!(
    /// An order (mini-program, delivery or group-buy), Linli's own id.
    OrderId, "order id", 64
);
token_id!(
    /// A store of the chain.
    StoreId, "store id", 32
);
token_id!(
    /// A stock-keeping unit of the catalog.
    SkuId, "sku", 64
);
token_id!(
    /// A till's sale number, unique within its store.
    SaleId, "sale id", 64
);
token_id!(
    /// A till's return number, unique within its store.
    ReturnId, "return id", 64
);
token_id!(
    /// A till (checkout) of a store, as the store names it.
    TillId, "till id", 32
);
token_id!(
    /// A refund Linli started (`out_refund_no`).
    RefundId, "refund id", 64
);
token_id!(
    /// A group-buy round.
    RoundId, "round id", 64
);
token_id!(
    /// A recurring group-buy template (its rounds are `<template>-<YYYYMMDD>`).
    TemplateId, "template id", 48
);
token_id!(
    /// An operator's ticket for a manual adjustment.
    TicketId, "ticket id", 64
);
token_id!(
    /// A WeChat OpenID (per app).
    OpenId, "openid", 64
);
token_id!(
    /// A WeChat UnionID (per Open Platform account).
    UnionId, "unionid", 64
);

/// A way WeChat names a person (DESIGN §3): the Official Account's or the mini-program's OpenID,
/// or the Open Platform's UnionID shared by both. Each maps to exactly one member.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Identity {
    Oa(OpenId),
    Mini(OpenId),
    Union(UnionId),
}

impl Identity {
    /// `oa#<openid>`, `mini#<openid>` or `union#<unionid>`.
    pub fn key(&self) -> String {
        match self {
            Self::Oa(id) => format!("oa#{id}"),
            Self::Mini(id) => format!("mini#{id}"),
            Self::Union(id) => format!("union#{id}"),
        }
    }

    /// For logs: the kind and a masked value.
    pub fn masked(&self) -> String {
        match self {
            Self::Oa(id) => format!("oa#{}", id.masked()),
            Self::Mini(id) => format!("mini#{}", id.masked()),
            Self::Union(id) => format!("union#{}", id.masked()),
        }
    }
}

/// Linli's own member id: a ULID (time-ordered, 26 Crockford base32 characters).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MemberId(String);

impl MemberId {
    /// When the member was created: a member id is a ULID minted at first contact.
    pub fn created_at(&self) -> Option<BusinessTime> {
        let ulid = ulid::Ulid::from_string(&self.0).ok()?;
        BusinessTime::from_epoch_ms(i64::try_from(ulid.timestamp_ms()).ok()?).ok()
    }

    /// A new id from the creating event's time and 80 bits the caller drew at random.
    pub fn generate(at: BusinessTime, random: u128) -> Self {
        let ms = u64::try_from(at.epoch_ms()).unwrap_or(0);
        Self(ulid::Ulid::from_parts(ms, random).to_string())
    }

    pub fn parse(text: &str) -> Result<Self, IdError> {
        let ulid = ulid::Ulid::from_string(text).map_err(|_| IdError::NotAUlid)?;
        // Canonical upper-case form, so one member never has two spellings.
        Ok(Self(ulid.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl TryFrom<String> for MemberId {
    type Error = IdError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<MemberId> for String {
    fn from(id: MemberId) -> Self {
        id.0
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A posting's id, derived from its cause (DESIGN §5), so a repeated cause always collides.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PostingId(String);

/// The prefixes a posting id may have, in DESIGN §5 order.
const POSTING_PREFIXES: [&str; 14] = [
    "pay:order:",
    "hold:order:",
    "void:order:",
    "feeback:order:",
    "claw:refund:",
    "earn:pos:",
    "claw:pos:",
    "earn:round:",
    "comp:order:",
    "signin:",
    "invite:",
    "expire:",
    "merge:",
    "adjust:",
];

impl OrderId {
    /// A stable shard of the id in `0..shards` (index partitions that must not be hot).
    pub fn shard(&self, shards: u8) -> u8 {
        let sum = self.0.bytes().fold(0u32, |acc, b| {
            acc.wrapping_mul(31).wrapping_add(u32::from(b))
        });
        u8::try_from(sum % u32::from(shards.max(1))).unwrap_or(0)
    }

    /// A new order id: a ULID (26 characters, time-ordered), which also fits WeChat Pay's
    /// 32-character `out_trade_no`.
    pub fn generate(at: BusinessTime, random: u128) -> Self {
        let ms = u64::try_from(at.epoch_ms()).unwrap_or(0);
        Self(ulid::Ulid::from_parts(ms, random).to_string())
    }
}

impl PostingId {
    /// Capture of the order's hold (if any) and the earn of a paid order, in one posting.
    pub fn pay_order(order: &OrderId) -> Self {
        Self(format!("pay:order:{order}"))
    }
    pub fn hold_order(order: &OrderId) -> Self {
        Self(format!("hold:order:{order}"))
    }
    pub fn void_order(order: &OrderId) -> Self {
        Self(format!("void:order:{order}"))
    }
    /// A points-paid delivery fee returned.
    pub fn feeback_order(order: &OrderId) -> Self {
        Self(format!("feeback:order:{order}"))
    }
    pub fn claw_refund(refund: &RefundId) -> Self {
        Self(format!("claw:refund:{refund}"))
    }
    pub fn earn_pos(store: &StoreId, sale: &SaleId) -> Self {
        Self(format!("earn:pos:{store}:{sale}"))
    }
    pub fn claw_pos(store: &StoreId, ret: &ReturnId) -> Self {
        Self(format!("claw:pos:{store}:{ret}"))
    }
    pub fn earn_round(round: &RoundId, order: &OrderId) -> Self {
        Self(format!("earn:round:{round}:{order}"))
    }
    /// One compensation per order, across redispatches.
    pub fn comp_order(order: &OrderId) -> Self {
        Self(format!("comp:order:{order}"))
    }
    /// One sign-in per member per business date.
    pub fn sign_in(member: &MemberId, date: NaiveDate) -> Self {
        Self(format!("signin:{member}:{}", date.format("%Y-%m-%d")))
    }
    /// The invite bonus, once for the referrer and once for the newcomer.
    pub fn invite(newcomer: &MemberId, beneficiary: &MemberId) -> Self {
        Self(format!("invite:{newcomer}:{beneficiary}"))
    }
    /// Expiry of the member's lot earned in `month`.
    pub fn expire(member: &MemberId, month: Month) -> Self {
        Self(format!("expire:{member}:{month}"))
    }
    pub fn merge(from: &MemberId) -> Self {
        Self(format!("merge:{from}"))
    }
    pub fn adjust(ticket: &TicketId) -> Self {
        Self(format!("adjust:{ticket}"))
    }

    /// Parses an id received in a message; only the shapes above are accepted.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let bad = || IdError::NotAPostingId(text.chars().take(80).collect());
        let rest = POSTING_PREFIXES
            .iter()
            .find_map(|p| text.strip_prefix(p))
            .ok_or_else(bad)?;
        let rest_ok = !rest.is_empty()
            && rest.len() <= 160
            && rest.bytes().all(|b| is_token_char(b) || b == b':');
        if rest_ok {
            Ok(Self(text.to_owned()))
        } else {
            Err(bad())
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The cause's kind, e.g. `pay:order` or `signin`: the id up to its last typed prefix.
    pub fn kind(&self) -> &'static str {
        POSTING_PREFIXES
            .iter()
            .find(|p| self.0.starts_with(*p))
            .map(|p| p.trim_end_matches(':'))
            .unwrap_or("unknown")
    }
}

impl TryFrom<String> for PostingId {
    type Error = IdError;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        Self::parse(&text)
    }
}

impl From<PostingId> for String {
    fn from(id: PostingId) -> Self {
        id.0
    }
}

impl fmt::Display for PostingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn member() -> MemberId {
        MemberId::generate(BusinessTime::from_epoch_ms(1_764_000_000_000).unwrap(), 42)
    }

    #[test]
    fn posting_ids_follow_the_design_shapes() {
        let order = OrderId::parse("O123").unwrap();
        assert_eq!(PostingId::pay_order(&order).as_str(), "pay:order:O123");
        assert_eq!(PostingId::pay_order(&order).kind(), "pay:order");
        let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let signin = PostingId::sign_in(&member(), date);
        assert!(signin.as_str().ends_with(":2026-11-25"));
        assert_eq!(signin.kind(), "signin");
        let month: Month = "2026-11".parse().unwrap();
        assert!(PostingId::expire(&member(), month)
            .as_str()
            .ends_with(":2026-11"));
    }

    #[test]
    fn every_constructed_posting_id_parses_back() {
        let order = OrderId::parse("O-1").unwrap();
        let store = StoreId::parse("S1").unwrap();
        let ids = [
            PostingId::pay_order(&order),
            PostingId::claw_pos(&store, &ReturnId::parse("R9").unwrap()),
            PostingId::invite(&member(), &member()),
            PostingId::adjust(&TicketId::parse("T.7").unwrap()),
        ];
        for id in ids {
            assert_eq!(PostingId::parse(id.as_str()).unwrap(), id);
        }
    }

    #[test]
    fn ids_with_key_separators_are_rejected() {
        assert!(OrderId::parse("a#b").is_err());
        assert!(OrderId::parse("a:b").is_err());
        assert!(OrderId::parse("").is_err());
        assert!(OrderId::parse(&"x".repeat(65)).is_err());
        assert!(PostingId::parse("pay:order:").is_err());
        assert!(PostingId::parse("gift:order:1").is_err());
        assert!(PostingId::parse("pay:order:a#b").is_err());
    }

    #[test]
    fn a_member_id_tells_when_the_member_was_created() {
        let at = BusinessTime::from_epoch_ms(1_764_000_000_123).unwrap();
        assert_eq!(MemberId::generate(at, 42).created_at(), Some(at));
    }

    #[test]
    fn member_ids_are_canonical_ulids() {
        let id = member();
        assert_eq!(MemberId::parse(&id.as_str().to_lowercase()).unwrap(), id);
        assert_eq!(MemberId::parse("not-a-ulid"), Err(IdError::NotAUlid));
        assert_eq!(id.masked().chars().count(), 9);
        assert!(!id.masked().contains(&id.as_str()[4..22]));
    }

    proptest! {
        #[test]
        fn id_parsers_never_panic(text in "\\PC{0,200}") {
            let _ = PostingId::parse(&text);
            let _ = MemberId::parse(&text);
            let _ = OrderId::parse(&text);
        }
    }
}
