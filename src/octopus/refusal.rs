//! Classifying what the Octopus Server refused or failed, from what the step got back (the
//! status, its error body, reqwest's error), into an [`OctopusRefusal`]: a typed value
//! (`crate::error::octopus`) keeping each fact its sentence needs, so the kind survives to the
//! top. Classifying is pure; the sentences are the words' (`report/octopus.rs`, its
//! `Display`), so this side names no Octopus parameter.

use super::*;
use crate::error::octopus::{Answer, Credential, OctopusRefusal};

/// Octopus's error body.
#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ErrorBody {
    error_message: Option<String>,
    #[serde(default)]
    errors: Vec<String>,
}

impl ErrorBody {
    /// The body of a refusal, or an empty one when it is not Octopus's JSON.
    pub(super) fn read(bytes: &[u8]) -> ErrorBody {
        serde_json::from_slice(crate::http::without_bom(bytes)).unwrap_or_default()
    }
}

impl Answer {
    /// The facts of Octopus's answer: its `ErrorMessage`, and the first of its `Errors` when
    /// the message does not already say it, made printable, without a final full stop.
    pub(super) fn of(status: u16, body: ErrorBody, retry_after: Option<Duration>) -> Answer {
        let mut detail = body.error_message.unwrap_or_default();
        if let Some(first) = body.errors.first().filter(|e| !detail.contains(e.as_str())) {
            detail = format!("{detail} {first}");
        }
        let detail = crate::output::printable(detail.trim().trim_end_matches('.')).into_owned();
        Answer {
            status,
            detail,
            retry_after,
        }
    }
}

impl Credential {
    /// How `credential` signs in, without its secret.
    pub(super) fn of(credential: &OctopusCredential) -> Credential {
        match credential {
            OctopusCredential::ApiKey(_) => Credential::ApiKey,
            OctopusCredential::AccessToken { expires, .. } => {
                Credential::AccessToken { expires: *expires }
            }
        }
    }
}

impl OctopusRefusal {
    /// Classifies Octopus's `answer` to a request made while `doing`, signed in with
    /// `credential`, at `now`: by the kind of its status (401 by the credential, 403, 404,
    /// 429, then passing failures, then the rest).
    pub fn of(
        answer: Answer,
        doing: &str,
        credential: Credential,
        now: time::OffsetDateTime,
    ) -> OctopusRefusal {
        let doing = doing.to_string();
        match FailureKind::from_status(answer.status) {
            FailureKind::Unauthorized => match credential {
                Credential::ApiKey => OctopusRefusal::KeyRejected { answer },
                Credential::AccessToken { expires } => OctopusRefusal::TokenRejected {
                    answer,
                    expires,
                    at: now,
                },
            },
            FailureKind::Forbidden => OctopusRefusal::NotAllowed {
                answer,
                doing,
                credential,
                permissions: PERMISSIONS,
            },
            FailureKind::NotFound => OctopusRefusal::NotFound { answer, doing },
            // Octopus 2026.3 limits API requests per user and node (on by default in Octopus
            // Cloud): a 429 asks the step to slow down, and is retried like Azure's.
            FailureKind::Throttled => OctopusRefusal::Throttled { answer, doing },
            k if k.is_transient() => OctopusRefusal::Failed { answer, doing },
            _ => OctopusRefusal::Refused { answer, doing },
        }
    }

    /// A request to `url` that got no answer while `doing`, of `kind`, for want of `cause`
    /// (the innermost error's words).
    pub(super) fn unreached(
        kind: FailureKind,
        url: &Url,
        doing: &str,
        cause: &dyn std::error::Error,
    ) -> OctopusRefusal {
        let mut cause = cause;
        while let Some(next) = cause.source() {
            cause = next;
        }
        OctopusRefusal::Unreached {
            kind,
            origin: url.origin().ascii_serialization(),
            doing: doing.to_string(),
            cause: cause.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::octopus::{Cut, Short};
    use time::macros::datetime;

    fn body(json: &str) -> ErrorBody {
        ErrorBody::read(json.as_bytes())
    }

    fn variant(r: &OctopusRefusal) -> &'static str {
        use OctopusRefusal::*;
        match r {
            KeyRejected { .. } => "KeyRejected",
            TokenRejected { .. } => "TokenRejected",
            NotAllowed { .. } => "NotAllowed",
            NotFound { .. } => "NotFound",
            Throttled { .. } => "Throttled",
            Failed { .. } => "Failed",
            Refused { .. } => "Refused",
            _ => "other",
        }
    }

    #[test]
    fn each_status_is_its_own_refusal_and_keeps_its_kind() {
        let now = datetime!(2026-03-01 12:00:00 UTC);
        let key = Credential::ApiKey;
        for (status, want, kind) in [
            (401, "KeyRejected", FailureKind::Unauthorized),
            (403, "NotAllowed", FailureKind::Forbidden),
            (404, "NotFound", FailureKind::NotFound),
            (429, "Throttled", FailureKind::Throttled),
            (503, "Failed", FailureKind::ServerError),
            (408, "Failed", FailureKind::Timeout),
            (400, "Refused", FailureKind::Permanent),
            (409, "Refused", FailureKind::Permanent),
        ] {
            let r = OctopusRefusal::of(Answer::of(status, body("{}"), None), "x", key, now);
            assert_eq!(variant(&r), want, "{status}");
            assert_eq!(r.kind(), kind, "{status}");
            assert_eq!(r.status(), Some(status));
        }
        let expires = Some(datetime!(2026-03-01 11:00:00 UTC));
        let token = Credential::AccessToken { expires };
        let r = OctopusRefusal::of(Answer::of(401, body("{}"), None), "x", token, now);
        assert_eq!(
            r,
            OctopusRefusal::TokenRejected {
                answer: Answer::of(401, ErrorBody::default(), None),
                expires,
                at: now,
            }
        );
        let r = OctopusRefusal::of(Answer::of(403, body("{}"), None), "x", token, now);
        assert!(
            matches!(&r, OctopusRefusal::NotAllowed { credential, permissions, .. }
                if *credential == token && *permissions == PERMISSIONS),
            "{r:?}"
        );
    }

    #[test]
    fn the_detail_is_the_message_and_the_first_error_it_does_not_already_say() {
        let detail = |json: &str| Answer::of(400, body(json), None).detail;
        assert_eq!(
            detail(r#"{"ErrorMessage":"Bad request.","Errors":["Name is required."]}"#),
            "Bad request. Name is required"
        );
        assert_eq!(
            detail(r#"{"ErrorMessage":"Name is required.","Errors":["Name is required"]}"#),
            "Name is required"
        );
        // With its BOM, as some servers send it.
        assert_eq!(
            Answer::of(
                400,
                ErrorBody::read(b"\xEF\xBB\xBF{\"ErrorMessage\":\"No.\"}"),
                None
            )
            .detail,
            "No"
        );
        // A body that is not Octopus's JSON says nothing.
        assert_eq!(detail("<html>502</html>"), "");
        // Control characters never reach the log as they are.
        assert_eq!(detail(r#"{"ErrorMessage":"a\u001bb"}"#), "a\\x1Bb");
    }

    #[test]
    fn a_refusal_stays_on_the_failure_with_its_status_and_retry_after() {
        let after = Some(Duration::from_secs(7));
        let r = OctopusRefusal::of(
            Answer::of(429, body("{}"), after),
            "list deployment targets",
            Credential::ApiKey,
            time::OffsetDateTime::UNIX_EPOCH,
        );
        let failure = r.clone().into_failure();
        assert_eq!(failure.kind, FailureKind::Throttled);
        assert_eq!(failure.retry_after, after);
        assert_eq!(failure.message, r.to_string());
        let top = crate::error::Error::Octopus(failure);
        let kept = top.failure().and_then(|f| f.cause::<OctopusRefusal>());
        assert_eq!(kept, Some(&r));
        assert_eq!(kept.and_then(OctopusRefusal::status), Some(429));
        // The refusals without an answer keep their kind too.
        let short = OctopusRefusal::PagingShort {
            doing: "x".into(),
            total: 2,
            held: 1,
            why: Short::Twice,
        };
        assert_eq!(short.kind(), FailureKind::Permanent);
        let cut = OctopusRefusal::PagingCut {
            doing: "x".into(),
            cut: Cut::Rule("a page came without its list of items".into()),
        };
        assert_eq!(cut.into_failure().kind, FailureKind::Permanent);
    }
}
