//! Every proof fails closed (issue 23): a proof of absence that cannot be read, for any reason,
//! keeps the target and says why, in the log and in the decision record; a passing error is
//! retried; a check's listing counts even when another read of the check failed; and no call
//! outlives the step's own end. Through the built binary against the simulator; each test
//! failed on the main branch before these rules.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;
use vmss_check::sim::stories::SCALE_SET;
use vmss_check::sim::world::{ArmFault, Paging};
use vmss_check::sim::{Service, Sim, World};

fn alive(sim: &Sim, id: &str) -> bool {
    sim.world().machines.iter().any(|m| m.id == id)
}

/// A settled Flexible scale set in `rg-web` with two running VMs, each with a target, and a
/// standby pool in `rg-pool` holding one VM (`vmsswebq…`, not listed under the set) whose
/// Tentacle registered while it was pooled. Returns the world and the pooled VM's target.
fn pooled_elsewhere() -> (World, String) {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Flexible", &[(0, "Succeeded")], &[(0, 2)]);
    for i in 0..2 {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]);
        w.add_target(&c, 0);
    }
    w.add_pool("pool-web", "rg-pool", SCALE_SET, "Running");
    let pooled = w.add_pool_vm("pool-web", 1, false);
    let id = w.add_target(&pooled, 0);
    (w, id)
}

/// The decision record's row (held to its schema) of the target with this id or name.
fn row(run: &Run, id: &str) -> Value {
    target_row(&record_json(run), id).clone()
}

fn warnings(run: &Run) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = run.stdout.lines();
    while let Some(l) = lines.next() {
        if l == "##octopus[stdout-warning]" {
            out.push(lines.next().unwrap_or("").to_string());
        }
    }
    out
}

/// Issue 23, case 1: the subscription-wide pool listing cannot be read (`break_it`): the
/// pooled VM's target is kept, and the log and the record say `why`. Only a 403 narrows the
/// search to the set's group.
fn a_pool_listing_that_cannot_be_read_keeps_the_pooled_vms_target(
    break_it: fn(&mut World),
    why: &str,
) {
    let (mut w, pooled) = pooled_elsewhere();
    break_it(&mut w);
    let sim = Sim::start(w);
    // A short deadline and overrun: the retries end with the step's time.
    let run = run_step(
        &sim,
        &[("VMSS_TIMEOUT_VALUE", "0.02"), ("VMSS_CHECK_OVERRUN", "3")],
    );
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        alive(&sim, &pooled) && deleted(&sim).is_empty(),
        "the pooled VM's target was removed\n{}",
        run.stdout
    );
    let r = row(&run, &pooled);
    assert_eq!(r["decision"], "unproven", "{r}");
    assert_eq!(r["keptBy"], "unreadable", "{r}");
    let said = r["why"].as_str().unwrap_or("");
    assert!(
        said.contains("standby pools of subscription") && said.contains(why),
        "{said}"
    );
    assert!(
        warnings(&run).iter().any(|l| l.contains(why)),
        "the log does not say why\n{}",
        run.stdout
    );
}

fn pools_fail(w: &mut World, status: u16, code: &str, message: &str) {
    w.faults.arm_faults =
        vec![ArmFault::new(ArmFault::subscription_pools, status, code, message).retry_after(1)];
}

#[test]
fn a_pool_listing_answering_500_keeps_the_pooled_vms_target() {
    a_pool_listing_that_cannot_be_read_keeps_the_pooled_vms_target(
        |w| {
            pools_fail(
                w,
                500,
                "InternalServerError",
                "Encountered internal server error.",
            )
        },
        "HTTP 500",
    );
}

#[test]
fn a_pool_listing_answering_503_keeps_the_pooled_vms_target() {
    a_pool_listing_that_cannot_be_read_keeps_the_pooled_vms_target(
        |w| pools_fail(w, 503, "ServiceUnavailable", "The service is unavailable."),
        "HTTP 503",
    );
}

#[test]
fn a_pool_listing_throttled_keeps_the_pooled_vms_target() {
    a_pool_listing_that_cannot_be_read_keeps_the_pooled_vms_target(
        |w| {
            pools_fail(
                w,
                429,
                "OperationNotAllowed",
                "The server rejected the request because too many requests have been received for this subscription.",
            )
        },
        "HTTP 429",
    );
}

#[test]
fn a_pool_listing_linking_to_another_server_keeps_the_pooled_vms_target() {
    a_pool_listing_that_cannot_be_read_keeps_the_pooled_vms_target(
        |w| {
            w.arm_page_size = 1;
            w.add_pool("pool-other", "rg-pool", SCALE_SET, "Running");
            w.faults.standby_paging = Some(Paging::OtherOrigin);
        },
        "outside the configured Azure endpoints",
    );
}

/// A passing error of the pool listing is retried like every other read: the stale target
/// goes on the first run, the pooled VM's target stays.
#[test]
fn a_passing_pool_listing_error_is_retried() {
    let (mut w, pooled) = pooled_elsewhere();
    let stale = w.add_target("web0zzzzz", 0);
    w.faults.arm_faults = vec![ArmFault::new(
        ArmFault::subscription_pools,
        503,
        "ServiceUnavailable",
        "The service is unavailable.",
    )
    .times(2)];
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(deleted(&sim), std::slice::from_ref(&stale));
    assert!(alive(&sim, &pooled));
    assert_eq!(row(&run, &stale)["decision"], "removed");
    assert_eq!(row(&run, &pooled)["keptBy"], "inStandbyPool");
}

/// The one narrowing: a 403 on the subscription's pools searches the set's resource group,
/// and one warning says what cannot be seen and which role on which scope fixes it.
#[test]
fn a_refused_subscription_pool_listing_searches_the_sets_group_and_says_so_once() {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Flexible", &[(0, "Succeeded")], &[(0, 1)]);
    let c = w.add_instance(SCALE_SET, 0, &[(0, "Succeeded")]);
    w.add_target(&c, 0);
    // A pool in the set's own group: found there.
    w.add_pool("pool-web", "rg-web", SCALE_SET, "Running");
    let pooled = w.add_pool_vm("pool-web", 1, false);
    let pooled_id = w.add_target(&pooled, 0);
    let stale = w.add_target("web0zzzzz", 0);
    w.faults.arm_faults = vec![ArmFault::new(
        ArmFault::subscription_pools,
        403,
        "AuthorizationFailed",
        "The client does not have authorization to perform action 'Microsoft.StandbyPool/standbyVirtualMachinePools/read' over scope '/subscriptions/sub'.",
    )];
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(deleted(&sim), std::slice::from_ref(&stale));
    assert!(alive(&sim, &pooled_id));
    assert_eq!(row(&run, &stale)["decision"], "removed");
    let kept = row(&run, &pooled_id);
    assert_eq!(kept["decision"], "unproven", "{kept}");
    assert_eq!(kept["keptBy"], "inStandbyPool", "found in the set's group");
    let said: Vec<String> = warnings(&run)
        .into_iter()
        .filter(|l| l.contains("cannot be seen"))
        .collect();
    assert_eq!(said.len(), 1, "{}", run.stdout);
    assert!(
        said[0].contains("Reader role on subscription") && said[0].contains("rg-web"),
        "{}",
        said[0]
    );
}

/// Issue 23, case 4: a pool listing page without `value` whose `nextLink` leads back to
/// itself fails that listing at once (it was followed thousands of times), and keeps the
/// pooled VM's target.
#[test]
fn a_pool_page_without_its_list_fails_the_listing_at_once() {
    let (mut w, pooled) = pooled_elsewhere();
    w.faults.standby_paging = Some(Paging::Listless);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(alive(&sim, &pooled) && deleted(&sim).is_empty());
    let r = row(&run, &pooled);
    assert_eq!(r["keptBy"], "unreadable", "{r}");
    assert!(
        r["why"].as_str().unwrap_or("").contains("without its list"),
        "{r}"
    );
    let reads = standby_requests(&sim);
    assert!(reads.len() <= 2, "{reads:?}");
}

/// A Flexible set whose VM with this index is detached from it, from a specialized image (no
/// OS profile) and in this power state; plus a stale target. Returns the world, the detached
/// VM's target and the stale one.
fn detached_specialized(power: &str) -> (World, String, String) {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Flexible", &[(0, "Succeeded")], &[(0, 3)]);
    let names: Vec<String> = (0..3)
        .map(|i| w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]))
        .collect();
    let ids: Vec<String> = names.iter().map(|n| w.add_target(n, 0)).collect();
    w.detach(&names[1]);
    let vm = w.vm_mut(&names[1]);
    vm.os_profile = false;
    vm.power = vec![(0, power.to_string())];
    let stale = w.add_target("web0zzzzz", 0);
    (w, ids[1].clone(), stale)
}

/// Issue 23, cases 2 and 3: the group's VM listing asks for no `$expand` (Azure refuses it
/// without a `$filter`); a VM it lists without a computer name is read on its own, and while
/// its name stays unknown (a deallocated VM's instance view names none) every target that
/// needs that group's proof is kept.
#[test]
fn a_group_vm_without_a_computer_name_keeps_the_targets_that_need_the_groups_proof() {
    let (w, detached, stale) = detached_specialized("deallocated");
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(deleted(&sim).is_empty(), "{:?}", deleted(&sim));
    assert!(alive(&sim, &detached) && alive(&sim, &stale));
    for id in [&detached, &stale] {
        let r = row(&run, id);
        assert_eq!(r["decision"], "unproven", "{r}");
        assert_eq!(r["keptBy"], "unreadable", "{r}");
        assert!(
            r["why"].as_str().unwrap_or("").contains("no computer name"),
            "{r}"
        );
    }
    assert_unfiltered_listings_ask_no_expand(&sim);
}

/// The same VM running: its instance view names it, so it keeps its own target, and the
/// group's proof removes the stale one.
#[test]
fn a_group_vm_named_by_its_instance_view_keeps_its_target_and_the_stale_one_goes() {
    let (w, detached, stale) = detached_specialized("running");
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(deleted(&sim), [stale]);
    assert!(alive(&sim, &detached));
    assert_eq!(row(&run, &detached)["keptBy"], "inResourceGroup");
    assert!(sim
        .world()
        .requests(Service::Arm)
        .iter()
        .any(|r| r.path.to_ascii_lowercase().ends_with("/instanceview")));
    assert_unfiltered_listings_ask_no_expand(&sim);
}

fn assert_unfiltered_listings_ask_no_expand(sim: &Sim) {
    for r in vm_list_requests(sim) {
        let q = r.query.to_ascii_lowercase();
        if !q.contains("filter") {
            assert!(!q.contains("expand"), "{} ?{}", r.path, r.query);
        }
    }
}

/// Issue 23, case 8: a flicker hides a serving VM from check 1; check 2 lists it, but the same
/// check's rolling-upgrade read is throttled past the deadline. Check 2's listing counts: the
/// VM was in one of the last two listings, so its target stays.
#[test]
fn a_listing_read_in_a_check_that_failed_still_counts() {
    let mut w = settled_set(3);
    w.roll(SCALE_SET, &[(0, "RollingForward")]);
    let names: Vec<String> = w.machines.iter().map(|m| m.name.clone()).collect();
    let ids: Vec<String> = w.machines.iter().map(|m| m.id.clone()).collect();
    // Missed by the first listing and by the final one (the third).
    w.faults.listing_misses = vec![(names[1].clone(), 1), (names[1].clone(), 3)];
    w.faults.arm_faults = vec![ArmFault::new(
        ArmFault::rolling_upgrades,
        429,
        "OperationNotAllowed",
        "The server rejected the request because too many requests have been received for this subscription.",
    )
    .after(1)
    .retry_after(1200)];
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_TIMEOUT_VALUE", "0.05")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.var("VMSSTimedOut"), "True");
    assert!(deleted(&sim).is_empty(), "{:?}", deleted(&sim));
    assert!(alive(&sim, &ids[1]));
    assert_eq!(row(&run, &names[1])["keptBy"], "listedBefore");
}

/// Issue 23, case 7: Octopus answers each call before the wait slowly (inside the request
/// timeout) and then Azure hangs (a request's own timeout is 30 s): the step still ends by its
/// deadline plus the overrun.
#[test]
fn no_call_outlives_the_steps_own_end() {
    let mut w = settled_set(2);
    w.faults.octopus_delay = Some(Duration::from_millis(1200));
    w.faults.hang = vec![(Service::Arm, 0)];
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("VMSS_TIMEOUT_VALUE", "0.05"),
            ("VMSS_CHECK_OVERRUN", "3"),
            ("OCTOPUS_DEPLOYMENT_TRIGGER_ID", "Triggers-1"),
            ("OCTOPUS_DEPLOYMENT_TRIGGER_NAME", "New web VMs"),
        ],
    );
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert!(deleted(&sim).is_empty());
    // 3 s of deadline and 3 s of overrun, and a little for starting and ending.
    assert!(
        run.took < Duration::from_secs(8),
        "took {:?}\n{}",
        run.took,
        run.stdout
    );
    // The calls before the wait did use up the deadline: the test shows the case.
    assert!(octopus_paths(&sim).len() >= 3, "{:?}", octopus_paths(&sim));
}
