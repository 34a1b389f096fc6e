//! The step, end to end: the built binary against the simulated Azure AD, ARM and Octopus.

mod common;

use common::*;
use std::time::Duration;
use vmss_check::sim::stories::{self, computer_name, SCALE_SET};
use vmss_check::sim::{Service, Sim, World};

#[test]
fn scale_out_story_waits_removes_the_dead_and_outputs_the_living() {
    let world = stories::scale_out();
    let extras = [
        world.target_id("web00000c").unwrap(),
        world.target_id("web00000d").unwrap(),
    ];
    let stale = world.target_id(&computer_name("web", 35)).unwrap();
    let db = world.target_id("db000001").unwrap();
    let legacy = world.target_id("legacy-web-01").unwrap();
    let sim = Sim::start(world);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let mut gone = deleted(&sim);
    gone.sort();
    assert_eq!(gone, vec![extras[0].clone(), extras[1].clone(), stale]);
    assert!(
        sim.world().machines.iter().any(|m| m.id == db),
        "the db target is out of scope"
    );
    assert!(
        sim.world().machines.iter().any(|m| m.id == legacy),
        "a plain VM's target sharing the role is never removed"
    );

    assert_eq!(run.var("VMSSHasServersToDeployTo"), "True");
    assert_eq!(run.var("VMSSDuplicateRun"), "False");
    let names = list(run.var("VMSSDeploymentTargetNames"));
    // 12 VMs, one of them Failed (kept, not output).
    assert_eq!(names.len(), 11);
    assert_eq!(names[0], "web000000.corp.example.com");
    assert!(!names.contains(&"web000003.corp.example.com"));
    assert_eq!(names[10], "web00000b");
    assert_eq!(
        run.var("VMSSFailedTargetNames"),
        "web000003.corp.example.com"
    );
    let ids = list(run.var("VMSSDeploymentTargetIds"));
    let w = sim.world();
    for (id, name) in ids.iter().zip(&names) {
        assert_eq!(
            w.machines.iter().find(|m| m.id == *id).unwrap().name,
            *name,
            "ids and names align"
        );
    }
    drop(w);
    assert_eq!(list(run.var("VMSSRemovedTargetIds")).len(), 3);
    assert_eq!(run.var("VMSSTimedOut"), "False");
    // The record decides as the outputs and the deletions say, each target once; the db
    // target lacks the role, so it is not in it at all.
    let decided = decisions(&run);
    assert_eq!(decided.len(), 16, "{decided:?}");
    assert!(!decided.contains_key("db000001"), "{decided:?}");
    assert_eq!(decided["web000003.corp.example.com"], "failed");
    assert_eq!(decided["legacy-web-01"], "foreign", "kept, never removed");
    for name in ["web00000c", "web00000d", &computer_name("web", 35)] {
        assert_eq!(decided[name], "removed", "{name}");
    }
    for name in &names {
        assert_eq!(decided[*name], "output", "{name}");
    }
    let record = record_json(&run);
    assert_eq!(
        target_row(&record, "web00000c")["why"],
        "its VM vmss-web_12 is Deleting"
    );
    // One token for the whole run; the scale set read once per check (7 checks).
    assert_eq!(count(&sim, Service::AzureAd), 1);
    assert_eq!(sim.world().tick, 7);
    assert_no_secrets(&sim, &run);
}

/// The preflight's Octopus requests: who the key's user is and what it may do here, then key,
/// space and environment in one read, then the target tag sets (for a warning only).
const PREFLIGHT: [&str; 4] = [
    "GET /api/users/me",
    "GET /api/Spaces-1/users/Users-42/permissions",
    "GET /api/Spaces-1/environments/Environments-1",
    "GET /api/Spaces-1/tagsets/all",
];

#[test]
fn timeout_with_error_fails_and_removes_nothing() {
    let sim = Sim::start(stuck());
    let run = run_step(
        &sim,
        &[
            ("VMSS_TIMEOUT_VALUE", "0.01"),
            ("VMSS_TIMEOUT_ERRORHANDLE", "error"),
        ],
    );
    run.assert_failed(
        1,
        "did not settle within 600 milliseconds (1 instance(s) still changing: web000002 (Creating))",
    );
    assert!(run.result_message().unwrap().contains("VMSS.Timeout.Value"));
    assert!(deleted(&sim).is_empty());
    assert_eq!(
        octopus_paths(&sim),
        PREFLIGHT,
        "Octopus is asked nothing but the preflight"
    );
    // The deadline is one budget: 0.6 s plus one check, not minutes.
    assert!(run.took < Duration::from_secs(15), "took {:?}", run.took);
    assert_no_secrets(&sim, &run);
}

#[test]
fn timeout_with_proceed_leaves_pending_alone_and_removes_the_gone() {
    let world = stuck();
    let pending = world.target_id("web000002").unwrap();
    let stale = world.target_id("web0000zz").unwrap();
    let sim = Sim::start(world);
    let run = run_step(&sim, &[("VMSS_TIMEOUT_VALUE", "0.01")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(deleted(&sim), vec![stale]);
    assert!(sim.world().machines.iter().any(|m| m.id == pending));
    assert_eq!(
        list(run.var("VMSSDeploymentTargetNames")),
        ["web000000", "web000001"]
    );
    assert_eq!(run.var("VMSSPendingTargetNames"), "web000002");
    assert_eq!(run.var("VMSSTimedOut"), "True");
    assert!(run.stdout.contains("##octopus[stdout-warning]"));
    let decided = decisions(&run);
    assert_eq!(
        decided["web000002"], "pending",
        "kept, its VM still changing"
    );
    assert_eq!(decided["web0000zz"], "removed");
}

#[test]
fn scale_set_not_found_fails_naming_the_parameter() {
    let sim = Sim::start(settled_set(2));
    let run = run_step(&sim, &[("VMSS_SCALESET_NAME", "vmss-wbe")]);
    run.assert_failed(
        1,
        "Scale set 'vmss-wbe' was not found in resource group 'rg-web'",
    );
    assert!(run.result_message().unwrap().contains("VMSS.ScaleSet.Name"));
    assert!(deleted(&sim).is_empty());
    assert_eq!(octopus_paths(&sim), PREFLIGHT);
}

#[test]
fn resource_group_not_found_fails_naming_the_parameter() {
    let sim = Sim::start(settled_set(2));
    let run = run_step(&sim, &[("VMSS_RESOURCEGROUP_NAME", "rg-nope")]);
    run.assert_failed(1, "Resource group 'rg-nope' was not found");
    assert!(run
        .result_message()
        .unwrap()
        .contains("VMSS.ResourceGroup.Name"));
    assert!(deleted(&sim).is_empty());
}

#[test]
fn wrong_client_secret_fails_with_azure_ads_reason_and_no_secret() {
    let sim = Sim::start(settled_set(2));
    let run = run_step(&sim, &[("AZURE_CLIENT_SECRET", "wrong-secret-value")]);
    run.assert_failed(1, "Azure AD rejected the sign-in");
    let msg = run.result_message().unwrap();
    assert!(msg.contains("AADSTS7000215"), "{msg}");
    assert!(msg.contains("VMSS.Azure.Account"), "{msg}");
    assert!(
        !run.stdout.contains("wrong-secret-value") && !run.stderr.contains("wrong-secret-value")
    );
    assert_eq!(count(&sim, Service::Arm), 0);
    assert!(deleted(&sim).is_empty());
    assert_no_secrets(&sim, &run);
}

#[test]
fn wrong_api_key_fails_and_removes_nothing() {
    let mut w = settled_set(2);
    w.add_target("web0000zz", 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_OCTOPUS_APIKEY", "API-WRONGKEY")]);
    run.assert_failed(
        1,
        "Octopus rejected the API key in VMSS.Octopus.ApiKey (HTTP 401",
    );
    assert!(deleted(&sim).is_empty());
    assert!(!run.stdout.contains("API-WRONGKEY"));
    assert_no_secrets(&sim, &run);
}

#[test]
fn bad_inputs_exit_2_naming_the_parameter_before_any_request() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "VMSS_TIMEOUT_VALUE",
            "thirty",
            "VMSS.Timeout.Value must be a number of minutes, got \"thirty\"",
        ),
        (
            "VMSS_TIMEOUT_VALUE",
            "-1",
            "VMSS.Timeout.Value must be between 0 and",
        ),
        (
            "VMSS_TIMEOUT_ERRORHANDLE",
            "Ignore",
            "VMSS.Timeout.ErrorHandle must be Proceed or Error",
        ),
        (
            "VMSS_DUPLICATE_TIMEINMINUTES",
            "3m",
            "VMSS.Duplicate.TimeInMinutes must be a number of minutes",
        ),
        (
            "VMSS_DUPLICATE_HANDLE",
            "Skip",
            "VMSS.Duplicate.Handle must be Proceed or Cancel",
        ),
        (
            "VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT",
            "Maybe",
            "VMSS.OldServers.ExcludeFromOutput must be Yes or No",
        ),
        (
            "VMSS_OLDSERVERS_TIMEINMINUTES",
            "abc",
            "VMSS.OldServers.TimeInMinutes must be a number of minutes",
        ),
        (
            "VMSS_RECONCILE_DRYRUN",
            "perhaps",
            "VMSS.Reconcile.DryRun must be Yes or No",
        ),
        (
            "VMSS_POLL_INTERVAL",
            "0",
            "VMSS.Poll.Interval must be at least 0.1 and at most 3600 seconds",
        ),
        (
            "VMSS_POLL_INTERVAL",
            "-5",
            "VMSS.Poll.Interval must be at least 0.1",
        ),
        (
            "VMSS_POLL_INTERVAL",
            "1e-300",
            "VMSS.Poll.Interval must be at least 0.1",
        ),
        (
            "VMSS_POLL_INTERVAL",
            "0.09",
            "VMSS.Poll.Interval must be at least 0.1",
        ),
        (
            "VMSS_POLL_INTERVAL",
            "NaN",
            "VMSS.Poll.Interval must be a number of seconds",
        ),
        (
            "VMSS_POLL_INTERVAL",
            "inf",
            "VMSS.Poll.Interval must be a number of seconds",
        ),
        // A password (or user name) in the URL is refused and never echoed.
        (
            "VMSS_OCTOPUS_URL",
            "https://:hunter2pw@octopus.example.com/octopus",
            "VMSS.Octopus.Url must not carry a user name or password (got \"https://***@octopus.example.com/octopus\")",
        ),
        (
            "VMSS_OCTOPUS_URL",
            "https://admin:hunter2pw@octopus.example.com",
            "VMSS.Octopus.Url must not carry a user name or password",
        ),
        (
            "VMSS_OCTOPUS_URL",
            "https://hunter2pw@[broken",
            "VMSS.Octopus.Url must not carry a user name or password",
        ),
        ("VMSS_SCALESET_NAME", "", "VMSS.ScaleSet.Name is required"),
        (
            "VMSS_RESOURCEGROUP_NAME",
            " ",
            "VMSS.ResourceGroup.Name is required",
        ),
        (
            "VMSS_DEPLOYMENTTARGET_ROLES",
            " , ",
            "VMSS.DeploymentTarget.Roles is required",
        ),
        (
            "VMSS_OCTOPUS_URL",
            "octopus.example.com",
            "VMSS.Octopus.Url must be an http(s) address",
        ),
        ("VMSS_OCTOPUS_APIKEY", "", "VMSS.Octopus.ApiKey is required"),
        (
            "VMSS_OCTOPUS_APIKEY",
            "API-ABC DEF",
            "VMSS.Octopus.ApiKey holds spaces",
        ),
        (
            "AZURE_SUBSCRIPTION_ID",
            "prod",
            "AZURE_SUBSCRIPTION_ID must be a subscription id",
        ),
        ("AZURE_CLIENT_SECRET", "", "has no credential"),
        (
            "AZURE_ENVIRONMENT",
            "AzureGermanCloud",
            "AZURE_ENVIRONMENT must be AzureCloud",
        ),
        (
            "OCTOPUS_ENVIRONMENT_ID",
            "",
            "OCTOPUS_ENVIRONMENT_ID is required",
        ),
        // Inputs Octopus could not substitute: the variable is named, and where it is set.
        (
            "VMSS_OCTOPUS_URL",
            "#{Octopus.Web.ServerUri}",
            "VMSS.Octopus.Url holds #{Octopus.Web.ServerUri}: Octopus had no value for the variable Octopus.Web.ServerUri",
        ),
        (
            "VMSS_OCTOPUS_URL",
            "#{Octopus.Web.BaseUrl}",
            "give VMSS.Octopus.Url your Octopus Server's address",
        ),
        (
            "VMSS_SCALESET_NAME",
            "#{ScaleSetName}",
            "Define ScaleSetName in the project's variables",
        ),
        (
            "VMSS_OCTOPUS_APIKEY",
            "#{Service Account Key | Trim}",
            "VMSS.Octopus.ApiKey refers to the Octopus variable Service Account Key: Octopus had no value",
        ),
        (
            "AZURE_CLIENT_SECRET",
            "#{VMSS.Azure.Account.Password}",
            "VMSS.Azure.Account (AZURE_CLIENT_SECRET) refers to the Octopus variable VMSS.Azure.Account.Password",
        ),
    ];
    let sim = Sim::start(settled_set(1));
    for (var, value, expected) in cases {
        let run = run_step(&sim, &[(var, value)]);
        run.assert_failed(2, expected);
        assert!(
            !run.stdout.contains("hunter2pw") && !run.stderr.contains("hunter2pw"),
            "{var}={value} echoed the password:\n{}",
            run.stdout
        );
    }
    let w = sim.world();
    assert!(w.seen.is_empty(), "requests were sent: {:?}", w.seen);
}

#[test]
fn an_unknown_flag_is_bad_input_with_a_result_message() {
    let mut cmd = binary_command();
    cmd.args(["--timout", "3"]).env_clear();
    let run = run_command(cmd);
    run.assert_failed(2, "--timout");

    // A stray argument that happens to be a secret is not echoed back, on stdout or stderr.
    let out = binary_command()
        .arg("API-STRAYSECRET42")
        .env_clear()
        .env("VMSS_OCTOPUS_APIKEY", "API-STRAYSECRET42")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    for text in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(text);
        assert!(!text.contains("STRAYSECRET42"), "{text}");
    }

    // A stray argument is an outsider's text too: Calamari parses stderr as well.
    let forged = format!(
        "x#\r#octopus[setVariable name='{}' value='{}']",
        encode("VMSSDeploymentTargetIds"),
        encode("Machines-999")
    );
    let out = binary_command().arg(&forged).env_clear().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    for text in [&out.stdout, &out.stderr] {
        let text = String::from_utf8_lossy(text);
        let read = vmss_check::sim::calamari::messages(&text);
        assert!(
            !read
                .iter()
                .any(|m| matches!(m, vmss_check::output::Message::SetVariable { .. })),
            "{text}"
        );
    }
}

#[test]
fn help_recommends_exact_membership_not_contains() {
    let out = binary_command().arg("--help").env_clear().output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout).replace('\n', " ");
    assert!(
        help.contains("#{each id in Octopus.Action[STEP].Output.VMSSDeploymentTargetIds}#{if id == Octopus.Machine.Id}True#{/if}#{/each}"),
        "{help}"
    );
    assert!(!help.contains("| Contains"), "{help}");
    assert!(help.contains("comma list"), "{help}");
    // The removal rules, in words: the shape rule and shared computer names.
    let words = help.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        words.contains("computer name prefixes followed by exactly 6 letters or digits"),
        "{words}"
    );
    assert!(
        words.contains("several VMs report (specialized images) is never removed"),
        "{words}"
    );
}

#[test]
fn several_bad_inputs_are_reported_together() {
    let sim = Sim::start(settled_set(1));
    let run = run_step(
        &sim,
        &[("VMSS_TIMEOUT_VALUE", "x"), ("VMSS_DUPLICATE_HANDLE", "y")],
    );
    run.assert_failed(2, "VMSS.Timeout.Value");
    assert!(run
        .result_message()
        .unwrap()
        .contains("VMSS.Duplicate.Handle"));
}

#[test]
fn flexible_scale_set_ignores_other_vms_in_the_group_across_pages() {
    let mut w = World::new();
    w.arm_page_size = 2;
    w.add_scale_set("vmss-flex", "Flexible", &[(0, "Succeeded")], &[(0, 3)]);
    let mut members = Vec::new();
    for i in 0..3 {
        let c = w.add_instance("vmss-flex", i, &[(0, "Creating"), (2, "Succeeded")]);
        w.add_target(&c, 0);
        members.push(c);
    }
    // A standalone VM in the same group, forever Creating: counting it would stall the wait.
    w.add_plain_vm("jumpbox", "web0000jb", &[(0, "Creating")]);
    let outsider = w.add_target("web0000jb", 0);
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("VMSS_SCALESET_NAME", "vmss-flex"),
            ("VMSS_TIMEOUT_VALUE", "0.2"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSTimedOut"), "False");
    // Flexible computer names end in random characters: the output lists them in name order.
    members.sort();
    assert_eq!(list(run.var("VMSSDeploymentTargetNames")), members);
    // The VM outside the set is not a member, and it is alive in the set's group under a
    // set-shaped name (a detached VM looks the same): its namesake target is kept.
    assert!(deleted(&sim).is_empty());
    assert!(sim.world().machines.iter().any(|m| m.id == outsider));
    assert!(!list(run.var("VMSSDeploymentTargetIds")).contains(&outsider.as_str()));
    let record = record_json(&run);
    let kept = target_row(&record, "web0000jb");
    assert_eq!(kept["decision"], "unproven");
    assert_eq!(kept["keptBy"], "inResourceGroup");
    // The wait's listings are filtered on the set; the proof of absence's one is the group's.
    let lists = vm_list_requests(&sim);
    let unfiltered: Vec<_> = lists
        .iter()
        .filter(|r| !(r.query.contains("%24filter=") || r.query.contains("$filter=")))
        .filter(|r| !r.query.contains("skiptoken"))
        .collect();
    assert_eq!(unfiltered.len(), 1, "{lists:?}");
    assert!(
        lists.iter().any(|r| r.query.contains("skiptoken")),
        "every page was read"
    );
}

#[test]
fn a_federated_token_file_signs_in_and_a_wrong_assertion_is_refused() {
    let sim = Sim::start(settled_set(2));
    let token = sim.world().federated_token.clone();
    let dir = std::env::temp_dir().join(format!("vmss-check-oidc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let run = run_step(
        &sim,
        &[
            ("AZURE_CLIENT_SECRET", ""),
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                path_for_binary(&file).as_str(),
            ),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDeploymentTargetNames"), "web000000,web000001");
    assert_no_secrets(&sim, &run);

    let run = run_step(
        &sim,
        &[
            ("AZURE_CLIENT_SECRET", ""),
            ("AZURE_FEDERATED_TOKEN", "eyJ.not-the-right-one.sig"),
        ],
    );
    run.assert_failed(1, "AADSTS700213");
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn dry_run_removes_nothing_and_says_what_it_would_remove() {
    let mut w = settled_set(2);
    let stale = w.add_target("web0000zz", 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_RECONCILE_DRYRUN", "Yes")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(deleted(&sim).is_empty());
    assert!(sim
        .world()
        .requests(Service::Octopus)
        .iter()
        .all(|r| r.method == "GET"));
    assert!(
        run.stdout
            .contains("Dry run: would remove target web0000zz"),
        "{}",
        run.stdout
    );
    assert_eq!(run.var("VMSSRemovedTargetIds"), stale);
    assert_eq!(run.var("VMSSDeploymentTargetNames"), "web000000,web000001");
    let record = record_json(&run);
    let row = target_row(&record, "web0000zz");
    assert_eq!(row["decision"], "removed");
    assert_eq!(row["removal"], "dryRun");
}

#[test]
fn tenanted_run_touches_only_its_tenants_targets() {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 1)]);
    let c = w.add_instance(SCALE_SET, 0, &[(0, "Succeeded")]);
    let ours = w.add_target_with(&c, 0, &[stories::ROLE], &["Tenants-1"]);
    let theirs_live = w.add_target_with(&c, 0, &[stories::ROLE], &["Tenants-2"]);
    let our_stale = w.add_target_with("web0000zy", 0, &[stories::ROLE], &["Tenants-1"]);
    let their_stale = w.add_target_with("web0000zz", 0, &[stories::ROLE], &["Tenants-2"]);
    w.add_tenant("Tenants-1", &[]);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("OCTOPUS_DEPLOYMENT_TENANT_ID", "Tenants-1")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDeploymentTargetIds"), ours);
    assert_eq!(deleted(&sim), vec![our_stale.clone()]);
    let w = sim.world();
    assert!(
        w.machines.iter().any(|m| m.id == their_stale)
            && w.machines.iter().any(|m| m.id == theirs_live)
    );
    // Two targets share web000000's name: the record's rows are told apart by id.
    let record = record_json(&run);
    let decided: Vec<(&str, &str)> = record["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["decision"].as_str().unwrap()))
        .collect();
    for (id, expected) in [
        (&ours, "output"),
        (&our_stale, "removed"),
        (&theirs_live, "outOfScope"),
        (&their_stale, "outOfScope"),
    ] {
        assert!(
            decided.contains(&(id.as_str(), expected)),
            "{id}: {decided:?}"
        );
    }
}

#[test]
fn a_runbook_run_looks_for_its_previous_run_by_runbook_and_reads_no_deployment() {
    // A triggered runbook run: the run context is found through the runbook run, never a
    // deployment, and the step outputs as usual.
    let mut w = settled_set(2);
    w.make_runbook_run("Runbooks-3");
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("OCTOPUS_DEPLOYMENT_ID", ""),
            ("OCTOPUS_RUNBOOKRUN_ID", "RunbookRuns-71"),
            ("OCTOPUS_RUNBOOK_ID", "Runbooks-3"),
            ("OCTOPUS_DEPLOYMENT_TRIGGER_ID", stories::TRIGGER),
            ("VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT", "No"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "True");
    assert_eq!(run.var("VMSSDuplicateRun"), "False");
    let w = sim.world();
    let octopus = w.requests(Service::Octopus);
    let tasks = octopus
        .iter()
        .find(|r| r.path.ends_with("/tasks"))
        .expect("the previous run was looked for");
    assert!(
        tasks.query.contains("runbook=Runbooks-3") && tasks.query.contains("name=RunbookRun"),
        "{}",
        tasks.query
    );
    assert!(octopus.iter().all(|r| !r.path.contains("/deployments")));
}

#[test]
fn only_targets_with_every_role_are_in_scope() {
    let mut w = settled_set(1);
    let one_role = w.add_target_with("web0000zz", 0, &[stories::ROLE], &[]);
    let both = w.add_target_with("web0000zy", 0, &[stories::ROLE, "frontend"], &[]);
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[("VMSS_DEPLOYMENTTARGET_ROLES", "web-server, Frontend")],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(deleted(&sim), vec![both]);
    assert!(sim.world().machines.iter().any(|m| m.id == one_role));
    let record = record_json(&run);
    for one_role in ["web000000", "web0000zz"] {
        let row = target_row(&record, one_role);
        assert_eq!(row["decision"], "outOfScope", "{one_role}");
        assert_eq!(row["why"], "lacks role Frontend", "{one_role}");
    }
    assert_eq!(decision(&record, "web0000zy"), "removed");
    assert!(
        !run.stdout.contains("check the roles for a typo"),
        "targets were in scope"
    );
    // web000000 has only one of the roles: not in scope, not output.
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "False");
    assert_eq!(run.var("VMSSDeploymentTargetIds"), "");
}

#[test]
fn expiring_tokens_are_refreshed_during_a_long_wait() {
    let mut w = stuck();
    // The SDK refreshes a token 20 s before it expires: a 21 s token is stale after 1 s.
    w.token_lifetime = Duration::from_secs(21);
    w.vms[2].state = stories::states(&[(0, "Creating"), (25, "Succeeded")]);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_TIMEOUT_VALUE", "0.2")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(count(&sim, Service::AzureAd) >= 2, "a token was refreshed");
    assert!(sim
        .world()
        .requests(Service::Arm)
        .iter()
        .all(|r| r.status != 401));
}

#[test]
fn azure_throttling_is_waited_out_within_the_deadline() {
    let mut w = settled_set(2);
    w.faults.arm_throttles = 2;
    w.faults.arm_retry_after = 0;
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(
        run.stdout.contains("Azure throttled the request"),
        "{}",
        run.stdout
    );
    assert_eq!(run.var("VMSSDeploymentTargetNames"), "web000000,web000001");
}

#[test]
fn a_retry_after_beyond_the_deadline_sleeps_to_it_and_a_throttled_listing_removes_nothing() {
    let mut w = settled_set(2);
    w.add_target("web0000zz", 0);
    w.faults.arm_throttles = 1000;
    w.faults.arm_retry_after = 1200;
    let sim = Sim::start(w);
    // A 3-second wait: Proceed would list after it, but Azure still refuses.
    let run = run_step(&sim, &[("VMSS_TIMEOUT_VALUE", "0.05")]);
    run.assert_failed(1, "Azure throttled");
    assert!(
        run.took >= Duration::from_millis(2900) && run.took < Duration::from_secs(15),
        "slept to the deadline, not to the Retry-After: {:?}",
        run.took
    );
    assert!(deleted(&sim).is_empty());
    assert_eq!(
        count(&sim, Service::Arm),
        2,
        "no hammering a throttled API: one check, one read after the deadline"
    );
}

#[test]
fn octopus_being_briefly_unavailable_is_retried() {
    let mut w = settled_set(2);
    w.faults.octopus_unavailable = 2;
    let stale = w.add_target("web0000zz", 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(deleted(&sim), vec![stale]);
    let record = record_json(&run);
    assert_eq!(target_row(&record, "web0000zz")["removal"], "removed");
}

#[test]
fn a_forbidden_delete_fails_the_step_after_trying_the_rest() {
    let mut w = settled_set(1);
    let a = w.add_target("web0000za", 0);
    let b = w.add_target("web0000zb", 0);
    w.faults.forbid_delete = vec![a];
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    run.assert_failed(1, "Could not remove 1 of 2 target(s), web0000za first");
    let message = run.result_message().unwrap();
    assert!(message.contains("HTTP 403"));
    assert_eq!(deleted(&sim), vec![b]);
    let record = record_json(&run);
    assert_eq!(target_row(&record, "web0000za")["removal"], "failed");
    assert_eq!(target_row(&record, "web0000zb")["removal"], "removed");
    // The advice names every permission the README's table lists for the API key.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let table = readme
        .split("### 5. The Octopus API key")
        .nth(1)
        .and_then(|s| s.split("\n#").next())
        .unwrap();
    let permissions: Vec<&str> = table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .flat_map(|l| l.split(" |").next().unwrap_or("").split(", "))
        .map(|p| p.trim_matches('`'))
        .collect();
    assert!(permissions.len() >= 9, "{permissions:?}");
    for p in permissions {
        assert!(message.contains(p), "{p} missing from {message}");
    }
}

#[test]
fn octopus_under_a_path_prefix_is_paged_through_whatever_links_it_writes() {
    use vmss_check::sim::LinkStyle;
    for style in [
        LinkStyle::Rooted,
        LinkStyle::Virtual,
        LinkStyle::WithoutPrefix,
    ] {
        let mut w = settled_set(2);
        w.octopus_prefix = "/octopus".into();
        w.octopus_links = style;
        w.octopus_next_without_take = true;
        // Past the first page of 500: page 2 must be found through Page.Next.
        for i in 0..520 {
            w.add_target(&format!("plain-vm-{i:03}"), 0);
        }
        let stale = w.add_target("web0000zz", 0);
        let sim = Sim::start(w);
        let run = run_step(&sim, &[]);
        assert_eq!(run.code, 0, "{style:?}\n{}", run.stdout);
        assert_eq!(deleted(&sim), vec![stale], "{style:?}");
        let seen = sim.world().requests(Service::Octopus).len();
        let listings: Vec<_> = sim
            .world()
            .requests(Service::Octopus)
            .iter()
            .filter(|r| r.path.ends_with("/machines"))
            .map(|r| (r.path.clone(), r.query.clone(), r.status))
            .collect();
        assert!(seen > 0);
        assert!(
            listings.len() == 2
                && listings
                    .iter()
                    .all(|(p, q, s)| p.starts_with("/octopus/api/")
                        && q.contains("take=500")
                        && *s == 200),
            "{style:?}: {listings:?}"
        );
    }
}

#[test]
fn a_thousand_instances_and_targets_page_through_both_apis() {
    let sim = Sim::start(stories::fleet(1000, 100));
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(list(run.var("VMSSDeploymentTargetIds")).len(), 1000);
    assert_eq!(deleted(&sim).len(), 100);
    let w = sim.world();
    let machine_lists = w
        .requests(Service::Octopus)
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/machines"))
        .count();
    assert_eq!(machine_lists, 3, "1,100 targets in pages of 500");
    // The run's Azure reads: one scale-set read, two listings of 10 pages.
    assert_eq!(w.requests(Service::Arm).len(), 21);
}

#[test]
fn a_listing_that_cannot_be_completed_fails_and_removes_nothing() {
    // Azure's own example: a Flexible VM list whose nextLink cannot be followed.
    let raw = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/arm/VirtualMachine_List_MaximumSet_Gen.json"
    ))
    .unwrap();
    let fixture: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let mut w = World::new();
    w.add_scale_set("vmss-flex", "Flexible", &[(0, "Succeeded")], &[(0, 2)]);
    w.add_target("web0000zz", 0);
    w.faults.vm_list_body = Some(fixture["responses"]["200"]["body"].clone());
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("VMSS_SCALESET_NAME", "vmss-flex"),
            ("VMSS_TIMEOUT_VALUE", "0.02"),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let msg = run.result_message().unwrap();
    assert!(
        msg.contains("Azure's paging cut the listing of scale set 'vmss-flex' short: a link to foo://example.com, outside the configured Azure endpoints"),
        "{msg}"
    );
    assert!(msg.contains("Nothing was removed"), "{msg}");
    assert!(deleted(&sim).is_empty());
}

#[test]
fn a_typo_in_the_roles_touches_nothing_and_warns() {
    let mut w = settled_set(2);
    w.add_target("web0000zz", 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_DEPLOYMENTTARGET_ROLES", "web-sever")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(deleted(&sim).is_empty());
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "False");
    // No target has the mistyped role: the record decides about none of them.
    assert!(decisions(&run).is_empty());
    assert!(
        run.stdout.contains("check the roles for a typo"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unreachable_azure_ad_fails_naming_the_sign_in() {
    let sim = Sim::start(settled_set(1));
    // A port nothing listens on: connection refused at once.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let host = format!("http://{closed}/");
    let run = run_step(
        &sim,
        &[
            ("AZURE_AUTHORITY_HOST", &host),
            ("VMSS_TIMEOUT_VALUE", "0.01"),
        ],
    );
    run.assert_failed(1, "while trying to sign in to Azure AD");
    assert!(deleted(&sim).is_empty());
}

/// Panics unless every line holding `##octopus` (any case) is one of the step's own messages:
/// Calamari reads a message wherever `##octopus[` appears in a line.
fn assert_no_forged_messages(run: &Run) {
    for text in [&run.stdout, &run.stderr] {
        for line in text.lines() {
            let at = line.to_ascii_lowercase().find("##octopus");
            assert!(
                at.is_none() || (at == Some(0) && line.matches("##octopus").count() == 1),
                "a line could pass for a service message: {line}"
            );
        }
    }
}

#[test]
fn a_target_named_like_a_service_message_cannot_set_a_variable() {
    let forged = format!(
        "evil##octopus[setVariable name='{}' value='{}']",
        common::encode("VMSSDeploymentTargetIds"),
        common::encode("Machines-666")
    );
    let mut w = settled_set(1);
    w.add_target(&forged, 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDeploymentTargetIds"), w_id(&sim, "web000000"));
    assert!(
        run.stdout.contains("evil## octopus[setVariable"),
        "{}",
        run.stdout
    );
    assert_no_forged_messages(&run);
}

#[test]
fn an_azure_error_body_holding_a_service_message_is_printed_harmlessly() {
    let mut w = settled_set(1);
    w.faults.arm_error = Some((
        403,
        "AuthorizationFailed".into(),
        format!(
            "The client does not have authorization over scope '##octopus[setVariable name=\'{}\' value=\'{}\']'.",
            common::encode("VMSSHasServersToDeployTo"),
            common::encode("True")
        ),
    ));
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    run.assert_failed(1, "AuthorizationFailed: The client does not have authorization over scope '##octopus[setVariable");
    assert!(
        run.stdout.contains("scope '## octopus[setVariable"),
        "{}",
        run.stdout
    );
    assert!(run.vars.is_empty(), "no variable was set: {:?}", run.vars);
    assert_no_forged_messages(&run);
}

fn w_id(sim: &Sim, name: &str) -> String {
    sim.world().target_id(name).unwrap()
}

#[test]
fn at_1000_vms_and_200_stale_targets_the_summary_fits_a_screen() {
    let sim = Sim::start(stories::fleet(1000, 200));
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(deleted(&sim).len(), 200);
    // What the task summary shows: highlighted lines and warnings.
    let mut shown = Vec::new();
    let mut verbose = Vec::new();
    let mut lines = run.stdout.lines();
    while let Some(l) = lines.next() {
        match l {
            "##octopus[stdout-highlight]" | "##octopus[stdout-warning]" => {
                shown.push(lines.next().unwrap_or_default())
            }
            "##octopus[stdout-verbose]" => verbose.push(lines.next().unwrap_or_default()),
            _ => {}
        }
    }
    assert!(
        shown.len() <= 25,
        "{} lines:\n{}",
        shown.len(),
        shown.join("\n")
    );
    let removed = shown
        .iter()
        .find(|l| l.starts_with("Removed 200 target(s) whose VMs are gone: "))
        .unwrap_or_else(|| panic!("no removal summary:\n{}", shown.join("\n")));
    assert!(removed.ends_with("and 190 more."), "{removed}");
    let deploying = shown
        .iter()
        .find(|l| l.starts_with("Deploying to 1000 target(s): web000000, "))
        .unwrap();
    assert!(deploying.ends_with("and 990 more."), "{deploying}");
    assert!(shown.iter().all(|l| l.len() < 400), "every line is capped");
    // The detail is in the verbose log: one line per removal, with its reason.
    assert_eq!(
        verbose
            .iter()
            .filter(|l| l.starts_with("Removed target ")
                && l.contains(": no VM of scale set vmss-web has this name."))
            .count(),
        200
    );
    // The first verbose line says which build ran.
    assert!(
        verbose[0].starts_with(&format!("vmss-check {} (", env!("CARGO_PKG_VERSION"))),
        "{}",
        verbose[0]
    );
}
