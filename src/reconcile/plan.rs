//! The plan: every in-scope target decided once from the union of the sets' instances.

use super::*;

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
    /// Kept: it matches no VM and has none of the scale sets' computer-name shapes. It may
    /// belong to something else sharing the roles (another scale set, a plain VM).
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
    /// Kept, not output: a standby pool holds its VM.
    Pooled,
    /// Kept: its VM is not listed, but its absence could not be proven (which proof, why).
    Unproven(Unproven),
    /// Kept, not output: automatic repairs are about to replace its VM (unhealthy past the
    /// grace period, [`repair_due`]).
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
pub(super) enum Named<'a> {
    /// At most one of them is not gone: the best-ranked one decides.
    One(&'a Instance),
    /// Several that are not gone report it (specialized images): see the plan's shared names.
    Shared,
}

/// Builds the plan from the union of the scale sets' instances. Targets out of scope are never
/// touched; a target matching no instance is removed only when its name has the shape of a
/// lent prefix's computer names; a name several live VMs share is never removed.
pub fn plan(
    instances: &[Instance],
    targets: &[Target],
    scope: &Scope,
    prefixes: &[Prefix],
) -> Plan {
    // Per host name: the instances reporting it, best-ranked first.
    let mut by_host: HashMap<String, Vec<&Instance>> = HashMap::with_capacity(instances.len());
    // Scale sets with a live instance that has no name yet: their unmatched targets wait.
    let mut unnamed_alive: HashSet<&str> = HashSet::new();
    // (Keyed by resource id: two groups may each have a set of one name.)
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
    let mut named: HashMap<String, Named> = HashMap::with_capacity(by_host.len());
    for (host, mut is) in by_host {
        let live: Vec<&Instance> = is
            .iter()
            .copied()
            .filter(|i| i.state() != InstanceState::Gone)
            .collect();
        let entry = if live.len() > 1 {
            shared_names.push(SharedName {
                name: live[0].display_name().to_string(),
                instances: live.into_iter().cloned().collect(),
            });
            Named::Shared
        } else {
            is.sort_by_key(|i| std::cmp::Reverse(i.state().rank()));
            Named::One(is[0])
        };
        named.insert(host, entry);
    }
    shared_names.sort_by(|a, b| a.name.cmp(&b.name));
    let shared_index: HashMap<String, usize> = shared_names
        .iter()
        .enumerate()
        .map(|(n, s)| (host_name(&s.name), n))
        .collect();

    let mut matched: HashSet<String> = HashSet::new();
    let decide = |t: &Target, matched: &mut HashSet<String>| -> (Decision, Option<Instance>) {
        if let Err(why) = scope.check(t) {
            return (Decision::OutOfScope(why), None);
        }
        let host = host_name(&t.name);
        let Some(entry) = named.get(&host) else {
            let lenders: Vec<&Prefix> = prefixes.iter().filter(|p| p.names(&host)).collect();
            let decision = match lenders.first() {
                None => Decision::Foreign,
                Some(_)
                    if lenders
                        .iter()
                        .any(|p| unnamed_alive.contains(p.set_id.as_str())) =>
                {
                    Decision::Unverified
                }
                Some(p) => Decision::Removed(RemovalReason::NoInstance {
                    scale_set: p.scale_set.clone(),
                }),
            };
            return (decision, None);
        };
        matched.insert(host.clone());
        let i = match entry {
            Named::One(i) => *i,
            Named::Shared => {
                let decision = match (shared_names[shared_index[&host]].all_members(), t.disabled) {
                    (true, true) => Decision::Disabled,
                    (true, false) => Decision::Output,
                    (false, _) => Decision::SharedName,
                };
                return (decision, None);
            }
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
    };
    let decided: Vec<Decided> = targets
        .iter()
        .map(|t| {
            let (decision, vm) = decide(t, &mut matched);
            Decided {
                target: t.clone(),
                decision,
                vm,
            }
        })
        .collect();
    let mut unregistered: Vec<Instance> = named
        .iter()
        .filter(|(h, _)| !matched.contains(*h))
        .filter_map(|(h, entry)| match entry {
            Named::One(i) => Some(*i),
            Named::Shared => shared_names[shared_index[h]]
                .instances
                .iter()
                .find(|i| i.state() == InstanceState::Member),
        })
        // One about to be replaced registers no Tentacle that lasts: not worth a warning.
        .filter(|i| i.state() == InstanceState::Member && !i.repair_due)
        .cloned()
        .collect();
    unregistered.sort_by(|a, b| a.computer_name.cmp(&b.computer_name));
    Plan {
        targets: decided,
        shared_names,
        shared_prefixes: shared_prefixes(prefixes),
        unregistered,
    }
}
