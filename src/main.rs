//! Wires the command line to the step or the demo, and the outcome to the exit code.

use clap::Parser as _;
use std::process::ExitCode;
use std::sync::Arc;
use vmss_check::cli::Cli;
use vmss_check::output::Reporter;
use vmss_check::settings::Settings;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // --help and --version print and exit 0; anything else is bad input: exit 2, with a
        // resultMessage like every other failure.
        Err(e) if !e.use_stderr() => e.exit(),
        Err(e) => {
            // Clap may quote a stray argument; scrub it with the secrets the environment holds,
            // the only ones knowable before parsing.
            let redactor = vmss_check::cli::secrets_in_environment();
            let text = e.to_string();
            // stderr too: Calamari parses it for service messages as well.
            for line in redactor.scrub(&text).lines() {
                let line = vmss_check::output::printable(line);
                eprintln!("{}", vmss_check::output::neutralise(&line));
            }
            let first = text
                .lines()
                .next()
                .unwrap_or("")
                .trim_start_matches("error: ");
            Reporter::stdout(redactor).fail(&format!("Invalid command line: {first}"));
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("the async runtime starts");
    #[cfg(feature = "sim")]
    if let Some(vmss_check::cli::Command::Demo(args)) = &cli.command {
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
    vmss_check::output::install_panic_hook(settings.redactor());
    let reporter = Arc::new(Reporter::stdout(settings.redactor()));
    match runtime.block_on(vmss_check::step::run(&settings, reporter.clone())) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            reporter.fail(&e.to_string());
            ExitCode::from(e.exit_code() as u8)
        }
    }
}
