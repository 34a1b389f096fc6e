//! The proof of absence and Azure's own replacements, without HTTP.

use super::*;
use std::collections::{HashMap, HashSet};

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
    assert!(needed.is_empty() && p.removals().next().is_none());
    assert!(matches!(unproven(&p)[0], Unproven::NoEarlierListing { .. }));
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
    assert!(matches!(unproven(&p)[0], Unproven::ListedBefore { .. }));
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
    let named =
        |n: &str, v: &str| -> HashMap<String, String> { [(n.to_string(), v.to_string())].into() };
    let p = evidence(None, Ok(named("web0000aa", "pool-1")));
    assert_eq!(removed(&p), ["Machines-2"]);
    assert_eq!(
        *unproven(&p)[0],
        Unproven::InPool {
            pool: "pool-1".into()
        }
    );
    let p = evidence(Some(Ok(named("web0000bb", "vm-b"))), Ok(HashMap::new()));
    assert_eq!(removed(&p), ["Machines-1"]);
    assert_eq!(*unproven(&p)[0], Unproven::InGroup { vm: "vm-b".into() });
    let p = evidence(Some(Err("no".into())), Ok(HashMap::new()));
    assert!(p.removals().next().is_none() && unproven(&p).len() == 2);
    let p = evidence(Some(Ok(HashMap::new())), Ok(HashMap::new()));
    assert_eq!(removed(&p), ["Machines-1", "Machines-2"]);
    // No evidence at all for a set that needed it: kept.
    let mut p = fresh();
    prove_by_listings(&mut p, &web(), &[(SET.to_string(), HashSet::new())].into());
    prove_by_reads(&mut p, &web(), &HashMap::new());
    assert!(p.removals().next().is_none());
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
    assert_eq!(with(&p, Decision::Output), ["Machines-3"]);
    assert_eq!(with(&p, Decision::RepairDue).len(), 1);
    assert_eq!(with(&p, Decision::RepairDue)[0], "Machines-1");
    assert!(p.removals().next().is_none() && p.unregistered.is_empty());
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
        assert!(with(&p, Decision::Failed).is_empty() && with(&p, Decision::Output).is_empty());
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
