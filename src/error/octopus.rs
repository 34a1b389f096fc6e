//! Octopus's failures as types: why a call to the Octopus Server failed ([`OctopusRefusal`],
//! classified by the Octopus side from its answers), with the facts each sentence needs. Plain
//! data: the words are `report/octopus.rs`'s (`Display`), so both the side that classifies and
//! the words that say it read these types, and neither imports the other.

use super::{Failure, FailureKind};
use std::time::Duration;
use time::OffsetDateTime;

/// What Octopus answered: the status and the detail its error body gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// `ErrorMessage` and the first of `Errors` (when it says more), made printable, without
    /// a final full stop; empty when the body said nothing.
    pub detail: String,
    /// The server's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
}

/// How the step signed in, as far as a refusal's words need it (never the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// An API key (`API-...`).
    ApiKey,
    /// An access token, with its `exp` claim when it has one.
    AccessToken {
        /// When the token expires.
        expires: Option<OffsetDateTime>,
    },
}

/// Why a listing's paging cannot be trusted, as the Octopus side found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// A `Page.Next` link to another origin, not followed: the API key stays home.
    LeadsAway {
        /// The link, made printable.
        link: String,
        /// The configured server's origin.
        home: String,
    },
    /// The one paging rule's fault (`paging::PageFault`), in its words.
    Rule(String),
}

/// Why a listing that kept coming up short of its `TotalResults` was not read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Short {
    /// Two reads in a row came up short the same way: the server's count is wrong.
    Twice,
    /// It changed through this many reads, the most the step makes.
    KeptChanging {
        /// How many reads.
        reads: u32,
    },
    /// It changed through this many reads, and the next pause would outlast the step's time.
    KeptChangingPastTime {
        /// How many reads.
        reads: u32,
    },
    /// The step's time ran out during this read.
    TimeRanOut {
        /// Which read.
        read: u32,
    },
}

/// Why a call to Octopus failed, one variant a sentence. Every variant answered by Octopus
/// keeps its [`Answer`]; the rest say why no answer came or could be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OctopusRefusal {
    /// 401 to an API key.
    KeyRejected {
        /// Octopus's answer.
        answer: Answer,
    },
    /// 401 to an access token.
    TokenRejected {
        /// Octopus's answer.
        answer: Answer,
        /// The token's `exp` claim, when it has one.
        expires: Option<OffsetDateTime>,
        /// When the refusal came (the token's age is told from it).
        at: OffsetDateTime,
    },
    /// 403: the credential's user may not do this.
    NotAllowed {
        /// Octopus's answer.
        answer: Answer,
        /// What the step was doing, as a verb phrase.
        doing: String,
        /// How the step signed in.
        credential: Credential,
        /// Every permission the step may need, by Octopus's names.
        permissions: &'static [&'static str],
    },
    /// 404: the route or document is not there.
    NotFound {
        /// Octopus's answer.
        answer: Answer,
        /// What the step was doing.
        doing: String,
    },
    /// 429: Octopus's API rate limit.
    Throttled {
        /// Octopus's answer.
        answer: Answer,
        /// What the step was doing.
        doing: String,
    },
    /// Octopus failed this time (5xx, 408).
    Failed {
        /// Octopus's answer.
        answer: Answer,
        /// What the step was doing.
        doing: String,
    },
    /// Any other refusal.
    Refused {
        /// Octopus's answer.
        answer: Answer,
        /// What the step was doing.
        doing: String,
    },
    /// No answer: the connection, DNS, TLS or the clock failed.
    Unreached {
        /// Which of those.
        kind: FailureKind,
        /// Where the request went (scheme, host, port).
        origin: String,
        /// What the step was doing.
        doing: String,
        /// The innermost error's words.
        cause: String,
    },
    /// An answer that is not an Octopus Server's JSON.
    Unreadable {
        /// The configured server URL.
        server: String,
        /// What the step was doing.
        doing: String,
        /// The reader's words.
        error: String,
    },
    /// `VMSS.Octopus.ApiKey` holds characters an HTTP header cannot carry.
    KeyUnsendable,
    /// The paging of a listing broke its rule: the listing is incomplete.
    PagingCut {
        /// What the step was doing.
        doing: String,
        /// What broke.
        cut: Cut,
    },
    /// A listing that came up short of its `TotalResults`, and was not read again.
    PagingShort {
        /// What the step was doing.
        doing: String,
        /// Octopus's count (`TotalResults`).
        total: usize,
        /// How many items the pages held.
        held: usize,
        /// Why it was not read again.
        why: Short,
    },
    /// The run's environment is not on this server (in this space).
    NoEnvironment {
        /// The configured server URL.
        server: String,
        /// The environment's id.
        environment: String,
        /// The space, when the server has spaces.
        space: Option<String>,
    },
}

impl OctopusRefusal {
    /// Octopus's answer, when one came.
    pub fn answer(&self) -> Option<&Answer> {
        use OctopusRefusal::*;
        match self {
            KeyRejected { answer }
            | TokenRejected { answer, .. }
            | NotAllowed { answer, .. }
            | NotFound { answer, .. }
            | Throttled { answer, .. }
            | Failed { answer, .. }
            | Refused { answer, .. } => Some(answer),
            Unreached { .. }
            | Unreadable { .. }
            | KeyUnsendable
            | PagingCut { .. }
            | PagingShort { .. }
            | NoEnvironment { .. } => None,
        }
    }

    /// The HTTP status Octopus answered, when it answered.
    pub fn status(&self) -> Option<u16> {
        self.answer().map(|a| a.status)
    }

    /// What kind of failure this is: the retry decision's input. An answer's kind is its
    /// status's.
    pub fn kind(&self) -> FailureKind {
        match self {
            OctopusRefusal::Unreached { kind, .. } => *kind,
            OctopusRefusal::NoEnvironment { .. } => FailureKind::NotFound,
            other => other.answer().map_or(FailureKind::Permanent, |a| {
                FailureKind::from_status(a.status)
            }),
        }
    }

    /// The failure for the step: this kind, the server's `Retry-After`, this value kept, and
    /// its sentence (`report/octopus.rs`).
    pub fn into_failure(self) -> Failure {
        let retry_after = self.answer().and_then(|a| a.retry_after);
        Failure::of(self.kind(), retry_after, self)
    }
}

impl std::error::Error for OctopusRefusal {}
