//! Money as an operator types it. A bare integer is refused: "12" could be yuan or fen, and a
//! refund a hundred times too large (or small) is not a typo to guess about.

use crate::AdminError;
use linli::money::Fen;

/// A refund amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Amount {
    /// Everything still refundable.
    All,
    Fen(Fen),
}

const HOW: &str = "write yuan with a decimal point (12.50) or a unit (12yuan, 12元, ¥12, \
1250fen, 1250分), or `all`";

pub fn parse_amount(text: &str) -> Result<Amount, AdminError> {
    let text = text.trim();
    let bad = || AdminError::Usage(format!("{text:?} is not an amount: {HOW}"));
    if text.eq_ignore_ascii_case("all") {
        return Ok(Amount::All);
    }
    let fen = if let Some(n) = text.strip_suffix("fen").or_else(|| text.strip_suffix('分')) {
        whole(n.trim()).ok_or_else(bad)?
    } else if let Some(n) = text
        .strip_suffix("yuan")
        .or_else(|| text.strip_suffix('元'))
        .or_else(|| text.strip_prefix('¥'))
        .or_else(|| text.strip_prefix('￥'))
    {
        yuan(n.trim()).ok_or_else(bad)?
    } else if text.contains('.') {
        yuan(text).ok_or_else(bad)?
    } else {
        return Err(AdminError::Usage(format!(
            "{text:?} has no unit: is it yuan or fen? {HOW}"
        )));
    };
    if fen <= 0 {
        return Err(AdminError::Usage(format!(
            "{text:?}: a refund must be more than 0"
        )));
    }
    Ok(Amount::Fen(Fen::new(fen)))
}

fn whole(digits: &str) -> Option<i64> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `12`, `12.5`, `12.50` yuan in fen; at most two decimals.
fn yuan(text: &str) -> Option<i64> {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let int = whole(int)?;
    let frac = match frac.len() {
        0 if !text.ends_with('.') => 0,
        1 => whole(frac)? * 10,
        2 => whole(frac)?,
        _ => return None,
    };
    int.checked_mul(100)?.checked_add(frac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fen(text: &str) -> i64 {
        match parse_amount(text).unwrap() {
            Amount::Fen(f) => f.value(),
            Amount::All => -1,
        }
    }

    #[test]
    fn yuan_and_fen_are_exact() {
        assert_eq!(fen("12.50"), 1250);
        assert_eq!(fen("12.5"), 1250);
        assert_eq!(fen("0.01"), 1);
        assert_eq!(fen("12yuan"), 1200);
        assert_eq!(fen("¥3.2"), 320);
        assert_eq!(fen("8元"), 800);
        assert_eq!(fen("1250fen"), 1250);
        assert_eq!(fen("7分"), 7);
        assert_eq!(parse_amount("ALL").unwrap(), Amount::All);
    }

    #[test]
    fn ambiguous_or_malformed_amounts_are_usage_errors() {
        for text in [
            "12", "12.", "1.234", "-1.00", "0.00", "12.5fen", "x", "", "1e3yuan",
        ] {
            assert!(
                matches!(parse_amount(text), Err(AdminError::Usage(_))),
                "{text}"
            );
        }
        assert!(parse_amount("99999999999999999999.00").is_err());
    }
}
