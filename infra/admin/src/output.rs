//! What a command answers: readable text (aligned tables) for people, JSON for scripts, and
//! whether it found a problem (exit code 1).

use serde_json::Value;

pub struct Outcome {
    pub text: String,
    pub json: Value,
    /// A problem was found: the command exits 1.
    pub problem: bool,
}

/// A plain-text table: a header row and aligned columns (numbers right-aligned).
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) -> &mut Self {
        self.rows.push(cells);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table, indented by two spaces, one line per row.
    pub fn render(&self) -> String {
        let width = |column: usize| {
            self.rows
                .iter()
                .filter_map(|r| r.get(column))
                .map(|c| c.chars().count())
                .chain(self.headers.get(column).map(|h| h.chars().count()))
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..self.headers.len()).map(width).collect();
        let numeric = |column: usize| {
            !self.rows.is_empty()
                && self.rows.iter().all(|r| {
                    r.get(column)
                        .is_some_and(|c| c.parse::<i64>().is_ok() || c.starts_with('¥'))
                })
        };
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .enumerate()
                .map(|(i, cell)| {
                    let w = widths.get(i).copied().unwrap_or(0);
                    if numeric(i) {
                        format!("{cell:>w$}")
                    } else {
                        format!("{cell:<w$}")
                    }
                })
                .collect();
            format!("  {}\n", padded.join("  ").trim_end())
        };
        // A table of facts (label, value) has no header row.
        let mut text = if self.headers.iter().all(|h| h.is_empty()) {
            String::new()
        } else {
            line(self.headers.clone())
        };
        for row in &self.rows {
            text.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        text
    }
}

/// Fen as yuan for people: `¥12.50`, `-¥0.05`.
pub fn yuan(fen: i128) -> String {
    let sign = if fen < 0 { "-" } else { "" };
    let abs = fen.unsigned_abs();
    format!("{sign}¥{}.{:02}", abs / 100, abs % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_is_exact() {
        assert_eq!(yuan(1250), "¥12.50");
        assert_eq!(yuan(5), "¥0.05");
        assert_eq!(yuan(-105), "-¥1.05");
        assert_eq!(yuan(0), "¥0.00");
    }

    #[test]
    fn columns_align_and_numbers_go_right() {
        let mut table = Table::new(&["account", "points"]);
        table.row(vec!["issuance:pay".into(), "-100".into()]);
        table.row(vec!["breakage".into(), "5".into()]);
        let text = table.render();
        assert_eq!(
            text,
            "  account       points\n  issuance:pay    -100\n  breakage           5\n"
        );
    }
}
