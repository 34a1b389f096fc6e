//! Wires the command line to the step or the demo, and the outcome to the exit code.

use clap::Parser as _;
use std::process::ExitCode;
use std::sync::Arc;
use vmss_check::cli::{Cli, Command};
use vmss_check::output::Reporter;
use vmss_check::settings::Settings;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print and exit 0; anything else is bad input: exit 2, with a
        // resultMessage like every other failure.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            let _ = e.print();
            let first = e
                .to_string()
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ")
                .to_string();
            Reporter::stdout(Default::default()).fail(&format!("Invalid command line: {first}"));
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the async runtime starts");
    if let Some(Command::Demo(args)) = &cli.command {
        return ExitCode::from(runtime.block_on(vmss_check::demo::run(args)) as u8);
    }
    // Inputs are checked before anything is contacted; exit 2 names the Octopus parameter.
    let settings = match Settings::from_args(&cli.step) {
        Ok(s) => s,
        Err(e) => {
            Reporter::stdout(cli.step.redactor()).fail(&e.to_string());
            return ExitCode::from(e.exit_code() as u8);
        }
    };
    install_panic_hook(settings.redactor());
    let reporter = Arc::new(Reporter::stdout(settings.redactor()));
    match runtime.block_on(vmss_check::step::run(&settings, reporter.clone())) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            reporter.fail(&e.to_string());
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

/// A panic is a bug, but it still ends the step with a resultMessage, and its text is scrubbed
/// of secrets like every other line (the default hook would print it as is).
fn install_panic_hook(redactor: vmss_check::redacted::Redactor) {
    std::panic::set_hook(Box::new(move |info| {
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = format!(
            "vmss-check stopped on an internal error{at} ({payload}); nothing more was removed. Please report it with this log."
        );
        Reporter::stdout(redactor.clone()).fail(&message);
    }));
}
