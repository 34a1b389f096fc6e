//! Reconciliation: a pure function from what Azure says (instances) and what Octopus says
//! (targets) to a plan: which targets to output, which to remove, which to keep and report.
//!
//! No I/O here, so every rule of the contract's membership section has a unit test, and
//! 1,000 x 1,000 costs one hash-map build and one lookup per target.

use std::collections::{HashMap, HashSet};

/// Where an instance stands, from its provisioning state *and* its power state: Azure keeps
/// the two apart, and a stopped, deallocated or evicted VM still says `Succeeded`.
///
/// Instances that share a host name are ranked by [`InstanceState::rank`], not by this
/// declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceState {
    /// `Deleting` (or absent from the listing): its target is removed.
    Gone,
    /// `Failed` or `Canceled`: the VM exists and may be serving. Kept, not output, reported.
    Failed,
    /// `Succeeded` but stopped or deallocated (an evicted Spot VM among them). Kept, not output.
    Stopped,
    /// A transient provisioning or power state, or one we do not know: waited on, never a
    /// reason to remove.
    Pending,
    /// `Succeeded` and running: its target is deployed to.
    Member,
    /// Held by a standby pool (`isVMInStandbyPool: true`): built and bootstrapped, not yet the
    /// set's. Not waited on, not output, its target never removed.
    Pooled,
}

impl InstanceState {
    /// Which of several instances reporting one host name decides its target (at most one of
    /// them is not gone, else the name is shared): the higher rank. Any instance that exists
    /// outranks one that is going, so a dying VM never takes a live VM's target with it; among
    /// the rest the order only matters for a name reused by a VM being recreated.
    pub fn rank(self) -> u8 {
        match self {
            InstanceState::Gone => 0,
            InstanceState::Pooled => 1,
            InstanceState::Failed => 2,
            InstanceState::Stopped => 3,
            InstanceState::Pending => 4,
            InstanceState::Member => 5,
        }
    }
}

/// Classifies an instance from its provisioning state and the code of its `PowerState/...`
/// status (`running`, `deallocated`...), both compared ignoring case. Unknown or missing
/// values are pending: the wait goes on, and nothing is removed on their account.
pub fn classify(provisioning_state: Option<&str>, power_state: Option<&str>) -> InstanceState {
    let lower = |s: Option<&str>| s.map(|s| s.trim().to_ascii_lowercase());
    match lower(provisioning_state).as_deref() {
        Some("deleting") => InstanceState::Gone,
        // `Canceled` is undocumented for VMs but seen; both mean the last operation did not
        // complete, not that the VM is gone.
        Some("failed" | "canceled" | "cancelled") => InstanceState::Failed,
        Some("succeeded") => match lower(power_state).as_deref() {
            Some("running") => InstanceState::Member,
            Some("stopped" | "deallocated") => InstanceState::Stopped,
            // starting, stopping, deallocating, unknown, or no instance view yet.
            _ => InstanceState::Pending,
        },
        // Creating, Updating, Migrating, or a state this build does not know.
        _ => InstanceState::Pending,
    }
}

/// True while a scale set's own provisioning state says it is still changing. `Failed` and
/// `Canceled` are settled: its instances decide for themselves.
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

/// A VM of one of the step's scale sets, as far as reconciliation cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Instance {
    /// The scale set it was listed under (named in messages, and for its prefix).
    pub scale_set: String,
    /// The Azure resource name (`vmss_3`, or a Flexible VM's name).
    pub name: String,
    /// What the Tentacle registers as: `osProfile.computerName`, or the instance view's
    /// `computerName` where there is no OS profile (specialized images). May be missing while
    /// provisioning.
    pub computer_name: Option<String>,
    /// `properties.provisioningState`.
    pub provisioning_state: Option<String>,
    /// The instance view's power state, without `PowerState/` (`running`, `deallocated`).
    pub power_state: Option<String>,
    /// Azure's own words when something failed: the failing status's code and message.
    pub reason: Option<String>,
    /// The scale set's resource id (what plans key sets by: `rg1/web` and `rg2/web` differ).
    pub set_id: String,
    /// The instance view says `isVMInStandbyPool: true`: a standby pool holds it.
    pub pooled: bool,
    /// The Application Health state Azure reports (`instanceView.vmHealth`), when it does:
    /// `HealthState/healthy`, `HealthState/unhealthy`...
    pub health: Option<String>,
    /// `vmId`, Azure's own id of the VM: unlike its name (a Uniform instance id may be reused),
    /// never given to another VM.
    pub vm_id: Option<String>,
    /// When its provisioning state last changed: the instance view's `ProvisioningState/...`
    /// status's `time`. Automatic repairs' grace period starts then.
    pub state_since: Option<time::OffsetDateTime>,
    /// Its instance protection (`protectionPolicy`): scale-set actions (repairs, zone
    /// rebalancing, upgrades) leave a protected VM alone.
    pub protection: Protection,
    /// `resilientVMDeletionStatus` (`Enabled`, `Disabled`, `InProgress`, `Failed`), where the
    /// listing says it (Uniform sets with resilient deletes, read at a newer api-version).
    pub deletion_status: Option<String>,
    /// Azure is deleting it, whatever its provisioning state says now: an earlier listing
    /// showed it `Deleting` (a resilient delete alternates between `Deleting` and `Failed`),
    /// or its deletion is being retried ([`being_deleted`]).
    pub deleting: bool,
    /// Automatic repairs are about to replace it ([`repair_due`]): a member, but not output.
    pub repair_due: bool,
}

/// A VM's instance protection (`protectionPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protection {
    /// `protectFromScaleIn`.
    pub from_scale_in: bool,
    /// `protectFromScaleSetActions`.
    pub from_scale_set_actions: bool,
}

impl Protection {
    /// Either policy: Azure's automatic repairs and zone rebalancing leave the VM alone.
    pub fn any(self) -> bool {
        self.from_scale_in || self.from_scale_set_actions
    }
}

impl Instance {
    /// This instance's state.
    pub fn state(&self) -> InstanceState {
        if self.deleting {
            return InstanceState::Gone;
        }
        match classify(
            self.provisioning_state.as_deref(),
            self.power_state.as_deref(),
        ) {
            InstanceState::Gone => InstanceState::Gone,
            _ if self.pooled => InstanceState::Pooled,
            state => state,
        }
    }

    /// Its computer name, or its resource name when it has none yet.
    pub fn display_name(&self) -> &str {
        self.computer_name.as_deref().unwrap_or(&self.name)
    }

    /// Its state as Azure spelt it: `Succeeded/deallocated`, `Creating`.
    pub fn describe_state(&self) -> String {
        let prov = self
            .provisioning_state
            .as_deref()
            .unwrap_or("state unknown");
        if self.deleting && !prov.eq_ignore_ascii_case("deleting") {
            return format!("being deleted (Azure retries the delete; now {prov})");
        }
        match (&self.power_state, self.state()) {
            (Some(power), InstanceState::Stopped | InstanceState::Pending)
                if prov.eq_ignore_ascii_case("succeeded") =>
            {
                format!("{prov}, {power}")
            }
            (None, InstanceState::Pending) if prov.eq_ignore_ascii_case("succeeded") => {
                format!("{prov}, power state unknown")
            }
            _ => prov.to_string(),
        }
    }
}

/// How a target takes part in tenanted deployments (`TenantedDeploymentParticipation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Participation {
    /// Only untenanted runs.
    Untenanted,
    /// Only tenanted runs of its tenants (directly or by tag).
    Tenanted,
    /// Both.
    TenantedOrUntenanted,
}

impl Participation {
    /// Reads Octopus's value, ignoring case. Servers older than the property are inferred from
    /// the links: a target with tenants or tenant tags is tenanted. An unknown value is `None`,
    /// and such a target is out of scope (never touched).
    pub fn parse(value: Option<&str>, has_tenant_links: bool) -> Option<Participation> {
        match value.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
            Some("untenanted") => Some(Participation::Untenanted),
            Some("tenanted") => Some(Participation::Tenanted),
            Some("tenantedoruntenanted") => Some(Participation::TenantedOrUntenanted),
            None | Some("") if has_tenant_links => Some(Participation::Tenanted),
            None | Some("") => Some(Participation::Untenanted),
            Some(_) => None,
        }
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
    /// Tenants it is linked to directly.
    pub tenant_ids: Vec<String>,
    /// Tenant tags (`Tag Set/Tag`) it is linked to: every tenant carrying one of them.
    pub tenant_tags: Vec<String>,
    /// Which kinds of run it takes part in; `None` for a value this build does not know.
    pub participation: Option<Participation>,
    /// `IsDisabled`: never output, but removed like any other when its VM is gone.
    pub disabled: bool,
}

impl Target {
    /// An enabled, untenanted target: the common case, for tests and benchmarks.
    pub fn untenanted(id: &str, name: &str, roles: &[&str], environment_id: &str) -> Target {
        Target {
            id: id.into(),
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            environment_ids: vec![environment_id.into()],
            tenant_ids: Vec::new(),
            tenant_tags: Vec::new(),
            participation: Some(Participation::Untenanted),
            disabled: false,
        }
    }
}

/// The run's tenant, as scope needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tenant {
    /// `Tenants-1`.
    pub id: String,
    /// The tags the tenant carries (`Tag Set/Tag`).
    pub tags: Vec<String>,
}

/// Which targets this run may touch.
#[derive(Debug, Clone)]
pub struct Scope {
    /// The run's environment.
    pub environment_id: String,
    /// Every one of these roles is needed (case-insensitive, as Octopus treats roles).
    pub roles: Vec<String>,
    /// The run's tenant, when the run is tenanted.
    pub tenant: Option<Tenant>,
}

impl Scope {
    /// The contract's participation rule: in the environment, every role, and taking part in
    /// this kind of run (an untenanted run: `Untenanted` or `TenantedOrUntenanted`; a tenanted
    /// run: `Tenanted` or `TenantedOrUntenanted`, linked to the tenant directly or by a tag).
    pub fn contains(&self, t: &Target) -> bool {
        let has_roles = self
            .roles
            .iter()
            .all(|r| t.roles.iter().any(|tr| tr.eq_ignore_ascii_case(r)));
        let takes_part = match (&self.tenant, t.participation) {
            (_, None) => false,
            (None, Some(p)) => p != Participation::Tenanted,
            (Some(tenant), Some(p)) => {
                p != Participation::Untenanted
                    && (t.tenant_ids.iter().any(|x| x == &tenant.id)
                        || linked_by_tags(&t.tenant_tags, &tenant.tags))
            }
        };
        t.environment_ids.iter().any(|e| e == &self.environment_id) && has_roles && takes_part
    }
}

/// The tag set of a canonical tenant tag: `Region` of `Region/East` (a tag without `/` is a
/// set of its own).
fn tag_set(tag: &str) -> &str {
    tag.split_once('/').map_or(tag, |(set, _)| set).trim()
}

/// Whether a target's tenant tags link it to a tenant carrying `tenant_tags`, as Octopus
/// combines them: OR among the target's tags within one tag set, AND across the tag sets the
/// target uses. `Region/East`, `Region/West`, `Tier/Gold` take a tenant with `Tier/Gold` and
/// either region; a tenant with `Region/East` and `Tier/Silver` is not linked. No tags, no link.
pub fn linked_by_tags(target_tags: &[String], tenant_tags: &[String]) -> bool {
    let carries = |tag: &String| {
        tenant_tags
            .iter()
            .any(|x| x.trim().eq_ignore_ascii_case(tag.trim()))
    };
    !target_tags.is_empty()
        && target_tags.iter().all(|tag| {
            let set = tag_set(tag);
            target_tags
                .iter()
                .filter(|other| tag_set(other).eq_ignore_ascii_case(set))
                .any(carries)
        })
}

/// A scale set's computer-name prefix, lent to the plan when the set's listing can be trusted
/// to be complete (see the step's empty-listing rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    /// The scale set.
    pub scale_set: String,
    /// Its resource id.
    pub set_id: String,
    /// `virtualMachineProfile.osProfile.computerNamePrefix`, non-empty.
    pub prefix: String,
}

/// How many characters Azure puts after a scale set's computer-name prefix: a Uniform
/// instance's id in base 36 (`web00000z`), or a Flexible VM's 6 random letters and digits.
pub const NAME_SUFFIX_LEN: usize = 6;

impl Prefix {
    /// The contract's shape rule: whether a host name (as [`host_name`] gives it) can only be
    /// one of this scale set's VMs' names: the prefix followed by exactly
    /// [`NAME_SUFFIX_LEN`] ASCII letters or digits, ignoring case. `web00000z` is `web`'s;
    /// `webapi000001` (a neighbour whose prefix extends ours), `web`, `web0000011` and
    /// `web-00001` are not. Only names of this shape may be removed for matching no VM.
    pub fn names(&self, host: &str) -> bool {
        let prefix = self.prefix.trim();
        host.get(..prefix.len())
            .is_some_and(|head| !prefix.is_empty() && head.eq_ignore_ascii_case(prefix))
            && host[prefix.len()..].len() == NAME_SUFFIX_LEN
            && host[prefix.len()..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric())
    }
}

/// Prefixes that two or more of the step's scale sets use (ignoring case), each with those
/// sets: a shape-matching name could then be either set's, so the step warns about it.
pub fn shared_prefixes(prefixes: &[Prefix]) -> Vec<(String, Vec<String>)> {
    let mut by_prefix: Vec<(String, Vec<String>)> = Vec::new();
    for p in prefixes {
        let key = p.prefix.trim().to_ascii_lowercase();
        match by_prefix.iter_mut().find(|(k, _)| *k == key) {
            Some((_, sets)) => sets.push(p.scale_set.clone()),
            None => by_prefix.push((key, vec![p.scale_set.clone()])),
        }
    }
    by_prefix.retain(|(_, sets)| sets.len() > 1);
    by_prefix
}

/// A computer name that several VMs which are not gone report at once: instances built from a
/// specialized image keep the source VM's name. A target with this name cannot be tied to one
/// VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedName {
    /// The host name, as the VMs report it (first seen).
    pub name: String,
    /// The VMs reporting it that are not gone.
    pub instances: Vec<Instance>,
}

impl SharedName {
    /// True when every VM with this name is a member: only then may its target be output.
    pub fn all_members(&self) -> bool {
        self.instances
            .iter()
            .all(|i| i.state() == InstanceState::Member)
    }
}

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
enum Named<'a> {
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

/// Why a target whose VM is not listed was kept: which proof of absence failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unproven {
    /// The wait's last listing of the set had it (not `Deleting`): one listing may miss a VM
    /// when pages shift during a scale-in.
    ListedBefore {
        /// The scale set.
        scale_set: String,
    },
    /// The wait's last check did not list the set (it was itself changing): there is no
    /// second listing to confirm the first.
    NoEarlierListing {
        /// The scale set.
        scale_set: String,
    },
    /// A VM of the set's resource group outside the set has its name (detached from the set).
    InGroup {
        /// That VM's resource name.
        vm: String,
    },
    /// A standby pool attached to the set holds a VM with its name.
    InPool {
        /// The pool's name.
        pool: String,
    },
    /// A proof could not be read; the sentence names what to grant.
    Unreadable(String),
}

impl std::fmt::Display for Unproven {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unproven::ListedBefore { scale_set } => write!(
                f,
                "the previous listing of scale set {scale_set} had its VM, so one listing's word is not enough"
            ),
            Unproven::NoEarlierListing { scale_set } => write!(
                f,
                "scale set {scale_set} was listed only once, so its VM's absence is not confirmed"
            ),
            Unproven::InGroup { vm } => write!(
                f,
                "VM {vm} of the resource group has its name (detached from the scale set?)"
            ),
            Unproven::InPool { pool } => {
                write!(f, "a VM of standby pool {pool} has its name")
            }
            Unproven::Unreadable(why) => write!(f, "its absence could not be checked: {why}"),
        }
    }
}

/// What the reads of the proof of absence found for one scale set (by resource id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    /// Flexible sets: the host names of the resource group's VMs that are not `Deleting`, each
    /// with its VM's name; `Err` says why the listing could not be read. `None`: not read
    /// (Uniform sets, whose VMs cannot leave them).
    pub group: Option<Result<HashMap<String, String>, String>>,
    /// The host names of the VMs of standby pools attached to the set, each with its pool;
    /// `Err` says why they could not be read.
    pub pools: Result<HashMap<String, String>, String>,
}

/// The host names each set's earlier listing (the wait's last check) had, not `Deleting`, by
/// set id; a set missing here was not listed then.
pub type EarlierListings = HashMap<String, HashSet<String>>;

/// The sets lending a shape to a planned `NoInstance` removal.
fn lenders<'a>(prefixes: &'a [Prefix], target: &Target) -> Vec<&'a Prefix> {
    let host = host_name(&target.name);
    prefixes.iter().filter(|p| p.names(&host)).collect()
}

/// The contract's first proof, from the listings alone: a target whose VM is not listed is
/// kept unless every set lending its shape was listed before and missed it then too.
fn unproven_by_listings(
    prefixes: &[Prefix],
    earlier: &EarlierListings,
    target: &Target,
) -> Option<Unproven> {
    let host = host_name(&target.name);
    lenders(prefixes, target)
        .into_iter()
        .find_map(|p| match earlier.get(&p.set_id) {
            None => Some(Unproven::NoEarlierListing {
                scale_set: p.scale_set.clone(),
            }),
            Some(hosts) if hosts.contains(&host) => Some(Unproven::ListedBefore {
                scale_set: p.scale_set.clone(),
            }),
            Some(_) => None,
        })
}

/// Applies the listings' proof, and returns the sets whose remaining removals need the reads
/// (the resource group's VMs, the standby pools): empty when nothing is left to remove, so a
/// run that removes nothing reads nothing more.
pub fn prove_by_listings(
    plan: &mut Plan,
    prefixes: &[Prefix],
    earlier: &EarlierListings,
) -> Vec<Prefix> {
    let mut remove = Vec::with_capacity(plan.remove.len());
    for (t, reason) in std::mem::take(&mut plan.remove) {
        if !matches!(reason, RemovalReason::NoInstance { .. }) {
            remove.push((t, reason));
            continue;
        }
        match unproven_by_listings(prefixes, earlier, &t) {
            Some(why) => plan.unproven.push((t, why)),
            None => remove.push((t, reason)),
        }
    }
    plan.remove = remove;
    let mut sets: Vec<Prefix> = Vec::new();
    for (t, reason) in &plan.remove {
        if matches!(reason, RemovalReason::NoInstance { .. }) {
            for p in lenders(prefixes, t) {
                if !sets.iter().any(|s| s.set_id == p.set_id) {
                    sets.push(p.clone());
                }
            }
        }
    }
    sets
}

/// Applies the reads' proofs: a target is removed only if no set lending its shape has a VM
/// of that name outside its listing (its resource group, its standby pools), and each of
/// those proofs could be read. Evidence missing for a set counts as unreadable.
pub fn prove_by_reads(plan: &mut Plan, prefixes: &[Prefix], evidence: &HashMap<String, Evidence>) {
    let mut remove = Vec::with_capacity(plan.remove.len());
    for (t, reason) in std::mem::take(&mut plan.remove) {
        if !matches!(reason, RemovalReason::NoInstance { .. }) {
            remove.push((t, reason));
            continue;
        }
        let host = host_name(&t.name);
        let why = lenders(prefixes, &t).into_iter().find_map(|p| {
            let Some(e) = evidence.get(&p.set_id) else {
                return Some(Unproven::Unreadable(format!(
                    "the reads for scale set {} did not finish within the step's time",
                    p.scale_set
                )));
            };
            let in_group = match &e.group {
                Some(Err(why)) => return Some(Unproven::Unreadable(why.clone())),
                Some(Ok(vms)) => vms
                    .get(&host)
                    .map(|vm| Unproven::InGroup { vm: vm.clone() }),
                None => None,
            };
            let in_pool = match &e.pools {
                Err(why) => return Some(Unproven::Unreadable(why.clone())),
                Ok(vms) => vms
                    .get(&host)
                    .map(|pool| Unproven::InPool { pool: pool.clone() }),
            };
            in_pool.or(in_group)
        });
        match why {
            Some(why) => plan.unproven.push((t, why)),
            None => remove.push((t, reason)),
        }
    }
    plan.remove = remove;
}

/// A scale set's automatic repairs policy (`automaticRepairsPolicy`), when it is enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairPolicy {
    /// `gracePeriod` as Azure wrote it (`PT10M`); `None` when it gave none (the default).
    pub grace_period: Option<String>,
    /// `repairAction`: `Replace` (the default), `Restart` or `Reimage`.
    pub action: String,
}

/// Azure's default and shortest grace period: 10 minutes (`PT10M`).
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

impl RepairPolicy {
    /// How long Azure waits after a VM's state change before it repairs it. A grace period
    /// missing or not read as ISO 8601 is Azure's default and minimum, 10 minutes: the
    /// shortest wait, so the rule errs on the side of not deploying to a VM about to go.
    pub fn grace(&self) -> std::time::Duration {
        self.grace_period
            .as_deref()
            .and_then(iso8601_duration)
            .map_or(DEFAULT_GRACE, |g| g.max(DEFAULT_GRACE))
    }

    /// The grace period as written, or Azure's default.
    pub fn grace_text(&self) -> &str {
        self.grace_period.as_deref().unwrap_or("PT10M")
    }
}

/// An ISO 8601 duration of days, hours, minutes and seconds (`PT10M`, `PT1H30M`, `P1DT2H`,
/// `PT90.5S`), as Azure writes grace periods; `None` for anything else (years, months, weeks,
/// signs, an empty `PT`).
pub fn iso8601_duration(text: &str) -> Option<std::time::Duration> {
    let rest = text.trim().to_ascii_uppercase();
    let rest = rest.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, t),
        Some(_) => return None,
        None => (rest, ""),
    };
    let mut seconds = 0f64;
    let mut any = false;
    for (part, units) in [
        (days, &[('D', 86_400.0)][..]),
        (time, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut number = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(if c == ',' { '.' } else { c });
                continue;
            }
            let at = units[next_unit..].iter().position(|(u, _)| *u == c)? + next_unit;
            seconds += number.parse::<f64>().ok()? * units[at].1;
            number.clear();
            next_unit = at + 1;
            any = true;
        }
        if !number.is_empty() {
            return None;
        }
    }
    (any && seconds.is_finite()).then(|| std::time::Duration::from_secs_f64(seconds))
}

/// The contract's repairs rule: automatic repairs are about to replace (or restart, or
/// reimage) a member that Azure reports `HealthState/unhealthy` once its last provisioning
/// state change is longer ago than the grace period. Not while repairs are suspended, not for
/// a protected VM (either protection policy exempts it), and not when the time of its last
/// change is unknown (nothing says the grace period is over).
pub fn repair_due(
    i: &Instance,
    policy: &RepairPolicy,
    repairs_suspended: bool,
    now: time::OffsetDateTime,
) -> bool {
    let unhealthy = i
        .health
        .as_deref()
        .is_some_and(|h| h.trim().eq_ignore_ascii_case("HealthState/unhealthy"));
    let past_grace = i
        .state_since
        .is_some_and(|since| now - since > policy.grace());
    !repairs_suspended
        && unhealthy
        && past_grace
        && !i.protection.any()
        && i.state() == InstanceState::Member
}

/// Whether a VM's deletion is under way now, as the listing itself says: `Deleting`, or
/// Azure retrying a delete (`resilientVMDeletionStatus: InProgress`), whatever its
/// provisioning state (a retried delete shows `Failed` between attempts).
pub fn being_deleted(i: &Instance) -> bool {
    let state = |s: &Option<String>, wanted: &str| {
        s.as_deref()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(wanted))
    };
    state(&i.provisioning_state, "Deleting") || state(&i.deletion_status, "InProgress")
}

/// The key a VM is remembered by across listings: its scale set and Azure's `vmId` (its name
/// where the listing gives no `vmId`), ignoring case.
pub fn vm_key(i: &Instance) -> String {
    let id = i.vm_id.as_deref().unwrap_or(&i.name);
    format!("{}|{}", i.set_id, id).to_ascii_lowercase()
}

/// The VMs the step saw being deleted in any listing so far, by [`vm_key`].
pub type SeenDeleting = HashSet<String>;

/// The contract's resilient-delete rule over one listing: a VM seen being deleted in an
/// earlier listing (`seen`), or being deleted in this one, is gone whatever this listing
/// says (`Failed` included); `seen` then remembers this listing's for the next.
pub fn mark_deleting(instances: &mut [Instance], seen: &mut SeenDeleting) {
    for i in instances.iter_mut() {
        let key = vm_key(i);
        if being_deleted(i) {
            seen.insert(key);
            i.deleting = true;
        } else if seen.contains(&key) {
            i.deleting = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InstanceState::*;

    const SET: &str = "vmss-web";

    fn inst(computer: &str, prov: &str, power: &str) -> Instance {
        Instance {
            scale_set: SET.into(),
            name: format!("vmss_{computer}"),
            computer_name: Some(computer.to_string()),
            provisioning_state: Some(prov.to_string()),
            power_state: (!power.is_empty()).then(|| power.to_string()),
            reason: None,
            set_id: SET.into(),
            ..Instance::default()
        }
    }

    fn up(computer: &str) -> Instance {
        inst(computer, "Succeeded", "running")
    }

    fn target(id: &str, name: &str) -> Target {
        Target::untenanted(id, name, &["web", "vmss"], "Environments-1")
    }

    fn scope() -> Scope {
        Scope {
            environment_id: "Environments-1".into(),
            roles: vec!["WEB".into(), "vmss".into()],
            tenant: None,
        }
    }

    fn web() -> Vec<Prefix> {
        vec![Prefix {
            scale_set: SET.into(),
            set_id: SET.into(),
            prefix: "web".into(),
        }]
    }

    /// Our scale set's prefix and a second set's.
    fn web_and_api() -> Vec<Prefix> {
        let mut p = web();
        p.push(Prefix {
            scale_set: "vmss-api".into(),
            set_id: "vmss-api".into(),
            prefix: "api".into(),
        });
        p
    }

    fn ids(ts: &[Target]) -> Vec<&str> {
        ts.iter().map(|t| t.id.as_str()).collect()
    }

    fn removed(p: &Plan) -> Vec<&str> {
        p.remove.iter().map(|(t, _)| t.id.as_str()).collect()
    }

    #[test]
    fn every_provisioning_and_power_state_pair() {
        let cases: &[(Option<&str>, Option<&str>, InstanceState)] = &[
            (Some("Succeeded"), Some("running"), Member),
            (Some("succeeded"), Some("RUNNING"), Member),
            (Some("Succeeded"), Some("stopped"), Stopped),
            (Some("Succeeded"), Some("deallocated"), Stopped),
            (Some("Succeeded"), Some("starting"), Pending),
            (Some("Succeeded"), Some("stopping"), Pending),
            (Some("Succeeded"), Some("deallocating"), Pending),
            (Some("Succeeded"), Some("unknown"), Pending),
            // A Succeeded VM whose power state is unknown is pending: the wait cannot end
            // without it.
            (Some("Succeeded"), None, Pending),
            (Some("Creating"), Some("running"), Pending),
            (Some("Creating"), None, Pending),
            (Some("Updating"), Some("running"), Pending),
            (Some("Updating"), Some("deallocating"), Pending),
            (Some("Migrating"), Some("running"), Pending),
            (Some("SomethingNew"), Some("running"), Pending),
            (None, Some("running"), Pending),
            (None, None, Pending),
            // Failed VMs exist and may be serving, whatever their power state.
            (Some("Failed"), Some("running"), Failed),
            (Some("FAILED"), Some("deallocated"), Failed),
            (Some("Failed"), None, Failed),
            (Some("Canceled"), Some("running"), Failed),
            (Some("Deleting"), Some("running"), Gone),
            (Some("Deleting"), Some("stopped"), Gone),
            (Some("deleting"), None, Gone),
        ];
        for (prov, power, want) in cases {
            assert_eq!(classify(*prov, *power), *want, "{prov:?} {power:?}");
        }
        assert!(scale_set_is_transient(Some("Updating")));
        assert!(!scale_set_is_transient(Some("succeeded")));
        assert!(!scale_set_is_transient(Some("Failed")));
        assert!(!scale_set_is_transient(Some("Canceled")));
        assert!(!scale_set_is_transient(None));
    }

    #[test]
    fn each_state_puts_its_target_where_the_contract_says() {
        let instances = [
            up("web0000aa"),
            inst("web0000bb", "Creating", ""),
            inst("web0000cc", "Deleting", "running"),
            inst("web0000dd", "Failed", "running"),
            inst("web0000ee", "Succeeded", "deallocated"),
            inst("web0000ff", "Succeeded", "stopped"),
            inst("web0000gg", "Succeeded", "starting"),
        ];
        let targets: Vec<Target> = ["aa", "bb", "cc", "dd", "ee", "ff", "gg", "hh"]
            .iter()
            .map(|n| target(&format!("Machines-{n}"), &format!("web0000{n}")))
            .collect();
        let p = plan(&instances, &targets, &scope(), &web());
        assert_eq!(ids(&p.members), ["Machines-aa"]);
        assert_eq!(ids(&p.pending), ["Machines-bb", "Machines-gg"]);
        let kept =
            |v: &[(Target, Instance)]| v.iter().map(|(t, _)| t.id.clone()).collect::<Vec<_>>();
        assert_eq!(kept(&p.failed), ["Machines-dd"]);
        assert_eq!(kept(&p.stopped), ["Machines-ee", "Machines-ff"]);
        assert_eq!(
            p.remove,
            vec![
                (
                    targets[2].clone(),
                    RemovalReason::InstanceGone {
                        instance: "vmss_web0000cc".into(),
                        state: "Deleting".into()
                    }
                ),
                (
                    targets[7].clone(),
                    RemovalReason::NoInstance {
                        scale_set: SET.into()
                    }
                ),
            ]
        );
        assert!(p.unregistered.is_empty());
        assert_eq!(p.in_scope(), 8);
    }

    #[test]
    fn host_names_match_whole_labels_only() {
        assert_eq!(host_name("web000001.corp.example.com"), "web000001");
        assert_eq!(host_name("WEB000001"), "web000001");
        let instances = [up("WEB000001"), up("web000002")];
        let targets = [
            target("Machines-1", "web000001.corp.example.com"),
            target("Machines-2", "web"), // a prefix of every VM: matches none
            target("Machines-3", "web0000011"), // a live VM's name is a prefix of it: no match
        ];
        let p = plan(&instances, &targets, &scope(), &web());
        assert_eq!(ids(&p.members), ["Machines-1"]);
        // Neither has the shape of one of web's computer names, so neither is removed.
        assert!(p.remove.is_empty());
        assert_eq!(ids(&p.foreign), ["Machines-2", "Machines-3"]);
        let unregistered: Vec<&str> = p.unregistered.iter().map(|i| i.display_name()).collect();
        assert_eq!(unregistered, ["web000002"]);
    }

    #[test]
    fn a_live_instance_outranks_a_dying_one_with_the_same_name() {
        let instances = [inst("a", "Deleting", ""), up("A")];
        let p = plan(&instances, &[target("Machines-1", "a")], &scope(), &web());
        assert_eq!(ids(&p.members), ["Machines-1"]);
        assert!(p.remove.is_empty());
        // Two that are not gone share the name: neither decides alone (see shared names).
        for other in [
            inst("a", "Failed", "running"),
            inst("a", "Succeeded", "deallocated"),
        ] {
            let instances = [other.clone(), up("A")];
            let p = plan(&instances, &[target("Machines-1", "a")], &scope(), &web());
            assert!(p.members.is_empty() && p.remove.is_empty(), "{other:?}");
            assert_eq!(p.shared.len(), 1, "{other:?}");
        }
        // A failed VM outranks a deleting namesake: its target is kept, not removed.
        let instances = [inst("a", "Deleting", ""), inst("a", "Failed", "running")];
        let p = plan(&instances, &[target("Machines-1", "a")], &scope(), &web());
        assert_eq!(p.failed.len(), 1);
        assert!(p.remove.is_empty());
    }

    #[test]
    fn unmatched_targets_without_one_of_our_prefixes_are_foreign_and_kept() {
        let instances = [up("web000001")];
        let targets = [
            target("Machines-1", "web000001"),
            target("Machines-2", "web0000zz"),    // ours, gone
            target("Machines-3", "api000001"),    // another scale set sharing the roles
            target("Machines-4", "legacy-vm-01"), // a plain VM
            target("Machines-5", "WEB0000ZY.corp.example.com"), // ours, any case
        ];
        let p = plan(&instances, &targets, &scope(), &web());
        assert_eq!(removed(&p), ["Machines-2", "Machines-5"]);
        assert_eq!(ids(&p.foreign), ["Machines-3", "Machines-4"]);
        // With no prefix known (a specialized image, an empty listing), nothing unmatched goes.
        let p = plan(&instances, &targets, &scope(), &[]);
        assert!(p.remove.is_empty());
        assert_eq!(p.foreign.len(), 4);
        // An empty prefix is no prefix.
        let blank = [Prefix {
            scale_set: SET.into(),
            set_id: SET.into(),
            prefix: " ".into(),
        }];
        assert!(plan(&instances, &targets, &scope(), &blank)
            .remove
            .is_empty());
    }

    #[test]
    fn only_names_of_our_computer_names_shape_are_removed() {
        let ours = &web()[0];
        for name in ["web00000z", "WEB0000ZZ", "web000abc", "Web123456"] {
            assert!(ours.names(&host_name(name)), "{name}");
        }
        for not_ours in [
            "webapi000001", // a neighbour whose prefix extends ours
            "web",
            "web0000011", // 7 characters after the prefix
            "web00001",   // 5
            "web-00001",
            "web_00001",
            "web0000é1",
            "api000001",
            "",
        ] {
            assert!(!ours.names(&host_name(not_ours)), "{not_ours}");
        }
        let blank = Prefix {
            scale_set: SET.into(),
            set_id: SET.into(),
            prefix: "".into(),
        };
        assert!(!blank.names("000001"));

        // web and its neighbour webapi share the roles; only web is the step's.
        let instances = [up("web000001")];
        let targets = [
            target("Machines-1", "web000001"),
            target("Machines-2", "webapi000001"),
            target("Machines-3", "webapi00000a.corp.example.com"),
            target("Machines-4", "web000002"),
            target("Machines-5", "web-00001"),
        ];
        let p = plan(&instances, &targets, &scope(), &web());
        assert_eq!(removed(&p), ["Machines-4"]);
        assert_eq!(ids(&p.foreign), ["Machines-2", "Machines-3", "Machines-5"]);
    }

    #[test]
    fn two_sets_with_one_prefix_are_named() {
        let mut prefixes = web_and_api();
        prefixes.push(Prefix {
            scale_set: "vmss-web-2".into(),
            set_id: "vmss-web-2".into(),
            prefix: "WEB".into(),
        });
        assert_eq!(
            shared_prefixes(&prefixes),
            vec![(
                "web".to_string(),
                vec![SET.to_string(), "vmss-web-2".to_string()]
            )]
        );
        assert!(shared_prefixes(&web_and_api()).is_empty());
    }

    #[test]
    fn a_computer_name_several_live_vms_share_is_never_removed() {
        // Three VMs of a specialized image report the source VM's name.
        let vm = |n: &str, prov: &str, power: &str| {
            let mut i = inst("golden", prov, power);
            i.name = format!("vmss_{n}");
            i
        };
        let t = [target("Machines-1", "golden"), target("Machines-2", "solo")];
        let prefixes = [Prefix {
            scale_set: SET.into(),
            set_id: SET.into(),
            prefix: "gol".into(),
        }];

        // All members: output, once.
        let all_up = [
            vm("1", "Succeeded", "running"),
            vm("2", "Succeeded", "running"),
        ];
        let p = plan(&all_up, &t, &scope(), &prefixes);
        assert_eq!(ids(&p.members), ["Machines-1"]);
        assert_eq!(p.shared_names.len(), 1);
        assert_eq!(p.shared_names[0].instances.len(), 2);

        // One is deleting, one creating, one running: not output, not removed, kept as shared.
        let mixed = [
            vm("1", "Deleting", "running"),
            vm("2", "Creating", ""),
            vm("3", "Succeeded", "running"),
        ];
        let p = plan(&mixed, &t, &scope(), &prefixes);
        assert!(p.members.is_empty() && p.remove.is_empty() && p.pending.is_empty());
        assert_eq!(p.shared.len(), 1);
        assert_eq!(p.shared[0].0.id, "Machines-1");
        let names: Vec<&str> = p.shared[0].1.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            ["vmss_2", "vmss_3"],
            "the gone VM is not one of them"
        );

        // A failed one among members: still not output (it cannot be told apart).
        let failed = [
            vm("1", "Failed", "running"),
            vm("2", "Succeeded", "running"),
        ];
        let p = plan(&failed, &t, &scope(), &prefixes);
        assert!(p.members.is_empty() && p.failed.is_empty());
        assert_eq!(p.shared.len(), 1);

        // Once at most one such VM is left, the name matches as usual.
        let one_left = [
            vm("1", "Deleting", ""),
            vm("2", "Deleting", ""),
            vm("3", "Succeeded", "running"),
        ];
        let p = plan(&one_left, &t, &scope(), &prefixes);
        assert_eq!(ids(&p.members), ["Machines-1"]);
        assert!(p.shared_names.is_empty());
        let all_gone = [vm("1", "Deleting", ""), vm("2", "Deleting", "")];
        let p = plan(&all_gone, &t, &scope(), &prefixes);
        assert_eq!(removed(&p), ["Machines-1"]);

        // A shared name with no target is one unregistered VM name, not one per VM.
        let p = plan(&all_up, &[], &scope(), &prefixes);
        let names: Vec<&str> = p.unregistered.iter().map(|i| i.display_name()).collect();
        assert_eq!(names, ["golden"]);
    }

    #[test]
    fn tenant_tags_are_or_within_a_tag_set_and_and_across_sets() {
        let tags = |ts: &[&str]| ts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let target = tags(&["Region/East", "Region/West", "Tier/Gold"]);
        assert!(linked_by_tags(
            &target,
            &tags(&["Tier/Gold", "Region/West"])
        ));
        assert!(linked_by_tags(
            &target,
            &tags(&["region/east", "tier/gold", "Other/X"])
        ));
        // AND across sets: the right region but the wrong tier.
        assert!(!linked_by_tags(
            &target,
            &tags(&["Region/East", "Tier/Silver"])
        ));
        // A set the target uses that the tenant has no tag of.
        assert!(!linked_by_tags(&target, &tags(&["Region/East"])));
        // OR within a set: one region of two is enough.
        assert!(linked_by_tags(
            &tags(&["Region/East", "Region/West"]),
            &tags(&["Region/West"])
        ));
        assert!(!linked_by_tags(
            &tags(&["Region/East"]),
            &tags(&["Region/West"])
        ));
        // No tags link nothing.
        assert!(!linked_by_tags(&[], &tags(&["Region/West"])));
    }

    #[test]
    fn several_scale_sets_reconcile_against_the_union() {
        let mut api = up("api000001");
        api.scale_set = "vmss-api".into();
        let instances = [up("web000001"), api];
        let prefixes = web_and_api();
        let targets = [
            target("Machines-1", "web000001"),
            target("Machines-2", "api000001"),
            target("Machines-3", "api000009"),
        ];
        let p = plan(&instances, &targets, &scope(), &prefixes);
        assert_eq!(ids(&p.members), ["Machines-1", "Machines-2"]);
        assert_eq!(
            p.remove[0].1,
            RemovalReason::NoInstance {
                scale_set: "vmss-api".into()
            }
        );
    }

    #[test]
    fn an_unnamed_live_instance_holds_back_only_its_own_sets_unmatched_targets() {
        let unnamed = Instance {
            scale_set: SET.into(),
            set_id: SET.into(),
            name: "vmss_9".into(),
            computer_name: None,
            provisioning_state: Some("Creating".into()),
            ..Instance::default()
        };
        let instances = [up("web0000aa"), inst("web0000cc", "Deleting", ""), unnamed];
        let prefixes = web_and_api();
        let targets = [
            target("Machines-1", "web0000aa"),
            target("Machines-2", "web0000bb"),
            target("Machines-3", "web0000cc"),
            target("Machines-4", "api0000zz"),
        ];
        let p = plan(&instances, &targets, &scope(), &prefixes);
        assert_eq!(ids(&p.members), ["Machines-1"]);
        assert_eq!(ids(&p.unverified), ["Machines-2"]);
        // A target whose own instance is known to be gone is still removed, and so is one of
        // another scale set whose instances all have names.
        assert_eq!(removed(&p), ["Machines-3", "Machines-4"]);
    }

    #[test]
    fn disabled_targets_are_never_output_but_removed_when_their_vm_is_gone() {
        let instances = [up("web0000aa"), inst("web0000bb", "Deleting", "")];
        let mut a = target("Machines-1", "web0000aa");
        a.disabled = true;
        let mut b = target("Machines-2", "web0000bb");
        b.disabled = true;
        let p = plan(&instances, &[a, b], &scope(), &web());
        assert!(p.members.is_empty());
        assert_eq!(ids(&p.disabled), ["Machines-1"]);
        assert_eq!(removed(&p), ["Machines-2"]);
        // A disabled target still means the Tentacle registered.
        assert!(p.unregistered.is_empty());
    }

    #[test]
    fn members_with_no_target_in_scope_are_unregistered() {
        let instances = [
            up("web0000aa"),
            up("web0000bb"),
            inst("web0000cc", "Creating", ""),
            inst("web0000dd", "Succeeded", "deallocated"),
        ];
        let mut other_role = target("Machines-2", "web0000bb");
        other_role.roles = vec!["db".into()];
        let p = plan(
            &instances,
            &[target("Machines-1", "web0000aa"), other_role],
            &scope(),
            &web(),
        );
        let names: Vec<&str> = p.unregistered.iter().map(|i| i.display_name()).collect();
        assert_eq!(names, ["web0000bb"], "only ready, running VMs count");
        assert_eq!(p.out_of_scope, 1);
    }

    #[test]
    fn participation_and_tenant_tags_decide_scope() {
        let tenant = Tenant {
            id: "Tenants-1".into(),
            tags: vec!["Region/West".into(), "Tier/Gold".into()],
        };
        let mk = |p: Option<Participation>, ids: &[&str], tags: &[&str]| {
            let mut t = target("Machines-1", "web000001");
            t.participation = p;
            t.tenant_ids = ids.iter().map(|s| s.to_string()).collect();
            t.tenant_tags = tags.iter().map(|s| s.to_string()).collect();
            t
        };
        use Participation::*;
        let untenanted = scope();
        let tenanted = Scope {
            tenant: Some(tenant),
            ..scope()
        };
        let cases = [
            // (target, in an untenanted run, in Tenants-1's run)
            (mk(Some(Untenanted), &[], &[]), true, false),
            (mk(Some(Untenanted), &["Tenants-1"], &[]), true, false),
            (mk(Some(Tenanted), &["Tenants-1"], &[]), false, true),
            (mk(Some(Tenanted), &["Tenants-2"], &[]), false, false),
            (mk(Some(Tenanted), &[], &["region/west"]), false, true),
            (mk(Some(Tenanted), &[], &["Region/East"]), false, false),
            (mk(Some(TenantedOrUntenanted), &[], &[]), true, false),
            (
                mk(Some(TenantedOrUntenanted), &["Tenants-1"], &[]),
                true,
                true,
            ),
            (
                mk(Some(TenantedOrUntenanted), &[], &["Tier/Gold"]),
                true,
                true,
            ),
            (mk(None, &["Tenants-1"], &[]), false, false),
        ];
        for (t, in_untenanted, in_tenanted) in cases {
            assert_eq!(untenanted.contains(&t), in_untenanted, "untenanted {t:?}");
            assert_eq!(tenanted.contains(&t), in_tenanted, "tenanted {t:?}");
        }
        assert_eq!(Participation::parse(None, false), Some(Untenanted));
        assert_eq!(Participation::parse(None, true), Some(Tenanted));
        assert_eq!(
            Participation::parse(Some("tenantedOrUntenanted"), false),
            Some(TenantedOrUntenanted)
        );
        assert_eq!(Participation::parse(Some("Sometimes"), false), None);
    }

    #[test]
    fn out_of_scope_targets_are_never_touched() {
        let mut other_env = target("Machines-1", "web0000x1");
        other_env.environment_ids = vec!["Environments-2".into()];
        let mut one_role = target("Machines-2", "web0000x2");
        one_role.roles = vec!["web".into()];
        let mut tenanted = target("Machines-3", "web0000x3");
        tenanted.participation = Some(Participation::Tenanted);
        tenanted.tenant_ids = vec!["Tenants-2".into()];
        let ours = target("Machines-4", "web0000x4");
        let p = plan(
            &[],
            &[other_env, one_role, tenanted, ours],
            &scope(),
            &web(),
        );
        assert_eq!(p.out_of_scope, 3);
        assert_eq!(removed(&p), ["Machines-4"]);
    }

    #[test]
    fn describe_state_says_what_azure_said() {
        assert_eq!(up("a").describe_state(), "Succeeded");
        assert_eq!(
            inst("a", "Succeeded", "deallocated").describe_state(),
            "Succeeded, deallocated"
        );
        assert_eq!(
            inst("a", "Succeeded", "").describe_state(),
            "Succeeded, power state unknown"
        );
        assert_eq!(inst("a", "Creating", "").describe_state(), "Creating");
    }

    #[test]
    fn sets_of_one_name_in_two_groups_are_kept_apart() {
        // rg1/web has a VM without a name yet; rg2/web (same set name, its own prefix) does not.
        let unnamed = Instance {
            scale_set: "web".into(),
            set_id: "/rg1/web".into(),
            name: "web_9".into(),
            provisioning_state: Some("Creating".into()),
            ..Instance::default()
        };
        let prefixes = [
            Prefix {
                scale_set: "web".into(),
                set_id: "/rg1/web".into(),
                prefix: "one".into(),
            },
            Prefix {
                scale_set: "web".into(),
                set_id: "/rg2/web".into(),
                prefix: "two".into(),
            },
        ];
        let targets = [
            target("Machines-1", "one0000aa"),
            target("Machines-2", "two0000aa"),
        ];
        let p = plan(&[unnamed], &targets, &scope(), &prefixes);
        assert_eq!(ids(&p.unverified), ["Machines-1"]);
        assert_eq!(removed(&p), ["Machines-2"]);
    }

    #[test]
    fn ranks_are_explicit_and_a_pooled_vm_is_its_own_class() {
        assert!(Member.rank() > Pending.rank());
        assert!(Pending.rank() > Stopped.rank());
        assert!(Stopped.rank() > Failed.rank());
        assert!(Failed.rank() > Pooled.rank());
        assert!(Pooled.rank() > Gone.rank());
        let mut pooled = up("web0000aa");
        pooled.pooled = true;
        assert_eq!(pooled.state(), Pooled);
        pooled.provisioning_state = Some("Deleting".into());
        assert_eq!(pooled.state(), Gone);
        let mut pooled = inst("web0000bb", "Creating", "");
        pooled.pooled = true;
        let p = plan(
            &[pooled],
            &[target("Machines-1", "web0000bb")],
            &scope(),
            &web(),
        );
        assert_eq!(p.pooled.len(), 1);
        assert!(p.pending.is_empty() && p.remove.is_empty() && p.unregistered.is_empty());
    }

    #[test]
    fn absence_needs_two_listings_and_clean_reads() {
        let targets = [
            target("Machines-1", "web0000aa"),
            target("Machines-2", "web0000bb"),
        ];
        let fresh = || plan(&[], &targets, &scope(), &web());
        // Never listed before: kept, and no reads asked for.
        let mut p = fresh();
        let needed = prove_by_listings(&mut p, &web(), &EarlierListings::new());
        assert!(needed.is_empty() && p.remove.is_empty());
        assert!(matches!(p.unproven[0].1, Unproven::NoEarlierListing { .. }));
        // Listed before (web0000aa): only web0000bb goes on to the reads.
        let earlier: EarlierListings = [(
            SET.to_string(),
            ["web0000aa".to_string()].into_iter().collect(),
        )]
        .into();
        let mut p = fresh();
        let needed = prove_by_listings(&mut p, &web(), &earlier);
        assert_eq!(needed.len(), 1);
        assert_eq!(removed(&p), ["Machines-2"]);
        assert!(matches!(p.unproven[0].1, Unproven::ListedBefore { .. }));
        // The reads: a pool VM, a group VM, an unreadable proof, and a clean one.
        let evidence = |group: Option<Result<HashMap<String, String>, String>>,
                        pools: Result<HashMap<String, String>, String>| {
            let mut p = fresh();
            let earlier: EarlierListings = [(SET.to_string(), HashSet::new())].into();
            prove_by_listings(&mut p, &web(), &earlier);
            prove_by_reads(
                &mut p,
                &web(),
                &[(SET.to_string(), Evidence { group, pools })].into(),
            );
            p
        };
        let named = |n: &str, v: &str| -> HashMap<String, String> {
            [(n.to_string(), v.to_string())].into()
        };
        let p = evidence(None, Ok(named("web0000aa", "pool-1")));
        assert_eq!(removed(&p), ["Machines-2"]);
        assert_eq!(
            p.unproven[0].1,
            Unproven::InPool {
                pool: "pool-1".into()
            }
        );
        let p = evidence(Some(Ok(named("web0000bb", "vm-b"))), Ok(HashMap::new()));
        assert_eq!(removed(&p), ["Machines-1"]);
        assert_eq!(p.unproven[0].1, Unproven::InGroup { vm: "vm-b".into() });
        let p = evidence(Some(Err("no".into())), Ok(HashMap::new()));
        assert!(p.remove.is_empty() && p.unproven.len() == 2);
        let p = evidence(Some(Ok(HashMap::new())), Ok(HashMap::new()));
        assert_eq!(removed(&p), ["Machines-1", "Machines-2"]);
        // No evidence at all for a set that needed it: kept.
        let mut p = fresh();
        prove_by_listings(&mut p, &web(), &[(SET.to_string(), HashSet::new())].into());
        prove_by_reads(&mut p, &web(), &HashMap::new());
        assert!(p.remove.is_empty());
    }
    #[test]
    fn grace_periods_read_as_iso_8601_durations() {
        let d = |s: &str| iso8601_duration(s).map(|d| d.as_secs_f64());
        assert_eq!(d("PT10M"), Some(600.0));
        assert_eq!(d("PT1H30M"), Some(5400.0));
        assert_eq!(d("pt90m"), Some(5400.0));
        assert_eq!(d("P1DT2H"), Some(93_600.0));
        assert_eq!(d("PT90.5S"), Some(90.5));
        assert_eq!(d("P2D"), Some(172_800.0));
        for bad in [
            "", "P", "PT", "10M", "PT10", "PT10X", "P1M", "PT10M5H", "-PT10M",
        ] {
            assert_eq!(d(bad), None, "{bad}");
        }
        let policy = |g: Option<&str>| RepairPolicy {
            grace_period: g.map(str::to_string),
            action: "Replace".into(),
        };
        assert_eq!(policy(Some("PT30M")).grace().as_secs(), 1800);
        // Missing, unreadable or below Azure's minimum: the minimum, 10 minutes.
        assert_eq!(policy(None).grace(), DEFAULT_GRACE);
        assert_eq!(policy(Some("soon")).grace(), DEFAULT_GRACE);
        assert_eq!(policy(Some("PT1M")).grace(), DEFAULT_GRACE);
        assert_eq!(policy(None).grace_text(), "PT10M");
    }

    #[test]
    fn an_unhealthy_member_past_its_grace_period_is_about_to_be_repaired() {
        let now = time::macros::datetime!(2026-11-23 10:00 UTC);
        let policy = RepairPolicy {
            grace_period: Some("PT10M".into()),
            action: "Replace".into(),
        };
        let vm = |health: &str, minutes_ago: i64| {
            let mut i = up("web0000aa");
            i.health = Some(health.into());
            i.state_since = Some(now - time::Duration::minutes(minutes_ago));
            i
        };
        assert!(repair_due(
            &vm("HealthState/unhealthy", 11),
            &policy,
            false,
            now
        ));
        assert!(repair_due(
            &vm("healthstate/UNHEALTHY", 60),
            &policy,
            false,
            now
        ));
        // Inside the grace period, healthy, unknown, or health not reported: not yet.
        assert!(!repair_due(
            &vm("HealthState/unhealthy", 9),
            &policy,
            false,
            now
        ));
        assert!(!repair_due(
            &vm("HealthState/healthy", 60),
            &policy,
            false,
            now
        ));
        assert!(!repair_due(
            &vm("HealthState/unknown", 60),
            &policy,
            false,
            now
        ));
        let mut no_health = vm("", 60);
        no_health.health = None;
        assert!(!repair_due(&no_health, &policy, false, now));
        // No time for its last change: nothing says the grace period is over.
        let mut timeless = vm("HealthState/unhealthy", 60);
        timeless.state_since = None;
        assert!(!repair_due(&timeless, &policy, false, now));
        // Repairs suspended, or a protected VM: Azure leaves it alone.
        assert!(!repair_due(
            &vm("HealthState/unhealthy", 60),
            &policy,
            true,
            now
        ));
        for protection in [
            Protection {
                from_scale_in: true,
                from_scale_set_actions: false,
            },
            Protection {
                from_scale_in: false,
                from_scale_set_actions: true,
            },
        ] {
            let mut protected = vm("HealthState/unhealthy", 60);
            protected.protection = protection;
            assert!(!repair_due(&protected, &policy, false, now));
        }
        // Only members: a stopped or failed VM is not deployed to anyway.
        let mut stopped = vm("HealthState/unhealthy", 60);
        stopped.power_state = Some("deallocated".into());
        assert!(!repair_due(&stopped, &policy, false, now));
        // A longer grace period covers it.
        let long = RepairPolicy {
            grace_period: Some("PT90M".into()),
            ..policy.clone()
        };
        assert!(!repair_due(
            &vm("HealthState/unhealthy", 60),
            &long,
            false,
            now
        ));
    }

    #[test]
    fn a_member_about_to_be_repaired_is_kept_not_output_nor_unregistered() {
        let mut due = up("web0000aa");
        due.repair_due = true;
        let mut due_without_target = up("web0000bb");
        due_without_target.repair_due = true;
        let p = plan(
            &[due, due_without_target, up("web0000cc")],
            &[
                target("Machines-1", "web0000aa"),
                target("Machines-3", "web0000cc"),
            ],
            &scope(),
            &web(),
        );
        assert_eq!(ids(&p.members), ["Machines-3"]);
        assert_eq!(p.repair_due.len(), 1);
        assert_eq!(p.repair_due[0].0.id, "Machines-1");
        assert!(p.remove.is_empty() && p.unregistered.is_empty());
        assert_eq!(p.in_scope(), 2);
    }

    #[test]
    fn a_vm_seen_deleting_stays_gone_when_a_later_listing_says_failed() {
        let mut seen = SeenDeleting::new();
        let vm = |state: &str| {
            let mut i = inst("web0000aa", state, "running");
            i.vm_id = Some("0b7e4a9c-1d2f".into());
            i
        };
        // Listing 1: Deleting. Listing 2: Failed (a retry failed). Listing 3: Failed again.
        let mut first = [vm("Deleting"), up("web0000bb")];
        mark_deleting(&mut first, &mut seen);
        assert_eq!(first[0].state(), Gone);
        assert_eq!(first[1].state(), Member);
        for _ in 0..2 {
            let mut later = [vm("Failed")];
            mark_deleting(&mut later, &mut seen);
            assert_eq!(later[0].state(), Gone, "never a failed VM");
            assert_eq!(
                later[0].describe_state(),
                "being deleted (Azure retries the delete; now Failed)"
            );
            let p = plan(
                &later,
                &[target("Machines-1", "web0000aa")],
                &scope(),
                &web(),
            );
            assert!(p.failed.is_empty() && p.members.is_empty());
            assert_eq!(removed(&p), ["Machines-1"]);
        }
        // A new VM under the reused name (another vmId) is not the one being deleted.
        let mut reused = [inst("web0000aa", "Creating", "")];
        reused[0].vm_id = Some("5c2e9f7a-3b1d".into());
        mark_deleting(&mut reused, &mut seen);
        assert_eq!(reused[0].state(), Pending);
        // Never seen deleting: a Failed VM is failed, as ever.
        let mut fresh = SeenDeleting::new();
        let mut failed = [vm("Failed")];
        mark_deleting(&mut failed, &mut fresh);
        assert_eq!(failed[0].state(), Failed);
        // A delete Azure says it is retrying is gone even between attempts, never seen
        // Deleting.
        let mut retried = [vm("Failed")];
        retried[0].deletion_status = Some("InProgress".into());
        mark_deleting(&mut retried, &mut fresh);
        assert_eq!(retried[0].state(), Gone);
        // A retry that gave up (`Failed` status) is a failed VM.
        let mut gave_up = [vm("Failed")];
        gave_up[0].vm_id = Some("other".into());
        gave_up[0].deletion_status = Some("Failed".into());
        mark_deleting(&mut gave_up, &mut SeenDeleting::new());
        assert_eq!(gave_up[0].state(), Failed);
    }
}
