//! Ready-made worlds: the demo's scale-out story and the pieces tests build theirs from.

use super::world::{
    SimEvent, SimFailure, SimMachine, SimPool, SimProfile, SimScaleSet, SimTask, SimTenant, SimVm,
    Timeline, World, NOW,
};
use time::Duration;

pub use super::ids::*;

/// The name a Uniform instance's Tentacle registers with: prefix plus the instance id in base
/// 36, six digits, in lower case (instance 11 of `web` is `web00000b`), as Linux hostnames and
/// most Octopus target names are written. Azure itself reports the digits in upper case
/// ([`azure_computer_name`]); the step matches the two ignoring case.
pub fn computer_name(prefix: &str, instance: u32) -> String {
    let mut digits = Vec::new();
    let mut n = instance;
    loop {
        digits.push(std::char::from_digit(n % 36, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    let s: String = digits.iter().rev().collect();
    format!("{prefix}{s:0>6}")
}

/// A Uniform instance's computer name as Azure reports it in `osProfile.computerName` and
/// the instance view: the prefix as given, then the base-36 instance id in upper case
/// (`web00000B`). Base 36 is written with digits and upper-case letters; Windows also
/// upper-cases the whole host name it runs under.
pub fn azure_computer_name(prefix: &str, instance: u32) -> String {
    let digits = computer_name("", instance).to_ascii_uppercase();
    format!("{prefix}{digits}")
}

/// A Flexible VM's computer name: the prefix and 6 characters Azure picks at random, drawn
/// here from the world's seed, the set and the VM, so a story names its VMs the same each run.
fn flexible_computer_name(prefix: &str, seed: u64, scale_set: &str, instance: u32) -> String {
    let mut hash = seed ^ u64::from(instance).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for b in scale_set.bytes() {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut rng = fastrand::Rng::with_seed(hash);
    let suffix: String = (0..6)
        .map(|_| {
            let d = rng.u32(0..36);
            std::char::from_digit(d, 36).unwrap_or('0')
        })
        .collect();
    format!("{prefix}{suffix}")
}

/// A state timeline from `(tick, state)` pairs; `"-"` means the VM does not exist.
pub fn states(pairs: &[(u64, &str)]) -> Timeline<Option<String>> {
    pairs
        .iter()
        .map(|(t, s)| (*t, (*s != "-").then(|| s.to_string())))
        .collect()
}

impl World {
    /// Adds a scale set in the default resource group, from a generalized image with the
    /// computer name prefix `web`, whose state and capacity follow the given timelines.
    pub fn add_scale_set(
        &mut self,
        name: &str,
        orchestration: &str,
        state: &[(u64, &str)],
        capacity: &[(u64, i64)],
    ) {
        self.scale_sets.push(SimScaleSet {
            name: name.into(),
            resource_group: self.resource_group.clone(),
            orchestration: orchestration.into(),
            state: state.iter().map(|(t, s)| (*t, s.to_string())).collect(),
            capacity: capacity.to_vec(),
            profile: SimProfile::Generalized("web".into()),
            upgrade_mode: "Manual".into(),
            automatic_os_upgrade: false,
            rolling_upgrade: Vec::new(),
            repairs: None,
            zone_rebalancing: false,
            rebalance: Vec::new(),
            resilient_creates: false,
            resilient_deletes: false,
        });
    }

    /// A scale set, to change its group or profile before its instances are added.
    pub fn scale_set_mut(&mut self, name: &str) -> &mut SimScaleSet {
        self.scale_sets
            .iter_mut()
            .find(|s| s.name == name)
            .expect("a scale set of the story")
    }

    /// Makes a scale set roll (`upgradePolicy.mode: Rolling`), its latest rolling upgrade going
    /// through `statuses` (`rollingUpgrades/latest`'s `runningStatus.code`, from a tick on).
    pub fn roll(&mut self, set: &str, statuses: &[(u64, &str)]) {
        let set = self.scale_set_mut(set);
        set.upgrade_mode = "Rolling".into();
        set.rolling_upgrade = statuses
            .iter()
            .map(|(tick, code)| (*tick, Some(code.to_string())))
            .collect();
    }

    /// Turns automatic repairs on for a scale set (`automaticRepairsPolicy`), its
    /// `AutomaticRepairs` service `Running`.
    pub fn repairs(&mut self, set: &str, grace_period: &str, action: &str) {
        self.scale_set_mut(set).repairs = Some(super::world::SimRepairs {
            grace_period: grace_period.into(),
            action: action.into(),
            state: vec![(0, "Running".into())],
        });
    }

    /// Turns automatic zone balancing on for a scale set, a rebalance under way while
    /// `under_way` says so (from a tick on).
    pub fn zone_balance(&mut self, set: &str, under_way: &[(u64, bool)]) {
        let s = self.scale_set_mut(set);
        s.zone_rebalancing = true;
        s.rebalance = under_way.to_vec();
    }

    /// Makes the VM with this computer name report `HealthState/unhealthy`, its state having
    /// last changed `ago` before each answer (on the real clock).
    pub fn unhealthy_since(&mut self, computer_name: &str, ago: std::time::Duration) {
        let vm = self.vm_mut(computer_name);
        vm.health = Some("HealthState/unhealthy".into());
        vm.changed_ago = Some(ago);
    }

    /// Gives the VM with this computer name instance protection (`protectionPolicy`).
    pub fn protect(&mut self, computer_name: &str, from_scale_in: bool, from_set_actions: bool) {
        self.vm_mut(computer_name).protection = (from_scale_in, from_set_actions);
    }

    /// Automatic repairs replace the VM with this computer name at `tick`, as Azure's `Replace`
    /// does: it is `Deleting`, then gone two ticks later; a new instance (`instance`, a new
    /// name) is `Creating` from `tick` and `Succeeded` two ticks later. Returns the new VM's
    /// computer name (what its Tentacle registers as).
    pub fn repair_replaces(&mut self, computer_name: &str, tick: u64, instance: u32) -> String {
        let set = self
            .vm_mut(computer_name)
            .scale_set
            .clone()
            .expect("a scale set's VM");
        let old = self.vm_mut(computer_name);
        old.state.push((tick, Some("Deleting".into())));
        old.state.push((tick + 2, None));
        self.add_instance(
            &set,
            instance,
            &[(tick, "Creating"), (tick + 2, "Succeeded")],
        )
    }

    /// A resilient delete of the VM with this computer name from `tick` on: its state flips
    /// between `Deleting` and `Failed` each tick, `flips` times, then it is gone.
    pub fn delete_retried(&mut self, computer_name: &str, tick: u64, flips: u64) {
        let vm = self.vm_mut(computer_name);
        for n in 0..flips {
            let state = if n % 2 == 0 { "Deleting" } else { "Failed" };
            vm.state.push((tick + n, Some(state.into())));
        }
        vm.state.push((tick + flips, None));
    }

    /// Adds a resource group that exists (beside the default one).
    pub fn add_resource_group(&mut self, name: &str) {
        self.resource_groups.push(name.into());
    }

    /// Adds instance `instance` of a scale set, named as Azure names it (Uniform: the set's
    /// prefix plus the instance id in base 36; Flexible: the prefix plus 6 random characters),
    /// running from the start. Returns the name its target registers with.
    pub fn add_instance(
        &mut self,
        scale_set: &str,
        instance: u32,
        state: &[(u64, &str)],
    ) -> String {
        let set = self
            .scale_sets
            .iter()
            .find(|s| s.name == scale_set)
            .expect("add the scale set first")
            .clone();
        let prefix = match &set.profile {
            SimProfile::Generalized(p) => p.clone(),
            _ => "web".into(),
        };
        // What the Tentacle registers as, and what Azure reports: Uniform instances are the
        // prefix plus the base-36 instance id (Azure writes it in upper case, the target in lower
        // case); Flexible VMs get 6 random characters; a specialized image's copies all keep
        // the source VM's name.
        let (computer, reported) = match &set.profile {
            SimProfile::SpecializedCopies(source) => (source.clone(), source.clone()),
            _ if set.orchestration == "Flexible" => {
                let c = flexible_computer_name(&prefix, self.seed, scale_set, instance);
                (c.clone(), c)
            }
            _ => (
                computer_name(&prefix, instance),
                azure_computer_name(&prefix, instance),
            ),
        };
        self.vms.push(SimVm {
            name: format!("{scale_set}_{}", short_id(instance)),
            resource_group: set.resource_group.clone(),
            computer_name: Some(reported),
            os_profile: matches!(set.profile, SimProfile::Generalized(_) | SimProfile::None),
            scale_set: Some(scale_set.into()),
            instance_id: instance.to_string(),
            state: states(state),
            power: vec![(0, "running".into())],
            failure: None,
            spot: false,
            standby_pool: None,
            health: None,
            protection: (false, false),
            changed_ago: None,
        });
        computer
    }

    /// Adds a plain VM (no scale set) to the default resource group, running from the start.
    pub fn add_plain_vm(&mut self, name: &str, computer_name: &str, state: &[(u64, &str)]) {
        self.vms.push(SimVm {
            name: name.into(),
            resource_group: self.resource_group.clone(),
            computer_name: Some(computer_name.into()),
            os_profile: true,
            scale_set: None,
            instance_id: "0".into(),
            state: states(state),
            power: vec![(0, "running".into())],
            failure: None,
            spot: false,
            standby_pool: None,
            health: None,
            protection: (false, false),
            changed_ago: None,
        });
    }

    /// Adds a standby pool in `resource_group` attached to `scale_set` (a Flexible set of the
    /// story), keeping its VMs `vm_state` (`Running`, `Deallocated`).
    pub fn add_pool(&mut self, name: &str, resource_group: &str, scale_set: &str, vm_state: &str) {
        let set_rg = self.scale_set_mut(scale_set).resource_group.clone();
        if !self.resource_groups.iter().any(|g| g == resource_group) {
            self.resource_groups.push(resource_group.into());
        }
        self.pools.push(SimPool {
            name: name.into(),
            resource_group: resource_group.into(),
            scale_set: (scale_set.into(), set_rg),
            vm_state: vm_state.into(),
        });
    }

    /// Adds a VM to a standby pool, built from its scale set's profile (a set-shaped computer
    /// name, instance number `instance`), in the pool's resource group, running or deallocated
    /// as the pool keeps them. `listed`: Azure lists it under the set with
    /// `isVMInStandbyPool: true`; otherwise the set's listing does not show it at all. Returns
    /// its computer name (what its Tentacle registered as while it was pooled).
    pub fn add_pool_vm(&mut self, pool: &str, instance: u32, listed: bool) -> String {
        let p = self
            .pools
            .iter()
            .find(|p| p.name == pool)
            .expect("add the pool first")
            .clone();
        let computer = flexible_computer_name("web", self.seed, &p.name, instance);
        let power = if p.vm_state.eq_ignore_ascii_case("Running") {
            "running"
        } else {
            "deallocated"
        };
        self.vms.push(SimVm {
            name: format!("{}_{}", p.name, short_id(instance)),
            resource_group: if listed {
                p.scale_set.1.clone()
            } else {
                p.resource_group.clone()
            },
            computer_name: Some(computer.clone()),
            os_profile: true,
            scale_set: listed.then(|| p.scale_set.0.clone()),
            instance_id: instance.to_string(),
            state: states(&[(0, "Succeeded")]),
            power: vec![(0, power.into())],
            failure: None,
            spot: false,
            standby_pool: Some(p.name.clone()),
            health: None,
            protection: (false, false),
            changed_ago: None,
        });
        computer
    }

    /// Detaches the VM with this computer name from its (Flexible) scale set: it keeps running
    /// under its set-shaped name in the same resource group, with `virtualMachineScaleSet` null.
    pub fn detach(&mut self, computer_name: &str) {
        self.vm_mut(computer_name).scale_set = None;
    }

    /// The VM with this computer name (ignoring case, as targets and Azure write it apart).
    pub fn vm_mut(&mut self, computer_name: &str) -> &mut SimVm {
        self.vms
            .iter_mut()
            .find(|v| {
                v.computer_name
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(computer_name))
            })
            .expect("a VM of the story")
    }

    /// Makes a VM `Failed` from `tick` while it keeps running, the way a failed extension
    /// leaves a healthy, serving VM.
    pub fn fail_extension(&mut self, computer_name: &str, tick: u64) {
        let vm = self.vm_mut(computer_name);
        vm.state.push((tick, Some("Failed".into())));
        vm.failure = Some(SimFailure {
            extension: "CustomScript".into(),
            code: "VMExtensionProvisioningError".into(),
            message: "VM has reported a failure when processing extension 'CustomScript'. Error message: \"Enable failed: failed to execute command: command terminated with exit status=1\"".into(),
        });
    }

    /// Adds a target in the run's environment with the scale set's role, registering at `tick`.
    pub fn add_target(&mut self, name: &str, tick: u64) -> String {
        self.add_target_with(name, tick, &[ROLE], &[])
    }

    /// Adds a target with the given roles and tenants.
    pub fn add_target_with(
        &mut self,
        name: &str,
        tick: u64,
        roles: &[&str],
        tenants: &[&str],
    ) -> String {
        let id = format!("Machines-{}", 101 + self.machines.len());
        self.machines.push(SimMachine {
            id: id.clone(),
            name: name.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            environment_ids: vec![ENVIRONMENT.into()],
            tenant_ids: tenants.iter().map(|t| t.to_string()).collect(),
            tenant_tags: Vec::new(),
            participation: if tenants.is_empty() {
                "Untenanted"
            } else {
                "Tenanted"
            }
            .into(),
            disabled: false,
            appears_at: tick,
        });
        id
    }

    /// The target with this id.
    pub fn machine_mut(&mut self, id: &str) -> &mut SimMachine {
        self.machines
            .iter_mut()
            .find(|m| m.id == id)
            .expect("a target of the story")
    }

    /// Adds a tenant carrying these tags.
    pub fn add_tenant(&mut self, id: &str, tags: &[&str]) {
        self.tenants.push(SimTenant {
            id: id.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        });
    }

    /// Adds a target with a `Created` audit event at `created`.
    pub fn add_target_created(
        &mut self,
        name: &str,
        tick: u64,
        created: time::OffsetDateTime,
    ) -> String {
        let id = self.add_target(name, tick);
        self.add_event("Created", created, &[&id, ENVIRONMENT]);
        id
    }

    /// Adds a tenant created at `created` whose `Created` event also lists `mentions` (the
    /// targets it was connected to): an event about the tenant that mentions the targets, which
    /// Octopus's `documentTypes=Machines` filter returns with the targets' own.
    pub fn add_tenant_created(
        &mut self,
        tenant: &str,
        created: time::OffsetDateTime,
        mentions: &[&str],
    ) {
        self.add_tenant(tenant, &[]);
        let related: Vec<&str> = [tenant]
            .into_iter()
            .chain(mentions.iter().copied())
            .collect();
        self.add_event("Created", created, &related);
    }

    /// Adds an audit event. `related[0]` is the event's subject (the document it is about), as
    /// Octopus lists an event's `RelatedDocumentIds`; the rest are documents it mentions.
    pub fn add_event(&mut self, category: &str, occurred: time::OffsetDateTime, related: &[&str]) {
        let id = format!("Events-{}", 5001 + self.events.len());
        self.events.push(SimEvent {
            id,
            category: category.into(),
            occurred,
            related: related.iter().map(|r| r.to_string()).collect(),
            space_id: Some(SPACE.into()),
        });
    }

    /// Adds a finished run of `project` in `environment` (and `tenant`): a task with its
    /// deployment, queued a minute before it finished `ago` before this run was queued
    /// (negative: after). Returns the task id.
    pub fn add_finished_deployment(
        &mut self,
        project: &str,
        environment: &str,
        tenant: Option<&str>,
        ago: Duration,
    ) -> String {
        let n = self.tasks.len();
        let finished = NOW - ago;
        let id = format!("ServerTasks-{}", 8000 + n);
        self.tasks.push(SimTask {
            id: id.clone(),
            name: "Deploy".into(),
            document_id: format!("Deployments-{}", 200 + n),
            project_id: project.into(),
            environment_id: environment.into(),
            tenant_id: tenant.map(str::to_string),
            runbook_id: None,
            queue_time: finished - Duration::minutes(1),
            completed_time: Some(finished),
            state: "Success".into(),
        });
        id
    }

    /// Adds a finished run of `runbook` in the run's environment; returns the task id.
    pub fn add_finished_runbook_run(&mut self, runbook: &str, ago: Duration) -> String {
        let id = self.add_finished_deployment(PROJECT, ENVIRONMENT, None, ago);
        let task = self.tasks.last_mut().expect("just added");
        task.name = "RunbookRun".into();
        task.document_id = task.document_id.replace("Deployments-", "RunbookRuns-");
        task.runbook_id = Some(runbook.into());
        id
    }

    /// Turns this run into a run of `runbook` (`RunbookRuns-71`), for the runbook tests.
    pub fn make_runbook_run(&mut self, runbook: &str) {
        let own = self
            .tasks
            .iter_mut()
            .find(|t| t.id == TASK)
            .expect("own task");
        own.name = "RunbookRun".into();
        own.document_id = "RunbookRuns-71".into();
        own.runbook_id = Some(runbook.into());
    }

    /// The id of the (visible or not) target with this name.
    pub fn target_id(&self, name: &str) -> Option<String> {
        self.machines
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.id.clone())
    }
}

/// A Flexible VM's name suffix.
fn short_id(instance: u32) -> String {
    format!("{:08x}", instance.wrapping_mul(2_654_435_761))
}

/// A settled Uniform fleet: `size` Succeeded instances with targets, and `stale` targets whose
/// VMs are long gone. ARM pages of 100, to exercise paging at scale.
pub fn fleet(size: u32, stale: u32) -> World {
    let mut w = World::new();
    w.arm_page_size = 100;
    w.add_scale_set(
        SCALE_SET,
        "Uniform",
        &[(0, "Succeeded")],
        &[(0, i64::from(size))],
    );
    for i in 0..size {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]);
        w.add_target(&c, 0);
    }
    // Stale targets carry the scale set's prefix: VMs of this set that are long gone.
    for i in 0..stale {
        w.add_target(&computer_name("web", 50_000 + i), 0);
    }
    w
}

/// The demo's story: a scale-out from 5 to 12 instances.
///
/// - 5 instances have run for days (`web000000`-`web000004`), with targets.
/// - 7 new instances (`web000005`-`web00000b`) provision at staggered times; each Tentacle
///   registers one check before its VM reports Succeeded.
/// - 2 over-provisioned extras (`web00000c`, `web00000d`) register, then Azure deletes them
///   once the requested 12 have succeeded.
/// - A stale target (`web00000z`) whose VM was deleted long ago.
/// - A database target in the same environment, in another role: never touched.
/// - One of the old VMs (`web000003`) is `Failed` but running: its custom script extension
///   failed on a model update. Its target is kept, left out of the output, and the warning
///   gives Azure's reason.
/// - A plain VM outside the scale set (`legacy-web-01`) registered with the same role: it
///   carries none of the scale set's prefix, so it is kept and named, never removed.
/// - Audit events date the 5 old targets days back, so `ExcludeFromOutput=Yes` leaves them out;
///   the previous deployment finished 25 minutes before this triggered one was queued.
/// - Automatic repairs are on (grace period 30 minutes, `Replace`), and the health probe checks
///   what the deployment installs: the old VMs are healthy, the new ones unhealthy (their state
///   changed a minute ago, well inside the grace period). The step deploys to them and warns
///   that Azure replaces any VM still unhealthy after the grace period, during the deployment.
pub fn scale_out() -> World {
    let mut w = World::new();
    w.add_scale_set(
        SCALE_SET,
        "Uniform",
        &[(0, "Updating"), (4, "Succeeded")],
        &[(0, 12)],
    );
    for i in 0..5 {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]);
        w.add_target_created(&format!("{c}.corp.example.com"), 0, NOW - Duration::days(3));
    }
    // The first new Tentacle's registration fired the trigger a minute before this run was
    // queued; the others register while the step waits.
    for (i, done) in (5..12).zip([3, 4, 4, 5, 6, 6, 7]) {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Creating"), (done, "Succeeded")]);
        w.add_target_created(&c, done - 1, NOW + Duration::seconds(20 * done as i64 - 80));
        w.unhealthy_since(&c, std::time::Duration::from_secs(60));
    }
    w.repairs(SCALE_SET, "PT30M", "Replace");
    for i in 0..5 {
        w.vm_mut(&computer_name("web", i)).health = Some("HealthState/healthy".into());
    }
    for i in 12..14 {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Creating"), (6, "Deleting"), (9, "-")]);
        w.add_target_created(&c, 2, NOW - Duration::seconds(30));
    }
    w.add_target_created(&computer_name("web", 35), 0, NOW - Duration::days(40));
    w.fail_extension(&computer_name("web", 3), 0);
    w.add_target_created("legacy-web-01", 0, NOW - Duration::days(90));
    // The previous deployment finished 25 minutes before this one was queued: not a duplicate.
    w.add_finished_deployment(PROJECT, ENVIRONMENT, None, Duration::minutes(25));
    w.add_target_with("db000001", 0, &["db-server"], &[]);
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computer_names_are_base36() {
        assert_eq!(computer_name("web", 0), "web000000");
        assert_eq!(computer_name("web", 11), "web00000b");
        assert_eq!(computer_name("web", 36), "web000010");
        assert_eq!(azure_computer_name("web", 11), "web00000B");
    }

    #[test]
    fn flexible_computer_names_are_six_random_characters_the_same_each_run() {
        let mut w = World::new();
        w.add_scale_set("flex", "Flexible", &[(0, "Succeeded")], &[(0, 2)]);
        let a = w.add_instance("flex", 0, &[(0, "Succeeded")]);
        let b = w.add_instance("flex", 1, &[(0, "Succeeded")]);
        assert_ne!(a, b);
        for name in [&a, &b] {
            let suffix = name.strip_prefix("web").expect("the prefix");
            assert_eq!(suffix.len(), 6);
            assert!(suffix.bytes().all(|c| c.is_ascii_alphanumeric()));
        }
        assert_ne!(a, computer_name("web", 0), "not the Uniform name");
        let mut again = World::new();
        again.add_scale_set("flex", "Flexible", &[(0, "Succeeded")], &[(0, 2)]);
        assert_eq!(again.add_instance("flex", 0, &[(0, "Succeeded")]), a);
    }
}
