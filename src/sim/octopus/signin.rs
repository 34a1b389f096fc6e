//! Signing in to the simulated Octopus: API keys and access tokens, the signed-in user, its
//! permissions (a team scoped to some environments or tenants), and target tag sets.

use super::*;

/// Whether a request signed in: an access token in `Authorization: Bearer` (one the server
/// issued, before its `exp`, by the wall clock), else the API key in `X-Octopus-ApiKey`
/// (Octopus docs, "Using OpenID Connect in Octopus with other issuers": "Using the access
/// token in API requests"). Records which headers it carried.
pub(super) fn signed_in(w: &mut World, inc: &Incoming) -> bool {
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
pub(super) fn missing_permission(permission: &str) -> Response {
    error(
        StatusCode::FORBIDDEN,
        &format!("You do not have permission to perform this action. Please contact your Octopus administrator. Missing permission: {permission}"),
    )
}

/// `GET /api/users/me`: the signed-in user (`UserResource`), a service account.
pub(super) fn user_json(w: &World) -> Value {
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
pub(super) fn permissions(w: &World, id: &str) -> Response {
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
pub(super) fn tag_sets(w: &World, q: &HashMap<String, String>) -> Response {
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
