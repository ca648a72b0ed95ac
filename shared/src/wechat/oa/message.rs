//! What a WeChat user sent the Official Account, read from the flat XML fields (plaintext, or
//! the inner XML after `decrypt`): a typed [`Message`] under a common header. Only what Linli
//! acts on is typed; everything else is kept as `Other` with its type, never an error.

use super::event::{self, Event};
use super::OaError;
use crate::ids::OpenId;
use crate::wechat::xml::{self, FieldLookup, Fields};

/// An inbound OA message or event push.
#[derive(Clone, Debug, PartialEq)]
pub struct Inbound {
    /// `ToUserName`: the Official Account's original id (`gh_…`); non-empty.
    pub to_user: String,
    /// `FromUserName`: the sender's OpenID for this Official Account.
    pub from_user: OpenId,
    /// `CreateTime`: when WeChat received it, in seconds since the Unix epoch (WeChat's clock).
    pub create_time: i64,
    /// What was sent.
    pub message: Message,
    dedup_key: String,
}

/// The body of an inbound push, by `MsgType`.
#[derive(Clone, Debug, PartialEq)]
pub enum Message {
    /// `text`: `Content` as typed (trimmed) and WeChat's 64-bit `MsgId`.
    Text { content: String, msg_id: u64 },
    /// `location` (a location the user sent): `Location_X` is the latitude and `Location_Y`
    /// the longitude, in degrees (−90..=90, −180..=180); `label` is `Label`, empty if absent.
    Location {
        lat: f64,
        lng: f64,
        label: String,
        msg_id: u64,
    },
    /// `event`: a push WeChat raises on the user's behalf.
    Event(Event),
    /// Any other `MsgType` (`image`, `voice`, `video`, `link`…), kept for the log.
    Other { msg_type: String },
}

impl Inbound {
    /// Parses an XML body with the hardened reader (64 KiB cap, no DOCTYPE or entities).
    /// Fields are read borrowed from `body`; only what `Inbound` keeps is copied.
    pub fn parse(body: &[u8]) -> Result<Self, OaError> {
        Self::read(&xml::parse_borrowed(body)?)
    }

    /// Reads the fields of a push. Errors name the missing or malformed field, never its value
    /// (an OpenID must not reach the logs raw).
    pub fn from_fields(fields: &Fields) -> Result<Self, OaError> {
        Self::read(fields)
    }

    fn read(fields: &(impl FieldLookup + ?Sized)) -> Result<Self, OaError> {
        let to_user = required(fields, "ToUserName")?.to_owned();
        let from_user = OpenId::parse(required(fields, "FromUserName")?)
            .map_err(|_| malformed("FromUserName", "not an OpenID"))?;
        let create_time = required(fields, "CreateTime")?
            .parse::<i64>()
            .map_err(|_| malformed("CreateTime", "not a whole number of seconds"))?;
        let msg_type = required(fields, "MsgType")?;
        let message = if msg_type.eq_ignore_ascii_case("text") {
            Message::Text {
                content: present(fields, "Content")?.to_owned(),
                msg_id: msg_id(fields)?,
            }
        } else if msg_type.eq_ignore_ascii_case("location") {
            Message::Location {
                lat: degrees(fields, "Location_X", 90.0)?,
                lng: degrees(fields, "Location_Y", 180.0)?,
                label: fields.field("Label").unwrap_or_default().to_owned(),
                msg_id: msg_id(fields)?,
            }
        } else if msg_type.eq_ignore_ascii_case("event") {
            Message::Event(event::read(fields)?)
        } else {
            Message::Other {
                msg_type: msg_type.to_owned(),
            }
        };
        let dedup_key = dedup_key(fields, &from_user, create_time, msg_type);
        Ok(Self {
            to_user,
            from_user,
            create_time,
            message,
            dedup_key,
        })
    }

    /// A key that is the same for WeChat's retries of one push (it retries 3 times when Linli
    /// is slow): the `MsgId` when the push has one, else
    /// `FromUserName#CreateTime#MsgType#Event#EventKey` (absent fields empty). It contains the
    /// OpenID: mask or hash it before logging.
    pub fn dedup_key(&self) -> String {
        self.dedup_key.clone()
    }
}

fn dedup_key(
    fields: &(impl FieldLookup + ?Sized),
    from_user: &OpenId,
    create_time: i64,
    msg_type: &str,
) -> String {
    if let Some(msg_id) = fields.field("MsgId").filter(|id| !id.is_empty()) {
        return msg_id.to_owned();
    }
    let text = |name: &str| fields.field(name).unwrap_or_default();
    [
        from_user.as_str(),
        &create_time.to_string(),
        msg_type,
        text("Event"),
        text("EventKey"),
    ]
    .join("#")
}

fn malformed(field: &'static str, why: &'static str) -> OaError {
    OaError::MalformedField { field, why }
}

/// The field's text; it must be there, possibly empty.
fn present<'a>(
    fields: &'a (impl FieldLookup + ?Sized),
    name: &'static str,
) -> Result<&'a str, OaError> {
    fields.field(name).ok_or(OaError::MissingField(name))
}

/// The field's text; it must be there and non-empty.
pub(super) fn required<'a>(
    fields: &'a (impl FieldLookup + ?Sized),
    name: &'static str,
) -> Result<&'a str, OaError> {
    present(fields, name)
        .ok()
        .filter(|text| !text.is_empty())
        .ok_or(OaError::MissingField(name))
}

fn msg_id(fields: &(impl FieldLookup + ?Sized)) -> Result<u64, OaError> {
    required(fields, "MsgId")?
        .parse()
        .map_err(|_| malformed("MsgId", "not a 64-bit unsigned integer"))
}

/// A finite decimal number of degrees within `-limit..=limit`.
pub(super) fn degrees(
    fields: &(impl FieldLookup + ?Sized),
    name: &'static str,
    limit: f64,
) -> Result<f64, OaError> {
    required(fields, name)?
        .parse::<f64>()
        .ok()
        .filter(|deg| deg.is_finite() && (-limit..=limit).contains(deg))
        .ok_or(malformed(name, "not a number of degrees in range"))
}

/// A finite, non-negative decimal number of metres.
pub(super) fn metres(
    fields: &(impl FieldLookup + ?Sized),
    name: &'static str,
) -> Result<f64, OaError> {
    required(fields, name)?
        .parse::<f64>()
        .ok()
        .filter(|m| m.is_finite() && *m >= 0.0)
        .ok_or(malformed(name, "not a non-negative number of metres"))
}

#[cfg(test)]
mod tests {
    use super::super::tests::cases;
    use super::*;
    use proptest::prelude::*;

    fn parsed(xml: &str) -> Inbound {
        Inbound::parse(xml.as_bytes()).unwrap_or_else(|e| panic!("{e}: {xml}"))
    }

    fn scene(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn every_sample_message_parses_to_its_kind() {
        let cases = cases("oa_sample_messages");
        assert_eq!(cases.len(), 8);
        for case in &cases {
            let id = case["id"].as_str().unwrap();
            let inbound = parsed(case["xml"].as_str().unwrap());
            assert_eq!(inbound.to_user, "toUser", "{id}");
            assert!(
                inbound.from_user.as_str().eq_ignore_ascii_case("FromUser"),
                "{id}"
            );
            let expected = match case["kind"].as_str().unwrap() {
                "event/subscribe" => Message::Event(Event::Subscribe { scene: None }),
                "event/unsubscribe" => Message::Event(Event::Unsubscribe),
                "event/subscribe+qrscene" => Message::Event(Event::Subscribe {
                    scene: scene("123123"),
                }),
                "event/SCAN" => Message::Event(Event::Scan {
                    scene: "SCENE_VALUE".into(),
                }),
                "event/LOCATION" => Message::Event(Event::Location {
                    lat: 23.137466,
                    lng: 113.352425,
                    precision: 119.38504,
                }),
                "event/CLICK" => Message::Event(Event::Click {
                    key: "EVENTKEY".into(),
                }),
                "event/VIEW" => Message::Event(Event::Other {
                    event: "VIEW".into(),
                }),
                "text" => Message::Text {
                    content: "this is a test".into(),
                    msg_id: 1234567890123456,
                },
                other => panic!("{id}: unknown kind {other}"),
            };
            assert_eq!(inbound.message, expected, "{id}");
            let create_time = if id == "msg_text" {
                1348831860
            } else {
                123456789
            };
            assert_eq!(inbound.create_time, create_time, "{id}");
        }
    }

    #[test]
    fn a_location_message_reads_x_as_latitude_and_y_as_longitude() {
        let inbound = parsed(
            "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><FromUserName><![CDATA[o-abc]]>\
             </FromUserName><CreateTime>1351776360</CreateTime><MsgType><![CDATA[location]]>\
             </MsgType><Location_X>23.134521</Location_X><Location_Y>113.358803</Location_Y>\
             <Scale>20</Scale><Label><![CDATA[位置信息]]></Label><MsgId>1234567890123456</MsgId></xml>",
        );
        let expected = Message::Location {
            lat: 23.134521,
            lng: 113.358803,
            label: "位置信息".into(),
            msg_id: 1234567890123456,
        };
        assert_eq!(inbound.message, expected);
        assert_eq!(inbound.dedup_key(), "1234567890123456");
    }

    #[test]
    fn an_event_without_msg_id_dedups_on_sender_time_and_event() {
        let case = &cases("oa_sample_messages")[2];
        let inbound = parsed(case["xml"].as_str().unwrap());
        assert_eq!(
            inbound.dedup_key(),
            "FromUser#123456789#event#subscribe#qrscene_123123"
        );
        let plain = parsed(cases("oa_sample_messages")[0]["xml"].as_str().unwrap());
        assert_eq!(plain.dedup_key(), "FromUser#123456789#event#subscribe#");
    }

    #[test]
    fn a_missing_or_malformed_header_names_the_field() {
        let with = |extra: &str| {
            format!("<xml><ToUserName>gh</ToUserName><FromUserName>o-1</FromUserName>{extra}</xml>")
        };
        let err = |xml: String| Inbound::parse(xml.as_bytes()).unwrap_err();
        assert_eq!(err(with("")), OaError::MissingField("CreateTime"));
        assert_eq!(
            err(with("<CreateTime>12x</CreateTime><MsgType>text</MsgType>")),
            OaError::MalformedField {
                field: "CreateTime",
                why: "not a whole number of seconds"
            }
        );
        assert_eq!(
            err(with("<CreateTime>1</CreateTime>")),
            OaError::MissingField("MsgType")
        );
        assert_eq!(
            err(with("<CreateTime>1</CreateTime><MsgType>text</MsgType>")),
            OaError::MissingField("Content")
        );
        assert_eq!(
            err(with(
                "<CreateTime>1</CreateTime><MsgType>text</MsgType><Content>x</Content>"
            )),
            OaError::MissingField("MsgId")
        );
        assert!(matches!(
            err(with(
                "<CreateTime>1</CreateTime><MsgType>event</MsgType><Event>LOCATION</Event>\
                 <Latitude>91</Latitude><Longitude>1</Longitude><Precision>1</Precision>"
            )),
            OaError::MalformedField {
                field: "Latitude",
                ..
            }
        ));
        assert!(matches!(
            err(with(
                "<CreateTime>1</CreateTime><MsgType>event</MsgType><Event>CLICK</Event>"
            )),
            OaError::MissingField("EventKey")
        ));
        let bad_openid = "<xml><ToUserName>gh</ToUserName><FromUserName>o 1#</FromUserName>\
                          <CreateTime>1</CreateTime><MsgType>text</MsgType></xml>";
        let message = Inbound::parse(bad_openid.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("FromUserName") && !message.contains("o 1#"),
            "{message}"
        );
    }

    #[test]
    fn an_unknown_message_type_is_kept_not_refused() {
        let inbound = parsed(
            "<xml><ToUserName>gh</ToUserName><FromUserName>o-1</FromUserName>\
             <CreateTime>1</CreateTime><MsgType>image</MsgType><MsgId>42</MsgId></xml>",
        );
        assert_eq!(
            inbound.message,
            Message::Other {
                msg_type: "image".into()
            }
        );
        assert_eq!(inbound.dedup_key(), "42");
    }

    fn field_name() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "ToUserName",
                "FromUserName",
                "CreateTime",
                "MsgType",
                "Content",
                "MsgId",
                "Location_X",
                "Location_Y",
                "Label",
                "Event",
                "EventKey",
                "Latitude",
                "Longitude",
                "Precision",
            ])
            .prop_map(str::to_owned),
            "[A-Za-z_]{1,12}",
        ]
    }

    fn field_value() -> impl Strategy<Value = String> {
        prop_oneof![
            prop::sample::select(vec![
                "text",
                "location",
                "event",
                "subscribe",
                "SCAN",
                "CLICK",
                "LOCATION",
                "unsubscribe",
                "qrscene_",
                "qrscene_1",
                "NaN",
                "inf",
                "-0",
                "1e400",
                "18446744073709551616",
                "-9223372036854775809",
                "o-1",
                "",
            ])
            .prop_map(str::to_owned),
            "-?[0-9]{0,20}(\\.[0-9]{0,8})?",
            ".{0,24}",
        ]
    }

    proptest! {
        #[test]
        fn parsing_never_panics_on_any_fields(
            fields in prop::collection::btree_map(field_name(), field_value(), 0..16),
        ) {
            if let Ok(inbound) = Inbound::from_fields(&fields) {
                prop_assert!(!inbound.dedup_key().is_empty());
            }
        }
    }
}
