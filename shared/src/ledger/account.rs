//! Accounts and legs. A posting moves points between accounts; its legs always sum to zero.
//!
//! Sign convention: a leg adds its amount to the account's balance. The member's `available` and
//! `held` balances are the sums of their legs; `debt` is a contra account, so the member's debt is
//! minus the sum of the debt legs (repaying debt is a positive debt leg). Hence
//! Σ(available + held − debt) over members = −Σ(system accounts) (DESIGN §5).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Why points were issued: one issuance account per source.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Pay,
    Pos,
    Round,
    #[serde(rename = "signin")]
    SignIn,
    /// The bonus for signing in several days in a row.
    Streak,
    Invite,
    Compensation,
    Adjust,
}

/// What points were redeemed for: one redemption account per use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Usage {
    DeliveryFee,
    Goods,
    Adjust,
}

/// An account a leg posts to. `Available`, `Held` and `Debt` belong to the posting's member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Account {
    Available,
    Held,
    Debt,
    Issuance(Source),
    Redemption(Usage),
    /// Points that expired unspent.
    Breakage,
    /// Points taken back after a refund or return.
    Clawback,
    /// Points on their way from one member to another of the same person (a merge): the two
    /// postings of a merge are written together, so this account nets to zero.
    Transfer,
}

impl Account {
    pub fn is_member_account(self) -> bool {
        matches!(self, Self::Available | Self::Held | Self::Debt)
    }
}

const SOURCES: [(Source, &str); 8] = [
    (Source::Pay, "pay"),
    (Source::Pos, "pos"),
    (Source::Round, "round"),
    (Source::SignIn, "signin"),
    (Source::Streak, "streak"),
    (Source::Invite, "invite"),
    (Source::Compensation, "compensation"),
    (Source::Adjust, "adjust"),
];
const USAGES: [(Usage, &str); 3] = [
    (Usage::DeliveryFee, "delivery_fee"),
    (Usage::Goods, "goods"),
    (Usage::Adjust, "adjust"),
];

fn name_of<K: PartialEq>(table: &[(K, &'static str)], wanted: K) -> &'static str {
    table
        .iter()
        .find(|(k, _)| *k == wanted)
        .map(|(_, n)| *n)
        .unwrap_or("?")
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Available => f.write_str("available"),
            Self::Held => f.write_str("held"),
            Self::Debt => f.write_str("debt"),
            Self::Issuance(s) => write!(f, "issuance:{}", name_of(&SOURCES, *s)),
            Self::Redemption(u) => write!(f, "redemption:{}", name_of(&USAGES, *u)),
            Self::Breakage => f.write_str("breakage"),
            Self::Clawback => f.write_str("clawback"),
            Self::Transfer => f.write_str("transfer"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown account: {0:?}")]
pub struct UnknownAccount(String);

impl FromStr for Account {
    type Err = UnknownAccount;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let unknown = || UnknownAccount(text.chars().take(40).collect());
        let lookup = |name: &str| SOURCES.iter().find(|(_, n)| *n == name).map(|(s, _)| *s);
        let lookup_use = |name: &str| USAGES.iter().find(|(_, n)| *n == name).map(|(u, _)| *u);
        match text {
            "available" => Ok(Self::Available),
            "held" => Ok(Self::Held),
            "debt" => Ok(Self::Debt),
            "breakage" => Ok(Self::Breakage),
            "clawback" => Ok(Self::Clawback),
            "transfer" => Ok(Self::Transfer),
            _ => {
                if let Some(source) = text.strip_prefix("issuance:") {
                    lookup(source).map(Self::Issuance).ok_or_else(unknown)
                } else if let Some(usage) = text.strip_prefix("redemption:") {
                    lookup_use(usage).map(Self::Redemption).ok_or_else(unknown)
                } else {
                    Err(unknown())
                }
            }
        }
    }
}

impl TryFrom<String> for Account {
    type Error = UnknownAccount;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Account> for String {
    fn from(account: Account) -> Self {
        account.to_string()
    }
}

/// A posting's legs, one signed amount per account (amounts to the same account are merged and
/// zero legs dropped, so two postings with the same movement have equal legs).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Legs(BTreeMap<Account, i64>);

impl Legs {
    /// Adds `amount` to `account`; `None` on overflow.
    pub fn post(&mut self, account: Account, amount: i64) -> Option<()> {
        let entry = self.0.entry(account).or_insert(0);
        *entry = entry.checked_add(amount)?;
        if *entry == 0 {
            self.0.remove(&account);
        }
        Some(())
    }

    /// Σ of all legs; a well-formed posting's is zero. `None` on overflow.
    pub fn sum(&self) -> Option<i64> {
        self.0
            .values()
            .try_fold(0i64, |total, v| total.checked_add(*v))
    }

    pub fn amount(&self, account: Account) -> i64 {
        self.0.get(&account).copied().unwrap_or(0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Account, i64)> + '_ {
        self.0.iter().map(|(a, v)| (*a, *v))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names_round_trip() {
        let all = [
            Account::Available,
            Account::Held,
            Account::Debt,
            Account::Breakage,
            Account::Clawback,
            Account::Transfer,
            Account::Issuance(Source::Compensation),
            Account::Redemption(Usage::DeliveryFee),
        ];
        for account in all {
            assert_eq!(account.to_string().parse::<Account>(), Ok(account));
        }
        for (source, _) in SOURCES {
            let a = Account::Issuance(source);
            assert_eq!(a.to_string().parse::<Account>(), Ok(a));
        }
        assert!("issuance:gift".parse::<Account>().is_err());
        assert!("Available".parse::<Account>().is_err());
    }

    #[test]
    fn legs_merge_per_account_and_drop_zeros() {
        let mut legs = Legs::default();
        legs.post(Account::Available, 10).unwrap();
        legs.post(Account::Issuance(Source::Pay), -10).unwrap();
        legs.post(Account::Available, -10).unwrap();
        legs.post(Account::Breakage, 10).unwrap();
        assert_eq!(legs.amount(Account::Available), 0);
        assert_eq!(legs.iter().count(), 2);
        assert_eq!(legs.sum(), Some(0));
    }

    #[test]
    fn legs_serialize_as_a_map_of_account_names() {
        let mut legs = Legs::default();
        legs.post(Account::Available, 5).unwrap();
        legs.post(Account::Issuance(Source::SignIn), -5).unwrap();
        let json = serde_json::to_string(&legs).unwrap();
        assert_eq!(json, r#"{"available":5,"issuance:signin":-5}"#);
        assert_eq!(serde_json::from_str::<Legs>(&json).unwrap(), legs);
    }
}
