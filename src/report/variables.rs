//! The output variables: the contract's names and the values the step sets for later steps.

use super::names;
use crate::outcome::Outcome;
use crate::output::Reporter;
use crate::reconcile::{Decision, Target};

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
/// and returns them, as set, for the decision record. Each value is a view of the outcome's
/// rows; who is deployed to is [`Outcome::deploy_to`]'s answer.
pub fn outputs(outcome: &Outcome, reporter: &Reporter) -> Vec<(String, String)> {
    let deploy = outcome.deploy_to();
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
    let names_with = |is: fn(&Decision) -> bool| {
        outcome
            .decided(is)
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let removed: Vec<&Target> = outcome.removed().map(|(t, _)| t).collect();
    let join = |f: fn(&Target) -> &str| removed.iter().map(|t| f(t)).collect::<Vec<_>>().join(",");
    let set_vars: Vec<(&str, String)> = vec![
        (vars::HAS_SERVERS, bool_(has).into()),
        (vars::TARGET_IDS, ids.join(",")),
        (vars::TARGET_NAMES, names_.join(",")),
        (vars::DUPLICATE, bool_(outcome.duplicate).into()),
        (vars::REMOVED_IDS, join(|t| &t.id)),
        (vars::REMOVED_NAMES, join(|t| &t.name)),
        (vars::PENDING_NAMES, names_with(|d| *d == Decision::Pending)),
        (vars::TIMED_OUT, bool_(outcome.timed_out).into()),
        (
            vars::PRE_EXISTING_NAMES,
            names_with(|d| *d == Decision::PreExisting),
        ),
        (vars::FAILED_NAMES, names_with(|d| *d == Decision::Failed)),
        (vars::STOPPED_NAMES, names_with(|d| *d == Decision::Stopped)),
        (vars::UNREGISTERED_NAMES, outcome.unregistered.join(",")),
    ];
    set_vars
        .into_iter()
        .map(|(name, value)| {
            reporter.set_variable(name, &value);
            (name.to_string(), value)
        })
        .collect()
}
