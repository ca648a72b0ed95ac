//! WeChat's flat XML (`<xml><Key>value</Key>…</xml>`, values as text or CDATA), read with
//! quick-xml and hardened for hostile input (DESIGN §6): at most 64 KiB, no DOCTYPE, no entities
//! beyond XML's five and character references, no duplicate fields, bounded depth. One level of
//! nesting is kept with dotted names (`ScanCodeInfo.ScanType`). Parsing never panics.

use quick_xml::events::Event;
use quick_xml::Reader;
use std::collections::BTreeMap;

/// The largest body WeChat sends; anything bigger is refused before parsing.
pub const MAX_BODY: usize = 64 * 1024;
const MAX_DEPTH: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    #[error("body larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("body is not UTF-8")]
    NotUtf8,
    #[error("DOCTYPE is not allowed")]
    Doctype,
    #[error("entity &{0}; is not allowed")]
    Entity(String),
    #[error("field {0} appears twice")]
    Duplicate(String),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("malformed XML: {0}")]
    Malformed(String),
}

/// Fields of a WeChat XML document: element name (dotted below the root's children) → text.
pub type Fields = BTreeMap<String, String>;

fn predefined(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        _ => return None,
    })
}

/// Parses `body` into its fields.
pub fn parse(body: &[u8]) -> Result<Fields, XmlError> {
    if body.len() > MAX_BODY {
        return Err(XmlError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    let mut fields = Fields::new();
    let mut path: Vec<String> = Vec::new();
    // Per open element: whether it has child elements (then it is a parent, not a field).
    let mut parents: Vec<bool> = Vec::new();
    let mut value = String::new();
    let mut saw_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(start) => {
                if path.is_empty() {
                    if saw_root {
                        return Err(XmlError::Malformed("more than one root element".into()));
                    }
                    saw_root = true;
                }
                if path.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                if let Some(parent) = parents.last_mut() {
                    *parent = true;
                }
                path.push(start.name().as_ref().to_owned());
                parents.push(false);
                value.clear();
            }
            Event::Empty(empty) => {
                if path.is_empty() {
                    return Err(XmlError::Malformed("empty root element".into()));
                }
                if let Some(parent) = parents.last_mut() {
                    *parent = true;
                }
                let name = empty.name();
                let mut key: Vec<&str> = path.iter().skip(1).map(String::as_str).collect();
                key.push(name.as_ref());
                insert(&mut fields, key.join("."), String::new())?;
            }
            Event::End(_) => {
                let is_parent = parents.pop().unwrap_or(false);
                let name = path.pop().unwrap_or_default();
                // Only leaves carry values; a parent's own (whitespace) text is dropped. Most
                // fields sit right under the root: their name is the key as it is.
                if !path.is_empty() && !is_parent {
                    let key = match path.len() {
                        1 => name,
                        _ => format!("{}.{name}", path[1..].join(".")),
                    };
                    insert(&mut fields, key, std::mem::take(&mut value))?;
                }
                value.clear();
            }
            Event::Text(t) => value.push_str(&t.xml10_content()),
            Event::CData(c) => value.push_str(&c.xml10_content()),
            Event::GeneralRef(r) => {
                if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => value.push(c),
                        _ => return Err(XmlError::Malformed("bad character reference".into())),
                    }
                } else {
                    let name = r.xml10_content().into_owned();
                    match predefined(&name) {
                        Some(c) => value.push(c),
                        None => return Err(XmlError::Entity(name.chars().take(32).collect())),
                    }
                }
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !saw_root || !path.is_empty() {
        return Err(XmlError::Malformed(
            "unclosed or missing root element".into(),
        ));
    }
    Ok(fields)
}

fn insert(fields: &mut Fields, key: String, value: String) -> Result<(), XmlError> {
    if fields.contains_key(&key) {
        return Err(XmlError::Duplicate(key.chars().take(64).collect()));
    }
    fields.insert(key, value.trim().to_owned());
    Ok(())
}

/// Writes `fields` as `<xml><k><![CDATA[v]]></k>…</xml>`; a `]]>` inside a value is split
/// across two CDATA sections so it cannot end the section early.
pub fn write<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = String::from("<xml>");
    for (k, v) in fields {
        push_cdata(&mut out, k, v);
    }
    out.push_str("</xml>");
    out
}

/// Appends `<name><![CDATA[value]]></name>` to `out` (`]]>` split safely), without allocating
/// beyond `out` itself: replies are built on the hot path.
pub fn push_cdata(out: &mut String, name: &str, value: &str) {
    out.push('<');
    out.push_str(name);
    out.push_str("><![CDATA[");
    let mut rest = value;
    while let Some(at) = rest.find("]]>") {
        out.push_str(&rest[..at]);
        out.push_str("]]]]><![CDATA[>");
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out.push_str("]]></");
    out.push_str(name);
    out.push('>');
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn text_and_cdata_fields_are_read() {
        let xml = "<xml><ToUserName><![CDATA[gh_1]]></ToUserName><CreateTime>1348831860</CreateTime>\
                   <Content><![CDATA[签到 & 积分]]></Content><Escaped>a &lt; b &#x4E2D;</Escaped></xml>";
        let f = parse(xml.as_bytes()).unwrap();
        assert_eq!(f["ToUserName"], "gh_1");
        assert_eq!(f["CreateTime"], "1348831860");
        assert_eq!(f["Content"], "签到 & 积分");
        assert_eq!(f["Escaped"], "a < b 中");
    }

    #[test]
    fn one_level_of_nesting_is_kept_with_dotted_names() {
        let xml = "<xml><Event>scancode_push</Event><ScanCodeInfo><ScanType>qrcode</ScanType>\
                   <ScanResult>1</ScanResult></ScanCodeInfo><Empty/></xml>";
        let f = parse(xml.as_bytes()).unwrap();
        assert_eq!(f["ScanCodeInfo.ScanType"], "qrcode");
        assert_eq!(f["Empty"], "");
        assert!(!f.contains_key("ScanCodeInfo"));
    }

    #[test]
    fn hostile_documents_are_refused() {
        let doctype =
            r#"<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x "boom">]><xml><a>&x;</a></xml>"#;
        assert_eq!(parse(doctype.as_bytes()), Err(XmlError::Doctype));
        assert!(matches!(
            parse(b"<xml><a>&x;</a></xml>"),
            Err(XmlError::Entity(_))
        ));
        assert!(matches!(
            parse(b"<xml><a>1</a><a>2</a></xml>"),
            Err(XmlError::Duplicate(_))
        ));
        assert!(matches!(
            parse(b"<xml><a><b><c><d>1</d></c></b></a></xml>"),
            Err(XmlError::TooDeep)
        ));
        assert!(matches!(
            parse(b"<xml><a>1</b></xml>"),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(
            parse(b"<xml><a>1</a>"),
            Err(XmlError::Malformed(_))
        ));
        assert!(matches!(parse(b"not xml"), Err(XmlError::Malformed(_))));
        assert!(matches!(parse(&[0xff, 0xfe]), Err(XmlError::NotUtf8)));
        let big = format!("<xml><a>{}</a></xml>", "x".repeat(MAX_BODY));
        assert_eq!(parse(big.as_bytes()), Err(XmlError::TooLarge));
    }

    #[test]
    fn written_xml_reads_back_even_with_cdata_terminators() {
        let fields = [("return_code", "SUCCESS"), ("return_msg", "a]]>b<c>&")];
        let xml = write(fields);
        let back = parse(xml.as_bytes()).unwrap();
        assert_eq!(back["return_msg"], "a]]>b<c>&");
    }

    proptest! {
        #[test]
        fn the_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn the_parser_never_panics_on_xmlish_text(text in "[<>/!\\[\\]a-z&;#x0-9 CDAT?=\"]{0,200}") {
            let _ = parse(text.as_bytes());
        }
    }
}
