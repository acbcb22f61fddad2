//! USDC amounts as people write them (`"12.5"`, `"$0.01"`) and as the token counts them
//! (6 decimals: `12_500_000`).

/// Token units per USDC.
pub const UNIT: u64 = 1_000_000;

/// Why a text is not a USDC amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a USDC amount: {reason}")]
pub struct AmountError {
    text: String,
    reason: &'static str,
}

/// `"12.5"` or `"$12.5"` → `12_500_000` token units. Zero is allowed (a free function).
///
/// # Errors
///
/// Not decimal digits with at most one point and 6 decimals, or beyond `u64`.
pub fn parse(text: &str) -> Result<u64, AmountError> {
    let error = |reason| AmountError { text: text.to_owned(), reason };
    let digits = text.trim().strip_prefix('$').unwrap_or(text.trim());
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error("expected digits, e.g. \"0.01\""));
    }
    if fraction.len() > 6 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return Err(error("USDC has 6 decimals"));
    }
    format!("{whole}{fraction:0<6}").parse().map_err(|_| error("too large"))
}

/// `12_500_000` → `"12.500000"`.
pub fn format(units: u128) -> String {
    let unit = u128::from(UNIT);
    format!("{}.{:06}", units / unit, units % unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_have_six_decimals() {
        assert_eq!(parse("50"), Ok(50_000_000));
        assert_eq!(parse("12.5"), Ok(12_500_000));
        assert_eq!(parse("$0.01"), Ok(10_000));
        assert_eq!(parse("0.000001"), Ok(1));
        assert_eq!(parse("0"), Ok(0));
        for bad in ["", "-1", "1.0000001", "abc", "1e6", ".5", "99999999999999999999"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format(12_500_000), "12.500000");
    }
}
