//! The federated (OIDC) credential: the token file read again for each new access token.

use super::*;

/// A federated (OIDC) token exchanged for access tokens through `azure_identity`'s
/// `WorkloadIdentityCredential`, which caches them. That credential keeps the assertion it was
/// built with for ever, so a wait that outlives the assertion could never sign in again; this
/// one reads `AZURE_FEDERATED_TOKEN_FILE` again whenever a token is asked for, and starts a new
/// credential when the file holds a new assertion. Its Debug shows no assertion.
pub(super) struct FederatedCredential {
    http: Arc<dyn HttpClient>,
    settings: AzureSettings,
    file: Option<std::path::PathBuf>,
    /// The assertion in use and its credential.
    current: std::sync::Mutex<Option<(String, Arc<WorkloadIdentityCredential>)>>,
    /// The assertion as first read (or given directly).
    first: String,
}

impl std::fmt::Debug for FederatedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederatedCredential")
            .field("client_id", &self.settings.client_id)
            .field("file", &self.file)
            .field("assertion", &crate::redacted::REDACTED)
            .finish()
    }
}

impl FederatedCredential {
    /// A credential for `settings`' account: `first` is the assertion as given or first read
    /// from `file`, which is read again for each new access token.
    pub(super) fn new(
        http: Arc<dyn HttpClient>,
        settings: AzureSettings,
        file: Option<std::path::PathBuf>,
        first: String,
    ) -> FederatedCredential {
        FederatedCredential {
            http,
            settings,
            file,
            current: std::sync::Mutex::new(None),
            first,
        }
    }

    /// The credential for the assertion the token file holds now (or the one given directly),
    /// and why the file could not be read when it could not: the assertion last read is used
    /// then (its access token may still be good), and if Azure AD refuses it, the error says
    /// the file could not be read rather than only that the assertion expired.
    pub(super) fn credential(
        &self,
    ) -> (
        Arc<WorkloadIdentityCredential>,
        Option<(std::path::PathBuf, String)>,
    ) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let held = || {
            current
                .as_ref()
                .map(|(a, _)| a.clone())
                .unwrap_or_else(|| self.first.clone())
        };
        let (assertion, unread) = match &self.file {
            None => (self.first.clone(), None),
            Some(file) => match crate::token::read_token_file(file) {
                Ok(t) if !t.is_empty() => (t, None),
                // A file being rewritten holds nothing for a moment.
                Ok(_) => (held(), None),
                Err(e) => (held(), Some((file.clone(), e.to_string()))),
            },
        };
        let credential = match &*current {
            Some((held, credential)) if *held == assertion => credential.clone(),
            _ => {
                let credential = Arc::new(WorkloadIdentityCredential::new(
                    self.http.clone(),
                    self.settings.authority_host.clone(),
                    self.settings.tenant_id.clone(),
                    self.settings.client_id.clone(),
                    assertion.clone(),
                ));
                *current = Some((assertion, credential.clone()));
                credential
            }
        };
        (credential, unread)
    }
}

#[async_trait::async_trait]
impl TokenCredential for FederatedCredential {
    async fn get_token(
        &self,
        scopes: &[&str],
    ) -> azure_core::Result<azure_core::auth::AccessToken> {
        let (credential, unread) = self.credential();
        credential
            .get_token(scopes)
            .await
            .map_err(|refused| match unread {
                Some((file, error)) => azure_core::Error::new(
                    ErrorKind::Credential,
                    TokenFileUnread {
                        file,
                        error,
                        refused,
                    },
                ),
                None => refused,
            })
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        self.credential().0.clear_cache().await
    }
}
