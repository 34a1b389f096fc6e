//! The wait's words: what it waits for, each check, what is still changing, how it ended.

use super::{capitalise, duration, names, which};
use crate::error::Failure;
use crate::reconcile::{self, Instance, InstanceState};
use crate::settings::{ScaleSetRef, TimeoutHandle};
use std::time::Duration;

/// The wait begins.
pub fn waiting(sets: &[ScaleSetRef], timeout: Duration) -> String {
    format!(
        "Waiting up to {} for {} to settle.",
        duration(timeout),
        which(sets)
    )
}

/// The wait ends well.
pub fn settled(sets: &[ScaleSetRef], took: Duration) -> String {
    format!(
        "{} settled after {}.",
        capitalise(&which(sets)),
        duration(took)
    )
}

/// The deadline came first: as the step's failure (`VMSS.Timeout.ErrorHandle` is `Error`), or
/// as the warning it proceeds with.
pub fn did_not_settle(
    sets: &[ScaleSetRef],
    timeout: Duration,
    still: &str,
    handle: TimeoutHandle,
) -> String {
    let head = format!(
        "{} did not settle within {} ({still})",
        capitalise(&which(sets)),
        duration(timeout)
    );
    if handle == TimeoutHandle::Error {
        format!("{head}; nothing was removed. Raise VMSS.Timeout.Value, or set VMSS.Timeout.ErrorHandle to Proceed to deploy to the instances that are ready.")
    } else {
        format!("{head}. Proceeding: the targets of instances still changing are neither removed nor deployed to.")
    }
}

/// A check failed in a way another check cannot mend, and ended the wait.
pub fn wait_failed(failure: &Failure) -> String {
    format!("{} Nothing was removed.", failure.message)
}

/// The deadline came while the checks were failing: `failure` is the last one.
pub fn failing_at_deadline(failure: &Failure) -> String {
    format!(
        "{} The wait ran out before Azure answered; nothing was removed.",
        failure.message
    )
}

/// Azure asked (`Retry-After`) to be left alone past the deadline, so the wait slept to the
/// deadline and ended there: a timeout, handled as `VMSS.Timeout.ErrorHandle` says.
pub fn throttled_to_the_deadline(
    sets: &[ScaleSetRef],
    timeout: Duration,
    throttle: &Failure,
    handle: TimeoutHandle,
) -> String {
    let asked = throttle
        .retry_after
        .map(|r| format!(" asked to wait {}, past the deadline", duration(r)))
        .unwrap_or_default();
    let head = format!(
        "Azure throttled the checks of {} and{asked}, so the wait ended at its deadline ({}) without seeing them settle",
        which(sets),
        duration(timeout)
    );
    if handle == TimeoutHandle::Error {
        format!("{head}; nothing was removed. Compute's read budget is shared by the whole subscription and region: raise VMSS.Poll.Interval or VMSS.Timeout.Value, or set VMSS.Timeout.ErrorHandle to Proceed.")
    } else {
        format!("{head}. Proceeding: the instances are listed once more, and the targets of instances still changing are neither removed nor deployed to.")
    }
}

/// A failure that stopped the step before anything was removed.
pub fn nothing_removed(f: &crate::error::Failure) -> String {
    format!("{} Nothing was removed.", f.message)
}

/// The progress bar's text.
pub fn ready(ready: usize, of: Option<usize>) -> String {
    match of {
        Some(0) => "Waiting for the scale set".to_string(),
        Some(total) => format!("{ready} of {total} instance(s) ready"),
        None => format!("{ready} instance(s) ready"),
    }
}

/// One check that found something still changing.
pub fn check(check: u32, ready: usize, total: usize, still: &str) -> String {
    if total == 0 {
        // No instance listed yet (the scale set itself is still changing): no count to give.
        format!("Check {check}: {still}.")
    } else {
        format!("Check {check}: {ready} of {total} instance(s) ready; {still}.")
    }
}

/// A check that failed, said the first time.
pub fn check_failed(check: u32, failure: &crate::error::Failure) -> String {
    format!("Check {check}: {} Will check again.", failure.message)
}

/// The same failure again, counted.
pub fn check_failed_again(check: u32, repeats: u32) -> String {
    format!(
        "Check {check}: the same failure again ({} checks in a row).",
        repeats + 1
    )
}

/// The poll interval stretched for Azure's read budget; `low` when the budget really is
/// running low (not merely too small for the interval asked for).
pub fn pacing(bucket: &str, remaining: u32, every: Duration, low: bool) -> String {
    if low {
        format!(
            "Azure's read budget is running low ({bucket}: {remaining} left); checking every {} so that it lasts, for this step and the rest of the subscription.",
            duration(every)
        )
    } else {
        format!(
            "Checking every {} rather than every VMSS.Poll.Interval, so that Azure's read budget ({bucket}: {remaining} left) lasts until it refills, for this step and the rest of the subscription.",
            duration(every)
        )
    }
}

/// A scale set whose empty listing proves nothing ([`reconcile::may_lend_prefix`]).
pub fn listed_none(set: &ScaleSetRef, why: reconcile::ListedNone) -> String {
    match why {
        reconcile::ListedNone::WithCapacity(capacity) => format!("Scale set {set} has capacity {capacity} but Azure listed no instances, so its listing cannot show which targets are stale: nothing is removed on its account, and none of its targets is deployed to. Check that the Azure account may read the scale set's VMs (for a Flexible scale set, Reader on its resource group)."),
        reconcile::ListedNone::WithoutCapacity => format!("Scale set {set} listed no VMs and reports no capacity, so its listing cannot show which targets are stale: nothing is removed on its account."),
    }
}

/// What is still changing in one scale set: `the scale set itself is Updating`, or
/// `2 instance(s) still changing: web000003 (Creating), ...`; with `named`, prefixed by the
/// scale set's name, for steps that wait for several.
pub fn still_changing(
    set: &ScaleSetRef,
    state: Option<&str>,
    instances: Option<&[Instance]>,
    named: bool,
) -> String {
    let text = match instances {
        None => format!(
            "{} is {}",
            if named { "it" } else { "the scale set itself" },
            state.unwrap_or("changing")
        ),
        Some(is) => {
            let pending: Vec<String> = is
                .iter()
                .filter(|i| i.state() == InstanceState::Pending)
                .map(|i| format!("{} ({})", i.display_name(), i.describe_state()))
                .collect();
            format!(
                "{} instance(s) still changing: {}",
                pending.len(),
                names(&pending)
            )
        }
    };
    if named {
        format!("{set}: {text}")
    } else {
        text
    }
}

/// What is still changing, when the set's latest rolling upgrade is still rolling forward.
pub fn rolling_upgrade(set: &ScaleSetRef, words: &str) -> String {
    and_also(
        words,
        format!(
            "a rolling upgrade of {} is replacing VMs (RollingForward)",
            set.name
        ),
    )
}

/// What is still changing, when an automatic zone rebalance of the set is under way.
pub fn zone_rebalance(set: &ScaleSetRef, words: &str) -> String {
    and_also(
        words,
        format!(
            "an automatic zone rebalance of {} is under way (one of its VMs will be deleted when it ends)",
            set.name
        ),
    )
}

/// `words; more`, or `more` alone when nothing came before.
pub(super) fn and_also(words: &str, more: String) -> String {
    if words.is_empty() {
        more
    } else {
        format!("{words}; {more}")
    }
}

/// Proceeding after the deadline while a zone rebalance is under way.
pub fn rebalance_under_way(set: &ScaleSetRef) -> String {
    format!(
        "An automatic zone rebalance of scale set {set} was still under way at the deadline: Azure has created a VM in another zone and will delete one of the set's VMs when the rebalance ends (Azure does not say which), so a target deployed to now may lose its VM. Protect the VMs being deployed to (instance protection), or turn automatic zone balancing off while deploying (resiliencyPolicy.automaticZoneRebalancingPolicy)."
    )
}

/// The one warning about a scale set whose automatic repairs run: what Azure will do to a VM
/// the deployment is reaching, and how to make the two agree.
pub fn repairs_will_replace(set: &ScaleSetRef, repairs: &reconcile::RepairPolicy) -> String {
    let does = match repairs.action.to_ascii_lowercase().as_str() {
        "restart" => "restarts it",
        "reimage" => "reimages it (rebuilds its disk from the image)",
        _ => "replaces it (deletes it and creates another under a new name, whose Tentacle registers and fires the trigger again)",
    };
    format!(
        "Scale set {set} has automatic repairs on (grace period {}, action {}): when a VM's health probe still fails {} after its last state change, Azure {does}, during the deployment this step hands it to. If the probe checks what the deployment installs, every new VM fails it until the deployment ends. To keep Azure and the deployment apart, give a grace period longer than the deployment takes (automaticRepairsPolicy.gracePeriod, up to PT90M), protect the VMs being deployed to (instance protection, protectFromScaleSetActions), or suspend automatic repairs for the deployment (az vmss set-orchestration-service-state --service-name AutomaticRepairs --action Suspend).",
        repairs.grace_text(),
        repairs.action,
        duration(repairs.grace()),
    )
}

/// A scale set whose automatic repairs Azure has stopped (verbose): `state` is the
/// `AutomaticRepairs` service's (`Suspended`, `NotRunning`).
pub fn repairs_stopped(set: &ScaleSetRef, state: &str) -> String {
    format!("Automatic repairs of scale set {set} are {state}: Azure repairs none of its VMs now.")
}
