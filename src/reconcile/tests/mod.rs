//! The membership rules of the contract, one test each, without HTTP.

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

/// The ids of the targets the plan decided so, in Octopus's order.
fn with(p: &Plan, decision: Decision) -> Vec<&str> {
    p.decided(move |d| *d == decision)
        .map(|d| d.target.id.as_str())
        .collect()
}

/// Why each target whose absence is unproven was kept.
fn unproven(p: &Plan) -> Vec<&Unproven> {
    p.targets
        .iter()
        .filter_map(|d| match &d.decision {
            Decision::Unproven(why) => Some(why),
            _ => None,
        })
        .collect()
}

fn removed(p: &Plan) -> Vec<&str> {
    p.removals().map(|(t, _)| t.id.as_str()).collect()
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
    assert_eq!(with(&p, Decision::Output), ["Machines-aa"]);
    assert_eq!(with(&p, Decision::Pending), ["Machines-bb", "Machines-gg"]);
    assert_eq!(with(&p, Decision::Failed), ["Machines-dd"]);
    assert_eq!(with(&p, Decision::Stopped), ["Machines-ee", "Machines-ff"]);
    assert_eq!(
        p.removals().collect::<Vec<_>>(),
        vec![
            (
                &targets[2],
                &RemovalReason::InstanceGone {
                    instance: "vmss_web0000cc".into(),
                    state: "Deleting".into()
                }
            ),
            (
                &targets[7],
                &RemovalReason::NoInstance {
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
    assert_eq!(with(&p, Decision::Output), ["Machines-1"]);
    // Neither has the shape of one of web's computer names, so neither is removed.
    assert!(p.removals().next().is_none());
    assert_eq!(with(&p, Decision::Foreign), ["Machines-2", "Machines-3"]);
    let unregistered: Vec<&str> = p.unregistered.iter().map(|i| i.display_name()).collect();
    assert_eq!(unregistered, ["web000002"]);
}

#[test]
fn a_live_instance_outranks_a_dying_one_with_the_same_name() {
    let instances = [inst("a", "Deleting", ""), up("A")];
    let p = plan(&instances, &[target("Machines-1", "a")], &scope(), &web());
    assert_eq!(with(&p, Decision::Output), ["Machines-1"]);
    assert!(p.removals().next().is_none());
    // Two that are not gone share the name: neither decides alone (see shared names).
    for other in [
        inst("a", "Failed", "running"),
        inst("a", "Succeeded", "deallocated"),
    ] {
        let instances = [other.clone(), up("A")];
        let p = plan(&instances, &[target("Machines-1", "a")], &scope(), &web());
        assert!(
            with(&p, Decision::Output).is_empty() && p.removals().next().is_none(),
            "{other:?}"
        );
        assert_eq!(with(&p, Decision::SharedName).len(), 1, "{other:?}");
    }
    // A failed VM outranks a deleting namesake: its target is kept, not removed.
    let instances = [inst("a", "Deleting", ""), inst("a", "Failed", "running")];
    let p = plan(&instances, &[target("Machines-1", "a")], &scope(), &web());
    assert_eq!(with(&p, Decision::Failed).len(), 1);
    assert!(p.removals().next().is_none());
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
    assert_eq!(with(&p, Decision::Foreign), ["Machines-3", "Machines-4"]);
    // With no prefix known (a specialized image, an empty listing), nothing unmatched goes.
    let p = plan(&instances, &targets, &scope(), &[]);
    assert!(p.removals().next().is_none());
    assert_eq!(with(&p, Decision::Foreign).len(), 4);
    // An empty prefix is no prefix.
    let blank = [Prefix {
        scale_set: SET.into(),
        set_id: SET.into(),
        prefix: " ".into(),
    }];
    assert!(removed(&plan(&instances, &targets, &scope(), &blank)).is_empty());
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
    assert_eq!(
        with(&p, Decision::Foreign),
        ["Machines-2", "Machines-3", "Machines-5"]
    );
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
    assert_eq!(with(&p, Decision::Output), ["Machines-1"]);
    assert_eq!(p.shared_names.len(), 1);
    assert_eq!(p.shared_names[0].instances.len(), 2);

    // One is deleting, one creating, one running: not output, not removed, kept as shared.
    let mixed = [
        vm("1", "Deleting", "running"),
        vm("2", "Creating", ""),
        vm("3", "Succeeded", "running"),
    ];
    let p = plan(&mixed, &t, &scope(), &prefixes);
    assert!(
        with(&p, Decision::Output).is_empty()
            && p.removals().next().is_none()
            && with(&p, Decision::Pending).is_empty()
    );
    assert_eq!(with(&p, Decision::SharedName).len(), 1);
    assert_eq!(with(&p, Decision::SharedName)[0], "Machines-1");
    let names: Vec<&str> = p.shared_names[0]
        .instances
        .iter()
        .map(|i| i.name.as_str())
        .collect();
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
    assert!(with(&p, Decision::Output).is_empty() && with(&p, Decision::Failed).is_empty());
    assert_eq!(with(&p, Decision::SharedName).len(), 1);

    // Once at most one such VM is left, the name matches as usual.
    let one_left = [
        vm("1", "Deleting", ""),
        vm("2", "Deleting", ""),
        vm("3", "Succeeded", "running"),
    ];
    let p = plan(&one_left, &t, &scope(), &prefixes);
    assert_eq!(with(&p, Decision::Output), ["Machines-1"]);
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
    assert_eq!(with(&p, Decision::Output), ["Machines-1", "Machines-2"]);
    assert_eq!(
        *p.removals().next().expect("one removal").1,
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
    assert_eq!(with(&p, Decision::Output), ["Machines-1"]);
    assert_eq!(with(&p, Decision::Unverified), ["Machines-2"]);
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
    assert!(with(&p, Decision::Output).is_empty());
    assert_eq!(with(&p, Decision::Disabled), ["Machines-1"]);
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
    assert_eq!(p.out_of_scope(), 1);
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
    assert_eq!(p.out_of_scope(), 3);
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
    assert_eq!(with(&p, Decision::Unverified), ["Machines-1"]);
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
    assert_eq!(with(&p, Decision::Pooled).len(), 1);
    assert!(
        with(&p, Decision::Pending).is_empty()
            && p.removals().next().is_none()
            && p.unregistered.is_empty()
    );
}

mod proofs;
