//! Signing in to Octopus and Azure: tokens that expire first, permissions, target tags.

use super::duration;
use std::time::Duration;

/// The preflight got no answer.
pub fn octopus_silent(url: &url::Url, within: Duration) -> String {
    format!(
        "Octopus at {url} did not answer within {}. Check VMSS.Octopus.Url, and that the server is up; nothing was removed.",
        duration(within)
    )
}

/// The OIDC token will expire before the wait could end.
pub fn oidc_expires_first(
    expires: time::OffsetDateTime,
    left: Duration,
    timeout: Duration,
) -> String {
    format!(
        "The Azure account's federated (OIDC) token expires at {} UTC, in {}, which is before this step's wait could end (VMSS.Timeout.Value is {}). Azure AD will not issue a new access token after then (AADSTS700024), so a wait that needs one fails. Lower VMSS.Timeout.Value, or use an Azure account with a client secret for long waits.",
        expires
            .format(&time::macros::format_description!("[hour]:[minute]:[second]"))
            .unwrap_or_default(),
        duration(left),
        duration(timeout)
    )
}

/// The Octopus access token will expire before the step's latest end (or already has).
pub fn octopus_token_expires_first(
    expires: time::OffsetDateTime,
    latest: time::OffsetDateTime,
    left: Duration,
    overrun: Duration,
) -> String {
    let when = if left.is_zero() {
        format!("expired at {}, before this step started", utc(expires))
    } else {
        format!(
            "expires at {}, in {}, before this step's latest end at {} (VMSS.Timeout.Value from now, plus {} for the work after the wait)",
            utc(expires),
            duration(left),
            utc(latest),
            duration(overrun)
        )
    };
    format!(
        "The Octopus access token in VMSS.Octopus.ApiKey {when}. Octopus refuses it from then on, and the step fails wherever it has got to. Run the step \"Octopus - Authenticate with OIDC\" right before this one (its tokens last one hour), or lower VMSS.Timeout.Value."
    )
}

/// A time as the sign-in messages write it: `2026-11-23 10:00:00 UTC`.
pub fn utc(t: time::OffsetDateTime) -> String {
    t.to_offset(time::UtcOffset::UTC)
        .format(&time::macros::format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
        ))
        .unwrap_or_else(|_| t.to_string())
}

/// Who the signed-in user is, in words: whose key or token, and its name.
pub(super) fn signed_in(token: bool, user: &str) -> String {
    if token {
        format!("The access token's service account {user}")
    } else {
        format!("The API key's user {user}")
    }
}

/// Where the run is, in words: `space Spaces-1, environment Environments-1, tenant Tenants-1`.
pub(super) fn run_scope(at: &crate::permissions::Scope<'_>) -> String {
    let mut parts = Vec::new();
    if let Some(space) = at.space {
        parts.push(format!("space {space}"));
    }
    parts.push(format!("environment {}", at.environment));
    if let Some(tenant) = at.tenant {
        parts.push(format!("tenant {tenant}"));
    }
    parts.join(", ")
}

/// The signed-in user may not do what the run needs where it runs: which permissions, how
/// their grants fall short, and the team setting to change.
pub fn permissions_missing(
    token: bool,
    user: &str,
    teams: &[String],
    missing: &[crate::permissions::Missing],
    at: &crate::permissions::Scope<'_>,
) -> String {
    use crate::permissions::Shortfall;
    let ids = |ids: &[String]| ids.join(", ");
    let each: Vec<String> = missing
        .iter()
        .map(|m| {
            let how = match &m.shortfall {
                Shortfall::NotInSpace => "no team of the user grants it in this space".to_string(),
                Shortfall::Environments(e) => format!("granted only in environments {}", ids(e)),
                Shortfall::Tenants(t) => format!("granted only for tenants {}", ids(t)),
                Shortfall::Projects(p) => format!("granted only for projects {}", ids(p)),
            };
            format!("{} (to {}; {how})", m.need.permission, m.need.why)
        })
        .collect();
    let mut add = Vec::new();
    for m in missing {
        let what = match &m.shortfall {
            Shortfall::Environments(_) => format!("environment {}", at.environment),
            Shortfall::Tenants(_) => format!("tenant {}", at.tenant.unwrap_or_default()),
            Shortfall::Projects(_) => format!("project {}", at.project.unwrap_or_default()),
            Shortfall::NotInSpace => continue,
        };
        if !add.contains(&what) {
            add.push(what);
        }
    }
    let teams = if teams.is_empty() {
        String::new()
    } else {
        format!(" (teams: {})", teams.join(", "))
    };
    let change = if add.is_empty() {
        "include a user role that grants them, in this space".to_string()
    } else {
        format!(
            "add {} to the scope of the user role that grants them (the role's Define scope), or include a role that grants them with that scope",
            add.join(" and ")
        )
    };
    format!(
        "{}{teams} lacks permissions this run needs in {}: {}. Octopus does not refuse such a user, it shows it fewer targets or none, so the step stopped here rather than decide on a partial list; nothing was removed. In Octopus, Configuration -> Teams, on the user's team: {change}.",
        signed_in(token, user),
        run_scope(at),
        each.join(", ")
    )
}

/// Octopus could not say what the signed-in user may do: the step goes on as before.
pub fn permissions_unknown(why: &str) -> String {
    format!(
        "Octopus did not say what the signed-in user may do ({}), so the step could not check its permissions for this run's environment and goes on without. A key or token whose team is scoped to other environments or tenants sees fewer targets, not an error: if the step finds no targets where there should be some, check the team's scope.",
        why.trim_end_matches('.')
    )
}

/// Every needed permission is granted where the run is (verbose).
pub fn permissions_granted(
    token: bool,
    user: &str,
    needs: &[crate::permissions::Need],
    at: &crate::permissions::Scope<'_>,
) -> String {
    let names: Vec<&str> = needs.iter().map(|n| n.permission).collect();
    format!(
        "{} may do what this run needs in {}: {}.",
        signed_in(token, user),
        run_scope(at),
        names.join(", ")
    )
}

/// Roles of the run that are tags of two or more target tag sets (one warning for all).
pub fn tags_in_several_sets(shared: &[crate::target_tags::SharedTag]) -> String {
    let each: Vec<String> = shared
        .iter()
        .map(|s| format!("{} is a tag of {}", s.tag, s.sets.join(" and ")))
        .collect();
    format!(
        "Target tag {}. Octopus matches targets by tag value whatever its tag set, so VMSS.DeploymentTarget.Roles selects the targets tagged so in any of them. If the sets mean different machines, rename one of the tags.",
        each.join("; target tag ")
    )
}

/// The target tag sets could not be read (verbose: the check is only a warning).
pub fn tag_sets_unread(f: &crate::error::Failure) -> String {
    format!(
        "The target tag sets were not read, so the step did not check whether a role is a tag of two sets: {}",
        f.message
    )
}
