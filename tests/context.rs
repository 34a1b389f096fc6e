//! The run context: duplicate trigger runs, pre-existing targets, runbook runs.

mod common;

use common::*;
use time::Duration as Span;
use vmss_check::sim::stories::{ENVIRONMENT, PROJECT, SCALE_SET, TASK, TRIGGER};
use vmss_check::sim::{Service, Sim, World, NOW};

const TRIGGERED: &[(&str, &str)] = &[
    ("OCTOPUS_DEPLOYMENT_TRIGGER_ID", TRIGGER),
    ("OCTOPUS_DEPLOYMENT_TRIGGER_NAME", "New web VMs"),
];

/// A settled set of two VMs with their targets, and a stale target.
fn world() -> World {
    let mut w = settled_set(2);
    w.add_target("web0000zz", 0);
    w
}

/// This run as a run of runbook `Runbooks-3` (see `World::make_runbook_run`).
const RUNBOOK_RUN: &[(&str, &str)] = &[
    ("OCTOPUS_DEPLOYMENT_ID", ""),
    ("OCTOPUS_RUNBOOKRUN_ID", "RunbookRuns-71"),
    ("OCTOPUS_RUNBOOK_ID", "Runbooks-3"),
];

fn with(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    TRIGGERED.iter().chain(extra).copied().collect()
}

/// A request of the preflight: the signed-in user and its permissions, the run's environment,
/// the target tag sets.
fn is_preflight(path: &str) -> bool {
    path.contains("/users/")
        || path.ends_with("/environments/Environments-1")
        || path.ends_with("/tagsets/all")
}

#[test]
fn a_duplicate_with_proceed_reconciles_but_outputs_nothing() {
    let mut w = world();
    w.add_finished_deployment(PROJECT, ENVIRONMENT, None, Span::minutes(1));
    let stale = w.target_id("web0000zz").unwrap();
    let sim = Sim::start(w);
    let run = run_step(&sim, &with(&[]));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDuplicateRun"), "True");
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "False");
    assert_eq!(run.var("VMSSDeploymentTargetIds"), "");
    assert_eq!(deleted(&sim), vec![stale], "reconciliation still happens");
    assert!(sim.world().cancelled.is_empty());
    let record = record_json(&run);
    assert_eq!(record["run"]["duplicate"], true);
    assert_eq!(record["outputVariables"]["VMSSDeploymentTargetIds"], "");
    assert_eq!(decision(&record, "web0000zz"), "removed");
    // Its ready targets are left out, and the record says why: not "output".
    for live in ["web000000", "web000001"] {
        assert_eq!(decision(&record, live), "duplicate", "{live}");
    }
    assert!(
        run.stdout.contains(
            "Duplicate run: trigger New web VMs queued this run at 2026-11-23T10:00:00.000+00:00"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn a_duplicate_with_cancel_cancels_this_task_removes_nothing_and_exits_0() {
    let mut w = world();
    w.add_finished_deployment(PROJECT, ENVIRONMENT, None, Span::seconds(150));
    let sim = Sim::start(w);
    let run = run_step(&sim, &with(&[("VMSS_DUPLICATE_HANDLE", "Cancel")]));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(sim.world().cancelled, vec![TASK.to_string()]);
    assert!(deleted(&sim).is_empty());
    assert_eq!(count(&sim, Service::Arm), 0, "no wait for a cancelled run");
    assert_eq!(run.var("VMSSDuplicateRun"), "True");
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "False");
    assert_no_secrets(&sim, &run);
}

#[test]
fn a_previous_run_still_finishing_when_this_one_was_queued_is_a_duplicate() {
    let mut w = world();
    w.add_finished_deployment(PROJECT, ENVIRONMENT, None, Span::seconds(-40));
    let sim = Sim::start(w);
    let run = run_step(&sim, &with(&[]));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDuplicateRun"), "True");
    assert_eq!(
        run.var("VMSSDeploymentTargetIds"),
        "",
        "a duplicate deploys to none"
    );
}

#[test]
fn a_run_outside_the_window_is_not_a_duplicate() {
    let mut w = world();
    w.add_finished_deployment(PROJECT, ENVIRONMENT, None, Span::minutes(4));
    let sim = Sim::start(w);
    let run = run_step(&sim, &with(&[]));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDuplicateRun"), "False");
    assert_eq!(run.var("VMSSDeploymentTargetNames"), "web000000,web000001");
    // A wider window makes the same run a duplicate.
    let run = run_step(&sim, &with(&[("VMSS_DUPLICATE_TIMEINMINUTES", "4.5")]));
    assert_eq!(run.var("VMSSDuplicateRun"), "True");
}

#[test]
fn a_manual_run_is_never_a_duplicate_and_asks_nothing_about_runs() {
    let mut w = world();
    w.add_finished_deployment(PROJECT, ENVIRONMENT, None, Span::seconds(10));
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_DUPLICATE_HANDLE", "Cancel")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDuplicateRun"), "False");
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "True");
    let paths = octopus_paths(&sim);
    assert!(
        paths
            .iter()
            .all(|p| p.contains("/machines") || is_preflight(p)),
        "targets and the preflight only: {paths:?}"
    );
}

#[test]
fn another_projects_run_finishing_seconds_before_does_not_count() {
    let mut w = world();
    w.add_finished_deployment("Projects-2", ENVIRONMENT, None, Span::seconds(5));
    w.add_finished_deployment(PROJECT, "Environments-2", None, Span::seconds(5));
    let sim = Sim::start(w);
    let run = run_step(&sim, &with(&[]));
    assert_eq!(run.var("VMSSDuplicateRun"), "False");
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "True");
}

#[test]
fn on_a_server_that_ignores_task_filters_the_client_confirms_each_candidate() {
    // Older servers ignore filters they do not know; the task list then holds runs of other
    // projects and environments, and only the client's own confirmation tells them apart.
    let mut w = world();
    w.faults.ignore_task_filters = true;
    w.add_finished_deployment("Projects-2", ENVIRONMENT, None, Span::seconds(5));
    w.add_finished_deployment(PROJECT, "Environments-2", None, Span::seconds(10));
    let sim = Sim::start(w);
    let run = run_step(&sim, &with(&[]));
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDuplicateRun"), "False");
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "True");
    let confirmed = octopus_paths(&sim)
        .iter()
        .filter(|p| p.contains("/deployments/"))
        .count();
    assert_eq!(confirmed, 2, "both candidates were read and rejected");
    // The same project and environment: confirmed, so a duplicate.
    sim.world()
        .add_finished_deployment(PROJECT, ENVIRONMENT, None, Span::seconds(20));
    let run = run_step(&sim, &with(&[]));
    assert_eq!(run.var("VMSSDuplicateRun"), "True");
}

#[test]
fn a_runbook_run_confirms_candidates_by_their_runbook_run_id() {
    // Runbook run tasks carry Arguments.RunbookRunId; on a server that ignores the `runbook`
    // filter, another runbook's run (and a deployment's) must not count.
    let mut w = world();
    w.faults.ignore_task_filters = true;
    w.make_runbook_run("Runbooks-3");
    w.add_finished_runbook_run("Runbooks-4", Span::seconds(5));
    let sim = Sim::start(w);
    let runbook = with(RUNBOOK_RUN);
    let run = run_step(&sim, &runbook);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDuplicateRun"), "False");
    assert!(
        octopus_paths(&sim)
            .iter()
            .any(|p| p.starts_with("GET /api/Spaces-1/runbookRuns/RunbookRuns-")),
        "the candidate's runbook run was read"
    );
    sim.world()
        .add_finished_runbook_run("Runbooks-3", Span::seconds(30));
    let run = run_step(&sim, &runbook);
    assert_eq!(run.var("VMSSDuplicateRun"), "True");
}

#[test]
fn an_untenanted_run_is_not_a_duplicate_of_a_tenants_run() {
    // The tasks API cannot filter on "no tenant": the candidate must be confirmed.
    let mut w = world();
    w.add_finished_deployment(PROJECT, ENVIRONMENT, Some("Tenants-1"), Span::seconds(5));
    let sim = Sim::start(w);
    let run = run_step(&sim, &with(&[]));
    assert_eq!(run.var("VMSSDuplicateRun"), "False");
    assert!(
        octopus_paths(&sim)
            .iter()
            .any(|p| p.contains("/deployments/")),
        "the candidate was checked"
    );
}

#[test]
fn a_tenanted_run_is_a_duplicate_only_of_its_tenants_run() {
    let mut w = world();
    w.add_finished_deployment(PROJECT, ENVIRONMENT, Some("Tenants-2"), Span::seconds(5));
    for m in w.machines.iter_mut() {
        m.tenant_ids = vec!["Tenants-1".into()];
        m.participation = "Tenanted".into();
    }
    w.add_tenant("Tenants-1", &[]);
    w.tasks[0].tenant_id = Some("Tenants-1".into());
    let sim = Sim::start(w);
    let tenanted = with(&[("OCTOPUS_DEPLOYMENT_TENANT_ID", "Tenants-1")]);
    let run = run_step(&sim, &tenanted);
    assert_eq!(run.var("VMSSDuplicateRun"), "False");
    sim.world()
        .add_finished_deployment(PROJECT, ENVIRONMENT, Some("Tenants-1"), Span::seconds(5));
    let run = run_step(&sim, &tenanted);
    assert_eq!(run.var("VMSSDuplicateRun"), "True");
}

#[test]
fn runbook_runs_compare_with_runs_of_the_same_runbook() {
    let mut w = world();
    w.make_runbook_run("Runbooks-3");
    // A deployment of the same project, and another runbook, finishing seconds before: no.
    w.add_finished_deployment(PROJECT, ENVIRONMENT, None, Span::seconds(5));
    w.add_finished_runbook_run("Runbooks-4", Span::seconds(5));
    let sim = Sim::start(w);
    let runbook = with(RUNBOOK_RUN);
    let run = run_step(&sim, &runbook);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDuplicateRun"), "False");
    // The same runbook finishing a minute before: a duplicate.
    sim.world()
        .add_finished_runbook_run("Runbooks-3", Span::minutes(1));
    let run = run_step(&sim, &runbook);
    assert_eq!(run.var("VMSSDuplicateRun"), "True");
    let tasks_query = sim
        .world()
        .requests(Service::Octopus)
        .iter()
        .find(|r| r.path.ends_with("/tasks"))
        .map(|r| r.query.clone())
        .unwrap();
    assert!(
        tasks_query.contains("runbook=Runbooks-3") && tasks_query.contains("name=RunbookRun"),
        "{tasks_query}"
    );
}

#[test]
fn a_runbook_run_without_task_or_runbook_ids_finds_them_from_the_run() {
    let mut w = world();
    w.make_runbook_run("Runbooks-3");
    w.add_finished_runbook_run("Runbooks-3", Span::minutes(1));
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &with(&[
            ("OCTOPUS_DEPLOYMENT_ID", ""),
            ("OCTOPUS_TASK_ID", ""),
            ("OCTOPUS_RUNBOOKRUN_ID", "RunbookRuns-71"),
        ]),
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDuplicateRun"), "True");
}

#[test]
fn exclude_old_outputs_only_targets_created_inside_the_window_or_after() {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 4)]);
    let created = [
        Some(Span::minutes(-10)),
        Some(Span::minutes(-2)),
        Some(Span::seconds(30)),
        None,
    ];
    for (i, offset) in created.iter().enumerate() {
        let c = w.add_instance(SCALE_SET, i as u32, &[(0, "Succeeded")]);
        match offset {
            Some(o) => w.add_target_created(&c, 0, NOW + *o),
            None => w.add_target(&c, 0),
        };
    }
    let stale = w.add_target_created("web0000zz", 0, NOW - Span::days(9));
    let c = w.add_instance(SCALE_SET, 4, &[(0, "Succeeded")]);
    w.add_target_created(&c, 0, NOW - Span::seconds(5));
    // An event outside any space that mentions an old target (includeSystem=true would
    // bring it) does not make that target new.
    let old_target = w.machines[3].id.clone(); // web000003, with no creation event
    w.add_event("Created", NOW - Span::seconds(20), &[&old_target]);
    w.events.last_mut().unwrap().space_id = None;
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT", "Yes")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(
        run.var("VMSSDeploymentTargetNames"),
        "web000001,web000002,web000004"
    );
    let events = sim
        .world()
        .requests(Service::Octopus)
        .iter()
        .filter(|r| r.path.ends_with("/events"))
        .map(|r| r.query.clone())
        .collect::<Vec<_>>();
    assert!(
        events.iter().all(|q| !q.contains("includeSystem")),
        "{events:?}"
    );
    assert_eq!(run.var("VMSSPreExistingTargetNames"), "web000000,web000003");
    assert_eq!(deleted(&sim), vec![stale], "removal is unaffected");
    let decided = decisions(&run);
    for (name, expected) in [
        ("web000000", "preExisting"),
        ("web000001", "output"),
        ("web000002", "output"),
        ("web000003", "preExisting"),
        ("web000004", "output"),
        ("web0000zz", "removed"),
    ] {
        assert_eq!(decided[name], expected, "{name}");
    }
    // A wider window takes in the 10-minute-old target too.
    let run = run_step(
        &sim,
        &[
            ("VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT", "yes"),
            ("VMSS_OLDSERVERS_TIMEINMINUTES", "15"),
        ],
    );
    assert_eq!(
        run.var("VMSSDeploymentTargetNames"),
        "web000000,web000001,web000002,web000004"
    );
}

#[test]
fn creation_times_cost_the_same_requests_for_600_old_targets_as_for_none() {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 603)]);
    w.arm_page_size = 1000;
    for i in 0..603u32 {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]);
        let when = if i < 600 {
            NOW - Span::days(2)
        } else {
            NOW - Span::seconds(20)
        };
        w.add_target_created(&c, 0, when);
    }
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT", "Yes")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(list(run.var("VMSSDeploymentTargetIds")).len(), 3);
    let paths = octopus_paths(&sim);
    // The recent creations, then whether any of those 3 candidates existed before.
    assert_eq!(
        paths.iter().filter(|p| p.contains("/events")).count(),
        2,
        "{paths:?}"
    );
    assert_eq!(
        paths.iter().filter(|p| p.contains("/tasks/")).count(),
        1,
        "{paths:?}"
    );
    assert_eq!(
        paths.iter().filter(|p| !is_preflight(p)).count(),
        5,
        "task, two event queries, two pages of targets: {paths:?}"
    );
}

#[test]
fn a_recent_event_that_merely_mentions_an_old_target_does_not_make_it_new() {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Succeeded")], &[(0, 2)]);
    let old = w.add_instance(SCALE_SET, 0, &[(0, "Succeeded")]);
    let new = w.add_instance(SCALE_SET, 1, &[(0, "Succeeded")]);
    let old_id = w.add_target_created(&old, 0, NOW - Span::days(730));
    let new_id = w.add_target_created(&new, 0, NOW - Span::seconds(40));
    // A tenant created a minute ago that lists the two-year-old target: a `Created` event
    // whose related documents include it.
    w.add_event("Created", NOW - Span::seconds(60), &["Tenants-7", &old_id]);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT", "Yes")]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDeploymentTargetIds"), new_id);
    assert_eq!(run.var("VMSSPreExistingTargetNames"), old);
    let record = record_json(&run);
    assert_eq!(decision(&record, &old_id), "preExisting");
    assert_eq!(decision(&record, &new_id), "output");
    let events: Vec<String> = sim
        .world()
        .requests(Service::Octopus)
        .iter()
        .filter(|r| r.path.ends_with("/events"))
        .map(|r| format!("{}?{}", r.path, r.query))
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        events
            .iter()
            .all(|e| e.starts_with("/api/Spaces-1/events?")),
        "{events:?}"
    );
    assert!(
        events[1].contains("regardingAny=") && events[1].contains("&to="),
        "{events:?}"
    );
}

#[test]
fn the_demo_runs_the_story_and_leaves_pre_existing_targets_out() {
    // The record goes to a scratch directory, removed afterwards (the default is a new one
    // under the temp dir, left for a person to open).
    let dir = scratch_dir();
    let out = binary_command()
        .args(["demo", "--poll-interval", "0.1", "--report-dir"])
        .arg(path_for_binary(&dir))
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().map(str::trim).collect();
    let has = |line: &str| lines.contains(&line);
    assert!(has("exit code: 0"), "{stdout}");
    assert!(has("targets removed: web00000c (Machines-113), web00000d (Machines-114), web00000z (Machines-115)"), "{stdout}");
    // The output variables, decoded, one `name = value` line each.
    assert!(has("VMSSDeploymentTargetNames = web000005,web000006,web000007,web000008,web000009,web00000a,web00000b"), "{stdout}");
    assert!(has("VMSSPreExistingTargetNames = web000000.corp.example.com,web000001.corp.example.com,web000002.corp.example.com,web000004.corp.example.com"), "{stdout}");
    assert!(has("VMSSDuplicateRun = False"), "{stdout}");
    assert!(
        has("VMSSFailedTargetNames = web000003.corp.example.com"),
        "{stdout}"
    );
    assert!(has("VMSSStoppedTargetNames ="), "an empty value: {stdout}");
    // The warnings, readable: the Failed VM's target and the foreign one, both kept.
    let warnings: Vec<&&str> = lines
        .iter()
        .filter(|l| l.starts_with("warning: "))
        .collect();
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("Failed") && l.contains("web000003.corp.example.com")),
        "{stdout}"
    );
    assert!(
        warnings.iter().any(|l| l.contains("legacy-web-01")),
        "{stdout}"
    );
    // Azure's own replacements: the story's automatic repairs, and what they mean here.
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("has automatic repairs on (grace period PT30M")),
        "{stdout}"
    );
    // Piped: no service message, no base64, no terminal escape, no progress bar.
    for line in &lines {
        assert!(
            !line.to_ascii_lowercase().starts_with("##octopus"),
            "{line}"
        );
        assert!(!line.contains('\x1b'), "escape code in {line:?}");
        for word in line.split(|c: char| c.is_whitespace() || c == ',' || c == '\'') {
            assert!(
                !(word.len() >= 16
                    && word.ends_with('=')
                    && word
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+/=".contains(c))),
                "base64 {word:?} in {line:?}"
            );
        }
    }
    for encoded in [
        "VMSSDeploymentTargetNames",
        "web000003.corp.example.com",
        "False",
    ] {
        assert!(!stdout.contains(&encode(encoded)), "{encoded} in base64");
    }
}

#[test]
#[cfg(unix)] // SIGINT and /proc; a Windows runner would need GenerateConsoleCtrlEvent.
fn interrupting_the_demo_stops_the_step_it_runs() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::CommandExt as _;
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    /// Kills the demo (and whatever runs it: its whole group) if the test ends early, so that no
    /// failure leaves it running.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            // Not yet reaped, so its group id is still its own.
            if let Ok(None) = self.0.try_wait() {
                unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
            }
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    /// Under Wine the step's process id is a Windows one: a step is running while some
    /// process runs vmss-check.exe without `demo` (the demo runs with it).
    fn running(pid: u32) -> bool {
        if windows() {
            return std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
                std::fs::read(p.path().join("cmdline")).is_ok_and(|c| {
                    let c = String::from_utf8_lossy(&c).to_ascii_lowercase();
                    c.contains("vmss-check.exe") && !c.contains("demo")
                })
            });
        }
        unix_running(pid)
    }
    fn unix_running(pid: u32) -> bool {
        // Gone, or a zombie waiting to be reaped: no longer running.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|stat| {
                let state = stat.rsplit(')').next().unwrap_or("").trim_start();
                !state.starts_with('Z') && !state.starts_with('X')
            })
            .unwrap_or(false)
    }

    // A long poll interval: the step is still waiting for the scale set when interrupted. A
    // process group of its own, as a shell gives a job: Ctrl-C in a terminal sends SIGINT to the
    // foreground group, so the signal reaches the demo through whatever runs it (PRoot, under
    // scripts/arm64-test.sh, ignores a SIGINT sent to itself, as it should: its tracee has it).
    let scratch = scratch_dir();
    let mut demo = Reap(
        binary_command()
            .args(["demo", "--poll-interval", "30", "--report-dir"])
            .arg(path_for_binary(&scratch))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap(),
    );
    let (lines, seen) = std::sync::mpsc::channel();
    let stdout = demo.0.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut printed = Vec::new();
    let step: u32 = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = seen
            .recv_timeout(left)
            .unwrap_or_else(|_| panic!("no step process named: {printed:?}"));
        if let Some(pid) = line
            .split("The step runs as process ")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
        {
            break pid.parse().unwrap();
        }
        printed.push(line);
    };
    // Once the step has said it is waiting, it is surely running.
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = seen.recv_timeout(left).expect("the step starts waiting");
        if line.contains("Waiting up to") {
            break;
        }
    }
    assert!(running(step), "the step runs before the interrupt");
    // Ctrl-C: SIGINT to the demo's group (the step runs in a group of its own, so the demo
    // alone can stop it).
    assert_eq!(
        unsafe { libc::kill(-(demo.0.id() as i32), libc::SIGINT) },
        0
    );

    let status = loop {
        if let Some(status) = demo.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the demo did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130), "exits as interrupted");
    while running(step) {
        assert!(Instant::now() < deadline, "the step {step} still runs");
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = std::fs::remove_dir_all(&scratch);
    let rest: Vec<String> = seen.try_iter().collect();
    assert!(
        rest.iter()
            .any(|l| l.starts_with("Interrupted: stopped the step")),
        "{rest:?}"
    );
}
