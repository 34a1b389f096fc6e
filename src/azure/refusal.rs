//! Classifying what Azure AD or Resource Manager refused or failed, from what the step got
//! back (an [`HttpFailure`], reqwest's error, the SDK's), into an [`AzureRefusal`]: a typed
//! value (`crate::error::azure`) keeping each fact its sentence needs, so the kind survives to
//! the top. Classifying is pure; the sentences are the words' (`report/azure.rs`, its
//! `Display`), so this side names no Octopus parameter.

use super::*;
use crate::error::azure::{Answer, Asked, AzureRefusal};

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
}
