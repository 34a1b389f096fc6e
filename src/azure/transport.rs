//! The HTTP transport handed to the SDK: reqwest, typed failures ([`HttpFailure`]), Azure's
//! read budget from every answer ([`RateLimits`]), and no request outside the configured
//! endpoints.

use super::*;

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
pub(super) const REMAINING_RESOURCE: &str = "x-ms-ratelimit-remaining-resource";

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
        let sign_in = is_sign_in(request.url());
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

/// True for a request to Azure AD's token endpoint: a sign-in, whose failures name the account.
pub(super) fn is_sign_in(url: &url::Url) -> bool {
    url.path().ends_with("/oauth2/v2.0/token")
}

/// Reads the error code and message from the three shapes Azure uses.
pub(super) fn error_fields(body: &[u8]) -> (Option<String>, Option<String>) {
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
pub(super) fn first_line(s: &str) -> String {
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

/// The SDK follows a list's `nextLink` as Azure wrote it and re-adds only `api-version`; a
/// `nextLink` without `$expand` would bring later pages without instance views, and every
/// VM on them would look pending forever. Puts `$expand=instanceView` back on an instance
/// listing's request that lacks it: a scale set's VMs (Uniform), or a resource group's VMs
/// filtered on a scale set (Flexible). Never on a group's listing without a `$filter`: the
/// description of that `$expand` says "this can only be specified if a valid $filter option
/// is specified", and Azure answers such a request 400 (the proof of absence lists the group
/// plainly, [`crate::absence`]).
pub(super) fn with_instance_view(url: &url::Url) -> Option<url::Url> {
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
