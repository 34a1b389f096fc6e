//! The Azure account's inputs: its credential, and the cloud whose endpoints it signs in to.

use super::*;

/// Endpoints of the clouds Octopus Azure accounts can name.
pub(super) fn cloud(name: &str) -> Option<(&'static str, &'static str)> {
    match name.to_ascii_lowercase().as_str() {
        "" | "azurecloud" | "azureglobalcloud" => Some((
            "https://login.microsoftonline.com/",
            "https://management.azure.com/",
        )),
        "azurechinacloud" => Some((
            "https://login.chinacloudapi.cn/",
            "https://management.chinacloudapi.cn/",
        )),
        "azureusgovernment" => Some((
            "https://login.microsoftonline.us/",
            "https://management.usgovcloudapi.net/",
        )),
        _ => None,
    }
}

pub(super) fn endpoint(value: Option<&str>, default: &str, variable: &str) -> Result<Url, String> {
    let raw = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(default);
    let mut url = Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            format!("{variable} must be an http(s) address (from {AZURE_ACCOUNT}), got \"{raw}\".")
        })?;
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

/// True for a GUID in its usual form, `00000000-0000-0000-0000-000000000000`.
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

pub(super) fn parse_azure(args: &StepArgs) -> Result<AzureSettings, String> {
    let subscription_id = present(&args.azure_subscription_id).ok_or_else(|| {
        format!("AZURE_SUBSCRIPTION_ID is required: check the subscription of the Azure account in {AZURE_ACCOUNT}.")
    })?;
    if !is_guid(subscription_id) {
        return Err(format!(
            "AZURE_SUBSCRIPTION_ID must be a subscription id (a GUID), got \"{subscription_id}\": check the Azure account in {AZURE_ACCOUNT}."
        ));
    }
    let tenant_id = present(&args.azure_tenant_id).ok_or_else(|| {
        format!("AZURE_TENANT_ID is required: check the tenant id of the Azure account in {AZURE_ACCOUNT}.")
    })?;
    if tenant_id.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "AZURE_TENANT_ID must be a tenant id or domain, got \"{tenant_id}\": check the Azure account in {AZURE_ACCOUNT}."
        ));
    }
    let client_id = present(&args.azure_client_id).ok_or_else(|| {
        format!("AZURE_CLIENT_ID is required: check the application id of the Azure account in {AZURE_ACCOUNT}.")
    })?;
    let credential = match (&args.azure_client_secret, &args.azure_federated_token) {
        (Some(s), _) if !s.is_blank() => AzureCredential::ClientSecret(s.clone()),
        (_, Some(t)) if !t.is_blank() => AzureCredential::FederatedToken {
            token: Secret::new(t.expose().trim()),
            file: None,
        },
        _ => match present(&args.azure_federated_token_file) {
            Some(path) => {
                let token = crate::token::read_token_file(path.as_ref()).map_err(|e| {
                    format!("AZURE_FEDERATED_TOKEN_FILE \"{path}\" could not be read ({e}): check the OIDC settings of the Azure account in {AZURE_ACCOUNT}.")
                })?;
                let token = Secret::new(token.trim());
                if token.is_blank() {
                    return Err(format!("AZURE_FEDERATED_TOKEN_FILE \"{path}\" is empty: check the OIDC settings of the Azure account in {AZURE_ACCOUNT}."));
                }
                AzureCredential::FederatedToken {
                    token,
                    file: Some(path.into()),
                }
            }
            None => {
                return Err(format!(
                    "The Azure account has no credential: set AZURE_CLIENT_SECRET, or AZURE_FEDERATED_TOKEN (or AZURE_FEDERATED_TOKEN_FILE) for an OIDC account, from {AZURE_ACCOUNT}."
                ))
            }
        },
    };
    let env_name = present(&args.azure_environment).unwrap_or("");
    let (authority, manager) = cloud(env_name).ok_or_else(|| {
        format!("AZURE_ENVIRONMENT must be AzureCloud, AzureChinaCloud or AzureUSGovernment, got \"{env_name}\": check the Azure account in {AZURE_ACCOUNT}.")
    })?;
    Ok(AzureSettings {
        subscription_id: subscription_id.to_ascii_lowercase(),
        tenant_id: tenant_id.to_string(),
        client_id: client_id.to_string(),
        credential,
        authority_host: endpoint(
            args.azure_authority_host.as_deref(),
            authority,
            "AZURE_AUTHORITY_HOST",
        )?,
        resource_manager: endpoint(
            args.azure_resource_manager_url.as_deref(),
            manager,
            "AZURE_RESOURCE_MANAGER_URL",
        )?,
    })
}
