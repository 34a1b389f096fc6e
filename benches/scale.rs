//! Speed and memory goals, measured (not asserted in tests, where timing is flaky):
//!
//! - reconciling 10,000 instances against 10,000 targets takes under 50 ms;
//! - the whole step against the simulator with 1,000 instances and 1,100 targets (settled, one
//!   check) finishes in under 3 s and peaks under 64 MiB of resident memory.
//!
//! Run with `cargo bench`. Exits non-zero if a goal is missed.

use std::time::{Duration, Instant};
use vmss_check::reconcile::{plan, Instance, Prefix, Scope, Target};
use vmss_check::sim::stories::{self, ENVIRONMENT, ROLE};
use vmss_check::sim::Sim;

fn reconcile_goal() -> bool {
    let n = 10_000;
    let instances: Vec<Instance> = (0..n)
        .map(|i| Instance {
            scale_set: "vmss".into(),
            name: format!("vmss_{i}"),
            computer_name: Some(format!("web{i:06}")),
            provisioning_state: Some(if i % 10 == 0 { "Deleting" } else { "Succeeded" }.into()),
            power_state: Some("running".into()),
            reason: None,
        })
        .collect();
    let targets: Vec<Target> = (0..n)
        .map(|i| {
            Target::untenanted(
                &format!("Machines-{i}"),
                &format!("WEB{:06}.corp.example.com", i + 7),
                &[ROLE],
                ENVIRONMENT,
            )
        })
        .collect();
    let scope = Scope {
        environment_id: ENVIRONMENT.into(),
        roles: vec![ROLE.into()],
        tenant: None,
    };
    let prefixes = [Prefix {
        scale_set: "vmss".into(),
        prefix: "web".into(),
    }];
    let mut times = Vec::new();
    for _ in 0..15 {
        let t = Instant::now();
        let p = std::hint::black_box(plan(&instances, &targets, &scope, &prefixes));
        times.push(t.elapsed());
        assert_eq!(p.members.len() + p.remove.len(), n);
    }
    times.sort();
    let median = times[times.len() / 2];
    let ok = median < Duration::from_millis(50);
    println!(
        "reconcile 10,000 x 10,000: median {median:?} (goal < 50ms) {}",
        if ok { "ok" } else { "MISSED" }
    );
    ok
}

fn peak_rss_of_children_kib() -> i64 {
    // SAFETY: getrusage only writes into the struct we pass.
    unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage.ru_maxrss
    }
}

fn end_to_end_goal() -> bool {
    let sim = Sim::start(stories::fleet(1000, 100));
    let exe = env!("CARGO_BIN_EXE_vmss-check");
    let started = Instant::now();
    let out = std::process::Command::new(exe)
        .env_clear()
        .envs(sim.env())
        .env("VMSS_POLL_INTERVAL", "1")
        .output()
        .expect("runs");
    let took = started.elapsed();
    let rss_mib = peak_rss_of_children_kib() as f64 / 1024.0;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(sim.world().deleted.len(), 100);
    let ok = took < Duration::from_secs(3) && rss_mib < 64.0;
    println!(
        "step, 1,000 instances / 1,100 targets: {took:?} (goal < 3s), peak RSS {rss_mib:.1} MiB (goal < 64 MiB) {}",
        if ok { "ok" } else { "MISSED" }
    );
    ok
}

fn main() {
    // `cargo test --benches` runs this too; keep that cheap.
    if std::env::args().any(|a| a == "--bench") {
        let a = reconcile_goal();
        let b = end_to_end_goal();
        if !(a && b) {
            std::process::exit(1);
        }
    }
}
