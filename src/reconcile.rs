//! Reconciliation: a pure function from what Azure says (instances) and what Octopus says
//! (targets) to a plan: which targets to output, which to remove, which to leave alone.
//!
//! No I/O here, so every rule of the contract has a unit test, and 1,000 x 1,000 costs one
//! hash-map build and one lookup per target.

use std::collections::HashMap;

/// Where an instance stands, from its provisioning state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum InstanceState {
    /// Deleting, Failed, Canceled (or absent): its target should go.
    Gone,
    /// Creating, Updating, Migrating or a state we do not know: wait for it, touch nothing.
    Pending,
    /// Succeeded: its target is deployed to.
    Member,
}

/// Classifies an Azure provisioning state, ignoring case (ARM examples use both
/// `succeeded` and `Succeeded`). A missing or unknown state is pending: never a reason to remove.
pub fn classify(provisioning_state: Option<&str>) -> InstanceState {
    let Some(state) = provisioning_state else {
        return InstanceState::Pending;
    };
    match state.trim().to_ascii_lowercase().as_str() {
        "succeeded" => InstanceState::Member,
        "deleting" | "failed" | "canceled" | "cancelled" => InstanceState::Gone,
        _ => InstanceState::Pending,
    }
}

/// True while a scale set's own provisioning state says it is still changing.
pub fn scale_set_is_transient(provisioning_state: Option<&str>) -> bool {
    matches!(
        provisioning_state
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref(),
        Some("creating" | "updating" | "deleting" | "migrating")
    )
}

/// The part of a name before the first `.`, lower-cased: `WEB000001.corp.example.com` -> `web000001`.
pub fn host_name(name: &str) -> String {
    name.trim()
        .split('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// A VM of the scale set, as far as reconciliation cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The Azure resource name (`vmss_3`, or a Flexible VM's name).
    pub name: String,
    /// `osProfile.computerName`: what the Tentacle registers as. May be missing while provisioning.
    pub computer_name: Option<String>,
    /// `properties.provisioningState`.
    pub provisioning_state: Option<String>,
}

impl Instance {
    /// This instance's state.
    pub fn state(&self) -> InstanceState {
        classify(self.provisioning_state.as_deref())
    }
}

/// An Octopus deployment target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `Machines-123`.
    pub id: String,
    /// The target's name; its host name is matched against computer names.
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// Its environments.
    pub environment_ids: Vec<String>,
    /// Its tenants.
    pub tenant_ids: Vec<String>,
}

/// Which targets belong to this scale set.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The run's environment.
    pub environment_id: String,
    /// Every one of these roles is needed (case-insensitive, as Octopus treats roles).
    pub roles: Vec<String>,
    /// The run's tenant, when the run is tenanted.
    pub tenant_id: Option<String>,
}

impl Scope {
    /// True when the target is in the environment, has every role, and (for a tenanted run) the tenant.
    pub fn contains(&self, t: &Target) -> bool {
        t.environment_ids.iter().any(|e| e == &self.environment_id)
            && self
                .roles
                .iter()
                .all(|r| t.roles.iter().any(|tr| tr.eq_ignore_ascii_case(r)))
            && self
                .tenant_id
                .as_ref()
                .is_none_or(|tenant| t.tenant_ids.iter().any(|x| x == tenant))
    }
}

/// Why a target is to be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovalReason {
    /// No instance of the scale set has its host name.
    NoInstance,
    /// Its instance is Deleting, Failed or Canceled (the state as Azure spelt it).
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
            RemovalReason::NoInstance => f.write_str("no VM of the scale set has this name"),
            RemovalReason::InstanceGone { instance, state } => {
                write!(f, "its VM {instance} is {state}")
            }
        }
    }
}

/// What to do with each in-scope target.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Targets of Succeeded instances, in Octopus's order: the output.
    pub members: Vec<Target>,
    /// Targets of instances still changing: neither removed nor output.
    pub pending: Vec<Target>,
    /// Targets to remove, with the reason.
    pub remove: Vec<(Target, RemovalReason)>,
    /// Targets matching no instance that are kept anyway, because some live instance has no
    /// computer name yet and might be theirs.
    pub unverified: Vec<Target>,
    /// How many targets were out of scope (other environment, role or tenant) and ignored.
    pub out_of_scope: usize,
    /// Live instances (member or pending) that have no target yet.
    pub without_target: Vec<String>,
}

/// Builds the plan. Targets out of scope are never touched.
pub fn plan(instances: &[Instance], targets: &[Target], scope: &Scope) -> Plan {
    // For each host name, the best state among instances with that name: a live instance
    // outranks a dying one with the same computer name.
    let mut by_host: HashMap<String, &Instance> = HashMap::with_capacity(instances.len());
    let mut unnamed_alive = false;
    for i in instances {
        match i
            .computer_name
            .as_deref()
            .map(host_name)
            .filter(|h| !h.is_empty())
        {
            Some(host) => {
                let entry = by_host.entry(host).or_insert(i);
                if i.state() > entry.state() {
                    *entry = i;
                }
            }
            None => unnamed_alive |= i.state() != InstanceState::Gone,
        }
    }

    let mut out = Plan::default();
    let mut matched: std::collections::HashSet<String> = std::collections::HashSet::new();
    for t in targets {
        if !scope.contains(t) {
            out.out_of_scope += 1;
            continue;
        }
        let host = host_name(&t.name);
        match by_host.get(&host) {
            Some(i) => {
                matched.insert(host);
                match i.state() {
                    InstanceState::Member => out.members.push(t.clone()),
                    InstanceState::Pending => out.pending.push(t.clone()),
                    InstanceState::Gone => out.remove.push((
                        t.clone(),
                        RemovalReason::InstanceGone {
                            instance: i.name.clone(),
                            state: i.provisioning_state.clone().unwrap_or_default(),
                        },
                    )),
                }
            }
            None if unnamed_alive => out.unverified.push(t.clone()),
            None => out.remove.push((t.clone(), RemovalReason::NoInstance)),
        }
    }
    let mut without: Vec<String> = by_host
        .iter()
        .filter(|(h, i)| i.state() != InstanceState::Gone && !matched.contains(*h))
        .map(|(_, i)| i.computer_name.clone().unwrap_or_default())
        .collect();
    without.sort();
    out.without_target = without;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(computer: &str, state: &str) -> Instance {
        Instance {
            name: format!("vmss_{computer}"),
            computer_name: Some(computer.to_string()),
            provisioning_state: Some(state.to_string()),
        }
    }

    fn target(id: &str, name: &str) -> Target {
        Target {
            id: id.into(),
            name: name.into(),
            roles: vec!["web".into(), "vmss".into()],
            environment_ids: vec!["Environments-1".into()],
            tenant_ids: vec![],
        }
    }

    fn scope() -> Scope {
        Scope {
            environment_id: "Environments-1".into(),
            roles: vec!["WEB".into(), "vmss".into()],
            tenant_id: None,
        }
    }

    fn ids(ts: &[Target]) -> Vec<&str> {
        ts.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn states_classify_case_insensitively() {
        assert_eq!(classify(Some("succeeded")), InstanceState::Member);
        assert_eq!(classify(Some("Succeeded")), InstanceState::Member);
        for s in ["Creating", "updating", "Migrating", "Provisioning", ""] {
            assert_eq!(classify(Some(s)), InstanceState::Pending, "{s}");
        }
        for s in ["Deleting", "FAILED", "Canceled"] {
            assert_eq!(classify(Some(s)), InstanceState::Gone, "{s}");
        }
        assert_eq!(classify(None), InstanceState::Pending);
        assert!(scale_set_is_transient(Some("Updating")));
        assert!(!scale_set_is_transient(Some("succeeded")));
        assert!(!scale_set_is_transient(Some("Failed")));
        assert!(!scale_set_is_transient(None));
    }

    #[test]
    fn host_names_match_whole_labels_only() {
        assert_eq!(host_name("web000001.corp.example.com"), "web000001");
        assert_eq!(host_name("WEB000001"), "web000001");
        let instances = [
            inst("WEB000001", "Succeeded"),
            inst("web000002", "Succeeded"),
        ];
        let targets = [
            target("Machines-1", "web000001.corp.example.com"),
            target("Machines-2", "web"), // a prefix of every VM: matches none
            target("Machines-3", "web0000011"), // a live VM's name is a prefix of it: no match
        ];
        let p = plan(&instances, &targets, &scope());
        assert_eq!(ids(&p.members), ["Machines-1"]);
        let removed: Vec<&str> = p.remove.iter().map(|(t, _)| t.id.as_str()).collect();
        assert_eq!(removed, ["Machines-2", "Machines-3"]);
        assert_eq!(p.without_target, ["web000002"]);
    }

    #[test]
    fn members_pending_and_gone() {
        let instances = [
            inst("a", "Succeeded"),
            inst("b", "Creating"),
            inst("c", "Deleting"),
            inst("d", "Failed"),
            inst("e", "Updating"),
        ];
        let targets: Vec<Target> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|n| target(&format!("Machines-{n}"), n))
            .collect();
        let p = plan(&instances, &targets, &scope());
        assert_eq!(ids(&p.members), ["Machines-a"]);
        assert_eq!(ids(&p.pending), ["Machines-b", "Machines-e"]);
        assert_eq!(
            p.remove,
            vec![
                (
                    targets[2].clone(),
                    RemovalReason::InstanceGone {
                        instance: "vmss_c".into(),
                        state: "Deleting".into()
                    }
                ),
                (
                    targets[3].clone(),
                    RemovalReason::InstanceGone {
                        instance: "vmss_d".into(),
                        state: "Failed".into()
                    }
                ),
                (targets[5].clone(), RemovalReason::NoInstance),
            ]
        );
    }

    #[test]
    fn a_live_instance_outranks_a_dying_one_with_the_same_name() {
        let instances = [inst("a", "Deleting"), inst("A", "Succeeded")];
        let p = plan(&instances, &[target("Machines-1", "a")], &scope());
        assert_eq!(ids(&p.members), ["Machines-1"]);
        assert!(p.remove.is_empty());
    }

    #[test]
    fn out_of_scope_targets_are_never_touched() {
        let mut other_env = target("Machines-1", "x");
        other_env.environment_ids = vec!["Environments-2".into()];
        let mut one_role = target("Machines-2", "y");
        one_role.roles = vec!["web".into()];
        let mut other_tenant = target("Machines-3", "z");
        other_tenant.tenant_ids = vec!["Tenants-2".into()];
        let mut ours = target("Machines-4", "w");
        ours.tenant_ids = vec!["Tenants-1".into()];
        let mut s = scope();
        s.tenant_id = Some("Tenants-1".into());
        let p = plan(&[], &[other_env, one_role, other_tenant, ours], &s);
        assert_eq!(p.out_of_scope, 3);
        assert_eq!(p.remove.len(), 1);
        assert_eq!(p.remove[0].0.id, "Machines-4");
    }

    #[test]
    fn an_unnamed_live_instance_blocks_removal_of_unmatched_targets() {
        let unnamed = Instance {
            name: "vmss_9".into(),
            computer_name: None,
            provisioning_state: Some("Creating".into()),
        };
        let instances = [inst("a", "Succeeded"), inst("c", "Failed"), unnamed];
        let targets = [
            target("Machines-1", "a"),
            target("Machines-2", "b"),
            target("Machines-3", "c"),
        ];
        let p = plan(&instances, &targets, &scope());
        assert_eq!(ids(&p.members), ["Machines-1"]);
        assert_eq!(ids(&p.unverified), ["Machines-2"]);
        // A target whose own instance is known to be gone is still removed.
        assert_eq!(p.remove.len(), 1);
        assert_eq!(p.remove[0].0.id, "Machines-3");
    }
}
