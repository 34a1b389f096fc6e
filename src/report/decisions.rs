//! The decisions in words: what the plan does with each target, removals, what was kept and why.

use super::names;
use crate::error::Failure;
use crate::output::Reporter;
use crate::reconcile::{
    self, Decision, Excluded, Instance, InstanceState, Plan, Prefix, RemovalReason, Target,
};

/// One target removed (or, in a dry run, that would be), with the reason: a verbose line.
pub fn removing(target: &Target, reason: &RemovalReason, dry_run: bool) -> String {
    let verb = if dry_run {
        "Dry run: would remove"
    } else {
        "Removed"
    };
    format!("{verb} target {} ({}): {reason}.", target.name, target.id)
}

/// A target someone else removed first.
pub fn already_removed(target: &Target) -> String {
    format!(
        "Target {} ({}) was already removed.",
        target.name, target.id
    )
}

/// Why the step fails after removing some of the targets it meant to.
pub fn not_all_removed(
    removed: usize,
    planned: usize,
    not_tried: usize,
    failed: &[(String, Failure)],
) -> String {
    if not_tried > 0 {
        format!(
            "The step's time ran out (2 minutes past VMSS.Timeout.Value) after removing {removed} of {planned} target(s); {not_tried} were not tried{}. A later run will remove them.",
            failed
                .first()
                .map(|(name, why)| format!(", and {name} failed: {}", why.message))
                .unwrap_or_default()
        )
    } else {
        let (name, first) = failed
            .first()
            .map(|(n, w)| (n.as_str(), w.message.as_str()))
            .unwrap_or_default();
        format!(
            "Could not remove {} of {planned} target(s), {name} first: {first}",
            failed.len()
        )
    }
}

/// What was removed (or, in a dry run, would be): one highlighted summary naming the first
/// few; each target's reason is in the verbose line written when it went.
pub fn removed(removed: &[&Target], dry_run: bool, reporter: &Reporter) {
    if removed.is_empty() {
        return;
    }
    let ns: Vec<&str> = removed.iter().map(|t| t.name.as_str()).collect();
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
/// whose Tentacle did not register; each names at most [`NAMES_SHOWN`](super::NAMES_SHOWN)
/// and counts the rest.
pub fn plan(
    plan: &Plan,
    instances: &[Instance],
    prefixes: &[Prefix],
    lending_none: &[&str],
    reporter: &Reporter,
) {
    let c = crate::outcome::Counts::of(instances);
    let output = plan.count(|d| *d == Decision::Output);
    let pending = plan.count(|d| *d == Decision::Pending);
    let remove = plan.count(|d| matches!(d, Decision::Removed(_)));
    let kept = plan.in_scope() - output - pending - remove;
    reporter.verbose(&format!(
        "Instances: {} ready, {} changing, {} stopped, {} failed, {} pooled, {} gone. Targets in scope: {} to deploy to, {} changing, {} to remove, {} kept; {} out of scope.",
        c.ready,
        c.changing,
        c.stopped,
        c.failed,
        c.pooled,
        c.gone,
        output,
        pending,
        remove,
        kept,
        plan.out_of_scope()
    ));
    if plan.in_scope() == 0 && instances.iter().any(|i| i.state() != InstanceState::Gone) {
        reporter.warn(
            "No deployment target in this environment has all the roles in VMSS.DeploymentTarget.Roles, \
             although the scale set has VMs: check the roles for a typo, and that the VMs' Tentacles register with them.",
        );
    }
    let failed = with_vm(plan, Decision::Failed);
    if !failed.is_empty() {
        let ns: Vec<String> = failed
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
    let repair_due = with_vm(plan, Decision::RepairDue);
    if !repair_due.is_empty() {
        let ns: Vec<String> = repair_due
            .iter()
            .map(|(t, i)| format!("{} (VM {} in {})", t.name, i.name, i.scale_set))
            .collect();
        reporter.warn(&format!(
            "Kept {} target(s) whose VM Azure reports unhealthy for longer than its scale set's repair grace period, and left them out of the output: {}. Automatic repairs are about to replace these VMs; their targets are removed once the VMs are gone.",
            ns.len(),
            names(&ns)
        ));
    }
    let stopped = with_vm(plan, Decision::Stopped);
    if !stopped.is_empty() {
        let ns: Vec<String> = stopped
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
    let foreign = names_of(plan, Decision::Foreign);
    if !foreign.is_empty() {
        let ns = foreign;
        let known: Vec<String> = prefixes
            .iter()
            .map(|p| {
                format!(
                    "{}{} ({})",
                    p.prefix,
                    "?".repeat(reconcile::NAME_SUFFIX_LEN),
                    p.scale_set
                )
            })
            .collect();
        let mut why = if known.is_empty() {
            "no computer name prefix is known for the scale set(s)".to_string()
        } else {
            format!(
                "their names are not a scale set's computer name prefix followed by exactly {} letters or digits ({})",
                reconcile::NAME_SUFFIX_LEN,
                known.join(", ")
            )
        };
        if !lending_none.is_empty() && !known.is_empty() {
            why.push_str(&format!("; {} lend no prefix", lending_none.join(", ")));
        }
        reporter.warn(&format!(
            "Kept {} target(s) with the roles that match no VM of the scale set(s), because {why}: {}. They may belong to another scale set or a plain VM sharing the roles; vmss-check never removes those.",
            ns.len(),
            names(&ns)
        ));
    }
    for (prefix, sets) in &plan.shared_prefixes {
        reporter.warn(&format!(
            "Scale sets {} share the computer name prefix {prefix}, so a target named {prefix}{} could be a VM of either: give each scale set its own computerNamePrefix.",
            sets.join(" and "),
            "?".repeat(reconcile::NAME_SUFFIX_LEN),
        ));
    }
    if !plan.shared_names.is_empty() {
        let ns: Vec<String> = plan
            .shared_names
            .iter()
            .map(|s| {
                let vms: Vec<String> = s
                    .instances
                    .iter()
                    .map(|i| format!("{} in {}, {}", i.name, i.scale_set, i.describe_state()))
                    .collect();
                format!("{} ({})", s.name, names(&vms))
            })
            .collect();
        reporter.warn(&format!(
            "{} computer name(s) are reported by several VMs at once, so a target with such a name cannot be tied to one VM: {}. Such a target is never removed, and is deployed to only while every VM with its name is ready and running. Build the scale set from a generalized image (its OS profile gives each VM its own name), or have the bootstrap script give each VM a unique host name before the Tentacle registers.",
            ns.len(),
            names(&ns)
        ));
    }
    let unverified = names_of(plan, Decision::Unverified);
    if !unverified.is_empty() {
        let ns = unverified;
        reporter.warn(&format!(
            "Kept {} target(s) that match no named instance ({}), because some instance has no computer name yet; a later run will remove them if their VMs are gone.",
            ns.len(),
            names(&ns)
        ));
    }
    let disabled = names_of(plan, Decision::Disabled);
    if !disabled.is_empty() {
        let ns = disabled;
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

/// The names of the targets with this decision.
fn names_of(plan: &Plan, decision: Decision) -> Vec<String> {
    plan.decided(move |d| *d == decision)
        .map(|d| d.target.name.clone())
        .collect()
}

/// The targets with this decision, each with the VM that decided it.
fn with_vm(plan: &Plan, decision: Decision) -> Vec<(&Target, &Instance)> {
    plan.decided(move |d| *d == decision)
        .filter_map(|d| Some((&d.target, d.vm.as_ref()?)))
        .collect()
}

/// Why a target's decision is what it is, in a few words for the decision record.
pub fn decided(d: &Decision) -> String {
    match d {
        Decision::OutOfScope(Excluded::Environment(env)) => format!("not in {env}"),
        Decision::OutOfScope(Excluded::Role(role)) => format!("lacks role {role}"),
        Decision::OutOfScope(Excluded::ParticipationUnknown) => {
            "its tenanted participation is unknown".into()
        }
        Decision::OutOfScope(Excluded::TenantedOnly) => "takes part in tenanted runs only".into(),
        Decision::OutOfScope(Excluded::Tenant(tenant)) => format!("not linked to tenant {tenant}"),
        Decision::Output => "its VM is ready and running".into(),
        Decision::Removed(reason) => reason.to_string(),
        Decision::Failed => "kept: its VM is Failed".into(),
        Decision::Stopped => "kept: its VM is stopped or deallocated".into(),
        Decision::Foreign => {
            "kept: it matches no VM, and its name has no computer-name shape of a scale set whose prefix is known".into()
        }
        Decision::SharedName => "kept: several VMs share its computer name".into(),
        Decision::Pending => "kept: its VM was still changing".into(),
        Decision::Unverified => "kept: a VM of its scale set has no computer name yet".into(),
        Decision::PreExisting => "left out: created before VMSS.OldServers.TimeInMinutes".into(),
        Decision::Disabled => "left out: disabled in Octopus".into(),
        Decision::Duplicate => {
            "left out: this run is a duplicate (VMSS.Duplicate.TimeInMinutes), and a duplicate deploys to nobody".into()
        }
        Decision::Pooled => "kept: a standby pool holds its VM".into(),
        Decision::Unproven(why) => format!("kept: {why}"),
        Decision::RepairDue => {
            "kept, not output: Azure reports its VM unhealthy past the repair grace period, so automatic repairs are about to replace it".into()
        }
    }
}

/// VMs with instance protection (verbose): Azure's repairs and rebalancing leave them alone.
pub fn protected(vms: &[&Instance]) -> String {
    let ns: Vec<String> = vms
        .iter()
        .map(|i| {
            let from = match (
                i.protection.from_scale_in,
                i.protection.from_scale_set_actions,
            ) {
                (true, true) => "scale-in and scale-set actions",
                (false, true) => "scale-set actions",
                _ => "scale-in",
            };
            format!("{} ({}, from {from})", i.display_name(), i.scale_set)
        })
        .collect();
    format!(
        "{} VM(s) have instance protection, so Azure's automatic repairs and zone rebalancing leave them alone: {}.",
        ns.len(),
        names(&ns)
    )
}

/// The one narrowing of the proof of absence: the subscription's standby pools could not be
/// listed (403), so only the sets' own resource groups were searched.
pub fn pools_narrowed(subscription: &str, refused: &Failure, groups: &[String]) -> String {
    format!(
        "The Azure account may not list the standby pools of subscription {subscription} ({}), so vmss-check looked for them only in resource group(s) {}: a standby pool in another resource group cannot be seen, and a target of one of its VMs could be removed. Grant the account the Reader role on subscription {subscription} (or on each standby pool's resource group) so that every pool attached to the scale set is seen.",
        refused.message,
        groups.join(", ")
    )
}

/// The targets of pooled VMs, and those kept because their VM's absence was not proven: one
/// warning each, naming the targets and why.
pub fn kept_unproven(plan: &Plan, reporter: &Reporter) {
    let pooled = with_vm(plan, Decision::Pooled);
    if !pooled.is_empty() {
        let ns: Vec<String> = pooled
            .iter()
            .map(|(t, i)| {
                format!(
                    "{} (VM {} in {}'s standby pool)",
                    t.name, i.name, i.scale_set
                )
            })
            .collect();
        reporter.warn(&format!(
            "Kept {} target(s) whose VM a standby pool holds, and left them out of the output: {}. They join a deployment once the pool hands their VM to the scale set.",
            ns.len(),
            names(&ns)
        ));
    }
    let ns: Vec<String> = plan
        .targets
        .iter()
        .filter_map(|d| match &d.decision {
            Decision::Unproven(why) => Some(format!("{} ({why})", d.target.name)),
            _ => None,
        })
        .collect();
    if !ns.is_empty() {
        reporter.warn(&format!(
            "Kept {} target(s) that match no listed VM, because their VM's absence is not proven: {}. vmss-check removes a target only when its VM is missing from two listings in a row and from the resource group and standby pools.",
            ns.len(),
            names(&ns)
        ));
    }
}
