//! `vmss-check demo`: the real binary, run as Octopus would run it, against the simulated
//! scale-out in [`crate::sim::stories::scale_out`], followed by a short summary.

use crate::cli::DemoArgs;
use crate::sim::{stories, Sim};
use crate::step::vars;
use base64::Engine as _;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

/// Runs the demo; returns the exit code.
pub async fn run(args: &DemoArgs) -> i32 {
    let world = stories::scale_out();
    let before: HashMap<String, String> = world
        .machines
        .iter()
        .map(|m| (m.id.clone(), m.name.clone()))
        .collect();
    let sim = Sim::start(world);
    println!("vmss-check demo: a simulated scale set scales out from 5 to 12 VMs, with 2 over-provisioned extras.");
    println!("A deployment target trigger started this run; the 5 old VMs are left out of the output (ExcludeFromOutput=Yes).");
    println!("One old VM's extension failed (Failed but running), and a plain VM shares the role: both targets are kept.");
    println!(
        "Azure AD at {}, Resource Manager at {}, Octopus at {}\n",
        sim.azure_ad_url, sim.arm_url, sim.octopus_url
    );

    // The step runs as its own process, exactly as the step template runs it; the proxy
    // variables are dropped so a proxy on this machine cannot intercept loopback calls.
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("vmss-check demo: cannot find its own executable: {e}");
            return 1;
        }
    };
    let mut cmd = Command::new(exe);
    cmd.env_clear()
        .envs(sim.env())
        .env("VMSS_POLL_INTERVAL", &args.poll_interval)
        .env("VMSS_TIMEOUT_VALUE", "2")
        .env("VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT", "Yes")
        .env("OCTOPUS_DEPLOYMENT_TRIGGER_ID", stories::TRIGGER)
        .env("OCTOPUS_DEPLOYMENT_TRIGGER_NAME", "New web VMs")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdout(Stdio::piped());
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    let child = tokio::task::spawn_blocking(move || -> std::io::Result<(i32, Vec<String>)> {
        let mut child = cmd.spawn()?;
        let mut lines = Vec::new();
        if let Some(out) = child.stdout.take() {
            for line in BufReader::new(out).lines() {
                let line = line?;
                println!("{line}");
                lines.push(line);
            }
        }
        Ok((child.wait()?.code().unwrap_or(1), lines))
    })
    .await;
    let (code, lines) = match child {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            eprintln!("vmss-check demo: could not run the step: {e}");
            return 1;
        }
        Err(e) => {
            eprintln!("vmss-check demo: the step's runner failed: {e}");
            return 1;
        }
    };

    let variables = output_variables(&lines);
    let w = sim.world();
    println!("\n--- Summary ---");
    println!("exit code: {code}");
    let removed: Vec<String> = w
        .deleted
        .iter()
        .map(|id| format!("{} ({id})", before.get(id).cloned().unwrap_or_default()))
        .collect();
    println!(
        "targets removed: {}",
        if removed.is_empty() {
            "none".into()
        } else {
            removed.join(", ")
        }
    );
    for name in [
        vars::HAS_SERVERS,
        vars::TARGET_IDS,
        vars::TARGET_NAMES,
        vars::DUPLICATE,
        vars::PRE_EXISTING_NAMES,
        vars::FAILED_NAMES,
        vars::STOPPED_NAMES,
        vars::UNREGISTERED_NAMES,
    ] {
        println!(
            "{name} = {}",
            variables
                .get(name)
                .map(String::as_str)
                .unwrap_or("(not set)")
        );
    }
    println!(
        "requests: {} to Azure AD, {} to Resource Manager, {} to Octopus",
        w.requests(crate::sim::Service::AzureAd).len(),
        w.requests(crate::sim::Service::Arm).len(),
        w.requests(crate::sim::Service::Octopus).len()
    );
    code
}

/// Decodes the `setVariable` service messages in a step's output.
pub fn output_variables(lines: &[String]) -> HashMap<String, String> {
    let decode = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
    };
    let mut vars = HashMap::new();
    for line in lines {
        let Some(body) = line
            .strip_prefix("##octopus[setVariable ")
            .and_then(|b| b.strip_suffix(']'))
        else {
            continue;
        };
        let attr = |key: &str| {
            let start = body.find(&format!("{key}='"))? + key.len() + 2;
            let end = body[start..].find('\'')? + start;
            decode(&body[start..end])
        };
        if let (Some(n), Some(v)) = (attr("name"), attr("value")) {
            vars.insert(n, v);
        }
    }
    vars
}
