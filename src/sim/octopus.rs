//! Simulated Octopus Server REST API: targets (list, delete), with paging and errors shaped like
//! the real server's.

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

/// Whether a request signed in: an access token in `Authorization: Bearer` (one the server
/// issued, before its `exp`, by the wall clock), else the API key in `X-Octopus-ApiKey`
/// (Octopus docs, "Using OpenID Connect in Octopus with other issuers": "Using the access
/// token in API requests"). Records which headers it carried.
fn signed_in(w: &mut World, inc: &Incoming) -> bool {
    let header = |name: &str| inc.headers.get(name).and_then(|v| v.to_str().ok());
    let bearer = header("Authorization").and_then(|v| v.strip_prefix("Bearer "));
    let key = header("X-Octopus-ApiKey");
    w.sign_ins.push(SignIn {
        api_key: key.is_some(),
        bearer: bearer.is_some(),
    });
    match (bearer, key) {
        (Some(token), _) => {
            w.access_tokens.iter().any(|t| t == token)
                && crate::token::jwt_expiry(token)
                    .is_some_and(|exp| exp > time::OffsetDateTime::now_utc())
        }
        (None, Some(key)) => key == w.api_key,
        (None, None) => false,
    }
}

/// Octopus's 403 for a permission the signed-in user does not hold.
fn missing_permission(permission: &str) -> Response {
    error(
        StatusCode::FORBIDDEN,
        &format!("You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: {permission}"),
    )
}

/// `GET /api/users/me`: the signed-in user (`UserResource`), a service account.
fn user_json(w: &World) -> Value {
    let (id, name) = &w.user;
    json!({
        "Id": id,
        "Username": name,
        "DisplayName": name,
        "IsActive": true,
        "IsService": true,
        "EmailAddress": null,
        "CanPasswordBeEdited": false,
        "IsRequestor": true,
        "Identities": [],
        "Links": {
            "Self": format!("/api/users/{id}"),
            "Permissions": format!("/api/users/{id}/permissions{{?spaces,includeSystem}}"),
            "ApiKeys": format!("/api/users/{id}/apikeys{{/id}}{{?skip,take}}")
        }
    })
}

/// `GET /api/{spaceId}/users/{id}/permissions`: the user's `UserPermissionSetResource`, one
/// restriction per permission its team's roles grant, scoped as the team is. Only for the
/// signed-in user ("Available for the current authenticated user only").
fn permissions(w: &World, id: &str) -> Response {
    if !w.permissions_route {
        return error(
            StatusCode::NOT_FOUND,
            "The resource you requested was not found.",
        );
    }
    if id != w.user.0 {
        return missing_permission("UserView");
    }
    let t = &w.team;
    let restriction = json!({
        "SpaceId": w.space_id,
        "RestrictedToEnvironmentIds": t.environments,
        "RestrictedToTenantIds": t.tenants,
        "RestrictedToProjectIds": [],
        "RestrictedToProjectGroupIds": []
    });
    let granted: serde_json::Map<String, Value> = t
        .permissions
        .iter()
        .map(|p| (p.clone(), json!([restriction])))
        .collect();
    json(
        StatusCode::OK,
        json!({
            "Id": null,
            "SpacePermissions": granted,
            "SystemPermissions": [],
            "Teams": [{"Id": t.id, "Name": t.name, "SpaceId": w.space_id, "IsDirectlyAssigned": true, "ExternalSecurityGroups": []}],
            "IsTeamsComplete": true,
            "IsPermissionsComplete": true,
            "Links": {
                "Self": format!("/api/{}/users/{id}/permissions", w.space_id),
                "Export": format!("/api/{}/users/{id}/permissions/export", w.space_id)
            }
        }),
    )
}

/// `GET /api/{spaceId}/tagsets/all`: the space's tag sets, limited to `scopes` when given (Octopus
/// API docs, "Tag Sets", 2026: `Scopes`, `Type` and `IsSystem` are later than the 2020.5 Swagger).
fn tag_sets(w: &World, q: &HashMap<String, String>) -> Response {
    let scopes = list_param(q, "scopes");
    let sets: Vec<Value> = w
        .tag_sets
        .iter()
        .filter(|s| scopes.is_empty() || s.scopes.iter().any(|x| scopes.contains(x)))
        .enumerate()
        .map(|(n, s)| {
            let tags: Vec<Value> = s
                .tags
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    json!({"Id": format!("{}-{i}", s.id), "Name": t, "CanonicalTagName": format!("{}/{t}", s.name),
                           "Color": "#333333", "Description": "", "SortOrder": i})
                })
                .collect();
            json!({
                "Id": s.id, "Name": s.name, "Description": "", "SortOrder": n, "SpaceId": w.space_id,
                "Scopes": s.scopes, "Type": "MultiSelect", "IsSystem": s.name == "[System] Tag Set",
                "Tags": tags, "Links": {"Self": format!("/api/{}/tagsets/{}", w.space_id, s.id)}
            })
        })
        .collect();
    json(StatusCode::OK, Value::Array(sets))
}

/// The query parameters of the machines route's URI template (`Links.Machines` in the root
/// document of a real 2019.7 server): Octopus builds `Page.Next` from these alone.
const MACHINES_TEMPLATE: &[&str] = &[
    "skip",
    "take",
    "name",
    "ids",
    "partialName",
    "roles",
    "isDisabled",
    "healthStatuses",
    "commStyles",
    "tenantIds",
    "tenantTags",
    "environmentIds",
    "thumbprint",
    "deploymentId",
];
/// The same for `Links.Events`.
const EVENTS_TEMPLATE: &[&str] = &[
    "skip",
    "regarding",
    "regardingAny",
    "user",
    "users",
    "projects",
    "projectGroups",
    "environments",
    "eventGroups",
    "eventCategories",
    "eventAgents",
    "tags",
    "tenants",
    "from",
    "to",
    "internal",
    "fromAutoId",
    "toAutoId",
    "documentTypes",
    "asCsv",
    "take",
    "ids",
    "spaces",
    "includeSystem",
];

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

fn machine_json(m: &SimMachine) -> Value {
    json!({
        "Id": m.id,
        "Name": m.name,
        "Roles": m.roles,
        "EnvironmentIds": m.environment_ids,
        "TenantIds": m.tenant_ids,
        "TenantTags": m.tenant_tags,
        "TenantedDeploymentParticipation": m.participation,
        "IsDisabled": m.disabled,
        "HealthStatus": "Healthy",
        "Status": "Online",
        "SpaceId": "Spaces-1",
        "Endpoint": {"CommunicationStyle": "TentaclePassive", "Uri": format!("https://{}:10933/", m.name)},
        "Links": {"Self": format!("/api/Spaces-1/machines/{}", m.id)}
    })
}

fn list_machines(w: &mut World, q: &HashMap<String, String>, path: &str) -> Response {
    let listed = w
        .seen
        .iter()
        .filter(|s| {
            s.service == Service::Octopus && s.method == "GET" && s.path.ends_with("/machines")
        })
        .count();
    if let Some((after, ids)) = w.faults.register_after_pages.clone() {
        if listed >= after {
            for m in w.machines.iter_mut().filter(|m| ids.contains(&m.id)) {
                m.appears_at = 0;
            }
        }
    }
    if let Some((per_page, pages)) = w.faults.registration_storm {
        if (1..=pages).contains(&listed) {
            let tick = w.tick;
            for m in w
                .machines
                .iter_mut()
                .filter(|m| m.appears_at > tick)
                .take(per_page)
            {
                m.appears_at = 0;
            }
        }
    }
    let envs = list_param(q, "environmentIds");
    let roles = list_param(q, "roles");
    let tenants = list_param(q, "tenantIds");
    let skip: usize = q.get("skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let take: usize = q.get("take").and_then(|s| s.parse().ok()).unwrap_or(30);
    // Octopus lists machines by name, ignoring case. The world keeps them in that order from
    // the first listing on: sorting 11,000 names for each of a listing's 22 pages cost the
    // fleet bench more than the step's own parsing of them.
    let by_name = |a: &SimMachine, b: &SimMachine| {
        a.name
            .bytes()
            .map(|c| c.to_ascii_lowercase())
            .cmp(b.name.bytes().map(|c| c.to_ascii_lowercase()))
    };
    if !w.machines.is_sorted_by(|a, b| by_name(a, b).is_le()) {
        w.machines.sort_by(by_name);
    }
    let matching: Vec<&SimMachine> = w
        .visible_machines()
        .into_iter()
        // A team scoped to other environments or tenants gets a filtered list, not a 403.
        .filter(|m| w.team.sees(m))
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
    let total = matching.len();
    let items: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(take)
        .map(|m| machine_json(m))
        .collect();
    let link = |skip: usize| page_link(w, path, q, skip, MACHINES_TEMPLATE);
    let mut links = json!({"Self": link(skip), "Page.Current": link(skip)});
    if skip + take < total {
        links["Page.Next"] = Value::String(match w.faults.octopus_paging {
            Some(Paging::Repeats) => link(skip),
            Some(Paging::OtherOrigin) => format!(
                "https://octopus.elsewhere.example{}",
                link(skip + take).trim_start_matches('~')
            ),
            _ => link(skip + take),
        });
        if w.faults.octopus_paging == Some(Paging::NoNextAfterFirst) && skip == 0 {
            links.as_object_mut().map(|l| l.remove("Page.Next"));
        }
    }
    let total = match w.faults.octopus_paging {
        Some(Paging::Overcount(more)) => total + more,
        _ => total,
    };
    let pages = total.div_ceil(take.max(1));
    let mut page = object([
        ("ItemType", "DeploymentTarget".into()),
        ("TotalResults", total.into()),
        ("ItemsPerPage", take.into()),
        ("NumberOfPages", pages.into()),
        ("LastPageNumber", pages.saturating_sub(1).into()),
        ("Items", Value::Array(items)),
        ("Links", links),
    ]);
    if w.faults.octopus_paging == Some(Paging::WithoutList) && skip > 0 {
        page.as_object_mut().map(|p| p.remove("Items"));
    }
    json(StatusCode::OK, page)
}

fn delete_machine(w: &mut World, id: &str) -> Response {
    if let Some(after) = w.faults.delete_unavailable {
        let mut r = error(StatusCode::SERVICE_UNAVAILABLE, "Octopus Server is busy.");
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(after));
        return r;
    }
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

/// Octopus's time format: `2026-11-23T10:00:00.000+00:00`.
pub fn octopus_time(t: time::OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
    );
    t.format(&f).expect("formattable")
}

fn task_json(t: &SimTask) -> Value {
    let mut arguments = json!({});
    let key = if t.name == "Deploy" {
        "DeploymentId"
    } else {
        "RunbookRunId"
    };
    arguments[key] = Value::String(t.document_id.clone());
    json!({
        "Id": t.id,
        "SpaceId": "Spaces-1",
        "Name": t.name,
        "Description": format!("{} {}", t.name, t.document_id),
        "Arguments": arguments,
        "State": t.state,
        "Completed": t.completed_time.map(|_| "Monday, November 23, 2026 10:00 AM"),
        "QueueTime": octopus_time(t.queue_time),
        "QueueTimeExpiry": null,
        "StartTime": octopus_time(t.queue_time + time::Duration::seconds(2)),
        "LastUpdatedTime": octopus_time(t.completed_time.unwrap_or(t.queue_time)),
        "CompletedTime": t.completed_time.map(octopus_time),
        "ServerNode": "SIM",
        "ErrorMessage": "",
        "HasBeenPickedUpByProcessor": true,
        "IsCompleted": t.completed_time.is_some(),
        "FinishedSuccessfully": t.state == "Success",
        "HasPendingInterruptions": false,
        "CanRerun": false,
        "HasWarningsOrErrors": false,
        "Links": {"Self": format!("/api/Spaces-1/tasks/{}", t.id)}
    })
}

fn list_tasks(w: &World, q: &HashMap<String, String>) -> Response {
    let ignored = w.faults.ignore_task_filters;
    // The task kind (`name`) is honoured even by old servers; the others may not be.
    let honoured = |k: &str| !ignored || k == "name";
    let one = |k: &str| {
        q.get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty() && honoured(k))
    };
    let states = list_param(q, "states");
    let take: usize = q.get("take").and_then(|s| s.parse().ok()).unwrap_or(30);
    let mut tasks: Vec<&SimTask> = w
        .tasks
        .iter()
        .filter(|t| one("project").is_none_or(|p| t.project_id == p))
        .filter(|t| one("environment").is_none_or(|e| t.environment_id == e))
        .filter(|t| one("tenant").is_none_or(|x| t.tenant_id.as_deref() == Some(x)))
        .filter(|t| one("runbook").is_none_or(|r| t.runbook_id.as_deref() == Some(r)))
        .filter(|t| one("name").is_none_or(|n| t.name == n))
        .filter(|t| states.is_empty() || states.contains(&t.state))
        .collect();
    tasks.sort_by_key(|t| std::cmp::Reverse(t.queue_time));
    let total = tasks.len();
    let items: Vec<Value> = tasks.into_iter().take(take).map(task_json).collect();
    json(
        StatusCode::OK,
        json!({"ItemType": "Task", "TotalResults": total, "ItemsPerPage": take, "Items": items, "Links": {}}),
    )
}

fn cancel_task(w: &mut World, id: &str) -> Response {
    let Some(t) = w.tasks.iter_mut().find(|t| t.id == id) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("The resource '{id}' was not found."),
        );
    };
    t.state = "Cancelling".into();
    let body = task_json(t);
    w.cancelled.push(id.to_string());
    json(StatusCode::OK, body)
}

/// A deployment or runbook run, from the task that runs it.
fn document(w: &World, id: &str) -> Response {
    let Some(t) = w.tasks.iter().find(|t| t.document_id == id) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("The resource '{id}' was not found."),
        );
    };
    let mut doc = json!({
        "Id": t.document_id,
        "SpaceId": "Spaces-1",
        "ProjectId": t.project_id,
        "EnvironmentId": t.environment_id,
        "TenantId": t.tenant_id,
        "TaskId": t.id,
        "Created": octopus_time(t.queue_time),
        "QueueTime": null,
        "Links": {"Task": format!("/api/Spaces-1/tasks/{}", t.id)}
    });
    // What the 2020.5 Swagger requires of each: the release, or the runbook and its snapshot.
    match &t.runbook_id {
        Some(r) => {
            doc["RunbookId"] = Value::String(r.clone());
            doc["RunbookSnapshotId"] =
                Value::String(format!("RunbookSnapshots-{}", t.document_id.len()));
        }
        None => doc["ReleaseId"] = Value::String("Releases-41".into()),
    }
    json(StatusCode::OK, doc)
}

fn list_events(w: &World, q: &HashMap<String, String>, path: &str) -> Response {
    let categories = list_param(q, "eventCategories");
    let document_types = list_param(q, "documentTypes");
    let regarding = list_param(q, "regarding");
    let regarding_any = list_param(q, "regardingAny");
    let parse = |k: &str| {
        q.get(k).and_then(|v| {
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).ok()
        })
    };
    let (from, to) = (parse("from"), parse("to"));
    // `includeSystem=true` adds the events outside any space to those of `spaces` (or of
    // every space when no space is named).
    let include_system = q
        .get("includeSystem")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let spaces = list_param(q, "spaces");
    let skip: usize = q.get("skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let take: usize = q.get("take").and_then(|s| s.parse().ok()).unwrap_or(30);
    let mut events: Vec<&SimEvent> = w
        .events
        .iter()
        .filter(|e| match &e.space_id {
            None => include_system,
            Some(s) => spaces.is_empty() || spaces.contains(s),
        })
        .filter(|e| categories.is_empty() || categories.contains(&e.category))
        .filter(|e| {
            document_types.is_empty()
                || document_types
                    .iter()
                    .any(|d| e.related.iter().any(|r| r.starts_with(&format!("{d}-"))))
        })
        .filter(|e| regarding.iter().all(|r| e.related.contains(r)))
        .filter(|e| regarding_any.is_empty() || regarding_any.iter().any(|r| e.related.contains(r)))
        .filter(|e| from.is_none_or(|f| e.occurred >= f))
        .filter(|e| to.is_none_or(|t| e.occurred <= t))
        .collect();
    events.sort_by_key(|e| std::cmp::Reverse(e.occurred));
    let total = events.len();
    let items: Vec<Value> = events
        .iter()
        .skip(skip)
        .take(take)
        .map(|e| event_json(w, e))
        .collect();
    let mut links = json!({});
    if skip + take < total {
        links["Page.Next"] = Value::String(page_link(w, path, q, skip + take, EVENTS_TEMPLATE));
    }
    json(
        StatusCode::OK,
        json!({"ItemType": "Event", "TotalResults": total, "ItemsPerPage": take, "Items": items, "Links": links}),
    )
}

/// An event as a real server writes it (2023.1, recorded): `RelatedDocumentIds` with its subject
/// first, a message naming the subject, `MessageReferences` locating the names in the message,
/// empty `ChangeDetails`, and `Links` holding only `Self`. Nothing else names the subject.
/// (`IpAddress`, which later servers add, is left out: the 2020.5 description lacks it.)
fn event_json(w: &World, e: &SimEvent) -> Value {
    let subject = e.related.first().cloned().unwrap_or_default();
    let kind = match subject.split_once('-').map(|(k, _)| k) {
        Some("Machines") => "Deployment target",
        Some("Tenants") => "Tenant",
        Some("Certificates") => "Certificate",
        Some(other) => other,
        None => "Document",
    };
    let name = w
        .machines
        .iter()
        .find(|m| m.id == subject)
        .map_or(subject.as_str(), |m| m.name.as_str());
    let (message, references) = if subject.is_empty() {
        (e.category.clone(), json!([]))
    } else {
        let text = match e.category.as_str() {
            "Created" => format!("{kind} {name} has been created"),
            "Modified" => format!("{kind} {name} has been modified"),
            other => format!("{other}: {kind} {name}"),
        };
        let start = text.find(name).unwrap_or(0);
        (
            text,
            json!([{"ReferencedDocumentId": subject, "StartIndex": start, "Length": name.len()}]),
        )
    };
    json!({
        "Id": e.id,
        "RelatedDocumentIds": e.related,
        "Category": e.category,
        "UserId": "Users-42",
        "Username": "tentacle-registration",
        "IsService": true,
        "IdentityEstablishedWith": "API key",
        "UserAgent": "Tentacle/8.2.2517",
        "Occurred": octopus_time(e.occurred),
        "Message": message,
        "MessageHtml": message,
        "MessageReferences": references,
        "Comments": null,
        "Details": null,
        "ChangeDetails": {"DocumentContext": null, "Differences": null},
        "SpaceId": e.space_id,
        "Links": {"Self": format!("/api/events/{}", e.id)}
    })
}
