//! This run and the one before it, as data and rules: when this run was queued, the finished
//! run it may duplicate, and which targets are new. Pure: the reads that fill these types are in
//! [`crate::context`], the sentences about them in [`crate::report`].
//!
//! Times are Octopus's wire format ([`parse_time`], [`format_time`]): the reads send and parse
//! it, and the log shows it as Octopus's own UI and API do, so a person can match them.

use crate::reconcile::Target;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Parses an Octopus time (`2017-03-20T21:00:17.205+00:00`, any number of fraction digits).
pub fn parse_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s.trim(), &Rfc3339).ok()
}

/// Formats a time the way Octopus writes them.
pub fn format_time(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
    );
    t.format(&f).unwrap_or_else(|_| t.to_string())
}

/// An Octopus audit event (`EventResource`), as far as the run's rules read it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Event {
    /// `Events-N`.
    pub id: String,
    /// `Created`, `Modified`...
    #[serde(default)]
    pub category: String,
    /// When it happened, as Octopus writes times ([`parse_time`]).
    pub occurred: Option<String>,
    /// The event's subject first, then the documents it mentions (see [`subject`]).
    #[serde(default)]
    pub related_document_ids: Vec<String>,
}

/// The document an event is about: the first of its `RelatedDocumentIds`.
///
/// Octopus's events have no field naming their subject (`EventResource` in the 2020.5 Swagger
/// and in OctopusClients: `RelatedDocumentIds`, `MessageReferences`, `ChangeDetails`, `Links`
/// holding only `Self`), but every recorded event lists its subject first, then what it
/// mentions, in an order that is neither sorted nor hashed:
/// - a real 2023.1 server's events page (mcasperson/OctopusRecommendationEngine,
///   `internal/checks/performance/octopus_deployment_queued_time_check_test.go`, Octopus's
///   samples instance): `DeploymentQueued` and `DeploymentStarted` list `Deployments-N,
///   Projects-N, Releases-N, Environments-N, [Tenants-N,] ServerTasks-N, Channels-N`, the
///   deployment first even where the message never names it (`DeploymentQueued`'s
///   `MessageReferences` start with the project, so they cannot tell the subject);
/// - an Octopus Cloud `DeploymentFailed` event of 2023-09 (the sample payload in the README of
///   OctopusSolutionsEngineering/OctopusSubscriptionListener): the same order;
/// - a real `Created` event of a user (the subscription-webhook sample in Octopus's docs,
///   2020.2) lists only `Users-322`, the user created;
/// - `ChangeDetails.DocumentContext` is null on every recorded event, so it names nothing.
///
/// A tenant's `Created` event that lists its targets therefore has the tenant first, and is
/// not any target's creation. Should a server ever list a machine's own `Created` event with
/// another document first, that target counts as pre-existing: left out of the output, the
/// safe side (the contract's "creation time cannot be found").
pub fn subject(e: &Event) -> Option<&str> {
    e.related_document_ids.first().map(String::as_str)
}

/// This run's task and when it was queued.
#[derive(Debug, Clone)]
pub struct ThisRun {
    /// `ServerTasks-N`: the task to cancel if this is a duplicate.
    pub task_id: String,
    /// When Octopus queued it.
    pub queued: OffsetDateTime,
}

/// The previous run, finished.
#[derive(Debug, Clone)]
pub struct PreviousRun {
    /// Its task.
    pub task_id: String,
    /// When it finished.
    pub finished: OffsetDateTime,
    /// How it finished (`Success`, `Failed`...).
    pub state: String,
}

/// True when a run queued at `queued` is a duplicate of one that finished at `finished`: the
/// finish was no more than `window` before the queueing (or after it: the trigger fired again
/// while the previous run was still going).
pub fn is_duplicate(queued: OffsetDateTime, finished: OffsetDateTime, window: Duration) -> bool {
    queued - finished <= window
}

/// Each target's creation time: the earliest `Created` event whose [`subject`] it is. An event
/// that merely mentions the target (a tenant created and connected to it, a certificate bound
/// to it) is not its creation: counted as one, it made a two-year-old target whose own
/// `Created` event Octopus had archived (90 days by default) look new. A target with no
/// `Created` event of its own has no creation time here: pre-existing.
pub fn earliest_creations(events: &[Event]) -> HashMap<String, OffsetDateTime> {
    let mut created = HashMap::new();
    for e in events.iter().filter(|e| e.category == "Created") {
        let Some(at) = e.occurred.as_deref().and_then(parse_time) else {
            continue;
        };
        let Some(id) = subject(e).filter(|d| d.starts_with("Machines-")) else {
            continue;
        };
        let entry = created.entry(id.to_string()).or_insert(at);
        *entry = (*entry).min(at);
    }
    created
}

/// Splits members into new (created at or after `since`) and pre-existing (created before, or
/// with no creation event found).
pub fn split_new(
    members: &[Target],
    created: &HashMap<String, OffsetDateTime>,
    since: OffsetDateTime,
) -> (Vec<Target>, Vec<Target>) {
    members
        .iter()
        .cloned()
        .partition(|t| created.get(&t.id).is_some_and(|at| *at >= since))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn octopus_times_parse_with_any_fraction_and_offset() {
        assert_eq!(
            parse_time("2017-03-20T21:00:17.205+00:00"),
            Some(datetime!(2017-03-20 21:00:17.205 UTC))
        );
        assert_eq!(
            parse_time("2017-03-20T21:00:17.2051234+00:00").map(|t| t.unix_timestamp()),
            Some(1490043617)
        );
        assert_eq!(
            parse_time("2017-03-21T07:00:17+10:00"),
            Some(datetime!(2017-03-20 21:00:17 UTC))
        );
        assert_eq!(parse_time("Monday, March 20, 2017 9:00 PM"), None);
        assert_eq!(
            format_time(datetime!(2026-11-23 09:57:00 UTC)),
            "2026-11-23T09:57:00.000+00:00"
        );
    }

    #[test]
    fn the_duplicate_window_includes_finishes_after_queueing() {
        let queued = datetime!(2026-11-23 10:00 UTC);
        let w = Duration::from_secs(180);
        assert!(is_duplicate(queued, datetime!(2026-11-23 09:57 UTC), w));
        assert!(!is_duplicate(queued, datetime!(2026-11-23 09:56:59 UTC), w));
        assert!(is_duplicate(queued, datetime!(2026-11-23 10:01 UTC), w));
        assert!(!is_duplicate(
            queued,
            datetime!(2026-11-23 09:59 UTC),
            Duration::ZERO
        ));
    }

    #[test]
    fn a_targets_creation_is_its_earliest_created_event() {
        let event = |category: &str, at: &str, related: &[&str]| Event {
            id: "Events-1".into(),
            category: category.into(),
            occurred: Some(at.into()),
            related_document_ids: related.iter().map(|r| r.to_string()).collect(),
        };
        // Newest first, as Octopus lists them: a later event mentioning Machines-1 must not
        // make it look new.
        let events = [
            event(
                "Created",
                "2026-11-23T10:05:00+00:00",
                &["Machines-1", "Certificates-1"],
            ),
            event("Modified", "2026-11-23T10:04:00+00:00", &["Machines-2"]),
            event(
                "Created",
                "2026-11-23T09:58:00+00:00",
                &["Machines-2", "Environments-1"],
            ),
            event(
                "Created",
                "2026-11-23T09:50:00+00:00",
                &["Machines-1", "Environments-1"],
            ),
        ];
        let created = earliest_creations(&events);
        assert_eq!(created["Machines-1"], datetime!(2026-11-23 09:50 UTC));
        assert_eq!(created["Machines-2"], datetime!(2026-11-23 09:58 UTC));
        assert_eq!(created.len(), 2);
    }

    #[test]
    fn only_an_event_about_the_target_is_its_creation() {
        let event = |related: &[&str]| Event {
            id: "Events-1".into(),
            category: "Created".into(),
            occurred: Some("2026-11-23T09:59:20+00:00".into()),
            related_document_ids: related.iter().map(|r| r.to_string()).collect(),
        };
        // A tenant created and connected to two targets, a certificate bound to one, an event
        // with no documents at all: none is a target's creation.
        let events = [
            event(&["Tenants-7", "Machines-1", "Machines-2"]),
            event(&["Certificates-4", "Machines-2", "Environments-1"]),
            event(&[]),
            event(&["Machines-3", "Environments-1", "MachinePolicies-1"]),
        ];
        let created = earliest_creations(&events);
        assert_eq!(created.keys().collect::<Vec<_>>(), ["Machines-3"]);
    }

    #[test]
    fn members_without_a_recent_creation_event_are_pre_existing() {
        let t = |id: &str| Target::untenanted(id, id, &[], "Environments-1");
        let since = datetime!(2026-11-23 09:57 UTC);
        let created = HashMap::from([
            ("Machines-1".to_string(), datetime!(2026-11-23 09:58 UTC)),
            ("Machines-2".to_string(), datetime!(2026-11-23 09:56 UTC)),
            ("Machines-4".to_string(), datetime!(2026-11-23 10:05 UTC)),
        ]);
        let (new, old) = split_new(
            &[
                t("Machines-1"),
                t("Machines-2"),
                t("Machines-3"),
                t("Machines-4"),
            ],
            &created,
            since,
        );
        let ids = |v: &[Target]| v.iter().map(|t| t.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&new), ["Machines-1", "Machines-4"]);
        assert_eq!(ids(&old), ["Machines-2", "Machines-3"]);
    }
}
