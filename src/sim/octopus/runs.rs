//! The simulated run context: tasks (this run's, the previous one's), deployments and runbook
//! runs, and the audit events, shaped like a real server's.

use super::*;

/// The same for `Links.Events`.
pub(super) const EVENTS_TEMPLATE: &[&str] = &[
    "skip",
    "regarding",
    "regardingAny",
    "user",
    "users",
    "projects",
    "projectGroups",
    "environments",
    "eventGroups",
    "eventCategories",
    "eventAgents",
    "tags",
    "tenants",
    "from",
    "to",
    "internal",
    "fromAutoId",
    "toAutoId",
    "documentTypes",
    "asCsv",
    "take",
    "ids",
    "spaces",
    "includeSystem",
];

pub(super) fn task_json(t: &SimTask) -> Value {
    let mut arguments = json!({});
    let key = if t.name == "Deploy" {
        "DeploymentId"
    } else {
        "RunbookRunId"
    };
    arguments[key] = Value::String(t.document_id.clone());
    json!({
        "Id": t.id,
        "SpaceId": "Spaces-1",
        "Name": t.name,
        "Description": format!("{} {}", t.name, t.document_id),
        "Arguments": arguments,
        "State": t.state,
        "Completed": t.completed_time.map(|_| "Monday, November 23, 2026 10:00 AM"),
        "QueueTime": octopus_time(t.queue_time),
        "QueueTimeExpiry": null,
        "StartTime": octopus_time(t.queue_time + time::Duration::seconds(2)),
        "LastUpdatedTime": octopus_time(t.completed_time.unwrap_or(t.queue_time)),
        "CompletedTime": t.completed_time.map(octopus_time),
        "ServerNode": "SIM",
        "ErrorMessage": "",
        "HasBeenPickedUpByProcessor": true,
        "IsCompleted": t.completed_time.is_some(),
        "FinishedSuccessfully": t.state == "Success",
        "HasPendingInterruptions": false,
        "CanRerun": false,
        "HasWarningsOrErrors": false,
        "Links": {"Self": format!("/api/Spaces-1/tasks/{}", t.id)}
    })
}

pub(super) fn list_tasks(w: &World, q: &HashMap<String, String>) -> Response {
    let ignored = w.faults.ignore_task_filters;
    // The task kind (`name`) is honoured even by old servers; the others may not be.
    let honoured = |k: &str| !ignored || k == "name";
    let one = |k: &str| {
        q.get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty() && honoured(k))
    };
    let states = list_param(q, "states");
    let take: usize = q.get("take").and_then(|s| s.parse().ok()).unwrap_or(30);
    let mut tasks: Vec<&SimTask> = w
        .tasks
        .iter()
        .filter(|t| one("project").is_none_or(|p| t.project_id == p))
        .filter(|t| one("environment").is_none_or(|e| t.environment_id == e))
        .filter(|t| one("tenant").is_none_or(|x| t.tenant_id.as_deref() == Some(x)))
        .filter(|t| one("runbook").is_none_or(|r| t.runbook_id.as_deref() == Some(r)))
        .filter(|t| one("name").is_none_or(|n| t.name == n))
        .filter(|t| states.is_empty() || states.contains(&t.state))
        .collect();
    tasks.sort_by_key(|t| std::cmp::Reverse(t.queue_time));
    let total = tasks.len();
    let items: Vec<Value> = tasks.into_iter().take(take).map(task_json).collect();
    json(
        StatusCode::OK,
        json!({"ItemType": "Task", "TotalResults": total, "ItemsPerPage": take, "Items": items, "Links": {}}),
    )
}

pub(super) fn cancel_task(w: &mut World, id: &str) -> Response {
    let Some(t) = w.tasks.iter_mut().find(|t| t.id == id) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("The resource '{id}' was not found."),
        );
    };
    t.state = "Cancelling".into();
    let body = task_json(t);
    w.cancelled.push(id.to_string());
    json(StatusCode::OK, body)
}

/// A deployment or runbook run, from the task that runs it.
pub(super) fn document(w: &World, id: &str) -> Response {
    let Some(t) = w.tasks.iter().find(|t| t.document_id == id) else {
        return error(
            StatusCode::NOT_FOUND,
            &format!("The resource '{id}' was not found."),
        );
    };
    let mut doc = json!({
        "Id": t.document_id,
        "SpaceId": "Spaces-1",
        "ProjectId": t.project_id,
        "EnvironmentId": t.environment_id,
        "TenantId": t.tenant_id,
        "TaskId": t.id,
        "Created": octopus_time(t.queue_time),
        "QueueTime": null,
        "Links": {"Task": format!("/api/Spaces-1/tasks/{}", t.id)}
    });
    // What the 2020.5 Swagger requires of each: the release, or the runbook and its snapshot.
    match &t.runbook_id {
        Some(r) => {
            doc["RunbookId"] = Value::String(r.clone());
            doc["RunbookSnapshotId"] =
                Value::String(format!("RunbookSnapshots-{}", t.document_id.len()));
        }
        None => doc["ReleaseId"] = Value::String("Releases-41".into()),
    }
    json(StatusCode::OK, doc)
}

pub(super) fn list_events(w: &World, q: &HashMap<String, String>, path: &str) -> Response {
    let categories = list_param(q, "eventCategories");
    let document_types = list_param(q, "documentTypes");
    let regarding = list_param(q, "regarding");
    let regarding_any = list_param(q, "regardingAny");
    let parse = |k: &str| {
        q.get(k).and_then(|v| {
            time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339).ok()
        })
    };
    let (from, to) = (parse("from"), parse("to"));
    // `includeSystem=true` adds the events outside any space to those of `spaces` (or of
    // every space when no space is named).
    let include_system = q
        .get("includeSystem")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let spaces = list_param(q, "spaces");
    let skip: usize = q.get("skip").and_then(|s| s.parse().ok()).unwrap_or(0);
    let take: usize = q.get("take").and_then(|s| s.parse().ok()).unwrap_or(30);
    let mut events: Vec<&SimEvent> = w
        .events
        .iter()
        .filter(|e| match &e.space_id {
            None => include_system,
            Some(s) => spaces.is_empty() || spaces.contains(s),
        })
        .filter(|e| categories.is_empty() || categories.contains(&e.category))
        .filter(|e| {
            document_types.is_empty()
                || document_types
                    .iter()
                    .any(|d| e.related.iter().any(|r| r.starts_with(&format!("{d}-"))))
        })
        .filter(|e| regarding.iter().all(|r| e.related.contains(r)))
        .filter(|e| regarding_any.is_empty() || regarding_any.iter().any(|r| e.related.contains(r)))
        .filter(|e| from.is_none_or(|f| e.occurred >= f))
        .filter(|e| to.is_none_or(|t| e.occurred <= t))
        .collect();
    events.sort_by_key(|e| std::cmp::Reverse(e.occurred));
    let total = events.len();
    let items: Vec<Value> = events
        .iter()
        .skip(skip)
        .take(take)
        .map(|e| event_json(w, e))
        .collect();
    let mut links = json!({});
    if skip + take < total {
        links["Page.Next"] = Value::String(page_link(w, path, q, skip + take, EVENTS_TEMPLATE));
    }
    json(
        StatusCode::OK,
        json!({"ItemType": "Event", "TotalResults": total, "ItemsPerPage": take, "Items": items, "Links": links}),
    )
}

/// An event as a real server writes it (2023.1, recorded): `RelatedDocumentIds` with its subject
/// first, a message naming the subject, `MessageReferences` locating the names in the message,
/// empty `ChangeDetails`, and `Links` holding only `Self`. Nothing else names the subject.
/// (`IpAddress`, which later servers add, is left out: the 2020.5 description lacks it.)
pub(super) fn event_json(w: &World, e: &SimEvent) -> Value {
    let subject = e.related.first().cloned().unwrap_or_default();
    let kind = match subject.split_once('-').map(|(k, _)| k) {
        Some("Machines") => "Deployment target",
        Some("Tenants") => "Tenant",
        Some("Certificates") => "Certificate",
        Some(other) => other,
        None => "Document",
    };
    let name = w
        .machines
        .iter()
        .find(|m| m.id == subject)
        .map_or(subject.as_str(), |m| m.name.as_str());
    let (message, references) = if subject.is_empty() {
        (e.category.clone(), json!([]))
    } else {
        let text = match e.category.as_str() {
            "Created" => format!("{kind} {name} has been created"),
            "Modified" => format!("{kind} {name} has been modified"),
            other => format!("{other}: {kind} {name}"),
        };
        let start = text.find(name).unwrap_or(0);
        (
            text,
            json!([{"ReferencedDocumentId": subject, "StartIndex": start, "Length": name.len()}]),
        )
    };
    json!({
        "Id": e.id,
        "RelatedDocumentIds": e.related,
        "Category": e.category,
        "UserId": "Users-42",
        "Username": "tentacle-registration",
        "IsService": true,
        "IdentityEstablishedWith": "API key",
        "UserAgent": "Tentacle/8.2.2517",
        "Occurred": octopus_time(e.occurred),
        "Message": message,
        "MessageHtml": message,
        "MessageReferences": references,
        "Comments": null,
        "Details": null,
        "ChangeDetails": {"DocumentContext": null, "Differences": null},
        "SpaceId": e.space_id,
        "Links": {"Self": format!("/api/events/{}", e.id)}
    })
}
