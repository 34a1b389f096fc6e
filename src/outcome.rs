//! What the step saw and decided, as plain data: the phases in [`crate::step`] fill it,
//! [`crate::report`] words it for the log, and [`crate::record`] renders it as the decision
//! record (JSON and HTML) attached to the task. Its rows are the plan's decisions, one per
//! target; every list of targets the step reports is a view of them. No I/O and no words here.

use crate::reconcile::{
    host_name, Decided, Decision, Instance, InstanceState, RemovalReason, Target,
};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// What the step did: the decisions later steps read (the output variables), and the record of
/// how it came to them.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Computer names of ready, running VMs that no in-scope target matches.
    pub unregistered: Vec<String>,
    /// True when the wait ran out and the step proceeded.
    pub timed_out: bool,
    /// True when this run is a duplicate trigger run.
    pub duplicate: bool,
    /// True when nothing was removed because of `VMSS.Reconcile.DryRun`.
    pub dry_run: bool,

    /// When the step started, its wait's deadline, and when it ended (UTC).
    pub started: Option<OffsetDateTime>,
    /// `started` plus `VMSS.Timeout.Value`.
    pub deadline: Option<OffsetDateTime>,
    /// When the step ended, set last.
    pub ended: Option<OffsetDateTime>,
    /// Every check of the wait, in order.
    pub checks: Vec<Check>,
    /// Each VM the checks listed (by its scale set's resource id and VM name: two groups may
    /// each have a set `web` with a VM `web_3`): the checks at which its class changed, and to
    /// what. Changes only, so a long wait over a large fleet stays small.
    pub history: BTreeMap<(String, String), History>,
    /// The final listing of every scale set's VMs (after the wait).
    pub vms: Vec<Instance>,
    /// One row per target Octopus listed, in its order: the plan's one decision for each, and
    /// how its removal went. Every list of targets the step reports is a view of these rows.
    pub targets: Vec<TargetRow>,
    /// The output variables, as set.
    pub variables: Vec<(String, String)>,
    /// Each scale set and what Azure itself does to its VMs, as last read (after the wait).
    pub sets: Vec<SetReplacements>,
    /// The sentence the step failed with, if it failed.
    pub failure: Option<String>,
}

impl Outcome {
    /// True once the step got as far as a listing (a check that read the scale sets, or the
    /// targets): only then is there a decision record worth attaching.
    pub fn listed(&self) -> bool {
        self.checks.iter().any(|c| c.failure.is_none()) || !self.targets.is_empty()
    }

    /// The targets whose decision `is` accepts, in Octopus's order.
    pub fn decided<'a>(
        &'a self,
        is: impl Fn(&Decision) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Target> + 'a {
        self.targets
            .iter()
            .filter(move |r| is(&r.decision))
            .map(|r| &r.target)
    }

    /// The targets the deployment goes to: those output.
    pub fn deploy_to(&self) -> Vec<&Target> {
        self.decided(|d| *d == Decision::Output).collect()
    }

    /// The targets removed (or, in a dry run, that would have been), with the reason: those
    /// whose removal Octopus carried out, or found already done.
    pub fn removed(&self) -> impl Iterator<Item = (&Target, &RemovalReason)> {
        self.targets
            .iter()
            .filter_map(|r| match (&r.decision, &r.removal) {
                (
                    Decision::Removed(why),
                    Some(Removal::Removed | Removal::AlreadyGone | Removal::DryRun),
                ) => Some((&r.target, why)),
                _ => None,
            })
    }

    /// Notes a removal's result on the target's row.
    pub fn removal(&mut self, target_id: &str, result: Removal) {
        if let Some(row) = self.targets.iter_mut().find(|r| r.target.id == target_id) {
            row.removal = Some(result);
        }
    }

    /// Notes each listed VM's class at check `number`, where it changed.
    pub fn classes_at<'a>(
        &mut self,
        number: u32,
        instances: impl IntoIterator<Item = &'a Instance>,
    ) {
        for i in instances {
            let h = self
                .history
                .entry((i.set_id.clone(), i.name.clone()))
                .or_insert_with(|| History {
                    scale_set: i.scale_set.clone(),
                    ..History::default()
                });
            if i.computer_name.is_some() {
                h.computer_name.clone_from(&i.computer_name);
            }
            if h.changes.last().is_none_or(|(_, c)| *c != i.state()) {
                h.changes.push((number, i.state()));
            }
        }
    }

    /// A duplicate run deploys to nobody (contract: "Duplicate runs"): every target it would
    /// have output is left out as [`Decision::Duplicate`], so the rows say who was not
    /// deployed to and why.
    pub fn leave_out_as_duplicate(&mut self) {
        if !self.duplicate {
            return;
        }
        for row in &mut self.targets {
            if row.decision == Decision::Output {
                row.decision = Decision::Duplicate;
            }
        }
    }

    /// Leaves these output targets out as pre-existing (`VMSS.OldServers.ExcludeFromOutput`).
    pub fn pre_existing(&mut self, old: &[Target]) {
        for row in &mut self.targets {
            if row.decision == Decision::Output && old.iter().any(|t| t.id == row.target.id) {
                row.decision = Decision::PreExisting;
            }
        }
    }
}

/// One VM across the checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Its scale set's name.
    pub scale_set: String,
    /// Its computer name, as last listed.
    pub computer_name: Option<String>,
    /// The checks at which its class changed, and to what.
    pub changes: Vec<(u32, InstanceState)>,
}

/// How many instances are in each class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Members: `Succeeded` and running.
    pub ready: usize,
    /// Pending: still changing, or not known yet.
    pub changing: usize,
    /// Stopped or deallocated.
    pub stopped: usize,
    /// `Failed` or `Canceled`.
    pub failed: usize,
    /// `Deleting`.
    pub gone: usize,
    /// Held by a standby pool.
    pub pooled: usize,
}

impl Counts {
    /// Counts a listing by class.
    pub fn of<'a>(instances: impl IntoIterator<Item = &'a Instance>) -> Counts {
        let mut c = Counts::default();
        for i in instances {
            match i.state() {
                InstanceState::Member => c.ready += 1,
                InstanceState::Pending => c.changing += 1,
                InstanceState::Stopped => c.stopped += 1,
                InstanceState::Failed => c.failed += 1,
                InstanceState::Gone => c.gone += 1,
                InstanceState::Pooled => c.pooled += 1,
            }
        }
        c
    }

    /// The VMs the wait counts as the sets': all but those going and those a standby pool
    /// holds (not the set's yet: not counted, not waited for).
    pub fn live(&self) -> usize {
        self.ready + self.changing + self.stopped + self.failed
    }
}

/// One scale set as one check saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCheck {
    /// The scale set's name.
    pub scale_set: String,
    /// Its resource group.
    pub resource_group: String,
    /// Its own provisioning state.
    pub state: Option<String>,
    /// Its instances by class; `None` when they were not listed (the set itself changing).
    pub counts: Option<Counts>,
    /// Its latest rolling upgrade was still rolling forward: the wait went on even when every
    /// VM listed looked settled.
    pub rolling_forward: bool,
    /// An automatic zone rebalance was under way: the wait went on.
    pub zone_rebalancing: bool,
}

/// A scale set and what Azure replaces or retries in it on its own (contract: "Azure's own
/// replacements"), as the step last read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetReplacements {
    /// The scale set's name.
    pub scale_set: String,
    /// Its resource group.
    pub resource_group: String,
    /// Its automatic repairs policy, when enabled.
    pub repairs: Option<crate::reconcile::RepairPolicy>,
    /// The `AutomaticRepairs` service's state (`Running`, `Suspended`), when read.
    pub repairs_state: Option<String>,
    /// Automatic zone rebalancing is enabled.
    pub zone_rebalancing: bool,
    /// A rebalance was under way when last read.
    pub rebalance_under_way: bool,
    /// Resilient VM creation is enabled.
    pub resilient_creates: bool,
    /// Resilient VM deletion is enabled.
    pub resilient_deletes: bool,
}

/// One check of the wait.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// 1 for the first.
    pub number: u32,
    /// When it was recorded.
    pub at: OffsetDateTime,
    /// Each scale set; empty when the check failed.
    pub sets: Vec<SetCheck>,
    /// Azure's read budget left after it, per bucket (`x-ms-ratelimit-remaining-resource`).
    pub read_budget: Vec<(String, u32)>,
    /// Why the check failed (transiently), if it did.
    pub failure: Option<String>,
}

/// How a removal went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal {
    /// Octopus removed it.
    Removed,
    /// Someone else removed it first.
    AlreadyGone,
    /// A dry run: not attempted.
    DryRun,
    /// Octopus refused or failed: how, and its reason.
    Failed(crate::error::Failure),
    /// The step's time ran out first.
    NotTried,
}

/// One target of the listing and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetRow {
    /// The target as listed.
    pub target: Target,
    /// The decision.
    pub decision: Decision,
    /// For a removal, how it went (`None` until tried).
    pub removal: Option<Removal>,
}

impl From<Decided> for TargetRow {
    /// A row for the plan's decision on one target, its removal not yet tried.
    fn from(decided: Decided) -> TargetRow {
        TargetRow {
            target: decided.target,
            decision: decided.decision,
            removal: None,
        }
    }
}

/// The in-scope targets by host name, to find the one each VM matched: one pass over the
/// targets, one lookup per VM (a thousand of each stays instant).
pub fn targets_by_host(rows: &[TargetRow]) -> HashMap<String, &Target> {
    let mut map = HashMap::with_capacity(rows.len());
    for r in rows {
        if !matches!(r.decision, Decision::OutOfScope(_)) {
            map.entry(host_name(&r.target.name)).or_insert(&r.target);
        }
    }
    map
}

/// The in-scope target whose host name is the VM's computer name's, if any.
pub fn matched_target<'a>(
    vm: &Instance,
    by_host: &HashMap<String, &'a Target>,
) -> Option<&'a Target> {
    let host = host_name(vm.computer_name.as_deref()?);
    by_host.get(&host).copied().filter(|_| !host.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::{plan, Excluded, Prefix, Scope};

    fn vm(computer: &str, prov: &str, power: &str) -> Instance {
        Instance {
            scale_set: "vmss-web".into(),
            name: format!("vmss-web_{computer}"),
            computer_name: Some(computer.into()),
            provisioning_state: Some(prov.into()),
            power_state: Some(power.into()),
            reason: None,
            ..Instance::default()
        }
    }

    #[test]
    fn every_listed_target_gets_one_decision() {
        let scope = Scope {
            environment_id: "Environments-1".into(),
            roles: vec!["web".into()],
            tenant: None,
        };
        let t = |id: &str, name: &str| Target::untenanted(id, name, &["web"], "Environments-1");
        let targets = vec![
            t("Machines-1", "web000001"),
            t("Machines-2", "web000002"),
            t("Machines-3", "web000003"),
            t("Machines-4", "legacy-web-01"),
            t("Machines-5", "web00000z"),
            Target::untenanted("Machines-6", "db000001", &["db"], "Environments-1"),
        ];
        let vms = vec![
            vm("web000001", "Succeeded", "running"),
            vm("web000002", "Failed", "running"),
            vm("web000003", "Succeeded", "deallocated"),
        ];
        let prefixes = [Prefix {
            scale_set: "vmss-web".into(),
            set_id: "vmss-web".into(),
            prefix: "web".into(),
        }];
        let p = plan(&vms, &targets, &scope, &prefixes);
        let rows: Vec<TargetRow> = p.targets.into_iter().map(TargetRow::from).collect();
        let decisions: Vec<&Decision> = rows.iter().map(|r| &r.decision).collect();
        assert_eq!(
            decisions,
            [
                &Decision::Output,
                &Decision::Failed,
                &Decision::Stopped,
                &Decision::Foreign,
                &Decision::Removed(RemovalReason::NoInstance {
                    scale_set: "vmss-web".into()
                }),
                &Decision::OutOfScope(Excluded::Role("web".into())),
            ]
        );
        assert_eq!(
            matched_target(&vms[0], &targets_by_host(&rows)).map(|t| t.id.as_str()),
            Some("Machines-1")
        );
        let counts = Counts::of(&vms);
        assert_eq!((counts.ready, counts.failed, counts.stopped), (1, 1, 1));
    }
}
