//! Failing fast and never hanging, through the built binary against misbehaving simulated
//! servers: mistakes found before the wait, permanent faults ending the step at once,
//! transient ones said once, and hung or throttling servers unable to hold the step past its
//! budget. Durations are shortened with the test knobs (`VMSS_CHECK_REQUEST_TIMEOUT`,
//! `VMSS_CHECK_OVERRUN`), so nothing sleeps for real minutes.

mod common;

use common::*;
use std::time::Duration;
use vmss_check::sim::stories::{computer_name, SCALE_SET};
use vmss_check::sim::{Service, Sim, World};

/// A scale set that never settles, so any failure that came only after the wait would take the
/// whole (30 s) timeout to show.
fn never_settles() -> World {
    let mut w = World::new();
    w.add_scale_set(SCALE_SET, "Uniform", &[(0, "Updating")], &[(0, 2)]);
    for i in 0..2 {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Succeeded")]);
        w.add_target(&c, 0);
    }
    w.add_target(&computer_name("web", 9), 0);
    w
}

/// The common settled set of one, with `stale` targets whose VMs are gone.
fn settled_with_stale(stale: u32) -> World {
    let mut w = settled_set(1);
    for i in 0..stale {
        w.add_target(&computer_name("web", 100 + i), 0);
    }
    w
}

const SLOW: &[(&str, &str)] = &[("VMSS_TIMEOUT_VALUE", "0.5"), ("VMSS_POLL_INTERVAL", "1")];

fn with<'a>(base: &[(&'a str, &'a str)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    base.iter().chain(extra).copied().collect()
}

#[test]
fn a_wrong_api_key_fails_before_the_wait() {
    let sim = Sim::start(never_settles());
    let run = run_step(
        &sim,
        &with(SLOW, &[("VMSS_OCTOPUS_APIKEY", "API-WRONGKEY")]),
    );
    run.assert_failed(1, "Octopus rejected the API key in VMSS.Octopus.ApiKey");
    assert_eq!(count(&sim, Service::Arm), 0, "Azure was not even read");
    assert!(run.took < Duration::from_secs(10), "took {:?}", run.took);
}

#[test]
fn an_octopus_url_of_another_server_fails_before_the_wait() {
    let sim = Sim::start(never_settles());
    let run = run_step(
        &sim,
        &with(SLOW, &[("OCTOPUS_ENVIRONMENT_ID", "Environments-404")]),
    );
    run.assert_failed(1, "has no environment Environments-404 in space Spaces-1");
    run.assert_failed(
        1,
        "VMSS.Octopus.Url must be the Octopus Server running this deployment",
    );
    assert_eq!(count(&sim, Service::Arm), 0);
    assert!(run.took < Duration::from_secs(10), "took {:?}", run.took);
}

#[test]
fn an_octopus_url_where_nothing_listens_fails_in_seconds() {
    let sim = Sim::start(never_settles());
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{closed}/");
    let run = run_step(&sim, &with(SLOW, &[("VMSS_OCTOPUS_URL", &url)]));
    run.assert_failed(1, "was refused");
    run.assert_failed(1, "Check VMSS.Octopus.Url (host and port)");
    assert_eq!(count(&sim, Service::Arm), 0);
    assert!(
        run.took < Duration::from_secs(10),
        "refused three times running is permanent: took {:?}",
        run.took
    );
}

#[test]
fn a_wrong_scale_set_fails_at_the_first_check_not_at_the_deadline() {
    let sim = Sim::start(never_settles());
    let run = run_step(&sim, &with(SLOW, &[("VMSS_SCALESET_NAME", "vmss-wbe")]));
    run.assert_failed(1, "Scale set 'vmss-wbe' was not found");
    assert_eq!(count(&sim, Service::Arm), 1);
    assert!(run.took < Duration::from_secs(10), "took {:?}", run.took);
}

#[test]
fn a_hung_resource_manager_is_a_transient_failure_said_once() {
    let mut w = never_settles();
    // Every Resource Manager request is accepted and never answered.
    w.faults.hang = vec![(Service::Arm, 0)];
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("VMSS_TIMEOUT_VALUE", "0.05"),
            ("VMSS_POLL_INTERVAL", "0.2"),
            ("VMSS_CHECK_REQUEST_TIMEOUT", "0.3"),
        ],
    );
    run.assert_failed(
        1,
        "The wait ran out before Azure answered; nothing was removed.",
    );
    let warnings = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("Check ") && l.ends_with("Will check again."))
        .count();
    assert_eq!(warnings, 1, "said once:\n{}", run.stdout);
    assert!(
        run.stdout.contains("the same failure again"),
        "then counted:\n{}",
        run.stdout
    );
    assert!(deleted(&sim).is_empty());
    assert!(run.took < Duration::from_secs(8), "took {:?}", run.took);
}

/// Octopus answers the preflight, then hangs; the step must fail within the (3 s) overrun
/// past its 0.6 s deadline, having removed nothing. Returns the run for further checks.
fn hung_after_preflight(stale: u32, extra: &[(&str, &str)]) -> Run {
    let mut w = settled_with_stale(stale);
    // The preflight's four requests: the user, its permissions, the environment, the tag sets.
    w.faults.hang = vec![(Service::Octopus, 4)];
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &with(
            &[("VMSS_TIMEOUT_VALUE", "0.01"), ("VMSS_CHECK_OVERRUN", "3")],
            extra,
        ),
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert!(deleted(&sim).is_empty());
    // 0.6 s of wait, then 3 s of budget: the step ends near 3.6 s, not minutes later.
    assert!(
        run.took < patience(Duration::from_secs(7)),
        "took {:?}",
        run.took
    );
    run
}

#[test]
fn a_hung_octopus_after_the_wait_ends_the_step_within_the_overrun() {
    // Everything after the preflight hangs: the target listing first.
    let run = hung_after_preflight(3, &[("VMSS_CHECK_REQUEST_TIMEOUT", "1")]);
    let msg = run.result_message().unwrap();
    assert!(msg.contains("list deployment targets"), "{msg}");
}

#[test]
fn a_hung_octopus_before_the_wait_cannot_hold_the_step_past_the_overrun_either() {
    // A triggered run: the run context's reads (this run's task) hang, before the wait.
    hung_after_preflight(
        1,
        &[("OCTOPUS_DEPLOYMENT_TRIGGER_ID", "ProjectTriggers-21")],
    );
}

/// Octopus answers every delete of `stale` stale targets with 503 and `Retry-After`; the step
/// must fail within the overrun, having removed nothing.
fn deletes_refused(stale: u32, retry_after: u64, overrun: &str) {
    let mut w = settled_with_stale(stale);
    w.faults.delete_unavailable = Some(retry_after);
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("VMSS_TIMEOUT_VALUE", "0.01"),
            ("VMSS_CHECK_OVERRUN", overrun),
        ],
    );
    assert_eq!(run.code, 1, "{}", run.stdout);
    let msg = run.result_message().unwrap();
    assert!(
        msg.contains(&format!("after removing 0 of {stale} target(s)"))
            || msg.contains(&format!("Could not remove {stale} of {stale} target(s)")),
        "{msg}"
    );
    assert!(deleted(&sim).is_empty());
    // Without the shared budget, each delete's retries (and a 25 s Retry-After) would run on
    // for minutes.
    assert!(run.took < Duration::from_secs(8), "took {:?}", run.took);
}

#[test]
fn octopus_refusing_deletes_cannot_hold_the_step_past_the_overrun() {
    // Retry-After: 25 does not fit in what is left: no sleeping for it.
    deletes_refused(5, 25, "3");
}

#[test]
fn a_server_error_on_deletes_is_retried_only_within_the_overrun() {
    // Retry-After: 1 fits: every delete is retried with backoff, and the budget ends it.
    deletes_refused(40, 1, "4");
}

#[test]
fn test_knobs_are_checked_like_any_input() {
    let sim = Sim::start(settled_with_stale(0));
    let run = run_step(&sim, &[("VMSS_CHECK_OVERRUN", "600")]);
    run.assert_failed(
        2,
        "VMSS_CHECK_OVERRUN must be a number of seconds above 0 and at most 120",
    );
    assert!(sim.world().seen.is_empty());
}

/// Azure sends one `x-ms-ratelimit-remaining-resource` line per policy (the simulator puts
/// the scarcest first, where a client keeping one value per header name would miss it).
#[test]
fn a_step_paces_itself_on_every_read_budget_line_and_is_never_throttled() {
    paced_on_the_read_budget(false);
}

/// Some answers join the policies in one line, separated by commas.
#[test]
fn a_step_paces_itself_on_a_joined_read_budget_line_too() {
    paced_on_the_read_budget(true);
}

fn paced_on_the_read_budget(joined: bool) {
    use vmss_check::sim::ReadBudget;
    let mut w = World::new();
    w.ratelimit_joined = joined;
    w.add_scale_set(
        SCALE_SET,
        "Uniform",
        &[(0, "Updating"), (12, "Succeeded")],
        &[(0, 2)],
    );
    for i in 0..2 {
        let c = w.add_instance(SCALE_SET, i, &[(0, "Creating"), (10, "Succeeded")]);
        w.add_target(&c, 0);
    }
    // A subscription whose budget others have nearly spent: 10 reads per "3 minutes", with a
    // minute lasting 1 s here (so the windows are 3 s and 30 s), while the 30-minute
    // buckets are plentiful: pacing on those alone would poll at the floor and drain the
    // 3-minute ones.
    let mut budget = ReadBudget::azure(Duration::from_secs(1));
    budget.limits = vec![
        ("GetVMScaleSet".into(), 10, 6000),
        ("HighCostGetVMScaleSet".into(), 10, 6000),
    ];
    w.read_budget = Some(budget);
    // The story moves with the wall clock (a tick each 0.2 s), not with our reads.
    w.tick_every = Some(Duration::from_millis(200));
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("VMSS_POLL_INTERVAL", "0.1"),
            ("VMSS_TIMEOUT_VALUE", "0.5"),
            ("VMSS_CHECK_MINUTE", "1"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(run.var("VMSSDeploymentTargetNames"), "web000000,web000001");
    let throttled = sim.world().read_budget.as_ref().unwrap().throttled;
    assert_eq!(throttled, 0, "never throttled:\n{}", run.stdout);
    assert!(
        run.stdout
            .contains("Azure's read budget is running low (Microsoft.Compute/GetVMScaleSet3Min"),
        "{}",
        run.stdout
    );
    // Polling at the 0.1 s floor for 2.4 s would take ~50 reads; pacing keeps it to what
    // the 3-minute buckets refill (10 per 3 s each, spending half).
    let reads = count(&sim, Service::Arm);
    assert!(reads < 30, "{reads} reads");
}

#[test]
fn an_oidc_token_that_expires_before_the_wait_could_end_is_warned_about_at_the_start() {
    let mut w = settled_with_stale(0);
    let token = jwt(300, "space-1:project-1");
    w.federated_token = token.clone();
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("AZURE_CLIENT_SECRET", ""),
            ("AZURE_FEDERATED_TOKEN", &token),
            ("VMSS_TIMEOUT_VALUE", "30"),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    let warning = run
        .stdout
        .lines()
        .find(|l| l.contains("federated (OIDC) token expires at"))
        .unwrap_or_else(|| panic!("no warning\n{}", run.stdout));
    assert!(
        warning.contains("VMSS.Timeout.Value is 30 minutes") && warning.contains("AADSTS700024"),
        "{warning}"
    );
    assert_no_secrets(&sim, &run);

    // A token that outlives the wait: no warning.
    let long = jwt(3 * 3600, "space-1:project-1");
    sim.world().federated_token = long.clone();
    let run = run_step(
        &sim,
        &[
            ("AZURE_CLIENT_SECRET", ""),
            ("AZURE_FEDERATED_TOKEN", &long),
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert!(!run.stdout.contains("token expires at"), "{}", run.stdout);
}

#[test]
fn an_expired_oidc_token_gets_its_own_message() {
    let mut w = settled_with_stale(0);
    let token = jwt(-60, "space-1:project-1");
    w.federated_token = token.clone();
    let sim = Sim::start(w);
    let run = run_step(
        &sim,
        &[
            ("AZURE_CLIENT_SECRET", ""),
            ("AZURE_FEDERATED_TOKEN", &token),
        ],
    );
    run.assert_failed(
        1,
        "The federated (OIDC) token of the Azure account had expired",
    );
    run.assert_failed(1, "AADSTS700024");
    run.assert_failed(1, "lower VMSS.Timeout.Value");
    assert!(deleted(&sim).is_empty());
}

/// A set still updating for 40 checks, with one VM and its target (and `extra` targets), whose
/// Azure AD takes the federated assertion in a token file and issues access tokens that go
/// stale after a second; the step is started on that file and runs until the first sign-in.
/// Returns the simulator, the running step, and the file.
fn started_on_a_token_file(
    name: &str,
    extra: &[String],
) -> (Sim, std::process::Child, std::path::PathBuf) {
    let mut w = World::new();
    w.add_scale_set(
        SCALE_SET,
        "Uniform",
        &[(0, "Updating"), (40, "Succeeded")],
        &[(0, 1)],
    );
    let c = w.add_instance(SCALE_SET, 0, &[(0, "Succeeded")]);
    w.add_target(&c, 0);
    for t in extra {
        w.add_target(t, 0);
    }
    // Access tokens go stale after a second (the SDK renews 20 s before expiry).
    w.token_lifetime = Duration::from_secs(21);
    let first = jwt(3600, "first");
    w.federated_token = first.clone();
    let sim = Sim::start(w);
    let dir = std::env::temp_dir().join(format!("vmss-check-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, &first).unwrap();
    let mut env = sim.env();
    env.extend(system_env());
    env.retain(|(k, _)| k != "AZURE_CLIENT_SECRET");
    env.extend(
        [
            (
                "AZURE_FEDERATED_TOKEN_FILE",
                path_for_binary(&file).as_str(),
            ),
            ("VMSS_POLL_INTERVAL", "0.1"),
            ("VMSS_TIMEOUT_VALUE", "0.5"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let child = binary_command()
        .env_clear()
        .envs(env)
        .env("VMSS_REPORT_ARTIFACTS", "No")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while count(&sim, Service::AzureAd) == 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "no sign-in");
        std::thread::sleep(Duration::from_millis(20));
    }
    (sim, child, file)
}

#[test]
fn the_token_file_is_read_again_for_each_new_access_token() {
    let (sim, child, file) = started_on_a_token_file("rotate", &[]);
    // Once the first token is issued, Octopus renews the assertion: the file changes, and
    // Azure AD accepts only the new one.
    let second = jwt(3600, "second");
    std::fs::write(&file, &second).unwrap();
    sim.world().federated_token = second;
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let w = sim.world();
    let sign_ins = w.requests(Service::AzureAd);
    assert!(sign_ins.len() >= 2, "a new access token was needed");
    assert!(
        sign_ins.iter().all(|r| r.status == 200),
        "every sign-in used the assertion in the file at the time: {sign_ins:?}"
    );
    drop(w);
    std::fs::remove_dir_all(file.parent().unwrap()).ok();
}

/// The federated token file can no longer be read when a new access token is needed: the step
/// fails saying so (it used to sign in again with the assertion read at the start, and Azure AD
/// answered that it had expired), and removes nothing.
#[test]
fn a_federated_token_file_that_cannot_be_read_again_says_so() {
    let (sim, child, file) = started_on_a_token_file("unread", &[computer_name("web", 9)]);
    // The file goes, and Azure AD no longer takes the assertion read at the start.
    std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
    sim.world().federated_token = jwt(3600, "second");
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("could not be read again for a new token"),
        "{stdout}"
    );
    assert!(deleted(&sim).is_empty());
}

#[test]
fn a_target_registering_while_the_targets_are_paged_costs_one_reread_never_a_loop() {
    let mut w = vmss_check::sim::stories::fleet(600, 0);
    // A target sorting before all the others registers once page 1 has been served, shifting
    // page 2 by one: page 2 repeats an item, and the new one is not on any page read.
    let late = w.add_target("aaa-late-registration", u64::MAX);
    w.faults.register_after_pages = Some((1, vec![late.clone()]));
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    assert_eq!(list(run.var("VMSSDeploymentTargetIds")).len(), 600);
    assert!(deleted(&sim).is_empty());
    // The second pass found the late target (kept: it carries no prefix of the scale set).
    assert_eq!(decision(&record_json(&run), &late), "foreign");
    let pages = octopus_paths(&sim)
        .iter()
        .filter(|p| p.ends_with("/machines"))
        .count();
    assert_eq!(pages, 4, "two pages, read twice, and no more");
    assert!(
        run.took < patience(Duration::from_secs(20)),
        "took {:?}",
        run.took
    );
}
