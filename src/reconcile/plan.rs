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

/// What to do with each in-scope target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Enabled targets of members, in Octopus's order: the output.
    pub members: Vec<Target>,
    /// Disabled targets of members: never output.
    pub disabled: Vec<Target>,
    /// Targets of instances still changing: neither removed nor output.
    pub pending: Vec<Target>,
    /// Targets of stopped or deallocated VMs: kept, not output.
    pub stopped: Vec<(Target, Instance)>,
    /// Targets of `Failed` VMs: kept (the VM may be serving), not output.
    pub failed: Vec<(Target, Instance)>,
    /// Targets to remove, with the reason.
    pub remove: Vec<(Target, RemovalReason)>,
    /// Targets matching no instance and carrying none of the scale sets' prefixes: they belong
    /// to something else sharing the roles (another scale set, a plain VM). Kept.
    pub foreign: Vec<Target>,
    /// Targets matching no instance whose scale set has a live instance with no computer name
    /// yet (it might be theirs). Kept.
    pub unverified: Vec<Target>,
    /// Targets whose computer name several VMs that are not gone report, not all of them
    /// members: kept (never removed), not output.
    pub shared: Vec<(Target, Vec<Instance>)>,
    /// Every computer name that several VMs that are not gone report, for the warning.
    pub shared_names: Vec<SharedName>,
    /// How many targets were out of scope (environment, role, tenant) and ignored.
    pub out_of_scope: usize,
    /// Members that no in-scope target matches: their Tentacle did not register.
    pub unregistered: Vec<Instance>,
    /// Targets of VMs a standby pool holds: kept, not output.
    pub pooled: Vec<(Target, Instance)>,
    /// Targets that match no VM, whose absence could not be proven: kept, and why.
    pub unproven: Vec<(Target, Unproven)>,
    /// Targets of members that automatic repairs are about to replace ([`repair_due`]): kept
    /// until the VM is gone, not output.
    pub repair_due: Vec<(Target, Instance)>,
}

impl Plan {
    /// How many targets were in scope.
    pub fn in_scope(&self) -> usize {
        self.members.len()
            + self.disabled.len()
            + self.pending.len()
            + self.stopped.len()
            + self.failed.len()
            + self.remove.len()
            + self.foreign.len()
            + self.unverified.len()
            + self.shared.len()
            + self.pooled.len()
            + self.unproven.len()
            + self.repair_due.len()
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
    let mut out = Plan::default();
    let mut named: HashMap<String, Named> = HashMap::with_capacity(by_host.len());
    for (host, mut is) in by_host {
        let live: Vec<&Instance> = is
            .iter()
            .copied()
            .filter(|i| i.state() != InstanceState::Gone)
            .collect();
        let entry = if live.len() > 1 {
            out.shared_names.push(SharedName {
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
    out.shared_names.sort_by(|a, b| a.name.cmp(&b.name));
    let shared_index: HashMap<String, usize> = out
        .shared_names
        .iter()
        .enumerate()
        .map(|(n, s)| (host_name(&s.name), n))
        .collect();

    let mut matched: HashSet<String> = HashSet::new();
    for t in targets {
        if !scope.contains(t) {
            out.out_of_scope += 1;
            continue;
        }
        let host = host_name(&t.name);
        let Some(entry) = named.get(&host) else {
            let lenders: Vec<&Prefix> = prefixes.iter().filter(|p| p.names(&host)).collect();
            match lenders.first() {
                None => out.foreign.push(t.clone()),
                Some(_)
                    if lenders
                        .iter()
                        .any(|p| unnamed_alive.contains(p.set_id.as_str())) =>
                {
                    out.unverified.push(t.clone())
                }
                Some(p) => out.remove.push((
                    t.clone(),
                    RemovalReason::NoInstance {
                        scale_set: p.scale_set.clone(),
                    },
                )),
            }
            continue;
        };
        matched.insert(host.clone());
        let i = match entry {
            Named::One(i) => *i,
            Named::Shared => {
                let shared = &out.shared_names[shared_index[&host]];
                match (shared.all_members(), t.disabled) {
                    (true, true) => out.disabled.push(t.clone()),
                    (true, false) => out.members.push(t.clone()),
                    (false, _) => out.shared.push((t.clone(), shared.instances.clone())),
                }
                continue;
            }
        };
        match i.state() {
            InstanceState::Member if i.repair_due => out.repair_due.push((t.clone(), i.clone())),
            InstanceState::Member if t.disabled => out.disabled.push(t.clone()),
            InstanceState::Member => out.members.push(t.clone()),
            InstanceState::Pending => out.pending.push(t.clone()),
            InstanceState::Stopped => out.stopped.push((t.clone(), i.clone())),
            InstanceState::Failed => out.failed.push((t.clone(), i.clone())),
            InstanceState::Pooled => out.pooled.push((t.clone(), i.clone())),
            InstanceState::Gone => out.remove.push((
                t.clone(),
                RemovalReason::InstanceGone {
                    instance: i.name.clone(),
                    state: i.describe_state(),
                },
            )),
        }
    }
    let mut unregistered: Vec<Instance> = named
        .iter()
        .filter(|(h, _)| !matched.contains(*h))
        .filter_map(|(h, entry)| match entry {
            Named::One(i) => Some(*i),
            Named::Shared => out.shared_names[shared_index[h]]
                .instances
                .iter()
                .find(|i| i.state() == InstanceState::Member),
        })
        // One about to be replaced registers no Tentacle that lasts: not worth a warning.
        .filter(|i| i.state() == InstanceState::Member && !i.repair_due)
        .cloned()
        .collect();
    unregistered.sort_by(|a, b| a.computer_name.cmp(&b.computer_name));
    out.unregistered = unregistered;
    out
}
