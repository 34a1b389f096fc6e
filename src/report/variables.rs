//! The output variables: the contract's names and the values the step sets for later steps.

use super::*;

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

/// Sets every output variable, after one highlighted line saying whom the deployment goes to,
/// and keeps them in the outcome for the decision record.
pub fn outputs(outcome: &mut Outcome, reporter: &Reporter) {
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
    let mut set_vars: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: &str| {
        reporter.set_variable(name, value);
        set_vars.push((name.to_string(), value.to_string()));
    };
    set(vars::HAS_SERVERS, bool_(has));
    set(vars::TARGET_IDS, &ids.join(","));
    set(vars::TARGET_NAMES, &names_.join(","));
    set(vars::DUPLICATE, bool_(outcome.duplicate));
    let removed_ids: Vec<&str> = outcome.removed.iter().map(|(t, _)| t.id.as_str()).collect();
    let removed_names: Vec<&str> = outcome
        .removed
        .iter()
        .map(|(t, _)| t.name.as_str())
        .collect();
    set(vars::REMOVED_IDS, &removed_ids.join(","));
    set(vars::REMOVED_NAMES, &removed_names.join(","));
    let pending: Vec<&str> = outcome.pending.iter().map(|t| t.name.as_str()).collect();
    set(vars::PENDING_NAMES, &pending.join(","));
    set(vars::TIMED_OUT, bool_(outcome.timed_out));
    let old: Vec<&str> = outcome
        .pre_existing
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    set(vars::PRE_EXISTING_NAMES, &old.join(","));
    let names_of = |ts: &[Target]| {
        ts.iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    set(vars::FAILED_NAMES, &names_of(&outcome.failed));
    set(vars::STOPPED_NAMES, &names_of(&outcome.stopped));
    set(vars::UNREGISTERED_NAMES, &outcome.unregistered.join(","));
    outcome.variables = set_vars;
}
