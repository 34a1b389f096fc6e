//! The removals, a few at a time within the step's time.

use crate::error::{Error, Failure, FailureKind};
use crate::octopus::{Deleted, OctopusClient};
use crate::outcome::{Outcome, Removal};
use crate::output::Reporter;
use crate::reconcile::{Decision, RemovalReason, Target};
use crate::report;

/// How many targets are removed at once: a scale-in of dozens finishes in a fraction of the
/// time, while Octopus sees no more than a person clicking quickly would send it.
pub const REMOVALS_AT_ONCE: usize = 4;

/// Removes the planned targets, [`REMOVALS_AT_ONCE`] at a time, before the step's end:
/// none starts once the time is spent, and a dry run removes nothing. Every target is
/// attempted; if any fails (or was not tried), the step fails after the rest, saying which.
/// Each target's row in the outcome says how its removal went.
pub(super) async fn remove(
    octopus: &OctopusClient,
    dry_run: bool,
    reporter: &Reporter,
    outcome: &mut Outcome,
) -> Result<(), Error> {
    use futures::StreamExt as _;
    let planned: Vec<(Target, RemovalReason)> = outcome
        .targets
        .iter()
        .filter_map(|r| match &r.decision {
            Decision::Removed(why) => Some((r.target.clone(), why.clone())),
            _ => None,
        })
        .collect();
    let mut results: Vec<(usize, Removal)> = futures::stream::iter(planned.iter().enumerate())
        .map(|(n, (target, reason))| async move {
            if dry_run {
                reporter.verbose(&report::removing(target, reason, true));
                return (n, Removal::DryRun);
            }
            if octopus.out_of_time() {
                return (n, Removal::NotTried);
            }
            let result = match octopus.delete_target(&target.id).await {
                Ok(Deleted::Removed) => {
                    reporter.verbose(&report::removing(target, reason, false));
                    Removal::Removed
                }
                Ok(Deleted::AlreadyGone) => {
                    reporter.info(&report::already_removed(target));
                    Removal::AlreadyGone
                }
                Err(f) => Removal::Failed(f),
            };
            (n, result)
        })
        .buffer_unordered(REMOVALS_AT_ONCE)
        .collect()
        .await;
    // In the plan's order, whichever finished first.
    results.sort_by_key(|(n, _)| *n);
    for (n, result) in results {
        outcome.removal(&planned[n].0.id, result);
    }
    let removed: Vec<&Target> = outcome.removed().map(|(t, _)| t).collect();
    report::removed(&removed, dry_run, reporter);
    let mut failed = Vec::new();
    let mut not_tried = 0;
    for row in &outcome.targets {
        match &row.removal {
            Some(Removal::Failed(why)) => failed.push((row.target.name.clone(), why.clone())),
            Some(Removal::NotTried) => not_tried += 1,
            _ => {}
        }
    }
    if not_tried > 0 || !failed.is_empty() {
        let said = report::not_all_removed(removed.len(), planned.len(), not_tried, &failed);
        // The first refusal's kind, or the step's time running out.
        let first = failed.into_iter().next().map(|(_, f)| f);
        let failure = first.unwrap_or_else(|| Failure::new(FailureKind::Timeout, String::new()));
        return Err(Error::Octopus(failure.reworded(said)));
    }
    Ok(())
}
