//! Validated input values. Parse once at the edge; past it, a value of these types is known to
//! be well-formed.

use crate::error::{ApiError, ApiResult};

/// A lower-cased e-mail address (case-insensitive look-ups on every backend).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> ApiResult<Self> {
        let email = raw.trim().to_lowercase();
        let valid = email.len() <= 254
            && !email.chars().any(char::is_whitespace)
            && matches!(email.split_once('@'), Some((local, domain))
                if !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !domain.starts_with('.') && !domain.ends_with('.'));
        if valid { Ok(Self(email)) } else { Err(ApiError::bad_input(format!("`{raw}` is not an e-mail address"))) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password good enough to keep children's data behind.
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;

    pub fn parse(raw: String) -> ApiResult<Self> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(ApiError::bad_input(format!("a password needs at least {} characters", Self::MIN_CHARS)));
        }
        if chars > 1024 {
            return Err(ApiError::bad_input("a password may have at most 1024 characters"));
        }
        Ok(Self(raw))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A non-empty, trimmed, single-line text of bounded length (names, titles).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label(String);

impl Label {
    pub fn parse(what: &str, raw: &str, max_chars: usize) -> ApiResult<Self> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(ApiError::bad_input(format!("{what} must not be empty")));
        }
        if text.chars().count() > max_chars {
            return Err(ApiError::bad_input(format!("{what} may have at most {max_chars} characters")));
        }
        if text.chars().any(char::is_control) {
            return Err(ApiError::bad_input(format!("{what} must be a single line of text")));
        }
        Ok(Self(text.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// Free text such as notes: bounded, may be empty (stored as absent).
pub fn notes(raw: Option<String>) -> ApiResult<Option<String>> {
    const MAX_CHARS: usize = 20_000;
    match raw.map(|text| text.trim().to_owned()) {
        Some(text) if text.chars().count() > MAX_CHARS => {
            Err(ApiError::bad_input(format!("notes may have at most {MAX_CHARS} characters")))
        }
        Some(text) if text.is_empty() => Ok(None),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" Ann@Example.ORG ").unwrap().as_str(), "ann@example.org");
        for bad in ["", "ann", "@x.org", "ann@", "a b@x.org", "a@b@c", "ann@.org"] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn passwords_and_labels() {
        assert!(Password::parse("short".into()).is_err());
        assert!(Password::parse("long enough pass".into()).is_ok());
        assert!(Label::parse("name", "   ", 10).is_err());
        assert!(Label::parse("name", "abcdefghijk", 10).is_err());
        assert!(Label::parse("name", "two\nlines", 100).is_err());
        assert_eq!(Label::parse("name", "  Mia ", 10).unwrap().into_inner(), "Mia");
        assert_eq!(notes(Some("  ".into())).unwrap(), None);
    }
}
