//! How the step signs in to Octopus: with an API key, or with an access token.
//!
//! `VMSS.Octopus.ApiKey` takes either, told apart by their form: a key starts with `API-` and
//! goes in `X-Octopus-ApiKey`; an access token is a JWT (three base64url parts joined by dots),
//! as the Library step "Octopus - Authenticate with OIDC" outputs it, and goes in
//! `Authorization: Bearer`. Octopus verifies the token; the step only reads its `exp` claim, to
//! warn when the token would expire before the step could end and to say so when Octopus
//! refuses it. Anything else is refused before any request: sent as a key, a token is refused
//! with a bare 401; sent as a token, a key is refused the same way.

use crate::redacted::Secret;
use reqwest::header::{HeaderName, HeaderValue, AUTHORIZATION};
use time::OffsetDateTime;

/// Where users make an access token: the Library step, and the binding its output takes when
/// that step is named "Authenticate with OIDC".
pub const TOKEN_BINDING: &str = "#{Octopus.Action[Authenticate with OIDC].Output.AccessToken}";

/// What `VMSS.Octopus.ApiKey` holds. Neither form ever prints (both are [`Secret`]s).
#[derive(Debug, Clone)]
pub enum OctopusCredential {
    /// A long-lived API key (`API-...`). Keys made on Octopus 2025.4 and later expire.
    ApiKey(Secret),
    /// An access token (a JWT, one hour by default).
    AccessToken {
        /// The token.
        token: Secret,
        /// Its `exp` claim, read without verifying it (Octopus does); `None` when it has none.
        expires: Option<OffsetDateTime>,
    },
}

impl OctopusCredential {
    /// Tells a key from a token by its form, or says why the value is neither, without quoting
    /// it. `value` is the trimmed input.
    pub fn parse(value: &str) -> Result<OctopusCredential, &'static str> {
        if value.starts_with("API-") {
            return Ok(OctopusCredential::ApiKey(Secret::new(value)));
        }
        if is_jwt(value) {
            return Ok(OctopusCredential::AccessToken {
                token: Secret::new(value),
                expires: crate::token::jwt_expiry(value),
            });
        }
        Err(NEITHER)
    }

    /// The secret itself, for the redactor.
    pub fn secret(&self) -> &Secret {
        match self {
            OctopusCredential::ApiKey(s) | OctopusCredential::AccessToken { token: s, .. } => s,
        }
    }

    /// When an access token expires; `None` for a key, or a token without `exp`.
    pub fn expires(&self) -> Option<OffsetDateTime> {
        match self {
            OctopusCredential::AccessToken { expires, .. } => *expires,
            OctopusCredential::ApiKey(_) => None,
        }
    }

    /// True for an access token.
    pub fn is_token(&self) -> bool {
        matches!(self, OctopusCredential::AccessToken { .. })
    }

    /// The header that carries it, marked sensitive so no Debug print of a request shows it.
    /// `None` when the value holds characters no header can carry.
    pub fn header(&self) -> Option<(HeaderName, HeaderValue)> {
        let (name, value) = match self {
            OctopusCredential::ApiKey(key) => (
                HeaderName::from_static("x-octopus-apikey"),
                HeaderValue::from_str(key.expose()),
            ),
            OctopusCredential::AccessToken { token, .. } => (
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {}", token.expose())),
            ),
        };
        let mut value = value.ok()?;
        value.set_sensitive(true);
        Some((name, value))
    }
}

/// Why a value is neither a key nor a token (never quoting it).
const NEITHER: &str = "VMSS.Octopus.ApiKey is neither an API key (API-...) nor an access token (a JWT: three base64url parts joined by dots); the value is not shown. Paste the service account's API key again, or bind the access token the step \"Octopus - Authenticate with OIDC\" outputs";

/// A JWT as far as its form goes: three non-empty base64url parts, the first a JSON object
/// (its header). The signature is Octopus's to check.
fn is_jwt(value: &str) -> bool {
    use base64::Engine as _;
    let parts: Vec<&str> = value.split('.').collect();
    let base64url = |p: &&str| {
        !p.is_empty()
            && p.trim_end_matches('=')
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if parts.len() != 3 || !parts.iter().all(base64url) {
        return false;
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[0].trim_end_matches('='))
        .ok()
        .and_then(|h| serde_json::from_slice::<serde_json::Value>(&h).ok())
        .is_some_and(|h| h.is_object())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    fn jwt(claims: &str) -> String {
        let part = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.c2lnbmF0dXJl",
            part(r#"{"alg":"RS256","typ":"JWT"}"#),
            part(claims)
        )
    }

    #[test]
    fn a_key_and_a_token_are_told_apart_by_their_form() {
        let key = OctopusCredential::parse("API-ABCDEFGHIJKLMNOPQRSTUVWXYZ").unwrap();
        assert!(!key.is_token() && key.expires().is_none());
        let (name, value) = key.header().unwrap();
        assert_eq!(name.as_str(), "x-octopus-apikey");
        assert!(value.is_sensitive());

        let token = OctopusCredential::parse(&jwt(r#"{"sub":"x","exp":1795420800}"#)).unwrap();
        assert!(token.is_token());
        assert_eq!(
            token.expires(),
            Some(time::macros::datetime!(2026-11-23 08:00 UTC))
        );
        let (name, value) = token.header().unwrap();
        assert_eq!(name, AUTHORIZATION);
        assert!(value.to_str().unwrap().starts_with("Bearer eyJ"));
        assert!(value.is_sensitive());
        // No exp: still a token, just no expiry to warn about.
        let forever = OctopusCredential::parse(&jwt(r#"{"sub":"x"}"#)).unwrap();
        assert!(forever.is_token() && forever.expires().is_none());
    }

    #[test]
    fn anything_else_is_refused_without_being_quoted() {
        for bad in [
            "hunter2",
            "a.b.c",
            "eyJhbGciOiJSUzI1NiJ9.payload",
            "eyJhbGciOiJSUzI1NiJ9..c2ln",
            "eyJhbGciOiJSUzI1NiJ9.pay+load.c2ln",
            "api-lowercase-is-not-a-key",
            "ghp_0123456789abcdef",
        ] {
            let e = OctopusCredential::parse(bad).unwrap_err();
            assert!(e.contains("VMSS.Octopus.ApiKey"), "{bad}");
            assert!(!e.contains(bad), "{bad} quoted");
        }
    }

    #[test]
    fn debug_prints_no_secret() {
        let token = jwt(r#"{"exp":1795420800}"#);
        for c in [
            OctopusCredential::parse("API-SECRETKEY123").unwrap(),
            OctopusCredential::parse(&token).unwrap(),
        ] {
            let shown = format!("{c:?}");
            assert!(
                !shown.contains("SECRETKEY") && !shown.contains(&token),
                "{shown}"
            );
        }
    }
}
