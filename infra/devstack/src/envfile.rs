//! `infra/local/local.env`: `KEY=VALUE` lines, `#` comments, optional double quotes (inside
//! which `\n` is a newline, for PEM keys). A variable already set in the process environment wins
//! over the file, so a tester can bring their own token and keys.

use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{file}:{line}: expected KEY=VALUE")]
pub struct EnvFileError {
    pub file: String,
    pub line: usize,
}

pub fn parse(file: &str, text: &str) -> Result<BTreeMap<String, String>, EnvFileError> {
    let mut vars = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (key, value) = line.split_once('=').ok_or_else(|| EnvFileError {
            file: file.to_owned(),
            line: n + 1,
        })?;
        let key = key.trim();
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(EnvFileError {
                file: file.to_owned(),
                line: n + 1,
            });
        }
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\\n", "\n").replace("\\\"", "\""),
            None => value.to_owned(),
        };
        vars.insert(key.to_owned(), value);
    }
    Ok(vars)
}

/// The file's variables, each replaced by the process environment's value when set there.
pub fn with_process_overrides(vars: BTreeMap<String, String>) -> BTreeMap<String, String> {
    vars.into_iter()
        .map(|(k, v)| {
            let v = std::env::var(&k).unwrap_or(v);
            (k, v)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_comments_quotes_and_errors() {
        let vars = parse(
            "f",
            "# c\n\nA=1\nexport B = two words \nPEM=\"-----BEGIN-----\\nabc\\n\"\n",
        )
        .unwrap();
        assert_eq!(vars["A"], "1");
        assert_eq!(vars["B"], "two words");
        assert_eq!(vars["PEM"], "-----BEGIN-----\nabc\n");
        assert_eq!(
            parse("f", "A=1\nnot a pair\n"),
            Err(EnvFileError {
                file: "f".into(),
                line: 2
            })
        );
        assert!(parse("f", "BAD KEY=1").is_err());
    }
}
