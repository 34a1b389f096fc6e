//! The Octopus run this step belongs to: when it was queued, whether it duplicates the previous
//! run, and which targets are new.
//!
//! Why these endpoints:
//! - **Queue time** comes from this run's server task (`GET tasks/{id}` -> `QueueTime`): one
//!   request, exact, and the same for deployments and runbook runs. (The deployment's own
//!   `QueueTime` is the *scheduled* time and is null for immediate runs; audit events would
//!   need a search.)
//! - **The previous run** comes from one task listing filtered by project (or runbook),
//!   environment, tenant, kind and final state, newest first. The tasks API cannot ask for
//!   "untenanted", and older servers may ignore a filter, so a candidate that would make this
//!   run a duplicate is confirmed against its deployment or runbook run (one request, and only
//!   for candidates inside the window): a false duplicate with `Cancel` would cancel a
//!   deployment that should run.
//! - **Creation times** come from two audit-event queries in the run's space
//!   (`/api/{spaceId}/events`): the `Created` events of machines since the window's start
//!   (the candidates: however many old targets there are, only the last few minutes' events),
//!   then any event *regarding* one of those candidates (`regardingAny`) up to the window's
//!   start. `documentTypes` also returns events that merely mention a machine (a tenant's
//!   `Created` event lists its targets), so only an event whose *subject* is the machine
//!   counts as its creation ([`subject`]), and a candidate with an older event existed before
//!   the window. The PowerShell step asked once per target.

use crate::error::Failure;
use crate::octopus::{HasId, OctopusClient};
use crate::reconcile::Target;
use crate::settings::RunContext;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Final task states: a run in one of them has finished.
const FINISHED_STATES: &str = "Success,Failed,Canceled,TimedOut";
/// How many recent tasks to read when looking for the previous run.
const RECENT_TASKS: usize = 10;
/// How many in-window candidates to confirm before concluding.
const MAX_CONFIRMATIONS: usize = 3;

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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TaskResource {
    id: String,
    #[serde(default)]
    state: String,
    queue_time: Option<String>,
    completed_time: Option<String>,
    #[serde(default)]
    arguments: HashMap<String, serde_json::Value>,
}

/// A deployment or a runbook run.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RunDocument {
    #[serde(default)]
    project_id: Option<String>,
    #[serde(default)]
    environment_id: Option<String>,
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    task_id: Option<String>,
    #[serde(default)]
    runbook_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EventResource {
    id: String,
    #[serde(default)]
    category: String,
    occurred: Option<String>,
    /// The event's subject first, then the documents it mentions (see [`subject`]).
    #[serde(default)]
    related_document_ids: Vec<String>,
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
fn subject(e: &EventResource) -> Option<&str> {
    e.related_document_ids.first().map(String::as_str)
}

impl HasId for EventResource {
    fn id(&self) -> &str {
        &self.id
    }
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

fn bad_answer(doing: &str, what: &str) -> Failure {
    Failure::permanent(format!("Octopus's answer while trying to {doing} has no {what}; vmss-check cannot tell when this run was queued."))
}

fn is_runbook_run(run: &RunContext) -> bool {
    run.deployment_id.is_none() && run.runbook_run_id.is_some()
}

async fn run_document(octopus: &OctopusClient, run: &RunContext) -> Result<RunDocument, Failure> {
    let (collection, id) = match (&run.deployment_id, &run.runbook_run_id) {
        (Some(d), _) => ("deployments", d),
        (None, Some(r)) => ("runbookRuns", r),
        (None, None) => {
            return Err(Failure::permanent(
                "Neither OCTOPUS_DEPLOYMENT_ID nor OCTOPUS_RUNBOOKRUN_ID is set, so this run cannot be found in Octopus: the step template passes them from #{Octopus.Deployment.Id} and #{Octopus.RunbookRun.Id}.",
            ))
        }
    };
    octopus
        .get_json(
            &octopus.api(&format!("{collection}/{id}")),
            &format!("read {id}"),
        )
        .await
}

/// Finds this run's task and its queue time (one request when `OCTOPUS_TASK_ID` is known).
pub async fn this_run(octopus: &OctopusClient, run: &RunContext) -> Result<ThisRun, Failure> {
    let task_id = match &run.task_id {
        Some(t) => t.clone(),
        None => run_document(octopus, run)
            .await?
            .task_id
            .ok_or_else(|| bad_answer("read this run", "TaskId"))?,
    };
    let doing = format!("read this run's task {task_id}");
    let task: TaskResource = octopus
        .get_json(&octopus.api(&format!("tasks/{task_id}")), &doing)
        .await?;
    let queued = task
        .queue_time
        .as_deref()
        .and_then(parse_time)
        .ok_or_else(|| bad_answer(&doing, "QueueTime"))?;
    Ok(ThisRun { task_id, queued })
}

/// Finds the most recently finished other run of the same project (or runbook), environment
/// and tenant, if it finished inside the window. `None`: not a duplicate.
pub async fn duplicate_of(
    octopus: &OctopusClient,
    run: &RunContext,
    this: &ThisRun,
    window: Duration,
) -> Result<Option<PreviousRun>, Failure> {
    let runbook = is_runbook_run(run);
    // The project (or runbook) may be missing from the environment; the run's document has it.
    let (project, runbook_id) = match (runbook, &run.project_id, &run.runbook_id) {
        (false, Some(p), _) => (Some(p.clone()), None),
        (true, _, Some(r)) => (None, Some(r.clone())),
        _ => {
            let doc = run_document(octopus, run).await?;
            (doc.project_id, doc.runbook_id)
        }
    };
    let mut url = octopus.api("tasks");
    {
        let mut q = url.query_pairs_mut();
        match (&runbook_id, &project) {
            (Some(r), _) if runbook => q.append_pair("runbook", r),
            (_, Some(p)) => q.append_pair("project", p),
            _ => return Err(bad_answer("read this run", "ProjectId or RunbookId")),
        };
        q.append_pair("environment", &run.environment_id);
        if let Some(t) = &run.tenant_id {
            q.append_pair("tenant", t);
        }
        q.append_pair("name", if runbook { "RunbookRun" } else { "Deploy" });
        q.append_pair("states", FINISHED_STATES);
        q.append_pair("take", &RECENT_TASKS.to_string());
    }
    let doing = "list this project's recent runs";
    let page: crate::octopus::Page<TaskResource> = octopus.get_json(&url, doing).await?;
    let mut finished: Vec<(OffsetDateTime, TaskResource)> = page
        .items
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.id != this.task_id)
        .filter_map(|t| Some((t.completed_time.as_deref().and_then(parse_time)?, t)))
        .filter(|(at, _)| is_duplicate(this.queued, *at, window))
        .collect();
    finished.sort_by_key(|f| std::cmp::Reverse(f.0));
    for (at, task) in finished.into_iter().take(MAX_CONFIRMATIONS) {
        if confirm(
            octopus,
            run,
            &task,
            project.as_deref(),
            runbook_id.as_deref(),
        )
        .await?
        {
            return Ok(Some(PreviousRun {
                task_id: task.id,
                finished: at,
                state: task.state,
            }));
        }
    }
    Ok(None)
}

/// Checks that a candidate task ran the same project (or runbook), environment and tenant.
async fn confirm(
    octopus: &OctopusClient,
    run: &RunContext,
    task: &TaskResource,
    project: Option<&str>,
    runbook: Option<&str>,
) -> Result<bool, Failure> {
    let document = ["DeploymentId", "RunbookRunId"].iter().find_map(|k| {
        task.arguments
            .get(*k)
            .and_then(|v| v.as_str())
            .map(|v| (*k, v.to_string()))
    });
    let Some((kind, id)) = document else {
        // Nothing to check against: the server's filters are all there is.
        return Ok(true);
    };
    let collection = if kind == "DeploymentId" {
        "deployments"
    } else {
        "runbookRuns"
    };
    let doc: RunDocument = octopus
        .get_json(
            &octopus.api(&format!("{collection}/{id}")),
            &format!("read {id}"),
        )
        .await?;
    let same = |a: Option<&str>, b: Option<&str>| a.is_none() || a == b;
    Ok(
        doc.environment_id.as_deref() == Some(run.environment_id.as_str())
            && doc.tenant_id == run.tenant_id
            && same(project, doc.project_id.as_deref())
            && same(runbook, doc.runbook_id.as_deref()),
    )
}

/// Targets created at or after `since`, with their creation times, from one audit-event query
/// (paged). Bounded by how many targets were created recently, not by how many exist.
pub async fn created_since(
    octopus: &OctopusClient,
    space: Option<&str>,
    since: OffsetDateTime,
) -> Result<HashMap<String, OffsetDateTime>, Failure> {
    let mut url = events_url(octopus, space);
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("eventCategories", "Created");
        q.append_pair("documentTypes", "Machines");
        q.append_pair("from", &format_time(since));
        // No `includeSystem`: it adds the events outside any space (OctopusClients'
        // MixedScopeBaseRepository), not events by system users, and a target lives in a space.
        q.append_pair("skip", "0");
        q.append_pair("take", "100");
    }
    let events: Vec<EventResource> = octopus
        .all_pages(url, "read when targets were created")
        .await?;
    Ok(earliest_creations(&events))
}

/// The run's space's events (`/api/{spaceId}/events`), or the default space's without one.
fn events_url(octopus: &OctopusClient, space: Option<&str>) -> url::Url {
    match space {
        Some(_) => octopus.api("events"),
        None => octopus.base_api("events"),
    }
}

/// How many ids one `regardingAny` carries, so the URL stays short (a scale-out's new
/// targets fit in one).
const REGARDING_AT_ONCE: usize = 100;

/// Of `candidates`, those that some event of any category regards up to `before`: they existed
/// before the window, whatever a recent event says. One request per [`REGARDING_AT_ONCE`]
/// candidates (paged), none without candidates.
pub async fn regarded_before(
    octopus: &OctopusClient,
    space: Option<&str>,
    candidates: &[String],
    before: OffsetDateTime,
) -> Result<std::collections::HashSet<String>, Failure> {
    let mut old = std::collections::HashSet::new();
    for chunk in candidates.chunks(REGARDING_AT_ONCE) {
        let mut url = events_url(octopus, space);
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("regardingAny", &chunk.join(","));
            q.append_pair("to", &format_time(before));
            q.append_pair("skip", "0");
            q.append_pair("take", "100");
        }
        let events: Vec<EventResource> = octopus
            .all_pages(url, "read whether new targets existed before")
            .await?;
        for e in &events {
            // An event at the window's very start is not older than the window.
            if e.occurred
                .as_deref()
                .and_then(parse_time)
                .is_some_and(|at| at >= before)
            {
                continue;
            }
            old.extend(
                e.related_document_ids
                    .iter()
                    .filter(|d| chunk.contains(d))
                    .cloned(),
            );
        }
    }
    Ok(old)
}

/// Each target's creation time: the earliest `Created` event whose [`subject`] it is. An event
/// that merely mentions the target (a tenant created and connected to it, a certificate bound
/// to it) is not its creation: counted as one, it made a two-year-old target whose own
/// `Created` event Octopus had archived (90 days by default) look new. A target with no
/// `Created` event of its own has no creation time here: pre-existing.
fn earliest_creations(events: &[EventResource]) -> HashMap<String, OffsetDateTime> {
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
        let event = |category: &str, at: &str, related: &[&str]| EventResource {
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
        let event = |related: &[&str]| EventResource {
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
