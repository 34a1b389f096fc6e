//! The plan: every target Octopus listed decided once, from the union of the sets' instances.

use super::{
    host_name, shared_prefixes, Excluded, Instance, InstanceState, Prefix, Scope, SharedName,
    Target, Unproven,
};
use std::collections::{HashMap, HashSet};

/// Why a target is to be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovalReason {
    /// No instance has its host name, and the name carries this scale set's prefix.
    NoInstance {
        /// The scale set whose prefix the name carries.
        scale_set: String,
    },
    /// Its instance is `Deleting` (the state as Azure spelt it).
    InstanceGone {
        /// The instance's resource name.
        instance: String,
        /// Its provisioning state.
        state: String,
    },
}

impl std::fmt::Display for RemovalReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemovalReason::NoInstance { scale_set } => {
                write!(f, "no VM of scale set {scale_set} has this name")
            }
            RemovalReason::InstanceGone { instance, state } => {
                write!(f, "its VM {instance} is {state}")
            }
        }
    }
}

/// What the step decided for one target: the one answer every view reads (the removals, the
/// output, the log's counts and warnings, the decision record's row, the output variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not the step's to touch, and why.
    OutOfScope(Excluded),
    /// Deployed to: in the output.
    Output,
    /// Removed (or, in a dry run, would be), and why.
    Removed(RemovalReason),
    /// Kept, not output: its VM is `Failed`.
    Failed,
    /// Kept, not output: its VM is stopped or deallocated.
    Stopped,
    /// Kept: it matches no VM and has none of the computer-name shapes of the scale sets that
    /// lend their prefix (none may: an empty listing, a specialized image). It may belong to
    /// something else sharing the roles (another scale set, a plain VM).
    Foreign,
    /// Kept, not output: several VMs that are not gone share its computer name, not all of
    /// them members, so it cannot be tied to one.
    SharedName,
    /// Kept, not output: its VM was still changing when the wait ended.
    Pending,
    /// Kept: some VM of its scale set has no computer name yet (it might be its).
    Unverified,
    /// A member's target left out of the output as pre-existing (decided after the plan, from
    /// Octopus's events: `VMSS.OldServers.ExcludeFromOutput`).
    PreExisting,
    /// A member's target that is disabled: never output.
    Disabled,
    /// A member's target left out because this run is a duplicate trigger run (decided after
    /// the plan, from Octopus's tasks): a duplicate deploys to nobody.
    Duplicate,
    /// Kept, not output: a standby pool holds its VM.
    Pooled,
    /// Kept: its VM is not listed, but its absence could not be proven (which proof, why).
    Unproven(Unproven),
    /// Kept, not output: automatic repairs are about to replace its VM (unhealthy past the
    /// grace period, `repair_due`).
    RepairDue,
}

/// One target Octopus listed and what the plan decided for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    /// The target as listed.
    pub target: Target,
    /// The decision.
    pub decision: Decision,
    /// The VM whose state decided it, where one alone did (a `Failed`, stopped or pooled VM,
    /// one repairs are about to replace): the warnings name it.
    pub vm: Option<Instance>,
}

/// Every target decided once, and what the decisions leave to say about the VMs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Every target Octopus listed, in its order, each with its one decision.
    pub targets: Vec<Decided>,
    /// Every computer name that several VMs that are not gone report, for the warning.
    pub shared_names: Vec<SharedName>,
    /// Computer name prefixes several scale sets lend, with those sets' names: a target of
    /// such a shape could be a VM of either.
    pub shared_prefixes: Vec<(String, Vec<String>)>,
    /// Members that no in-scope target matches: their Tentacle did not register.
    pub unregistered: Vec<Instance>,
}

impl Plan {
    /// The targets whose decision `is` accepts, in Octopus's order.
    pub fn decided<'a>(
        &'a self,
        is: impl Fn(&Decision) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Decided> + 'a {
        self.targets.iter().filter(move |d| is(&d.decision))
    }

    /// How many targets `is` accepts.
    pub fn count(&self, is: impl Fn(&Decision) -> bool) -> usize {
        self.targets.iter().filter(|d| is(&d.decision)).count()
    }

    /// The targets to deploy to.
    pub fn output(&self) -> impl Iterator<Item = &Target> {
        self.decided(|d| *d == Decision::Output).map(|d| &d.target)
    }

    /// The targets to remove, with the reason.
    pub fn removals(&self) -> impl Iterator<Item = (&Target, &RemovalReason)> {
        self.targets.iter().filter_map(|d| match &d.decision {
            Decision::Removed(why) => Some((&d.target, why)),
            _ => None,
        })
    }

    /// How many targets were in scope.
    pub fn in_scope(&self) -> usize {
        self.count(|d| !matches!(d, Decision::OutOfScope(_)))
    }

    /// How many targets were out of scope (environment, role, tenant) and ignored.
    pub fn out_of_scope(&self) -> usize {
        self.targets.len() - self.in_scope()
    }

    /// Keeps a target planned for removal whose absence `unproven` cannot prove: its decision
    /// becomes [`Decision::Unproven`]. Only a target no listing names (`NoInstance`) needs the
    /// proof; one whose VM is listed `Deleting` is gone by Azure's own word.
    pub fn prove(&mut self, mut unproven: impl FnMut(&Target) -> Option<Unproven>) {
        for d in &mut self.targets {
            if matches!(
                d.decision,
                Decision::Removed(RemovalReason::NoInstance { .. })
            ) {
                if let Some(why) = unproven(&d.target) {
                    d.decision = Decision::Unproven(why);
                }
            }
        }
    }
}

/// The instances that report one host name.
enum Named<'a> {
    /// At most one of them is not gone: the best-ranked one decides.
    One(&'a Instance),
    /// Several that are not gone report it (specialized images): this entry of the shared
    /// names.
    Shared(usize),
}

/// The instances, indexed once for deciding every target: one lookup per target.
struct Index<'a> {
    /// Per host name, who reports it.
    named: HashMap<String, Named<'a>>,
    /// The names several VMs that are not gone report, sorted by name.
    shared_names: Vec<SharedName>,
    /// Scale sets (by resource id: two groups may each have a set of one name) with a VM that
    /// is not gone and has no computer name yet: their unmatched targets wait.
    unnamed_alive: HashSet<&'a str>,
}

impl<'a> Index<'a> {
    fn of(instances: &'a [Instance]) -> Index<'a> {
        let mut by_host: HashMap<String, Vec<&Instance>> = HashMap::with_capacity(instances.len());
        let mut unnamed_alive = HashSet::new();
        for i in instances {
            match i
                .computer_name
                .as_deref()
                .map(host_name)
                .filter(|h| !h.is_empty())
            {
                Some(host) => by_host.entry(host).or_default().push(i),
                None if i.state() != InstanceState::Gone => {
                    unnamed_alive.insert(i.set_id.as_str());
                }
                None => {}
            }
        }
        let mut shared_names: Vec<SharedName> = Vec::new();
        let mut one: HashMap<String, &Instance> = HashMap::with_capacity(by_host.len());
        for (host, mut is) in by_host {
            let live: Vec<&Instance> = is
                .iter()
                .copied()
                .filter(|i| i.state() != InstanceState::Gone)
                .collect();
            if live.len() > 1 {
                shared_names.push(SharedName {
                    name: live[0].display_name().to_string(),
                    instances: live.into_iter().cloned().collect(),
                });
            } else {
                is.sort_by_key(|i| std::cmp::Reverse(i.state().rank()));
                one.insert(host, is[0]);
            }
        }
        shared_names.sort_by(|a, b| a.name.cmp(&b.name));
        let mut named: HashMap<String, Named> = one
            .into_iter()
            .map(|(host, i)| (host, Named::One(i)))
            .collect();
        for (n, s) in shared_names.iter().enumerate() {
            named.insert(host_name(&s.name), Named::Shared(n));
        }
        Index {
            named,
            shared_names,
            unnamed_alive,
        }
    }

    /// The decision for an in-scope target named `host`, and the VM that decided it.
    fn decide(&self, t: &Target, host: &str, prefixes: &[Prefix]) -> (Decision, Option<Instance>) {
        let i = match self.named.get(host) {
            None => return (self.unmatched(host, prefixes), None),
            Some(Named::Shared(n)) => {
                let decision = match (self.shared_names[*n].all_members(), t.disabled) {
                    (true, true) => Decision::Disabled,
                    (true, false) => Decision::Output,
                    (false, _) => Decision::SharedName,
                };
                return (decision, None);
            }
            Some(Named::One(i)) => *i,
        };
        let decision = match i.state() {
            InstanceState::Member if i.repair_due => Decision::RepairDue,
            InstanceState::Member if t.disabled => Decision::Disabled,
            InstanceState::Member => Decision::Output,
            InstanceState::Pending => Decision::Pending,
            InstanceState::Stopped => Decision::Stopped,
            InstanceState::Failed => Decision::Failed,
            InstanceState::Pooled => Decision::Pooled,
            InstanceState::Gone => Decision::Removed(RemovalReason::InstanceGone {
                instance: i.name.clone(),
                state: i.describe_state(),
            }),
        };
        (decision, Some(i.clone()))
    }

    /// The decision for an in-scope target no VM has the name of: removed only when its name
    /// has the shape of a lent prefix's computer names and no set lending that shape has a VM
    /// still without a name; kept otherwise.
    fn unmatched(&self, host: &str, prefixes: &[Prefix]) -> Decision {
        let lenders: Vec<&Prefix> = prefixes.iter().filter(|p| p.names(host)).collect();
        match lenders.first() {
            None => Decision::Foreign,
            Some(_)
                if lenders
                    .iter()
                    .any(|p| self.unnamed_alive.contains(p.set_id.as_str())) =>
            {
                Decision::Unverified
            }
            Some(p) => Decision::Removed(RemovalReason::NoInstance {
                scale_set: p.scale_set.clone(),
            }),
        }
    }

    /// The members whose host name no in-scope target has (`matched`): their Tentacle did not
    /// register. One about to be replaced registers no Tentacle that lasts: not worth a
    /// warning.
    fn unregistered(&self, matched: &HashSet<String>) -> Vec<Instance> {
        let mut unregistered: Vec<Instance> = self
            .named
            .iter()
            .filter(|(h, _)| !matched.contains(*h))
            .filter_map(|(_, entry)| match entry {
                Named::One(i) => Some(*i),
                Named::Shared(n) => self.shared_names[*n]
                    .instances
                    .iter()
                    .find(|i| i.state() == InstanceState::Member),
            })
            .filter(|i| i.state() == InstanceState::Member && !i.repair_due)
            .cloned()
            .collect();
        unregistered.sort_by(|a, b| a.computer_name.cmp(&b.computer_name));
        unregistered
    }
}

/// Builds the plan from the union of the scale sets' instances: each target decided once, in
/// Octopus's order. Targets out of scope are never touched; a target matching no instance is
/// removed only when its name has the shape of a lent prefix's computer names; a name several
/// live VMs share is never removed.
pub fn plan(
    instances: &[Instance],
    targets: &[Target],
    scope: &Scope,
    prefixes: &[Prefix],
) -> Plan {
    let index = Index::of(instances);
    // The host names an in-scope target has: the rest of the members did not register.
    let mut matched: HashSet<String> = HashSet::new();
    let decided: Vec<Decided> = targets
        .iter()
        .map(|t| {
            let (decision, vm) = match scope.check(t) {
                Err(why) => (Decision::OutOfScope(why), None),
                Ok(()) => {
                    let host = host_name(&t.name);
                    let decided = index.decide(t, &host, prefixes);
                    if index.named.contains_key(&host) {
                        matched.insert(host);
                    }
                    decided
                }
            };
            Decided {
                target: t.clone(),
                decision,
                vm,
            }
        })
        .collect();
    let unregistered = index.unregistered(&matched);
    Plan {
        targets: decided,
        shared_names: index.shared_names,
        shared_prefixes: shared_prefixes(prefixes),
        unregistered,
    }
}
