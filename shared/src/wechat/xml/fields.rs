//! The fields [`super::parse_borrowed`] reads, and how they are collected: in document order,
//! names unique, values trimmed, each a slice of the body where it can be.

use super::{Fields, XmlError};
use std::borrow::Cow;
use std::collections::BTreeSet;

/// Up to this many fields, duplicates are found by scanning the list (no allocation); past it,
/// by a set, so a hostile 64 KiB body of tiny fields costs O(n log n), not O(n²).
pub(super) const SCAN_FIELDS_MAX: usize = 32;

/// The fields of a WeChat XML document as [`super::parse_borrowed`] reads them: the same names
/// and trimmed values as [`super::parse`], in document order, names unique. Each is a slice of
/// the body unless it had to be built (a dotted name; a value in several pieces, with a
/// reference or a `\r`). Lookups scan the list: documents hold a few dozen fields, and scanning
/// allocates nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BorrowedFields<'a> {
    fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

impl<'a> BorrowedFields<'a> {
    /// The text of field `name` (dotted below the root's children), if the document has it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_ref())
    }

    /// `(name, text)` in document order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(k, v)| (k.as_ref(), v.as_ref()))
    }

    /// How many fields the document has.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the document has no fields (`<xml></xml>`).
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// The same fields as an owned map (what [`super::parse`] returns).
    pub fn into_owned(self) -> Fields {
        self.fields
            .into_iter()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }
}

/// Read access by name to parsed fields, owned or borrowed, so that a reader of a document
/// (an OA push, say) serves both.
pub trait FieldLookup {
    /// The (trimmed) text of field `name`, if the document has it.
    fn field(&self, name: &str) -> Option<&str>;
}

impl FieldLookup for Fields {
    fn field(&self, name: &str) -> Option<&str> {
        self.get(name).map(String::as_str)
    }
}

impl FieldLookup for BorrowedFields<'_> {
    fn field(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

/// Collects fields, refusing a duplicate name as soon as it appears.
pub(super) struct Collector<'a> {
    fields: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    /// Every name so far, once there are more than `SCAN_FIELDS_MAX`.
    names: Option<BTreeSet<Cow<'a, str>>>,
}

impl<'a> Collector<'a> {
    pub(super) fn new() -> Self {
        Self {
            // An OA push has up to a dozen fields: one allocation, no regrowth.
            fields: Vec::with_capacity(16),
            names: None,
        }
    }

    pub(super) fn insert(
        &mut self,
        key: Cow<'a, str>,
        value: Cow<'a, str>,
    ) -> Result<(), XmlError> {
        let duplicate = match &mut self.names {
            Some(names) => !names.insert(key.clone()),
            None => self.fields.iter().any(|(k, _)| *k == key),
        };
        if duplicate {
            return Err(XmlError::Duplicate(key.chars().take(64).collect()));
        }
        if self.names.is_none() && self.fields.len() >= SCAN_FIELDS_MAX {
            let names = self.fields.iter().map(|(k, _)| k.clone());
            self.names = Some(names.chain([key.clone()]).collect());
        }
        self.fields.push((key, trimmed(value)));
        Ok(())
    }

    pub(super) fn finish(self) -> BorrowedFields<'a> {
        BorrowedFields {
            fields: self.fields,
        }
    }
}

fn trimmed(value: Cow<'_, str>) -> Cow<'_, str> {
    match value {
        Cow::Borrowed(text) => Cow::Borrowed(trim(text)),
        Cow::Owned(text) if trim(&text).len() == text.len() => Cow::Owned(text),
        Cow::Owned(text) => Cow::Owned(trim(&text).to_owned()),
    }
}

/// `str::trim`, answered at once when both ends are visible ASCII (most values).
pub(super) fn trim(text: &str) -> &str {
    let bytes = text.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) if first.is_ascii_graphic() && last.is_ascii_graphic() => text,
        _ => text.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{parse, parse_borrowed};
    use super::*;

    #[test]
    fn borrowed_fields_are_the_owned_ones_and_usual_values_are_slices_of_the_body() {
        let xml = "<xml>\n<ToUserName><![CDATA[gh_1]]></ToUserName>\n\
                   <FromUserName>\n  <![CDATA[o-1]]></FromUserName><CreateTime>1</CreateTime>\
                   <Content><![CDATA[a]]> <![CDATA[b]]>&amp;</Content>\
                   <Info><Kind>x</Kind></Info></xml>";
        let fields = parse_borrowed(xml.as_bytes()).unwrap();
        assert_eq!(fields.clone().into_owned(), parse(xml.as_bytes()).unwrap());
        let names: Vec<&str> = fields.iter().map(|(name, _)| name).collect();
        let expected = [
            "ToUserName",
            "FromUserName",
            "CreateTime",
            "Content",
            "Info.Kind",
        ];
        assert_eq!(names, expected);
        assert_eq!(fields.get("FromUserName"), Some("o-1"));
        assert_eq!(fields.get("Content"), Some("a b&"));
        assert_eq!(fields.get("Info"), None);
        let borrowed = |name: &str| {
            let (_, value) = fields.fields.iter().find(|(key, _)| key == name).unwrap();
            matches!(value, Cow::Borrowed(_))
        };
        assert!(borrowed("ToUserName") && borrowed("FromUserName") && borrowed("CreateTime"));
        assert!(!borrowed("Content"), "built from pieces");
    }

    #[test]
    fn a_duplicate_is_refused_past_the_scanned_fields_too() {
        let many: String = (0..2 * SCAN_FIELDS_MAX)
            .map(|i| format!("<f{i}>{i}</f{i}>"))
            .collect();
        let fields = parse(format!("<xml>{many}</xml>").as_bytes()).unwrap();
        assert_eq!(fields.len(), 2 * SCAN_FIELDS_MAX);
        for dup in ["<f3>x</f3>", "<f50/>", "<f63>y</f63>"] {
            assert_eq!(
                parse(format!("<xml>{many}{dup}</xml>").as_bytes()),
                Err(XmlError::Duplicate(
                    dup[1..dup.find(['>', '/']).unwrap()].to_owned()
                ))
            );
        }
    }
}
