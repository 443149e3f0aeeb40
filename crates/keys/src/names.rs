//! Name validation shared by key names and secret names.

use crate::KeysError;

/// Longest accepted key or secret name.
pub const MAX_NAME_LEN: usize = 128;

/// Checks a key or secret name: 1 to 128 characters of `A-Z a-z 0-9 . _ -`,
/// not starting with `.` (so no `.`, `..`, hidden or temp files) and with no `/`.
///
/// The same rule holds for both backends, so a name that works locally works with Vault.
pub fn validate_name(name: &str) -> Result<(), KeysError> {
    let bad = |why: &str| Err(KeysError::InvalidName(format!("{why}: {name:?}")));
    if name.is_empty() {
        return bad("empty name");
    }
    if name.len() > MAX_NAME_LEN {
        return bad("name longer than 128 bytes");
    }
    if name.starts_with('.') {
        return bad("name starts with '.'");
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return bad("name has characters other than A-Z a-z 0-9 . _ -");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names() {
        for n in ["a", "opaque-seed", "k_1.v2", &"x".repeat(128)] {
            assert!(validate_name(n).is_ok(), "{n}");
        }
    }

    #[test]
    fn rejects_traversal_and_odd_names() {
        for n in [
            "",
            ".",
            "..",
            "../x",
            "a/b",
            "/abs",
            ".hidden",
            "a\\b",
            "a b",
            "é",
            "a\0",
            &"x".repeat(129),
        ] {
            assert!(
                matches!(validate_name(n), Err(KeysError::InvalidName(_))),
                "{n:?}"
            );
        }
    }
}
