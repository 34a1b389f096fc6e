//! Runs the built `vmss-check` against a simulator, as Octopus would: environment only.
#![allow(dead_code)]

use base64::Engine as _;
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};
use vmss_check::output::{parse, Message};
use vmss_check::sim::calamari;
use vmss_check::sim::world::Seen;
use vmss_check::sim::{Service, Sim};

/// What a run of the binary produced.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub vars: HashMap<String, String>,
    pub took: Duration,
    /// The files the step attached, read before its scratch directory went.
    pub artifacts: Vec<Artifact>,
}

impl Run {
    /// A decoded output variable (panics with the output when missing).
    pub fn var(&self, name: &str) -> &str {
        self.vars
            .get(name)
            .unwrap_or_else(|| panic!("{name} not set\n{}", self.stdout))
    }

    /// The decoded `resultMessage`, if any.
    pub fn result_message(&self) -> Option<String> {
        self.stdout.lines().find_map(|l| match parse(l)? {
            Message::Result(text) => Some(text),
            _ => None,
        })
    }

    /// Panics unless the run failed with this exit code and a result message containing `text`.
    pub fn assert_failed(&self, code: i32, text: &str) {
        assert_eq!(
            self.code, code,
            "exit code\n{}\n{}",
            self.stdout, self.stderr
        );
        let msg = self
            .result_message()
            .unwrap_or_else(|| panic!("no resultMessage\n{}", self.stdout));
        assert!(msg.contains(text), "resultMessage {msg:?} lacks {text:?}");
    }
}

/// An OIDC token as Octopus issues one (unsigned here): expiring `exp_in_secs` from now.
pub fn jwt(exp_in_secs: i64, subject: &str) -> String {
    let part = |json: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json);
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + exp_in_secs;
    format!(
        "{}.{}.c2ln",
        part(r#"{"alg":"RS256","typ":"JWT"}"#.to_string()),
        part(format!(
            r#"{{"aud":"api://AzureADTokenExchange","sub":"{subject}","exp":{exp}}}"#
        ))
    )
}

/// Base64 of a value, as in a service message (for forging one).
pub fn encode(s: &str) -> String {
    vmss_check::output::encode(s)
}

/// A service-message attribute value, decoded.
pub fn decode(s: &str) -> Option<String> {
    vmss_check::output::decode(s)
}

/// Fast settings for tests: check every 50 ms, give up after 30 s.
pub const FAST: &[(&str, &str)] = &[("VMSS_POLL_INTERVAL", "0.1"), ("VMSS_TIMEOUT_VALUE", "0.5")];

/// Runs the binary with the simulator's environment, then `FAST`, then `extra` (an empty value
/// removes the variable).
pub fn run_step(sim: &Sim, extra: &[(&str, &str)]) -> Run {
    let mut env: Vec<(String, String)> = sim.env();
    for (k, v) in FAST.iter().chain(extra) {
        env.retain(|(ek, _)| ek != k);
        if !v.is_empty() {
            env.push((k.to_string(), v.to_string()));
        }
    }
    run_env(&env)
}

/// The binary the tests drive: `VMSS_CHECK_TEST_BINARY` when set (scripts/windows-test.sh
/// sets the Windows `.exe`), else the one Cargo built for these tests.
pub fn binary() -> String {
    std::env::var("VMSS_CHECK_TEST_BINARY")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_vmss-check").to_string())
}

/// Whether the tests drive the Windows build (under Wine here, natively on a Windows runner).
pub fn windows() -> bool {
    cfg!(windows) || binary().ends_with(".exe")
}

/// A command that runs [`binary`], through `VMSS_CHECK_TEST_RUNNER` when set: a program that
/// takes the binary's path and its arguments, as `wine` or `qemu-aarch64` does, with arguments of
/// its own before them when it has several words (`proot -q qemu-aarch64`; split at white
/// space, no quoting). The runner gets the same environment the test gives the command, and must
/// pass it on.
pub fn binary_command() -> Command {
    let runner = std::env::var("VMSS_CHECK_TEST_RUNNER").unwrap_or_default();
    let mut words = runner.split_whitespace();
    match words.next() {
        Some(program) => {
            let mut cmd = Command::new(program);
            cmd.args(words).arg(binary());
            cmd
        }
        None => Command::new(binary()),
    }
}

/// A time bound for a run, stretched when the binary runs under an emulator or Wine
/// (`VMSS_CHECK_TEST_RUNNER`): there every request takes several times as long, and a bound
/// meant to catch minutes of looping must not trip on that.
pub fn patience(bound: Duration) -> Duration {
    let emulated = std::env::var("VMSS_CHECK_TEST_RUNNER").is_ok_and(|r| !r.trim().is_empty());
    if emulated {
        bound * 4
    } else {
        bound
    }
}

/// A path as the binary expects it: for the Windows build under Wine, the `Z:` drive path Wine
/// maps to the Unix root (`Z:\tmp\token`), so the tests hand it real Windows paths.
pub fn path_for_binary(path: &std::path::Path) -> String {
    let path = path.to_string_lossy();
    if windows() && !cfg!(windows) && path.starts_with('/') {
        format!("Z:{}", path.replace('/', "\\"))
    } else {
        path.into_owned()
    }
}

/// What a Windows process cannot do without, to add to a cleared environment: `SystemRoot`
/// (without it Windows cannot start its network stack). Nothing elsewhere.
pub fn system_env() -> Vec<(String, String)> {
    ["SystemRoot"]
        .into_iter()
        .filter(|_| cfg!(windows))
        .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
        .collect()
}

/// Runs the binary with exactly this environment (and [`system_env`]).
pub fn run_env(env: &[(String, String)]) -> Run {
    let mut cmd = binary_command();
    cmd.env_clear().envs(system_env()).envs(env.iter().cloned());
    run_command(cmd)
}

/// Runs any command (the binary, or a script that runs it) and reads what it printed.
pub fn run_command(mut cmd: Command) -> Run {
    let scratch = cmd.get_current_dir().is_none().then(scratch_dir);
    if let Some(dir) = &scratch {
        cmd.current_dir(dir);
    }
    let started = Instant::now();
    let out = cmd.output().expect("the command runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    // Read as Octopus reads it (Calamari's line reader and parser): a message that text could
    // forge counts here as it would count there.
    let vars = calamari::messages(&stdout)
        .into_iter()
        .filter_map(|m| match m {
            Message::SetVariable { name, value, .. } => Some((name, value)),
            _ => None,
        })
        .collect();
    Run {
        code: out.status.code().unwrap_or(-1),
        vars,
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
        artifacts: artifacts(&String::from_utf8_lossy(&out.stdout)),
    }
    .cleaned_up(scratch)
}

/// Panics if any secret of the simulation appears in the run's output, in clear or base64.
pub fn assert_no_secrets(sim: &Sim, run: &Run) {
    let w = sim.world();
    let mut secrets = vec![
        w.api_key.clone(),
        w.client_secret.clone(),
        w.federated_token.clone(),
    ];
    secrets.extend(w.tokens.keys().cloned());
    for s in secrets {
        let b64 = encode(&s);
        for text in [&run.stdout, &run.stderr] {
            assert!(!text.contains(&s), "secret {s:?} printed:\n{text}");
            assert!(
                !text.contains(&b64[..b64.len() - 4]),
                "secret {s:?} printed in base64"
            );
        }
    }
    assert!(
        !w.api_key_in_query,
        "the API key was sent in a query string"
    );
}

/// The VM listings Resource Manager saw (a scale set's, or a group's), every page.
pub fn vm_list_requests(sim: &Sim) -> Vec<Seen> {
    sim.world()
        .requests(Service::Arm)
        .into_iter()
        .filter(|r| r.path.ends_with("/virtualMachines"))
        .cloned()
        .collect()
}

/// The paths of the StandbyPool reads Resource Manager saw (pools, their VMs).
pub fn standby_requests(sim: &Sim) -> Vec<String> {
    sim.world()
        .requests(Service::Arm)
        .iter()
        .filter(|r| {
            r.path
                .to_ascii_lowercase()
                .contains("microsoft.standbypool")
        })
        .map(|r| r.path.clone())
        .collect()
}

/// `METHOD /path` of every request the Octopus Server saw, in order.
pub fn octopus_paths(sim: &Sim) -> Vec<String> {
    sim.world()
        .requests(Service::Octopus)
        .iter()
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Names of the targets the simulator saw deleted.
pub fn deleted(sim: &Sim) -> Vec<String> {
    sim.world().deleted.clone()
}

/// How many requests a server saw.
pub fn count(sim: &Sim, service: Service) -> usize {
    sim.world().requests(service).len()
}

/// Comma list as a vector (empty string: empty vector).
pub fn list(s: &str) -> Vec<&str> {
    if s.is_empty() {
        Vec::new()
    } else {
        s.split(',').collect()
    }
}

// --- The decision record (issue 14): every run gets a scratch working directory, so that the
// step's artifacts land there, never in the repository; the files are read before it goes.

/// One `createArtifact` the step sent, with the file's bytes as they were after the run.
pub struct Artifact {
    pub path: String,
    pub name: String,
    pub length: Option<u64>,
    pub bytes: Option<Vec<u8>>,
}

impl Run {
    /// The attached file whose name ends so (`.json`, `.html`), as text.
    pub fn artifact(&self, ends: &str) -> String {
        let a = self
            .artifacts
            .iter()
            .find(|a| a.name.ends_with(ends))
            .unwrap_or_else(|| panic!("no {ends} artifact\n{}", self.stdout));
        let bytes = a.bytes.clone().unwrap_or_else(|| {
            panic!(
                "the artifact's file {} (read as {}) cannot be read",
                a.path,
                local_path(&a.path).display()
            )
        });
        String::from_utf8(bytes).unwrap()
    }

    fn cleaned_up(self, scratch: Option<std::path::PathBuf>) -> Run {
        if let Some(dir) = scratch {
            let _ = std::fs::remove_dir_all(dir);
        }
        self
    }
}

/// A fresh, empty directory for one run.
pub fn scratch_dir() -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vmss-check-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

/// Where this process finds a file the step names: the step as written, or, for the Windows
/// binary under Wine (scripts/windows-test.sh), its `Z:\tmp\...` path read as `/tmp/...` (Wine's
/// drive Z: is the root, and the chroot shares this machine's /tmp).
fn local_path(path: &str) -> std::path::PathBuf {
    let wine = cfg!(unix)
        .then(|| {
            path.strip_prefix("Z:\\")
                .or_else(|| path.strip_prefix("z:\\"))
        })
        .flatten();
    match wine {
        Some(rest) => std::path::Path::new("/").join(rest.replace('\\', "/")),
        None => std::path::PathBuf::from(path),
    }
}

fn artifacts(stdout: &str) -> Vec<Artifact> {
    calamari::messages(stdout)
        .into_iter()
        .filter_map(|m| match m {
            Message::Artifact { path, name, length } => Some(Artifact {
                bytes: std::fs::read(local_path(&path)).ok(),
                path,
                name,
                length,
            }),
            _ => None,
        })
        .collect()
}

/// The common world of the tests: a settled Uniform scale set of `n` running VMs, each with its
/// target (the simulator's small default pages, so listings page).
pub fn settled_set(n: u32) -> vmss_check::sim::World {
    let mut w = vmss_check::sim::World::new();
    let set = vmss_check::sim::stories::SCALE_SET;
    w.add_scale_set(set, "Uniform", &[(0, "Succeeded")], &[(0, n as i64)]);
    for i in 0..n {
        let c = w.add_instance(set, i, &[(0, "Succeeded")]);
        w.add_target(&c, 0);
    }
    w
}

/// [`settled_set`] of two, plus an instance (`web000002`) that never finishes creating, with
/// its target, and a stale target (`web0000zz`): a wait that times out.
pub fn stuck() -> vmss_check::sim::World {
    let mut w = settled_set(2);
    let c = w.add_instance(vmss_check::sim::stories::SCALE_SET, 2, &[(0, "Creating")]);
    w.add_target(&c, 0);
    w.add_target("web0000zz", 0);
    w
}

// --- The decision record's JSON, held to its schema.

/// The schema, compiled once per test; formats (date-time, uri) are checked too.
pub fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/vmss-check-report.schema.json"))
            .expect("the schema is JSON");
    jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles")
}

/// The run's JSON record, checked against the schema (every error listed on failure).
pub fn record_json(run: &Run) -> serde_json::Value {
    let text = run.artifact(".json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("the record is JSON");
    let errors: Vec<String> = validator()
        .iter_errors(&json)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{text}");
    json
}

/// Each target's decision in the run's record (schema-checked), by target name: what the step
/// decided, read from the record rather than from the log's wording. Panics if two targets share
/// a name (read the record's rows by id then).
pub fn decisions(run: &Run) -> std::collections::BTreeMap<String, String> {
    let record = record_json(run);
    let mut by_name = std::collections::BTreeMap::new();
    for t in record["targets"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap().to_string();
        let decision = t["decision"].as_str().unwrap().to_string();
        assert!(
            by_name.insert(name.clone(), decision).is_none(),
            "two targets named {name} in {record}"
        );
    }
    by_name
}

/// The record's decision for the target with this name or id.
pub fn decision(record: &serde_json::Value, name_or_id: &str) -> String {
    target_row(record, name_or_id)["decision"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The record's row of the target with this name or id (`Machines-N`, which no test's target
/// is named).
pub fn target_row<'a>(record: &'a serde_json::Value, name_or_id: &str) -> &'a serde_json::Value {
    record["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == name_or_id || t["id"] == name_or_id)
        .unwrap_or_else(|| panic!("no target {name_or_id} in {record}"))
}
