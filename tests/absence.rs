//! A VM that leaves a listing is not a VM that is gone (issue 18): standby pools, detached VMs,
//! a listing that misses a VM once, rolling upgrades. Through the built binary against the
//! simulator; each test would fail without the rule it names.

mod common;

use common::*;
use vmss_check::sim::stories::SCALE_SET;
use vmss_check::sim::{Service, Sim, World};

fn alive(sim: &Sim, id: &str) -> bool {
    sim.world().machines.iter().any(|m| m.id == id)
}

/// A settled Flexible scale set with `n` running VMs, each with a target; returns the world and
/// the targets' ids.
fn flexible(n: u32) -> (World, Vec<String>) {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Flexible", &[(0, "Succeeded")], &[(0, n as i64)]);
    let ids = (0..n)
        .map(|i| {
            let c = w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]);
            w.add_target(&c, 0)
        })
        .collect();
    (w, ids)
}

/// A target with the set's shape whose VM is long gone: removed once its absence is proven.
fn stale(w: &mut World) -> String {
    w.add_target("web0zzzzz", 0)
}

fn warnings(run: &Run) -> String {
    let mut out = String::new();
    let mut lines = run.stdout.lines();
    while let Some(l) = lines.next() {
        if l == "##octopus[stdout-warning]" {
            out.push_str(lines.next().unwrap_or(""));
            out.push('\n');
        }
    }
    out
}

#[test]
fn pooled_vms_in_the_listing_are_not_waited_on_not_output_and_keep_their_targets() {
    let (mut w, ids) = flexible(2);
    w.add_pool("pool-web", "rg-web", SCALE_SET, "Running");
    let running = w.add_pool_vm("pool-web", 1, true);
    let running_id = w.add_target(&running, 0);
    // A refill still being built: were it waited on, the wait would never end.
    let building = w.add_pool_vm("pool-web", 2, true);
    w.vm_mut(&building).state = vec![(0, Some("Creating".into()))];
    let building_id = w.add_target(&building, 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_TIMEOUT_VALUE", "0.05")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.var("VMSSTimedOut"), "False", "{}", run.stdout);
    assert_eq!(list(run.var("VMSSDeploymentTargetIds")), [&ids[0], &ids[1]]);
    assert!(deleted(&sim).is_empty());
    assert!(alive(&sim, &running_id) && alive(&sim, &building_id));
    assert_eq!(run.var("VMSSStoppedTargetNames"), "");
    assert_eq!(run.var("VMSSUnregisteredInstanceNames"), "");
    let record = record_json(&run);
    for id in [&running_id, &building_id] {
        assert_eq!(decision(&record, id), "pooled", "{id}");
    }
    // Nothing was to be removed, so no proof was read.
    assert!(standby_requests(&sim).is_empty());
}

#[test]
fn pool_vms_the_set_does_not_list_keep_their_targets_running_or_deallocated() {
    let (mut w, ids) = flexible(2);
    // Pools (and their VMs) in another group: only the pools themselves can tell.
    w.add_pool("pool-hot", "rg-pool", SCALE_SET, "Running");
    w.add_pool("pool-cold", "rg-pool", SCALE_SET, "Deallocated");
    let hot = w.add_pool_vm("pool-hot", 1, false);
    let cold = w.add_pool_vm("pool-cold", 2, false);
    let hot_id = w.add_target(&hot, 0);
    let cold_id = w.add_target(&cold, 0);
    let gone = stale(&mut w);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(deleted(&sim), std::slice::from_ref(&gone));
    assert!(alive(&sim, &hot_id) && alive(&sim, &cold_id));
    assert_eq!(list(run.var("VMSSDeploymentTargetIds")), [&ids[0], &ids[1]]);
    assert_eq!(list(run.var("VMSSRemovedTargetIds")), [&gone]);
    let record = record_json(&run);
    for (id, pool) in [(&hot_id, "pool-hot"), (&cold_id, "pool-cold")] {
        let row = target_row(&record, id);
        assert_eq!(row["decision"], "unproven", "{id}");
        assert_eq!(row["keptBy"], "inStandbyPool", "{id}");
        assert_eq!(
            row["why"],
            format!("kept: a VM of standby pool {pool} has its name")
        );
    }
}

#[test]
fn a_detached_vm_keeps_its_target() {
    let (mut w, ids) = flexible(3);
    let detached = w.vms[1].computer_name.clone().unwrap();
    w.detach(&detached);
    let gone = stale(&mut w);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(deleted(&sim), [gone]);
    assert!(alive(&sim, &ids[1]));
    assert_eq!(list(run.var("VMSSDeploymentTargetIds")), [&ids[0], &ids[2]]);
    let record = record_json(&run);
    let row = target_row(&record, &ids[1]);
    assert_eq!(row["decision"], "unproven");
    assert_eq!(row["keptBy"], "inResourceGroup");
    assert!(row["why"].as_str().unwrap().contains("detached"), "{row}");
}

#[test]
fn one_listing_that_misses_a_vm_removes_nothing() {
    for orchestration in ["Uniform", "Flexible"] {
        let mut w = World::new();
        w.add_scale_set(SCALE_SET, orchestration, &[(0, "Succeeded")], &[(0, 3)]);
        let names: Vec<String> = (0..3)
            .map(|i| w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]))
            .collect();
        let ids: Vec<String> = names.iter().map(|n| w.add_target(n, 0)).collect();
        // The wait settles at its first listing; the final listing (the second) misses one.
        w.faults.listing_misses = vec![(names[1].clone(), 2)];
        let sim = Sim::start(w);
        let run = run_step(&sim, &[]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert!(deleted(&sim).is_empty(), "{orchestration}: {}", run.stdout);
        assert!(alive(&sim, &ids[1]));
        let record = record_json(&run);
        let row = target_row(&record, &ids[1]);
        assert_eq!(row["decision"], "unproven", "{orchestration}");
        assert_eq!(row["keptBy"], "listedBefore", "{orchestration}");
    }
}

#[test]
fn unreadable_pools_keep_the_target_and_name_the_permission() {
    let (mut w, _) = flexible(1);
    let gone = stale(&mut w);
    let forbidden = (
        403,
        "AuthorizationFailed".to_string(),
        "The client does not have authorization to perform action 'Microsoft.StandbyPool/standbyVirtualMachinePools/read'.".to_string(),
    );
    w.faults.standby_subscription_error = Some(forbidden.clone());
    w.faults.standby_group_error = Some(forbidden);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(deleted(&sim).is_empty());
    assert!(alive(&sim, &gone));
    let record = record_json(&run);
    let row = target_row(&record, &gone);
    assert_eq!(row["decision"], "unproven");
    assert_eq!(row["keptBy"], "unreadable");
    let why = row["why"].as_str().unwrap();
    assert!(
        why.contains("Reader role on resource group 'rg-web'"),
        "{why}"
    );
    // A person must see what to grant, not only the record.
    let w = warnings(&run);
    assert!(w.contains("Reader role on resource group 'rg-web'"), "{w}");
}

#[test]
fn a_subscription_without_the_standby_pool_provider_has_no_pools() {
    let (mut w, _) = flexible(1);
    let gone = stale(&mut w);
    w.faults.standby_subscription_error = Some((
        409,
        "MissingSubscriptionRegistration".into(),
        "The subscription is not registered to use namespace 'Microsoft.StandbyPool'.".into(),
    ));
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(deleted(&sim), std::slice::from_ref(&gone));
    assert_eq!(decision(&record_json(&run), &gone), "removed");

    // Any other refusal is not "no pools".
    let (mut w, _) = flexible(1);
    let gone = stale(&mut w);
    let refusal = (409, "Conflict".to_string(), "Something else.".to_string());
    w.faults.standby_subscription_error = Some(refusal.clone());
    w.faults.standby_group_error = Some(refusal);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(deleted(&sim).is_empty() && alive(&sim, &gone));
    let record = record_json(&run);
    let row = target_row(&record, &gone);
    assert_eq!(row["decision"], "unproven");
    assert_eq!(row["keptBy"], "unreadable");
}

#[test]
fn a_rolling_upgrade_with_max_surge_is_waited_out() {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 2)]);
    w.roll(SCALE_SET, &[(0, "RollingForward"), (8, "Completed")]);
    // MaxSurge: a new VM per batch first, then the old one goes; between batches everything
    // listed is settled.
    let old0 = w.add_instance(SCALE_SET, 0, &[(0, "Succeeded"), (4, "Deleting"), (5, "-")]);
    let old1 = w.add_instance(SCALE_SET, 1, &[(0, "Succeeded"), (6, "Deleting"), (7, "-")]);
    let new2 = w.add_instance(SCALE_SET, 2, &[(0, "-"), (2, "Creating"), (3, "Succeeded")]);
    let new3 = w.add_instance(SCALE_SET, 3, &[(0, "-"), (5, "Creating"), (6, "Succeeded")]);
    let old0_id = w.add_target(&old0, 0);
    let old1_id = w.add_target(&old1, 0);
    let new2_id = w.add_target(&new2, 3);
    let new3_id = w.add_target(&new3, 6);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(sim.world().tick >= 8, "waited for the upgrade's end");
    assert_eq!(
        list(run.var("VMSSDeploymentTargetIds")),
        [&new2_id, &new3_id]
    );
    let mut removed = deleted(&sim);
    removed.sort();
    assert_eq!(removed, [old0_id, old1_id]);
    let decided = decisions(&run);
    assert_eq!(decided[old0.as_str()], "removed");
    assert_eq!(decided[old1.as_str()], "removed");
    let reads = sim
        .world()
        .requests(Service::Arm)
        .iter()
        .filter(|r| r.path.ends_with("/rollingUpgrades/latest"))
        .count();
    assert!(reads >= 8, "one read per check: {reads}");
}

#[test]
fn a_set_that_never_rolled_settles_at_once() {
    let mut w = settled_set(1);
    w.scale_set_mut(SCALE_SET).automatic_os_upgrade = true;
    let id = w.machines[0].id.clone();
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.var("VMSSDeploymentTargetIds"), id);
    let statuses: Vec<u16> = sim
        .world()
        .requests(Service::Arm)
        .iter()
        .filter(|r| r.path.ends_with("/rollingUpgrades/latest"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [404], "read once, answered 404: none");
}

#[test]
fn sets_of_one_name_in_two_groups_do_not_hold_back_each_others_targets() {
    use vmss_check::sim::SimProfile;
    let mut w = World::new();
    w.add_resource_group("rg1");
    w.add_resource_group("rg2");
    // rg1/web: one VM, and one still being created that reports no name yet.
    w.add_scale_set("web", "Uniform", &[(0, "Succeeded")], &[(0, 2)]);
    w.scale_set_mut("web").profile = SimProfile::Generalized("one".into());
    let one = w.add_instance("web", 0, &[(0, "Succeeded")]);
    w.add_target(&one, 0);
    w.add_instance("web", 1, &[(0, "Creating")]);
    w.vms[1].computer_name = None;
    w.scale_sets[0].resource_group = "rg1".into();
    w.vms
        .iter_mut()
        .for_each(|v| v.resource_group = "rg1".into());
    // rg2/web: one VM, and a stale target of its shape.
    w.add_scale_set("web", "Uniform", &[(0, "Succeeded")], &[(0, 1)]);
    w.scale_sets.swap(0, 1);
    w.scale_set_mut("web").profile = SimProfile::Generalized("two".into());
    let two = w.add_instance("web", 0, &[(0, "Succeeded")]);
    w.add_target(&two, 0);
    w.scale_sets[0].resource_group = "rg2".into();
    w.vms[2].resource_group = "rg2".into();
    let stale_two = w.add_target("two00000z", 0);
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("VMSS_SCALESET_NAME", "rg1/web,rg2/web"),
            ("VMSS_TIMEOUT_VALUE", "0.01"),
        ],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.var("VMSSTimedOut"), "True");
    // rg1/web's nameless VM may be any of rg1/web's targets, not rg2/web's.
    assert_eq!(deleted(&sim), [stale_two]);
    let decided = decisions(&run);
    assert_eq!(decided["two00000z"], "removed");
    assert_eq!(decided["one000000"], "output");
}

#[test]
fn proofs_that_do_not_come_in_time_keep_the_target_within_the_overrun() {
    let (mut w, _) = flexible(1);
    w.arm_page_size = 100;
    let gone = stale(&mut w);
    // The check's scale set and listing, the final listing: then Resource Manager hangs,
    // on the first proof (the group's listing).
    w.faults.hang = vec![(Service::Arm, 3)];
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[("VMSS_TIMEOUT_VALUE", "0.01"), ("VMSS_CHECK_OVERRUN", "3")],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(deleted(&sim).is_empty() && alive(&sim, &gone));
    let record = record_json(&run);
    let row = target_row(&record, &gone);
    assert_eq!(row["decision"], "unproven");
    assert_eq!(row["keptBy"], "unreadable");
    let why = row["why"].as_str().unwrap();
    assert!(why.contains("time ran out"), "{why}");
    // 0.6 s of wait, then 3 s of budget: not the 30 s of a request's own timeout.
    assert!(
        run.took < std::time::Duration::from_secs(8),
        "took {:?}",
        run.took
    );
}

#[test]
fn a_rolling_upgrade_status_this_build_does_not_know_is_not_a_failure() {
    let mut w = settled_set(1);
    // A code Azure may add one day (the SDK's model knows four).
    w.roll(SCALE_SET, &[(0, "Paused")]);
    let id = w.machines[0].id.clone();
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.var("VMSSDeploymentTargetIds"), id);
}
