//! What Azure AD or Resource Manager refused or failed, classified from what the step got back
//! (an [`HttpFailure`], reqwest's error, the SDK's): a typed value keeping each fact its
//! sentence needs (the status, the code, the names), so the kind survives to the top.
//! Classifying is pure; the sentences are the words' (`report/azure.rs`, its `Display`), so
//! this side names no Octopus parameter.

use super::*;

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

impl Answer {
    /// The facts of an HTTP failure.
    pub fn of(f: &HttpFailure) -> Answer {
        let detail = match (&f.code, &f.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => format!("HTTP {}", f.status),
        };
        Answer {
            status: f.status,
            code: f.code.clone(),
            detail,
            retry_after: f.retry_after,
        }
    }
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

impl Asked {
    /// Asking `doing` about `set` in `subscription`.
    pub fn new(set: &ScaleSetRef, subscription: &str, doing: &str) -> Asked {
        Asked {
            doing: doing.to_string(),
            scale_set: set.name.clone(),
            resource_group: set.resource_group.clone(),
            subscription: subscription.to_string(),
        }
    }
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
    /// Classifies Azure's answer `f` to a request made while asking `asked`, for the account
    /// `client_id` in `tenant_id`. Sign-in failures first (their wording names the account),
    /// then passing failures, then ARM's codes, then the status.
    pub fn of(f: &HttpFailure, asked: Asked, client_id: &str, tenant_id: &str) -> AzureRefusal {
        let answer = Answer::of(f);
        let code = f.code.as_deref().unwrap_or("");
        let transient = FailureKind::from_status(f.status).is_transient();
        let code_is = |c: &str| code.eq_ignore_ascii_case(c);
        if f.sign_in {
            if transient {
                AzureRefusal::SignInBusy { answer }
            } else if f
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with("AADSTS700024"))
            {
                AzureRefusal::FederatedTokenExpired { answer }
            } else {
                AzureRefusal::SignInRejected {
                    answer,
                    client_id: client_id.to_string(),
                    tenant_id: tenant_id.to_string(),
                }
            }
        } else if f.status == 429 {
            AzureRefusal::Throttled { answer, asked }
        } else if transient {
            AzureRefusal::ArmFailed { answer, asked }
        } else if code_is("ResourceGroupNotFound") {
            AzureRefusal::ResourceGroupNotFound { answer, asked }
        } else if code_is("SubscriptionNotFound") || code_is("InvalidSubscriptionId") {
            AzureRefusal::SubscriptionNotFound { answer, asked }
        } else if f.status == 404 {
            AzureRefusal::ScaleSetNotFound { answer, asked }
        } else if f.status == 401 {
            AzureRefusal::TokenRejected { answer, asked }
        } else if f.status == 403 {
            AzureRefusal::NotAllowed {
                answer,
                asked,
                client_id: client_id.to_string(),
            }
        } else {
            AzureRefusal::Refused { answer, asked }
        }
    }

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
        Failure::new(self.kind(), self.to_string())
            .retry_after(retry_after)
            .caused_by(self)
    }
}

impl std::error::Error for AzureRefusal {}
