//! Write request units, computed from item sizes (DESIGN §4).
//!
//! DynamoDB Local does not report faithful capacity for transactions, so every write path builds
//! a [`WriteCost`] from the items it writes, by the published rules:
//! - an item's size is the sum of its attribute names and values: strings and binaries by their
//!   bytes, numbers ≈ 1 byte per two significant digits + 1, booleans and nulls 1 byte, lists and
//!   maps 3 bytes + 1 byte per element + their elements (map keys count like attribute names);
//! - a write costs 1 WRU per started KB; an update costs the larger of the item before and after;
//! - a local secondary index entry is the table's keys + the index key + the projected
//!   attributes + 100 bytes, written once when the item first enters the index;
//! - a global secondary index entry is sized the same way; an update writes it only when the
//!   item enters or leaves the index or its index key or projection changes (a moved key costs
//!   a delete and a put), see [`index_entry_writes`];
//! - every item of a transaction costs twice.

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::fmt;

/// The size DynamoDB bills for one item, in bytes.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

/// The size of one attribute value (its name not included).
pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(items) => items.iter().map(String::len).sum(),
        AttributeValue::Ns(items) => items.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(items) => items.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        // A type this SDK does not know yet: count its debug form rather than nothing.
        _ => format!("{value:?}").len(),
    }
}

/// A number's size: one byte per two significant digits, plus one.
fn number_size(text: &str) -> usize {
    let digits: String = text
        .chars()
        .take_while(|c| *c != 'e' && *c != 'E')
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// Write units for an item of `bytes`: one per started KB, at least one.
pub fn write_units(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024).max(1)).unwrap_or(u32::MAX)
}

/// The bytes of a local secondary index entry: the table's keys, the index's sort key and the
/// projected attributes of `item`, plus 100 bytes of overhead.
pub fn lsi_entry_size(
    item: &HashMap<String, AttributeValue>,
    key_names: &[&str],
    projected: &[&str],
) -> usize {
    let attribute = |name: &&str| {
        item.get(*name)
            .map(|value| name.len() + value_size(value))
            .unwrap_or(0)
    };
    key_names.iter().map(attribute).sum::<usize>()
        + projected.iter().map(attribute).sum::<usize>()
        + 100
}

/// The entry writes an update of `before` into `after` causes in a sparse secondary index whose
/// entries carry `table_keys`, `index_keys` and the `projected` attributes: an item is in the
/// index only while it has every index key. Entering writes the new entry, leaving deletes the
/// old one, a changed index key does both, a changed projected attribute rewrites the entry,
/// and anything else writes nothing. Answers the size of each entry written, in order.
pub fn index_entry_writes(
    before: &HashMap<String, AttributeValue>,
    after: &HashMap<String, AttributeValue>,
    table_keys: &[&str],
    index_keys: &[&str],
    projected: &[&str],
) -> Vec<usize> {
    let keys: Vec<&str> = table_keys.iter().chain(index_keys).copied().collect();
    let entry = |item: &HashMap<String, AttributeValue>| {
        index_keys
            .iter()
            .all(|k| item.contains_key(*k))
            .then(|| lsi_entry_size(item, &keys, projected))
    };
    let same = |names: &[&str]| names.iter().all(|n| before.get(*n) == after.get(*n));
    match (entry(before), entry(after)) {
        (None, None) => vec![],
        (None, Some(entered)) => vec![entered],
        (Some(left), None) => vec![left],
        (Some(old), Some(new)) if !same(index_keys) => vec![old, new],
        (Some(_), Some(new)) if !same(projected) => vec![new],
        (Some(_), Some(_)) => vec![],
    }
}

/// One line of a cost: what was written, its size and the units it cost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostLine {
    pub what: &'static str,
    pub bytes: usize,
    pub units: u32,
}

/// What a write cost, line by line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WriteCost {
    pub lines: Vec<CostLine>,
}

impl WriteCost {
    /// A standard (non-transactional) write of `bytes`.
    pub fn add(&mut self, what: &'static str, bytes: usize) -> &mut Self {
        self.lines.push(CostLine {
            what,
            bytes,
            units: write_units(bytes),
        });
        self
    }

    /// A write of `bytes` inside a transaction: twice the units.
    pub fn add_transactional(&mut self, what: &'static str, bytes: usize) -> &mut Self {
        self.lines.push(CostLine {
            what,
            bytes,
            units: write_units(bytes).saturating_mul(2),
        });
        self
    }

    pub fn total(&self) -> u32 {
        self.lines.iter().map(|l| l.units).sum()
    }

    /// The cost of `what` alone (e.g. the profile's share), 0 when absent.
    pub fn units_of(&self, what: &str) -> u32 {
        self.lines
            .iter()
            .filter(|l| l.what == what)
            .map(|l| l.units)
            .sum()
    }
}

impl fmt::Display for WriteCost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} WRU", self.total())?;
        let mut sep = " (";
        for line in &self.lines {
            write!(f, "{sep}{} {} B → {}", line.what, line.bytes, line.units)?;
            sep = ", ";
        }
        if !self.lines.is_empty() {
            f.write_str(")")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.to_owned())
    }

    #[test]
    fn numbers_cost_a_byte_per_two_significant_digits_plus_one() {
        assert_eq!(value_size(&n("0")), 1);
        assert_eq!(value_size(&n("7")), 2);
        assert_eq!(value_size(&n("12")), 2);
        assert_eq!(value_size(&n("123")), 3);
        assert_eq!(
            value_size(&n("-1000")),
            2,
            "sign and trailing zeros are free"
        );
        assert_eq!(
            value_size(&n("1764000000000")),
            2 + 1,
            "only 1764 is significant"
        );
        assert_eq!(value_size(&n("1764000000123")), 7 + 1);
    }

    #[test]
    fn strings_count_utf8_bytes_and_names_count_too() {
        let item = HashMap::from([("pk".to_owned(), s("邻里"))]);
        assert_eq!(item_size(&item), 2 + 6);
    }

    #[test]
    fn maps_and_lists_cost_three_bytes_and_one_per_element() {
        let empty = AttributeValue::M(HashMap::new());
        assert_eq!(value_size(&empty), 3);
        let lots = AttributeValue::M(HashMap::from([
            ("202611".to_owned(), n("50")),
            ("202612".to_owned(), n("5")),
        ]));
        assert_eq!(value_size(&lots), 3 + (1 + 6 + 2) * 2);
        let list = AttributeValue::L(vec![s("ab"), AttributeValue::Bool(true)]);
        assert_eq!(value_size(&list), 3 + (1 + 2) + (1 + 1));
    }

    #[test]
    fn units_round_up_per_started_kilobyte() {
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        let mut cost = WriteCost::default();
        cost.add_transactional("posting", 700)
            .add_transactional("history index", 200)
            .add_transactional("profile", 1025);
        assert_eq!(cost.total(), 2 + 2 + 4);
        assert_eq!(cost.units_of("profile"), 4);
        assert!(cost.to_string().starts_with("8 WRU (posting 700 B → 2"));
    }

    #[test]
    fn a_sparse_index_is_written_only_when_its_entry_changes() {
        let item = |due: Option<&str>, other: &str| {
            let mut item = HashMap::from([
                ("pk".to_owned(), s("MEMBER#01")),
                ("sk".to_owned(), s("PROFILE")),
                ("av".to_owned(), n(other)),
            ]);
            if let Some(due) = due {
                item.insert("shard".to_owned(), s("HOLDS#3"));
                item.insert("due".to_owned(), n(due));
            }
            item
        };
        let writes = |before: &HashMap<_, _>, after: &HashMap<_, _>| {
            index_entry_writes(before, after, &["pk", "sk"], &["shard", "due"], &[])
        };
        let entry = (2 + 9) + (2 + 7) + (5 + 7) + (3 + 2) + 100;
        assert_eq!(
            writes(&item(None, "1"), &item(None, "2")),
            Vec::<usize>::new()
        );
        assert_eq!(writes(&item(None, "1"), &item(Some("7"), "2")), vec![entry]);
        assert_eq!(writes(&item(Some("7"), "1"), &item(None, "2")), vec![entry]);
        assert_eq!(
            writes(&item(Some("7"), "1"), &item(Some("7"), "2")),
            Vec::<usize>::new(),
            "a keys-only entry ignores other attributes"
        );
        assert_eq!(
            writes(&item(Some("7"), "1"), &item(Some("8"), "1")),
            vec![entry, entry],
            "a moved key deletes the old entry and puts the new one"
        );
        let projected = index_entry_writes(
            &item(Some("7"), "1"),
            &item(Some("7"), "2"),
            &["pk", "sk"],
            &["shard", "due"],
            &["av"],
        );
        assert_eq!(projected, vec![entry + 2 + 2]);
    }

    #[test]
    fn an_index_entry_is_keys_projection_and_100_bytes() {
        let item = HashMap::from([
            ("pk".to_owned(), s("MEMBER#01")),
            ("sk".to_owned(), s("POSTING#x")),
            ("posted_at".to_owned(), n("12")),
            ("kind".to_owned(), s("pay")),
            ("body".to_owned(), s("not projected")),
        ]);
        let size = lsi_entry_size(&item, &["pk", "sk", "posted_at"], &["kind", "delta"]);
        assert_eq!(size, (2 + 9) + (2 + 9) + (9 + 2) + (4 + 3) + 100);
    }
}
