//! Nothing an outsider sends can speak for the step, cut its work short, or end its wait early
//! (contract v4, "Never"): names and error texts that try to forge service messages, byte-order
//! marks, paging that goes wrong, throttles longer than the wait, and a scale set that lists
//! nothing. Every run is read the way Octopus reads it (`sim::calamari`, through
//! `tests/common`), so a forged message would count here as it would there.

mod common;

use common::*;
use std::time::Duration;
use vmss_check::output::Message;
use vmss_check::sim::calamari;
use vmss_check::sim::stories::{computer_name, SCALE_SET};
use vmss_check::sim::{Paging, ReadBudget, Sim, SimProfile, World};

/// `##octopus[setVariable ...]` as text, with base64 values, as an attacker would write it.
fn forged_variable(name: &str, value: &str) -> String {
    format!(
        "setVariable name='{}' value='{}'",
        encode(name),
        encode(value)
    )
}

#[test]
fn target_names_and_azure_errors_cannot_forge_service_messages() {
    let mut w = settled_set(2);
    let members: Vec<String> = w.machines.iter().map(|m| m.id.clone()).collect();
    // Anyone who can register a Tentacle names a target. A `\r` ends a line for Calamari;
    // the single `#` after it completes the `#` before it into a marker.
    let set = forged_variable("VMSSDeploymentTargetIds", "Machines-1,Machines-999");
    w.add_target(&format!("legacy#\r#octopus[{set}]"), 0);
    w.add_target(&format!("old\r\n##octopus[{set}]"), 0);
    // Whoever controls a VM writes its extensions' error text.
    let failed = computer_name("web", 1);
    w.fail_extension(&failed, 0);
    let artifact = format!(
        "createArtifact path='{}' name='{}' length='{}'",
        encode("/etc/passwd"),
        encode("passwd"),
        encode("1")
    );
    w.vm_mut(&failed).failure.as_mut().unwrap().message =
        format!("Enable failed #\r#octopus[{artifact}]\r##octopus[{set}]");
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        run.var("VMSSDeploymentTargetIds"),
        members[0],
        "{}",
        run.stdout
    );
    assert_eq!(run.var("VMSSFailedTargetNames"), failed);
    let read = calamari::messages(&run.stdout);
    assert!(
        !read
            .iter()
            .any(|m| matches!(m, Message::Artifact { path, .. } if path.contains("passwd"))),
        "a forged artifact:\n{}",
        run.stdout
    );
    let sets = read
        .iter()
        .filter(
            |m| matches!(m, Message::SetVariable { name, .. } if name == "VMSSDeploymentTargetIds"),
        )
        .count();
    assert_eq!(sets, 1, "{}", run.stdout);
    // The texts are still shown, escaped, so a person can see what was sent.
    assert!(run.stdout.contains("legacy#\\r#octopus"), "{}", run.stdout);
    // Azure's message is shown up to its first line break, as .NET would read it.
    assert!(
        run.stdout
            .contains("VMExtensionProvisioningError: Enable failed #)"),
        "{}",
        run.stdout
    );
    // stderr is parsed too, and any line there marks the step as having errors.
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn byte_order_marks_before_any_json_are_skipped() {
    let mut w = settled_set(2);
    let stale = w.add_target(&computer_name("web", 9), 0);
    let forbidden = w.add_target(&computer_name("web", 8), 0);
    w.faults.forbid_delete = vec![forbidden.clone()];
    w.faults.byte_order_marks = true;
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT", "No")]);
    // Every body (Azure AD's, Resource Manager's, Octopus's) started with a BOM: the run
    // read them all, removed the stale target, and read Octopus's 403 body for its reason.
    assert_eq!(deleted(&sim), [stale]);
    run.assert_failed(1, "Missing permission: MachineDelete");
}

#[test]
fn a_retry_after_past_the_deadline_sleeps_to_it_then_proceeds() {
    let mut w = settled_set(2);
    // The first Resource Manager request (the wait's first scale-set read) is throttled for
    // 20 minutes, as Azure has been seen to ask.
    w.faults.arm_throttles = 1;
    w.faults.arm_retry_after = 1200;
    let sim = Sim::start(w);
    // A 3-second wait.
    let run = run_step(&sim, &[("VMSS_TIMEOUT_VALUE", "0.05")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.took >= Duration::from_millis(2900),
        "slept to the deadline, not less: {:?}",
        run.took
    );
    assert!(run.took < Duration::from_secs(20), "{:?}", run.took);
    assert_eq!(run.var("VMSSTimedOut"), "True");
    assert_eq!(list(run.var("VMSSDeploymentTargetNames")).len(), 2);
    assert!(
        run.stdout.contains("Azure throttled the checks"),
        "{}",
        run.stdout
    );

    // With Error, the same throttle fails the step at the deadline, removing nothing.
    let mut w = settled_set(1);
    let stale = w.add_target(&computer_name("web", 9), 0);
    w.faults.arm_throttles = 1;
    w.faults.arm_retry_after = 1200;
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("VMSS_TIMEOUT_VALUE", "0.05"),
            ("VMSS_TIMEOUT_ERRORHANDLE", "Error"),
        ],
    );
    run.assert_failed(1, "Azure throttled the checks");
    assert!(run.took >= Duration::from_millis(2900), "{:?}", run.took);
    assert!(deleted(&sim).is_empty());
    assert!(
        sim.world().machines.iter().any(|m| m.id == stale),
        "the stale target must survive a failed step"
    );
}

/// 600 targets, more than one page of the step's 500; the last 40 are stale.
fn many_targets() -> World {
    let mut w = settled_set(560);
    for i in 560..600 {
        w.add_target(&computer_name("web", i), 0);
    }
    w
}

#[test]
fn octopus_paging_that_is_cut_short_fails_and_removes_nothing() {
    for (paging, says) in [
        (Paging::OtherOrigin, "leads away from VMSS.Octopus.Url"),
        (Paging::Repeats, "a page repeated items already listed"),
        (
            Paging::Overcount(7),
            "it counted 607 items (TotalResults) but its pages held 600",
        ),
    ] {
        let mut w = many_targets();
        w.faults.octopus_paging = Some(paging);
        let sim = Sim::start(w);
        let run = run_step(&sim, &[]);
        run.assert_failed(1, says);
        assert!(deleted(&sim).is_empty(), "{paging:?}");
        assert!(
            run.result_message()
                .unwrap()
                .contains("Nothing was removed"),
            "{paging:?}"
        );
    }
    // A first page without Page.Next while TotalResults counts more (OctopusDeploy/Issues#8112):
    // the rest is read by skip, and the run decides on the whole list.
    let mut w = many_targets();
    w.faults.octopus_paging = Some(Paging::NoNextAfterFirst);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(deleted(&sim).len(), 40);
    assert_eq!(list(run.var("VMSSDeploymentTargetIds")).len(), 560);
}

#[test]
fn azure_paging_that_is_cut_short_fails_and_removes_nothing() {
    for (paging, says) in [
        (
            Paging::OtherOrigin,
            "outside the configured Azure endpoints",
        ),
        (Paging::Repeats, "a page repeated items already listed"),
    ] {
        let mut w = settled_set(5);
        w.arm_page_size = 2;
        w.add_target(&computer_name("web", 9), 0);
        w.faults.arm_paging = Some(paging);
        let sim = Sim::start(w);
        let run = run_step(&sim, &[]);
        run.assert_failed(1, says);
        assert!(
            run.result_message()
                .unwrap()
                .contains("Azure's paging cut the listing"),
            "{paging:?}"
        );
        assert!(deleted(&sim).is_empty(), "{paging:?}");
    }
}

#[test]
fn octopus_throttling_is_retried_and_said() {
    let mut w = settled_set(2);
    let stale = w.add_target(&computer_name("web", 9), 0);
    w.faults.octopus_throttles = 2;
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(deleted(&sim), [stale]);
    assert!(
        run.stdout.contains("Octopus throttled the step"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_scale_set_that_lists_none_lends_no_prefix_and_the_rest_goes_on() {
    // One set: capacity 2, no VMs listed. Nothing is removed on its account; the run goes on.
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 2)]);
    let kept = w.add_target(&computer_name("web", 1), 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(deleted(&sim).is_empty());
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "False");
    assert!(run
        .stdout
        .contains("has capacity 2 but Azure listed no instances"));
    assert!(
        sim.world().machines.iter().any(|m| m.id == kept),
        "a set that lists none removes nothing on its account"
    );
    assert_eq!(decision(&record_json(&run), &kept), "foreign");

    // Two sets: vmss-api at capacity 2 lists none; vmss-web's ready VMs get their outputs,
    // and its stale target goes.
    let mut w = World::new();
    w.add_scale_set("vmss-web", "Uniform", &[(0, "Succeeded")], &[(0, 2)]);

    w.add_scale_set("vmss-api", "Uniform", &[(0, "Succeeded")], &[(0, 2)]);
    w.scale_set_mut("vmss-api").profile = SimProfile::Generalized("api".into());
    let web: Vec<String> = (0..2)
        .map(|i| {
            let c = w.add_instance("vmss-web", i, &[(0, "Succeeded")]);
            w.add_target(&c, 0)
        })
        .collect();
    let stale = w.add_target(&computer_name("web", 7), 0);
    let api = w.add_target(&computer_name("api", 1), 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_SCALESET_NAME", "vmss-web,vmss-api")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(list(run.var("VMSSDeploymentTargetIds")), web);
    assert_eq!(deleted(&sim), std::slice::from_ref(&stale));
    assert!(sim.world().machines.iter().any(|m| m.id == api));
    let record = record_json(&run);
    assert_eq!(
        decision(&record, &api),
        "foreign",
        "vmss-api lends no prefix"
    );
    assert_eq!(decision(&record, &stale), "removed");
}

#[test]
fn a_plentiful_read_budget_is_not_called_low() {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 1)]);
    let c = w.add_instance(SCALE_SET, 0, &[(0, "Creating"), (6, "Succeeded")]);
    w.add_target(&c, 0);
    // 2,600 reads per 30 minutes, nearly all left: a 0.1 s interval is stretched (the budget
    // would not last the window at that pace), but the budget is not running low.
    // A minute lasts 10 s here: the 30-minute window is 300 s, so at half of 2,600 reads
    // the budget asks for 0.23 s between checks.
    let mut budget = ReadBudget::azure(Duration::from_secs(10));
    budget.limits = vec![
        ("GetVMScaleSet".into(), 2600, 2600),
        ("HighCostGetVMScaleSet".into(), 2600, 2600),
    ];
    w.read_budget = Some(budget);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_CHECK_MINUTE", "10")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(!run.stdout.contains("running low"), "{}", run.stdout);
    assert!(
        run.stdout.contains("rather than every VMSS.Poll.Interval"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_steps_own_text_is_ascii() {
    // Calamari decodes a PowerShell step's output in the worker's OEM code page: anything
    // but ASCII arrives garbled ("→" as "ΓåÆ"). Runs that say most of what the step can say:
    // a failed VM, a foreign target, a stale one, a timeout, an unsubstituted input.
    let mut w = settled_set(3);
    w.fail_extension(&computer_name("web", 1), 0);
    w.add_target(&computer_name("web", 9), 0);
    w.add_target("db-like-name", 0);
    let c = w.add_instance(SCALE_SET, 5, &[(0, "Creating")]);
    w.add_target(&c, 0);
    let sim = Sim::start(w);
    for extra in [
        vec![("VMSS_TIMEOUT_VALUE", "0.01")],
        vec![
            ("VMSS_TIMEOUT_VALUE", "0.01"),
            ("VMSS_TIMEOUT_ERRORHANDLE", "Error"),
        ],
        vec![("VMSS_OCTOPUS_URL", "#{Octopus.Web.ServerUri}")],
    ] {
        let run = run_step(&sim, &extra);
        let stray: String = run
            .stdout
            .chars()
            .chain(run.stderr.chars())
            .filter(|c| !c.is_ascii())
            .collect();
        assert!(stray.is_empty(), "{extra:?}: {stray:?}\n{}", run.stdout);
    }
}
