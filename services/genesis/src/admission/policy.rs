//! Which actions genesis admits, and how much work each costs.

use std::collections::BTreeMap;

use pow::{Action, Difficulty};

/// Actions and their base difficulty, parsed from `signup:18,login:16,...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionPolicy(BTreeMap<String, Difficulty>);

/// Why an action list was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ActionPolicyError {
    /// An entry is not `name:bits`.
    #[error("expected name:bits, got {0:?}")]
    Malformed(String),
    /// A name is not a valid action.
    #[error("invalid action name {0:?}")]
    BadName(String),
    /// A difficulty is out of range.
    #[error("difficulty of {0:?} must be {min}..={max}", min = Difficulty::MIN, max = Difficulty::MAX)]
    BadDifficulty(String),
    /// The list is empty.
    #[error("at least one action is required")]
    Empty,
}

impl ActionPolicy {
    /// Parses `name:bits` pairs separated by commas.
    pub fn parse(spec: &str) -> Result<Self, ActionPolicyError> {
        let mut map = BTreeMap::new();
        for entry in spec.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, bits) = entry
                .rsplit_once(':')
                .ok_or_else(|| ActionPolicyError::Malformed(entry.to_owned()))?;
            let name = name.trim();
            Action::new(name).map_err(|_| ActionPolicyError::BadName(name.to_owned()))?;
            let difficulty = bits
                .trim()
                .parse::<u8>()
                .ok()
                .and_then(|b| Difficulty::new(b).ok())
                .ok_or_else(|| ActionPolicyError::BadDifficulty(name.to_owned()))?;
            map.insert(name.to_owned(), difficulty);
        }
        if map.is_empty() {
            return Err(ActionPolicyError::Empty);
        }
        Ok(Self(map))
    }

    /// The base difficulty of `action`, or `None` when genesis does not admit it.
    pub fn difficulty(&self, action: &str) -> Option<Difficulty> {
        self.0.get(action).copied()
    }

    /// The admitted action names.
    pub fn actions(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_and_bits() {
        let p = ActionPolicy::parse(" signup:18, login:16 ,verify_email:1").unwrap();
        assert_eq!(p.difficulty("signup").unwrap().get(), 18);
        assert_eq!(p.difficulty("verify_email").unwrap().get(), 1);
        assert!(p.difficulty("admin").is_none());
        assert_eq!(
            p.actions().collect::<Vec<_>>(),
            ["login", "signup", "verify_email"]
        );
    }

    #[test]
    fn refuses_bad_entries() {
        assert_eq!(ActionPolicy::parse(""), Err(ActionPolicyError::Empty));
        assert!(matches!(
            ActionPolicy::parse("signup"),
            Err(ActionPolicyError::Malformed(_))
        ));
        assert!(matches!(
            ActionPolicy::parse("signup:0"),
            Err(ActionPolicyError::BadDifficulty(_))
        ));
        assert!(matches!(
            ActionPolicy::parse("signup:33"),
            Err(ActionPolicyError::BadDifficulty(_))
        ));
        assert!(ActionPolicy::parse("signup:32").is_ok());
        assert!(matches!(
            ActionPolicy::parse("sign up:3"),
            Err(ActionPolicyError::BadName(_))
        ));
    }
}
