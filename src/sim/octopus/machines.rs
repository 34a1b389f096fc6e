//! The simulated deployment targets: listed a page at a time (its paging broken as the world
//! says, Tentacles registering mid-listing), and deleted.

use super::*;

/// The query parameters of the machines route's URI template (`Links.Machines` in the root
/// document of a real 2019.7 server): Octopus builds `Page.Next` from these alone.
pub(super) const MACHINES_TEMPLATE: &[&str] = &[
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

pub(super) fn machine_json(m: &SimMachine) -> Value {
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

pub(super) fn list_machines(w: &mut World, q: &HashMap<String, String>, path: &str) -> Response {
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

pub(super) fn delete_machine(w: &mut World, id: &str) -> Response {
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
