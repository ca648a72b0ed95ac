//! A delivery quote: the store chosen among the candidates (by distance and its pickers' load), the price with its factors, signed
//! so the order can trust it without storing it (`quote_id` = `base64url(json) "."
//! base64url(HMAC-SHA256(key, json))`), valid 5 minutes, for the member it was made for.

use super::pricing::{Price, PriceInput};
use super::routing::{choose_store, RoutingRules, StoreOption};
use super::rules::{DeliveryRules, Weather};
use crate::ids::{MemberId, StoreId};
use crate::order::Address;
use crate::rules::earning::Tier;
use crate::time::BusinessTime;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How long a quote can be ordered against.
pub const QUOTE_VALID_MS: i64 = 5 * 60_000;
/// Longer ids are not ours (a quote is well under this).
const MAX_QUOTE_ID: usize = 8_192;

/// A store that could deliver the basket, as the caller found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub store_id: StoreId,
    pub name: String,
    pub distance_m: u32,
    /// Every line in stock there.
    pub covers: bool,
    /// The basket priced at that store's prices.
    pub goods_fen: i64,
    /// Delivery orders the store took in the last half hour (its pickers' load).
    pub open_orders: u32,
}

/// The stores that cover the basket within range (else within the maximum range), nearest
/// first.
pub fn eligible(rules: &DeliveryRules, mut candidates: Vec<Candidate>) -> Vec<Candidate> {
    candidates.retain(|c| c.covers && c.distance_m <= rules.max_range_m);
    candidates.sort_by(|a, b| {
        a.distance_m
            .cmp(&b.distance_m)
            .then_with(|| a.store_id.cmp(&b.store_id))
    });
    let near: Vec<Candidate> = candidates
        .iter()
        .filter(|c| c.distance_m <= rules.range_m)
        .cloned()
        .collect();
    if near.is_empty() {
        candidates
    } else {
        near
    }
}

/// A signed offer to deliver `items` from `store_id` to `address` at `price`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    pub member: MemberId,
    pub store_id: StoreId,
    pub distance_m: u32,
    pub address: Address,
    /// (SKU, quantity) as asked.
    pub items: Vec<(String, i64)>,
    pub goods_fen: i64,
    pub priority: bool,
    pub weather: Weather,
    pub tier: Tier,
    pub price: Price,
    pub quoted_at: BusinessTime,
    pub expires_at: BusinessTime,
    /// The chosen store's load when quoted: recent orders and its pickers' capacity (0 = none
    /// set).
    #[serde(default)]
    pub open_orders: u32,
    #[serde(default)]
    pub picker_capacity: u32,
}

/// The store a basket is quoted from, and the others that could deliver it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub store: Candidate,
    /// Its pickers' capacity in the rules (0 = none set).
    pub picker_capacity: u32,
    /// The other eligible stores, nearest first.
    pub others: Vec<Candidate>,
}

/// The eligible store with the lowest distance + load score (pure: candidates come in priced,
/// with their load).
pub fn choose(rules: &DeliveryRules, candidates: Vec<Candidate>) -> Result<Choice, QuoteError> {
    let mut eligible = eligible(rules, candidates);
    let capacity = |c: &Candidate| rules.pickers.get(c.store_id.as_str()).copied().unwrap_or(0);
    let options: Vec<StoreOption> = eligible
        .iter()
        .map(|c| StoreOption {
            store_id: c.store_id.clone(),
            distance_m: c.distance_m,
            covers: true,
            open_orders: c.open_orders,
            picker_capacity: capacity(c),
        })
        .collect();
    let (best, _) =
        choose_store(&RoutingRules::default(), &options).map_err(|_| QuoteError::NoStore)?;
    let at = eligible
        .iter()
        .position(|c| c.store_id == best.store_id)
        .ok_or(QuoteError::NoStore)?;
    let store = eligible.remove(at);
    Ok(Choice {
        picker_capacity: capacity(&store),
        store,
        others: eligible,
    })
}

/// The quote for a basket from the chosen store.
#[allow(clippy::too_many_arguments)]
pub fn make_quote(
    rules: &DeliveryRules,
    member: MemberId,
    address: Address,
    items: Vec<(String, i64)>,
    choice: &Choice,
    weather: Weather,
    tier: Tier,
    priority: bool,
    now: BusinessTime,
) -> Result<Quote, QuoteError> {
    let chosen = &choice.store;
    let price = rules
        .price(&PriceInput {
            distance_m: chosen.distance_m,
            goods_fen: chosen.goods_fen,
            skus: items.iter().map(|(sku, _)| sku.clone()).collect(),
            at: now,
            weather,
            tier,
            priority,
        })
        .ok_or(QuoteError::NoStore)?;
    Ok(Quote {
        member,
        store_id: chosen.store_id.clone(),
        distance_m: chosen.distance_m,
        address,
        items,
        goods_fen: chosen.goods_fen,
        priority,
        weather,
        tier,
        price,
        quoted_at: now,
        expires_at: now.plus_ms(QUOTE_VALID_MS),
        open_orders: chosen.open_orders,
        picker_capacity: choice.picker_capacity,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("no store within range has every item in stock")]
    NoStore,
    #[error("not a quote Linli made")]
    Forged,
    #[error("the quote has expired: ask for a new one")]
    Expired,
    #[error("the quote was made for another member")]
    NotYours,
}

/// The key quotes are signed with.
pub struct QuoteKey(Vec<u8>);

impl QuoteKey {
    /// Derived from a secret (e.g. the session key) so quotes cannot pass for sessions.
    pub fn derive(secret: &[u8]) -> Self {
        let derived = mac(secret, b"linli delivery quote v1")
            .map(|m| m.finalize().into_bytes().to_vec())
            .unwrap_or_default();
        Self(derived)
    }

    /// The quote's id (None only if it cannot be serialized, which a `Quote` always can).
    pub fn sign(&self, quote: &Quote) -> Option<String> {
        let payload = serde_json::to_vec(quote).ok()?;
        let tag = mac(&self.0, &payload)?.finalize().into_bytes();
        Some(format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        ))
    }

    /// The quote `id` names, if Linli signed it, it is `member`'s and still valid at `now`.
    pub fn open(
        &self,
        id: &str,
        member: &MemberId,
        now: BusinessTime,
    ) -> Result<Quote, QuoteError> {
        if id.len() > MAX_QUOTE_ID {
            return Err(QuoteError::Forged);
        }
        let (payload, tag) = id.split_once('.').ok_or(QuoteError::Forged)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| QuoteError::Forged)?;
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| QuoteError::Forged)?;
        mac(&self.0, &payload)
            .ok_or(QuoteError::Forged)?
            .verify_slice(&tag)
            .map_err(|_| QuoteError::Forged)?;
        let quote: Quote = serde_json::from_slice(&payload).map_err(|_| QuoteError::Forged)?;
        if &quote.member != member {
            return Err(QuoteError::NotYours);
        }
        if now >= quote.expires_at {
            return Err(QuoteError::Expired);
        }
        Ok(quote)
    }
}

/// HMAC-SHA256 of `payload` under `key` (HMAC takes keys of any length).
fn mac(key: &[u8], payload: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(payload);
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: &str, distance_m: u32, covers: bool) -> Candidate {
        Candidate {
            store_id: StoreId::parse(id).unwrap(),
            name: id.into(),
            distance_m,
            covers,
            goods_fen: 3_000,
            open_orders: 0,
        }
    }

    fn now() -> BusinessTime {
        // 2026-11-25 10:00 Beijing time.
        BusinessTime::from_epoch_ms(1_795_536_000_000 + 600 * 60_000).unwrap()
    }

    #[test]
    fn the_nearest_store_that_covers_the_basket_wins_and_far_ones_only_when_none_is_near() {
        let r = DeliveryRules::default();
        let all = vec![
            candidate("far", 4_500, true),
            candidate("near-empty", 300, false),
            candidate("near", 1_800, true),
            candidate("nearer", 900, true),
        ];
        let ids: Vec<String> = eligible(&r, all)
            .iter()
            .map(|c| c.store_id.to_string())
            .collect();
        assert_eq!(ids, ["nearer", "near"]);
        let only_far = vec![
            candidate("far", 4_500, true),
            candidate("too-far", 5_200, true),
        ];
        let ids: Vec<String> = eligible(&r, only_far)
            .iter()
            .map(|c| c.store_id.to_string())
            .collect();
        assert_eq!(ids, ["far"]);
    }

    #[test]
    fn a_signed_quote_opens_for_its_member_until_it_expires() {
        let member = MemberId::generate(now(), 1);
        let address = Address {
            lat: 31.2,
            lng: 121.4,
            text: "静安区".into(),
        };
        let choice = choose(
            &DeliveryRules::default(),
            vec![candidate("a", 900, true), candidate("b", 1_500, true)],
        )
        .unwrap();
        let others = &choice.others;
        let quote = make_quote(
            &DeliveryRules::default(),
            member.clone(),
            address,
            vec![("OIL-5L".into(), 1)],
            &choice,
            Weather::Normal,
            Tier::Regular,
            false,
            now(),
        )
        .unwrap();
        assert_eq!((quote.store_id.as_str(), quote.price.points), ("a", 50));
        assert_eq!(others.len(), 1);
        let key = QuoteKey::derive(b"secret");
        let id = key.sign(&quote).unwrap();
        assert_eq!(key.open(&id, &member, now()), Ok(quote.clone()));
        let late = now().plus_ms(QUOTE_VALID_MS);
        assert_eq!(key.open(&id, &member, late), Err(QuoteError::Expired));
        let other = MemberId::generate(now(), 2);
        assert_eq!(key.open(&id, &other, now()), Err(QuoteError::NotYours));
        assert_eq!(
            QuoteKey::derive(b"other").open(&id, &member, now()),
            Err(QuoteError::Forged)
        );
        let tampered = id.replacen('e', "f", 1);
        assert!(key.open(&tampered, &member, now()).is_err());
        assert_eq!(key.open("junk", &member, now()), Err(QuoteError::Forged));
        let none = choose(&DeliveryRules::default(), vec![candidate("x", 900, false)]);
        assert_eq!(none.err(), Some(QuoteError::NoStore));
    }

    #[test]
    fn a_store_whose_pickers_are_full_loses_to_a_free_one_a_little_farther() {
        let mut rules = DeliveryRules::default();
        rules.pickers.insert("busy".into(), 4);
        rules.pickers.insert("calm".into(), 4);
        let member = MemberId::generate(now(), 2);
        let address = Address {
            lat: 31.2,
            lng: 121.4,
            text: "静安区".into(),
        };
        let quoted = |busy_orders: u32| {
            let mut busy = candidate("busy", 600, true);
            busy.open_orders = busy_orders;
            let calm = candidate("calm", 1_400, true);
            let choice = choose(&rules, vec![busy, calm]).unwrap();
            let quote = make_quote(
                &rules,
                member.clone(),
                address.clone(),
                vec![("OIL-5L".into(), 1)],
                &choice,
                Weather::Normal,
                Tier::Regular,
                false,
                now(),
            )
            .unwrap();
            (
                quote.store_id.to_string(),
                quote.open_orders,
                choice.others.len(),
            )
        };
        // 1 of 4 busy: 600 m + 25% × 20 m = 1,100 beats 1,400 m.
        assert_eq!(quoted(1), ("busy".to_owned(), 1, 1));
        // 3 of 4: 600 + 75 × 20 = 2,100 loses to 1,400; at capacity it is out of the running.
        assert_eq!(quoted(3).0, "calm");
        assert_eq!(quoted(4).0, "calm");
    }
}
