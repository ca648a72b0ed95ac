//! Routing a delivery (pure, explainable): which store packs it and which courier platform
//! carries it, with the reasons, and the order's heatmap record. Stored on the order so support
//! can say why.
//!
//! Store: among those with every item in stock, the lowest score = distance (m) + a load
//! penalty (metres per percent of picker capacity in use); a store at capacity is chosen only
//! when every covering store is. Platform: among the available ones, the lowest cost = fee
//! (fen) + promised minutes × the value of a minute (fen); the others, in cost order, are the
//! failover order.

use crate::ids::StoreId;
use crate::time::BusinessTime;
use serde::{Deserialize, Serialize};

/// The same-city courier platforms Linli dispatches to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Dada,
    SfSameCity,
    Meituan,
}

impl Platform {
    pub fn name(self) -> &'static str {
        match self {
            Self::Dada => "达达",
            Self::SfSameCity => "顺丰同城",
            Self::Meituan => "美团配送",
        }
    }
}

/// How routing weighs distance, load, price and time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingRules {
    /// Metres of detour worth one percent of picker capacity in use.
    pub load_penalty_m_per_pct: u32,
    /// What a minute of promised delivery time is worth, fen.
    pub minute_fen: i64,
}

impl Default for RoutingRules {
    fn default() -> Self {
        Self {
            load_penalty_m_per_pct: 20,
            minute_fen: 10,
        }
    }
}

/// A store as routing sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOption {
    pub store_id: StoreId,
    pub distance_m: u32,
    /// Every item in stock there.
    pub covers: bool,
    /// Orders being picked now.
    pub open_orders: u32,
    /// Orders its pickers can handle at once (0 = unknown: no load penalty).
    pub picker_capacity: u32,
}

impl StoreOption {
    /// Percent of picker capacity in use (may exceed 100).
    fn load_pct(&self) -> u32 {
        if self.picker_capacity == 0 {
            return 0;
        }
        self.open_orders.saturating_mul(100) / self.picker_capacity
    }
}

/// A platform's offer for one delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlatformOffer {
    pub platform: Platform,
    /// Enabled for the store and answering (not faulted).
    pub available: bool,
    pub fee_fen: i64,
    pub promised_minutes: u32,
}

/// The route chosen and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    pub store_id: StoreId,
    pub platform: Platform,
    /// The platforms to fail over to, in order.
    pub fallbacks: Vec<Platform>,
    pub promised_minutes: u32,
    pub courier_fee_fen: i64,
    pub reasons: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    #[error("no store has every item in stock")]
    NoStore,
    #[error("no courier platform is available")]
    NoPlatform,
}

/// The store to pack a delivery among `stores`: the covering one with the lowest score
/// (distance + load penalty), a store at capacity only when every covering one is; with the
/// reasons.
pub fn choose_store<'a>(
    rules: &RoutingRules,
    stores: &'a [StoreOption],
) -> Result<(&'a StoreOption, Vec<String>), RoutingError> {
    let covering: Vec<&StoreOption> = stores.iter().filter(|s| s.covers).collect();
    let room: Vec<&StoreOption> = covering
        .iter()
        .copied()
        .filter(|s| s.picker_capacity == 0 || s.open_orders < s.picker_capacity)
        .collect();
    let pool = if room.is_empty() { &covering } else { &room };
    let score = |s: &StoreOption| {
        u64::from(s.distance_m) + u64::from(s.load_pct()) * u64::from(rules.load_penalty_m_per_pct)
    };
    let store = pool
        .iter()
        .min_by(|a, b| {
            score(a)
                .cmp(&score(b))
                .then_with(|| a.store_id.cmp(&b.store_id))
        })
        .ok_or(RoutingError::NoStore)?;
    let mut reasons = vec![format!(
        "门店 {}: {} m, 拣货负载 {}% (得分 {})",
        store.store_id,
        store.distance_m,
        store.load_pct(),
        score(store)
    )];
    if room.is_empty() {
        reasons.push("所有有货门店均已满负荷".to_owned());
    }
    Ok((store, reasons))
}

/// The store and platform for a delivery, with the reasons.
pub fn route(
    rules: &RoutingRules,
    stores: &[StoreOption],
    offers: &[PlatformOffer],
) -> Result<Route, RoutingError> {
    let (store, mut reasons) = choose_store(rules, stores)?;
    let mut available: Vec<&PlatformOffer> = offers.iter().filter(|o| o.available).collect();
    let cost = |o: &PlatformOffer| {
        o.fee_fen
            .saturating_add(i64::from(o.promised_minutes).saturating_mul(rules.minute_fen))
    };
    available.sort_by(|a, b| {
        cost(a)
            .cmp(&cost(b))
            .then_with(|| a.platform.cmp(&b.platform))
    });
    let (first, rest) = available.split_first().ok_or(RoutingError::NoPlatform)?;
    reasons.push(format!(
        "{}: ¥{:.2}, 承诺 {} 分钟 (成本 {})",
        first.platform.name(),
        first.fee_fen as f64 / 100.0,
        first.promised_minutes,
        cost(first)
    ));
    Ok(Route {
        store_id: store.store_id.clone(),
        platform: first.platform,
        fallbacks: rest.iter().map(|o| o.platform).collect(),
        promised_minutes: first.promised_minutes,
        courier_fee_fen: first.fee_fen,
        reasons,
    })
}

/// One delivery on the heatmap: where (rounded to about 100 m), when (business hour), from
/// which store, by which platform, for what fee and points.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Heat {
    pub lat: f64,
    pub lng: f64,
    pub hour: u32,
    pub store_id: StoreId,
    pub platform: Platform,
    pub fee_fen: i64,
    pub points: i64,
}

impl Heat {
    pub fn of(
        address: (f64, f64),
        at: BusinessTime,
        route: &Route,
        fee_fen: i64,
        points: i64,
    ) -> Self {
        let round = |x: f64| (x * 1_000.0).round() / 1_000.0;
        Self {
            lat: round(address.0),
            lng: round(address.1),
            hour: at.minutes_of_day() / 60,
            store_id: route.store_id.clone(),
            platform: route.platform,
            fee_fen,
            points,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(id: &str, distance_m: u32, covers: bool, open: u32, capacity: u32) -> StoreOption {
        StoreOption {
            store_id: StoreId::parse(id).unwrap(),
            distance_m,
            covers,
            open_orders: open,
            picker_capacity: capacity,
        }
    }

    fn offer(platform: Platform, available: bool, fee_fen: i64, minutes: u32) -> PlatformOffer {
        PlatformOffer {
            platform,
            available,
            fee_fen,
            promised_minutes: minutes,
        }
    }

    fn offers() -> Vec<PlatformOffer> {
        vec![
            offer(Platform::Dada, true, 600, 40),
            offer(Platform::SfSameCity, true, 800, 25),
            offer(Platform::Meituan, true, 650, 45),
        ]
    }

    #[test]
    fn stores_are_chosen_by_stock_distance_and_load() {
        let r = RoutingRules::default();
        // (stores, expected store)
        let table: Vec<(Vec<StoreOption>, &str)> = vec![
            (
                vec![store("A", 800, true, 0, 10), store("B", 1_500, true, 0, 10)],
                "A",
            ),
            (
                vec![
                    store("A", 800, false, 0, 10),
                    store("B", 1_500, true, 0, 10),
                ],
                "B",
            ),
            // A is 80% busy: 800 + 80 × 20 = 2,400 > B's 1,500 + 10 × 20 = 1,700.
            (
                vec![store("A", 800, true, 8, 10), store("B", 1_500, true, 1, 10)],
                "B",
            ),
            // A is full: B, though farther and busier.
            (
                vec![
                    store("A", 300, true, 10, 10),
                    store("B", 2_900, true, 9, 10),
                ],
                "B",
            ),
            // Every covering store is full: the best of them anyway.
            (
                vec![
                    store("A", 300, true, 12, 10),
                    store("B", 2_900, true, 10, 10),
                ],
                "A",
            ),
            // Unknown capacity: distance alone.
            (
                vec![store("A", 900, true, 50, 0), store("B", 1_000, true, 0, 10)],
                "A",
            ),
        ];
        for (stores, expected) in table {
            let route = route(&r, &stores, &offers()).unwrap();
            assert_eq!(
                route.store_id.as_str(),
                expected,
                "{stores:?}: {:?}",
                route.reasons
            );
        }
        let none = [store("A", 300, false, 0, 10)];
        assert_eq!(route(&r, &none, &offers()), Err(RoutingError::NoStore));
    }

    #[test]
    fn platforms_are_chosen_by_price_and_promised_time_with_failover_in_order() {
        let r = RoutingRules::default();
        let stores = [store("A", 800, true, 0, 10)];
        // Costs: Dada 600 + 400 = 1,000; SF 800 + 250 = 1,050; Meituan 650 + 450 = 1,100.
        let route1 = route(&r, &stores, &offers()).unwrap();
        assert_eq!(route1.platform, Platform::Dada);
        assert_eq!(route1.fallbacks, [Platform::SfSameCity, Platform::Meituan]);
        assert_eq!((route1.promised_minutes, route1.courier_fee_fen), (40, 600));
        assert_eq!(route1.reasons.len(), 2);
        // Time matters more: SF wins.
        let hurried = RoutingRules {
            minute_fen: 30,
            ..RoutingRules::default()
        };
        assert_eq!(
            route(&hurried, &stores, &offers()).unwrap().platform,
            Platform::SfSameCity
        );
        // Dada down: SF, then Meituan.
        let mut down = offers();
        down[0].available = false;
        let route2 = route(&r, &stores, &down).unwrap();
        assert_eq!(
            (route2.platform, route2.fallbacks.clone()),
            (Platform::SfSameCity, vec![Platform::Meituan])
        );
        for o in &mut down {
            o.available = false;
        }
        assert_eq!(route(&r, &stores, &down), Err(RoutingError::NoPlatform));
    }

    #[test]
    fn the_heatmap_record_is_rounded_to_about_a_hundred_metres_and_the_hour() {
        let r = route(
            &RoutingRules::default(),
            &[store("A", 800, true, 0, 10)],
            &offers(),
        )
        .unwrap();
        // 2026-11-25 18:42 Beijing time.
        let at = BusinessTime::from_epoch_ms(1_795_536_000_000 + (18 * 60 + 42) * 60_000).unwrap();
        let heat = Heat::of((31.223_649, 121.445_251), at, &r, 500, 75);
        assert_eq!((heat.lat, heat.lng, heat.hour), (31.224, 121.445, 18));
        assert_eq!(
            (heat.platform, heat.fee_fen, heat.points),
            (Platform::Dada, 500, 75)
        );
    }
}
