//! Why a call to Azure failed, in one sentence naming the thing and what to check (the Octopus
//! parameter, the variable, the role to grant): the words of [`AzureRefusal`], which the Azure
//! side classifies without wording.

use crate::error::azure::{Asked, AzureRefusal, TokenFileUnread};
use crate::error::FailureKind;
use std::fmt;
use std::path::Path;

impl fmt::Display for AzureRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use AzureRefusal::*;
        match self {
            SignInBusy { answer } => write!(
                f,
                "Azure AD did not issue a token (HTTP {}: {}); it may be busy.",
                answer.status, answer.detail
            ),
            FederatedTokenExpired { answer } => write!(
                f,
                "The federated (OIDC) token of the Azure account had expired when Azure AD was asked for a new access token ({}). Octopus's token for a step lasts a limited time: lower VMSS.Timeout.Value below its lifetime, or use an Azure account with a client secret for long waits.",
                answer.detail
            ),
            SignInRejected {
                answer,
                client_id,
                tenant_id,
            } => write!(
                f,
                "Azure AD rejected the sign-in of client {client_id} in tenant {tenant_id} ({}). Check the Azure account in VMSS.Azure.Account: its client id, secret or federated credential, and tenant.",
                answer.detail
            ),
            Throttled { answer, asked } => write!(
                f,
                "Azure throttled the request to {} ({}).",
                on(asked),
                answer.detail
            ),
            ArmFailed { answer, asked } => write!(
                f,
                "Azure Resource Manager failed to {} (HTTP {}: {}).",
                on(asked),
                answer.status,
                answer.detail
            ),
            ResourceGroupNotFound { asked, .. } => write!(
                f,
                "Resource group '{}' was not found in subscription {}. Check VMSS.ResourceGroup.Name (or the group/ part of the VMSS.ScaleSet.Name entry for '{}') and the subscription of the Azure account.",
                asked.resource_group, asked.subscription, asked.scale_set
            ),
            SubscriptionNotFound { answer, asked } => write!(
                f,
                "Subscription {} was not found ({}). Check the subscription of the Azure account in VMSS.Azure.Account.",
                asked.subscription, answer.detail
            ),
            ScaleSetNotFound { asked, .. } => write!(
                f,
                "Scale set '{}' was not found in resource group '{}' (subscription {}). Check VMSS.ScaleSet.Name and VMSS.ResourceGroup.Name.",
                asked.scale_set, asked.resource_group, asked.subscription
            ),
            TokenRejected { answer, asked } => write!(
                f,
                "Azure Resource Manager rejected the access token while trying to {} ({}). Check that the Azure account's environment matches its subscription (AZURE_ENVIRONMENT, AZURE_RESOURCE_MANAGER_URL).",
                on(asked),
                answer.detail
            ),
            NotAllowed {
                answer,
                asked,
                client_id,
            } => write!(
                f,
                "The Azure account (client {client_id}) is not allowed to {} in resource group '{}' ({}). Grant it at least the Reader role on the scale set or its resource group.",
                on(asked),
                asked.resource_group,
                answer.detail
            ),
            Refused { answer, asked } => write!(
                f,
                "Azure Resource Manager refused to {} in resource group '{}' (HTTP {}: {}).",
                on(asked),
                asked.resource_group,
                answer.status,
                answer.detail
            ),
            TokenFileUnread {
                file,
                error,
                refused,
                ..
            } => write!(
                f,
                "{}, and Azure AD refused the token read from it before ({refused}). Octopus writes that file for the step: keep it in place until the step ends.",
                unread(file, error)
            ),
            LinkUnfollowable { asked, url, cause } => write!(
                f,
                "Azure's answer while trying to {} links to a next page that cannot be followed ({url}: {cause}), so the listing is incomplete.",
                on(asked)
            ),
            Unreached {
                kind,
                origin,
                signing_in,
                asked,
                cause,
            } => {
                let what = match kind {
                    FailureKind::Timeout => "got no answer in time",
                    FailureKind::Dns => "failed: the host name does not resolve",
                    FailureKind::Tls => "failed a TLS check",
                    FailureKind::ConnectionRefused => "was refused",
                    _ => "failed",
                };
                let doing = if *signing_in {
                    "sign in to Azure AD (AZURE_AUTHORITY_HOST)".to_string()
                } else {
                    on(asked)
                };
                write!(
                    f,
                    "A request to Azure ({origin}) {what} while trying to {doing}: {cause}. Check the worker's network and proxy settings."
                )
            }
            PagingCut { scale_set, why } => write!(
                f,
                "Azure's paging cut the listing of scale set '{scale_set}' short: {why}, so the listing is incomplete; check AZURE_RESOURCE_MANAGER_URL and any proxy between the worker and Azure, and run the step again."
            ),
            Unreadable { asked, error } => write!(
                f,
                "Azure answered in a form vmss-check could not read while trying to {} ({error}). Check AZURE_RESOURCE_MANAGER_URL points at Azure Resource Manager.",
                on(asked)
            ),
            SignInFailed {
                authority_host,
                error,
            } => write!(
                f,
                "Signing in to Azure AD at {authority_host} failed ({error}). Check the Azure account in VMSS.Azure.Account and AZURE_AUTHORITY_HOST."
            ),
            Other { asked, error } => write!(
                f,
                "Could not {} in resource group '{}' (subscription {}): {error}.",
                on(asked),
                asked.resource_group,
                asked.subscription
            ),
        }
    }
}

impl fmt::Display for TokenFileUnread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&unread(&self.file, &self.error))
    }
}

/// The token file that could not be read again.
fn unread(file: &Path, error: &str) -> String {
    format!(
        "AZURE_FEDERATED_TOKEN_FILE ({}) could not be read again for a new token ({error})",
        file.display()
    )
}

/// What was being done, and to which set: `read the scale set 'web'`.
fn on(asked: &Asked) -> String {
    format!("{} '{}'", asked.doing, asked.scale_set)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azure::Answer;

    #[test]
    fn refusals_that_need_a_setting_changed_name_its_octopus_parameter() {
        let answer = |status, code: &str, message: &str| Answer {
            status,
            code: Some(code.into()),
            detail: format!("{code}: {message}"),
            retry_after: None,
        };
        let asked = Asked {
            doing: "read the scale set".into(),
            scale_set: "web".into(),
            resource_group: "rg".into(),
            subscription: "sub-1".into(),
        };
        let said = [
            (
                AzureRefusal::ResourceGroupNotFound {
                    answer: answer(404, "ResourceGroupNotFound", "gone."),
                    asked: asked.clone(),
                },
                "Resource group 'rg' was not found in subscription sub-1. Check VMSS.ResourceGroup.Name (or the group/ part of the VMSS.ScaleSet.Name entry for 'web') and the subscription of the Azure account.",
            ),
            (
                AzureRefusal::ScaleSetNotFound {
                    answer: answer(404, "ResourceNotFound", "gone."),
                    asked: asked.clone(),
                },
                "Scale set 'web' was not found in resource group 'rg' (subscription sub-1). Check VMSS.ScaleSet.Name and VMSS.ResourceGroup.Name.",
            ),
            (
                AzureRefusal::SubscriptionNotFound {
                    answer: answer(404, "SubscriptionNotFound", "gone."),
                    asked: asked.clone(),
                },
                "Subscription sub-1 was not found (SubscriptionNotFound: gone.). Check the subscription of the Azure account in VMSS.Azure.Account.",
            ),
            (
                AzureRefusal::FederatedTokenExpired {
                    answer: answer(400, "invalid_grant", "AADSTS700024: expired."),
                },
                "The federated (OIDC) token of the Azure account had expired when Azure AD was asked for a new access token (invalid_grant: AADSTS700024: expired.). Octopus's token for a step lasts a limited time: lower VMSS.Timeout.Value below its lifetime, or use an Azure account with a client secret for long waits.",
            ),
            (
                AzureRefusal::SignInRejected {
                    answer: answer(401, "invalid_client", "AADSTS7000215: bad secret."),
                    client_id: "client-1".into(),
                    tenant_id: "tenant-1".into(),
                },
                "Azure AD rejected the sign-in of client client-1 in tenant tenant-1 (invalid_client: AADSTS7000215: bad secret.). Check the Azure account in VMSS.Azure.Account: its client id, secret or federated credential, and tenant.",
            ),
            (
                AzureRefusal::NotAllowed {
                    answer: answer(403, "AuthorizationFailed", "no."),
                    asked: asked.clone(),
                    client_id: "client-1".into(),
                },
                "The Azure account (client client-1) is not allowed to read the scale set 'web' in resource group 'rg' (AuthorizationFailed: no.). Grant it at least the Reader role on the scale set or its resource group.",
            ),
            (
                AzureRefusal::Unreached {
                    kind: FailureKind::Dns,
                    origin: "https://login.example".into(),
                    signing_in: true,
                    asked,
                    cause: "no such host".into(),
                },
                "A request to Azure (https://login.example) failed: the host name does not resolve while trying to sign in to Azure AD (AZURE_AUTHORITY_HOST): no such host. Check the worker's network and proxy settings.",
            ),
        ];
        for (refusal, sentence) in said {
            assert_eq!(refusal.to_string(), sentence);
        }
    }
}
