//! The simulated Azure AD token endpoint: client secrets and federated assertions.

use super::*;

pub(super) fn aad_error(status: StatusCode, error: &str, description: &str) -> Response {
    json(
        status,
        json!({
            "error": error,
            "error_description": format!("{description}\r\nTrace ID: 00000000-0000-0000-0000-000000000000\r\nCorrelation ID: 11111111-1111-1111-1111-111111111111\r\nTimestamp: 2026-11-23 10:00:00Z"),
            "error_codes": [7000215],
        }),
    )
}

/// `POST /{tenant}/oauth2/v2.0/token`: client credentials with a secret or a federated assertion.
pub fn azure_ad(w: &mut World, _base: &str, inc: &Incoming) -> Response {
    let segments: Vec<&str> = inc.uri.path().trim_matches('/').split('/').collect();
    if inc.method != "POST" || segments.len() != 4 || segments[1..] != ["oauth2", "v2.0", "token"] {
        return aad_error(
            StatusCode::NOT_FOUND,
            "invalid_request",
            "AADSTS900561: The endpoint only accepts POST requests.",
        );
    }
    if segments[0] != w.tenant_id {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{}' not found.", segments[0]),
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&inc.body)
        .into_owned()
        .collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if field("grant_type") != "client_credentials" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if field("client_id") != w.client_id {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            &format!(
                "AADSTS700016: Application with identifier '{}' was not found in the directory.",
                field("client_id")
            ),
        );
    }
    let expected_scope = "/.default";
    if !field("scope").ends_with(expected_scope) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid.",
        );
    }
    if form.contains_key("client_assertion") {
        let expired = crate::token::jwt_expiry(field("client_assertion"))
            .is_some_and(|exp| exp <= time::OffsetDateTime::now_utc());
        if expired {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_client",
                "AADSTS700024: Client assertion is not within its valid time range. Current time: 2026-11-23T10:30:00Z, assertion valid from 2026-11-23T10:00:00Z, expiry time of assertion 2026-11-23T10:05:00Z.",
            );
        }
    }
    let ok = if form.contains_key("client_assertion") {
        field("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            && field("client_assertion") == w.federated_token
    } else {
        field("client_secret") == w.client_secret
    };
    if !ok {
        let description = if form.contains_key("client_assertion") {
            "AADSTS700213: No matching federated identity record found for presented assertion subject."
        } else {
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."
        };
        return aad_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    }
    let token = format!("sim-access-token-{}", w.tokens.len() + 1);
    w.tokens
        .insert(token.clone(), Instant::now() + w.token_lifetime);
    let secs = w.token_lifetime.as_secs();
    json(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": token}),
    )
}
