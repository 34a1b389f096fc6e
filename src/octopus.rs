//! The Octopus side: list the deployment targets in scope (every page), delete targets.
//!
//! The API key travels only in the `X-Octopus-ApiKey` header, an access token only in
//! `Authorization: Bearer`, marked sensitive so no Debug print of a request shows either.
//! Throttles, server errors and network faults are retried a few times with backoff (`backon`),
//! honouring `Retry-After` only while it is short.

use crate::error::{Failure, FailureKind};
use crate::output::Reporter;
use crate::paging::Pages;
use crate::permissions::PermissionSet;
use crate::reconcile::{Participation, Scope, Target, Tenant};
use crate::retry::{retrying, Budget, RetryPolicy};
use crate::signin::OctopusCredential;
use crate::target_tags::TagSet;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Page size for target listings: most fleets fit in one page, and no page is huge.
pub const PAGE_SIZE: usize = 500;

/// An Octopus collection page. Older servers omit some fields, so all are optional; a listing
/// the step decides on refuses a page without `Items` ([`OctopusClient::all_pages`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Page<T> {
    /// The items of this page (`None`: the page has no list at all).
    pub items: Option<Vec<T>>,
    /// How many items the whole collection has.
    pub total_results: Option<usize>,
    /// Links, `Page.Next` among them.
    #[serde(default)]
    pub links: HashMap<String, String>,
}

/// A deployment target as the API returns it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Machine {
    id: String,
    name: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    environment_ids: Vec<String>,
    #[serde(default)]
    tenant_ids: Vec<String>,
    #[serde(default)]
    tenant_tags: Vec<String>,
    /// Absent on servers older than tenanted participation.
    tenanted_deployment_participation: Option<String>,
    #[serde(default)]
    is_disabled: bool,
}

impl From<Machine> for Target {
    fn from(m: Machine) -> Target {
        let linked = !m.tenant_ids.is_empty() || !m.tenant_tags.is_empty();
        Target {
            participation: Participation::parse(
                m.tenanted_deployment_participation.as_deref(),
                linked,
            ),
            id: m.id,
            // Anyone who can register a Tentacle names a target: its control characters
            // are escaped once, here, for every log line and record that shows it.
            name: crate::output::printable(&m.name).into_owned(),
            roles: m.roles,
            environment_ids: m.environment_ids,
            tenant_ids: m.tenant_ids,
            tenant_tags: m.tenant_tags,
            disabled: m.is_disabled,
        }
    }
}

/// A tenant, for the tags it carries.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TenantResource {
    id: String,
    #[serde(default)]
    tenant_tags: Vec<String>,
}

/// Octopus's error body.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
struct ErrorBody {
    error_message: Option<String>,
    #[serde(default)]
    errors: Vec<String>,
}

/// The signed-in user, as `GET /api/users/me` answers.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    /// `Users-N`.
    pub id: String,
    /// Its user name.
    #[serde(default)]
    pub username: Option<String>,
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// The target was removed.
    Removed,
    /// It was already gone (another run, or a person, removed it first).
    AlreadyGone,
}

/// A client for one Octopus space.
pub struct OctopusClient {
    http: reqwest::Client,
    base: Url,
    space: Option<String>,
    headers: HeaderMap,
    retry: RetryPolicy,
    /// Shared by every call: ends a fixed time past the deadline, from the step's start on.
    budget: Budget,
    request_timeout: Duration,
    reporter: Arc<Reporter>,
    /// How the step signs in, for what a 401 says.
    credential: OctopusCredential,
}

impl OctopusClient {
    /// A client for `base` (ending in `/`, any path prefix kept) and the run's space.
    pub fn new(
        base: &Url,
        credential: &OctopusCredential,
        space: Option<&str>,
        request_timeout: Duration,
        reporter: Arc<Reporter>,
    ) -> Result<Self, Failure> {
        let (name, value) = credential.header().ok_or_else(|| {
            Failure::permanent("VMSS.Octopus.ApiKey holds characters an HTTP header cannot carry: paste the key again.")
        })?;
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Ok(OctopusClient {
            http: crate::http::client(request_timeout),
            base: base.clone(),
            space: space.map(str::to_string),
            headers,
            retry: RetryPolicy::default(),
            budget: Budget::default(),
            request_timeout,
            reporter,
            credential: credential.clone(),
        })
    }

    /// From now on every call, retries included, ends by `ends`.
    pub fn end_calls_at(&self, ends: tokio::time::Instant) {
        self.budget.end_at(ends);
    }

    /// True once the calls' time is spent.
    pub fn out_of_time(&self) -> bool {
        self.budget.spent()
    }

    /// `{base}api/{space}/{rest}`, or `{base}api/{rest}` on servers without spaces.
    pub fn api(&self, rest: &str) -> Url {
        let path = match &self.space {
            Some(space) => format!("api/{space}/{rest}"),
            None => format!("api/{rest}"),
        };
        self.base
            .join(&path)
            .expect("API paths are valid relative URLs")
    }

    /// `{base}api/{rest}`: endpoints outside any space (events take a `spaces` filter).
    pub fn base_api(&self, rest: &str) -> Url {
        self.base
            .join(&format!("api/{rest}"))
            .expect("API paths are valid relative URLs")
    }

    /// Resolves a `Links` value against the configured server URL, the one place the API key
    /// is sent:
    /// - `~/api/...` is relative to the server's root, which is the configured URL;
    /// - `/octopus/api/...` already carries the configured URL's path;
    /// - `/api/...` without that path comes from a server behind a reverse proxy that serves
    ///   it under a path it does not know about: the configured path is put in front;
    /// - an absolute link is followed only on the configured server's origin.
    pub fn link(&self, link: &str) -> Option<Url> {
        if let Some(rest) = link.strip_prefix("~/") {
            return self.base.join(rest).ok();
        }
        let resolved = self.base.join(link).ok()?;
        if resolved.origin() != self.base.origin() {
            return None;
        }
        let prefix = self.base.path();
        let path = resolved.path();
        let has_prefix = path
            .get(..prefix.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(prefix));
        let is_api =
            path.eq_ignore_ascii_case("/api") || path.to_ascii_lowercase().starts_with("/api/");
        if prefix != "/" && !has_prefix && is_api {
            let mut fixed = self.base.join(path.trim_start_matches('/')).ok()?;
            fixed.set_query(resolved.query());
            return Some(fixed);
        }
        Some(resolved)
    }

    /// Lists the targets in the run's environment with the roles, through every page.
    /// Role, tenant and participation rules are enforced by [`Scope::contains`]; this only
    /// narrows the listing. It does not narrow by tenant: `tenantIds` would drop the targets
    /// linked to the tenant by a tag.
    pub async fn targets(&self, scope: &Scope) -> Result<Vec<Target>, Failure> {
        let mut url = self.api("machines");
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("environmentIds", &scope.environment_id);
            q.append_pair("roles", &scope.roles.join(","));
            q.append_pair("skip", "0");
            q.append_pair("take", &PAGE_SIZE.to_string());
        }
        let machines: Vec<Machine> = self.all_pages(url, "list deployment targets").await?;
        Ok(machines.into_iter().map(Target::from).collect())
    }

    /// The preflight: reads the run's environment, which shows in one request that the key is
    /// accepted and that the space and the environment exist on this server.
    pub async fn environment(&self, id: &str) -> Result<(), Failure> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Environment {
            #[allow(dead_code)]
            id: String,
        }
        let doing = format!("read this run's environment {id}");
        match self
            .get_json::<Environment>(&self.api(&format!("environments/{id}")), &doing)
            .await
        {
            Err(f) if f.kind == FailureKind::NotFound => Err(Failure::new(
                FailureKind::NotFound,
                format!(
                    "Octopus at {} has no environment {id}{}: VMSS.Octopus.Url must be the Octopus Server running this deployment, with its path prefix if it has one.",
                    self.base,
                    self.space
                        .as_deref()
                        .map(|s| format!(" in space {s}"))
                        .unwrap_or_default()
                ),
            )),
            other => other.map(|_| ()),
        }
    }

    /// Reads the run's tenant for the tags it carries: a target linked to one of them is the
    /// tenant's as much as one linked by id.
    pub async fn tenant(&self, id: &str) -> Result<Tenant, Failure> {
        let t: TenantResource = self
            .get_json(
                &self.api(&format!("tenants/{id}")),
                &format!("read tenant {id}"),
            )
            .await?;
        Ok(Tenant {
            id: t.id,
            tags: t.tenant_tags,
        })
    }

    /// Reads a collection through every page, de-duplicating items by `Id`. A listing the
    /// step decides on must be whole, so paging that is cut short fails instead of ending:
    /// - a `Page.Next` that may not be followed (another origin: the API key stays home) or
    ///   does not advance (a link already read, a page with nothing new), or a page without
    ///   `Items`, is an error naming the server's paging;
    /// - a last page without `Page.Next` while `TotalResults` says more items exist (Octopus
    ///   2023.1 did this, OctopusDeploy/Issues#8112; old servers send no links at all) pages on
    ///   by `skip`;
    /// - a pass still short of its `TotalResults` was read while the list changed (Tentacles
    ///   register during the very scale-out the step serves, shifting the pages): the listing
    ///   is read again, after a pause ([`next_pass`]), until one pass is whole. It fails, naming
    ///   the paging, when a pass comes up short exactly as the one before (the server's count
    ///   is wrong, not changing), after [`MAX_PASSES`], or when the step's time
    ///   (the calls' [`Budget`]) would run out first.
    pub async fn all_pages<T: DeserializeOwned + HasId>(
        &self,
        first: Url,
        doing: &str,
    ) -> Result<Vec<T>, Failure> {
        // The pass before, when it came up short: its count and the ids it held.
        let mut previous: Option<(usize, HashSet<String>)> = None;
        let mut pass = 1;
        loop {
            let short = |total: usize, held: usize, why: &str| {
                Failure::permanent(format!(
                    "Octopus's paging came up short while trying to {doing}: it counted {total} items (TotalResults) but its pages held {held}, {why}. Nothing was removed, since the listing is incomplete; check the Octopus Server (or a proxy in front of it) and run the step again."
                ))
            };
            let (items, ids, total) = match self.one_pass(&first, doing).await {
                Ok(read) => read,
                // Time ran out while the listing was read again: it is still the paging that
                // left it incomplete.
                Err(f) if f.kind == FailureKind::Timeout && self.budget.spent() => {
                    return Err(match &previous {
                        Some((total, before)) => short(*total, before.len(), &format!("and the step's time (2 minutes past VMSS.Timeout.Value) ran out during read {pass}")),
                        None => f,
                    })
                }
                Err(f) => return Err(f),
            };
            let Some(total) = total.filter(|t| ids.len() < *t) else {
                return Ok(items);
            };
            let changed = previous
                .as_ref()
                .is_none_or(|(t, before)| *t != total || *before != ids);
            let pause = match next_pass(pass, changed, self.budget.remaining()) {
                Ok(pause) => pause,
                Err(NoPass::Unchanged) => return Err(short(total, ids.len(), "twice")),
                Err(NoPass::TooMany) => {
                    return Err(short(total, ids.len(), &format!("and it kept changing through {pass} reads")))
                }
                Err(NoPass::OutOfTime) => {
                    return Err(short(total, ids.len(), &format!("and it kept changing through {pass} reads until the step's time (2 minutes past VMSS.Timeout.Value) ran out")))
                }
            };
            self.reporter.verbose(&format!(
                "Octopus counted {total} items but the pages held {} while trying to {doing} (the list changed while it was read): reading it again in {:.1}s.",
                ids.len(),
                pause.as_secs_f64()
            ));
            tokio::time::sleep(pause).await;
            previous = Some((total, ids));
            pass += 1;
        }
    }

    /// Reads every page once: the pass's items (each once), their ids, and the last page's
    /// `TotalResults`.
    async fn one_pass<T: DeserializeOwned + HasId>(
        &self,
        first: &Url,
        doing: &str,
    ) -> Result<(Vec<T>, HashSet<String>, Option<usize>), Failure> {
        let mut url = first.clone();
        // The one paging rule ([`crate::paging`]): a page without `Items`, a page of items
        // already listed, or a link already read fails the listing.
        let mut rule = Pages::starting_at(first.as_str());
        let mut out = Vec::new();
        let mut in_pass = HashSet::new();
        loop {
            let page: Page<T> = self.get_json(&url, doing).await?;
            let total = page.total_results;
            let ids: Option<Vec<String>> = page
                .items
                .as_ref()
                .map(|items| items.iter().map(|i| i.id().to_string()).collect());
            let items = page.items.unwrap_or_default();
            let count = items.len();
            for item in items {
                if in_pass.insert(item.id().to_string()) {
                    out.push(item);
                }
            }
            let next = match page.links.get("Page.Next") {
                Some(link) => match self.next_page(first, link) {
                    Ok(next) => Some(next),
                    Err(why) => return Err(paging_failure(doing, &why)),
                },
                // No Page.Next: done, unless the count says more items exist (a server that
                // dropped the link): page on by skip, always forward.
                None => {
                    let skip = skip_of(&url) + count;
                    match total {
                        Some(total) if count > 0 && in_pass.len() < total && skip < total => {
                            Some(with_skip(&url, skip))
                        }
                        _ => None,
                    }
                }
            };
            let ids = ids.as_ref().map(|v| v.iter().map(String::as_str));
            match rule.advance(ids, next.as_ref().map(Url::as_str)) {
                Err(fault) => return Err(paging_failure(doing, &fault.to_string())),
                Ok(Some(_)) => url = next.expect("the rule follows only a link it was given"),
                Ok(None) => return Ok((out, in_pass, total)),
            }
        }
    }

    /// Where a `Page.Next` link leads: resolved against the configured server ([`Self::link`]),
    /// with any parameter of the first request that the server left out put back. Octopus
    /// rebuilds the link from the parameters its route declares; one it drops would make page
    /// 2 a page of a different, unfiltered collection. A link the step may not follow (another
    /// origin) is an error saying why: the listing is cut short, never finished.
    fn next_page(&self, first: &Url, link: &str) -> Result<Url, String> {
        let Some(mut next) = self.link(link) else {
            return Err(format!(
                "its Page.Next link ({}) leads away from VMSS.Octopus.Url ({}), and the API key is sent to no other server",
                crate::output::printable(link),
                self.base.origin().ascii_serialization()
            ));
        };
        let kept: HashSet<String> = next.query_pairs().map(|(k, _)| k.into_owned()).collect();
        let dropped: Vec<(String, String)> = first
            .query_pairs()
            .filter(|(k, _)| k != "skip" && !kept.contains(k.as_ref()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if !dropped.is_empty() {
            next.query_pairs_mut().extend_pairs(dropped);
        }
        Ok(next)
    }

    /// Deletes a target. A 404 means someone else already did.
    pub async fn delete_target(&self, id: &str) -> Result<Deleted, Failure> {
        let url = self.api(&format!("machines/{id}"));
        match self
            .send(Method::DELETE, &url, &format!("delete target {id}"))
            .await
        {
            Ok(_) => Ok(Deleted::Removed),
            Err((Some(StatusCode::NOT_FOUND), _)) => Ok(Deleted::AlreadyGone),
            Err((_, f)) => Err(f),
        }
    }

    /// GETs and parses JSON, with retries.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &Url,
        doing: &str,
    ) -> Result<T, Failure> {
        let response = self
            .send(Method::GET, url, doing)
            .await
            .map_err(|(_, f)| f)?;
        self.parse(response, url, doing).await
    }

    /// Like [`Self::get_json`], but a 404 is an answer: the server has no such route (or
    /// document), `None`.
    async fn get_json_if_there<T: DeserializeOwned>(
        &self,
        url: &Url,
        doing: &str,
    ) -> Result<Option<T>, Failure> {
        match self.send(Method::GET, url, doing).await {
            Ok(response) => self.parse(response, url, doing).await.map(Some),
            Err((Some(StatusCode::NOT_FOUND), _)) => Ok(None),
            Err((_, f)) => Err(f),
        }
    }

    async fn parse<T: DeserializeOwned>(
        &self,
        response: reqwest::Response,
        url: &Url,
        doing: &str,
    ) -> Result<T, Failure> {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| network(url, doing, &e))?;
        serde_json::from_slice(crate::http::without_bom(&bytes)).map_err(|e| {
            Failure::permanent(format!(
                "The server at {} did not answer like an Octopus Server while trying to {doing} ({e}). Check VMSS.Octopus.Url, including any path prefix.",
                self.base
            ))
        })
    }

    /// The signed-in user (`GET /api/users/me`); `None` when the server has no such route. Its
    /// name is escaped once, here, like a target's: anyone with the right names users.
    pub async fn current_user(&self) -> Result<Option<User>, Failure> {
        let user: Option<User> = self
            .get_json_if_there(&self.base_api("users/me"), "read the signed-in user")
            .await?;
        Ok(user.map(|u| User {
            username: u
                .username
                .map(|n| crate::output::printable(&n).into_owned()),
            ..u
        }))
    }

    /// What `user` may do in the run's space (`GET /api/{spaceId}/users/{id}/permissions`, in
    /// the 2020.5 Swagger and today's API alike); `None` when the server has no such route.
    pub async fn permissions(&self, user: &str) -> Result<Option<PermissionSet>, Failure> {
        self.get_json_if_there(
            &self.api(&format!("users/{user}/permissions")),
            "read the signed-in user's permissions",
        )
        .await
    }

    /// The space's target tag sets (`GET /api/{spaceId}/tagsets/all?scopes=Target`, Octopus
    /// 2025.4 and later): each set's name and tags. A server older than target tag sets ignores
    /// `scopes` and sends its tenant tag sets without `Scopes`: those are not target tag sets,
    /// so it has none.
    pub async fn target_tag_sets(&self) -> Result<Vec<TagSet>, Failure> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct TagSetResource {
            #[serde(default)]
            name: String,
            #[serde(default)]
            scopes: Option<Vec<String>>,
            #[serde(default)]
            tags: Option<Vec<TagResource>>,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct TagResource {
            #[serde(default)]
            name: String,
        }
        let mut url = self.api("tagsets/all");
        url.query_pairs_mut().append_pair("scopes", "Target");
        let sets: Vec<TagSetResource> = self.get_json(&url, "read the target tag sets").await?;
        Ok(sets
            .into_iter()
            .filter(|s| {
                s.scopes
                    .iter()
                    .flatten()
                    .any(|scope| scope.eq_ignore_ascii_case("Target"))
            })
            .map(|s| TagSet {
                name: crate::output::printable(&s.name).into_owned(),
                tags: s.tags.into_iter().flatten().map(|t| t.name).collect(),
            })
            .collect())
    }

    /// POSTs with an empty body, with retries.
    pub async fn post(&self, url: &Url, doing: &str) -> Result<(), Failure> {
        self.send(Method::POST, url, doing)
            .await
            .map(|_| ())
            .map_err(|(_, f)| f)
    }

    /// Sends with retries on throttles, server errors and network faults. On failure, also
    /// returns the final status, so callers can treat a 404 as an answer.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        doing: &str,
    ) -> Result<reqwest::Response, (Option<StatusCode>, Failure)> {
        let attempt = || async {
            // No try outlives the budget (the retry wrapper cuts it off at the end anyway).
            let timeout = self
                .budget
                .remaining()
                .map_or(self.request_timeout, |left| left.min(self.request_timeout));
            let response = self
                .http
                .request(method.clone(), url.clone())
                .headers(self.headers.clone())
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| (None, network(url, doing, &e)))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::error::parse_retry_after);
            let body: ErrorBody = response
                .bytes()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice(crate::http::without_bom(&b)).ok())
                .unwrap_or_default();
            Err((
                Some(status),
                self.http_failure(status, body, retry_after, doing),
            ))
        };
        retrying(self.retry, &self.budget, &self.reporter, attempt).await
    }

    /// What a 401 says: Octopus refused the key or the token, most likely because it expired,
    /// and what to do about each.
    fn rejected(&self, said: &str) -> String {
        match &self.credential {
            OctopusCredential::ApiKey(_) => format!(
                "Octopus rejected the API key in VMSS.Octopus.ApiKey (HTTP 401{said}). The key may have expired or been revoked: keys made on Octopus 2025.4 and later expire (after 180 days by default), and a revoked key or a deactivated user is refused the same way. Make a new key on the service account's profile (Configuration -> Users -> the service account -> API Keys -> New API key) and put it in VMSS.Octopus.ApiKey."
            ),
            OctopusCredential::AccessToken { expires, .. } => {
                let now = time::OffsetDateTime::now_utc();
                let when = match expires {
                    Some(at) if *at <= now => format!(
                        "The token expired at {} ({} ago).",
                        crate::signin::utc(*at),
                        crate::signin::minutes(now - *at)
                    ),
                    Some(at) => format!(
                        "The token expires only at {}, so Octopus refused it for another reason (a token from another Octopus Server, or its service account deactivated).",
                        crate::signin::utc(*at)
                    ),
                    None => "The token says nothing of when it expires.".into(),
                };
                format!(
                    "Octopus rejected the access token in VMSS.Octopus.ApiKey (HTTP 401{said}). {when} Access tokens last one hour: run the step \"Octopus - Authenticate with OIDC\" in the same deployment, shortly before this one, and bind its output ({}, with that step's name between the brackets).",
                    crate::signin::TOKEN_BINDING
                )
            }
        }
    }

    fn http_failure(
        &self,
        status: StatusCode,
        body: ErrorBody,
        retry_after: Option<Duration>,
        doing: &str,
    ) -> Failure {
        let mut detail = body.error_message.unwrap_or_default();
        if let Some(first) = body.errors.first().filter(|e| !detail.contains(e.as_str())) {
            detail = format!("{detail} {first}");
        }
        let detail = crate::output::printable(detail.trim().trim_end_matches('.')).into_owned();
        let said = if detail.is_empty() {
            String::new()
        } else {
            format!(": {detail}")
        };
        let code = status.as_u16();
        let kind = FailureKind::from_status(code);
        let who = if self.credential.is_token() {
            "access token"
        } else {
            "API key"
        };
        let message = match kind {
            FailureKind::Unauthorized => self.rejected(&said),
            FailureKind::Forbidden => format!("The user of the {who} in VMSS.Octopus.ApiKey may not {doing} (HTTP 403{said}). Give its team these permissions in this space and environment: {} (TaskCancel only for VMSS.Duplicate.Handle=Cancel).", PERMISSIONS.join(", ")),
            FailureKind::NotFound => format!("Octopus answered 404 Not Found while trying to {doing}{said}. Check VMSS.Octopus.Url (including any path prefix) and the space."),
            // Octopus 2026.3 limits API requests per user and node (on by default in Octopus
            // Cloud): a 429 asks the step to slow down, and is retried like Azure's.
            FailureKind::Throttled => format!("Octopus throttled the step while trying to {doing} (HTTP 429{said}): its API rate limit for this API key's user was reached."),
            k if k.is_transient() => format!("Octopus failed to {doing} (HTTP {code}{said})."),
            _ => format!("Octopus refused to {doing} (HTTP {code}{said})."),
        };
        Failure::new(kind, message).retry_after(retry_after)
    }
}

/// Every Octopus permission the step's API key may need, by Octopus's names (the README's
/// table says why each): a 403 names them all, so one fix covers every phase.
pub const PERMISSIONS: &[&str] = &[
    "EnvironmentView",
    "MachineView",
    "MachineDelete",
    "TaskView",
    "DeploymentView",
    "RunbookRunView",
    "EventView",
    "TenantView",
    "TaskCancel",
];

/// How many times one listing is read before it counts as never settling.
pub const MAX_PASSES: u32 = 8;
/// The pause before the second read of a listing that changed; it doubles for each further
/// read, up to [`MAX_PASS_PAUSE`], so a listing that keeps changing is not hammered.
const FIRST_PASS_PAUSE: Duration = Duration::from_millis(250);
/// The longest pause between two reads of one listing.
const MAX_PASS_PAUSE: Duration = Duration::from_secs(4);

/// Why a listing that came up short is not read again.
#[derive(Debug, PartialEq, Eq)]
enum NoPass {
    /// The pass held exactly what the one before did, short of the same count: the server's
    /// count or paging is wrong, and reading again will not change it.
    Unchanged,
    /// [`MAX_PASSES`] reads, none whole.
    TooMany,
    /// The pause would end past the step's time (`left` of the calls' budget).
    OutOfTime,
}

/// After read number `pass` of a listing came up short: how long to pause before reading it
/// again, or why not to. `changed`: the pass differed from the one before (or was the first);
/// `left`: what is left of the calls' budget (`None`: unlimited).
fn next_pass(pass: u32, changed: bool, left: Option<Duration>) -> Result<Duration, NoPass> {
    if !changed {
        return Err(NoPass::Unchanged);
    }
    if pass >= MAX_PASSES {
        return Err(NoPass::TooMany);
    }
    let pause = FIRST_PASS_PAUSE
        .saturating_mul(1 << (pass - 1).min(16))
        .min(MAX_PASS_PAUSE);
    match left {
        Some(left) if pause >= left => Err(NoPass::OutOfTime),
        _ => Ok(pause),
    }
}

/// A listing whose paging cannot be trusted: nothing may be decided on it.
fn paging_failure(doing: &str, why: &str) -> Failure {
    Failure::permanent(format!(
        "Octopus's paging cut the listing short while trying to {doing}: {why}. Nothing was removed, since the listing is incomplete; check the Octopus Server's address (VMSS.Octopus.Url must be the address the server itself uses, as in its Links) and any proxy in front of it."
    ))
}

/// Items that can be de-duplicated across pages.
pub trait HasId {
    /// The Octopus document id.
    fn id(&self) -> &str;
}

impl HasId for Machine {
    fn id(&self) -> &str {
        &self.id
    }
}

fn skip_of(url: &Url) -> usize {
    url.query_pairs()
        .find(|(k, _)| k == "skip")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

fn with_skip(url: &Url, skip: usize) -> Url {
    let mut next = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "skip")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    next.query_pairs_mut()
        .clear()
        .extend_pairs(pairs)
        .append_pair("skip", &skip.to_string());
    next
}

fn network(url: &Url, doing: &str, e: &reqwest::Error) -> Failure {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let kind = crate::http::classify(e);
    let (what, check) = match kind {
        FailureKind::Timeout => ("got no answer in time", "that the server is up and answering, and VMSS.Octopus.Url"),
        FailureKind::Dns => ("failed: the host name does not resolve", "VMSS.Octopus.Url and the worker's DNS"),
        FailureKind::Tls => ("failed a TLS check", "that the worker trusts the server's certificate (its CA in the system store or SSL_CERT_FILE), and VMSS.Octopus.Url"),
        FailureKind::ConnectionRefused => ("was refused", "VMSS.Octopus.Url (host and port)"),
        _ => ("failed", "VMSS.Octopus.Url"),
    };
    Failure::new(
        kind,
        format!(
            "A request to Octopus at {} {what} while trying to {doing} ({cause}). Check {check}, and the worker's network and proxy settings.",
            url.origin().ascii_serialization()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redacted::Redactor;

    fn client(base: &str, space: Option<&str>) -> OctopusClient {
        let reporter = Arc::new(Reporter::to_writer(
            Redactor::default(),
            Box::new(std::io::sink()),
        ));
        OctopusClient::new(
            &Url::parse(base).unwrap(),
            &OctopusCredential::parse("API-X").unwrap(),
            space,
            crate::settings::REQUEST_TIMEOUT,
            reporter,
        )
        .unwrap()
    }

    #[test]
    fn api_paths_keep_the_prefix_and_links_resolve_against_the_origin() {
        let c = client("https://octo.example.com/octopus/", Some("Spaces-1"));
        assert_eq!(
            c.api("machines").as_str(),
            "https://octo.example.com/octopus/api/Spaces-1/machines"
        );
        assert_eq!(
            c.link("/octopus/api/Spaces-1/machines?skip=30")
                .unwrap()
                .as_str(),
            "https://octo.example.com/octopus/api/Spaces-1/machines?skip=30"
        );
        let c = client("https://octo.example.com/", None);
        assert_eq!(
            c.api("machines/Machines-1").as_str(),
            "https://octo.example.com/api/machines/Machines-1"
        );
    }

    #[test]
    fn links_resolve_against_the_configured_url_however_the_server_writes_them() {
        let c = client("https://octo.example.com/octopus/", Some("Spaces-1"));
        let want = "https://octo.example.com/octopus/api/Spaces-1/machines?skip=30&take=30";
        for link in [
            "/octopus/api/Spaces-1/machines?skip=30&take=30",
            "~/api/Spaces-1/machines?skip=30&take=30",
            // Behind a reverse proxy that serves the server under /octopus.
            "/api/Spaces-1/machines?skip=30&take=30",
            "https://octo.example.com/api/Spaces-1/machines?skip=30&take=30",
        ] {
            assert_eq!(
                c.link(link).map(String::from).as_deref(),
                Some(want),
                "{link}"
            );
        }
        // The key never goes to another origin.
        assert_eq!(
            c.link("https://elsewhere.example.com/api/Spaces-1/machines"),
            None
        );
        // Without a path prefix, links stay as they are.
        let c = client("https://octo.example.com/", Some("Spaces-1"));
        assert_eq!(
            c.link("~/api/Spaces-1/machines?skip=30").unwrap().as_str(),
            "https://octo.example.com/api/Spaces-1/machines?skip=30"
        );
        assert_eq!(
            c.link("/api/Spaces-1/machines?skip=30").unwrap().as_str(),
            "https://octo.example.com/api/Spaces-1/machines?skip=30"
        );
    }

    #[test]
    fn a_page_next_link_keeps_every_parameter_of_the_first_request() {
        let c = client("https://octo.example.com/octopus/", Some("Spaces-1"));
        let first = c.api("machines?environmentIds=Environments-1&roles=web&skip=0&take=500");
        // Octopus keeps only the parameters its route declares.
        let next = c
            .next_page(
                &first,
                "/octopus/api/Spaces-1/machines?skip=500&take=500&roles=web",
            )
            .expect("followed");
        assert_eq!(
            next.as_str(),
            "https://octo.example.com/octopus/api/Spaces-1/machines?skip=500&take=500&roles=web&environmentIds=Environments-1"
        );
        // Another origin is refused, never taken for the last page.
        assert!(c
            .next_page(
                &first,
                "https://elsewhere.example.com/octopus/api/Spaces-1/machines?skip=500"
            )
            .is_err());
    }

    #[test]
    fn a_listing_that_changed_is_read_again_with_growing_pauses_within_its_time() {
        let ms = Duration::from_millis;
        assert_eq!(next_pass(1, true, None), Ok(ms(250)));
        assert_eq!(next_pass(2, true, None), Ok(ms(500)));
        assert_eq!(next_pass(5, true, Some(ms(60_000))), Ok(ms(4000)));
        assert_eq!(next_pass(7, true, None), Ok(ms(4000)));
        // Short exactly as before: the count is wrong, reading again changes nothing.
        assert_eq!(next_pass(1, false, None), Err(NoPass::Unchanged));
        assert_eq!(next_pass(MAX_PASSES, true, None), Err(NoPass::TooMany));
        // The pause must end inside the step's time.
        assert_eq!(next_pass(3, true, Some(ms(999))), Err(NoPass::OutOfTime));
        assert_eq!(next_pass(3, true, Some(ms(1001))), Ok(ms(1000)));
    }

    #[test]
    fn skip_is_replaced() {
        let u = Url::parse("http://x/api/machines?roles=a%2Cb&skip=0&take=500").unwrap();
        assert_eq!(
            with_skip(&u, 500).as_str(),
            "http://x/api/machines?roles=a%2Cb&take=500&skip=500"
        );
    }

    #[test]
    fn task_pages_from_an_old_server_deserialize() {
        // A real capture from OctopusClients: BOM, no NumberOfPages, relative Page.Next.
        let raw = include_bytes!("../tests/fixtures/octopus/tasks.skip=0.GET.json");
        assert!(
            raw.starts_with(b"\xEF\xBB\xBF"),
            "the capture keeps its BOM"
        );
        // Read as the client reads every body: the BOM skipped first.
        let text = std::str::from_utf8(crate::http::without_bom(raw)).unwrap();
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Task {
            id: String,
        }
        let page: Page<Task> = serde_json::from_str(text).unwrap();
        assert_eq!(page.total_results, Some(139));
        let items = page.items.expect("Items");
        assert_eq!(items.len(), 30);
        assert!(items[0].id.starts_with("ServerTasks-"));
        assert_eq!(
            page.links["Page.Next"],
            "/api/machines/Machines-1/tasks?skip=30"
        );
    }
}
