//! Simulated Octopus Server REST API: targets (list, delete), with paging and errors shaped like
//! the real server's. This module routes; [`signin`] signs requests in, [`machines`] serves the
//! targets, [`runs`] the tasks, deployments and events.

mod machines;
mod runs;
mod signin;

use machines::{delete_machine, list_machines};
use runs::{cancel_task, document, list_events, list_tasks, task_json};
use signin::{missing_permission, permissions, signed_in, tag_sets, user_json};

use super::world::{LinkStyle, Paging, Service, SignIn, SimEvent, SimMachine, SimTask, World};
use super::{json, object, Incoming};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;

fn error(status: StatusCode, message: &str) -> Response {
    json(
        status,
        json!({"ErrorMessage": message, "Errors": [], "ParsedHelpLinks": []}),
    )
}

fn list_param(q: &HashMap<String, String>, key: &str) -> Vec<String> {
    q.get(key)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The Octopus API under the server's path prefix.
pub fn server(w: &mut World, _base: &str, inc: &Incoming) -> Response {
    let q: HashMap<String, String> =
        url::form_urlencoded::parse(inc.uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    if q.keys().any(|k| k.eq_ignore_ascii_case("apikey")) {
        w.api_key_in_query = true;
    }
    if !signed_in(w, inc) {
        // Octopus answers a wrong, expired or revoked key, and an expired access token, alike.
        return error(
            StatusCode::UNAUTHORIZED,
            "You must be logged in to perform this action. Please provide a valid API key or log in again.",
        );
    }
    if let Some(refusal) = super::rules::refuse_octopus(inc, &w.octopus_prefix) {
        return refusal;
    }
    if w.faults.octopus_throttles > 0 {
        w.faults.octopus_throttles -= 1;
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "You have exceeded the API rate limit. Please retry after the time given in the Retry-After header.",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    if w.faults.octopus_unavailable > 0 {
        w.faults.octopus_unavailable -= 1;
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "Octopus Server is starting up.",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return r;
    }
    let Some(rest) = inc.uri.path().strip_prefix(w.octopus_prefix.as_str()) else {
        return error(StatusCode::NOT_FOUND, "Not found");
    };
    let seg: Vec<String> = rest
        .trim_matches('/')
        .split('/')
        .map(str::to_string)
        .collect();
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let space = w.space_id.clone();
    match (inc.method.as_str(), s.as_slice()) {
        ("GET", ["api"]) => json(
            StatusCode::OK,
            json!({"Application": "Octopus Deploy", "Version": "2024.4.0", "ApiVersion": "3.0.0"}),
        ),
        ("GET", ["api", "users", "me"]) => json(StatusCode::OK, user_json(w)),
        ("GET", ["api", sp, "users", id, "permissions"]) if *sp == space => permissions(w, id),
        ("GET", ["api", "users", id, "permissions"]) => permissions(w, id),
        ("GET", ["api", sp, "tagsets", "all"]) if *sp == space => tag_sets(w, &q),
        ("GET", ["api", sp, "machines"]) if *sp == space && !w.team.has("MachineView") => {
            missing_permission("MachineView")
        }
        ("GET", ["api", sp, "machines"]) if *sp == space => list_machines(w, &q, rest),
        ("DELETE", ["api", sp, "machines", id]) if *sp == space => delete_machine(w, id),
        ("GET", ["api", sp, "tasks"]) if *sp == space => list_tasks(w, &q),
        ("GET", ["api", sp, "environments", id]) if *sp == space => {
            // Held at all is enough: a team's scope filters lists, the case the step's
            // permission check is for.
            if !w.team.has("EnvironmentView") {
                missing_permission("EnvironmentView")
            } else if w.environments.iter().any(|e| e == id) {
                json(
                    StatusCode::OK,
                    json!({"Id": id, "Name": id, "SpaceId": space, "SortOrder": 0, "UseGuidedFailure": false, "Links": {"Self": format!("/api/{space}/environments/{id}")}}),
                )
            } else {
                error(
                    StatusCode::NOT_FOUND,
                    &format!("The resource '{id}' was not found."),
                )
            }
        }
        ("GET", ["api", sp, "tenants", id]) if *sp == space => {
            match w.tenants.iter().find(|t| t.id == *id) {
                Some(t) => json(
                    StatusCode::OK,
                    json!({"Id": t.id, "Name": t.id, "SpaceId": space, "TenantTags": t.tags, "ProjectEnvironments": {}, "Links": {"Self": format!("/api/{space}/tenants/{}", t.id)}}),
                ),
                None => error(
                    StatusCode::NOT_FOUND,
                    &format!("The resource '{id}' was not found."),
                ),
            }
        }
        ("GET", ["api", sp, "tasks", id]) if *sp == space => {
            match w.tasks.iter().find(|t| t.id == *id) {
                Some(t) => json(StatusCode::OK, task_json(t)),
                None => error(
                    StatusCode::NOT_FOUND,
                    &format!("The resource '{id}' was not found."),
                ),
            }
        }
        ("POST", ["api", sp, "tasks", id, "cancel"]) if *sp == space => cancel_task(w, id),
        ("GET", ["api", sp, "deployments" | "runbookRuns", id]) if *sp == space => document(w, id),
        ("GET", ["api", "events"]) => list_events(w, &q, rest),
        ("GET", ["api", sp, "events"]) if *sp == space => list_events(w, &q, rest),
        ("GET" | "DELETE", ["api", sp, ..]) if sp.starts_with("Spaces-") && *sp != space => error(
            StatusCode::NOT_FOUND,
            &format!("The space '{sp}' could not be found."),
        ),
        _ => error(
            StatusCode::NOT_FOUND,
            "The resource you requested was not found.",
        ),
    }
}

/// A link to another page of the same listing, written in the world's [`LinkStyle`]: rebuilt
/// from the parameters the route declares, dropping the rest (and `take`, on request, as
/// older servers do), as the real server does.
fn page_link(
    w: &World,
    path: &str,
    q: &HashMap<String, String>,
    skip: usize,
    template: &[&str],
) -> String {
    let mut pairs: Vec<(String, String)> = q
        .iter()
        .filter(|(k, _)| *k != "skip" && template.contains(&k.as_str()))
        .filter(|(k, _)| !(w.octopus_next_without_take && *k == "take"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    pairs.sort();
    pairs.push(("skip".into(), skip.to_string()));
    let qs: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    match w.octopus_links {
        LinkStyle::Rooted => format!("{}{path}?{qs}", w.octopus_prefix),
        LinkStyle::Virtual => format!("~{path}?{qs}"),
        LinkStyle::WithoutPrefix => format!("{path}?{qs}"),
    }
}

/// Octopus's time format: `2026-11-23T10:00:00.000+00:00`.
pub fn octopus_time(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
    );
    t.format(&f).expect("formattable")
}
