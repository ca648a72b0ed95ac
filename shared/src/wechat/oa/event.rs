//! Event pushes (`MsgType` `event`): the ones Linli acts on (follow, QR scan, menu click,
//! reported location) typed, the rest kept by name. `Event` is compared without ASCII case.

use super::message::{degrees, metres, required};
use super::OaError;
use crate::wechat::xml::FieldLookup;

/// An `event` push, by `Event` (compared without ASCII case).
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// `subscribe`; `scene` is the value after `qrscene_` in `EventKey` when the user followed
    /// by scanning a parametric QR code, `None` otherwise (no key, empty key or empty scene).
    Subscribe { scene: Option<String> },
    /// `SCAN`: an existing follower scanned a parametric QR code; `scene` is `EventKey` as is
    /// (no prefix), non-empty.
    Scan { scene: String },
    /// `unsubscribe`.
    Unsubscribe,
    /// `CLICK` on a menu button; `key` is its non-empty `EventKey`.
    Click { key: String },
    /// `LOCATION` (reported on entering the chat when enabled): `Latitude` and `Longitude` in
    /// degrees, `Precision` in metres (≥ 0).
    Location { lat: f64, lng: f64, precision: f64 },
    /// Any other event (`VIEW`, `TEMPLATESENDJOBFINISH`…), kept for the log.
    Other { event: String },
}

/// Reads the `Event` of a push whose `MsgType` is `event`; errors name the missing field.
pub(super) fn read(fields: &(impl FieldLookup + ?Sized)) -> Result<Event, OaError> {
    let name = required(fields, "Event")?;
    let is = |wanted: &str| name.eq_ignore_ascii_case(wanted);
    let event = if is("subscribe") {
        let scene = fields
            .field("EventKey")
            .and_then(|key| key.strip_prefix("qrscene_"))
            .filter(|scene| !scene.is_empty())
            .map(str::to_owned);
        Event::Subscribe { scene }
    } else if is("unsubscribe") {
        Event::Unsubscribe
    } else if is("SCAN") {
        Event::Scan {
            scene: required(fields, "EventKey")?.to_owned(),
        }
    } else if is("CLICK") {
        Event::Click {
            key: required(fields, "EventKey")?.to_owned(),
        }
    } else if is("LOCATION") {
        Event::Location {
            lat: degrees(fields, "Latitude", 90.0)?,
            lng: degrees(fields, "Longitude", 180.0)?,
            precision: metres(fields, "Precision")?,
        }
    } else {
        Event::Other {
            event: name.to_owned(),
        }
    };
    Ok(event)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat::xml::Fields;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn a_subscribe_key_without_the_qrscene_prefix_has_no_scene() {
        for key in ["", "qrscene_", "123", "QRSCENE_1"] {
            let read = read(&fields(&[("Event", "subscribe"), ("EventKey", key)]));
            assert_eq!(read, Ok(Event::Subscribe { scene: None }), "{key}");
        }
        let bare = read(&fields(&[("Event", "subscribe")]));
        assert_eq!(bare, Ok(Event::Subscribe { scene: None }));
    }

    #[test]
    fn event_names_are_read_without_ascii_case() {
        let scan = read(&fields(&[("Event", "scan"), ("EventKey", "7")]));
        assert_eq!(
            scan,
            Ok(Event::Scan {
                scene: "7".to_owned()
            })
        );
        let click = read(&fields(&[("Event", "Click"), ("EventKey", "SIGN_IN")]));
        assert_eq!(
            click,
            Ok(Event::Click {
                key: "SIGN_IN".to_owned()
            })
        );
        assert_eq!(
            read(&fields(&[("Event", "UNSUBSCRIBE")])),
            Ok(Event::Unsubscribe)
        );
    }

    #[test]
    fn a_scan_or_click_without_its_key_names_the_field() {
        for name in ["SCAN", "CLICK"] {
            assert_eq!(
                read(&fields(&[("Event", name)])),
                Err(OaError::MissingField("EventKey"))
            );
        }
        assert_eq!(read(&fields(&[])), Err(OaError::MissingField("Event")));
    }

    #[test]
    fn a_location_event_out_of_range_or_not_finite_names_the_field() {
        let location = |lat: &str, lng: &str, precision: &str| {
            read(&fields(&[
                ("Event", "LOCATION"),
                ("Latitude", lat),
                ("Longitude", lng),
                ("Precision", precision),
            ]))
        };
        let field_of = |result: Result<Event, OaError>| match result {
            Err(OaError::MalformedField { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            location("-90", "180", "0"),
            Ok(Event::Location {
                lat: -90.0,
                lng: 180.0,
                precision: 0.0
            })
        );
        assert_eq!(field_of(location("90.1", "0", "1")), "Latitude");
        assert_eq!(field_of(location("NaN", "0", "1")), "Latitude");
        assert_eq!(field_of(location("0", "-180.5", "1")), "Longitude");
        assert_eq!(field_of(location("0", "inf", "1")), "Longitude");
        assert_eq!(field_of(location("0", "0", "-1")), "Precision");
        assert_eq!(field_of(location("0", "0", "1e400")), "Precision");
    }

    #[test]
    fn an_unknown_event_is_kept_by_name() {
        let view = read(&fields(&[("Event", "VIEW"), ("EventKey", "www.qq.com")]));
        assert_eq!(
            view,
            Ok(Event::Other {
                event: "VIEW".to_owned()
            })
        );
    }
}
