//! Why a call to Octopus failed, in one sentence naming the thing and what to check (the
//! Octopus parameter, the permission to grant, the step to run first): the words of
//! [`OctopusRefusal`], which the Octopus side classifies without wording.

use super::utc;
use crate::error::octopus::{Answer, Credential, Cut, OctopusRefusal, Short};
use crate::error::FailureKind;
use crate::signin::TOKEN_BINDING;
use std::fmt;

/// How a listing cut short ends: nothing was removed, and where to look.
const CUT_ADVICE: &str = "Nothing was removed, since the listing is incomplete; check the Octopus Server's address (VMSS.Octopus.Url must be the address the server itself uses, as in its Links) and any proxy in front of it.";

impl fmt::Display for OctopusRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use OctopusRefusal::*;
        match self {
            KeyRejected { answer } => write!(
                f,
                "Octopus rejected the API key in VMSS.Octopus.ApiKey (HTTP 401{}). The key may have expired or been revoked: keys made on Octopus 2025.4 and later expire (after 180 days by default), and a revoked key or a deactivated user is refused the same way. Make a new key on the service account's profile (Configuration -> Users -> the service account -> API Keys -> New API key) and put it in VMSS.Octopus.ApiKey.",
                said(answer)
            ),
            TokenRejected {
                answer,
                expires,
                at: now,
            } => {
                let when = match expires {
                    Some(at) if at <= now => format!(
                        "The token expired at {} ({} ago).",
                        utc(*at),
                        minutes(*now - *at)
                    ),
                    Some(at) => format!(
                        "The token expires only at {}, so Octopus refused it for another reason (a token from another Octopus Server, or its service account deactivated).",
                        utc(*at)
                    ),
                    None => "The token says nothing of when it expires.".into(),
                };
                write!(
                    f,
                    "Octopus rejected the access token in VMSS.Octopus.ApiKey (HTTP 401{}). {when} Access tokens last one hour: run the step \"Octopus - Authenticate with OIDC\" in the same deployment, shortly before this one, and bind its output ({TOKEN_BINDING}, with that step's name between the brackets).",
                    said(answer)
                )
            }
            NotAllowed {
                answer,
                doing,
                credential,
                permissions,
            } => {
                let who = match credential {
                    Credential::ApiKey => "API key",
                    Credential::AccessToken { .. } => "access token",
                };
                write!(
                    f,
                    "The user of the {who} in VMSS.Octopus.ApiKey may not {doing} (HTTP 403{}). Give its team these permissions in this space and environment: {} (TaskCancel only for VMSS.Duplicate.Handle=Cancel).",
                    said(answer),
                    permissions.join(", ")
                )
            }
            NotFound { answer, doing } => write!(
                f,
                "Octopus answered 404 Not Found while trying to {doing}{}. Check VMSS.Octopus.Url (including any path prefix) and the space.",
                said(answer)
            ),
            Throttled { answer, doing } => write!(
                f,
                "Octopus throttled the step while trying to {doing} (HTTP 429{}): its API rate limit for this API key's user was reached.",
                said(answer)
            ),
            Failed { answer, doing } => write!(
                f,
                "Octopus failed to {doing} (HTTP {}{}).",
                answer.status,
                said(answer)
            ),
            Refused { answer, doing } => write!(
                f,
                "Octopus refused to {doing} (HTTP {}{}).",
                answer.status,
                said(answer)
            ),
            Unreached {
                kind,
                origin,
                doing,
                cause,
            } => {
                let (what, check) = match kind {
                    FailureKind::Timeout => ("got no answer in time", "that the server is up and answering, and VMSS.Octopus.Url"),
                    FailureKind::Dns => ("failed: the host name does not resolve", "VMSS.Octopus.Url and the worker's DNS"),
                    FailureKind::Tls => ("failed a TLS check", "that the worker trusts the server's certificate (its CA in the system store or SSL_CERT_FILE), and VMSS.Octopus.Url"),
                    FailureKind::ConnectionRefused => ("was refused", "VMSS.Octopus.Url (host and port)"),
                    _ => ("failed", "VMSS.Octopus.Url"),
                };
                write!(
                    f,
                    "A request to Octopus at {origin} {what} while trying to {doing} ({cause}). Check {check}, and the worker's network and proxy settings."
                )
            }
            Unreadable {
                server,
                doing,
                error,
            } => write!(
                f,
                "The server at {server} did not answer like an Octopus Server while trying to {doing} ({error}). Check VMSS.Octopus.Url, including any path prefix."
            ),
            KeyUnsendable => f.write_str(
                "VMSS.Octopus.ApiKey holds characters an HTTP header cannot carry: paste the key again.",
            ),
            PagingCut { doing, cut } => {
                write!(
                    f,
                    "Octopus's paging cut the listing short while trying to {doing}: "
                )?;
                match cut {
                    Cut::LeadsAway { link, home } => write!(
                        f,
                        "its Page.Next link ({link}) leads away from VMSS.Octopus.Url ({home}), and the API key is sent to no other server"
                    )?,
                    Cut::Rule(why) => f.write_str(why)?,
                }
                write!(f, ". {CUT_ADVICE}")
            }
            PagingShort {
                doing,
                total,
                held,
                why,
            } => {
                let why = match why {
                    Short::Twice => "twice".to_string(),
                    Short::KeptChanging { reads } => {
                        format!("and it kept changing through {reads} reads")
                    }
                    Short::KeptChangingPastTime { reads } => format!(
                        "and it kept changing through {reads} reads until the step's time (2 minutes past VMSS.Timeout.Value) ran out"
                    ),
                    Short::TimeRanOut { read } => format!(
                        "and the step's time (2 minutes past VMSS.Timeout.Value) ran out during read {read}"
                    ),
                };
                write!(
                    f,
                    "Octopus's paging came up short while trying to {doing}: it counted {total} items (TotalResults) but its pages held {held}, {why}. Nothing was removed, since the listing is incomplete; check the Octopus Server (or a proxy in front of it) and run the step again."
                )
            }
            NoEnvironment {
                server,
                environment,
                space,
            } => write!(
                f,
                "Octopus at {server} has no environment {environment}{}: VMSS.Octopus.Url must be the Octopus Server running this deployment, with its path prefix if it has one.",
                space
                    .as_deref()
                    .map(|s| format!(" in space {s}"))
                    .unwrap_or_default()
            ),
        }
    }
}

/// How long ago a token expired, to the minute (to the second under two minutes).
fn minutes(d: time::Duration) -> String {
    let s = d.whole_seconds().max(0);
    match s {
        1 => "1 second".into(),
        0..120 => format!("{s} seconds"),
        _ => format!("{} minutes", s / 60),
    }
}

/// What Octopus said, as a sentence quotes it after the status: `: detail`, or nothing.
fn said(answer: &Answer) -> String {
    if answer.detail.is_empty() {
        String::new()
    } else {
        format!(": {}", answer.detail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn answer(status: u16, detail: &str) -> Answer {
        Answer {
            status,
            detail: detail.into(),
            retry_after: None,
        }
    }

    #[test]
    fn a_rejected_credential_says_which_it_was_and_when_a_token_expires() {
        let at = datetime!(2026-03-01 12:00:00 UTC);
        let said = [
            (
                OctopusRefusal::KeyRejected {
                    answer: answer(401, ""),
                },
                "Octopus rejected the API key in VMSS.Octopus.ApiKey (HTTP 401). The key may have expired or been revoked: keys made on Octopus 2025.4 and later expire (after 180 days by default), and a revoked key or a deactivated user is refused the same way. Make a new key on the service account's profile (Configuration -> Users -> the service account -> API Keys -> New API key) and put it in VMSS.Octopus.ApiKey.",
            ),
            (
                OctopusRefusal::TokenRejected {
                    answer: answer(401, "Token expired"),
                    expires: Some(datetime!(2026-03-01 11:30:00 UTC)),
                    at,
                },
                "Octopus rejected the access token in VMSS.Octopus.ApiKey (HTTP 401: Token expired). The token expired at 2026-03-01 11:30:00 UTC (30 minutes ago). Access tokens last one hour: run the step \"Octopus - Authenticate with OIDC\" in the same deployment, shortly before this one, and bind its output (#{Octopus.Action[Authenticate with OIDC].Output.AccessToken}, with that step's name between the brackets).",
            ),
            (
                OctopusRefusal::TokenRejected {
                    answer: answer(401, ""),
                    expires: Some(datetime!(2026-03-01 12:40:00 UTC)),
                    at,
                },
                "Octopus rejected the access token in VMSS.Octopus.ApiKey (HTTP 401). The token expires only at 2026-03-01 12:40:00 UTC, so Octopus refused it for another reason (a token from another Octopus Server, or its service account deactivated). Access tokens last one hour: run the step \"Octopus - Authenticate with OIDC\" in the same deployment, shortly before this one, and bind its output (#{Octopus.Action[Authenticate with OIDC].Output.AccessToken}, with that step's name between the brackets).",
            ),
            (
                OctopusRefusal::TokenRejected {
                    answer: answer(401, ""),
                    expires: None,
                    at,
                },
                "Octopus rejected the access token in VMSS.Octopus.ApiKey (HTTP 401). The token says nothing of when it expires. Access tokens last one hour: run the step \"Octopus - Authenticate with OIDC\" in the same deployment, shortly before this one, and bind its output (#{Octopus.Action[Authenticate with OIDC].Output.AccessToken}, with that step's name between the brackets).",
            ),
        ];
        for (refusal, sentence) in said {
            assert_eq!(refusal.to_string(), sentence);
        }
    }

    #[test]
    fn refusals_name_the_octopus_parameter_or_permission_to_check() {
        let doing = || "list deployment targets".to_string();
        let said = [
            (
                OctopusRefusal::NotAllowed {
                    answer: answer(403, "You do not have permission"),
                    doing: doing(),
                    credential: Credential::AccessToken { expires: None },
                    permissions: &["MachineView", "TaskCancel"],
                },
                "The user of the access token in VMSS.Octopus.ApiKey may not list deployment targets (HTTP 403: You do not have permission). Give its team these permissions in this space and environment: MachineView, TaskCancel (TaskCancel only for VMSS.Duplicate.Handle=Cancel).",
            ),
            (
                OctopusRefusal::NotFound {
                    answer: answer(404, ""),
                    doing: doing(),
                },
                "Octopus answered 404 Not Found while trying to list deployment targets. Check VMSS.Octopus.Url (including any path prefix) and the space.",
            ),
            (
                OctopusRefusal::Failed {
                    answer: answer(503, "busy"),
                    doing: doing(),
                },
                "Octopus failed to list deployment targets (HTTP 503: busy).",
            ),
            (
                OctopusRefusal::Unreached {
                    kind: FailureKind::ConnectionRefused,
                    origin: "https://octo.example".into(),
                    doing: doing(),
                    cause: "Connection refused".into(),
                },
                "A request to Octopus at https://octo.example was refused while trying to list deployment targets (Connection refused). Check VMSS.Octopus.Url (host and port), and the worker's network and proxy settings.",
            ),
            (
                OctopusRefusal::PagingCut {
                    doing: doing(),
                    cut: Cut::LeadsAway {
                        link: "https://elsewhere/api".into(),
                        home: "https://octo.example".into(),
                    },
                },
                "Octopus's paging cut the listing short while trying to list deployment targets: its Page.Next link (https://elsewhere/api) leads away from VMSS.Octopus.Url (https://octo.example), and the API key is sent to no other server. Nothing was removed, since the listing is incomplete; check the Octopus Server's address (VMSS.Octopus.Url must be the address the server itself uses, as in its Links) and any proxy in front of it.",
            ),
            (
                OctopusRefusal::PagingShort {
                    doing: doing(),
                    total: 12,
                    held: 10,
                    why: Short::KeptChanging { reads: 8 },
                },
                "Octopus's paging came up short while trying to list deployment targets: it counted 12 items (TotalResults) but its pages held 10, and it kept changing through 8 reads. Nothing was removed, since the listing is incomplete; check the Octopus Server (or a proxy in front of it) and run the step again.",
            ),
            (
                OctopusRefusal::NoEnvironment {
                    server: "https://octo.example/".into(),
                    environment: "Environments-1".into(),
                    space: Some("Spaces-1".into()),
                },
                "Octopus at https://octo.example/ has no environment Environments-1 in space Spaces-1: VMSS.Octopus.Url must be the Octopus Server running this deployment, with its path prefix if it has one.",
            ),
        ];
        for (refusal, sentence) in said {
            assert_eq!(refusal.to_string(), sentence);
        }
    }
}
