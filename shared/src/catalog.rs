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
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    pub sku: SkuId,
    pub name: String,
    pub price_fen: Fen,
    pub stock: i64,
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
}
