//! The Octopus side: list the deployment targets in scope (every page), delete targets.
//!
//! This module is the client and its wire (sign-in headers, retries); `refusal` classifies
//! a failed call into an `OctopusRefusal`, which keeps its status and kind (its words are
//! `report/octopus.rs`'s); `listing` reads a collection through every page, until one read
//! is whole; `resources` holds the resources the step reads (targets, the run's environment
//! and tenant, the user and its permissions, target tag sets).
//!
//! The API key travels only in the `X-Octopus-ApiKey` header, an access token only in
//! `Authorization: Bearer`, marked sensitive so no Debug print of a request shows either.
//! Throttles, server errors and network faults are retried a few times with backoff (`backon`),
//! honouring `Retry-After` only while it is short.

use crate::error::octopus::{Answer, Credential, OctopusRefusal};
use crate::error::{Failure, FailureKind};
use crate::output::Reporter;
use crate::reconcile::{Participation, Scope, Target, Tenant};
use crate::retry::{retrying, RetryPolicy, StepEnd};
use crate::signin::OctopusCredential;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use url::Url;

mod listing;
mod refusal;
mod resources;

pub use listing::{HasId, Page, MAX_PASSES, PAGE_SIZE};
pub use resources::{User, PERMISSIONS};

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
    ends: StepEnd,
    request_timeout: Duration,
    reporter: Arc<Reporter>,
    /// How the step signs in (never the secret), for what a 401 or a 403 says.
    credential: Credential,
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
        let (name, value) = credential
            .header()
            .ok_or_else(|| OctopusRefusal::KeyUnsendable.into_failure())?;
        let mut headers = HeaderMap::new();
        headers.insert(name, value);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Ok(OctopusClient {
            http: crate::http::client(request_timeout),
            base: base.clone(),
            space: space.map(str::to_string),
            headers,
            retry: RetryPolicy::default(),
            ends: StepEnd::default(),
            request_timeout,
            reporter,
            credential: Credential::of(credential),
        })
    }

    /// From now on every call, retries included, ends by `ends`.
    pub fn end_calls_at(&self, ends: tokio::time::Instant) {
        self.ends.end_at(ends);
    }

    /// True once the calls' time is spent.
    pub fn out_of_time(&self) -> bool {
        self.ends.spent()
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

    /// Deletes a target. A 404 means someone else already did.
    pub async fn delete_target(&self, id: &str) -> Result<Deleted, Failure> {
        let url = self.api(&format!("machines/{id}"));
        match self
            .send(Method::DELETE, &url, &format!("delete target {id}"))
            .await
        {
            Ok(_) => Ok(Deleted::Removed),
            Err(f) if answered(&f, StatusCode::NOT_FOUND) => Ok(Deleted::AlreadyGone),
            Err(f) => Err(f),
        }
    }

    /// GETs and parses JSON, with retries.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        url: &Url,
        doing: &str,
    ) -> Result<T, Failure> {
        let response = self.send(Method::GET, url, doing).await?;
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
            Err(f) if answered(&f, StatusCode::NOT_FOUND) => Ok(None),
            Err(f) => Err(f),
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
            OctopusRefusal::Unreadable {
                server: self.base.to_string(),
                doing: doing.to_string(),
                error: e.to_string(),
            }
            .into_failure()
        })
    }

    /// POSTs with an empty body, with retries.
    pub async fn post(&self, url: &Url, doing: &str) -> Result<(), Failure> {
        self.send(Method::POST, url, doing).await.map(|_| ())
    }

    /// Sends with retries on throttles, server errors and network faults. A failure Octopus
    /// answered keeps its status on its [`OctopusRefusal`], so callers can treat a 404 as an
    /// answer ([`answered`]).
    async fn send(
        &self,
        method: Method,
        url: &Url,
        doing: &str,
    ) -> Result<reqwest::Response, Failure> {
        let attempt = || async {
            // No try outlives the step's end (the retry wrapper cuts it off at the end anyway).
            let timeout = self
                .ends
                .remaining()
                .map_or(self.request_timeout, |left| left.min(self.request_timeout));
            let response = self
                .http
                .request(method.clone(), url.clone())
                .headers(self.headers.clone())
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| network(url, doing, &e))?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(crate::error::parse_retry_after);
            let body = response
                .bytes()
                .await
                .map(|b| refusal::ErrorBody::read(&b))
                .unwrap_or_default();
            let answer = Answer::of(status.as_u16(), body, retry_after);
            let refusal = OctopusRefusal::of(
                answer,
                doing,
                self.credential,
                time::OffsetDateTime::now_utc(),
            );
            Err(refusal.into_failure())
        };
        retrying(self.retry, &self.ends, &self.reporter, attempt).await
    }
}

/// True when Octopus answered the failed call with `status` (a failure of the step's own
/// making, such as its time running out, was answered by nobody).
fn answered(f: &Failure, status: StatusCode) -> bool {
    f.cause::<OctopusRefusal>()
        .and_then(OctopusRefusal::status)
        .is_some_and(|s| s == status.as_u16())
}

/// A request that got no answer, said as the words say it.
fn network(url: &Url, doing: &str, e: &reqwest::Error) -> Failure {
    OctopusRefusal::unreached(crate::http::classify(e), url, doing, e).into_failure()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redacted::Redactor;

    pub(super) fn client(base: &str, space: Option<&str>) -> OctopusClient {
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
    fn a_404_is_an_answer_only_when_octopus_gave_it() {
        let answer = |status| Answer {
            status,
            detail: String::new(),
            retry_after: None,
        };
        let refused = |status| {
            OctopusRefusal::of(
                answer(status),
                "delete target Machines-1",
                Credential::ApiKey,
                time::OffsetDateTime::UNIX_EPOCH,
            )
            .into_failure()
        };
        assert!(answered(&refused(404), StatusCode::NOT_FOUND));
        assert!(!answered(&refused(403), StatusCode::NOT_FOUND));
        // A failure without Octopus's answer (the step's time ran out) is no 404.
        let unanswered = Failure::new(FailureKind::NotFound, "x");
        assert!(!answered(&unanswered, StatusCode::NOT_FOUND));
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
}
