//! Secrets that cannot leak by accident.
//!
//! Two layers: [`Secret`] wraps a value so `Debug`/`Display` print `(redacted)`, and
//! [`Redactor`] scrubs every line the step prints, in case a secret reaches text some other way
//! (an SDK error message quoting a request, say).

use std::borrow::Cow;
use std::fmt;

/// What a secret looks like in any output.
pub const REDACTED: &str = "(redacted)";

/// A secret string (API key, client secret, federated token). Only [`Secret::expose`] shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself: call this only where it goes onto the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// True when no value was given (after trimming).
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

/// Replaces every known secret in a text with `(redacted)`.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// Learns a secret. Very short values are ignored: scrubbing "a" would mangle every line,
    /// and a one-character secret is not worth hiding from the one who typed it.
    pub fn add(&mut self, secret: &Secret) {
        let value = secret.expose().trim();
        if value.len() >= 4 && !self.secrets.iter().any(|s| s == value) {
            self.secrets.push(value.to_string());
            // Longest first, so a secret that contains another is replaced whole.
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// True when every secret is written the same inside a JSON string as outside it (no
    /// quote, backslash or control character): a secret absent from a JSON text is then absent
    /// from every string in it.
    pub fn json_safe(&self) -> bool {
        self.secrets
            .iter()
            .all(|s| !s.chars().any(|c| c == '"' || c == '\\' || c.is_control()))
    }

    /// The text with every known secret replaced.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = Cow::Owned(out.replace(secret.as_str(), REDACTED));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("API-TOPSECRET");
        assert_eq!(format!("{s:?} {s}"), "(redacted) (redacted)");
        assert_eq!(s.expose(), "API-TOPSECRET");
    }

    #[test]
    fn redactor_scrubs_every_occurrence_longest_first() {
        let mut r = Redactor::default();
        r.add(&Secret::new("abcd"));
        r.add(&Secret::new("abcdefgh"));
        r.add(&Secret::new("x"));
        assert_eq!(
            r.scrub("k=abcdefgh and abcd, x"),
            "k=(redacted) and (redacted), x"
        );
        assert!(matches!(r.scrub("nothing here"), Cow::Borrowed(_)));
    }
}
