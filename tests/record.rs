//! The decision record (issue 14), through the built binary against the simulator: the JSON
//! validates against `schema/vmss-check-report.schema.json` for a scale-out, a timeout, a
//! failure after the wait and a run with foreign, failed and stopped targets; the HTML escapes
//! what a target may be called; the createArtifact messages carry the files' real lengths;
//! `VMSS.Report.Artifacts=No` writes nothing; an unwritable working directory is a warning.
//! And the removals, up to 4 at a time, whose results the record keeps per target.

mod common;

use common::record_json as record;
use common::target_row as target;
use common::*;
use serde_json::Value;
use std::time::Duration;
use vmss_check::output::{parse, Message};
use vmss_check::sim::stories::{self, computer_name, SCALE_SET};
use vmss_check::sim::{Sim, World};

/// The common settled set of two, and a stale target.
fn settled_with_a_stale_target() -> World {
    let mut w = settled_set(2);
    w.add_target("web0000zz", 0);
    w
}

#[test]
fn a_scale_out_leaves_a_record_that_matches_the_schema_and_the_outputs() {
    let sim = Sim::start(stories::scale_out());
    let run = run_step(
        &sim,
        &[
            ("VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT", "Yes"),
            ("OCTOPUS_DEPLOYMENT_TRIGGER_ID", stories::TRIGGER),
            ("OCTOPUS_DEPLOYMENT_TRIGGER_NAME", "New web VMs"),
            ("VMSS_TIMEOUT_VALUE", "1"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = record(&run);
    assert_eq!(json["run"]["result"], "succeeded");
    assert_eq!(json["run"]["task"], stories::TASK);
    assert_eq!(json["run"]["trigger"]["name"], "New web VMs");
    assert!(json["checks"].as_array().unwrap().len() >= 4, "{json}");
    // The scale set was Updating first: its VMs not listed then.
    assert_eq!(json["checks"][0]["scaleSets"][0]["state"], "Updating");
    assert_eq!(json["checks"][0]["scaleSets"][0]["listed"], false);
    for (name, expected) in [
        ("web000005", "output"),
        ("web00000b", "output"),
        ("web00000c", "removed"),
        ("web00000z", "removed"),
        ("web000003.corp.example.com", "failed"),
        ("web000000.corp.example.com", "preExisting"),
        ("legacy-web-01", "foreign"),
    ] {
        assert_eq!(decision(&json, name), expected, "{name}");
    }
    assert_eq!(target(&json, "web00000c")["removal"], "removed");
    assert!(target(&json, "web00000c")["why"]
        .as_str()
        .unwrap()
        .contains("Deleting"));
    // Octopus lists only targets with the roles: the database target is not in the record.
    assert!(!decisions(&run).contains_key("db000001"));
    // Never a secret, in either file.
    let w = sim.world();
    for secret in [&w.api_key, &w.client_secret, &w.federated_token] {
        for file in [".json", ".html"] {
            assert!(!run.artifact(file).contains(secret.as_str()), "{file}");
        }
    }
    drop(w);
    // The output variables in the record are the ones Octopus got.
    for (name, value) in &run.vars {
        assert_eq!(json["outputVariables"][name], *value.as_str(), "{name}");
    }
    // One row per VM: the failed one with Azure's reason and its target; the extras gone.
    let vms = json["vms"].as_array().unwrap();
    assert_eq!(vms.len(), 14);
    let failed = vms
        .iter()
        .find(|v| v["computerName"] == "web000003")
        .unwrap();
    assert_eq!(failed["class"], "failed");
    assert_eq!(failed["instanceId"], "3");
    assert!(failed["reason"]
        .as_str()
        .unwrap()
        .contains("VMExtensionProvisioningError"));
    assert_eq!(failed["target"]["name"], "web000003.corp.example.com");
    let new = vms
        .iter()
        .find(|v| v["computerName"] == "web000008")
        .unwrap();
    let classes: Vec<&str> = new["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["class"].as_str().unwrap())
        .collect();
    assert_eq!(classes, ["pending", "member"], "{new}");

    // The schema is no rubber stamp: a decision it does not know, or a missing version, fails.
    let mut wrong = json.clone();
    wrong["targets"][0]["decision"] = "deleted".into();
    assert!(!validator().is_valid(&wrong));
    let mut unversioned = json.clone();
    unversioned.as_object_mut().unwrap().remove("schemaVersion");
    assert!(!validator().is_valid(&unversioned));
}

#[test]
fn the_artifacts_are_named_after_the_environment_and_task_and_carry_their_real_length() {
    let sim = Sim::start(settled_set(2));
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let names: Vec<&str> = run.artifacts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "vmss-check-report-Environments-1-ServerTasks-9001.json",
            "vmss-check-report-Environments-1-ServerTasks-9001.html"
        ]
    );
    for a in &run.artifacts {
        let bytes = a.bytes.as_ref().expect("the file is there");
        assert_eq!(a.length, Some(bytes.len() as u64), "{}", a.path);
        assert!(std::path::Path::new(&a.path).is_absolute(), "{}", a.path);
        assert!(
            a.path.ends_with("/vmss-check-report.json")
                || a.path.ends_with("/vmss-check-report.html"),
            "{}",
            a.path
        );
    }
    // Each is one well-formed message, as Calamari reads it.
    let messages: Vec<Message> = run
        .stdout
        .lines()
        .filter(|l| l.contains("createArtifact"))
        .map(|l| parse(l).expect("a message Calamari keeps"))
        .collect();
    assert_eq!(messages.len(), 2);
    record(&run);
}

#[test]
fn a_timeout_that_proceeds_records_the_pending_target() {
    let sim = Sim::start(stuck());
    let run = run_step(&sim, &[("VMSS_TIMEOUT_VALUE", "0.01")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = record(&run);
    assert_eq!(json["run"]["result"], "timedOut");
    assert_eq!(decision(&json, "web000002"), "pending");
    assert_eq!(decision(&json, "web0000zz"), "removed");
    assert_eq!(json["outputVariables"]["VMSSTimedOut"], "True");
}

#[test]
fn a_timeout_that_fails_records_the_checks_and_sets_no_outputs() {
    let sim = Sim::start(stuck());
    let run = run_step(
        &sim,
        &[
            ("VMSS_TIMEOUT_VALUE", "0.01"),
            ("VMSS_TIMEOUT_ERRORHANDLE", "Error"),
        ],
    );
    run.assert_failed(1, "did not settle");
    let json = record(&run);
    assert_eq!(json["run"]["result"], "failed");
    assert_eq!(
        json["run"]["failure"],
        run.result_message().unwrap().as_str()
    );
    assert!(json["outputVariables"].as_object().unwrap().is_empty());
    assert!(json["targets"].as_array().unwrap().is_empty(), "not listed");
    let vms = json["vms"].as_array().unwrap();
    let creating = vms.iter().find(|v| v["name"] == "vmss-web_2").unwrap();
    assert_eq!(creating["class"], "pending");
}

#[test]
fn a_failure_after_the_wait_records_which_removal_failed() {
    let mut w = settled_set(1);
    let a = w.add_target("web0000za", 0);
    w.add_target("web0000zb", 0);
    w.faults.forbid_delete = vec![a];
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    run.assert_failed(1, "Could not remove 1 of 2 target(s)");
    let json = record(&run);
    assert_eq!(json["run"]["result"], "failed");
    let refused = target(&json, "web0000za");
    assert_eq!(refused["removal"], "failed");
    assert!(refused["removalError"].as_str().unwrap().contains("403"));
    assert_eq!(target(&json, "web0000zb")["removal"], "removed");
    assert_eq!(decision(&json, "web000000"), "output");
}

#[test]
fn foreign_failed_and_stopped_targets_are_recorded_as_kept() {
    let mut w = settled_set(4);
    let names: Vec<String> = (0..4).map(|i| computer_name("web", i)).collect();
    w.vm_mut(&names[1]).power = vec![(0, "deallocated".into())];
    w.fail_extension(&names[2], 0);
    w.add_target("legacy-web-01", 0);
    w.add_target("webapi000001", 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = record(&run);
    assert_eq!(decision(&json, &names[0]), "output");
    assert_eq!(decision(&json, &names[1]), "stopped");
    assert_eq!(decision(&json, &names[2]), "failed");
    assert_eq!(decision(&json, "legacy-web-01"), "foreign");
    for name in [&names[1], &names[2], &"legacy-web-01".to_string()] {
        assert_eq!(target(&json, name)["removal"], Value::Null, "{name}");
    }
    let vm = |n: &str| {
        json["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["computerName"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(vm(&names[1])["powerState"], "deallocated");
    assert_eq!(vm(&names[1])["class"], "stopped");
    assert_eq!(vm(&names[2])["provisioningState"], "Failed");
    // The HTML says the same, grouped by decision.
    let html = run.artifact(".html");
    for word in ["stopped", "failed", "foreign", "legacy-web-01", "<svg"] {
        assert!(html.contains(word), "{word}");
    }
}

#[test]
fn the_html_escapes_a_hostile_target_name() {
    const HOSTILE: &str = "<script>alert(1)</script>&\"'";
    let mut w = settled_set(1);
    w.add_target(HOSTILE, 0);
    w.add_target(&format!("web0000zq{HOSTILE}"), 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = record(&run);
    assert_eq!(decision(&json, HOSTILE), "foreign");
    let html = run.artifact(".html");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains(HOSTILE));
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&amp;&quot;&#39;"));
    // Self-contained: nothing fetched, nothing run.
    for outside in [
        "src=", "href=", "url(", "@import", "<link", "<img", "<iframe",
    ] {
        assert!(!html.contains(outside), "{outside}");
    }
    assert!(html.contains("Content-Security-Policy"));
}

#[test]
fn report_artifacts_no_writes_nothing() {
    let sim = Sim::start(settled_with_a_stale_target());
    let dir = scratch_dir();
    let mut cmd = binary_command();
    cmd.current_dir(&dir)
        .env_clear()
        .envs(sim.env())
        .envs(FAST.iter().copied())
        .env("VMSS_REPORT_ARTIFACTS", "No");
    let run = run_command(cmd);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.artifacts.is_empty(), "{}", run.stdout);
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(dir);

    let bad = run_step(&sim, &[("VMSS_REPORT_ARTIFACTS", "Sometimes")]);
    bad.assert_failed(2, "VMSS.Report.Artifacts must be Yes or No");
}

#[test]
fn a_record_that_cannot_be_written_is_a_warning_not_a_failure() {
    let sim = Sim::start(settled_with_a_stale_target());
    // Directories where the files should go: no one, root included, can write them.
    let dir = scratch_dir();
    for file in ["vmss-check-report.json", "vmss-check-report.html"] {
        std::fs::create_dir(dir.join(file)).unwrap();
    }
    let mut cmd = binary_command();
    cmd.current_dir(&dir)
        .env_clear()
        .envs(sim.env())
        .envs(FAST.iter().copied());
    let run = run_command(cmd);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(run.artifacts.is_empty());
    assert!(run.result_message().is_none());
    let warned = run
        .stdout
        .matches("Could not write the decision record")
        .count();
    assert_eq!(warned, 2, "{}", run.stdout);
    assert!(run.stdout.contains("VMSS.Report.Artifacts"));
    assert_eq!(run.var("VMSSRemovedTargetNames"), "web0000zz");
}

#[test]
fn removals_run_four_at_a_time_with_the_same_results() {
    let mut w = settled_set(1);
    let stale: Vec<String> = (0..10)
        .map(|i| w.add_target(&computer_name("web", 50_000 + i), 0))
        .collect();
    w.faults.delete_delay = Some(Duration::from_millis(300));
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        sim.world().deletes_in_flight,
        (0, 4),
        "4 at once, never more"
    );
    let mut gone = deleted(&sim);
    gone.sort();
    let mut want = stale.clone();
    want.sort();
    assert_eq!(gone, want);
    // Output and record list them in the plan's order, whichever finished first.
    assert_eq!(list(run.var("VMSSRemovedTargetIds")), stale);
    let json = record(&run);
    for id in &stale {
        let row = json["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id.as_str())
            .unwrap();
        assert_eq!(row["removal"], "removed");
    }
    // Ten deletes of 0.3 s each, four at a time: three rounds, not ten.
    assert!(run.took < Duration::from_secs(10), "took {:?}", run.took);
}

#[test]
fn a_dry_run_records_what_it_would_remove() {
    let mut w = settled_set(1);
    w.add_target("web0000zz", 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_RECONCILE_DRYRUN", "Yes")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(deleted(&sim).is_empty());
    let json = record(&run);
    assert_eq!(target(&json, "web0000zz")["removal"], "dryRun");
    assert_eq!(json["run"]["settings"]["dryRun"], true);
}

#[test]
fn the_demo_writes_the_record_and_prints_where() {
    let dir = scratch_dir();
    let out = binary_command()
        .args(["demo", "--poll-interval", "0.1", "--report-dir"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for file in ["vmss-check-report.json", "vmss-check-report.html"] {
        let path = dir.join(file);
        assert!(path.is_file(), "{file}\n{stdout}");
        assert!(
            stdout.lines().any(|l| l.trim() == path.to_str().unwrap()),
            "{file}\n{stdout}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn each_check_records_the_read_budget_azure_reported() {
    let mut w = settled_set(2);
    w.read_budget = Some(vmss_check::sim::ReadBudget::azure(Duration::from_secs(60)));
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = record(&run);
    let budget = json["checks"][0]["readBudget"].as_array().unwrap();
    assert!(
        budget.iter().any(|b| b["bucket"]
            .as_str()
            .unwrap()
            .starts_with("Microsoft.Compute/GetVMScaleSet")
            && b["remaining"].as_u64().unwrap() > 0),
        "{budget:?}"
    );
}

#[test]
fn the_record_says_which_targets_were_kept_for_a_shared_name_or_their_shape() {
    // Three VMs of a specialized image report one name; one is still being created.
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 3)]);
    w.scale_set_mut(SCALE_SET).profile =
        vmss_check::sim::SimProfile::SpecializedCopies("golden-web".into());
    w.add_instance(SCALE_SET, 0, &[(0, "Succeeded")]);
    w.add_instance(SCALE_SET, 1, &[(0, "Succeeded")]);
    w.add_instance(SCALE_SET, 2, &[(0, "Creating")]);
    w.add_target("golden-web", 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_TIMEOUT_VALUE", "0.02")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = record(&run);
    assert_eq!(decision(&json, "golden-web"), "sharedName");

    // A neighbour whose prefix extends ours: kept as foreign, never removed.
    let mut w = settled_set(1);
    let neighbour = w.add_target("webapi000001", 0);
    let stale = w.add_target(&computer_name("web", 7), 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(deleted(&sim), [stale]);
    assert!(sim.world().machines.iter().any(|m| m.id == neighbour));
    let json = record(&run);
    assert_eq!(decision(&json, "webapi000001"), "foreign");
    assert_eq!(decision(&json, &computer_name("web", 7)), "removed");
}

#[test]
fn the_record_and_the_version_name_the_binary_that_made_them() {
    // The package holds a binary per platform: the record and `--version` say which one ran
    // (under scripts/arm64-test.sh, the aarch64 one).
    use std::env::consts::{ARCH, OS};
    let sim = Sim::start(settled_set(1));
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = record(&run);
    assert_eq!(
        json["tool"],
        serde_json::json!({ "version": env!("CARGO_PKG_VERSION"), "arch": ARCH, "os": OS })
    );
    // Optional in the schema: records made before it was added still validate.
    let mut older = json.clone();
    older.as_object_mut().unwrap().remove("tool");
    assert!(validator().is_valid(&older));

    let version = binary_command().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("vmss-check {} ({ARCH}-{OS})", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn the_record_names_pooled_vms_health_and_the_proof_that_kept_a_target() {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Flexible", &[(0, "Succeeded")], &[(0, 1)]);
    let up = w.add_instance(SCALE_SET, 0, &[(0, "Succeeded")]);
    w.add_target(&up, 0);
    w.vm_mut(&up).health = Some("HealthState/healthy".into());
    w.add_pool("pool-web", "rg-pool", SCALE_SET, "Deallocated");
    let listed = w.add_pool_vm("pool-web", 1, true);
    let unlisted = w.add_pool_vm("pool-web", 2, false);
    w.add_target(&listed, 0);
    w.add_target(&unlisted, 0);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = record(&run);
    assert_eq!(json["schemaVersion"], 2);
    let vm = |name: &str| {
        json["vms"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["computerName"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no VM {name}: {json}"))
            .clone()
    };
    assert_eq!(vm(&up)["health"], "HealthState/healthy");
    assert_eq!(vm(&listed)["class"], "pooled");
    assert_eq!(vm(&listed)["health"], Value::Null);
    assert_eq!(decision(&json, &listed), "pooled");
    assert_eq!(decision(&json, &unlisted), "unproven");
    let kept = target(&json, &unlisted);
    assert_eq!(kept["keptBy"], "inStandbyPool");
    assert!(kept["why"].as_str().unwrap().contains("pool-web"), "{kept}");
    let set = &json["checks"][0]["scaleSets"][0];
    assert_eq!(
        (set["ready"].clone(), set["pooled"].clone()),
        (1.into(), 1.into())
    );
    let html = run.artifact(".html");
    assert!(html.contains("pooled") && html.contains("<td>healthy</td>"));
    assert!(
        html.contains("<th>Pooled</th>"),
        "the checks table counts pooled VMs"
    );
    assert!(deleted(&sim).is_empty());
}

#[test]
fn the_record_says_which_checks_waited_on_a_rolling_upgrade() {
    // Every VM listed is settled from the start: only the upgrade holds the wait.
    let mut w = settled_set(1);
    w.roll(SCALE_SET, &[(0, "RollingForward"), (3, "Completed")]);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    let json = record(&run);
    let rows: Vec<(bool, u64, u64)> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = &c["scaleSets"][0];
            (
                s["rollingForward"].as_bool().unwrap(),
                s["ready"].as_u64().unwrap(),
                s["changing"].as_u64().unwrap(),
            )
        })
        .collect();
    assert!(rows.len() >= 2, "{rows:?}");
    assert_eq!(
        rows[0],
        (true, 1, 0),
        "settled VMs, the upgrade rolling: {rows:?}"
    );
    assert_eq!(rows.last(), Some(&(false, 1, 0)), "{rows:?}");
    assert!(run.artifact(".html").contains("rolling forward"));
}
