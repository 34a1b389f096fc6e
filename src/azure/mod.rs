//! The Azure side: sign-in (client secret or federated token, via `azure_identity`) and the
//! scale set and its instances (via `azure_mgmt_compute`, api-version 2024-07-01; the scale set
//! itself as JSON at [`NEWER_API_VERSION`], whose model has automatic zone rebalancing).
//!
//! The SDK is used with its own retries switched off: its retry sleeps for a server's
//! `Retry-After` without a cap (Azure has asked for 1200 s), which would blow through the step's
//! deadline. Instead [`Transport`] turns every non-2xx answer into an [`HttpFailure`] carrying
//! the status, the ARM or Azure AD error code and the `Retry-After`, which the SDK's own errors
//! do not expose; the wait loop decides what to do with them.
//!
//! This module is the client and its reads; `transport` the HTTP transport, `credential`
//! the federated credential, `model` what the step reads of Azure's models, `refusal` what
//! a failure was (its sentence is the words', `report/azure.rs`).

use crate::error::{cause, parse_retry_after, Failure, FailureKind};
use crate::output::printable;
use crate::paging::{self, Cut, Page, Pages};
use crate::reconcile::Instance;
use crate::settings::{AzureCredential, AzureSettings, ScaleSetRef};
use azure_core::auth::TokenCredential;
use azure_core::error::ErrorKind;
use azure_core::{HttpClient, RetryOptions, TransportOptions};
use azure_identity::{ClientSecretCredential, WorkloadIdentityCredential};
use azure_mgmt_compute::package_2024_07_01 as compute;
use compute::models::instance_view_status::Level;
use compute::models::InstanceViewStatus;
use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

mod credential;
mod model;
mod refusal;
mod transport;

pub use crate::error::azure::{Answer, Asked, AzureRefusal, TokenFileUnread};
use credential::FederatedCredential;
pub use model::*;
use transport::first_line;
pub use transport::{HttpFailure, OffOrigin, RateLimits, Transport};

/// The compute api-version of the SDK's models: every read but those below.
pub const API_VERSION: &str = "2024-07-01";

/// The compute api-version for what 2024-07-01's description lacks (contract: "Azure's own
/// replacements"): a scale set's `resiliencyPolicy.automaticZoneRebalancingPolicy` (2024-11-01
/// on) and a Uniform VM's `resilientVMDeletionStatus` (2025-04-01 on). The scale set, its
/// instance view and a resilient-deleting Uniform set's VMs are read at it, as JSON.
pub const NEWER_API_VERSION: &str = "2025-04-01";

/// A listing whose paging cannot be trusted: nothing may be decided on it.
fn paging_failure(set: &ScaleSetRef, why: &dyn std::fmt::Display) -> Failure {
    AzureRefusal::PagingCut {
        scale_set: set.name.clone(),
        why: why.to_string(),
    }
    .into_failure()
}

/// The expansion every instance listing asks for: without the instance view there is no power
/// state, and a stopped VM would look like a member.
const INSTANCE_VIEW: &str = "instanceView";

/// Reads scale sets and their instances.
pub struct AzureClient {
    client: compute::Client,
    settings: AzureSettings,
    limits: Arc<RateLimits>,
    /// For reads outside the compute SDK ([`AzureClient::get_json`]).
    credential: Arc<dyn TokenCredential>,
    http: Arc<dyn HttpClient>,
    scope: String,
}

impl AzureClient {
    /// Builds the credential and the compute client; sends nothing yet.
    pub fn new(settings: &AzureSettings, request_timeout: Duration) -> Self {
        let limits = Arc::new(RateLimits::default());
        let http: Arc<dyn HttpClient> = Arc::new(Transport::new(
            crate::http::client(request_timeout),
            limits.clone(),
            &[&settings.resource_manager, &settings.authority_host],
        ));
        let credential: Arc<dyn TokenCredential> = match &settings.credential {
            AzureCredential::ClientSecret(secret) => Arc::new(ClientSecretCredential::new(
                http.clone(),
                settings.authority_host.clone(),
                settings.tenant_id.clone(),
                settings.client_id.clone(),
                secret.expose().to_string(),
            )),
            AzureCredential::FederatedToken { token, file } => Arc::new(FederatedCredential::new(
                http.clone(),
                settings.clone(),
                file.clone(),
                token.expose().to_string(),
            )),
        };
        let scope = format!(
            "{}/.default",
            settings.resource_manager.as_str().trim_end_matches('/')
        );
        let client = compute::Client::builder(credential.clone())
            .endpoint(settings.resource_manager.clone())
            .scopes(&[&scope])
            .retry(RetryOptions::none())
            .transport(TransportOptions::new(http.clone()))
            .build()
            .expect("a client with an explicit endpoint and scope always builds");
        AzureClient {
            client,
            settings: settings.clone(),
            limits,
            credential,
            http,
            scope,
        }
    }

    /// The compute SDK's client, for the reads of other modules ([`crate::absence`]).
    pub fn compute(&self) -> &compute::Client {
        &self.client
    }

    /// The subscription and Resource Manager's base URL.
    pub fn settings(&self) -> &AzureSettings {
        &self.settings
    }

    /// GETs `path_and_query` from Resource Manager through the same transport (typed
    /// failures, read budgets): for providers the compute SDK does not cover.
    pub async fn get_json(&self, path_and_query: &str) -> azure_core::Result<serde_json::Value> {
        self.get_url(self.url(path_and_query)?).await
    }

    /// Resource Manager's URL for `path_and_query`.
    pub fn url(&self, path_and_query: &str) -> azure_core::Result<url::Url> {
        let base = self
            .settings
            .resource_manager
            .as_str()
            .trim_end_matches('/');
        url::Url::parse(&format!("{base}{path_and_query}"))
            .map_err(|e| azure_core::Error::full(ErrorKind::DataConversion, e, "URL"))
    }

    /// GETs an absolute URL (a `nextLink`) from Resource Manager.
    pub async fn get_url(&self, url: url::Url) -> azure_core::Result<serde_json::Value> {
        let token = self.credential.get_token(&[&self.scope]).await?;
        let mut request = azure_core::Request::new(url, azure_core::Method::Get);
        request.insert_header(
            azure_core::headers::AUTHORIZATION,
            format!("Bearer {}", token.token.secret()),
        );
        let response = self.http.execute_request(&request).await?;
        let body = response.into_body().collect().await?;
        serde_json::from_slice(&body)
            .map_err(|e| azure_core::Error::full(ErrorKind::DataConversion, e, "JSON"))
    }

    /// The pages of an ARM list read as JSON from `first` on, each fetched only when the
    /// stream is polled ([`paging::whole`] holds them to the paging rule): a `nextLink` that is
    /// no URL ends the stream with a failed read.
    pub fn json_pages(
        &self,
        first: url::Url,
    ) -> impl futures::Stream<Item = azure_core::Result<serde_json::Value>> + '_ {
        futures::stream::unfold(Some(first), move |next| async move {
            let url = next?;
            let page = self.get_url(url).await;
            let following = match &page {
                Ok(p) => Page::next_link(p)
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(url::Url::parse),
                Err(_) => None,
            };
            Some(match following {
                Some(Err(e)) => (
                    Err(azure_core::Error::full(
                        ErrorKind::DataConversion,
                        e,
                        "nextLink",
                    )),
                    None,
                ),
                Some(Ok(u)) => (page, Some(u)),
                None => (page, None),
            })
        })
    }

    /// Azure's read budgets as the answers since the last call reported them.
    pub fn rate_limits(&self) -> &RateLimits {
        &self.limits
    }

    /// A scale set's resource path (no api-version).
    pub fn scale_set_path(&self, set: &ScaleSetRef) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachineScaleSets/{}",
            self.settings.subscription_id, set.resource_group, set.name
        )
    }

    /// Reads a scale set, as JSON at [`NEWER_API_VERSION`] (one read, as before: the SDK's
    /// 2024-07-01 model lacks the zone rebalancing policy), through the SDK's model for the
    /// rest.
    pub async fn scale_set(&self, set: &ScaleSetRef) -> Result<ScaleSet, Failure> {
        let doing = "read the scale set";
        let path = format!(
            "{}?api-version={NEWER_API_VERSION}",
            self.scale_set_path(set)
        );
        let json = self
            .get_json(&path)
            .await
            .map_err(|e| self.failure(e, set, doing))?;
        let vmss: compute::models::VirtualMachineScaleSet = serde_json::from_value(json.clone())
            .map_err(|e| {
                let e = azure_core::Error::full(ErrorKind::DataConversion, e, "scale set");
                self.failure(e, set, doing)
            })?;
        let mut ss = scale_set_from_model(&vmss);
        ss.replacements.zone_rebalancing = zone_rebalancing(&json);
        Ok(ss)
    }

    /// True while the set's latest rolling upgrade is `RollingForward`; false when it has none
    /// (404) or it has ended. Read only for sets that roll ([`ScaleSet::rolls`]): with the
    /// set and its instances, the third of the wait's reads.
    pub async fn rolling_forward(&self, set: &ScaleSetRef, ss: &ScaleSet) -> Result<bool, Failure> {
        if !ss.rolls {
            return Ok(false);
        }
        // Read as JSON, not through the SDK's model: its closed enums (runningStatus.code,
        // lastAction) would turn a value Azure adds later into a failed check.
        let path = format!(
            "{}/rollingUpgrades/latest?api-version=2024-07-01",
            ss.id.trim_end_matches('/')
        );
        match self.get_json(&path).await {
            Ok(status) => Ok(status
                .pointer("/properties/runningStatus/code")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|c| c.eq_ignore_ascii_case("RollingForward"))),
            Err(e) if cause::<HttpFailure>(&e).is_some_and(|f| f.status == 404) => Ok(false),
            Err(e) => Err(self.failure(e, set, "read the scale set's latest rolling upgrade")),
        }
    }

    /// Lists every instance of the scale set with its instance view, following every page.
    /// Any failure part-way is a failure of the whole listing: an incomplete list must never
    /// drive a removal.
    pub async fn instances(
        &self,
        set: &ScaleSetRef,
        scale_set: &ScaleSet,
    ) -> Result<Vec<Instance>, Failure> {
        let sub = &self.settings.subscription_id;
        let listed = match scale_set.orchestration {
            Orchestration::Uniform if scale_set.replacements.resilient_deletes => {
                self.uniform_with_deletion_status(set, scale_set).await
            }
            Orchestration::Uniform => {
                let pages = self
                    .client
                    .virtual_machine_scale_set_v_ms_client()
                    .list(&set.resource_group, &set.name, sub)
                    .expand(INSTANCE_VIEW)
                    .into_stream();
                paging::whole(pages, Pages::default(), |vm| {
                    Ok(Some(Instance {
                        set_id: scale_set.id.clone(),
                        ..instance_from_vmss_vm(&vm, &set.name)
                    }))
                })
                .await
            }
            Orchestration::Flexible => {
                // The filter narrows the listing server-side (and Azure allows `$expand` only
                // with it); the id check below keeps a VM outside the set from ever counting,
                // even if a page comes back unfiltered.
                let filter = format!("'virtualMachineScaleSet/id' eq '{}'", scale_set.id);
                let pages = self
                    .client
                    .virtual_machines_client()
                    .list(&set.resource_group, sub)
                    .filter(filter)
                    .expand(INSTANCE_VIEW)
                    .into_stream();
                paging::whole(pages, Pages::default(), |vm| {
                    Ok(vm_in_scale_set(&vm, &scale_set.id).then(|| Instance {
                        set_id: scale_set.id.clone(),
                        ..instance_from_vm(&vm, &set.name)
                    }))
                })
                .await
            }
        };
        listed.map_err(|cut| match cut {
            Cut::Read(e) => self.failure(e, set, "list the scale set's instances"),
            Cut::Paging(why) => paging_failure(set, &why),
        })
    }

    /// A Uniform set's VMs listed as JSON at [`NEWER_API_VERSION`], with their
    /// `resilientVMDeletionStatus` (for a set with resilient deletes: a VM whose deletion Azure
    /// is retrying says `InProgress` even while it shows `Failed`); the rest as the SDK's
    /// model reads it. One listing, in place of the 2024-07-01 one.
    async fn uniform_with_deletion_status(
        &self,
        set: &ScaleSetRef,
        scale_set: &ScaleSet,
    ) -> Result<Vec<Instance>, Cut<azure_core::Error>> {
        let path = format!(
            "{}/virtualMachines?api-version={NEWER_API_VERSION}&$expand={INSTANCE_VIEW}",
            self.scale_set_path(set)
        );
        let first = self.url(&path).map_err(Cut::Read)?;
        paging::whole(self.json_pages(first), Pages::starting_at(&path), |v| {
            let status = v
                .pointer("/properties/resilientVMDeletionStatus")
                .and_then(serde_json::Value::as_str)
                .map(first_line);
            let vm: compute::models::VirtualMachineScaleSetVm = serde_json::from_value(v)
                .map_err(|e| azure_core::Error::full(ErrorKind::DataConversion, e, "VM"))?;
            Ok(Some(Instance {
                set_id: scale_set.id.clone(),
                deletion_status: status,
                ..instance_from_vmss_vm(&vm, &set.name)
            }))
        })
        .await
    }

    /// Turns an SDK error into a failure naming the thing and what to check: classified
    /// (`AzureClient::refusal`), worded by its `Display`, and kept on the failure.
    pub fn failure(&self, err: azure_core::Error, set: &ScaleSetRef, doing: &str) -> Failure {
        self.refusal(&err, set, doing).into_failure()
    }

    /// What an SDK error says went wrong, from its typed causes (the first one found in its
    /// chain), else from the SDK's kind.
    fn refusal(&self, err: &azure_core::Error, set: &ScaleSetRef, doing: &str) -> AzureRefusal {
        let asked = || Asked::new(set, &self.settings.subscription_id, doing);
        if let Some(t) = cause::<TokenFileUnread>(err) {
            return AzureRefusal::TokenFileUnread {
                file: t.file.clone(),
                error: t.error.clone(),
                refused: chain(&t.refused),
                kind: kind_of(&t.refused).0,
            };
        }
        let mut source: Option<&(dyn StdError + 'static)> = Some(err);
        while let Some(e) = source {
            if let Some(f) = e.downcast_ref::<HttpFailure>() {
                return AzureRefusal::of(
                    f,
                    asked(),
                    &self.settings.client_id,
                    &self.settings.tenant_id,
                );
            }
            if let Some(off) = e.downcast_ref::<OffOrigin>() {
                return AzureRefusal::PagingCut {
                    scale_set: set.name.clone(),
                    why: off.to_string(),
                };
            }
            if let Some(r) = e.downcast_ref::<reqwest::Error>() {
                if r.is_builder()
                    || r.url()
                        .is_some_and(|u| !matches!(u.scheme(), "http" | "https"))
                {
                    // A nextLink we cannot follow: the listing is incomplete, and stays so.
                    return AzureRefusal::LinkUnfollowable {
                        asked: asked(),
                        url: r.url().map(|u| u.as_str()).unwrap_or("no URL").to_string(),
                        cause: root_cause(r),
                    };
                }
                return AzureRefusal::Unreached {
                    kind: crate::http::classify(r),
                    origin: r
                        .url()
                        .map(|u| u.origin().ascii_serialization())
                        .unwrap_or_default(),
                    signing_in: r.url().is_some_and(transport::is_sign_in),
                    asked: asked(),
                    cause: root_cause(r),
                };
            }
            source = e.source();
        }
        match err.kind() {
            ErrorKind::DataConversion => AzureRefusal::Unreadable {
                asked: asked(),
                error: err.to_string(),
            },
            ErrorKind::Credential => AzureRefusal::SignInFailed {
                authority_host: self.settings.authority_host.to_string(),
                error: chain(err),
            },
            _ => AzureRefusal::Other {
                asked: asked(),
                error: chain(err),
            },
        }
    }
}

/// What kind of failure an SDK error is, and the server's `Retry-After`: the retry decision's
/// input, read from the typed cause ([`HttpFailure`], reqwest's error) rather than its text.
pub fn kind_of(err: &azure_core::Error) -> (FailureKind, Option<Duration>) {
    if let Some(f) = cause::<HttpFailure>(err) {
        return (FailureKind::from_status(f.status), f.retry_after);
    }
    if cause::<OffOrigin>(err).is_some() {
        return (FailureKind::Permanent, None);
    }
    match cause::<reqwest::Error>(err) {
        Some(r)
            if r.is_builder()
                || r.url()
                    .is_some_and(|u| !matches!(u.scheme(), "http" | "https")) =>
        {
            (FailureKind::Permanent, None)
        }
        Some(r) => (crate::http::classify(r), None),
        None => (FailureKind::Permanent, None),
    }
}

/// An SDK error's own words, every layer once.
pub fn describe(err: &azure_core::Error) -> String {
    chain(err)
}

/// The innermost error's text: reqwest's outer layers only repeat the URL.
fn root_cause(e: &(dyn StdError + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

/// Every layer's text, joined.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(next) = cur {
        let text = next.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = next.source();
    }
    parts.join(": ")
}

/// The compute SDK's list results as pages of the one page loop ([`paging::whole`]): a Uniform
/// set's VMs, and a resource group's (a Flexible set's, or the whole group's).
macro_rules! sdk_page {
    ($list:ty, $item:ty) => {
        impl Page for $list {
            type Item = $item;
            fn ids(&self) -> Option<Vec<&str>> {
                Some(
                    self.value
                        .iter()
                        .filter_map(|vm| vm.resource.id.as_deref())
                        .collect(),
                )
            }
            fn next_link(&self) -> Option<&str> {
                self.next_link.as_deref()
            }
            fn into_items(self) -> Vec<Self::Item> {
                self.value
            }
        }
    };
}
sdk_page!(
    compute::models::VirtualMachineScaleSetVmListResult,
    compute::models::VirtualMachineScaleSetVm
);
sdk_page!(
    compute::models::VirtualMachineListResult,
    compute::models::VirtualMachine
);

/// True when a VM says it belongs to the scale set (resource ids compare case-insensitively).
pub fn vm_in_scale_set(vm: &compute::models::VirtualMachine, scale_set_id: &str) -> bool {
    vm.properties
        .as_ref()
        .and_then(|p| p.virtual_machine_scale_set.as_ref())
        .and_then(|s| s.id.as_deref())
        .is_some_and(|id| id.eq_ignore_ascii_case(scale_set_id))
}

#[cfg(test)]
mod tests;
