//! Signing in to Octopus the way Octopus now wants (issue 26): access tokens in
//! `Authorization: Bearer`, keys that expire, keys that see less than they should. The built
//! binary against the simulated Octopus, which accepts bearer tokens until their `exp`, refuses
//! any other key as it refuses a wrong one, and answers a team scoped to other environments with
//! filtered lists, never a 403.

mod common;

use common::*;
use vmss_check::report::utc;
use vmss_check::sim::{Service, Sim, World};

/// The lines the step printed as warnings.
fn warnings(run: &Run) -> Vec<String> {
    let lines: Vec<&str> = run.stdout.lines().collect();
    lines
        .windows(2)
        .filter(|w| w[0] == "##octopus[stdout-warning]")
        .map(|w| w[1].to_string())
        .collect()
}

/// Two settled VMs with targets, and the target of a VM that is gone.
fn world() -> (World, String) {
    let mut w = settled_set(2);
    let stale = w.add_target("web0000zz", 0);
    (w, stale)
}

/// An access token the simulated Octopus issued, expiring `secs` from now (before now when
/// negative).
fn issue_token(w: &mut World, secs: i64) -> String {
    let token = jwt(secs, "octopus-service-account");
    w.access_tokens.push(token.clone());
    token
}

fn exp_of(token: &str) -> time::OffsetDateTime {
    vmss_check::token::jwt_expiry(token).expect("the token has an exp")
}

fn assert_not_printed(run: &Run, secret: &str) {
    for text in [&run.stdout, &run.stderr] {
        assert!(!text.contains(secret), "the secret was printed:\n{text}");
        let b64 = encode(secret);
        assert!(!text.contains(&b64[..b64.len() - 4]), "printed in base64");
    }
}

#[test]
fn a_bearer_token_signs_in_end_to_end() {
    let (mut w, stale) = world();
    let token = issue_token(&mut w, 3600);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_OCTOPUS_APIKEY", &token)]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(deleted(&sim), [stale]);
    assert_eq!(run.var("VMSSDeploymentTargetNames"), "web000000,web000001");
    let w = sim.world();
    assert!(!w.sign_ins.is_empty());
    assert!(
        w.sign_ins.iter().all(|s| s.bearer && !s.api_key),
        "every request carried Authorization: Bearer and no X-Octopus-ApiKey: {:?}",
        w.sign_ins
    );
    drop(w);
    assert!(warnings(&run).is_empty(), "{:?}", warnings(&run));
    assert_not_printed(&run, &token);
    assert_no_secrets(&sim, &run);
}

#[test]
fn a_token_expiring_before_the_steps_latest_end_warns_at_the_start() {
    // The latest end is the deadline (30 s here) plus 2 minutes: a token good for 100 s more
    // lasts this run, but not the longest one the settings allow.
    let (mut w, _) = world();
    let token = issue_token(&mut w, 100);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_OCTOPUS_APIKEY", &token)]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let warned = warnings(&run);
    let warning = warned
        .iter()
        .find(|w| w.contains("access token"))
        .unwrap_or_else(|| panic!("no warning about the token: {warned:?}"));
    assert!(
        warning.contains(&format!("expires at {}", utc(exp_of(&token)))),
        "{warning}"
    );
    assert!(
        warning.contains("before this step's latest end at 20"),
        "{warning}"
    );
    assert!(
        warning.contains("Octopus - Authenticate with OIDC"),
        "{warning}"
    );
    // At the start: before the wait begins.
    let at = run.stdout.find(warning.as_str()).unwrap();
    let waiting = run.stdout.find("Waiting up to").expect("the wait");
    assert!(at < waiting, "the warning came after the wait began");
    assert_not_printed(&run, &token);
}

#[test]
fn an_expired_token_is_refused_naming_its_expiry_and_the_oidc_step() {
    let (mut w, _) = world();
    let token = issue_token(&mut w, -120);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("VMSS_OCTOPUS_APIKEY", &token)]);
    run.assert_failed(
        1,
        "Octopus rejected the access token in VMSS.Octopus.ApiKey (HTTP 401",
    );
    let msg = run.result_message().unwrap();
    assert!(
        msg.contains(&format!("The token expired at {}", utc(exp_of(&token)))),
        "{msg}"
    );
    assert!(
        msg.contains("\"Octopus - Authenticate with OIDC\""),
        "{msg}"
    );
    assert!(
        msg.contains("#{Octopus.Action[Authenticate with OIDC].Output.AccessToken}"),
        "{msg}"
    );
    assert!(warnings(&run).iter().any(|w| w.contains("expired at")));
    assert!(deleted(&sim).is_empty());
    assert_eq!(count(&sim, Service::Arm), 0, "Azure was not even read");
    assert_not_printed(&run, &token);
}

#[test]
fn an_expired_keys_401_says_keys_expire_and_where_to_make_one() {
    // Octopus answers an expired or revoked key as it answers a wrong one: a bare 401.
    let (w, _) = world();
    let sim = Sim::start(w);
    let expired = "API-EXPIREDSINCE2026KEY0000";
    let run = run_step(&sim, &[("VMSS_OCTOPUS_APIKEY", expired)]);
    run.assert_failed(
        1,
        "Octopus rejected the API key in VMSS.Octopus.ApiKey (HTTP 401",
    );
    let msg = run.result_message().unwrap();
    for needle in [
        "may have expired or been revoked",
        "Octopus 2025.4 and later expire",
        "180 days",
        "API Keys -> New API key",
    ] {
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
    assert!(deleted(&sim).is_empty());
    assert_not_printed(&run, expired);
}

#[test]
fn a_value_neither_key_nor_token_exits_2_unechoed_before_any_request() {
    let (w, _) = world();
    let sim = Sim::start(w);
    for value in [
        "octopus-hunter2-secret",
        "eyJhbGciOiJub25lIn0.only-two-parts",
        "ghp_hunter2Hunter2hunter2",
    ] {
        let run = run_step(&sim, &[("VMSS_OCTOPUS_APIKEY", value)]);
        run.assert_failed(
            2,
            "VMSS.Octopus.ApiKey is neither an API key (API-...) nor an access token",
        );
        assert_not_printed(&run, value);
    }
    assert!(sim.world().seen.is_empty(), "a request was sent");
}

#[test]
fn a_key_scoped_to_other_environments_fails_in_preflight_naming_machine_view_and_the_environment() {
    let (mut w, _) = world();
    w.team.environments = vec!["Environments-2".into()];
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    run.assert_failed(
        1,
        "MachineView (to list the deployment targets; granted only in environments Environments-2)",
    );
    let msg = run.result_message().unwrap();
    for needle in [
        "The API key's user vmss-check (teams: vmss-check) lacks permissions this run needs",
        "space Spaces-1, environment Environments-1",
        "MachineDelete",
        "add environment Environments-1 to the scope of the user role",
        "Configuration -> Teams",
        "nothing was removed",
    ] {
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
    assert!(deleted(&sim).is_empty());
    assert!(
        !octopus_paths(&sim).iter().any(|p| p.contains("/machines")),
        "the targets were not listed: {:?}",
        octopus_paths(&sim)
    );
    assert_eq!(
        count(&sim, Service::Arm),
        0,
        "failed in seconds, before the wait"
    );
}

#[test]
fn a_tenant_scoped_key_fails_a_run_for_another_tenant() {
    let (mut w, _) = world();
    w.add_tenant("Tenants-1", &[]);
    w.team.tenants = vec!["Tenants-2".into()];
    let sim = Sim::start(w);
    let run = run_step(&sim, &[("OCTOPUS_DEPLOYMENT_TENANT_ID", "Tenants-1")]);
    run.assert_failed(1, "granted only for tenants Tenants-2");
    let msg = run.result_message().unwrap();
    assert!(msg.contains("tenant Tenants-1"), "{msg}");
    assert!(deleted(&sim).is_empty());
}

#[test]
fn a_server_without_the_permissions_route_says_so_once_and_the_run_proceeds() {
    let (mut w, stale) = world();
    w.permissions_route = false;
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(deleted(&sim), [stale]);
    assert_eq!(run.var("VMSSDeploymentTargetNames"), "web000000,web000001");
    let said: Vec<String> = warnings(&run)
        .into_iter()
        .filter(|w| w.contains("did not say what the signed-in user may do"))
        .collect();
    assert_eq!(said.len(), 1, "{:?}", warnings(&run));
    assert!(said[0].contains("HTTP 404"), "{}", said[0]);
}

#[test]
fn without_the_check_a_scoped_key_sees_filtered_lists_not_an_error() {
    // The case the check is for, on a server that cannot answer it: Octopus lists none of the
    // targets to a team scoped to another environment, and says nothing. The step sees no
    // targets, outputs nothing and exits 0; only the one warning hints why.
    let (mut w, _) = world();
    w.permissions_route = false;
    w.team.environments = vec!["Environments-2".into()];
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "False");
    assert_eq!(run.var("VMSSDeploymentTargetIds"), "");
    assert_eq!(list(run.var("VMSSUnregisteredInstanceNames")).len(), 2);
    assert!(deleted(&sim).is_empty());
    let listings: Vec<u16> = sim
        .world()
        .requests(Service::Octopus)
        .into_iter()
        .filter(|r| r.path.ends_with("/machines"))
        .map(|r| r.status)
        .collect();
    assert_eq!(listings, [200], "a filtered list, not a 403");
    let said = warnings(&run)
        .into_iter()
        .filter(|w| w.contains("did not say what the signed-in user may do"))
        .count();
    assert_eq!(said, 1);
}

#[test]
fn a_role_in_two_target_tag_sets_gets_one_warning() {
    let (mut w, _) = world();
    w.add_target_tag_set("[System] Tag Set", &["web-server", "db-server"]);
    w.add_target_tag_set("Tier", &["web-server", "batch"]);
    w.add_target_tag_set("Region", &["east"]);
    let sim = Sim::start(w);
    let run = run_step(&sim, &[]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let tags: Vec<String> = warnings(&run)
        .into_iter()
        .filter(|w| w.contains("Target tag"))
        .collect();
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert!(
        tags[0].contains("web-server is a tag of [System] Tag Set and Tier"),
        "{}",
        tags[0]
    );
    // Nothing else changes on the wire for roles.
    let listing = sim
        .world()
        .requests(Service::Octopus)
        .into_iter()
        .find(|r| r.path.ends_with("/machines"))
        .cloned()
        .expect("the targets were listed");
    assert!(
        listing.query.contains("roles=web-server"),
        "{}",
        listing.query
    );
}
