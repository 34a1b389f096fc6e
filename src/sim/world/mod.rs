//! The simulated world: one resource group with its scale sets and VMs, one Octopus space with
//! its targets, and what the servers saw.
//!
//! Time is a tick counter that advances once per scale-set read, so a story ("this VM succeeds
//! at the 4th check") plays out the same on a fast laptop and a loaded CI machine. What can go
//! wrong in it (faults, broken paging, the read budget) is in `faults`.

use std::collections::HashMap;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

mod faults;

pub use faults::*;

/// The simulated Octopus Server's "now": 2026-11-23 10:00 UTC. Octopus times in the simulation
/// are fixed relative to it, so runs are repeatable; the step only compares server times.
pub const NOW: OffsetDateTime = time::macros::datetime!(2026-11-23 10:00:00 UTC);

/// A server task: a deployment or a runbook run.
#[derive(Debug, Clone)]
pub struct SimTask {
    /// `ServerTasks-N`.
    pub id: String,
    /// `Deploy` or `RunbookRun`.
    pub name: String,
    /// The deployment or runbook run it executes.
    pub document_id: String,
    /// Its project.
    pub project_id: String,
    /// Its environment.
    pub environment_id: String,
    /// Its tenant.
    pub tenant_id: Option<String>,
    /// Its runbook (runbook runs).
    pub runbook_id: Option<String>,
    /// When it was queued.
    pub queue_time: OffsetDateTime,
    /// When it finished (None: still running).
    pub completed_time: Option<OffsetDateTime>,
    /// `Success`, `Failed`, `Executing`...
    pub state: String,
}

/// An audit event.
#[derive(Debug, Clone)]
pub struct SimEvent {
    /// `Events-N`.
    pub id: String,
    /// `Created`, `DeploymentQueued`...
    pub category: String,
    /// When it happened.
    pub occurred: OffsetDateTime,
    /// Its `RelatedDocumentIds`: the document it is about first (a `Created` event's subject is
    /// the document created), then the documents it mentions (a tenant's `Created` event lists
    /// the targets connected to it), as every event recorded from a real server lists them.
    pub related: Vec<String>,
    /// The space it happened in; `None` for events outside any space (system-level
    /// configuration), which `/api/events` returns only with `includeSystem=true`, as
    /// OctopusClients' mixed-scope repositories ask for them.
    pub space_id: Option<String>,
}

/// `(from_tick, value)` pairs: the value holds from that tick until the next pair.
pub type Timeline<T> = Vec<(u64, T)>;

/// The value of a timeline at a tick (None before its first entry).
pub fn at<T: Clone>(timeline: &Timeline<T>, tick: u64) -> Option<T> {
    timeline
        .iter()
        .filter(|(from, _)| *from <= tick)
        .max_by_key(|(from, _)| *from)
        .map(|(_, v)| v.clone())
}

/// What a scale set's VM profile says about computer names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimProfile {
    /// A generalized image: an OS profile with this `computerNamePrefix`.
    Generalized(String),
    /// A specialized image: a VM profile without an OS profile, so no prefix, and each VM's
    /// computer name only in its instance view (here each VM's own, as when the bootstrap
    /// script renames the VM).
    Specialized,
    /// A specialized image captured from a VM with this computer name: as Azure does, every
    /// VM built from it keeps that name, reported only in its instance view.
    SpecializedCopies(String),
    /// No VM profile at all (a Flexible set whose VMs are added one by one): no prefix, and no
    /// `sku`, so no capacity.
    None,
}

/// A scale set.
#[derive(Debug, Clone)]
pub struct SimScaleSet {
    /// Its name.
    pub name: String,
    /// Its resource group.
    pub resource_group: String,
    /// `Uniform` or `Flexible`.
    pub orchestration: String,
    /// Provisioning state over time.
    pub state: Timeline<String>,
    /// `sku.capacity` over time.
    pub capacity: Timeline<i64>,
    /// Its VM profile.
    pub profile: SimProfile,
    /// `upgradePolicy.mode`: `Manual` (the default), `Automatic` or `Rolling`.
    pub upgrade_mode: String,
    /// `upgradePolicy.automaticOSUpgradePolicy.enableAutomaticOSUpgrade`.
    pub automatic_os_upgrade: bool,
    /// `rollingUpgrades/latest`'s `runningStatus.code` over time (`RollingForward`,
    /// `Completed`...); `None` (or before the first entry): there never was one, 404.
    pub rolling_upgrade: Timeline<Option<String>>,
    /// Automatic repairs (`automaticRepairsPolicy`), when enabled.
    pub repairs: Option<SimRepairs>,
    /// `resiliencyPolicy.automaticZoneRebalancingPolicy.enabled` (described from 2024-11-01 on;
    /// the simulator says it at the newer api-version only).
    pub zone_rebalancing: bool,
    /// Whether an automatic zone rebalance is under way, over time (the set's instance view:
    /// `AutomaticZoneRebalancing`'s `latestOperationStatus` `InProgress`, else `Completed`).
    pub rebalance: Timeline<bool>,
    /// `resiliencyPolicy.resilientVMCreationPolicy.enabled`.
    pub resilient_creates: bool,
    /// `resiliencyPolicy.resilientVMDeletionPolicy.enabled`: a Uniform VM listed at the newer
    /// api-version says `resilientVMDeletionStatus` (`InProgress` once its delete began).
    pub resilient_deletes: bool,
}

/// A scale set's automatic repairs policy, and its orchestration service's state.
#[derive(Debug, Clone)]
pub struct SimRepairs {
    /// `gracePeriod` (`PT10M`).
    pub grace_period: String,
    /// `repairAction` (`Replace`).
    pub action: String,
    /// The `AutomaticRepairs` service's `serviceState` over time (`Running`, `Suspended`).
    pub state: Timeline<String>,
}

/// A standby pool (`Microsoft.StandbyPool/standbyVirtualMachinePools`, api-version
/// 2025-03-01) attached to a Flexible scale set: its VMs are the [`SimVm`]s whose
/// `standby_pool` names it.
#[derive(Debug, Clone)]
pub struct SimPool {
    /// Its name.
    pub name: String,
    /// Its resource group.
    pub resource_group: String,
    /// The scale set it is attached to, and that set's resource group.
    pub scale_set: (String, String),
    /// `virtualMachineState`: `Running`, `Deallocated` or `Hibernated`.
    pub vm_state: String,
}

/// A VM: a Uniform instance, a Flexible member, or a standalone VM in the same group.
#[derive(Debug, Clone)]
pub struct SimVm {
    /// Resource name.
    pub name: String,
    /// Its resource group.
    pub resource_group: String,
    /// Its host name (None: not reported anywhere).
    pub computer_name: Option<String>,
    /// True when the VM has an OS profile carrying the computer name; false for specialized
    /// images, whose computer name only the instance view reports.
    pub os_profile: bool,
    /// The scale set it belongs to, if any.
    pub scale_set: Option<String>,
    /// Uniform instance id.
    pub instance_id: String,
    /// Provisioning state over time; `None` means the VM does not exist (yet, or any more).
    pub state: Timeline<Option<String>>,
    /// The instance view's power state over time (`running`, `deallocated`...); before its
    /// first entry the instance view reports no power state.
    pub power: Timeline<String>,
    /// Why it failed, as the instance view says: the failing extension, its code and message.
    pub failure: Option<SimFailure>,
    /// A Spot VM (`priority: Spot`, evicted by deallocation).
    pub spot: bool,
    /// The standby pool holding it. With `scale_set` set too, the set's listing shows it with
    /// `isVMInStandbyPool: true`; without, the set does not list it at all.
    pub standby_pool: Option<String>,
    /// The Application Health extension's report (`instanceView.vmHealth.status.code`, e.g.
    /// `HealthState/healthy`), when the VM has one.
    pub health: Option<String>,
    /// Its instance protection (`protectionPolicy`: from scale-in, from scale-set actions);
    /// only a Uniform VM's listing says it (2024-07-01's Flexible VM model has no such field).
    pub protection: (bool, bool),
    /// How long before each answer its provisioning state last changed: the instance view's
    /// `ProvisioningState/...` status's `time`, on the real clock (automatic repairs' grace
    /// period counts from it). `None`: a fixed time on the simulated Octopus day.
    pub changed_ago: Option<Duration>,
}

/// A failed extension, as a `Failed` VM's instance view reports it.
#[derive(Debug, Clone)]
pub struct SimFailure {
    /// The extension's name (`CustomScript`).
    pub extension: String,
    /// The VM status's code suffix (`VMExtensionProvisioningError`).
    pub code: String,
    /// Azure's message.
    pub message: String,
}

/// An Octopus deployment target.
#[derive(Debug, Clone)]
pub struct SimMachine {
    /// `Machines-N`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// Its environments.
    pub environment_ids: Vec<String>,
    /// Its tenants.
    pub tenant_ids: Vec<String>,
    /// Tenant tags (`Tag Set/Tag`) it is linked to.
    pub tenant_tags: Vec<String>,
    /// `Untenanted`, `Tenanted` or `TenantedOrUntenanted`.
    pub participation: String,
    /// `IsDisabled`.
    pub disabled: bool,
    /// The tick at which it registers.
    pub appears_at: u64,
}

/// An Octopus tenant.
#[derive(Debug, Clone)]
pub struct SimTenant {
    /// `Tenants-N`.
    pub id: String,
    /// Its tags (`Tag Set/Tag`).
    pub tags: Vec<String>,
}

/// The team of the simulated Octopus's signed-in user: the space permissions its roles grant,
/// and where. Octopus scopes what a team sees: a list of targets outside its environments or
/// tenants is filtered, not refused.
#[derive(Debug, Clone)]
pub struct SimTeam {
    /// `Teams-N`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The space permissions its roles grant.
    pub permissions: Vec<String>,
    /// The environments its roles are scoped to (empty: every environment).
    pub environments: Vec<String>,
    /// The tenants its roles are scoped to (empty: every tenant).
    pub tenants: Vec<String>,
}

impl SimTeam {
    /// Every space permission the step may use, in every environment and tenant.
    pub fn unrestricted() -> SimTeam {
        SimTeam {
            id: "Teams-21".into(),
            name: "vmss-check".into(),
            permissions: [
                "EnvironmentView",
                "MachineView",
                "MachineDelete",
                "TaskView",
                "DeploymentView",
                "RunbookRunView",
                "EventView",
                "TenantView",
                "TaskCancel",
            ]
            .map(String::from)
            .to_vec(),
            environments: Vec::new(),
            tenants: Vec::new(),
        }
    }

    /// Whether the team holds `permission` at all.
    pub fn has(&self, permission: &str) -> bool {
        self.permissions.iter().any(|p| p == permission)
    }

    /// Whether the team sees a target: in one of its environments and tenants.
    pub fn sees(&self, m: &SimMachine) -> bool {
        let within = |scope: &[String], ids: &[String]| {
            scope.is_empty() || ids.iter().any(|i| scope.contains(i))
        };
        within(&self.environments, &m.environment_ids) && within(&self.tenants, &m.tenant_ids)
    }
}

/// A target tag set (Octopus 2025.4 and later): tag sets scoped to `Target`.
#[derive(Debug, Clone)]
pub struct SimTagSet {
    /// `TagSets-N`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// What it applies to (`Target`, `Tenant`...).
    pub scopes: Vec<String>,
    /// Its tags' names.
    pub tags: Vec<String>,
}

/// How an Octopus request signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignIn {
    /// It carried `X-Octopus-ApiKey`.
    pub api_key: bool,
    /// It carried `Authorization: Bearer`.
    pub bearer: bool,
}

/// Which server saw a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// The token endpoint.
    AzureAd,
    /// Resource Manager.
    Arm,
    /// The Octopus Server.
    Octopus,
}

/// One request as a server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Which server.
    pub service: Service,
    /// `GET`, `DELETE`...
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Raw query.
    pub query: String,
    /// HTTP status answered.
    pub status: u16,
}

/// Everything the simulated servers know and saw.
#[derive(Debug, Clone)]
pub struct World {
    /// Azure subscription.
    pub subscription_id: String,
    /// Azure AD tenant.
    pub tenant_id: String,
    /// App registration id.
    pub client_id: String,
    /// Its secret.
    pub client_secret: String,
    /// The federated token Azure AD accepts as an assertion.
    pub federated_token: String,
    /// Lifetime of issued access tokens.
    pub token_lifetime: Duration,
    /// The default resource group (the step's `VMSS.ResourceGroup.Name`).
    pub resource_group: String,
    /// Every resource group that exists.
    pub resource_groups: Vec<String>,
    /// Location of everything.
    pub location: String,
    /// Scale sets in the group.
    pub scale_sets: Vec<SimScaleSet>,
    /// VMs in the group.
    pub vms: Vec<SimVm>,
    /// Standby pools.
    pub pools: Vec<SimPool>,
    /// Listings of each scale set so far (first pages), by lower-cased set name.
    pub listings: HashMap<String, usize>,
    /// ARM list page size.
    pub arm_page_size: usize,
    /// The Octopus API key the server accepts. Any other key (wrong, expired, revoked) gets the
    /// same 401.
    pub api_key: String,
    /// Path prefix of the Octopus Server (`""` or `/octopus`).
    pub octopus_prefix: String,
    /// How the Octopus Server writes the `Links` of a collection.
    pub octopus_links: LinkStyle,
    /// Leaves `take` out of `Page.Next`, as older Octopus servers do.
    pub octopus_next_without_take: bool,
    /// Octopus space.
    pub space_id: String,
    /// Octopus targets (deleted ones are removed from here).
    pub machines: Vec<SimMachine>,
    /// Octopus tenants.
    pub tenants: Vec<SimTenant>,
    /// Octopus environments of the space.
    pub environments: Vec<String>,
    /// Injected faults.
    pub faults: Faults,
    /// The clock: scale-set reads so far, or (with `tick_every`) wall-clock ticks since start.
    pub tick: u64,
    /// When set, the story's clock follows the wall clock, one tick per this long, instead of
    /// one tick per scale-set read: for many steps sharing one world.
    pub tick_every: Option<Duration>,
    /// When the world was started.
    pub started: Instant,
    /// Compute's read budget for the subscription, when modelled.
    pub read_budget: Option<ReadBudget>,
    /// Joins the read-budget policies into one `x-ms-ratelimit-remaining-resource` line, as
    /// some answers do; by default each policy has its own line, as Azure mostly sends them.
    pub ratelimit_joined: bool,
    /// Leaves `properties.provisioningState` out of the resource group's VM list when it is
    /// expanded with the instance view (the Flexible listing), which then says the state only
    /// in its `ProvisioningState/...` status, as Kubernetes' Azure provider relies on.
    /// On by default, so every Flexible story reads the state from the instance view.
    pub vm_list_without_provisioning_state: bool,
    /// Every request seen.
    pub seen: Vec<Seen>,
    /// Target ids deleted, in order.
    pub deleted: Vec<String>,
    /// DELETEs being answered right now (with `faults.delete_delay`), and the most at once.
    pub deletes_in_flight: (usize, usize),
    /// Access tokens issued and when they expire.
    pub tokens: HashMap<String, Instant>,
    /// Set if any Octopus request carried the API key in its query string.
    pub api_key_in_query: bool,
    /// Octopus access tokens (JWTs) the server issued: accepted as `Authorization: Bearer`
    /// until their `exp`, by the wall clock.
    pub access_tokens: Vec<String>,
    /// The signed-in user's id and name.
    pub user: (String, String),
    /// The signed-in user's team.
    pub team: SimTeam,
    /// Whether the server has `/api/users/{id}/permissions` (off: it answers 404).
    pub permissions_route: bool,
    /// The space's tag sets.
    pub tag_sets: Vec<SimTagSet>,
    /// How each Octopus request signed in, in order.
    pub sign_ins: Vec<SignIn>,
    /// Server tasks (deployments and runbook runs), this run's among them.
    pub tasks: Vec<SimTask>,
    /// Audit events.
    pub events: Vec<SimEvent>,
    /// Tasks cancelled through the API.
    pub cancelled: Vec<String>,
    /// Seeds what Azure picks at random (Flexible computer-name suffixes), so a story plays
    /// the same on every run.
    pub seed: u64,
}

impl World {
    /// An empty world with the usual ids and credentials.
    pub fn new() -> World {
        World {
            subscription_id: "6b3a7e1f-2c4d-4e5f-8a9b-0c1d2e3f4a5b".into(),
            tenant_id: "72f988bf-86f1-41af-91ab-2d7cd011db47".into(),
            client_id: "0f4b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d".into(),
            client_secret: "sim-client-secret-Zq8~".into(),
            federated_token: "eyJhbGciOiJSUzI1NiJ9.sim-oidc-token.c2ln".into(),
            token_lifetime: Duration::from_secs(3599),
            resource_group: "rg-web".into(),
            resource_groups: vec!["rg-web".into()],
            location: "westeurope".into(),
            scale_sets: Vec::new(),
            vms: Vec::new(),
            pools: Vec::new(),
            listings: HashMap::new(),
            arm_page_size: 5,
            api_key: "API-SIMULATEDKEY0123456789".into(),
            octopus_prefix: String::new(),
            octopus_links: LinkStyle::Rooted,
            octopus_next_without_take: false,
            space_id: "Spaces-1".into(),
            machines: Vec::new(),
            tenants: Vec::new(),
            environments: vec![super::ids::ENVIRONMENT.into()],
            faults: Faults::default(),
            tick: 0,
            tick_every: None,
            started: Instant::now(),
            read_budget: None,
            ratelimit_joined: false,
            vm_list_without_provisioning_state: true,
            seen: Vec::new(),
            deleted: Vec::new(),
            deletes_in_flight: (0, 0),
            tokens: HashMap::new(),
            api_key_in_query: false,
            access_tokens: Vec::new(),
            user: ("Users-42".into(), "vmss-check".into()),
            team: SimTeam::unrestricted(),
            permissions_route: true,
            tag_sets: Vec::new(),
            sign_ins: Vec::new(),
            // This run's own task, queued "now" and executing (this step).
            tasks: vec![SimTask {
                id: super::ids::TASK.into(),
                name: "Deploy".into(),
                document_id: super::ids::DEPLOYMENT.into(),
                project_id: super::ids::PROJECT.into(),
                environment_id: super::ids::ENVIRONMENT.into(),
                tenant_id: None,
                runbook_id: None,
                queue_time: NOW,
                completed_time: None,
                state: "Executing".into(),
            }],
            events: Vec::new(),
            cancelled: Vec::new(),
            seed: 0x5eed,
        }
    }

    /// A scale set's ARM id.
    pub fn scale_set_id(&self, resource_group: &str, name: &str) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachineScaleSets/{}",
            self.subscription_id, resource_group, name
        )
    }

    /// Moves the story's clock for a request: with `tick_every`, to the wall clock's tick; else
    /// one tick per scale-set read.
    pub fn advance(&mut self, scale_set_read: bool) {
        match self.tick_every {
            Some(every) => {
                self.tick = (self.started.elapsed().as_secs_f64() / every.as_secs_f64()) as u64
            }
            None if scale_set_read => self.tick += 1,
            None => {}
        }
    }

    /// Targets visible at the current tick.
    pub fn visible_machines(&self) -> Vec<&SimMachine> {
        self.machines
            .iter()
            .filter(|m| m.appears_at <= self.tick)
            .collect()
    }

    /// Adds a target tag set holding these tags.
    pub fn add_target_tag_set(&mut self, name: &str, tags: &[&str]) {
        self.tag_sets.push(SimTagSet {
            id: format!("TagSets-{}", self.tag_sets.len() + 1),
            name: name.into(),
            scopes: vec!["Target".into()],
            tags: tags.iter().map(|t| t.to_string()).collect(),
        });
    }

    /// Requests a server saw.
    pub fn requests(&self, service: Service) -> Vec<&Seen> {
        self.seen.iter().filter(|s| s.service == service).collect()
    }
}

impl Default for World {
    fn default() -> Self {
        World::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timelines_hold_until_the_next_entry() {
        let t: Timeline<&str> = vec![(0, "Creating"), (3, "Succeeded")];
        assert_eq!(at(&t, 0), Some("Creating"));
        assert_eq!(at(&t, 2), Some("Creating"));
        assert_eq!(at(&t, 3), Some("Succeeded"));
        assert_eq!(at(&t, 99), Some("Succeeded"));
        let late: Timeline<&str> = vec![(2, "x")];
        assert_eq!(at(&late, 1), None);
    }
}
