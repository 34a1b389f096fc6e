//! The Azure side: sign-in (client secret or federated token, via `azure_identity`) and the
//! scale set and its instances (via `azure_mgmt_compute`, api-version 2024-07-01; the scale set
//! itself as JSON at [`NEWER_API_VERSION`], whose model has automatic zone rebalancing).
//!
//! The SDK is used with its own retries switched off: its retry sleeps for a server's
//! `Retry-After` without a cap (Azure has asked for 1200 s), which would blow through the step's
//! deadline. Instead [`Transport`] turns every non-2xx answer into an [`HttpFailure`] carrying
//! the status, the ARM or Azure AD error code and the `Retry-After`, which the SDK's own errors
//! do not expose; the wait loop decides what to do with them.

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

/// The compute api-version of the SDK's models: every read but those below.
pub const API_VERSION: &str = "2024-07-01";

/// The compute api-version for what 2024-07-01's description lacks (contract: "Azure's own
/// replacements"): a scale set's `resiliencyPolicy.automaticZoneRebalancingPolicy` (2024-11-01
/// on) and a Uniform VM's `resilientVMDeletionStatus` (2025-04-01 on). The scale set, its
/// instance view and a resilient-deleting Uniform set's VMs are read at it, as JSON.
pub const NEWER_API_VERSION: &str = "2025-04-01";

/// A non-2xx answer from Azure AD or Resource Manager, with what the user needs to act on it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("HTTP {status} {}", code.as_deref().unwrap_or(""))]
pub struct HttpFailure {
    /// The HTTP status.
    pub status: u16,
    /// `error.code` (ARM), `code` (compute's 429) or `error` (Azure AD).
    pub code: Option<String>,
    /// The matching message, shortened to its first line.
    pub message: Option<String>,
    /// The server's `Retry-After`, if any.
    pub retry_after: Option<Duration>,
    /// True when the request went to Azure AD's token endpoint.
    pub sign_in: bool,
}

/// The HTTP transport handed to the SDK: reqwest, plus typed failures, plus a record of
/// Azure's read budget from every answer.
#[derive(Debug)]
pub struct Transport {
    inner: reqwest::Client,
    limits: Arc<RateLimits>,
    /// Where requests may go: Resource Manager and Azure AD, as configured. The SDK follows a
    /// `nextLink` wherever it points, bearer token and all; this is where that stops.
    origins: Vec<url::Origin>,
}

impl Transport {
    /// Wraps a client built by [`crate::http::client`], recording budgets into `limits`, and
    /// sending only to `allowed` URLs' origins.
    pub fn new(inner: reqwest::Client, limits: Arc<RateLimits>, allowed: &[&url::Url]) -> Self {
        Transport {
            inner,
            limits,
            origins: allowed.iter().map(|u| u.origin()).collect(),
        }
    }
}

/// A request the transport refused to send: it would have left the configured Azure
/// endpoints (a `nextLink` to another host).
#[derive(Debug, thiserror::Error)]
#[error("a link to {0}, outside the configured Azure endpoints, was not followed")]
pub struct OffOrigin(String);

/// The header in which Resource Manager says what is left of compute's read budgets:
/// `Microsoft.Compute/GetVMScaleSet3Min;197,Microsoft.Compute/GetVMScaleSet30Min;1297`.
const REMAINING_RESOURCE: &str = "x-ms-ratelimit-remaining-resource";

/// What Azure said of its read buckets during one check: per bucket, the least remaining and
/// how many answers (reads) named it. Compute's budget is per subscription and region, shared
/// with every other step and deployment there; this is how a step learns how fast it may poll.
#[derive(Debug, Default)]
pub struct RateLimits {
    seen: std::sync::Mutex<std::collections::HashMap<String, (u32, u32)>>,
}

impl RateLimits {
    /// Records one answer's header.
    pub fn record(&self, header: &str) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (name, remaining) in header.split(',').filter_map(|b| {
            let (name, n) = b.trim().split_once(';')?;
            Some((name.trim(), n.trim().parse::<u32>().ok()?))
        }) {
            let entry = seen.entry(name.to_string()).or_insert((remaining, 0));
            entry.0 = entry.0.min(remaining);
            entry.1 += 1;
        }
    }

    /// The buckets seen since the last call, with their windows (`...3Min` is three of
    /// `minute`), and forgets them: each check is paced on what it itself spent.
    pub fn take(&self, minute: Duration) -> Vec<(String, crate::wait::Bucket)> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(String, crate::wait::Bucket)> = seen
            .drain()
            .filter_map(|(name, (remaining, hits))| {
                let minutes: u32 = name
                    .strip_suffix("Min")?
                    .rsplit(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse()
                    .ok()?;
                Some((
                    name,
                    crate::wait::Bucket {
                        window: minute * minutes,
                        remaining,
                        per_check: hits,
                    },
                ))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

impl Transport {
    /// Sends the SDK's request to `url` with reqwest, and records every
    /// `x-ms-ratelimit-remaining-resource` line before the answer becomes an SDK response:
    /// Azure sends one line per policy, and `azure_core`'s headers keep one value per name, so
    /// reading them afterwards could see the plentiful bucket and miss the scarce one.
    async fn send(
        &self,
        request: &azure_core::Request,
        url: url::Url,
    ) -> azure_core::Result<azure_core::Response> {
        let method = reqwest::Method::from_bytes(request.method().as_ref().as_bytes())
            .map_err(|e| azure_core::Error::full(ErrorKind::DataConversion, e, "HTTP method"))?;
        let mut req = self.inner.request(method, url);
        for (name, value) in request.headers().iter() {
            req = req.header(name.as_str(), value.as_str());
        }
        let req = match request.body() {
            azure_core::Body::Bytes(bytes) => req.body(bytes.clone()),
            // The SDK streams only uploads, and this client only reads.
            azure_core::Body::SeekableStream(stream) => {
                req.body(reqwest::Body::wrap_stream(stream.clone()))
            }
        };
        let rsp = req
            .send()
            .await
            .map_err(|e| azure_core::Error::full(ErrorKind::Io, e, "failed to execute request"))?;
        for line in rsp.headers().get_all(REMAINING_RESOURCE) {
            if let Ok(line) = line.to_str() {
                self.limits.record(line);
            }
        }
        let status = azure_core::StatusCode::try_from(rsp.status().as_u16()).map_err(|_| {
            azure_core::Error::message(ErrorKind::DataConversion, "invalid HTTP status")
        })?;
        let headers: std::collections::HashMap<_, _> = rsp
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    azure_core::headers::HeaderName::from(k.as_str().to_owned()),
                    azure_core::headers::HeaderValue::from(v.to_str().ok()?.to_owned()),
                ))
            })
            .collect();
        // Read whole (a page is at most a few hundred kB) to drop a byte-order mark, which
        // the SDK's `serde_json` would refuse.
        let body = rsp
            .bytes()
            .await
            .map_err(|e| azure_core::Error::full(ErrorKind::Io, e, "failed to read the body"))?;
        let body = match crate::http::without_bom(&body).len() {
            n if n < body.len() => body.slice(body.len() - n..),
            _ => body,
        };
        Ok(azure_core::Response::new(
            status,
            headers.into(),
            Box::pin(futures::stream::once(async move { Ok(body) })),
        ))
    }
}

#[async_trait::async_trait]
impl HttpClient for Transport {
    async fn execute_request(
        &self,
        request: &azure_core::Request,
    ) -> azure_core::Result<azure_core::Response> {
        if !self.origins.contains(&request.url().origin()) {
            let u = request.url();
            let origin = format!(
                "{}://{}{}",
                u.scheme(),
                u.host_str().unwrap_or(""),
                u.port().map(|p| format!(":{p}")).unwrap_or_default()
            );
            return Err(azure_core::Error::full(
                ErrorKind::Other,
                OffOrigin(origin),
                "request refused",
            ));
        }
        let sign_in = request.url().path().ends_with("/oauth2/v2.0/token");
        let url = with_instance_view(request.url()).unwrap_or_else(|| request.url().clone());
        let response = self.send(request, url).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let (status, headers, body) = response.deconstruct();
        let retry_after = headers
            .get_optional_str(&azure_core::headers::RETRY_AFTER)
            .and_then(parse_retry_after);
        let body = body.collect().await.unwrap_or_default();
        let (code, message) = error_fields(&body);
        let failure = HttpFailure {
            status: u16::from(status),
            code,
            message,
            retry_after,
            sign_in,
        };
        Err(azure_core::Error::new(
            ErrorKind::HttpResponse {
                status,
                error_code: failure.code.clone(),
            },
            failure,
        ))
    }
}

/// Reads the error code and message from the three shapes Azure uses.
fn error_fields(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(crate::http::without_bom(body)) else {
        return (None, None);
    };
    let text = |v: &serde_json::Value| v.as_str().map(first_line);
    if let Some(e) = v.get("error").filter(|e| e.is_object()) {
        return (text(&e["code"]), text(&e["message"]));
    }
    if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
        // Azure AD: {"error": "invalid_client", "error_description": "AADSTS7000215: ..."}
        return (Some(e.to_string()), text(&v["error_description"]));
    }
    (text(&v["code"]), text(&v["message"]))
}

/// The first line of a message (ended by `\r` or `\n`, as Calamari's line reader ends one),
/// without Azure AD's trace and correlation ids, at most 300 characters, and every control
/// character left escaped ([`printable`]): an extension's message is written inside the VM,
/// by whoever controls it.
fn first_line(s: &str) -> String {
    let line = s
        .trim_start()
        .split(['\r', '\n'])
        .next()
        .unwrap_or("")
        .trim();
    let line = line.split(" Trace ID:").next().unwrap_or(line);
    let shown = printable(line);
    let mut out: String = shown.chars().take(300).collect();
    if shown.chars().nth(300).is_some() {
        out.push_str("...");
    }
    out
}

/// A listing whose paging cannot be trusted: nothing may be decided on it.
fn paging_failure(set: &ScaleSetRef, why: &dyn std::fmt::Display) -> Failure {
    Failure::permanent(format!(
        "Azure's paging cut the listing of scale set '{}' short: {why}, so the listing is incomplete; check AZURE_RESOURCE_MANAGER_URL and any proxy between the worker and Azure, and run the step again.",
        set.name
    ))
}

/// How a scale set orchestrates its VMs, which decides how they are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Orchestration {
    /// Listed through the scale set's `virtualMachines`.
    Uniform,
    /// Listed through the resource group's VMs, filtered on the scale set.
    Flexible,
}

/// The scale set, as the wait loop needs it.
#[derive(Debug, Clone)]
pub struct ScaleSet {
    /// Its full resource id.
    pub id: String,
    /// `properties.provisioningState`.
    pub provisioning_state: Option<String>,
    /// Uniform or Flexible.
    pub orchestration: Orchestration,
    /// `sku.capacity`: how many instances it is scaling to. Flexible sets without a VM
    /// profile have none.
    pub capacity: Option<i64>,
    /// `virtualMachineProfile.osProfile.computerNamePrefix`: every computer name of the set
    /// starts with it. Missing for specialized images (no OS profile) and for Flexible sets
    /// without a VM profile.
    pub computer_name_prefix: Option<String>,
    /// `upgradePolicy.mode` is `Rolling`, or automatic OS upgrades are on: the wait reads
    /// `rollingUpgrades/latest` on each check (see [`crate::absence`]).
    pub rolls: bool,
    /// What Azure itself does to the set's VMs, as its model says.
    pub replacements: Replacements,
    /// What the set's instance view says of Azure's orchestration services, when it was read
    /// (only for sets whose [`Replacements::watched`] says it matters).
    pub services: Option<Services>,
}

/// What Azure replaces or retries on its own in a scale set, from its model (contract:
/// "Azure's own replacements").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replacements {
    /// `automaticRepairsPolicy`, when `enabled`.
    pub repairs: Option<crate::reconcile::RepairPolicy>,
    /// `resiliencyPolicy.automaticZoneRebalancingPolicy.enabled` (2024-11-01 on).
    pub zone_rebalancing: bool,
    /// `resiliencyPolicy.resilientVMCreationPolicy.enabled`: a create is retried while the VM
    /// stays `Creating`.
    pub resilient_creates: bool,
    /// `resiliencyPolicy.resilientVMDeletionPolicy.enabled`: a delete is retried, the VM
    /// alternating between `Deleting` and `Failed`.
    pub resilient_deletes: bool,
}

impl Replacements {
    /// True when the set's orchestration services matter: repairs may be running or
    /// suspended, or a zone rebalance may be under way. Only then is its instance view read.
    pub fn watched(&self) -> bool {
        self.repairs.is_some() || self.zone_rebalancing
    }
}

/// What a scale set's instance view says of Azure's orchestration services
/// (`orchestrationServices`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    /// The `AutomaticRepairs` service's `serviceState` (`Running`, `Suspended`, `NotRunning`),
    /// when listed.
    pub repairs: Option<String>,
    /// The `AutomaticZoneRebalancing` service's `latestOperationStatus` is `InProgress`: Azure
    /// has created a VM and will delete one of the set's when the rebalance ends.
    pub rebalancing: bool,
}

impl Services {
    /// True when Azure says it is not repairing the set's VMs now (`Suspended` after too many
    /// failed repairs or by request, or `NotRunning`).
    pub fn repairs_stopped(&self) -> bool {
        self.repairs.as_deref().is_some_and(|s| {
            s.eq_ignore_ascii_case("Suspended") || s.eq_ignore_ascii_case("NotRunning")
        })
    }

    /// Reads an instance view's `orchestrationServices`. `latestOperationStatus` is not in any
    /// published description (2025-04-01's `OrchestrationServiceSummary` has only `serviceName`
    /// and `serviceState`); Microsoft's documentation of automatic zone balance
    /// (`auto-zone-balance-enable.md`) shows it, `InProgress` while a rebalance runs.
    pub fn read(view: &serde_json::Value) -> Services {
        let mut out = Services::default();
        let services = view
            .get("orchestrationServices")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten();
        for service in services {
            let text = |k: &str| service.get(k).and_then(serde_json::Value::as_str);
            let named = |n: &str| text("serviceName").is_some_and(|s| s.eq_ignore_ascii_case(n));
            if named("AutomaticRepairs") {
                out.repairs = text("serviceState").map(first_line);
            } else if named("AutomaticZoneRebalancing") {
                out.rebalancing = text("latestOperationStatus")
                    .is_some_and(|s| s.trim().eq_ignore_ascii_case("InProgress"));
            }
        }
        out
    }
}

/// `resiliencyPolicy.automaticZoneRebalancingPolicy.enabled` of a scale set read as JSON at
/// [`NEWER_API_VERSION`] (the 2024-07-01 model has no such field).
pub fn zone_rebalancing(vmss: &serde_json::Value) -> bool {
    vmss.pointer("/properties/resiliencyPolicy/automaticZoneRebalancingPolicy/enabled")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// A federated (OIDC) token exchanged for access tokens through `azure_identity`'s
/// `WorkloadIdentityCredential`, which caches them. That credential keeps the assertion it was
/// built with for ever, so a wait that outlives the assertion could never sign in again; this
/// one reads `AZURE_FEDERATED_TOKEN_FILE` again whenever a token is asked for, and starts a new
/// credential when the file holds a new assertion. Its Debug shows no assertion.
struct FederatedCredential {
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
    /// The credential for the assertion the token file holds now (or the one given directly),
    /// and why the file could not be read when it could not: the assertion last read is used
    /// then (its access token may still be good), and if Azure AD refuses it, the error says
    /// the file could not be read rather than only that the assertion expired.
    fn credential(&self) -> (Arc<WorkloadIdentityCredential>, Option<String>) {
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
                Err(e) => (
                    held(),
                    Some(format!(
                        "AZURE_FEDERATED_TOKEN_FILE ({}) could not be read again for a new token ({e})",
                        file.display()
                    )),
                ),
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
                Some(why) => {
                    azure_core::Error::new(ErrorKind::Credential, TokenFileUnread { why, refused })
                }
                None => refused,
            })
    }

    async fn clear_cache(&self) -> azure_core::Result<()> {
        self.credential().0.clear_cache().await
    }
}

/// Azure AD refused the assertion read before, while the token file that should hold a newer
/// one could not be read: the file is the cause worth naming.
#[derive(Debug, thiserror::Error)]
#[error("{why}")]
pub struct TokenFileUnread {
    why: String,
    #[source]
    refused: azure_core::Error,
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
            AzureCredential::FederatedToken { token, file } => Arc::new(FederatedCredential {
                http: http.clone(),
                settings: settings.clone(),
                file: file.clone(),
                current: std::sync::Mutex::new(None),
                first: token.expose().to_string(),
            }),
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

    /// Turns an SDK error into a sentence naming the thing and what to check.
    pub fn failure(&self, err: azure_core::Error, set: &ScaleSetRef, doing: &str) -> Failure {
        let (sub, rg, name) = (
            &self.settings.subscription_id,
            &set.resource_group,
            &set.name,
        );
        if let Some(t) = cause::<TokenFileUnread>(&err) {
            return Failure::new(
                kind_of(&t.refused).0,
                format!(
                    "{}, and Azure AD refused the token read from it before ({}). Octopus writes that file for the step: keep it in place until the step ends.",
                    t.why,
                    chain(&t.refused)
                ),
            );
        }
        let mut source: Option<&(dyn StdError + 'static)> = Some(&err);
        while let Some(e) = source {
            if let Some(f) = e.downcast_ref::<HttpFailure>() {
                return self.http_failure(f, set, doing);
            }
            if let Some(off) = e.downcast_ref::<OffOrigin>() {
                return paging_failure(set, &off.to_string());
            }
            if let Some(r) = e.downcast_ref::<reqwest::Error>() {
                if r.is_builder()
                    || r.url()
                        .is_some_and(|u| !matches!(u.scheme(), "http" | "https"))
                {
                    // A nextLink we cannot follow: the listing is incomplete, and stays so.
                    return Failure::permanent(format!(
                        "Azure's answer while trying to {doing} '{name}' links to a next page that cannot be followed ({}: {}), so the listing is incomplete.",
                        r.url().map(|u| u.as_str()).unwrap_or("no URL"),
                        root_cause(r)
                    ));
                }
                let kind = crate::http::classify(r);
                let what = match kind {
                    FailureKind::Timeout => "got no answer in time",
                    FailureKind::Dns => "failed: the host name does not resolve",
                    FailureKind::Tls => "failed a TLS check",
                    FailureKind::ConnectionRefused => "was refused",
                    _ => "failed",
                };
                let url = r
                    .url()
                    .map(|u| u.origin().ascii_serialization())
                    .unwrap_or_default();
                let signing_in = r
                    .url()
                    .is_some_and(|u| u.path().ends_with("/oauth2/v2.0/token"));
                let doing = if signing_in {
                    "sign in to Azure AD (AZURE_AUTHORITY_HOST)".to_string()
                } else {
                    format!("{doing} '{name}'")
                };
                return Failure::new(
                    kind,
                    format!(
                        "A request to Azure ({url}) {what} while trying to {doing}: {}. Check the worker's network and proxy settings.",
                        root_cause(r)
                    ),
                );
            }
            source = e.source();
        }
        let message = match err.kind() {
            ErrorKind::DataConversion => format!(
                "Azure answered in a form vmss-check could not read while trying to {doing} '{name}' ({err}). Check AZURE_RESOURCE_MANAGER_URL points at Azure Resource Manager."
            ),
            ErrorKind::Credential => format!(
                "Signing in to Azure AD at {} failed ({}). Check the Azure account in VMSS.Azure.Account and AZURE_AUTHORITY_HOST.",
                self.settings.authority_host, chain(&err)
            ),
            _ => format!(
                "Could not {doing} '{name}' in resource group '{rg}' (subscription {sub}): {}.",
                chain(&err)
            ),
        };
        Failure::permanent(message)
    }

    fn http_failure(&self, f: &HttpFailure, set: &ScaleSetRef, doing: &str) -> Failure {
        let (sub, rg, name) = (
            &self.settings.subscription_id,
            &set.resource_group,
            &set.name,
        );
        let code = f.code.as_deref().unwrap_or("");
        let detail = match (&f.code, &f.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => format!("HTTP {}", f.status),
        };
        let kind = FailureKind::from_status(f.status);
        let transient = kind.is_transient();
        let message = if f.sign_in {
            if transient {
                format!(
                    "Azure AD did not issue a token (HTTP {}: {detail}); it may be busy.",
                    f.status
                )
            } else if f
                .message
                .as_deref()
                .is_some_and(|m| m.starts_with("AADSTS700024"))
            {
                format!(
                    "The federated (OIDC) token of the Azure account had expired when Azure AD was asked for a new access token ({detail}). Octopus's token for a step lasts a limited time: lower VMSS.Timeout.Value below its lifetime, or use an Azure account with a client secret for long waits."
                )
            } else {
                format!(
                    "Azure AD rejected the sign-in of client {} in tenant {} ({detail}). Check the Azure account in VMSS.Azure.Account: its client id, secret or federated credential, and tenant.",
                    self.settings.client_id, self.settings.tenant_id
                )
            }
        } else if f.status == 429 {
            format!("Azure throttled the request to {doing} '{name}' ({detail}).")
        } else if transient {
            format!(
                "Azure Resource Manager failed to {doing} '{name}' (HTTP {}: {detail}).",
                f.status
            )
        } else if code.eq_ignore_ascii_case("ResourceGroupNotFound") {
            format!("Resource group '{rg}' was not found in subscription {sub}. Check VMSS.ResourceGroup.Name (or the group/ part of the VMSS.ScaleSet.Name entry for '{name}') and the subscription of the Azure account.")
        } else if code.eq_ignore_ascii_case("SubscriptionNotFound")
            || code.eq_ignore_ascii_case("InvalidSubscriptionId")
        {
            format!("Subscription {sub} was not found ({detail}). Check the subscription of the Azure account in VMSS.Azure.Account.")
        } else if f.status == 404 {
            format!("Scale set '{name}' was not found in resource group '{rg}' (subscription {sub}). Check VMSS.ScaleSet.Name and VMSS.ResourceGroup.Name.")
        } else if f.status == 401 {
            format!(
                "Azure Resource Manager rejected the access token while trying to {doing} '{name}' ({detail}). Check that the Azure account's environment matches its subscription (AZURE_ENVIRONMENT, AZURE_RESOURCE_MANAGER_URL)."
            )
        } else if f.status == 403 {
            format!(
                "The Azure account (client {}) is not allowed to {doing} '{name}' in resource group '{rg}' ({detail}). Grant it at least the Reader role on the scale set or its resource group.",
                self.settings.client_id
            )
        } else {
            format!("Azure Resource Manager refused to {doing} '{name}' in resource group '{rg}' (HTTP {}: {detail}).", f.status)
        };
        // Azure AD answers a bad credential with 400 or 401: neither is worth another try.
        Failure::new(kind, message).retry_after(f.retry_after)
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

/// The scale set's fields the step uses. A missing `orchestrationMode` is Uniform: the
/// property is absent from scale sets created before Flexible existed.
pub fn scale_set_from_model(vmss: &compute::models::VirtualMachineScaleSet) -> ScaleSet {
    let props = vmss.properties.as_ref();
    let orchestration = match props.and_then(|p| p.orchestration_mode.as_ref()) {
        Some(compute::models::OrchestrationMode::Flexible) => Orchestration::Flexible,
        Some(compute::models::OrchestrationMode::UnknownValue(s))
            if s.eq_ignore_ascii_case("flexible") =>
        {
            Orchestration::Flexible
        }
        _ => Orchestration::Uniform,
    };
    ScaleSet {
        id: vmss.resource.id.clone().unwrap_or_default(),
        provisioning_state: props.and_then(|p| p.provisioning_state.clone()),
        orchestration,
        capacity: vmss.sku.as_ref().and_then(|s| s.capacity),
        computer_name_prefix: props
            .and_then(|p| p.virtual_machine_profile.as_ref())
            .and_then(|v| v.os_profile.as_ref())
            .and_then(|o| o.computer_name_prefix.clone())
            .filter(|p| !p.trim().is_empty()),
        rolls: props
            .and_then(|p| p.upgrade_policy.as_ref())
            .is_some_and(|u| {
                u.mode == Some(compute::models::upgrade_policy::Mode::Rolling)
                    || u.automatic_os_upgrade_policy
                        .as_ref()
                        .and_then(|a| a.enable_automatic_os_upgrade)
                        .unwrap_or(false)
            }),
        replacements: props.map(replacements).unwrap_or_default(),
        services: None,
    }
}

/// The repairs and resiliency policies of a scale set's model (2024-07-01 has all but zone
/// rebalancing, which [`zone_rebalancing`] reads).
fn replacements(p: &compute::models::VirtualMachineScaleSetProperties) -> Replacements {
    let repairs = p
        .automatic_repairs_policy
        .as_ref()
        .filter(|r| r.enabled == Some(true))
        .map(|r| crate::reconcile::RepairPolicy {
            grace_period: r
                .grace_period
                .as_deref()
                .map(first_line)
                .filter(|g| !g.is_empty()),
            action: r
                .repair_action
                .as_ref()
                .and_then(|a| serde_json::to_value(a).ok())
                .and_then(|v| v.as_str().map(first_line))
                .unwrap_or_else(|| "Replace".into()),
        });
    let resiliency = p.resiliency_policy.as_ref();
    Replacements {
        repairs,
        zone_rebalancing: false,
        resilient_creates: resiliency
            .and_then(|r| r.resilient_vm_creation_policy.as_ref())
            .and_then(|c| c.enabled)
            .unwrap_or(false),
        resilient_deletes: resiliency
            .and_then(|r| r.resilient_vm_deletion_policy.as_ref())
            .and_then(|d| d.enabled)
            .unwrap_or(false),
    }
}

/// What an instance view says: the power state (`running`), its computer name, and Azure's
/// reason when something failed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InstanceView {
    /// The `PowerState/...` status's code without its prefix.
    pub power_state: Option<String>,
    /// The `ProvisioningState/<state>[/<cause>]` status's state: always there, where a
    /// listing may leave `properties.provisioningState` out (Flexible VM lists).
    pub provisioning_state: Option<String>,
    /// `computerName`, reported by the VM agent.
    pub computer_name: Option<String>,
    /// The first error status's code and message, the VM's own or an extension's.
    pub reason: Option<String>,
    /// The `ProvisioningState/...` status's `time`: when the VM's state last changed.
    pub state_since: Option<time::OffsetDateTime>,
}

impl InstanceView {
    /// Reads the statuses Azure reports for a VM and for each of its extensions.
    pub fn read(
        statuses: &[InstanceViewStatus],
        extensions: &[compute::models::VirtualMachineExtensionInstanceView],
        computer_name: Option<&str>,
    ) -> InstanceView {
        let status = |wanted: &str| {
            statuses.iter().find_map(|s| {
                let code = s.code.as_deref()?;
                let (kind, value) = code.split_once('/')?;
                let value = value.split('/').next().unwrap_or(value).trim();
                (kind.eq_ignore_ascii_case(wanted) && !value.is_empty()).then(|| value.to_string())
            })
        };
        let power_state = status("PowerState");
        let provisioning_state = status("ProvisioningState");
        let state_since = statuses
            .iter()
            .find(|s| {
                s.code
                    .as_deref()
                    .and_then(|c| c.split_once('/'))
                    .is_some_and(|(kind, _)| kind.eq_ignore_ascii_case("ProvisioningState"))
            })
            .and_then(|s| s.time);
        let own = statuses.iter().find_map(|s| error_text(s, None));
        let extension = || {
            extensions.iter().find_map(|x| {
                x.statuses
                    .iter()
                    .chain(&x.substatuses)
                    .find_map(|s| error_text(s, x.name.as_deref()))
            })
        };
        InstanceView {
            power_state,
            provisioning_state,
            // Reported by the VM agent, inside the VM: outsider's text.
            computer_name: computer_name
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| printable(c).into_owned()),
            reason: own.or_else(extension),
            state_since,
        }
    }
}

/// `VMExtensionProvisioningError: VM has reported a failure...` for an error-level status:
/// the last segment of `ProvisioningState/failed/VMExtensionProvisioningError` names the cause.
fn error_text(s: &InstanceViewStatus, extension: Option<&str>) -> Option<String> {
    if s.level != Some(Level::Error) {
        return None;
    }
    let code = s.code.as_deref().unwrap_or("error");
    let code = code.rsplit('/').next().unwrap_or(code);
    let mut text = match extension {
        Some(x) => format!("extension {x}: {code}"),
        None => code.to_string(),
    };
    if let Some(m) = s
        .message
        .as_deref()
        .map(first_line)
        .filter(|m| !m.is_empty())
    {
        text = format!("{text}: {m}");
    }
    Some(text)
}

/// A Uniform scale set's VM as reconciliation sees it.
pub fn instance_from_vmss_vm(
    vm: &compute::models::VirtualMachineScaleSetVm,
    scale_set: &str,
) -> Instance {
    let props = vm.properties.as_ref();
    let iv = props.and_then(|p| p.instance_view.as_ref());
    let view = iv
        .map(|v| InstanceView::read(&v.statuses, &v.extensions, v.computer_name.as_deref()))
        .unwrap_or_default();
    let health = iv.and_then(|v| health(v.vm_health.as_ref()));
    let mut i = instance(
        scale_set,
        vm.resource
            .name
            .clone()
            .or_else(|| vm.instance_id.clone())
            .unwrap_or_default(),
        props
            .and_then(|p| p.os_profile.as_ref())
            .and_then(|o| o.computer_name.clone()),
        props.and_then(|p| p.provisioning_state.clone()),
        view,
    );
    i.health = health;
    i.vm_id = props.and_then(|p| p.vm_id.clone());
    if let Some(p) = props.and_then(|p| p.protection_policy.as_ref()) {
        i.protection = crate::reconcile::Protection {
            from_scale_in: p.protect_from_scale_in.unwrap_or(false),
            from_scale_set_actions: p.protect_from_scale_set_actions.unwrap_or(false),
        };
    }
    i
}

/// The Application Health extension's state, as the instance view reports it.
fn health(h: Option<&compute::models::VirtualMachineHealthStatus>) -> Option<String> {
    h?.status
        .as_ref()?
        .code
        .as_deref()
        .map(first_line)
        .filter(|c| !c.is_empty())
}

/// A Flexible scale set's VM as reconciliation sees it.
pub fn instance_from_vm(vm: &compute::models::VirtualMachine, scale_set: &str) -> Instance {
    let props = vm.properties.as_ref();
    let iv = props.and_then(|p| p.instance_view.as_ref());
    let view = iv
        .map(|v| InstanceView::read(&v.statuses, &v.extensions, v.computer_name.as_deref()))
        .unwrap_or_default();
    let mut i = instance(
        scale_set,
        vm.resource.name.clone().unwrap_or_default(),
        props
            .and_then(|p| p.os_profile.as_ref())
            .and_then(|o| o.computer_name.clone()),
        props.and_then(|p| p.provisioning_state.clone()),
        view,
    );
    i.health = iv.and_then(|v| health(v.vm_health.as_ref()));
    i.pooled = iv.and_then(|v| v.is_vm_in_standby_pool).unwrap_or(false);
    i.vm_id = props.and_then(|p| p.vm_id.clone());
    i
}

/// The OS profile's computer name wins; the instance view's stands in where a specialized
/// image left the VM without an OS profile. Likewise the listing's provisioning state wins,
/// and the instance view's stands in where the listing leaves it out; with neither, the VM is
/// pending (never a member, never gone).
fn instance(
    scale_set: &str,
    name: String,
    os_computer_name: Option<String>,
    provisioning_state: Option<String>,
    view: InstanceView,
) -> Instance {
    Instance {
        scale_set: scale_set.to_string(),
        name,
        computer_name: os_computer_name
            .filter(|c| !c.trim().is_empty())
            .or(view.computer_name),
        provisioning_state: provisioning_state
            .filter(|p| !p.trim().is_empty())
            .or(view.provisioning_state),
        power_state: view.power_state,
        reason: view.reason,
        state_since: view.state_since,
        ..Instance::default()
    }
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

/// The SDK follows a list's `nextLink` as Azure wrote it and re-adds only `api-version`; a
/// `nextLink` without `$expand` would bring later pages without instance views, and every
/// VM on them would look pending forever. Puts `$expand=instanceView` back on an instance
/// listing's request that lacks it: a scale set's VMs (Uniform), or a resource group's VMs
/// filtered on a scale set (Flexible). Never on a group's listing without a `$filter`: the
/// description of that `$expand` says "this can only be specified if a valid $filter option
/// is specified", and Azure answers such a request 400 (the proof of absence lists the group
/// plainly, [`crate::absence`]).
fn with_instance_view(url: &url::Url) -> Option<url::Url> {
    let path = url.path().to_ascii_lowercase();
    let path = path.trim_end_matches('/');
    let lists_vms = path.ends_with("/virtualmachines");
    let of_a_set = path.contains("/virtualmachinescalesets/");
    let (mut has_expand, mut has_filter) = (false, false);
    for (k, _) in url.query_pairs() {
        has_expand |= k == "$expand";
        has_filter |= k == "$filter";
    }
    if !lists_vms || has_expand || !(of_a_set || has_filter) {
        return None;
    }
    let mut fixed = url.clone();
    fixed
        .query_pairs_mut()
        .append_pair("$expand", INSTANCE_VIEW);
    Some(fixed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_federated_credential_debug_prints_no_assertion() {
        let settings = AzureSettings {
            subscription_id: "s".into(),
            tenant_id: "t".into(),
            client_id: "c".into(),
            credential: AzureCredential::FederatedToken {
                token: crate::redacted::Secret::new("eyJ.secret-assertion.sig"),
                file: None,
            },
            authority_host: url::Url::parse("https://login.example/").unwrap(),
            resource_manager: url::Url::parse("https://arm.example/").unwrap(),
        };
        let http: Arc<dyn HttpClient> = Arc::new(Transport::new(
            crate::http::client(Duration::from_secs(1)),
            Arc::default(),
            &[],
        ));
        let c = FederatedCredential {
            http,
            settings,
            file: None,
            current: std::sync::Mutex::new(None),
            first: "eyJ.secret-assertion.sig".into(),
        };
        let _ = c.credential().0;
        let printed = format!("{c:?}");
        assert!(!printed.contains("secret-assertion"), "{printed}");
    }

    #[test]
    fn read_budgets_are_taken_per_check_with_their_windows() {
        let limits = RateLimits::default();
        limits.record(
            "Microsoft.Compute/GetVMScaleSet3Min;197,Microsoft.Compute/GetVMScaleSet30Min;1297",
        );
        limits.record(
            "Microsoft.Compute/GetVMScaleSet3Min;195, Microsoft.Compute/GetVMScaleSet30Min;1295",
        );
        limits.record("Microsoft.Compute/HighCostGetVMScaleSet3Min;107,garbage,NoWindow;3");
        let minute = Duration::from_secs(60);
        let b = |name: &str, window, remaining, per_check| {
            (
                name.to_string(),
                crate::wait::Bucket {
                    window: Duration::from_secs(window),
                    remaining,
                    per_check,
                },
            )
        };
        assert_eq!(
            limits.take(minute),
            vec![
                b("Microsoft.Compute/GetVMScaleSet30Min", 1800, 1295, 2),
                b("Microsoft.Compute/GetVMScaleSet3Min", 180, 195, 2),
                b("Microsoft.Compute/HighCostGetVMScaleSet3Min", 180, 107, 1),
            ]
        );
        assert!(limits.take(minute).is_empty(), "each check starts afresh");
    }

    #[test]
    fn only_instance_listings_get_their_expand_back() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        let set = "https://arm/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines?api-version=1&$skiptoken=2";
        let expands = |u: url::Url| {
            u.query_pairs()
                .any(|(k, v)| k == "$expand" && v == "instanceView")
        };
        assert!(with_instance_view(&url(set)).is_some_and(expands));
        let flexible = "https://arm/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines?api-version=1&$filter='virtualMachineScaleSet/id' eq 'x'&$skiptoken=2";
        assert!(with_instance_view(&url(flexible)).is_some());
        // The group's plain listing (the proof of absence): Azure refuses `$expand` there.
        let group = "https://arm/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines?api-version=1&$skiptoken=2";
        assert_eq!(with_instance_view(&url(group)), None);
        let expanded = format!("{set}&$expand=instanceView");
        assert_eq!(with_instance_view(&url(&expanded)), None);
    }

    #[test]
    fn orchestration_services_and_the_zone_balance_policy_read_as_azure_writes_them() {
        // The instance view as Microsoft's zone balance documentation shows it.
        let view = serde_json::json!({"orchestrationServices": [
            {"serviceName": "AutomaticRepairs", "serviceState": "Running"},
            {"serviceName": "AutomaticZoneRebalancing", "serviceState": "Running",
             "latestOperationStatus": "InProgress", "lastStatusChangeTime": ""}
        ]});
        let s = Services::read(&view);
        assert_eq!(s.repairs.as_deref(), Some("Running"));
        assert!(s.rebalancing && !s.repairs_stopped());
        let done = serde_json::json!({"orchestrationServices": [
            {"serviceName": "automaticRepairs", "serviceState": "Suspended"},
            {"serviceName": "AutomaticZoneRebalancing", "serviceState": "Running",
             "latestOperationStatus": "Completed"}
        ]});
        let s = Services::read(&done);
        assert!(!s.rebalancing && s.repairs_stopped());
        // Nothing listed: repairs' state unknown (not stopped), no rebalance.
        let none = Services::read(&serde_json::json!({"statuses": []}));
        assert_eq!(none, Services::default());
        assert!(!none.repairs_stopped());
        let set = |p: serde_json::Value| serde_json::json!({"properties": p});
        assert!(zone_rebalancing(&set(
            serde_json::json!({"resiliencyPolicy": {
                "automaticZoneRebalancingPolicy": {"enabled": true, "rebalanceStrategy": "Recreate"}
            }})
        )));
        assert!(!zone_rebalancing(&set(
            serde_json::json!({"resiliencyPolicy": {
                "resilientVMDeletionPolicy": {"enabled": true}
            }})
        )));
    }

    #[test]
    fn a_scale_set_model_says_its_repairs_and_resiliency_policies() {
        let vmss: compute::models::VirtualMachineScaleSet = serde_json::from_value(
            serde_json::json!({"location": "westeurope", "id": "/x", "properties": {
                "automaticRepairsPolicy": {"enabled": true, "gracePeriod": "PT30M", "repairAction": "Reimage"},
                "resiliencyPolicy": {"resilientVMCreationPolicy": {"enabled": true},
                                     "resilientVMDeletionPolicy": {"enabled": false}}
            }}),
        )
        .unwrap();
        let r = scale_set_from_model(&vmss).replacements;
        let repairs = r.repairs.clone().expect("enabled");
        assert_eq!(repairs.grace_text(), "PT30M");
        assert_eq!(repairs.action, "Reimage");
        assert!(r.resilient_creates && !r.resilient_deletes && r.watched());
        // Off, or on without a grace period or action: Azure's defaults.
        let off: compute::models::VirtualMachineScaleSet =
            serde_json::from_value(serde_json::json!({"location": "westeurope", "properties": {
                "automaticRepairsPolicy": {"enabled": false, "gracePeriod": "PT30M"}}}))
            .unwrap();
        assert_eq!(
            scale_set_from_model(&off).replacements,
            Replacements::default()
        );
        let bare: compute::models::VirtualMachineScaleSet =
            serde_json::from_value(serde_json::json!({"location": "westeurope", "properties": {
                "automaticRepairsPolicy": {"enabled": true}}}))
            .unwrap();
        let repairs = scale_set_from_model(&bare).replacements.repairs.unwrap();
        assert_eq!(
            (repairs.grace_text(), repairs.action.as_str()),
            ("PT10M", "Replace")
        );
    }

    #[test]
    fn every_shape_of_azure_error_body_gives_its_code_and_first_line() {
        let arm = br#"{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'x' could not be found."}}"#;
        assert_eq!(
            error_fields(arm),
            (
                Some("ResourceGroupNotFound".into()),
                Some("Resource group 'x' could not be found.".into())
            )
        );
        let throttle = br#"{"code":"OperationNotAllowed","message":"The server rejected the request because too many requests have been received for this subscription."}"#;
        assert_eq!(
            error_fields(throttle).0.as_deref(),
            Some("OperationNotAllowed")
        );
        let aad = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1\r\nCorrelation ID: 2"}"#;
        assert_eq!(
            error_fields(aad),
            (
                Some("invalid_client".into()),
                Some("AADSTS7000215: Invalid client secret provided.".into())
            )
        );
        assert_eq!(error_fields(b"<html>"), (None, None));
    }
}
