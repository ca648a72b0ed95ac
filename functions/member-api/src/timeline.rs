//! A delivery's timeline as the member sees it (`GET /api/orders/{id}` → `delivery.tracking`):
//! where it stands, every state the platforms reported with its time (across a redispatch,
//! oldest first), the rider with a masked phone, the first promise and the actual delivery.

use linli::order::Dispatch;
use serde_json::{json, Value};

pub(crate) fn tracking(dispatch: &Dispatch) -> Option<Value> {
    let current = dispatch.last_waybill()?;
    let waybills = dispatch.ended.iter().chain(dispatch.waybill.as_ref());
    let timeline: Vec<Value> = waybills
        .flat_map(|w| {
            w.events.iter().map(move |e| {
                json!({
                    "state": e.state, "at": e.at.to_string(), "platform": w.platform,
                    "platform_name": w.platform.name(), "reassigned": e.reassigned,
                    "exception": e.exception,
                })
            })
        })
        .collect();
    let promised = dispatch.first_promise();
    let late_minutes = match (promised, current.finished_at) {
        (Some(p), Some(done)) => Some((done.epoch_ms() - p.epoch_ms()).div_euclid(60_000).max(0)),
        _ => None,
    };
    let rider = current
        .riders
        .last()
        .map(|r| json!({ "name": r.name, "phone": r.masked_phone() }));
    Some(json!({
        "state": current.state,
        "platform": current.platform,
        "promised_at": promised.map(|t| t.to_string()),
        "delivered_at": current.finished_at.map(|t| t.to_string()),
        "late_minutes": late_minutes,
        "exception": current.exception,
        "redispatched": !dispatch.ended.is_empty(),
        "rider": rider,
        "timeline": timeline,
    }))
}
