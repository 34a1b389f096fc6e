//! Simulated Azure AD token endpoint and Resource Manager (Microsoft.Compute, 2024-07-01).
//! This module is Resource Manager's middleware (sign-in, api-versions, throttles, read
//! budgets, faults) and router; [`aad`] the token endpoint, [`compute`] the compute reads,
//! [`standby`] the standby pools, [`paging`] the list pages.

use super::world::{at, Paging, SimProfile, SimScaleSet, SimVm, World, LISTINGS, SCALE_SET_READS};
use super::{json, object, Incoming};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;

mod aad;
mod compute;
mod paging;
mod standby;

pub use aad::azure_ad;
use compute::*;
use paging::*;
use standby::*;

const API_VERSION: &str = super::rules::COMPUTE_API_VERSION;
/// The newer compute api-version the step reads a scale set, its instance view and a
/// resilient-deleting set's VMs at ([`crate::azure::NEWER_API_VERSION`]): their answers carry
/// what 2024-07-01 lacks (zone rebalancing, `resilientVMDeletionStatus`) only at it.
const NEWER_API_VERSION: &str = super::rules::NEWER_COMPUTE_API_VERSION;
/// Microsoft.StandbyPool's api-version (its 2025-03-01 description).
pub const STANDBY_API_VERSION: &str = super::rules::STANDBY_API_VERSION;
/// The read-budget kind of a StandbyPool read: not compute's, so no compute bucket spends it.
const STANDBY_READS: &str = "StandbyPool";

fn standby(path: &str) -> bool {
    path.to_ascii_lowercase()
        .contains("/providers/microsoft.standbypool/")
}

fn query(inc: &Incoming) -> HashMap<String, String> {
    url::form_urlencoded::parse(inc.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    json(status, json!({"error": {"code": code, "message": message}}))
}

/// Resource Manager: the scale set, its VMs (Uniform), the group's VMs (Flexible).
pub fn resource_manager(w: &mut World, base: &str, inc: &Incoming) -> Response {
    let auth = inc
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return arm_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        );
    };
    match w.tokens.get(token) {
        None => {
            return arm_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            );
        }
        Some(expiry) if *expiry <= Instant::now() => {
            return arm_error(
                StatusCode::UNAUTHORIZED,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
            );
        }
        Some(_) => {}
    }
    let q = query(inc);
    if let Some(refusal) = super::rules::refuse_arm(inc) {
        return refusal;
    }
    if w.faults.arm_throttles > 0 {
        w.faults.arm_throttles -= 1;
        let mut r = json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"code": "OperationNotAllowed", "message": "The server rejected the request because too many requests have been received for this subscription."}),
        );
        let h = r.headers_mut();
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from(w.faults.arm_retry_after),
        );
        let lines = [
            "Microsoft.Compute/GetVMScaleSet3Min;0".to_string(),
            "Microsoft.Compute/GetVMScaleSet30Min;1200".to_string(),
        ];
        remaining_lines(&mut r, w.ratelimit_joined, &lines);
        return r;
    }
    // A story on the wall clock moves with every request.
    w.advance(false);
    // Compute's read budget: spent by each read, reported on each answer, 429 when empty.
    let kind = if standby(inc.uri.path()) {
        STANDBY_READS
    } else if inc
        .uri
        .path()
        .to_ascii_lowercase()
        .ends_with("/virtualmachines")
    {
        LISTINGS
    } else {
        SCALE_SET_READS
    };
    let now = Instant::now();
    let remaining = match w.read_budget.as_mut().map(|b| b.spend(kind, now)) {
        Some(Err((retry_after, header))) => {
            let mut r = json(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"code": "OperationNotAllowed", "message": format!("The server rejected the request because too many requests have been received for this subscription. Please retry after {retry_after} seconds.")}),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            remaining_lines(&mut r, w.ratelimit_joined, &header);
            return r;
        }
        Some(Ok(lines)) => lines,
        None => Vec::new(),
    };
    let mut response = route(w, base, inc, &q);
    remaining_lines(&mut response, w.ratelimit_joined, &remaining);
    response
}

const REMAINING: &str = "x-ms-ratelimit-remaining-resource";

/// True when the request asks for the newer api-version.
fn newer(q: &HashMap<String, String>) -> bool {
    q.get("api-version").map(String::as_str) == Some(NEWER_API_VERSION)
}

/// Writes what is left of the read budget: one header line per policy, as Azure sends them
/// (Microsoft's throttling guide), or all policies joined by commas in one line.
fn remaining_lines(r: &mut Response, joined: bool, lines: &[String]) {
    let values = if joined && !lines.is_empty() {
        vec![lines.join(",")]
    } else {
        lines.to_vec()
    };
    for v in values {
        if let Ok(h) = HeaderValue::from_str(&v) {
            r.headers_mut().append(REMAINING, h);
        }
    }
}

fn route(w: &mut World, base: &str, inc: &Incoming, q: &HashMap<String, String>) -> Response {
    if let Some((status, code, message)) = &w.faults.arm_error {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return arm_error(status, code, message);
    }
    if let Some(r) = route_fault(w, &inc.uri.path().to_ascii_lowercase()) {
        return r;
    }
    if inc.method != "GET" {
        return arm_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The simulator only serves reads.",
        );
    }
    let path = inc.uri.path().to_string();
    let seg: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| s.to_string())
        .collect();
    let lower: Vec<String> = seg.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    if l.len() < 2 || l[0] != "subscriptions" {
        return arm_error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            "The resource type could not be found.",
        );
    }
    if !seg[1].eq_ignore_ascii_case(&w.subscription_id) {
        return arm_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            &format!("The subscription '{}' could not be found.", seg[1]),
        );
    }
    if l[2..]
        == [
            "providers",
            "microsoft.standbypool",
            "standbyvirtualmachinepools",
        ]
    {
        if let Some(e) = w.faults.standby_subscription_error.clone() {
            return standby_error(&e);
        }
        return list_pools(w, base, &path, None, q);
    }
    if standby(&path) {
        if let Some(e) = w.faults.standby_group_error.clone() {
            return standby_error(&e);
        }
    }
    if l.len() < 4 || l[2] != "resourcegroups" {
        return arm_error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            "The resource type could not be found.",
        );
    }
    let Some(rg) = w
        .resource_groups
        .iter()
        .find(|g| g.eq_ignore_ascii_case(&seg[3]))
        .cloned()
    else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            &format!("Resource group '{}' could not be found.", seg[3]),
        );
    };
    match &l[4..] {
        ["providers", "microsoft.compute", "virtualmachinescalesets", _] => {
            get_scale_set(w, &rg, &seg[7], newer(q))
        }
        ["providers", "microsoft.compute", "virtualmachinescalesets", _, "instanceview"] => {
            get_scale_set_instance_view(w, &rg, &seg[7], newer(q))
        }
        ["providers", "microsoft.compute", "virtualmachinescalesets", _, "virtualmachines"] => {
            list_scale_set_vms(w, base, &path, &rg, &seg[7], q)
        }
        ["providers", "microsoft.compute", "virtualmachines"] => list_vms(w, base, &path, &rg, q),
        ["providers", "microsoft.compute", "virtualmachines", _] => get_vm(w, &rg, &seg[7]),
        ["providers", "microsoft.compute", "virtualmachines", _, "instanceview"] => {
            get_vm_instance_view(w, &rg, &seg[7])
        }
        ["providers", "microsoft.compute", "virtualmachinescalesets", _, "rollingupgrades", "latest"] => {
            latest_rolling_upgrade(w, &rg, &seg[7])
        }
        ["providers", "microsoft.standbypool", "standbyvirtualmachinepools"] => {
            list_pools(w, base, &path, Some(&rg), q)
        }
        ["providers", "microsoft.standbypool", "standbyvirtualmachinepools", _, "standbyvirtualmachines"] => {
            list_pool_vms(w, base, &path, &rg, &seg[7], q)
        }
        _ => arm_error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            "The resource type could not be found.",
        ),
    }
}

/// The answer of a failing route ([`super::world::ArmFault`]), if this request is one.
fn route_fault(w: &mut World, path: &str) -> Option<Response> {
    let f = w.faults.arm_faults.iter_mut().find(|f| (f.matches)(path))?;
    f.seen += 1;
    let failing = f.seen > f.after && f.seen - f.after <= f.times;
    if !failing {
        return None;
    }
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = if f.status == 429 {
        // Compute's throttle has no `error` wrapper.
        json(status, json!({"code": f.code, "message": f.message}))
    } else {
        arm_error(status, &f.code, &f.message)
    };
    if let Some(after) = f.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(after));
    }
    Some(r)
}
