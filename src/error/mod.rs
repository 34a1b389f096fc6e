//! The ways the step can fail, each with the exit code the contract gives it and a message that
//! tells the user what to check next.

use std::time::Duration;

pub mod azure;
pub mod octopus;

/// Why the step stopped early. A side's failure keeps its kind (and `Retry-After`) up to here,
/// its message already the sentence for `resultMessage`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input is missing or malformed. Found before any network request; exit code 2.
    #[error("{0}")]
    Input(String),
    /// The wait ran out of time and `VMSS.Timeout.ErrorHandle` is `Error`: the sentence, and
    /// the throttle that held the wait to its deadline, when one did.
    #[error("{sentence}")]
    Timeout {
        /// What was still changing, or who throttled, and what to change.
        sentence: String,
        /// A server's `Retry-After` that reached past the deadline, with its kind.
        throttled: Option<Failure>,
    },
    /// Azure AD or Azure Resource Manager refused or failed.
    #[error("{}", .0.message)]
    Azure(Failure),
    /// The Octopus Server refused or failed.
    #[error("{}", .0.message)]
    Octopus(Failure),
}

impl Error {
    /// The process exit code for this failure (`2` for bad input, `1` otherwise).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => 2,
            _ => 1,
        }
    }

    /// The failed call behind the error, with its kind, when a call failed.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            Error::Azure(f) | Error::Octopus(f) => Some(f),
            Error::Timeout { throttled, .. } => throttled.as_ref(),
            Error::Input(_) => None,
        }
    }
}

/// What went wrong with a call to Azure or Octopus. The kind alone decides whether another
/// try may help ([`FailureKind::is_transient`]), in this one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// 429: the server asks us to slow down.
    Throttled,
    /// 5xx: the server failed this time.
    ServerError,
    /// 408, or no answer in time.
    Timeout,
    /// The connection broke (reset, closed early).
    ConnectionLost,
    /// Nothing listens there. Transient once (a server restarting); the callers give up after
    /// [`REFUSALS_TO_GIVE_UP`] in a row.
    ConnectionRefused,
    /// The host name does not resolve.
    Dns,
    /// TLS failed: an untrusted certificate, a handshake error.
    Tls,
    /// 401: the credential was refused.
    Unauthorized,
    /// 403: the credential may not do this.
    Forbidden,
    /// 404: the thing (or the server's path) is not there.
    NotFound,
    /// Anything else trying again will not change: a 400, an answer that cannot be read, a
    /// link that cannot be followed.
    Permanent,
}

/// Connection refused this many times running is a wrong address, not a restart.
pub const REFUSALS_TO_GIVE_UP: u32 = 3;

impl FailureKind {
    /// True for throttles, server errors, timeouts and broken or refused connections.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            FailureKind::Throttled
                | FailureKind::ServerError
                | FailureKind::Timeout
                | FailureKind::ConnectionLost
                | FailureKind::ConnectionRefused
        )
    }

    /// The kind of an HTTP error status.
    pub fn from_status(status: u16) -> FailureKind {
        match status {
            401 => FailureKind::Unauthorized,
            403 => FailureKind::Forbidden,
            404 => FailureKind::NotFound,
            408 => FailureKind::Timeout,
            429 => FailureKind::Throttled,
            500..=599 => FailureKind::ServerError,
            _ => FailureKind::Permanent,
        }
    }
}

/// A failed call to Azure or Octopus, described for the user, typed for the retry decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One sentence saying what failed and what to check.
    pub message: String,
    /// What went wrong.
    pub kind: FailureKind,
    /// The server's `Retry-After`, if it sent one.
    pub retry_after: Option<Duration>,
    /// The side's own typed account of the failure (e.g. `azure::AzureRefusal`,
    /// `octopus::OctopusRefusal`), when it gave one: its code and names, which the sentence
    /// alone would lose. Read it with [`Failure::cause`].
    pub cause: Option<Cause>,
}

/// A side's typed failure, carried on a [`Failure`] without this module knowing the side's
/// types (the sides import this module; it imports none of them). Two causes are equal when
/// they say the same.
#[derive(Clone)]
pub struct Cause(std::sync::Arc<dyn std::error::Error + Send + Sync>);

impl std::fmt::Debug for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl PartialEq for Cause {
    fn eq(&self, other: &Cause) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

impl Eq for Cause {}

impl Failure {
    /// A failure of this kind.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            kind,
            retry_after: None,
            cause: None,
        }
    }

    /// A failure trying again will not change.
    pub fn permanent(message: impl Into<String>) -> Failure {
        Failure::new(FailureKind::Permanent, message)
    }

    /// The same failure, with the server's `Retry-After`.
    pub fn retry_after(mut self, after: Option<Duration>) -> Failure {
        self.retry_after = after;
        self
    }

    /// The same failure, said in `message` (the words of the phase it ended).
    pub fn reworded(mut self, message: String) -> Failure {
        self.message = message;
        self
    }

    /// The same failure, keeping the side's typed account of it.
    pub fn caused_by(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Failure {
        self.cause = Some(Cause(std::sync::Arc::new(cause)));
        self
    }

    /// The failure a side's typed account makes: of `kind`, said in `cause`'s words (its
    /// `Display`, in `report/`), with the server's `Retry-After`, `cause` kept.
    pub fn of(
        kind: FailureKind,
        retry_after: Option<Duration>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Failure {
        Failure::new(kind, cause.to_string())
            .retry_after(retry_after)
            .caused_by(cause)
    }

    /// The side's typed account of the failure, if it is a `T`.
    pub fn cause<T: std::error::Error + 'static>(&self) -> Option<&T> {
        self.cause.as_ref()?.0.downcast_ref::<T>()
    }

    /// True when another try may help.
    pub fn is_transient(&self) -> bool {
        self.kind.is_transient()
    }
}

/// The first error of type `T` in `e`'s chain of sources, `e` included: the one way this crate
/// finds a typed cause inside a library's error.
pub fn cause<'e, T: std::error::Error + 'static>(
    e: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    let mut source = Some(e);
    while let Some(err) = source {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        source = err.source();
    }
    None
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
        let timeout = Error::Timeout {
            sentence: "x".into(),
            throttled: None,
        };
        assert_eq!(timeout.exit_code(), 1);
        let f = Failure::new(FailureKind::Forbidden, "x");
        assert_eq!(Error::Azure(f.clone()).exit_code(), 1);
        assert_eq!(Error::Octopus(f.clone()).exit_code(), 1);
        assert_eq!(
            Error::Octopus(f).failure().map(|f| f.kind),
            Some(FailureKind::Forbidden),
            "the kind survives to the top"
        );
    }

    #[test]
    fn only_passing_faults_are_transient() {
        for status in [429, 500, 502, 503, 504, 408] {
            assert!(FailureKind::from_status(status).is_transient(), "{status}");
        }
        for status in [400, 401, 403, 404, 409] {
            assert!(!FailureKind::from_status(status).is_transient(), "{status}");
        }
        assert!(FailureKind::ConnectionRefused.is_transient());
        assert!(!FailureKind::Dns.is_transient() && !FailureKind::Tls.is_transient());
    }

    #[test]
    fn retry_after_seconds() {
        assert_eq!(parse_retry_after("17"), Some(Duration::from_secs(17)));
        assert_eq!(parse_retry_after(" 1200 "), Some(Duration::from_secs(1200)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-3"), None);
    }
}
