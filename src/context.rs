//! The reads behind the Octopus run this step belongs to: when it was queued, whether it
//! duplicates the previous run, and which targets are new. The data they return and the rules
//! that take it live apart, pure, in [`crate::runs`].
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
//!   counts as its creation ([`crate::runs::subject`]), and a candidate with an older event
//!   existed before the window. The PowerShell step asked once per target.

use crate::error::Failure;
use crate::octopus::{HasId, OctopusClient};
use crate::runs::{
    earliest_creations, format_time, is_duplicate, parse_time, Event, PreviousRun, ThisRun,
};
use crate::settings::RunContext;
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use time::OffsetDateTime;

/// Final task states: a run in one of them has finished.
const FINISHED_STATES: &str = "Success,Failed,Canceled,TimedOut";
/// How many recent tasks to read when looking for the previous run.
const RECENT_TASKS: usize = 10;
/// How many in-window candidates to confirm before concluding.
const MAX_CONFIRMATIONS: usize = 3;

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

impl HasId for Event {
    fn id(&self) -> &str {
        &self.id
    }
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
    let events: Vec<Event> = octopus
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
/// before the window, whatever a recent event says. One request per `REGARDING_AT_ONCE`
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
        let events: Vec<Event> = octopus
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
