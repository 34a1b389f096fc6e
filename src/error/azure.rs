//! Azure's failures as types: why a call to Azure failed ([`AzureRefusal`], classified by the
//! Azure side from its answers), with the facts each sentence needs. Plain data: the words are
//! `report/azure.rs`'s (`Display`), so both the side that classifies and the words that say it
//! read these types, and neither imports the other.

use super::{Failure, FailureKind};
use std::time::Duration;

/// What was answered: the status, Azure's code and the detail a sentence quotes
/// (`code: message`, either alone, or `HTTP <status>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Azure's error code (ARM's `error.code`, Azure AD's `error`), if it sent one.
    pub code: Option<String>,
    /// The code and the first line of the message, as quoted.
    pub detail: String,
    /// The server's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
}

/// What the step was asking Azure when it failed: the names a sentence gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// What it was doing, as a verb phrase: `read the scale set`.
    pub doing: String,
    /// The scale set's name.
    pub scale_set: String,
    /// Its resource group.
    pub resource_group: String,
    /// The Azure account's subscription.
    pub subscription: String,
}

/// Why a call to Azure failed, one variant a sentence. Every variant answered by Azure keeps
/// its [`Answer`]; the rest say why no answer came or could be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AzureRefusal {
    /// Azure AD answered a sign-in with a passing failure (429, 5xx, 408).
    SignInBusy {
        /// Azure's answer.
        answer: Answer,
    },
    /// Azure AD refused the federated (OIDC) assertion as expired (`AADSTS700024`).
    FederatedTokenExpired {
        /// Azure's answer.
        answer: Answer,
    },
    /// Azure AD refused the sign-in for good (a wrong client id, secret or tenant).
    SignInRejected {
        /// Azure's answer.
        answer: Answer,
        /// The Azure account's client id.
        client_id: String,
        /// Its tenant.
        tenant_id: String,
    },
    /// Resource Manager answered 429.
    Throttled {
        /// Azure's answer.
        answer: Answer,
        /// What the step asked.
        asked: Asked,
    },
    /// Resource Manager failed this time (5xx, 408).
    ArmFailed {
        /// Azure's answer.
        answer: Answer,
        /// What the step asked.
        asked: Asked,
    },
    /// `ResourceGroupNotFound`.
    ResourceGroupNotFound {
        /// Azure's answer.
        answer: Answer,
        /// What the step asked.
        asked: Asked,
    },
    /// `SubscriptionNotFound` or `InvalidSubscriptionId`.
    SubscriptionNotFound {
        /// Azure's answer.
        answer: Answer,
        /// What the step asked.
        asked: Asked,
    },
    /// Any other 404: the scale set is not there.
    ScaleSetNotFound {
        /// Azure's answer.
        answer: Answer,
        /// What the step asked.
        asked: Asked,
    },
    /// 401 from Resource Manager: the access token is not for it.
    TokenRejected {
        /// Azure's answer.
        answer: Answer,
        /// What the step asked.
        asked: Asked,
    },
    /// 403: the account may not do this.
    NotAllowed {
        /// Azure's answer.
        answer: Answer,
        /// What the step asked.
        asked: Asked,
        /// The Azure account's client id.
        client_id: String,
    },
    /// Any other refusal.
    Refused {
        /// Azure's answer.
        answer: Answer,
        /// What the step asked.
        asked: Asked,
    },
    /// The token file could not be read again, and Azure AD refused the assertion read before.
    TokenFileUnread {
        /// `AZURE_FEDERATED_TOKEN_FILE`.
        file: std::path::PathBuf,
        /// Why reading it failed.
        error: String,
        /// Azure AD's refusal, every layer's words.
        refused: String,
        /// The refusal's kind.
        kind: FailureKind,
    },
    /// A `nextLink` that cannot be followed: the listing is incomplete.
    LinkUnfollowable {
        /// What the step asked.
        asked: Asked,
        /// The link, as far as it parsed.
        url: String,
        /// Why it cannot be followed.
        cause: String,
    },
    /// No answer: the connection, DNS, TLS or the clock failed.
    Unreached {
        /// Which of those.
        kind: FailureKind,
        /// Where the request went (scheme, host, port).
        origin: String,
        /// True when it went to Azure AD's token endpoint.
        signing_in: bool,
        /// What the step asked.
        asked: Asked,
        /// The innermost error's words.
        cause: String,
    },
    /// The paging of a listing broke its rule (a repeated or off-origin `nextLink`).
    PagingCut {
        /// The scale set listed.
        scale_set: String,
        /// What broke.
        why: String,
    },
    /// An answer the step could not read.
    Unreadable {
        /// What the step asked.
        asked: Asked,
        /// The reader's words.
        error: String,
    },
    /// The sign-in failed without an answer from Azure AD to classify.
    SignInFailed {
        /// Azure AD's address.
        authority_host: String,
        /// The SDK's words, every layer.
        error: String,
    },
    /// Anything else.
    Other {
        /// What the step asked.
        asked: Asked,
        /// The SDK's words, every layer.
        error: String,
    },
}

impl AzureRefusal {
    /// Azure's answer, when one came.
    pub fn answer(&self) -> Option<&Answer> {
        use AzureRefusal::*;
        match self {
            SignInBusy { answer }
            | FederatedTokenExpired { answer }
            | SignInRejected { answer, .. }
            | Throttled { answer, .. }
            | ArmFailed { answer, .. }
            | ResourceGroupNotFound { answer, .. }
            | SubscriptionNotFound { answer, .. }
            | ScaleSetNotFound { answer, .. }
            | TokenRejected { answer, .. }
            | NotAllowed { answer, .. }
            | Refused { answer, .. } => Some(answer),
            TokenFileUnread { .. }
            | LinkUnfollowable { .. }
            | Unreached { .. }
            | PagingCut { .. }
            | Unreadable { .. }
            | SignInFailed { .. }
            | Other { .. } => None,
        }
    }

    /// Azure's error code, when it sent one.
    pub fn code(&self) -> Option<&str> {
        self.answer()?.code.as_deref()
    }

    /// What kind of failure this is: the retry decision's input. An answer's kind is its
    /// status's (Azure AD answers a bad credential with 400 or 401: neither is worth another
    /// try).
    pub fn kind(&self) -> FailureKind {
        match self {
            AzureRefusal::TokenFileUnread { kind, .. } | AzureRefusal::Unreached { kind, .. } => {
                *kind
            }
            other => other.answer().map_or(FailureKind::Permanent, |a| {
                FailureKind::from_status(a.status)
            }),
        }
    }

    /// The failure for the step: this kind, the server's `Retry-After`, this value kept, and
    /// its sentence (`report/azure.rs`).
    pub fn into_failure(self) -> Failure {
        let retry_after = self.answer().and_then(|a| a.retry_after);
        Failure::of(self.kind(), retry_after, self)
    }
}

impl std::error::Error for AzureRefusal {}

/// Azure AD refused the assertion read before, while the token file that should hold a newer
/// one could not be read: the file is the cause worth naming. Its words are in
/// `report/azure.rs`.
#[derive(Debug)]
pub struct TokenFileUnread {
    /// `AZURE_FEDERATED_TOKEN_FILE`.
    pub file: std::path::PathBuf,
    /// Why reading it failed.
    pub error: String,
    /// Azure AD's refusal of the assertion read before.
    pub refused: azure_core::Error,
}

impl std::error::Error for TokenFileUnread {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.refused)
    }
}
