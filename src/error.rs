//! The ways the step can fail, each with the exit code the contract gives it and a message that
//! tells the user what to check next.

use std::time::Duration;

/// Why the step stopped early.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input is missing or malformed. Found before any network request; exit code 2.
    #[error("{0}")]
    Input(String),
    /// The wait ran out of time and `VMSS.Timeout.ErrorHandle` is `Error`.
    #[error("{0}")]
    Timeout(String),
    /// Azure AD or Azure Resource Manager refused or failed.
    #[error("{0}")]
    Azure(String),
    /// The Octopus Server refused or failed.
    #[error("{0}")]
    Octopus(String),
}

impl Error {
    /// The process exit code for this failure (`2` for bad input, `1` otherwise).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            _ => 1,
        }
    }
}

/// Whether a failed call may succeed if tried again, and how long the server asked us to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// Trying again will not help (bad credentials, not found, forbidden, bad response).
    Never,
    /// A throttle, a server error or a network fault: try again, after `Retry-After` if given.
    After(Option<Duration>),
}

impl Retry {
    /// True for throttles, server errors and network faults.
    pub fn is_transient(self) -> bool {
        matches!(self, Retry::After(_))
    }

    /// The delay the server asked for, if any.
    pub fn retry_after(self) -> Option<Duration> {
        match self {
            Retry::After(d) => d,
            Retry::Never => None,
        }
    }
}

/// A failed call to Azure or Octopus, described for the user, and whether trying again may help.
#[derive(Debug, Clone)]
pub struct Failure {
    /// One sentence saying what failed and what to check.
    pub message: String,
    /// Whether to try again, and when.
    pub retry: Retry,
}

/// Parses a `Retry-After` header given in seconds (the form ARM and Octopus use).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(Error::Input("x".into()).exit_code(), 2);
        assert_eq!(Error::Timeout("x".into()).exit_code(), 1);
        assert_eq!(Error::Azure("x".into()).exit_code(), 1);
        assert_eq!(Error::Octopus("x".into()).exit_code(), 1);
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("17"), Some(Duration::from_secs(17)));
        assert_eq!(parse_retry_after(" 1200 "), Some(Duration::from_secs(1200)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }
}
