//! The reconcile phase's edges: the empty-listing rule that decides which sets lend their
//! prefix, and the removals, a few at a time within the step's time.

use super::*;

/// How many targets are removed at once: a scale-in of dozens finishes in a fraction of the
/// time, while Octopus sees no more than a person clicking quickly would send it.
pub const REMOVALS_AT_ONCE: usize = 4;

/// The contract's empty-listing rule, per scale set. A set that says it has VMs but lists none
/// is more likely a listing problem than an empty fleet: the step fails rather than remove
/// every target on its word. A set that lists none and reports no capacity at all (a Flexible
/// set without a VM profile) lends no prefix, so nothing is removed on its account. Otherwise
/// the set lends its computer name prefix, if it has one.
pub(super) fn lent_prefix(
    set: &ScaleSetRef,
    ss: &ScaleSet,
    instances: &[Instance],
    reporter: &Reporter,
) -> Option<Prefix> {
    if instances.is_empty() {
        match ss.capacity {
            Some(0) => {}
            // Its listing proves nothing: it lends no prefix, and the other sets go on.
            Some(n) => {
                reporter.warn(&report::listed_none_with_capacity(set, n));
                return None;
            }
            None => {
                reporter.warn(&report::listed_none_without_capacity(set));
                return None;
            }
        }
    }
    ss.computer_name_prefix.clone().map(|prefix| Prefix {
        scale_set: set.name.clone(),
        set_id: ss.id.clone(),
        prefix,
    })
}

/// Removes the planned targets, [`REMOVALS_AT_ONCE`] at a time, within the step's budget:
/// none starts once the time is spent, and a dry run removes nothing. Every target is
/// attempted; if any fails (or was not tried), the step fails after the rest, saying which.
/// Each target's row in the outcome says how its removal went.
pub(super) async fn remove(
    plan: &Plan,
    octopus: &OctopusClient,
    dry_run: bool,
    reporter: &Reporter,
    outcome: &mut Outcome,
) -> Result<Vec<(Target, RemovalReason)>, Error> {
    use futures::StreamExt as _;
    let mut results: Vec<(usize, Removal)> = futures::stream::iter(plan.remove.iter().enumerate())
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
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    let mut not_tried = 0;
    for (n, result) in results {
        let (target, reason) = &plan.remove[n];
        match &result {
            Removal::Removed | Removal::AlreadyGone | Removal::DryRun => {
                removed.push((target.clone(), reason.clone()))
            }
            Removal::Failed(why) => failed.push((target.name.clone(), why.clone())),
            Removal::NotTried => not_tried += 1,
        }
        outcome.removal(&target.id, result);
    }
    report::removed(&removed, dry_run, reporter);
    if not_tried > 0 || !failed.is_empty() {
        let said = report::not_all_removed(removed.len(), plan.remove.len(), not_tried, &failed);
        // The first refusal's kind, or the step's time running out.
        let first = failed.into_iter().next().map(|(_, f)| f);
        let failure = first.unwrap_or_else(|| Failure::new(FailureKind::Timeout, String::new()));
        return Err(Error::Octopus(failure.reworded(said)));
    }
    Ok(removed)
}
