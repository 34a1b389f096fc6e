//! Octopus's side of "every proof fails closed" (issue 23): only a target's own `Created` event
//! makes it new, the Octopus URL is checked as the requests will use it, and a target listing
//! that changed while it was read is read again until one pass is whole.

mod common;

use common::*;
use time::Duration as Span;
use vmss_check::sim::stories::SCALE_SET;
use vmss_check::sim::{Paging, Sim, World, NOW};

const EXCLUDE_OLD: &[(&str, &str)] = &[("VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT", "Yes")];

/// A settled Uniform set of `n` instances, without targets.
fn instances(n: u32) -> (World, Vec<String>) {
    let mut w = World::new();
    w.add_scale_set(
        SCALE_SET,
        "Uniform",
        &[(0, "Succeeded")],
        &[(0, i64::from(n))],
    );
    let names = (0..n)
        .map(|i| w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]))
        .collect();
    (w, names)
}

// ---- Item 5: only a target's own creation makes it new --------------------------------------

#[test]
fn a_tenant_created_40_s_ago_does_not_make_an_archived_target_new() {
    let (mut w, names) = instances(2);
    // Two years old: Octopus archived its `Created` event (and every other) long ago.
    let old = w.add_target(&names[0], 0);
    let new = w.add_target_created(&names[1], 0, NOW - Span::seconds(30));
    // A tenant created 40 s before this run was queued, connected to the old target: its
    // `Created` event is about the tenant and lists the target among its documents.
    w.add_tenant_created("Tenants-7", NOW - Span::seconds(40), &[&old]);
    let sim = Sim::start(w);
    let run = run_step(&sim, EXCLUDE_OLD);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDeploymentTargetIds"), new);
    assert_eq!(run.var("VMSSDeploymentTargetNames"), names[1]);
    assert_eq!(run.var("VMSSPreExistingTargetNames"), names[0]);
    let decided = decisions(&run);
    assert_eq!(decided[&names[0]], "preExisting");
    assert_eq!(decided[&names[1]], "output");
    assert!(deleted(&sim).is_empty());
}

#[test]
fn old_targets_without_a_created_event_of_their_own_are_not_output() {
    let (mut w, names) = instances(3);
    let ids: Vec<String> = names.iter().map(|n| w.add_target(n, 0)).collect();
    // None of the three has a `Created` event left. Recent events mention two of them (a tenant
    // connected to both, a certificate bound to one), and the third was modified a minute ago
    // (a health check changed its status): none of it is a creation of theirs.
    w.add_tenant_created("Tenants-8", NOW - Span::seconds(50), &[&ids[0], &ids[1]]);
    w.add_event(
        "Created",
        NOW - Span::seconds(20),
        &["Certificates-4", &ids[1], "Environments-1"],
    );
    w.add_event("Modified", NOW - Span::seconds(60), &[&ids[2]]);
    let sim = Sim::start(w);
    let run = run_step(&sim, EXCLUDE_OLD);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDeploymentTargetIds"), "");
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "False");
    assert_eq!(run.var("VMSSPreExistingTargetNames"), names.join(","));
    let decided = decisions(&run);
    for name in &names {
        assert_eq!(decided[name], "preExisting", "{name}");
    }
}

#[test]
fn a_target_created_inside_the_window_is_still_new() {
    let (mut w, names) = instances(3);
    // Its own `Created` event 2 minutes before the run was queued (inside the 3-minute window),
    // listing its environment and machine policy after it.
    let a = w.add_target(&names[0], 0);
    w.add_event(
        "Created",
        NOW - Span::minutes(2),
        &[&a, "Environments-1", "MachinePolicies-1"],
    );
    // Registered after the run was queued, during the wait.
    let b = w.add_target_created(&names[1], 0, NOW + Span::seconds(20));
    // Created 10 minutes ago: outside the window.
    w.add_target_created(&names[2], 0, NOW - Span::minutes(10));
    // A tenant created since, connected to all three: it changes nothing.
    let c = w.target_id(&names[2]).unwrap();
    w.add_tenant_created("Tenants-9", NOW - Span::seconds(10), &[&a, &b, &c]);
    let sim = Sim::start(w);
    let run = run_step(&sim, EXCLUDE_OLD);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDeploymentTargetIds"), format!("{a},{b}"));
    assert_eq!(run.var("VMSSPreExistingTargetNames"), names[2]);
    let decided = decisions(&run);
    assert_eq!(decided[&names[0]], "output");
    assert_eq!(decided[&names[1]], "output", "registered during the wait");
    assert_eq!(decided[&names[2]], "preExisting");
    // Still two event queries: the recent creations, then whether a candidate is older.
    let events = octopus_paths(&sim)
        .into_iter()
        .filter(|p| p.contains("/events"))
        .count();
    assert_eq!(events, 2);
}

// ---- Item 6: the URL is checked as the requests will use it ---------------------------------

#[test]
fn a_password_in_the_octopus_url_is_refused_however_it_is_written() {
    let (mut w, names) = instances(1);
    w.add_target(&names[0], 0);
    let sim = Sim::start(w);
    // The simulator's own address: a URL let through would reach it.
    let host = sim
        .octopus_url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    // Each of these is `http://u:hunter2pw@host/` to the WHATWG URL parser reqwest uses.
    let forms = [
        format!("http:\\\\u:hunter2pw@{host}"),
        format!("http:u:hunter2pw@{host}"),
        format!("http:/u:hunter2pw@{host}"),
        format!("http:/\t/u:hunter2pw@{host}"),
        format!("https://u:hunter2pw@{host}"),
        format!("HTTP:\\/u:hunter2pw@{host}/octopus"),
        format!("http:hunter2pw@{host}"),
    ];
    for form in &forms {
        let run = run_step(&sim, &[("VMSS_OCTOPUS_URL", form)]);
        run.assert_failed(2, "VMSS.Octopus.Url must not carry a user name or password");
        assert!(
            !run.stdout.contains("hunter2pw") && !run.stderr.contains("hunter2pw"),
            "{form:?} echoed the password:\n{}\n{}",
            run.stdout,
            run.stderr
        );
        let w = sim.world();
        assert!(w.seen.is_empty(), "{form:?} sent requests: {:?}", w.seen);
    }
}

// ---- Item 3 (Octopus's half): a listing that changed while it was read ----------------------

/// A settled Uniform set of 630 VMs whose 600 oldest have registered; the 30 newest (instance
/// ids 0-29, freed by an earlier scale-in and taken again) have Tentacles still to register.
/// Their names sort first, so each registration lands on page 1 and shifts every later page.
fn scale_out_with_late_tentacles() -> (World, Vec<String>) {
    let mut w = World::new();
    w.arm_page_size = 100;
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 630)]);
    let mut late = Vec::new();
    for i in 0..630 {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]);
        let id = w.add_target(&c, if i < 30 { u64::MAX } else { 0 });
        if i < 30 {
            late.push(id);
        }
    }
    (w, late)
}

fn target_pages(sim: &Sim) -> usize {
    octopus_paths(sim)
        .iter()
        .filter(|p| p.ends_with("/machines"))
        .count()
}

#[test]
fn tentacles_registering_through_several_passes_are_all_listed() {
    let (mut w, late) = scale_out_with_late_tentacles();
    // 5 register after each of the first 6 pages: the first three passes (two pages each) all
    // come up short of the count they end with.
    w.faults.registration_storm = Some((5, 6));
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let ids = list(run.var("VMSSDeploymentTargetIds"));
    assert_eq!(ids.len(), 630);
    assert!(late.iter().all(|id| ids.contains(&id.as_str())));
    assert_eq!(run.var("VMSSUnregisteredInstanceNames"), "");
    assert!(deleted(&sim).is_empty());
    let pages = target_pages(&sim);
    assert!(
        pages > 4,
        "read again until one pass was whole: {pages} pages"
    );
    assert!(pages <= 10, "and no more: {pages} pages");
    assert!(
        run.took < patience(std::time::Duration::from_secs(30)),
        "took {:?}",
        run.took
    );
}

#[test]
fn a_registration_storm_that_never_settles_fails_naming_the_paging() {
    // A small fleet: the wait's one check is quick even under an emulator, and the step's
    // time goes to the target listing.
    let mut w = settled_set(10);
    // More than a page of targets (Octopus pages by 500): registrations shift the pages.
    for i in 0..600 {
        w.add_target(&format!("other-{i:03}"), 0);
    }
    // More Tentacles than the step's time allows to read: 5 after every page, for ever.
    for i in 0..400 {
        w.add_target(&format!("aaa-storm-{i:03}"), u64::MAX);
    }
    w.faults.registration_storm = Some((5, usize::MAX));
    let sim = Sim::start(w);
    // The step's budget: a 0.6 s wait, then 6 s past it (room for the wait's one check, even
    // under an emulator).
    let run = run_step(
        &sim,
        &[("VMSS_TIMEOUT_VALUE", "0.01"), ("VMSS_CHECK_OVERRUN", "6")],
    );
    run.assert_failed(1, "paging");
    let message = run.result_message().unwrap();
    assert!(message.contains("list deployment targets"), "{message}");
    assert!(
        message.contains("it kept changing through") || message.contains("ran out during read"),
        "{message}"
    );
    assert!(message.contains("Nothing was removed"), "{message}");
    assert!(deleted(&sim).is_empty());
    assert!(
        target_pages(&sim) >= 3,
        "it was read again while time allowed"
    );
    assert!(
        run.took < patience(std::time::Duration::from_secs(15)),
        "took {:?}",
        run.took
    );
}

#[test]
fn a_target_page_without_its_list_fails_the_listing() {
    let (mut w, _) = scale_out_with_late_tentacles();
    // A stale target: it would be removed on a whole listing.
    w.add_target("web0000zz", 0);
    w.faults.octopus_paging = Some(Paging::WithoutList);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    run.assert_failed(1, "Octopus's paging cut the listing short");
    let message = run.result_message().unwrap();
    assert!(message.contains("without its list"), "{message}");
    assert!(message.contains("Nothing was removed"), "{message}");
    assert!(deleted(&sim).is_empty());
    assert_eq!(target_pages(&sim), 2, "no page read again");
}
