//! The chain's stores and what they sell (pure). Prices are fen, set by the catalog — the server
//! prices every order from here, never from the client.

use crate::ids::{SkuId, StoreId};
use crate::money::Fen;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Store {
    pub store_id: StoreId,
    pub name: String,
    /// WGS-84 degrees (WeChat's `wgs84` location type).
    pub lat: f64,
    pub lng: f64,
    /// Opening hours as shown to members, e.g. `07:00-22:00`.
    pub hours: String,
    /// The city the store is in (weather is set per city); empty = `default`.
    #[serde(default)]
    pub city: String,
}

impl Store {
    /// The city whose weather applies to deliveries from this store.
    pub fn city(&self) -> &str {
        if self.city.is_empty() {
            "default"
        } else {
            &self.city
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    pub sku: SkuId,
    pub name: String,
    pub price_fen: Fen,
    pub stock: i64,
    /// The category earn rules' bonuses and campaigns name (e.g. "fresh"); empty = none.
    pub category: String,
}

/// A coordinate that is on Earth.
pub fn valid_coordinate(lat: f64, lng: f64) -> bool {
    lat.is_finite()
        && lng.is_finite()
        && (-90.0..=90.0).contains(&lat)
        && (-180.0..=180.0).contains(&lng)
}

/// Great-circle distance in whole metres (haversine on a 6,371 km sphere: within 0.5 % of the
/// ellipsoid at city scale, which is all a 3 km delivery range needs).
pub fn distance_m(from: (f64, f64), to: (f64, f64)) -> u32 {
    const EARTH_M: f64 = 6_371_000.0;
    let (lat1, lng1) = (from.0.to_radians(), from.1.to_radians());
    let (lat2, lng2) = (to.0.to_radians(), to.1.to_radians());
    let a = ((lat2 - lat1) / 2.0).sin().powi(2)
        + lat1.cos() * lat2.cos() * ((lng2 - lng1) / 2.0).sin().powi(2);
    let metres = 2.0 * EARTH_M * a.sqrt().min(1.0).asin();
    // Bounded by half the Earth's circumference, so the cast cannot overflow.
    metres.round().clamp(0.0, 20_100_000.0) as u32
}

/// Stores nearest first, with their distance from `from`.
pub fn nearest(stores: Vec<Store>, from: (f64, f64)) -> Vec<(Store, u32)> {
    let mut with_distance: Vec<(Store, u32)> = stores
        .into_iter()
        .map(|s| {
            let d = distance_m(from, (s.lat, s.lng));
            (s, d)
        })
        .collect();
    with_distance.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.store_id.cmp(&b.0.store_id)));
    with_distance
}

/// Whether a store with opening `hours` (`HH:MM-HH:MM`, business time; a close before the
/// open runs past midnight) is open at `at`. None when the hours cannot be read.
pub fn is_open(hours: &str, at: crate::time::BusinessTime) -> Option<bool> {
    let minutes = |text: &str| -> Option<u32> {
        let (h, m) = text.trim().split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 24 * 60).then_some(h * 60 + m)
    };
    let (open, close) = hours.split_once('-')?;
    let (open, close) = (minutes(open)?, minutes(close)?);
    let now = at.minutes_of_day();
    Some(if open <= close {
        open <= now && now < close
    } else {
        now >= open || now < close
    })
}

/// The store to suggest near `from`: within `radius_m`, the nearest open one, else the nearest
/// (closed) one; with its distance and whether it is open.
pub fn nearby(
    stores: Vec<Store>,
    from: (f64, f64),
    radius_m: u32,
    at: crate::time::BusinessTime,
) -> Option<(Store, u32, bool)> {
    let within: Vec<(Store, u32)> = nearest(stores, from)
        .into_iter()
        .filter(|(_, d)| *d <= radius_m)
        .collect();
    let open_index = within
        .iter()
        .position(|(s, _)| is_open(&s.hours, at) == Some(true));
    let index = open_index.unwrap_or(0);
    within
        .into_iter()
        .nth(index)
        .map(|(s, d)| (s, d, open_index.is_some()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_match_known_ones() {
        // People's Square to the Bund (Shanghai): about 1.9 km.
        let d = distance_m((31.2304, 121.4737), (31.2400, 121.4900));
        assert!((1_800..2_000).contains(&d), "{d}");
        assert_eq!(distance_m((31.0, 121.0), (31.0, 121.0)), 0);
        // Beijing to Shanghai: about 1,067 km.
        let far = distance_m((39.9042, 116.4074), (31.2304, 121.4737));
        assert!((1_060_000..1_075_000).contains(&far), "{far}");
    }

    #[test]
    fn nearest_first_and_coordinates_checked() {
        let store = |id: &str, lat, lng| Store {
            store_id: StoreId::parse(id).unwrap(),
            name: id.into(),
            lat,
            lng,
            hours: "07:00-22:00".into(),
            city: String::new(),
        };
        let sorted = nearest(
            vec![store("far", 31.30, 121.50), store("near", 31.231, 121.474)],
            (31.2304, 121.4737),
        );
        assert_eq!(sorted[0].0.store_id.as_str(), "near");
        assert!(sorted[0].1 < sorted[1].1);
        assert!(valid_coordinate(31.2, 121.4));
        assert!(!valid_coordinate(91.0, 0.0));
        assert!(!valid_coordinate(f64::NAN, 0.0));
    }

    #[test]
    fn opening_hours_include_the_open_minute_and_run_past_midnight() {
        let at = |t: &str| crate::time::BusinessTime::parse_rfc3339(t).unwrap();
        assert_eq!(
            is_open("07:00-22:00", at("2026-11-25T07:00:00+08:00")),
            Some(true)
        );
        assert_eq!(
            is_open("07:00-22:00", at("2026-11-25T22:00:00+08:00")),
            Some(false)
        );
        assert_eq!(
            is_open("18:00-02:00", at("2026-11-25T01:30:00+08:00")),
            Some(true)
        );
        assert_eq!(
            is_open("00:00-24:00", at("2026-11-25T23:59:00+08:00")),
            Some(true)
        );
        assert_eq!(is_open("all day", at("2026-11-25T12:00:00+08:00")), None);
    }

    #[test]
    fn the_nearest_open_store_within_the_radius_is_suggested() {
        let store = |id: &str, lat: f64, hours: &str| Store {
            store_id: StoreId::parse(id).unwrap(),
            name: id.into(),
            lat,
            lng: 121.4737,
            hours: hours.into(),
            city: String::new(),
        };
        let night = crate::time::BusinessTime::parse_rfc3339("2026-11-25T23:00:00+08:00").unwrap();
        let stores = vec![
            store("near-closed", 31.2310, "07:00-22:00"),
            store("farther-open", 31.2400, "00:00-24:00"),
            store("far", 31.4000, "00:00-24:00"),
        ];
        let from = (31.2304, 121.4737);
        let (s, d, open) = nearby(stores.clone(), from, 3_000, night).unwrap();
        assert_eq!((s.store_id.as_str(), open), ("farther-open", true));
        assert!(d > 1_000 && d < 1_200, "{d}");
        let (s, _, open) = nearby(stores[..1].to_vec(), from, 3_000, night).unwrap();
        assert_eq!((s.store_id.as_str(), open), ("near-closed", false));
        assert_eq!(nearby(stores[2..].to_vec(), from, 3_000, night), None);
    }
}
