//! The contract's membership rules, through the built binary against the simulator: power
//! states, Failed VMs, several scale sets, foreign targets, specialized images, empty
//! listings, unregistered VMs, disabled targets, tenant tags and participation.

mod common;

use common::*;
use vmss_check::sim::stories::{self, computer_name, ROLE, SCALE_SET};
use vmss_check::sim::{Service, Sim, SimProfile, World};

fn alive(sim: &Sim, id: &str) -> bool {
    sim.world().machines.iter().any(|m| m.id == id)
}

/// Lines of the step's log at a level: the text between `##octopus[LEVEL]` and the switch back.
fn lines_at(run: &Run, level: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = run.stdout.lines();
    while let Some(l) = lines.next() {
        if l == format!("##octopus[{level}]") {
            if let Some(text) = lines.next() {
                out.push(text.to_string());
            }
        }
    }
    out
}

fn warning_with(run: &Run, text: &str) -> String {
    lines_at(run, "stdout-warning")
        .into_iter()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no warning with {text:?}\n{}", run.stdout))
}

#[test]
fn power_state_and_failed_vms_decide_membership_across_pages() {
    let mut w = settled_set(6);
    // Pages of 2: the instance views of later pages come only if `$expand` survives the
    // SDK's paging (real nextLinks do not carry it).
    w.arm_page_size = 2;
    let names: Vec<String> = w.machines.iter().map(|m| m.name.clone()).collect();
    let ids: Vec<String> = w.machines.iter().map(|m| m.id.clone()).collect();
    w.vm_mut(&names[1]).power = vec![(0, "deallocated".into())];
    w.vm_mut(&names[2]).power = vec![(0, "stopped".into())];
    // A failed extension leaves a running, serving VM in Failed.
    w.fail_extension(&names[3], 0);
    // Succeeded while still starting: waited on until it runs.
    w.vm_mut(&names[4]).power = vec![(0, "starting".into()), (3, "running".into())];
    let stale = w.add_target(&computer_name("web", 40), 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.var("VMSSTimedOut"), "False");
    assert!(sim.world().tick >= 3, "the wait waited for the starting VM");
    assert_eq!(
        list(run.var("VMSSDeploymentTargetNames")),
        [&names[0], &names[4], &names[5]]
    );
    assert_eq!(
        list(run.var("VMSSDeploymentTargetIds")),
        [&ids[0], &ids[4], &ids[5]]
    );
    assert_eq!(run.var("VMSSFailedTargetNames"), names[3]);
    assert_eq!(
        list(run.var("VMSSStoppedTargetNames")),
        [&names[1], &names[2]]
    );
    assert_eq!(
        deleted(&sim),
        vec![stale],
        "failed and stopped VMs keep their targets"
    );
    for id in &ids[1..4] {
        assert!(alive(&sim, id));
    }
    let decided = decisions(&run);
    for (name, expected) in [
        (&names[1], "stopped"),
        (&names[2], "stopped"),
        (&names[3], "failed"),
        (&computer_name("web", 40), "removed"),
    ] {
        assert_eq!(decided[name.as_str()], expected, "{name}");
    }
    let failed = warning_with(&run, "whose VM Azure reports Failed");
    assert!(
        failed.contains(&names[3])
            && failed.contains("VMExtensionProvisioningError: VM has reported a failure when processing extension 'CustomScript'"),
        "{failed}"
    );
    let stopped = warning_with(&run, "stopped or deallocated");
    assert!(
        stopped.contains(&format!("{} (deallocated", names[1])),
        "{stopped}"
    );
    // Every page was asked for, and every listing request carried the expansion.
    let lists = vm_list_requests(&sim);
    assert!(lists.iter().any(|r| r.query.contains("skiptoken")));
    assert!(
        lists
            .iter()
            .all(|r| r.query.contains("%24expand=instanceView")
                || r.query.contains("$expand=instanceView")),
        "{lists:?}"
    );
}

#[test]
fn an_evicted_spot_vm_in_a_flexible_set_is_stopped_not_gone() {
    let mut w = World::new();
    w.arm_page_size = 2;
    w.add_scale_set("vmss-flex", "Flexible", &[(0, "Succeeded")], &[(0, 5)]);
    let mut names: Vec<String> = (0..5)
        .map(|i| w.add_instance("vmss-flex", i, &[(0, "Succeeded")]))
        .collect();
    // Flexible computer names end in random characters: the output lists them in name order.
    names.sort();
    for n in &names {
        w.add_target(n, 0);
    }
    // Evicted with the default policy: deallocated, and still Succeeded.
    let spot = w.vm_mut(&names[4]);
    spot.spot = true;
    spot.power = vec![(0, "deallocated".into())];
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_SCALESET_NAME", "vmss-flex")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(list(run.var("VMSSDeploymentTargetNames")), &names[..4]);
    assert_eq!(run.var("VMSSStoppedTargetNames"), names[4]);
    assert!(deleted(&sim).is_empty());
    let record = record_json(&run);
    assert_eq!(decision(&record, &names[4]), "stopped", "kept, not gone");
    // The filtered list's nextLinks carry the filter unencoded and a token with `!` and `/`.
    let pages: Vec<_> = vm_list_requests(&sim)
        .into_iter()
        .filter(|r| r.query.contains("skiptoken"))
        .collect();
    assert!(!pages.is_empty());
    assert!(
        pages.iter().all(|r| r.query.contains("filter")),
        "{pages:?}"
    );
}

#[test]
fn targets_of_another_scale_set_and_of_plain_vms_are_never_removed() {
    let mut w = settled_set(2);
    // Another scale set in the same environment and roles, with its own prefix.
    w.add_scale_set("vmss-api", "Uniform", &[(0, "Succeeded")], &[(0, 1)]);
    w.scale_set_mut("vmss-api").profile = SimProfile::Generalized("api".into());
    let api = w.add_instance("vmss-api", 0, &[(0, "Succeeded")]);
    let api_live = w.add_target(&api, 0);
    let api_stale = w.add_target(&computer_name("api", 9), 0);
    let plain = w.add_target("legacy-web-01.corp.example.com", 0);
    let stale = w.add_target(&computer_name("web", 9), 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(deleted(&sim), vec![stale], "only our prefix's stale target");
    for id in [&api_live, &api_stale, &plain] {
        assert!(alive(&sim, id));
    }
    let decided = decisions(&run);
    for name in ["api000000", "api000009", "legacy-web-01.corp.example.com"] {
        assert_eq!(decided[name], "foreign", "{name}");
    }
    assert_eq!(decided[computer_name("web", 9).as_str()], "removed");
    let foreign = warning_with(&run, "match no VM of the scale set(s)");
    assert!(
        foreign.contains("api000000")
            && foreign.contains("legacy-web-01.corp.example.com")
            && foreign.contains("web?????? (vmss-web)"),
        "{foreign}"
    );
    assert_eq!(
        list(run.var("VMSSDeploymentTargetNames")),
        ["web000000", "web000001"]
    );
}

#[test]
fn several_scale_sets_in_two_groups_are_waited_for_and_reconciled_together() {
    let mut w = settled_set(2);
    w.add_resource_group("rg-api");
    w.add_scale_set(
        "vmss-api",
        "Uniform",
        &[(0, "Updating"), (3, "Succeeded")],
        &[(0, 2)],
    );
    let set = w.scale_set_mut("vmss-api");
    set.profile = SimProfile::Generalized("api".into());
    set.resource_group = "rg-api".into();
    let a0 = w.add_instance("vmss-api", 0, &[(0, "Succeeded")]);
    let a1 = w.add_instance("vmss-api", 1, &[(0, "Creating"), (5, "Succeeded")]);
    w.add_target(&a0, 0);
    w.add_target(&a1, 4);
    let web_stale = w.add_target(&computer_name("web", 30), 0);
    let api_stale = w.add_target(&computer_name("api", 30), 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_SCALESET_NAME", "vmss-web, rg-api/vmss-api")]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.var("VMSSTimedOut"), "False");
    assert_eq!(
        list(run.var("VMSSDeploymentTargetNames")),
        ["api000000", "api000001", "web000000", "web000001"]
    );
    let mut gone = deleted(&sim);
    gone.sort();
    assert_eq!(gone, vec![web_stale, api_stale]);
    let record = record_json(&run);
    for (set, prefix) in [("vmss-web", "web"), ("vmss-api", "api")] {
        let row = target_row(&record, &computer_name(prefix, 30));
        assert_eq!(row["decision"], "removed");
        assert_eq!(
            row["why"],
            format!("no VM of scale set {set} has this name")
        );
    }
    assert!(
        run.stdout.contains("Waiting up to 30 seconds for 2 scale sets (vmss-web in rg-web, vmss-api in rg-api) to settle."),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("vmss-api: it is Updating")
            && run
                .stdout
                .contains("vmss-api: 1 instance(s) still changing: api000001 (Creating)"),
        "the checks name the scale set that is still changing\n{}",
        run.stdout
    );
    let w = sim.world();
    assert!(w.requests(Service::Arm).iter().any(|r| r.path.contains(
        "/resourceGroups/rg-api/providers/Microsoft.Compute/virtualMachineScaleSets/vmss-api"
    )));
}

#[test]
fn a_timeout_names_the_scale_set_that_did_not_settle() {
    let mut w = settled_set(1);
    w.add_scale_set("vmss-api", "Uniform", &[(0, "Updating")], &[(0, 1)]);
    w.scale_set_mut("vmss-api").profile = SimProfile::Generalized("api".into());
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("VMSS_SCALESET_NAME", "vmss-web,vmss-api"),
            ("VMSS_TIMEOUT_VALUE", "0.005"),
            ("VMSS_TIMEOUT_ERRORHANDLE", "Error"),
        ],
    );
    run.assert_failed(
        1,
        "2 scale sets (vmss-web in rg-web, vmss-api in rg-web) did not settle",
    );
    run.assert_failed(1, "(vmss-api: it is Updating)");
    assert!(deleted(&sim).is_empty());
}

#[test]
fn a_specialized_image_names_its_vms_in_the_instance_view_and_lends_no_prefix() {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 2)]);
    w.scale_set_mut(SCALE_SET).profile = SimProfile::Specialized;
    let names: Vec<String> = (0..2)
        .map(|i| w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]))
        .collect();
    let ids: Vec<String> = names.iter().map(|n| w.add_target(n, 0)).collect();
    let unmatched_name = computer_name("web", 20);
    let unmatched = w.add_target(&unmatched_name, 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    // Matched by the instance view's computerName, so output, not kept as unverified.
    assert_eq!(list(run.var("VMSSDeploymentTargetIds")), ids);
    // No OS profile, so no prefix: an unmatched target is kept, and said so.
    assert!(deleted(&sim).is_empty());
    assert!(alive(&sim, &unmatched));
    let record = record_json(&run);
    assert_eq!(decision(&record, &unmatched_name), "foreign");
    let kept = warning_with(&run, "no computer name prefix is known");
    assert!(kept.contains(&unmatched_name), "{kept}");
}

#[test]
fn an_empty_listing_removes_nothing_unless_azure_reports_capacity_0() {
    // A Flexible set without a VM profile: no SKU, no capacity, no VMs listed.
    let mut w = World::new();
    w.add_scale_set("vmss-flex", "Flexible", &[(0, "Succeeded")], &[(0, 0)]);
    w.scale_set_mut("vmss-flex").profile = SimProfile::None;
    let target = w.add_target(&computer_name("web", 1), 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_SCALESET_NAME", "vmss-flex")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(deleted(&sim).is_empty());
    assert!(alive(&sim, &target));
    let record = record_json(&run);
    assert_eq!(decision(&record, &computer_name("web", 1)), "foreign");
    warning_with(&run, "listed no VMs and reports no capacity");

    // Scaled in to capacity 0: every target of the set is stale.
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 0)]);
    let stale = w.add_target(&computer_name("web", 1), 0);
    let other = w.add_target("db-like-name", 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(deleted(&sim), vec![stale]);
    assert!(alive(&sim, &other));
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "False");
    let decided = decisions(&run);
    assert_eq!(decided[computer_name("web", 1).as_str()], "removed");
    assert_eq!(decided["db-like-name"], "foreign");
}

#[test]
fn a_ready_vm_without_a_target_is_reported_as_unregistered() {
    let mut w = settled_set(2);
    let lonely = w.add_instance(SCALE_SET, 2, &[(0, "Succeeded")]);
    // Still creating: not yet expected to have registered.
    w.add_instance(SCALE_SET, 3, &[(0, "Creating")]);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_TIMEOUT_VALUE", "0.002")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSUnregisteredInstanceNames"), lonely);
    let warning = warning_with(&run, "have no deployment target in scope");
    assert!(
        warning.contains(&format!("{lonely} (vmss-web)"))
            && warning.contains("custom script extension"),
        "{warning}"
    );
}

#[test]
fn a_disabled_target_is_never_output_but_removed_when_its_vm_is_gone() {
    let mut w = settled_set(2);
    let c = w.add_instance(SCALE_SET, 2, &[(0, "Succeeded"), (1, "Deleting")]);
    let dying = w.add_target(&c, 0);
    w.machine_mut(&dying).disabled = true;
    let asleep = w.target_id("web000001").unwrap();
    w.machine_mut(&asleep).disabled = true;
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDeploymentTargetNames"), "web000000");
    assert_eq!(deleted(&sim), vec![dying]);
    assert!(alive(&sim, &asleep));
    assert_eq!(run.var("VMSSUnregisteredInstanceNames"), "");
    let decided = decisions(&run);
    assert_eq!(decided["web000001"], "disabled", "left out of the output");
    assert_eq!(decided[c.as_str()], "removed", "disabled, and its VM gone");
}

#[test]
fn tenant_tags_and_participation_decide_which_targets_a_run_may_touch() {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 6)]);
    let names: Vec<String> = (0..6)
        .map(|i| w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]))
        .collect();
    w.add_tenant("Tenants-1", &["Region/West", "Tier/Gold"]);
    // Linked to Tenants-1 by a tag only.
    let by_tag = w.add_target(&names[0], 0);
    let m = w.machine_mut(&by_tag);
    m.participation = "Tenanted".into();
    m.tenant_tags = vec!["Region/West".into()];
    // Both kinds of run, linked by id.
    let both = w.add_target_with(&names[1], 0, &[ROLE], &["Tenants-1"]);
    w.machine_mut(&both).participation = "TenantedOrUntenanted".into();
    // Untenanted only.
    let untenanted = w.add_target(&names[2], 0);
    // Another tenant's, by tag.
    let theirs = w.add_target(&names[3], 0);
    let m = w.machine_mut(&theirs);
    m.participation = "Tenanted".into();
    m.tenant_tags = vec!["Region/East".into()];
    // Tags in two tag sets: OR within Region, AND with Tier. This one is Tenants-1's...
    let two_sets = w.add_target(&names[4], 0);
    let m = w.machine_mut(&two_sets);
    m.participation = "Tenanted".into();
    m.tenant_tags = vec![
        "Region/East".into(),
        "Region/West".into(),
        "Tier/Gold".into(),
    ];
    // ...this one is not: the right region, the wrong tier.
    let wrong_tier = w.add_target(&names[5], 0);
    let m = w.machine_mut(&wrong_tier);
    m.participation = "Tenanted".into();
    m.tenant_tags = vec!["Region/West".into(), "Tier/Silver".into()];
    // Stale targets of each kind.
    let stale_tagged = w.add_target(&computer_name("web", 20), 0);
    let m = w.machine_mut(&stale_tagged);
    m.participation = "Tenanted".into();
    m.tenant_tags = vec!["Region/West".into()];
    let stale_untenanted = w.add_target(&computer_name("web", 21), 0);
    let sim = Sim::start(w);

    let run = run_step(&sim, &[("OCTOPUS_DEPLOYMENT_TENANT_ID", "Tenants-1")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        list(run.var("VMSSDeploymentTargetIds")),
        [by_tag.as_str(), both.as_str(), two_sets.as_str()]
    );
    assert_eq!(deleted(&sim), vec![stale_tagged.clone()]);
    assert!(alive(&sim, &wrong_tier));
    let decided = decisions(&run);
    for name in [&names[2], &names[3], &names[5], &computer_name("web", 21)] {
        assert_eq!(decided[name.as_str()], "outOfScope", "{name}");
    }
    assert_eq!(decided[computer_name("web", 20).as_str()], "removed");
    // The listing was not narrowed by tenant id, which would miss the tag-linked targets.
    assert!(sim
        .world()
        .requests(Service::Octopus)
        .iter()
        .filter(|r| r.path.ends_with("/machines"))
        .all(|r| !r.query.contains("tenantIds")));

    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        list(run.var("VMSSDeploymentTargetIds")),
        [both.as_str(), untenanted.as_str()]
    );
    assert_eq!(deleted(&sim), vec![stale_tagged, stale_untenanted]);
    assert!(alive(&sim, &theirs) && alive(&sim, &wrong_tier));
    let record = record_json(&run);
    for name in [&names[0], &names[3], &names[4], &names[5]] {
        let row = target_row(&record, name);
        assert_eq!(row["decision"], "outOfScope", "{name}");
        assert_eq!(row["why"], "takes part in tenanted runs only", "{name}");
    }
}

#[test]
fn every_page_of_targets_keeps_the_filters_octopus_rebuilds_its_links_from() {
    // 1,100 targets in pages of 500: page 2 and 3 come from Page.Next links that Octopus
    // rebuilds from the parameters its route declares.
    let sim = Sim::start(stories::fleet(1000, 100));
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(deleted(&sim).len(), 100);
    let w = sim.world();
    let pages: Vec<_> = w
        .requests(Service::Octopus)
        .into_iter()
        .filter(|r| r.path.ends_with("/machines"))
        .collect();
    assert_eq!(pages.len(), 3);
    for p in pages {
        for needed in [
            "environmentIds=Environments-1",
            "roles=web-server",
            "take=500",
        ] {
            assert!(
                p.query.contains(needed),
                "{needed} missing from {}",
                p.query
            );
        }
    }
}

#[test]
fn a_neighbour_whose_prefix_extends_ours_keeps_its_targets() {
    // Our scale set is `web`; a neighbour `webapi`, not one of the step's, shares the roles.
    let mut w = settled_set(2);
    let neighbour: Vec<String> = ["webapi000001", "WEBAPI00000A.corp.example.com"]
        .iter()
        .map(|n| w.add_target(n, 0))
        .collect();
    // Names that start with our prefix without having the shape of our computer names.
    let odd: Vec<String> = ["web", "web0000011", "web-00001"]
        .iter()
        .map(|n| w.add_target(n, 0))
        .collect();
    let stale = w.add_target(&computer_name("web", 9), 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(deleted(&sim), vec![stale], "only web + 6 characters goes");
    for id in neighbour.iter().chain(&odd) {
        assert!(alive(&sim, id), "{id} kept");
    }
    let decided = decisions(&run);
    for name in [
        "webapi000001",
        "WEBAPI00000A.corp.example.com",
        "web",
        "web0000011",
        "web-00001",
    ] {
        assert_eq!(decided[name], "foreign", "{name}");
    }
    assert_eq!(decided[computer_name("web", 9).as_str()], "removed");
    let foreign = warning_with(&run, "match no VM of the scale set(s)");
    for name in ["webapi000001", "web0000011", "web-00001"] {
        assert!(foreign.contains(name), "{foreign}");
    }
    assert!(foreign.contains("web?????? (vmss-web)"), "{foreign}");
}

#[test]
fn two_of_the_steps_scale_sets_with_one_prefix_are_warned_about() {
    let mut w = settled_set(1);
    w.add_scale_set("vmss-web-2", "Uniform", &[(0, "Succeeded")], &[(0, 1)]);
    w.add_instance("vmss-web-2", 5, &[(0, "Succeeded")]);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_SCALESET_NAME", "vmss-web, vmss-web-2")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let w = warning_with(&run, "share the computer name prefix web");
    assert!(w.contains("vmss-web and vmss-web-2"), "{w}");
}

/// Three VMs of a specialized image all report the source VM's computer name.
fn golden(third: &str) -> World {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 3)]);
    w.scale_set_mut(SCALE_SET).profile = SimProfile::SpecializedCopies("golden-web".into());
    w.add_instance(SCALE_SET, 0, &[(0, "Succeeded")]);
    w.add_instance(SCALE_SET, 1, &[(0, "Succeeded")]);
    w.add_instance(SCALE_SET, 2, &[(0, third)]);
    w
}

#[test]
fn vms_sharing_one_computer_name_keep_their_target_out_until_every_one_is_ready() {
    let mut w = golden("Creating");
    let shared = w.add_target("golden-web", 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_TIMEOUT_VALUE", "0.02")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSTimedOut"), "True");
    assert!(deleted(&sim).is_empty(), "a shared name is never removed");
    assert!(alive(&sim, &shared));
    assert_eq!(run.var("VMSSDeploymentTargetIds"), "");
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "False");
    assert_eq!(decisions(&run)["golden-web"], "sharedName");
    let warning = warning_with(&run, "reported by several VMs at once");
    for text in [
        "golden-web",
        "vmss-web_0",
        "vmss-web_1",
        "vmss-web_2",
        "generalized image",
    ] {
        assert!(warning.contains(text), "{text}: {warning}");
    }

    // Every VM with the name is ready and running: its one target is output.
    let mut w = golden("Succeeded");
    let shared = w.add_target("golden-web", 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDeploymentTargetIds"), shared);
    assert!(deleted(&sim).is_empty());
    assert_eq!(decisions(&run)["golden-web"], "output");
    warning_with(&run, "reported by several VMs at once");
}
