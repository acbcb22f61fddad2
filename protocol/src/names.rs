//! Project and function names: they appear in URLs and hostnames, so they are restricted to
//! DNS-label syntax.

use crate::codec::Invalid;

/// Longest project or function name (a DNS label).
pub const MAX_NAME_LEN: usize = 63;

/// Checks that `name` is 1–63 characters of `a-z`, `0-9` and `-`, neither starting nor
/// ending with `-`.
///
/// # Errors
///
/// [`Invalid`] naming `field` and the rule broken.
pub fn check_name(field: &'static str, name: &str) -> Result<(), Invalid> {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return Err(Invalid::new(field, format!("must be 1 to {MAX_NAME_LEN} characters")));
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return Err(Invalid::new(field, "may contain only a-z, 0-9 and '-'"));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(Invalid::new(field, "may not start or end with '-'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_labels_and_refuses_the_rest() {
        for ok in ["a", "hello", "json-transform", "v2", &"x".repeat(63)] {
            check_name("name", ok).unwrap();
        }
        for bad in ["", "Hello", "a_b", "-a", "a-", "a.b", "ü", &"x".repeat(64)] {
            assert!(check_name("name", bad).is_err(), "{bad:?}");
        }
    }
}
