//! The step templates and their package: the Octopus Library's rules for both (Bash for Linux
//! workers, PowerShell for Windows workers, generated from step-template/source/), and the Bash
//! body run the way Octopus runs it, against the simulator.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use vmss_check::settings::is_guid;
use vmss_check::sim::{stories, Sim};

const TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/step-template/azure-vmss-wait-and-reconcile-targets.json"
);
const WINDOWS_TEMPLATE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/step-template/azure-vmss-wait-and-reconcile-targets-windows.json"
);
const PACKAGE_SH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/step-template/package.sh");
const README: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/README.md");

fn read_template(path: &str) -> Value {
    let raw = std::fs::read(path).unwrap();
    assert!(
        !raw.starts_with(&[0xEF, 0xBB, 0xBF]),
        "the library rejects a BOM"
    );
    serde_json::from_slice(&raw).unwrap()
}

/// The Bash template, for Linux workers.
fn template() -> Value {
    read_template(TEMPLATE)
}

/// Both templates with their script syntax: every Library rule holds for each.
fn templates() -> [(&'static str, Value); 2] {
    [
        ("Bash", read_template(TEMPLATE)),
        ("PowerShell", read_template(WINDOWS_TEMPLATE)),
    ]
}

fn parameters(t: &Value) -> Vec<&Value> {
    t["Parameters"].as_array().unwrap().iter().collect()
}

fn body(t: &Value) -> String {
    t["Properties"]["Octopus.Action.Script.ScriptBody"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn the_templates_pass_the_librarys_rules() {
    for (syntax, t) in templates() {
        library_rules(&t, syntax);
    }
}

fn library_rules(t: &Value, syntax: &str) {
    let id = t["Id"].as_str().unwrap();
    assert!(
        is_guid(id)
            && id != "00000000-0000-0000-0000-000000000000"
            && id != "abcdef00-ab00-cd00-ef00-000000abcdef"
    );
    assert_ne!(
        id, "e04c5cd8-0982-44b8-9cae-0a4b43676adc",
        "a new template, not the PowerShell one"
    );
    let name = t["Name"].as_str().unwrap();
    assert!(!name.is_empty() && name.len() <= 200);
    assert!(name.contains(" - "), "Noun - Verb");
    for taken in [
        "Check VMSS Provision Status",
        "Check VMSS Provision Status (Deployment Targets)",
    ] {
        assert_ne!(name, taken);
    }
    assert!(t["LastModifiedBy"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(t["$Meta"]["ExportedAt"].as_str().is_some());
    assert!(t["$Meta"]["OctopusVersion"].as_str().is_some());
    assert_eq!(t["$Meta"]["Type"], "ActionTemplate");
    assert!(t["Version"].as_u64().is_some());
    assert_eq!(t["Category"], "azure");
    assert_eq!(t["ActionType"], "Octopus.Script");
    assert_eq!(t["Properties"]["Octopus.Action.Script.Syntax"], syntax);
    assert_eq!(
        t["Properties"]["Octopus.Action.Script.ScriptSource"],
        "Inline"
    );
    for p in t["Packages"].as_array().unwrap() {
        let feed = &p["FeedId"];
        assert!(
            feed.is_null() || feed.as_str().is_some_and(|f| f.starts_with('#')),
            "FeedId must be null or a binding"
        );
    }
    for p in parameters(t) {
        assert!(is_guid(p["Id"].as_str().unwrap()));
        let d = &p["DefaultValue"];
        assert!(
            d.is_null() || d.is_string(),
            "{}: DefaultValue must be a string or null",
            p["Name"]
        );
        assert!(p["HelpText"].as_str().is_some_and(|h| !h.is_empty()));
    }
    let desc = t["Description"].as_str().unwrap();
    for needle in [
        "VMSSHasServersToDeployTo",
        "VMSSDeploymentTargetIds",
        "VMSSDeploymentTargetNames",
        "VMSSDuplicateRun",
        "API key",
        "Check VMSS Provision Status",
    ] {
        assert!(
            desc.contains(needle),
            "the description should mention {needle}"
        );
    }
}

#[test]
fn the_parameters_keep_the_powershell_steps_names_labels_and_defaults() {
    for (_, t) in templates() {
        parameters_keep_the_powershell_steps(&t);
    }
}

fn parameters_keep_the_powershell_steps(t: &Value) {
    let by_name: BTreeMap<&str, &Value> = parameters(t)
        .into_iter()
        .map(|p| (p["Name"].as_str().unwrap(), p))
        .collect();
    // The PowerShell step's eleven, as it defines them.
    let anchor = [
        ("VMSS.ScaleSet.Name", "VMSS Name", "", "SingleLineText"),
        (
            "VMSS.ResourceGroup.Name",
            "VMSS Resource Group Name",
            "",
            "SingleLineText",
        ),
        ("VMSS.Azure.Account", "Azure Account", "", "AzureAccount"),
        (
            "VMSS.DeploymentTarget.Roles",
            "Deployment Target Roles",
            "",
            "SingleLineText",
        ),
        (
            "VMSS.Octopus.Url",
            "Octopus URL",
            URL_DEFAULT,
            "SingleLineText",
        ),
        ("VMSS.Octopus.ApiKey", "Octopus API Key", "", "Sensitive"),
        (
            "VMSS.Timeout.Value",
            "Timeout (In Minutes)",
            "30",
            "SingleLineText",
        ),
        (
            "VMSS.Timeout.ErrorHandle",
            "Timeout Error",
            "Proceed",
            "Select",
        ),
        (
            "VMSS.Duplicate.TimeInMinutes",
            "Duplicate Run Time Allowance (in Minutes)",
            "3",
            "SingleLineText",
        ),
        (
            "VMSS.Duplicate.Handle",
            "Duplicate Run Adjustment",
            "Proceed",
            "Select",
        ),
        (
            "VMSS.OldServers.ExcludeFromOutput",
            "Exclude Pre-Existing Servers from Output",
            "No",
            "Select",
        ),
    ];
    for (name, label, default, control) in anchor {
        let p = by_name
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(p["Label"], label, "{name}");
        assert_eq!(p["DefaultValue"], default, "{name}");
        assert_eq!(
            p["DisplaySettings"]["Octopus.ControlType"], control,
            "{name}"
        );
    }
    for (name, default) in [
        ("VMSS.OldServers.TimeInMinutes", "3"),
        ("VMSS.Reconcile.DryRun", "No"),
        ("VMSS.Poll.Interval", "10"),
        ("VMSS.Report.Artifacts", "Yes"),
        ("VMSS.Package", ""),
    ] {
        assert_eq!(by_name[name]["DefaultValue"], default, "{name}");
    }
    assert_eq!(by_name.len(), 16, "{:?}", by_name.keys());
    let artifacts = by_name["VMSS.Report.Artifacts"];
    assert_eq!(artifacts["Label"], "Attach decision record");
    assert_eq!(
        artifacts["DisplaySettings"]["Octopus.SelectOptions"],
        "Yes|Yes\nNo|No"
    );
    assert!(artifacts["HelpText"]
        .as_str()
        .is_some_and(|h| h.contains("decision record") && h.contains("artifacts")));
    assert!(by_name["VMSS.Package"]["DisplaySettings"]["Octopus.ControlType"] == "Package");
    // Select options offer exactly what the binary accepts.
    assert_eq!(
        by_name["VMSS.Timeout.ErrorHandle"]["DisplaySettings"]["Octopus.SelectOptions"],
        "Proceed|Proceed\nError|Error"
    );
    assert_eq!(
        by_name["VMSS.Duplicate.Handle"]["DisplaySettings"]["Octopus.SelectOptions"],
        "Cancel|Cancel\nProceed|Proceed"
    );
}

/// The Octopus URL's default: the server's configured URI, else the base URL of the request
/// that started the run (Octopus Cloud and servers without a configured URI have only that).
const URL_DEFAULT: &str =
    "#{if Octopus.Web.ServerUri}#{Octopus.Web.ServerUri}#{else}#{Octopus.Web.BaseUrl}#{/if}";

#[test]
fn every_parameter_is_used_by_the_body_and_the_package_reference_agrees() {
    for (_, t) in templates() {
        parameters_used_and_package_agrees(&t);
    }
}

fn parameters_used_and_package_agrees(t: &Value) {
    let b = body(t);
    for p in parameters(t) {
        let name = p["Name"].as_str().unwrap();
        assert!(b.contains(name), "the body never reads {name}");
    }
    let packages = t["Packages"].as_array().unwrap();
    assert_eq!(packages.len(), 1);
    let pkg = &packages[0];
    let reference = pkg["Name"].as_str().unwrap();
    let parameter = pkg["Properties"]["PackageParameterName"].as_str().unwrap();
    assert_eq!(parameter, "VMSS.Package");
    assert!(parameters(t).iter().any(
        |p| p["Name"] == parameter && p["DisplaySettings"]["Octopus.ControlType"] == "Package"
    ));
    assert_eq!(pkg["Properties"]["Extract"], "True");
    assert_eq!(pkg["Properties"]["SelectionMode"], "deferred");
    assert!(b.contains(&format!(
        "Octopus.Action.Package[{reference}].ExtractedPath"
    )));
    assert!(
        !b.contains("set -x")
            && !b.contains("xtrace on")
            && !b.lines().any(
                |l| l.trim_start().starts_with("Set-PSDebug") && l.trim() != "Set-PSDebug -Off"
            ),
        "the body must never trace: the environment holds secrets"
    );
    assert!(
        !b.contains("#{"),
        "the body reads variables through Octopus's functions, not substitution"
    );
}

/// The environment variables a body hands the binary, in order: `export NAME=` (Bash) or
/// `$env:NAME =` (PowerShell).
fn exported(body: &str) -> Vec<String> {
    body.lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l
                .strip_prefix("export ")
                .or_else(|| l.strip_prefix("$env:"))?;
            let name = rest.split(['=', ' ']).next()?;
            (!name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
                .then(|| name.to_string())
        })
        .collect()
}

#[test]
fn the_twins_differ_only_in_what_the_worker_needs() {
    let [(_, bash), (_, windows)] = templates();
    assert_ne!(bash["Id"], windows["Id"], "each template has its own Id");
    assert_ne!(bash["Name"], windows["Name"]);
    assert!(windows["Name"].as_str().unwrap().ends_with(" (Windows)"));
    // Everything Octopus shows or stores about the parameters and package is the same.
    for key in [
        "Parameters",
        "Packages",
        "Category",
        "ActionType",
        "Version",
        "$Meta",
    ] {
        assert_eq!(bash[key], windows[key], "{key} differs");
    }
    // Both bodies hand the binary the same variables, in the same order.
    let (b, w) = (exported(&body(&bash)), exported(&body(&windows)));
    assert!(b.len() > 30, "{b:?}");
    assert_eq!(b, w);
    assert!(b.contains(&"VMSS_REPORT_ARTIFACTS".to_string()));
}

#[test]
fn the_powershell_body_fails_the_step_with_what_to_do_and_returns_the_exit_code() {
    let [_, (_, windows)] = templates();
    let b = body(&windows);
    assert!(
        b.contains("Join-Path $package 'vmss-check.exe'"),
        "finds the .exe in the package"
    );
    // Missing, cannot run, cannot start: each a Fail-Step (a result message and a failed step).
    let fails: Vec<&str> = b.lines().filter(|l| l.contains("Fail-Step ")).collect();
    assert_eq!(fails.len(), 3, "{fails:?}");
    for needle in [
        "has no vmss-check.exe at its root: choose the VmssCheck package",
        "64-bit (x86_64) Windows worker",
        "AppLocker",
    ] {
        assert!(b.contains(needle), "the body lacks {needle:?}");
    }
    // Checked before any secret is in the environment.
    assert!(b.find("--version").unwrap() < b.find("$env:VMSS_OCTOPUS_APIKEY").unwrap());
    assert!(b.trim_end().ends_with("exit $LASTEXITCODE"));
    // Small enough to read at a glance.
    assert!(b.lines().count() <= 90, "{} lines", b.lines().count());
}

/// Octostache's conditionals, as far as the templates use them: `#{if Name}A#{else}B#{/if}`
/// (nesting allowed) is `A` when `Name` is set, non-empty and not `False`, else `B`; then
/// [`substitute_names`].
fn substitute(text: &str, vars: &BTreeMap<String, String>) -> String {
    let Some(start) = text.find("#{if ") else {
        return substitute_names(text, vars);
    };
    let after = &text[start + 5..];
    let close = after.find('}').expect("#{if ...} is closed");
    let name = after[..close].trim();
    let inner = &after[close + 1..];
    // The matching #{/if} and this level's #{else}.
    let (mut depth, mut at, mut otherwise, mut end) = (0, 0, None, None);
    while let Some(i) = inner[at..].find("#{") {
        let here = &inner[at + i..];
        if here.starts_with("#{if ") {
            depth += 1;
        } else if here.starts_with("#{/if}") {
            if depth == 0 {
                end = Some(at + i);
                break;
            }
            depth -= 1;
        } else if here.starts_with("#{else}") && depth == 0 {
            otherwise = Some(at + i);
        }
        at += i + 2;
    }
    let end = end.expect("#{if} without #{/if}");
    let (yes, no) = match otherwise {
        Some(e) => (&inner[..e], &inner[e + 7..end]),
        None => (&inner[..end], ""),
    };
    let truthy = vars
        .get(name)
        .is_some_and(|v| !v.is_empty() && !v.eq_ignore_ascii_case("false"));
    format!(
        "{}{}{}",
        substitute_names(&text[..start], vars),
        substitute(if truthy { yes } else { no }, vars),
        substitute(&inner[end + 6..], vars)
    )
}

#[test]
fn the_url_default_is_the_server_uri_or_else_the_base_url() {
    let vars = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let both = vars(&[
        ("Octopus.Web.ServerUri", "https://octo.example.com"),
        ("Octopus.Web.BaseUrl", "https://other.example.com"),
    ]);
    assert_eq!(substitute(URL_DEFAULT, &both), "https://octo.example.com");
    let base_only = vars(&[
        ("Octopus.Web.ServerUri", ""),
        ("Octopus.Web.BaseUrl", "https://x.octopus.app"),
    ]);
    assert_eq!(substitute(URL_DEFAULT, &base_only), "https://x.octopus.app");
    let nested = "a#{if X}b#{if Y}c#{else}d#{/if}e#{else}f#{/if}g";
    assert_eq!(substitute(nested, &vars(&[("X", "1")])), "abdeg");
    assert_eq!(
        substitute(nested, &vars(&[("X", "1"), ("Y", "True")])),
        "abceg"
    );
    assert_eq!(substitute(nested, &vars(&[("X", "False")])), "afg");
}

/// Octostache's basic substitution: `#{Name}` becomes the variable's value (unknown names stay).
fn substitute_names(text: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("#{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) if vars.contains_key(after[..end].trim()) => {
                out.push_str(&vars[after[..end].trim()]);
                rest = &after[end + 1..];
            }
            _ => {
                out.push_str("#{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A Bash bootstrap like Calamari's: variables looked up by their base64 name, service
/// messages base64-encoded, `fail_step` ending the script with exit 1.
fn bootstrap(vars: &BTreeMap<String, String>) -> String {
    let mut cases = String::new();
    for (k, v) in vars {
        cases.push_str(&format!(
            "    \"{}\") decode_servicemessagevalue \"{}\" ;;\n",
            encode(k),
            encode(v)
        ));
    }
    format!(
        r###"#!/bin/bash
encode_servicemessagevalue() {{ printf '%s' "$1" | base64 -w0; }}
decode_servicemessagevalue() {{ printf '%s' "$1" | base64 -d; }}
get_octopusvariable() {{
  case "$(encode_servicemessagevalue "$1")" in
{cases}    *) echo "" ;;
  esac
}}
set_octopusvariable() {{
  echo "##octopus[setVariable name='$(encode_servicemessagevalue "$1")' value='$(encode_servicemessagevalue "$2")']"
}}
fail_step() {{
  if [ -n "${{1:-}}" ]; then echo "##octopus[resultMessage message='$(encode_servicemessagevalue "$1")']"; fi
  exit 1
}}
write_highlight() {{ echo "##octopus[stdout-highlight]"; echo "$1"; echo "##octopus[stdout-default]"; }}
write_verbose() {{ echo "##octopus[stdout-verbose]"; echo "$1"; echo "##octopus[stdout-default]"; }}
write_warning() {{ echo "##octopus[stdout-warning]"; echo "$1"; echo "##octopus[stdout-default]"; }}
source "$1"
"###
    )
}

/// The Windows binary to package: `VMSS_CHECK_WINDOWS_BINARY` when set (scripts/windows-build.sh
/// builds one), else a stand-in that is only a PE header: the Bash body never runs it.
fn windows_exe(dir: &Path) -> PathBuf {
    if let Some(exe) = std::env::var_os("VMSS_CHECK_WINDOWS_BINARY").filter(|e| !e.is_empty()) {
        return PathBuf::from(exe);
    }
    std::fs::create_dir_all(dir).unwrap();
    let exe = dir.join("stand-in.exe");
    std::fs::write(&exe, b"MZ stand-in for vmss-check.exe").unwrap();
    exe
}

/// The arm64 binary to package: `VMSS_CHECK_ARM64_BINARY` when set (scripts/arm64-test.sh sets
/// the one scripts/arm64-build.sh built), this build on an arm64 machine (the release's arm64
/// runner), else a stand-in that is only an aarch64 ELF header: the body runs it only on a
/// worker whose `uname -m` says arm64, and those tests replace it.
fn arm64_binary(dir: &Path) -> PathBuf {
    if let Some(bin) = std::env::var_os("VMSS_CHECK_ARM64_BINARY").filter(|b| !b.is_empty()) {
        return PathBuf::from(bin);
    }
    if cfg!(target_arch = "aarch64") {
        return PathBuf::from(env!("CARGO_BIN_EXE_vmss-check"));
    }
    std::fs::create_dir_all(dir).unwrap();
    let bin = dir.join("stand-in-arm64");
    let mut header = b"\x7fELF".to_vec();
    header.resize(18, 0);
    header.extend_from_slice(&183u16.to_le_bytes()); // e_machine: EM_AARCH64
    header.extend_from_slice(b" stand-in for vmss-check-arm64");
    std::fs::write(&bin, header).unwrap();
    bin
}

/// A script in `dir` that runs `bin` as Bash can: through `VMSS_CHECK_TEST_RUNNER` when set
/// (scripts/arm64-test.sh: qemu-aarch64, since this machine's kernel cannot exec an aarch64
/// program), else directly.
fn runner_script(dir: &Path, bin: &Path) -> PathBuf {
    let runner = std::env::var("VMSS_CHECK_TEST_RUNNER").unwrap_or_default();
    let script = dir.join(format!(
        "{}-run",
        bin.file_name().unwrap().to_string_lossy()
    ));
    replace_file(
        &script,
        &format!("#!/bin/sh\nexec {runner} '{}' \"$@\"\n", bin.display()),
    );
    script
}

/// The binary the tests drive ([`binary`]: this build, or scripts/arm64-test.sh's lean one), as
/// Bash can run it (see [`runner_script`]).
fn runnable(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    runner_script(dir, Path::new(&binary()))
}

/// Builds the package from the test binary, as `package.sh` does for release.
fn package(out: &Path) -> PathBuf {
    let output = Command::new("bash")
        .arg(PACKAGE_SH)
        .arg(out)
        .env("VMSS_CHECK_BINARY", runnable(&out.join("bin")))
        .env("VMSS_CHECK_ARM64_BINARY", arm64_binary(out))
        .env("VMSS_CHECK_WINDOWS_BINARY", windows_exe(out))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

/// A fresh directory, unique to this call (tests run in parallel).
fn scratch(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("vmss-check-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the template's body as Octopus would: parameters at their defaults unless `set`,
/// `#{...}` substituted, the package extracted into `./VMSS.Package/`.
fn run_template(sim: &Sim, set: &[(&str, &str)], account: &[(&str, String)]) -> Run {
    run_template_on(sim, set, account, &|_| Vec::new())
}

/// [`run_template`] on a worker that `worker` prepares: it may change the extracted package
/// folder it is given, and returns environment variables the worker adds (e.g. `TMPDIR`).
fn run_template_on(
    sim: &Sim,
    set: &[(&str, &str)],
    account: &[(&str, String)],
    worker: &dyn Fn(&Path) -> Vec<(String, String)>,
) -> Run {
    run_template_in(sim, set, account, worker, &|_| Command::new("bash"))
}

/// [`run_template_on`] with the Bash that `bash` gives for the run's directory (this machine's
/// own, or an arm64 one under PRoot): it is handed Calamari's bootstrap and the body, and runs
/// in that directory, which holds the extracted package.
fn run_template_in(
    sim: &Sim,
    set: &[(&str, &str)],
    account: &[(&str, String)],
    worker: &dyn Fn(&Path) -> Vec<(String, String)>,
    bash: &dyn Fn(&Path) -> Command,
) -> Run {
    let t = template();
    let dir = scratch("template");
    let archive = package(&dir.join("feed"));
    let extracted = dir.join("VMSS.Package");
    std::fs::create_dir_all(&extracted).unwrap();
    let tar = Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&extracted)
        .status()
        .unwrap();
    assert!(tar.success());
    let worker_env = worker(&extracted);

    let w = sim.world();
    let mut system: BTreeMap<String, String> = [
        ("Octopus.Web.ServerUri", sim.octopus_url.clone()),
        ("Octopus.Space.Id", w.space_id.clone()),
        ("Octopus.Environment.Id", stories::ENVIRONMENT.to_string()),
        ("Octopus.Project.Id", stories::PROJECT.to_string()),
        ("Octopus.Deployment.Id", stories::DEPLOYMENT.to_string()),
        ("Octopus.Task.Id", stories::TASK.to_string()),
        (
            "Octopus.Action.Package[VMSS.Package].ExtractedPath",
            extracted.to_string_lossy().into_owned(),
        ),
        ("VMSS.Azure.Account", "Accounts-1".to_string()),
        ("VMSS.Azure.Account.Client", w.client_id.clone()),
        ("VMSS.Azure.Account.TenantId", w.tenant_id.clone()),
        (
            "VMSS.Azure.Account.SubscriptionNumber",
            w.subscription_id.clone(),
        ),
        (
            "VMSS.Azure.Account.AzureEnvironment",
            "AzureCloud".to_string(),
        ),
        (
            "VMSS.Azure.Account.ResourceManagementEndpointBaseUri",
            sim.arm_url.clone(),
        ),
        (
            "VMSS.Azure.Account.ActiveDirectoryEndpointBaseUri",
            sim.azure_ad_url.clone(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let (key, scale_set, rg) = (
        w.api_key.clone(),
        w.scale_sets[0].name.clone(),
        w.resource_group.clone(),
    );
    drop(w);
    for (k, v) in account {
        system.insert(format!("VMSS.Azure.Account.{k}"), v.clone());
    }
    let mut vars = system.clone();
    let user: BTreeMap<&str, String> = [
        ("VMSS.ScaleSet.Name", scale_set),
        ("VMSS.ResourceGroup.Name", rg),
        ("VMSS.DeploymentTarget.Roles", stories::ROLE.to_string()),
        ("VMSS.Octopus.ApiKey", key),
        ("VMSS.Timeout.Value", "0.5".to_string()),
        ("VMSS.Poll.Interval", "0.1".to_string()),
    ]
    .into_iter()
    .chain(set.iter().map(|(k, v)| (*k, v.to_string())))
    .collect();
    for p in parameters(&t) {
        let name = p["Name"].as_str().unwrap();
        if name == "VMSS.Azure.Account" {
            continue;
        }
        let raw = user
            .get(name)
            .cloned()
            .unwrap_or_else(|| p["DefaultValue"].as_str().unwrap_or("").to_string());
        vars.insert(name.to_string(), substitute(&raw, &system));
    }
    std::fs::write(dir.join("bootstrap.sh"), bootstrap(&vars)).unwrap();
    std::fs::write(dir.join("script.sh"), substitute(&body(&t), &vars)).unwrap();
    let mut cmd = bash(&dir);
    cmd.arg("bootstrap.sh")
        .arg("script.sh")
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(worker_env);
    let run = run_command(cmd);
    let _ = std::fs::remove_dir_all(&dir);
    run
}

fn assert_scale_out_outcome(sim: &Sim, run: &Run) {
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let mut gone = deleted(sim);
    gone.sort();
    assert_eq!(gone, ["Machines-113", "Machines-114", "Machines-115"]);
    assert_eq!(run.var("VMSSHasServersToDeployTo"), "True");
    // 12 VMs, one Failed: kept and named, not output.
    assert_eq!(list(run.var("VMSSDeploymentTargetNames")).len(), 11);
    assert_eq!(
        run.var("VMSSFailedTargetNames"),
        "web000003.corp.example.com"
    );
    assert_eq!(run.var("VMSSDuplicateRun"), "False");
    assert_no_secrets(sim, run);
}

#[test]
fn the_body_runs_like_octopus_runs_it_with_a_client_secret() {
    let sim = Sim::start(stories::scale_out());
    let secret = sim.world().client_secret.clone();
    let run = run_template(
        &sim,
        &[],
        &[("Password", secret), ("OpenIdConnect.Jwt", String::new())],
    );
    assert_scale_out_outcome(&sim, &run);
}

#[test]
fn the_body_runs_with_an_oidc_account() {
    let sim = Sim::start(stories::scale_out());
    let jwt = sim.world().federated_token.clone();
    let run = run_template(
        &sim,
        &[],
        &[("Password", String::new()), ("OpenIdConnect.Jwt", jwt)],
    );
    assert_scale_out_outcome(&sim, &run);
}

#[test]
fn the_body_passes_bad_input_through_to_exit_2() {
    let sim = Sim::start(stories::scale_out());
    let secret = sim.world().client_secret.clone();
    let run = run_template(
        &sim,
        &[("VMSS.Timeout.Value", "thirty")],
        &[("Password", secret)],
    );
    run.assert_failed(2, "VMSS.Timeout.Value must be a number of minutes");
    assert!(sim.world().seen.is_empty());
}

#[test]
fn package_sh_writes_a_correctly_named_archive_whose_binary_runs() {
    let dir = scratch("package");
    let archive = package(&dir);
    assert_eq!(
        archive.file_name().unwrap().to_str().unwrap(),
        format!("VmssCheck.{}.tar.gz", env!("CARGO_PKG_VERSION"))
    );
    let listing = Command::new("tar")
        .arg("-tvzf")
        .arg(&archive)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    assert_eq!(
        names,
        [
            "vmss-check",
            "vmss-check-arm64",
            "vmss-check.exe",
            "README.md",
            "LICENSE"
        ],
        "{listing}"
    );
    for line in listing.lines().take(3) {
        assert!(line.starts_with("-rwxr-xr-x"), "{listing}");
    }
    let x = dir.join("x");
    std::fs::create_dir_all(&x).unwrap();
    assert!(Command::new("tar")
        .arg("-xzf")
        .arg(&archive)
        .arg("-C")
        .arg(&x)
        .status()
        .unwrap()
        .success());
    let version = Command::new(x.join("vmss-check"))
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!(
            "vmss-check {} ({}-{})",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Replaces the extracted `vmss-check` and `vmss-check-arm64` with a script, executable like the
/// real ones, whichever the worker's processor picks.
fn replace_binary(extracted: &Path, script: &str) {
    for bin in ["vmss-check", "vmss-check-arm64"] {
        replace_file(&extracted.join(bin), script);
    }
}

/// Replaces `file` (a binary in the extracted package) with a script, executable like it.
fn replace_file(file: &Path, script: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    let _ = std::fs::remove_file(file);
    std::fs::write(file, script).unwrap();
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// What a `noexec` mount does to every exec: `execve` fails with EACCES, which Bash reports as
/// exit 126. A script whose interpreter is not executable gets exactly that, anywhere.
const NEVER_RUNS: &str = "#!/dev/null\n";

#[test]
fn the_body_fails_clearly_when_the_binary_cannot_be_executed() {
    let sim = Sim::start(stories::scale_out());
    let secret = sim.world().client_secret.clone();
    let tmp = scratch("tmpdir");
    let missing = tmp.join("missing");
    for (tmpdir, why_not_the_copy) in [
        // A temporary directory on a noexec file system too: the copy fails like the original.
        (&tmp, "(Permission denied)"),
        // No usable temporary directory at all.
        (&missing, "(no copy could be made there)"),
    ] {
        let run = run_template_on(&sim, &[], &[("Password", secret.clone())], &|extracted| {
            replace_binary(extracted, NEVER_RUNS);
            vec![("TMPDIR".into(), tmpdir.to_string_lossy().into_owned())]
        });
        // fail_step's exit 1 with a message saying what to do, not Bash's bare 126.
        run.assert_failed(1, "vmss-check cannot be executed from the package folder ");
        let msg = run.result_message().unwrap();
        for needle in [
            "/VMSS.Package (Permission denied)",
            &format!("nor from a copy in {} {why_not_the_copy}", tmpdir.display()),
            "mounted noexec",
            "set TMPDIR for the Tentacle or worker service",
        ] {
            assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
        }
        assert_no_secrets(&sim, &run);
    }
    assert!(
        sim.world().seen.is_empty(),
        "nothing may be contacted by a binary that never ran"
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "the failed copy is removed"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

#[test]
fn the_body_runs_a_copy_when_the_package_folder_is_noexec() {
    let sim = Sim::start(stories::scale_out());
    let secret = sim.world().client_secret.clone();
    let tmp = scratch("tmpdir");
    let run = run_template_on(&sim, &[], &[("Password", secret)], &|extracted| {
        // Refuses to run from the package folder as a noexec mount would (EACCES, 126), and is
        // the real binary anywhere else.
        replace_binary(
            extracted,
            &format!(
                "#!/bin/sh\ncase \"$0\" in\n  */VMSS.Package/*) echo \"$0: Permission denied\" >&2; exit 126 ;;\nesac\nexec '{}' \"$@\"\n",
                runnable(&extracted.join("..")).display()
            ),
        );
        vec![("TMPDIR".into(), tmp.to_string_lossy().into_owned())]
    });
    assert_scale_out_outcome(&sim, &run);
    assert!(
        run.stdout.contains(&format!(
            "vmss-check cannot be executed from the package folder (Permission denied): running a copy from {}/",
            tmp.display()
        )),
        "{}",
        run.stdout
    );
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "the copy is removed once vmss-check ends"
    );
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A worker whose `uname -m` answers `machine` (a failing `uname` when `None`): a `uname` first
/// on its `PATH`. Returns the worker's `PATH`.
fn uname_says(dir: &Path, machine: Option<&str>) -> (String, String) {
    let fake = dir.join("fake-uname");
    std::fs::create_dir_all(&fake).unwrap();
    replace_file(
        &fake.join("uname"),
        &match machine {
            Some(m) => format!("#!/bin/sh\necho '{m}'\n"),
            None => "#!/bin/sh\necho 'uname: cannot get system name' >&2\nexit 1\n".into(),
        },
    );
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    ("PATH".into(), path)
}

#[test]
fn the_body_runs_the_binary_for_the_workers_processor() {
    let binaries = ["vmss-check", "vmss-check-arm64"];
    for (machine, picked) in [
        ("x86_64", "vmss-check"),
        ("amd64", "vmss-check"),
        ("aarch64", "vmss-check-arm64"),
        ("arm64", "vmss-check-arm64"),
    ] {
        let sim = Sim::start(stories::scale_out());
        let secret = sim.world().client_secret.clone();
        let run = run_template_on(&sim, &[], &[("Password", secret)], &|extracted| {
            // The other one never runs. The picked one runs the binary the tests drive, except
            // under scripts/arm64-test.sh, where vmss-check-arm64 is the packaged aarch64 build
            // itself, run through qemu (this machine's kernel cannot exec it).
            let dir = extracted.join("..");
            for b in binaries {
                let file = extracted.join(b);
                if b != picked {
                    replace_file(&file, NEVER_RUNS);
                } else if b == "vmss-check-arm64" {
                    let packaged = dir.join("vmss-check-arm64.packaged");
                    std::fs::rename(&file, &packaged).unwrap();
                    let emulated = std::env::var_os("VMSS_CHECK_ARM64_BINARY").is_some()
                        && std::env::var_os("VMSS_CHECK_TEST_RUNNER").is_some();
                    let run = if emulated {
                        runner_script(&dir, &packaged)
                    } else {
                        runnable(&dir)
                    };
                    std::fs::rename(run, &file).unwrap();
                }
            }
            vec![uname_says(&extracted.join(".."), Some(machine))]
        });
        assert_scale_out_outcome(&sim, &run);
    }
}

#[test]
fn the_body_names_the_packages_processors_on_any_other() {
    let sim = Sim::start(stories::scale_out());
    let secret = sim.world().client_secret.clone();
    for machine in [Some("riscv64"), Some("armv7l"), Some("i686"), None] {
        let run = run_template_on(&sim, &[], &[("Password", secret.clone())], &|extracted| {
            vec![uname_says(&extracted.join(".."), machine)]
        });
        run.assert_failed(1, "This worker's processor is ");
        let msg = run.result_message().unwrap();
        for needle in [
            &format!("is {} (uname -m)", machine.unwrap_or("unknown")),
            "vmss-check for x86_64",
            "vmss-check-arm64 for aarch64 (arm64) Linux workers",
            "(Windows) template",
        ] {
            assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
        }
        assert_no_secrets(&sim, &run);
    }
    assert!(sim.world().seen.is_empty(), "nothing may be contacted");

    // A package from before arm64 builds, on an arm64 worker.
    let run = run_template_on(&sim, &[], &[("Password", secret)], &|extracted| {
        std::fs::remove_file(extracted.join("vmss-check-arm64")).unwrap();
        vec![uname_says(&extracted.join(".."), Some("aarch64"))]
    });
    run.assert_failed(
        1,
        "The package chosen in VMSS.Package has no vmss-check-arm64 at its root, the binary for aarch64 workers",
    );
    assert!(sim.world().seen.is_empty(), "nothing may be contacted");
}

/// An arm64 Debian userland (trixie's minbase: bash, coreutils) for PRoot's `-r`:
/// `VMSS_CHECK_ARM64_ROOT`, which scripts/arm64-test.sh sets to the one it keeps in its chroot.
fn arm64_root() -> Option<PathBuf> {
    std::env::var_os("VMSS_CHECK_ARM64_ROOT")
        .filter(|r| !r.is_empty())
        .map(PathBuf::from)
}

/// The processor as Rust names it (`std::env::consts::ARCH`), from `uname -m`.
fn rust_arch(machine: &str) -> &str {
    match machine {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        m => m,
    }
}

#[test]
fn the_body_runs_the_binary_for_the_processor_it_really_runs_on() {
    // No fake `uname` here. With VMSS_CHECK_ARM64_ROOT (scripts/arm64-test.sh), the body runs in
    // that arm64 userland's own Bash under PRoot and qemu-aarch64, as on an arm64 worker: its
    // `uname -m` is qemu's, aarch64, and the packaged aarch64 vmss-check-arm64 runs (under qemu,
    // through PRoot, as every aarch64 program there). Without it, the body runs in this machine's
    // Bash and picks the binary for this machine's processor (on the release's arm64 runner,
    // vmss-check-arm64 natively).
    let root = arm64_root();
    let arch = match &root {
        Some(root) => {
            assert!(
                root.join("usr/bin/bash").is_file(),
                "VMSS_CHECK_ARM64_ROOT={} holds no arm64 userland (no usr/bin/bash)",
                root.display()
            );
            "aarch64"
        }
        None => {
            let uname = Command::new("uname").arg("-m").output().unwrap();
            let machine = String::from_utf8_lossy(&uname.stdout).trim().to_string();
            assert_eq!(
                rust_arch(&machine),
                std::env::consts::ARCH,
                "these tests run emulated on an {machine} machine, whose Bash would pick its own \
                 binary: set VMSS_CHECK_ARM64_ROOT to an arm64 userland (scripts/arm64-test.sh \
                 does) to run the body as an arm64 worker runs it"
            );
            std::env::consts::ARCH
        }
    };
    let picked = match arch {
        "aarch64" => "vmss-check-arm64",
        _ => "vmss-check",
    };
    let bash = |dir: &Path| match &root {
        Some(root) => {
            // The run's directory (the extracted package, Calamari's scripts), /tmp (mktemp's, for
            // the noexec fallback), /proc and /dev from this machine; the rest is arm64.
            let mut cmd = Command::new("proot");
            cmd.args(["-q", "qemu-aarch64", "-r"]).arg(root);
            for bound in [
                Path::new("/proc"),
                Path::new("/dev"),
                Path::new("/tmp"),
                dir,
            ] {
                cmd.arg("-b").arg(bound);
            }
            cmd.arg("-w").arg(dir).arg("/bin/bash");
            cmd
        }
        None => Command::new("bash"),
    };
    let sim = Sim::start(stories::scale_out());
    let secret = sim.world().client_secret.clone();
    let run = run_template_in(
        &sim,
        &[],
        &[("Password", secret)],
        &|extracted| {
            // The other processor's binary never runs; the picked one is the package's own.
            for b in ["vmss-check", "vmss-check-arm64"] {
                if b != picked {
                    replace_file(&extracted.join(b), NEVER_RUNS);
                }
            }
            Vec::new()
        },
        &bash,
    );
    assert_scale_out_outcome(&sim, &run);
    assert_eq!(run.stderr, "", "Calamari counts every line on stderr");
    // The binary that ran says what it was built for in the decision record it attached.
    let record: Value = serde_json::from_str(&run.artifact(".json")).unwrap();
    assert_eq!(
        record["tool"],
        serde_json::json!({"version": env!("CARGO_PKG_VERSION"), "arch": arch, "os": "linux"}),
        "{picked} ran"
    );
}

/// Credentials a worker's service environment may hold, which the Azure SDKs read: a service
/// principal's secret or certificate, a user's password, a federated token, a managed identity.
const INHERITED: &[(&str, &str)] = &[
    ("AZURE_CLIENT_SECRET", "the-workers-own-secret"),
    ("AZURE_FEDERATED_TOKEN", "the-workers-own-token"),
    (
        "AZURE_FEDERATED_TOKEN_FILE",
        "/var/run/secrets/azure/tokens/azure-identity-token",
    ),
    ("AZURE_CLIENT_CERTIFICATE_PATH", "/etc/worker/sp.pem"),
    (
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "the-workers-cert-password",
    ),
    ("AZURE_USERNAME", "worker@example.com"),
    ("AZURE_PASSWORD", "the-workers-password"),
    ("AZURE_CREDENTIAL_KIND", "environment"),
    ("AZURE_TOKEN_CREDENTIALS", "ManagedIdentityCredential"),
    ("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token"),
    ("IDENTITY_HEADER", "the-workers-identity-header"),
    ("MSI_ENDPOINT", "http://127.0.0.1:9/msi/token"),
    ("MSI_SECRET", "the-workers-msi-secret"),
];

#[test]
fn the_body_hands_the_binary_no_credential_of_the_workers_own() {
    let sim = Sim::start(stories::scale_out());
    let jwt = sim.world().federated_token.clone();
    let oidc = [
        ("Password", String::new()),
        ("OpenIdConnect.Jwt", jwt.clone()),
    ];
    let polluted = |_: &Path| -> Vec<(String, String)> {
        INHERITED
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    // The real binary: an OIDC account on a worker that holds a client secret of its own signs
    // in with the account's token (the inherited secret would win, and is wrong here).
    let run = run_template_on(&sim, &[], &oidc, &polluted);
    assert_scale_out_outcome(&sim, &run);

    // What the binary's environment holds: the account's token, nothing inherited.
    let run = run_template_on(&sim, &[], &oidc, &|extracted| {
        replace_binary(
            extracted,
            "#!/bin/sh\n[ \"$1\" = --version ] && exit 0\nenv | sed 's/^/env: /'\n",
        );
        polluted(extracted)
    });
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let env: BTreeMap<&str, &str> = run
        .stdout
        .lines()
        .filter_map(|l| l.strip_prefix("env: ")?.split_once('='))
        .collect();
    assert_eq!(env.get("AZURE_FEDERATED_TOKEN"), Some(&jwt.as_str()));
    for (name, value) in INHERITED {
        if *name != "AZURE_FEDERATED_TOKEN" {
            assert!(!env.contains_key(name), "{name} reached the binary");
        }
        assert!(
            !run.stdout.contains(value),
            "{name}'s value reached the binary"
        );
    }
}

/// The run condition the contract recommends, before and after the step's name: Octostache
/// iterates over the comma list and compares whole ids.
const EXACT_MEMBERSHIP: (&str, &str) = (
    "#{each id in Octopus.Action[",
    "].Output.VMSSDeploymentTargetIds}#{if id == Octopus.Machine.Id}True#{/if}#{/each}",
);

/// The step names of the exact-membership run conditions in `text`.
fn exact_membership_conditions(text: &str) -> Vec<&str> {
    let (head, tail) = EXACT_MEMBERSHIP;
    text.match_indices(head)
        .filter_map(|(at, _)| {
            let rest = &text[at + head.len()..];
            let step = &rest[..rest.find(tail)?];
            (!step.is_empty() && !step.contains(['[', ']', '{', '}', '\n'])).then_some(step)
        })
        .collect()
}

#[test]
fn the_docs_recommend_exact_membership_and_never_contains() {
    for (_, t) in templates() {
        docs_recommend_exact_membership(&t);
    }
}

fn docs_recommend_exact_membership(t: &Value) {
    let mut texts = vec![
        (
            "the template's description".to_string(),
            t["Description"].as_str().unwrap().to_string(),
        ),
        (
            "README.md".to_string(),
            std::fs::read_to_string(README).unwrap(),
        ),
    ];
    for p in parameters(t) {
        texts.push((
            format!("{}'s help", p["Name"]),
            p["HelpText"].as_str().unwrap().to_string(),
        ));
    }
    for (what, text) in &texts {
        // Octostache's Contains is a substring test: Machines-1 is in Machines-10.
        for filter in ["| Contains", "|Contains", "| contains"] {
            assert!(
                !text.contains(filter),
                "{what} recommends the {filter:?} filter"
            );
        }
        assert!(
            !text.contains(".VMSSDeploymentTargetIds |")
                && !text.contains(".VMSSDeploymentTargetIds|"),
            "{what} filters the target ids"
        );
    }
    for (what, text) in &texts[..2] {
        let steps = exact_membership_conditions(text);
        assert!(
            !steps.is_empty(),
            "{what} lacks the exact-membership run condition"
        );
        // Every run condition with a step name must be the complete form.
        assert_eq!(
            text.matches("Output.VMSSDeploymentTargetIds}").count(),
            steps.len(),
            "{what}: a run condition that is not the exact-membership form"
        );
    }
}

#[test]
fn exact_membership_conditions_are_recognised_only_when_complete() {
    let (head, tail) = EXACT_MEMBERSHIP;
    let good = format!("use {head}Check VMSS{tail} here, or {head}STEP{tail}.");
    assert_eq!(exact_membership_conditions(&good), ["Check VMSS", "STEP"]);
    let cut = format!("{head}Check VMSS].Output.VMSSDeploymentTargetIds}}#{{if id == Octopus.Machine.Id}}True#{{/each}}");
    assert!(exact_membership_conditions(&cut).is_empty());
    let contains = "#{Octopus.Action[Check VMSS].Output.VMSSDeploymentTargetIds | Contains #{Octopus.Machine.Id}}";
    assert!(exact_membership_conditions(contains).is_empty());
}

/// The contract's outputs and the extras the step sets.
const OUTPUTS: [&str; 12] = [
    "VMSSHasServersToDeployTo",
    "VMSSDeploymentTargetIds",
    "VMSSDeploymentTargetNames",
    "VMSSDuplicateRun",
    "VMSSFailedTargetNames",
    "VMSSStoppedTargetNames",
    "VMSSUnregisteredInstanceNames",
    "VMSSRemovedTargetIds",
    "VMSSRemovedTargetNames",
    "VMSSPendingTargetNames",
    "VMSSPreExistingTargetNames",
    "VMSSTimedOut",
];

#[test]
fn the_readme_documents_every_input_and_output_itself() {
    for (_, t) in templates() {
        readme_documents(&t);
    }
}

fn readme_documents(t: &Value) {
    let readme = std::fs::read_to_string(README).unwrap();
    let desc = t["Description"].as_str().unwrap();
    for p in parameters(t) {
        let name = p["Name"].as_str().unwrap();
        assert!(
            readme.contains(&format!("| `{name}` |")),
            "README.md's inputs table lacks {name}"
        );
    }
    // Every environment variable the body hands the binary, Azure's and the run's included.
    let exported = exported(&body(t));
    assert!(exported.len() > 30, "{exported:?}");
    let rule = |name: &str| name.to_uppercase().replace('.', "_");
    assert!(readme.contains("upper-cased with `.`\nreplaced by `_`"));
    for v in exported
        .iter()
        .chain(&["AZURE_FEDERATED_TOKEN_FILE".to_string()])
    {
        if v.starts_with("VMSS_") {
            // The README gives the rule, and the body follows it.
            assert!(
                parameters(t)
                    .iter()
                    .any(|p| rule(p["Name"].as_str().unwrap()) == *v),
                "{v} is no parameter's name by the README's rule"
            );
        } else {
            assert!(readme.contains(&format!("`{v}`")), "README.md lacks {v}");
        }
    }
    for o in OUTPUTS {
        assert!(readme.contains(&format!("`{o}`")), "README.md lacks {o}");
        assert!(
            desc.contains(&format!("`{o}`")),
            "the description lacks {o}"
        );
    }
    // The contract is not in the repository: the README stands on its own.
    assert!(
        !readme.contains("contract"),
        "README.md refers to the contract"
    );
    // What a newcomer needs before installing.
    for needle in [
        "`VMSS.Azure.Account`",
        "`Reader`",
        "`MachineDelete`",
        "`TaskCancel`",
        "2024.3.11643",
        "x86_64 or arm64 (aarch64) Linux",
        "VmssCheck.<version>.tar.gz",
        "vmss-check.exe",
        "azure-vmss-wait-and-reconcile-targets-windows.json",
        "scripts/windows-build.sh",
        "arm64",
        "vmss-check-arm64",
        "scripts/arm64-build.sh",
    ] {
        assert!(readme.contains(needle), "README.md lacks {needle}");
    }
}
