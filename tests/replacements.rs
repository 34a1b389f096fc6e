//! Azure replacing VMs on its own (issue 25, contract: "Azure's own replacements"), through the
//! built binary against the simulator: automatic repairs (the warning, and an unhealthy VM past
//! its grace period kept out of the output), a repair replacing a VM during the wait, a zone
//! rebalance keeping the wait going and named on the timeout, a resilient delete flipping
//! between `Deleting` and `Failed`, and instance protection in the record.

mod common;

use common::*;
use serde_json::Value;
use std::time::Duration;
use vmss_check::sim::stories::{computer_name, SCALE_SET};
use vmss_check::sim::{Service, Sim, World};

const MINUTE: Duration = Duration::from_secs(60);

/// How many lines of the output contain `text`.
fn lines_with(run: &Run, text: &str) -> usize {
    run.stdout.lines().filter(|l| l.contains(text)).count()
}

/// The one line of the output that contains `text` (a warning is one line).
fn one_line<'a>(run: &'a Run, text: &str) -> &'a str {
    let lines: Vec<&str> = run.stdout.lines().filter(|l| l.contains(text)).collect();
    assert_eq!(
        lines.len(),
        1,
        "{text:?} in {} lines:\n{}",
        lines.len(),
        run.stdout
    );
    lines[0]
}

/// The record's row of the VM with this computer name (ignoring case).
fn vm_row<'a>(record: &'a Value, computer: &str) -> &'a Value {
    record["vms"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| {
            v["computerName"]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(computer))
        })
        .unwrap_or_else(|| panic!("no VM {computer} in {record}"))
}

/// Runs the step on a world where Azure is deleting the VM with this computer name, and holds
/// the contract's resilient-delete rule: never a failed VM, never output, its target removed.
/// Returns the simulation and the record.
fn run_where_azure_deletes(w: World, vm: &str) -> (Sim, Value) {
    let world = w.clone();
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        list(run.var("VMSSFailedTargetNames")).is_empty(),
        "{}",
        run.stdout
    );
    assert!(!list(run.var("VMSSDeploymentTargetNames")).contains(&vm));
    assert_eq!(lines_with(&run, "whose VM Azure reports Failed"), 0);
    assert_eq!(deleted_names(&sim, &world), [vm]);
    assert_eq!(list(run.var("VMSSRemovedTargetNames")), [vm]);
    let record = record_json(&run);
    let row = vm_row(&record, vm);
    assert_eq!(
        row["provisioningState"], "Failed",
        "the final listing said so"
    );
    assert_eq!(row["class"], "gone");
    let target = target_row(&record, vm);
    assert_eq!(target["decision"], "removed");
    let why = target["why"].as_str().unwrap();
    assert!(why.contains("being deleted"), "{why}");
    (sim, record)
}

/// Names of deleted targets (the simulator keeps ids).
fn deleted_names(sim: &Sim, world: &World) -> Vec<String> {
    deleted(sim)
        .iter()
        .filter_map(|id| world.machines.iter().find(|m| &m.id == id))
        .map(|m| m.name.clone())
        .collect()
}

/// The ARM requests whose path ends so (lower-cased), with their query.
fn arm_requests(sim: &Sim, ends: &str) -> Vec<String> {
    sim.world()
        .requests(Service::Arm)
        .iter()
        .filter(|r| r.path.to_ascii_lowercase().ends_with(ends))
        .map(|r| r.query.clone())
        .collect()
}

#[test]
fn repairs_on_get_one_warning_and_the_vm_unhealthy_past_its_grace_period_is_not_output() {
    let mut w = settled_set(4);
    w.repairs(SCALE_SET, "PT10M", "Replace");
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| computer_name("web", i));
    // Unhealthy for 25 minutes: past the grace period, about to be replaced.
    w.unhealthy_since(&b, 25 * MINUTE);
    // Unhealthy for 3 minutes: still inside it.
    w.unhealthy_since(&c, 3 * MINUTE);
    w.vm_mut(&d).health = Some("HealthState/healthy".into());
    let world = w.clone();
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        list(run.var("VMSSDeploymentTargetNames")),
        [a.as_str(), &c, &d],
        "{}",
        run.stdout
    );
    assert!(deleted_names(&sim, &world).is_empty(), "its target is kept");
    assert!(list(run.var("VMSSUnregisteredInstanceNames")).is_empty());
    assert!(list(run.var("VMSSFailedTargetNames")).is_empty());
    // One warning names the set, the grace period, the action, what happens, and the fixes.
    let warning = one_line(&run, "has automatic repairs on");
    for words in [
        "Scale set vmss-web",
        "grace period PT10M",
        "action Replace",
        "still fails 10 minutes after its last state change, Azure replaces it",
        "during the deployment",
        "grace period longer than the deployment",
        "instance protection",
        "suspend automatic repairs for the deployment",
    ] {
        assert!(warning.contains(words), "{words:?} missing: {warning}");
    }
    assert_eq!(
        lines_with(&run, "whose VM Azure reports unhealthy for longer than"),
        1,
        "{}",
        run.stdout
    );
    // The record: each VM's health, the VM about to be replaced, the set's repair policy.
    let record = record_json(&run);
    assert_eq!(decision(&record, &b), "repairDue");
    assert_eq!(decision(&record, &c), "output");
    let row = vm_row(&record, &b);
    assert_eq!(row["health"], "HealthState/unhealthy");
    assert_eq!(row["repairDue"], true);
    assert_eq!(row["class"], "member");
    assert_eq!(vm_row(&record, &c)["repairDue"], false);
    assert_eq!(vm_row(&record, &d)["health"], "HealthState/healthy");
    let set = &record["scaleSets"][0];
    assert_eq!(set["name"], SCALE_SET);
    assert_eq!(set["automaticRepairs"]["gracePeriod"], "PT10M");
    assert_eq!(set["automaticRepairs"]["repairAction"], "Replace");
    assert_eq!(set["automaticRepairs"]["serviceState"], "Running");
    let html = run.artifact(".html");
    assert!(html.contains("own replacements"), "{html}");
    // The set's instance view was read (repairs on), at the api-version the docs show.
    let views = arm_requests(
        &sim,
        &format!("/virtualmachinescalesets/{SCALE_SET}/instanceview"),
    );
    assert!(!views.is_empty());
    assert!(views.iter().all(|q| q.contains("api-version=2025-04-01")));
}

#[test]
fn suspended_repairs_and_sets_without_them_change_nothing_and_read_no_instance_view() {
    let mut w = settled_set(2);
    let b = computer_name("web", 1);
    w.unhealthy_since(&b, 25 * MINUTE);
    let sim = Sim::start(w.clone());
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(list(run.var("VMSSDeploymentTargetNames")).len(), 2);
    assert_eq!(lines_with(&run, "automatic repairs"), 0, "{}", run.stdout);
    assert!(
        arm_requests(&sim, "/instanceview").is_empty(),
        "no policy, no extra read"
    );

    w.repairs(SCALE_SET, "PT10M", "Replace");
    w.scale_set_mut(SCALE_SET).repairs.as_mut().unwrap().state = vec![(0, "Suspended".into())];
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(list(run.var("VMSSDeploymentTargetNames")).len(), 2);
    assert_eq!(lines_with(&run, "has automatic repairs on"), 0);
    let record = record_json(&run);
    assert_eq!(
        record["scaleSets"][0]["automaticRepairs"]["serviceState"],
        "Suspended"
    );
}

#[test]
fn a_repair_replacing_an_unhealthy_vm_during_the_wait_ends_with_the_new_vm_deployed_to() {
    let mut w = settled_set(3);
    w.repairs(SCALE_SET, "PT10M", "Replace");
    let old = computer_name("web", 1);
    w.unhealthy_since(&old, 25 * MINUTE);
    // Azure replaces it at the second check: the old VM is deleted, a new one (instance 3,
    // another name) is created; its Tentacle registers once it runs.
    let new = w.repair_replaces(&old, 2, 3);
    let new_target = w.add_target(&new, 3);
    // A VM still being created keeps the wait going until the repair is done.
    let slow = w.add_instance(SCALE_SET, 4, &[(0, "Creating"), (4, "Succeeded")]);
    w.add_target(&slow, 0);
    let world = w.clone();
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let output = list(run.var("VMSSDeploymentTargetNames"));
    assert!(output.contains(&new.as_str()), "{output:?}");
    assert!(!output.contains(&old.as_str()), "{output:?}");
    assert_eq!(deleted_names(&sim, &world), [old.as_str()]);
    assert!(!deleted(&sim).contains(&new_target));
    let record = record_json(&run);
    assert_eq!(decision(&record, &old), "removed");
    assert_eq!(decision(&record, &new_target), "output");
    assert!(
        record["vms"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["computerName"]
                .as_str()
                .is_some_and(|c| c.eq_ignore_ascii_case(&new))),
        "the new VM is in the record"
    );
}

#[test]
fn a_zone_rebalance_under_way_keeps_the_wait_going_and_is_named_when_it_runs_out() {
    // Capacity 3, four VMs: Azure created the fourth in the emptiest zone, and will delete
    // one of the four when the rebalance ends. Every VM says Succeeded.
    let mut w = settled_set(4);
    w.scale_set_mut(SCALE_SET).capacity = vec![(0, 3)];
    w.zone_balance(SCALE_SET, &[(0, true)]);
    let sim = Sim::start(w.clone());
    let run = run_step(&sim, &[("VMSS_TIMEOUT_VALUE", "0.03")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.var("VMSSTimedOut"), "True");
    assert_eq!(list(run.var("VMSSDeploymentTargetNames")).len(), 4);
    assert!(deleted(&sim).is_empty());
    assert!(
        run.stdout
            .contains("an automatic zone rebalance of vmss-web is under way"),
        "{}",
        run.stdout
    );
    let warning = one_line(&run, "was still under way at the deadline");
    assert!(warning.contains("scale set vmss-web"), "{warning}");
    assert!(
        warning.contains("will delete one of the set's VMs when the rebalance ends"),
        "{warning}"
    );
    assert!(warning.contains("Azure does not say which"), "{warning}");
    let record = record_json(&run);
    let checks = record["checks"].as_array().unwrap();
    assert!(checks.len() > 1, "the wait went on: {checks:?}");
    assert!(checks
        .iter()
        .all(|c| c["scaleSets"][0]["zoneRebalancing"] == true));
    assert_eq!(record["scaleSets"][0]["zoneRebalancing"], true);
    assert_eq!(record["scaleSets"][0]["rebalanceUnderWay"], true);
    assert_eq!(record["run"]["result"], "timedOut");
    // The policy is in the set's model only at the newer api-version.
    let reads = arm_requests(&sim, &format!("/virtualmachinescalesets/{SCALE_SET}"));
    assert!(reads.iter().all(|q| q.contains("api-version=2025-04-01")));

    // The same rebalance ending at the third check: the wait ends there, settled.
    w.zone_balance(SCALE_SET, &[(0, true), (3, false)]);
    w.vm_mut(&computer_name("web", 0)).state.push((3, None));
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSTimedOut"), "False");
    assert_eq!(lines_with(&run, "was still under way at the deadline"), 0);
    let record = record_json(&run);
    assert_eq!(record["checks"].as_array().unwrap().len(), 3);
    assert_eq!(record["scaleSets"][0]["rebalanceUnderWay"], false);
}

#[test]
fn a_vm_whose_delete_flips_between_deleting_and_failed_is_gone_never_failed_nor_output() {
    let mut w = settled_set(3);
    let flipping = computer_name("web", 1);
    // Deleting at the first check, Failed at the second, Deleting, Failed...
    w.delete_retried(&flipping, 1, 40);
    // Another VM keeps the wait going until the fourth check, where the flipping VM is
    // Failed, and so is it in the final listing.
    let slow = w.add_instance(SCALE_SET, 3, &[(0, "Creating"), (4, "Succeeded")]);
    w.add_target(&slow, 0);
    run_where_azure_deletes(w, &flipping);
}

#[test]
fn a_delete_azure_says_it_retries_is_gone_even_when_no_listing_showed_it_deleting() {
    // Resilient deletes on: the step lists the set at the newer api-version, where each VM
    // says resilientVMDeletionStatus. The delete began before the step's first look, which
    // finds the VM Failed between attempts, its status InProgress.
    let mut w = settled_set(2);
    w.scale_set_mut(SCALE_SET).resilient_deletes = true;
    let retried = computer_name("web", 1);
    w.delete_retried(&retried, 0, 40);
    let (sim, record) = run_where_azure_deletes(w, &retried);
    assert_eq!(record["scaleSets"][0]["resilientVMDeletion"], true);
    let listings = arm_requests(&sim, "/virtualmachines");
    assert!(!listings.is_empty());
    assert!(
        listings
            .iter()
            .all(|q| q.contains("api-version=2025-04-01")),
        "{listings:?}"
    );
    // A VM Failed for another reason (never deleted) is still a failed VM.
    let mut w = settled_set(2);
    w.scale_set_mut(SCALE_SET).resilient_deletes = true;
    w.fail_extension(&computer_name("web", 1), 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        list(run.var("VMSSFailedTargetNames")),
        [computer_name("web", 1).as_str()]
    );
    assert!(deleted(&sim).is_empty());
    assert_eq!(
        decision(&record_json(&run), &computer_name("web", 1)),
        "failed"
    );
}

#[test]
fn a_protected_vm_is_named_in_the_record_and_repairs_leave_it_alone() {
    let mut w = settled_set(3);
    w.repairs(SCALE_SET, "PT10M", "Replace");
    let [a, b, c] = [0, 1, 2].map(|i| computer_name("web", i));
    // Unhealthy past the grace period, but protected from scale-set actions: Azure does not
    // repair it, so it is deployed to.
    w.unhealthy_since(&b, 25 * MINUTE);
    w.protect(&b, false, true);
    w.protect(&c, true, true);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        list(run.var("VMSSDeploymentTargetNames")),
        [a.as_str(), &b, &c]
    );
    let record = record_json(&run);
    assert_eq!(
        vm_row(&record, &b)["protectedFrom"],
        serde_json::json!(["scaleSetActions"])
    );
    assert_eq!(
        vm_row(&record, &c)["protectedFrom"],
        serde_json::json!(["scaleIn", "scaleSetActions"])
    );
    assert_eq!(vm_row(&record, &a)["protectedFrom"], serde_json::json!([]));
    assert_eq!(vm_row(&record, &b)["repairDue"], false);
    assert_eq!(decision(&record, &b), "output", "not repairDue: protected");
    let html = run.artifact(".html");
    assert!(html.contains("scaleIn, scaleSetActions"), "{html}");
    assert!(
        run.stdout.contains("have instance protection"),
        "{}",
        run.stdout
    );
}
