//! Simulated Octopus Server REST API: targets (list, delete), with paging and errors shaped like
//! the real server's.

use super::world::{SimMachine, World};
use super::{json, Incoming};
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
    let key = inc
        .headers
        .get("X-Octopus-ApiKey")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if key != w.api_key {
        return error(
            StatusCode::UNAUTHORIZED,
            "You must be logged in to perform this action. Please provide a valid API key or log in again.",
        );
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
        ("GET", ["api", sp, "machines"]) if *sp == space => list_machines(w, &q, rest),
        ("DELETE", ["api", sp, "machines", id]) if *sp == space => delete_machine(w, id),
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

fn machine_json(m: &SimMachine) -> Value {
    json!({
        "Id": m.id,
        "Name": m.name,
        "Roles": m.roles,
        "EnvironmentIds": m.environment_ids,
        "TenantIds": m.tenant_ids,
        "TenantedDeploymentParticipation": if m.tenant_ids.is_empty() { "Untenanted" } else { "Tenanted" },
        "IsDisabled": false,
        "HealthStatus": "Healthy",
        "Status": "Online",
        "SpaceId": "Spaces-1",
        "Endpoint": {"CommunicationStyle": "TentaclePassive", "Uri": format!("https://{}:10933/", m.name)},
        "Links": {"Self": format!("/api/Spaces-1/machines/{}", m.id)}
    })
}

fn list_machines(w: &World, q: &HashMap<String, String>, path: &str) -> Response {
    let envs = list_param(q, "environmentIds");
    let roles = list_param(q, "roles");
    let tenants = list_param(q, "tenantIds");
    let skip: usize = q.get("skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let take: usize = q.get("take").and_then(|s| s.parse().ok()).unwrap_or(30);
    let mut matching: Vec<&SimMachine> = w
        .visible_machines()
        .into_iter()
        .filter(|m| envs.is_empty() || m.environment_ids.iter().any(|e| envs.contains(e)))
        // Like the real server, `roles` is any-of: the client must check all-of itself.
        .filter(|m| {
            roles.is_empty()
                || m.roles
                    .iter()
                    .any(|r| roles.iter().any(|x| x.eq_ignore_ascii_case(r)))
        })
        .filter(|m| tenants.is_empty() || m.tenant_ids.iter().any(|t| tenants.contains(t)))
        .collect();
    matching.sort_by(|a, b| {
        a.name
            .to_ascii_lowercase()
            .cmp(&b.name.to_ascii_lowercase())
    });
    let total = matching.len();
    let items: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(take)
        .map(|m| machine_json(m))
        .collect();
    let link = |skip: usize| {
        let mut pairs: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| *k != "skip")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        pairs.sort();
        pairs.push(("skip".into(), skip.to_string()));
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("{}{path}?{qs}", w.octopus_prefix)
    };
    let mut links = json!({"Self": link(skip), "Page.Current": link(skip)});
    if skip + take < total {
        links["Page.Next"] = Value::String(link(skip + take));
    }
    let pages = total.div_ceil(take.max(1));
    json(
        StatusCode::OK,
        json!({
            "ItemType": "DeploymentTarget",
            "TotalResults": total,
            "ItemsPerPage": take,
            "NumberOfPages": pages,
            "LastPageNumber": pages.saturating_sub(1),
            "Items": items,
            "Links": links
        }),
    )
}

fn delete_machine(w: &mut World, id: &str) -> Response {
    if w.faults.forbid_delete.iter().any(|f| f == id) {
        return error(
            StatusCode::FORBIDDEN,
            "You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: MachineDelete",
        );
    }
    let Some(pos) = w
        .machines
        .iter()
        .position(|m| m.id == id && m.appears_at <= w.tick)
    else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("The resource '{id}' was not found."),
        );
    };
    w.machines.remove(pos);
    w.deleted.push(id.to_string());
    json(StatusCode::OK, json!({}))
}
