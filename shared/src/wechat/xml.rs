//! WeChat's flat XML (`<xml><Key>value</Key>…</xml>`, values as text or CDATA), read with
//! quick-xml and hardened for hostile input (DESIGN §6): at most 64 KiB, no DOCTYPE, no entities
//! beyond XML's five and character references, no duplicate fields, bounded depth. One level of
//! nesting is kept with dotted names (`ScanCodeInfo.ScanType`). Parsing never panics.
//!
//! [`parse_borrowed`] is the reader; [`parse`] copies its answer into an owned map. Hot paths
//! (every OA push) read borrowed fields: most names and values are slices of the body.

mod fields;

pub use fields::{BorrowedFields, FieldLookup};

use fields::{trim, Collector};
use quick_xml::events::{BytesRef, Event};
use quick_xml::Reader;
use std::borrow::Cow;
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

/// Appends a piece of an element's text. While the text so far is only whitespace it is
/// replaced, not extended: values are trimmed, and this keeps the usual `<![CDATA[…]]>`
/// after a newline a slice of the body.
fn append<'a>(value: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if trim(value).is_empty() {
        *value = piece;
    } else if !piece.is_empty() {
        value.to_mut().push_str(&piece);
    }
}

/// `part` as a slice of `text` when it lies inside it, else a copy. quick-xml's borrowed
/// reader hands out slices of its input but ties element names to the event's lifetime.
fn within<'a>(text: &'a str, part: &str) -> Cow<'a, str> {
    let start = part.as_ptr().addr().wrapping_sub(text.as_ptr().addr());
    match text.get(start..start.saturating_add(part.len())) {
        Some(slice) if slice == part => Cow::Borrowed(slice),
        _ => Cow::Owned(part.to_owned()),
    }
}

/// The field name of `name` inside the open elements `open` (root first): the name itself
/// right under the root, else dotted with its ancestors below the root.
fn key<'a>(open: &[(Cow<'a, str>, bool)], name: Cow<'a, str>) -> Cow<'a, str> {
    match open.get(1..) {
        Some(ancestors) if !ancestors.is_empty() => {
            let mut key = String::new();
            for (ancestor, _) in ancestors {
                key.push_str(ancestor);
                key.push('.');
            }
            key.push_str(&name);
            Cow::Owned(key)
        }
        _ => name,
    }
}

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

/// A character reference, or one of XML's five predefined entities; anything else is refused.
fn resolve(reference: &BytesRef<'_>) -> Result<char, XmlError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) => Ok(c),
            _ => Err(XmlError::Malformed("bad character reference".into())),
        };
    }
    let name = reference.xml10_content();
    predefined(&name).ok_or_else(|| XmlError::Entity(name.chars().take(32).collect()))
}

/// Parses `body` into its fields.
pub fn parse(body: &[u8]) -> Result<Fields, XmlError> {
    Ok(parse_borrowed(body)?.into_owned())
}

/// Parses `body` into its fields, borrowing from it: the same fields and errors as [`parse`],
/// without copying each name and value.
pub fn parse_borrowed(body: &[u8]) -> Result<BorrowedFields<'_>, XmlError> {
    if body.len() > MAX_BODY {
        return Err(XmlError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| XmlError::NotUtf8)?;
    let mut reader = Reader::from_str(text);
    let mut fields = Collector::new();
    // Open elements, root first, each with whether it has child elements (then it is a parent,
    // not a field).
    let mut open: Vec<(Cow<'_, str>, bool)> = Vec::with_capacity(MAX_DEPTH);
    let mut value = Cow::Borrowed("");
    let mut saw_root = false;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        match event {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(start) => {
                if open.is_empty() {
                    if saw_root {
                        return Err(XmlError::Malformed("more than one root element".into()));
                    }
                    saw_root = true;
                }
                if open.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                if let Some((_, is_parent)) = open.last_mut() {
                    *is_parent = true;
                }
                open.push((within(text, start.name().as_ref()), false));
                value = Cow::Borrowed("");
            }
            Event::Empty(empty) => {
                if open.is_empty() {
                    return Err(XmlError::Malformed("empty root element".into()));
                }
                if let Some((_, is_parent)) = open.last_mut() {
                    *is_parent = true;
                }
                let name = within(text, empty.name().as_ref());
                fields.insert(key(&open, name), Cow::Borrowed(""))?;
            }
            Event::End(_) => {
                // Only leaves carry values; a parent's own (whitespace) text is dropped.
                if let Some((name, is_parent)) = open.pop() {
                    if !open.is_empty() && !is_parent {
                        let text = std::mem::replace(&mut value, Cow::Borrowed(""));
                        fields.insert(key(&open, name), text)?;
                    }
                }
                value = Cow::Borrowed("");
            }
            Event::Text(t) => append(&mut value, t.xml10_content()),
            Event::CData(c) => append(&mut value, c.xml10_content()),
            Event::GeneralRef(r) => value.to_mut().push(resolve(&r)?),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => break,
        }
    }
    if !saw_root || !open.is_empty() {
        return Err(XmlError::Malformed(
            "unclosed or missing root element".into(),
        ));
    }
    Ok(fields.finish())
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
    while let Some(at) = cdata_end(rest) {
        out.push_str(&rest[..at]);
        out.push_str("]]]]><![CDATA[>");
        rest = &rest[at + 3..];
    }
    out.push_str(rest);
    out.push_str("]]></");
    out.push_str(name);
    out.push('>');
}

/// Where the first `]]>` in `text` starts. Looks for `]` (a plain byte search) rather than
/// `str::find("]]>")`, whose searcher costs more to set up than most values cost to scan.
fn cdata_end(text: &str) -> Option<usize> {
    let mut from = 0;
    loop {
        let at = from + text.get(from..)?.find(']')?;
        if text.get(at..)?.starts_with("]]>") {
            return Some(at);
        }
        // `]` is one byte, so the next byte starts a character.
        from = at + 1;
    }
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
        fn any_written_value_reads_back(value in "[\\]>a<&]{0,24}") {
            let xml = write([("v", value.as_str())]);
            let back = parse(xml.as_bytes()).unwrap();
            prop_assert_eq!(back["v"].as_str(), value.trim());
        }

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
