//! Every sentence the step says to a person about its outcome, and the output variables later
//! steps read (the contract's outputs): one home for the words, so that the log reads the same
//! everywhere and fits a screen at 1,000 VMs.
//!
//! Highlighted lines are summaries, one per outcome (removed, kept, deployed), with names capped
//! at [`NAMES_SHOWN`] and a count of the rest; the detail goes to verbose lines.

use crate::azure::ScaleSet;
use crate::output::Reporter;
use crate::reconcile::{Instance, InstanceState, Plan, Prefix, RemovalReason, Target};
use crate::settings::ScaleSetRef;
use crate::step::Outcome;
use std::time::Duration;

/// How many names a line shows before it counts the rest.
pub const NAMES_SHOWN: usize = 10;

/// A list of names, cut short with a count when long: `a, b, c and 12 more`.
pub fn names<S: AsRef<str>>(list: &[S]) -> String {
    let shown: Vec<&str> = list.iter().take(NAMES_SHOWN).map(AsRef::as_ref).collect();
    match list.len().saturating_sub(NAMES_SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// A duration in words: `30 minutes`, `1 minute 30 seconds`, `600 milliseconds`.
pub fn duration(d: Duration) -> String {
    let mut f = timeago::Formatter::new();
    f.ago("")
        .num_items(2)
        .min_unit(timeago::TimeUnit::Milliseconds);
    f.convert(d).trim().to_string()
}

/// The first verbose line: which build ran.
pub fn version() -> String {
    format!(
        "vmss-check {} ({} build).",
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    )
}

/// What was removed (or, in a dry run, would be): one highlighted summary naming the first
/// few; each target's reason is in the verbose line written when it went.
pub fn removed(removed: &[(Target, RemovalReason)], dry_run: bool, reporter: &Reporter) {
    if removed.is_empty() {
        return;
    }
    let ns: Vec<&str> = removed.iter().map(|(t, _)| t.name.as_str()).collect();
    let verb = if dry_run {
        "Dry run: would remove"
    } else {
        "Removed"
    };
    reporter.highlight(&format!(
        "{verb} {} target(s) whose VMs are gone: {}.",
        ns.len(),
        names(&ns)
    ));
}

/// The plan, for a person: one verbose line of counts, and one warning per kind of target kept
/// (Failed VMs with Azure's reason, stopped VMs, foreign targets, unverified ones) and for VMs
/// whose Tentacle did not register; each names at most [`NAMES_SHOWN`] and counts the rest.
pub fn plan(
    plan: &Plan,
    instances: &[Instance],
    prefixes: &[Prefix],
    scale_sets: &[(ScaleSetRef, ScaleSet)],
    reporter: &Reporter,
) {
    let count = |s| instances.iter().filter(|i| i.state() == s).count();
    reporter.verbose(&format!(
        "Instances: {} ready, {} changing, {} stopped, {} failed, {} gone. Targets in scope: {} to deploy to, {} changing, {} to remove, {} kept; {} out of scope.",
        count(InstanceState::Member),
        count(InstanceState::Pending),
        count(InstanceState::Stopped),
        count(InstanceState::Failed),
        count(InstanceState::Gone),
        plan.members.len(),
        plan.pending.len(),
        plan.remove.len(),
        plan.stopped.len() + plan.failed.len() + plan.foreign.len() + plan.unverified.len() + plan.disabled.len(),
        plan.out_of_scope
    ));
    if plan.in_scope() == 0 && instances.iter().any(|i| i.state() != InstanceState::Gone) {
        reporter.warn(
            "No deployment target in this environment has all the roles in VMSS.DeploymentTarget.Roles, \
             although the scale set has VMs: check the roles for a typo, and that the VMs' Tentacles register with them.",
        );
    }
    if !plan.failed.is_empty() {
        let ns: Vec<String> = plan
            .failed
            .iter()
            .map(|(t, i)| {
                let why = i.reason.as_deref().unwrap_or("Azure gave no reason");
                format!("{} (VM {} in {}: {why})", t.name, i.name, i.scale_set)
            })
            .collect();
        reporter.warn(&format!(
            "Kept {} target(s) whose VM Azure reports Failed, and left them out of the output: {}. A Failed VM may still be serving; fix the cause (often an extension), then reimage or redeploy it.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.stopped.is_empty() {
        let ns: Vec<String> = plan
            .stopped
            .iter()
            .map(|(t, i)| {
                format!(
                    "{} ({} in {})",
                    t.name,
                    i.power_state.as_deref().unwrap_or("stopped"),
                    i.scale_set
                )
            })
            .collect();
        reporter.warn(&format!(
            "Kept {} target(s) whose VM is stopped or deallocated (an evicted Spot VM among them), and left them out of the output: {}. Start the VMs to deploy to them.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.foreign.is_empty() {
        let ns: Vec<String> = plan.foreign.iter().map(|t| t.name.clone()).collect();
        let known: Vec<String> = prefixes
            .iter()
            .map(|p| format!("{}* ({})", p.prefix, p.scale_set))
            .collect();
        let without: Vec<String> = scale_sets
            .iter()
            .filter(|(set, _)| !prefixes.iter().any(|p| p.scale_set == set.name))
            .map(|(set, _)| set.name.clone())
            .collect();
        let mut why = if known.is_empty() {
            "no computer name prefix is known for the scale set(s)".to_string()
        } else {
            format!(
                "their names carry none of the scale sets' computer name prefixes ({})",
                known.join(", ")
            )
        };
        if !without.is_empty() && !known.is_empty() {
            why.push_str(&format!("; {} lend no prefix", without.join(", ")));
        }
        reporter.warn(&format!(
            "Kept {} target(s) with the roles that match no VM of the scale set(s), because {why}: {}. They may belong to another scale set or a plain VM sharing the roles; vmss-check never removes those.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.unverified.is_empty() {
        let ns: Vec<String> = plan.unverified.iter().map(|t| t.name.clone()).collect();
        reporter.warn(&format!(
            "Kept {} target(s) that match no named instance ({}), because some instance has no computer name yet; a later run will remove them if their VMs are gone.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.disabled.is_empty() {
        let ns: Vec<String> = plan.disabled.iter().map(|t| t.name.clone()).collect();
        reporter.info(&format!(
            "Left {} disabled target(s) out of the output: {}.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.unregistered.is_empty() {
        let ns: Vec<String> = plan
            .unregistered
            .iter()
            .map(|i| format!("{} ({})", i.display_name(), i.scale_set))
            .collect();
        reporter.warn(&format!(
            "{} VM(s) are ready and running but have no deployment target in scope: {}. Their Tentacle did not register, so no deployment will reach them: check the scale set's custom script extension and the roles it registers with.",
            ns.len(),
            names(&ns)
        ));
    }
}

/// Output variable names, as later steps read them.
pub mod vars {
    /// `True` when there is at least one target to deploy to and the run is not a duplicate.
    pub const HAS_SERVERS: &str = "VMSSHasServersToDeployTo";
    /// Comma list of target ids.
    pub const TARGET_IDS: &str = "VMSSDeploymentTargetIds";
    /// Comma list of target names, same order.
    pub const TARGET_NAMES: &str = "VMSSDeploymentTargetNames";
    /// `True` for a duplicate trigger run.
    pub const DUPLICATE: &str = "VMSSDuplicateRun";
    /// Comma list of removed target ids (a dry run: those it would remove).
    pub const REMOVED_IDS: &str = "VMSSRemovedTargetIds";
    /// Comma list of removed target names.
    pub const REMOVED_NAMES: &str = "VMSSRemovedTargetNames";
    /// Comma list of targets left alone because their instance was still changing.
    pub const PENDING_NAMES: &str = "VMSSPendingTargetNames";
    /// `True` when the wait timed out and the step proceeded.
    pub const TIMED_OUT: &str = "VMSSTimedOut";
    /// Comma list of members left out as pre-existing.
    pub const PRE_EXISTING_NAMES: &str = "VMSSPreExistingTargetNames";
    /// Comma list of targets kept but not output because their VM is `Failed`.
    pub const FAILED_NAMES: &str = "VMSSFailedTargetNames";
    /// Comma list of targets kept but not output because their VM is stopped or deallocated.
    pub const STOPPED_NAMES: &str = "VMSSStoppedTargetNames";
    /// Comma list of computer names of ready VMs that no in-scope target matches.
    pub const UNREGISTERED_NAMES: &str = "VMSSUnregisteredInstanceNames";
}

/// Sets every output variable, after one highlighted line saying whom the deployment goes to.
pub fn outputs(outcome: &Outcome, reporter: &Reporter) {
    let deploy: &[Target] = if outcome.duplicate {
        &[]
    } else {
        &outcome.output
    };
    let ids: Vec<&str> = deploy.iter().map(|t| t.id.as_str()).collect();
    let names_: Vec<&str> = deploy.iter().map(|t| t.name.as_str()).collect();
    let has = !deploy.is_empty();
    if has {
        reporter.highlight(&format!(
            "Deploying to {} target(s): {}.",
            ids.len(),
            names(&names_)
        ));
    } else {
        reporter.highlight("No targets to deploy to.");
    }
    let bool_ = |b: bool| if b { "True" } else { "False" };
    reporter.set_variable(vars::HAS_SERVERS, bool_(has));
    reporter.set_variable(vars::TARGET_IDS, &ids.join(","));
    reporter.set_variable(vars::TARGET_NAMES, &names_.join(","));
    reporter.set_variable(vars::DUPLICATE, bool_(outcome.duplicate));
    let removed_ids: Vec<&str> = outcome.removed.iter().map(|(t, _)| t.id.as_str()).collect();
    let removed_names: Vec<&str> = outcome
        .removed
        .iter()
        .map(|(t, _)| t.name.as_str())
        .collect();
    reporter.set_variable(vars::REMOVED_IDS, &removed_ids.join(","));
    reporter.set_variable(vars::REMOVED_NAMES, &removed_names.join(","));
    let pending: Vec<&str> = outcome.pending.iter().map(|t| t.name.as_str()).collect();
    reporter.set_variable(vars::PENDING_NAMES, &pending.join(","));
    reporter.set_variable(vars::TIMED_OUT, bool_(outcome.timed_out));
    let old: Vec<&str> = outcome
        .pre_existing
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    reporter.set_variable(vars::PRE_EXISTING_NAMES, &old.join(","));
    let names_of = |ts: &[Target]| {
        ts.iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    reporter.set_variable(vars::FAILED_NAMES, &names_of(&outcome.failed));
    reporter.set_variable(vars::STOPPED_NAMES, &names_of(&outcome.stopped));
    reporter.set_variable(vars::UNREGISTERED_NAMES, &outcome.unregistered.join(","));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_capped_with_a_count() {
        let few = ["a", "b"];
        assert_eq!(names(&few), "a, b");
        let many: Vec<String> = (0..25).map(|i| format!("web{i:02}")).collect();
        assert_eq!(
            names(&many),
            "web00, web01, web02, web03, web04, web05, web06, web07, web08, web09 and 15 more"
        );
        assert_eq!(names::<&str>(&[]), "");
    }

    #[test]
    fn durations_read_as_words() {
        let s = Duration::from_secs;
        assert_eq!(duration(s(1800)), "30 minutes");
        assert_eq!(duration(s(90)), "1 minute 30 seconds");
        assert_eq!(duration(Duration::from_millis(600)), "600 milliseconds");
        assert_eq!(duration(s(7200)), "2 hours");
    }
}
