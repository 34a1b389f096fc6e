//! This run and the one before: duplicates, cancelling, targets that existed before the run.

use super::{duration, names};
use crate::reconcile::Target;
use std::time::Duration;

use crate::runs::{format_time, PreviousRun, ThisRun};

/// A triggered run that is not a duplicate.
pub fn not_a_duplicate(this: &ThisRun, window: Duration) -> String {
    format!(
        "Not a duplicate: no other run of this project in this environment finished within {} before this run was queued at {}.",
        duration(window),
        format_time(this.queued)
    )
}

/// A duplicate trigger run.
pub fn duplicate(
    trigger: &str,
    this: &ThisRun,
    previous: &PreviousRun,
    window: Duration,
) -> String {
    format!(
        "Duplicate run: trigger {trigger} queued this run at {}, and the previous run ({}, {}) finished at {}, within VMSS.Duplicate.TimeInMinutes ({}).",
        format_time(this.queued),
        previous.task_id,
        previous.state,
        format_time(previous.finished),
        duration(window)
    )
}

/// A duplicate that carries on.
pub const PROCEEDING_ON_A_DUPLICATE: &str =
    "Carrying on (VMSS.Duplicate.Handle is Proceed): targets are reconciled, but none are output.";

/// A duplicate that cancels its own task.
pub fn cancelling(this: &ThisRun) -> String {
    format!(
        "Cancelling this run's task {} (VMSS.Duplicate.Handle is Cancel); nothing was removed.",
        this.task_id
    )
}

/// Members left out as pre-existing (`VMSS.OldServers.ExcludeFromOutput`).
pub fn pre_existing(old: &[Target], since: time::OffsetDateTime) -> String {
    let ns: Vec<&str> = old.iter().map(|t| t.name.as_str()).collect();
    format!(
        "Leaving {} pre-existing target(s) out of the output, created before {} (VMSS.OldServers.TimeInMinutes before this run was queued) or with no creation event: {}.",
        old.len(),
        format_time(since),
        names(&ns)
    )
}
