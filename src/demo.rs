//! `vmss-check demo`: the real binary, run as Octopus would run it, against the simulated
//! scale-out in [`crate::sim::stories::scale_out`], followed by a short summary.
//!
//! The step's service messages are read back with [`crate::output::parse`] and shown as a
//! person would want them: log levels as styles (or `warning:`-like prefixes when stdout is not
//! a terminal), output variables as `name = value`, progress as one bar drawn by the demo.

use crate::cli::DemoArgs;
use crate::output::{neutralise, parse, Message};
use crate::sim::{stories, Sim};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::io::{IsTerminal as _, Write as _};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt as _, BufReader};

/// The exit code of a run stopped by Ctrl-C, as shells report it (128 + SIGINT).
const INTERRUPTED: i32 = 130;

/// Runs the demo; returns the exit code.
pub async fn run(args: &DemoArgs) -> i32 {
    let terminal = std::io::stdout().is_terminal();
    let styled = terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // A Windows console prints escape codes as text unless its VT mode is on: this turns it on
    // (Windows 10 and later) and says whether that worked.
    #[cfg(windows)]
    let styled = styled && console::Term::stdout().features().colors_supported();
    let mut screen = Screen::new(terminal, Decoder::new(styled));
    let world = stories::scale_out();
    let before: HashMap<String, String> = world
        .machines
        .iter()
        .map(|m| (m.id.clone(), m.name.clone()))
        .collect();
    let sim = Sim::start(world);
    let report_dir = match report_dir(args) {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("vmss-check demo: could not make a directory for the decision record: {e}");
            return 1;
        }
    };
    screen.print("vmss-check demo: a simulated scale set scales out from 5 to 12 VMs, with 2 over-provisioned extras.");
    screen.print("A deployment target trigger started this run; the 5 old VMs are left out of the output (ExcludeFromOutput=Yes).");
    screen.print("One old VM's extension failed (Failed but running), and a plain VM shares the role: both targets are kept.");
    screen.print("Automatic repairs are on (grace period 30 minutes) and the new VMs' health probe fails until the deployment installs the app: the step warns what Azure will do.");
    screen.print(&format!(
        "Azure AD at {}, Resource Manager at {}, Octopus at {}",
        sim.azure_ad_url, sim.arm_url, sim.octopus_url
    ));
    screen.print("");

    // Listening for Ctrl-C from before the step starts, so that no interrupt can leave it
    // running.
    let interrupted = interrupts();
    tokio::pin!(interrupted);
    let mut child = match step_command(&sim, args, &report_dir).and_then(|mut c| c.spawn()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vmss-check demo: could not run the step: {e}");
            return 1;
        }
    };
    let pid = child.id().unwrap_or_default();
    screen.print_in(
        Mode::Verbose,
        &format!("The step runs as process {pid}, with the environment Octopus would give it."),
    );
    // The step's stderr is a pipe, so it draws no spinner of its own (it does only on a
    // terminal); whatever else it writes there is passed on.
    if let Some(err) = child.stderr.take() {
        let bar = screen.bar.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(err).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                bar.suspend(|| eprintln!("{}", neutralise(&line)));
            }
        });
    }
    let mut out = child.stdout.take().map(|o| BufReader::new(o).lines());
    let stopped = loop {
        let Some(lines) = out.as_mut() else {
            break false;
        };
        tokio::select! {
            biased;
            _ = &mut interrupted => break true,
            line = lines.next_line() => match line {
                // Nobody reads the demo any more (`demo | head`): the step stops too.
                Ok(Some(_)) if screen.closed.get() => break true,
                Ok(Some(line)) => screen.show(&line),
                Ok(None) | Err(_) => out = None,
            },
        }
    };
    let status = if stopped {
        let _ = child.kill().await;
        None
    } else {
        tokio::select! {
            biased;
            _ = &mut interrupted => {
                let _ = child.kill().await;
                None
            }
            status = child.wait() => status.ok(),
        }
    };
    screen.bar.finish_and_clear();
    if screen.closed.get() {
        return 1;
    }
    let Some(status) = status else {
        screen.print(&format!(
            "\nInterrupted: stopped the step (process {pid}); nothing more will be removed."
        ));
        return INTERRUPTED;
    };
    let code = status.code().unwrap_or(1);

    let w = sim.world();
    screen.print("");
    screen.print("--- Summary ---");
    screen.print(&format!("exit code: {code}"));
    // By name: removals run several at a time, so the order Octopus saw them in varies.
    let mut removed: Vec<String> = w
        .deleted
        .iter()
        .map(|id| format!("{} ({id})", before.get(id).cloned().unwrap_or_default()))
        .collect();
    removed.sort();
    screen.print(&format!(
        "targets removed: {}",
        if removed.is_empty() {
            "none".into()
        } else {
            removed.join(", ")
        }
    ));
    screen.print(&format!(
        "requests: {} to Azure AD, {} to Resource Manager, {} to Octopus",
        w.requests(crate::sim::Service::AzureAd).len(),
        w.requests(crate::sim::Service::Arm).len(),
        w.requests(crate::sim::Service::Octopus).len()
    ));
    match screen.decoder.artifacts.as_slice() {
        [] => screen.print("decision record: none was written"),
        files => {
            screen.print("decision record (open the HTML in a browser):");
            for f in files {
                screen.print(&format!("  {f}"));
            }
        }
    }
    code
}

/// The step as its own process, exactly as the step template runs it; the proxy variables are
/// dropped so a proxy on this machine cannot intercept loopback calls.
fn step_command(
    sim: &Sim,
    args: &DemoArgs,
    report_dir: &std::path::Path,
) -> std::io::Result<tokio::process::Command> {
    let mut cmd = tokio::process::Command::new(std::env::current_exe()?);
    cmd.current_dir(report_dir)
        .env_clear()
        .envs(sim.env())
        .env("VMSS_POLL_INTERVAL", &args.poll_interval)
        .env("VMSS_TIMEOUT_VALUE", "2")
        .env("VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT", "Yes")
        .env("OCTOPUS_DEPLOYMENT_TRIGGER_ID", stories::TRIGGER)
        .env("OCTOPUS_DEPLOYMENT_TRIGGER_NAME", "New web VMs")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    // Windows needs SystemRoot to start its network stack (WSAStartup fails without it).
    for name in ["PATH", "SystemRoot"] {
        if let Ok(value) = std::env::var(name) {
            cmd.env(name, value);
        }
    }
    // A group of its own: Ctrl-C in a terminal reaches the demo alone, which stops the step.
    #[cfg(unix)]
    cmd.process_group(0);
    Ok(cmd)
}

/// Where the step writes its decision record: `--report-dir`, or a new directory under the
/// system's temporary one (a demo run should not litter the directory it was started in).
fn report_dir(args: &DemoArgs) -> std::io::Result<std::path::PathBuf> {
    let dir = match &args.report_dir {
        Some(dir) => dir.clone(),
        None => std::env::temp_dir().join(format!("vmss-check-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// Resolves on Ctrl-C (or, on Unix, SIGTERM), listening from the call on, not from the first
/// poll as `tokio::signal::ctrl_c` does.
fn interrupts() -> impl Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt()).ok();
        let mut term = signal(SignalKind::terminate()).ok();
        async fn next(s: Option<&mut tokio::signal::unix::Signal>) {
            match s {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        async move {
            tokio::select! {
                _ = next(int.as_mut()) => {}
                _ = next(term.as_mut()) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Where the demo draws: stdout, with a progress bar when stdout is a terminal, from the step's
/// first progress message on.
struct Screen {
    terminal: bool,
    decoder: Decoder,
    bar: ProgressBar,
    /// Whether stdout was closed under the demo (a broken pipe).
    closed: Cell<bool>,
}

impl Screen {
    fn new(terminal: bool, decoder: Decoder) -> Screen {
        let bar = ProgressBar::with_draw_target(Some(100), ProgressDrawTarget::hidden());
        bar.set_style(
            ProgressStyle::with_template("{bar:30.cyan/blue} {pos:>3}% {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Screen {
            terminal,
            decoder,
            bar,
            closed: Cell::new(false),
        }
    }

    /// Prints text of the demo's own.
    fn print(&self, text: &str) {
        self.print_in(Mode::Default, text);
    }

    /// Prints text of the demo's own, styled as the step's lines in that mode.
    fn print_in(&self, mode: Mode, text: &str) {
        for line in self.decoder.text(mode, text) {
            self.line(&line);
        }
    }

    /// Writes one line to stdout, under the bar; stops writing once stdout is closed.
    fn line(&self, line: &str) {
        if self.closed.get() {
            return;
        }
        self.bar.suspend(|| {
            if writeln!(std::io::stdout().lock(), "{line}").is_err() {
                self.closed.set(true);
            }
        });
    }

    /// Shows one line of the step's output.
    fn show(&mut self, line: &str) {
        match self.decoder.feed(line) {
            Shown::Lines(lines) => {
                for l in lines {
                    self.line(&l);
                }
            }
            Shown::Progress(percentage, message) => {
                if self.terminal && self.bar.is_hidden() {
                    self.bar.set_draw_target(ProgressDrawTarget::stdout());
                }
                self.bar.set_position(percentage.into());
                self.bar.set_message(message);
            }
        }
    }
}

/// The step's log level, from its last mode message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Default,
    Highlight,
    Verbose,
    Warning,
    Error,
}

/// What one line of the step's output becomes.
#[derive(Debug, PartialEq, Eq)]
enum Shown {
    /// Lines to print (maybe none).
    Lines(Vec<String>),
    /// A move of the progress bar.
    Progress(u8, String),
}

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const CYAN: &str = "\x1b[36m";
const RESET: &str = "\x1b[0m";

/// Turns the step's stdout into readable lines: service messages decoded, log levels shown
/// as styles (terminal) or prefixes (plain), output variables remembered for the summary.
struct Decoder {
    styled: bool,
    mode: Mode,
    /// Whether the last line shown was an output variable (they are listed under one heading).
    listing: bool,
    variables: HashMap<String, String>,
    /// The files the step attached (the decision record), in order.
    artifacts: Vec<String>,
}

impl Decoder {
    fn new(styled: bool) -> Decoder {
        Decoder {
            styled,
            mode: Mode::Default,
            listing: false,
            variables: HashMap::new(),
            artifacts: Vec::new(),
        }
    }

    fn paint(&self, colour: &str, text: &str) -> String {
        if self.styled {
            format!("{colour}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    /// Text in a mode: a style in a terminal, a prefix otherwise.
    fn text(&self, mode: Mode, text: &str) -> Vec<String> {
        let (prefix, colour) = match mode {
            Mode::Default => ("", ""),
            Mode::Highlight => ("highlight: ", BOLD),
            Mode::Verbose => ("verbose: ", DIM),
            Mode::Warning => ("warning: ", YELLOW),
            Mode::Error => ("error: ", RED),
        };
        text.split('\n')
            .map(|line| match (self.styled, mode) {
                (true, Mode::Default) => line.to_string(),
                // A warning or an error keeps its word: colour alone is easy to miss.
                (true, Mode::Highlight | Mode::Verbose) => self.paint(colour, line),
                (true, _) => self.paint(colour, &format!("{prefix}{line}")),
                (false, _) => format!("{prefix}{line}"),
            })
            .collect()
    }

    fn feed(&mut self, line: &str) -> Shown {
        let Some(message) = parse(line) else {
            self.listing = false;
            // A service message that does not parse is shown broken up, never as one.
            return Shown::Lines(self.text(self.mode, &neutralise(line)));
        };
        if !matches!(message, Message::SetVariable { .. }) {
            self.listing = false;
        }
        let lines = match message {
            Message::Mode(name) => {
                self.mode = match name.as_str() {
                    "stdout-highlight" => Mode::Highlight,
                    "stdout-verbose" => Mode::Verbose,
                    "stdout-warning" => Mode::Warning,
                    "stdout-error" => Mode::Error,
                    _ => Mode::Default,
                };
                Vec::new()
            }
            Message::Progress {
                percentage,
                message,
            } => return Shown::Progress(percentage, message),
            Message::SetVariable {
                name,
                value,
                sensitive,
            } => {
                let mut lines = Vec::new();
                if !self.listing {
                    self.listing = true;
                    lines.push(self.paint(BOLD, "Output variables:"));
                }
                let shown = if sensitive { "********" } else { &value };
                let line = format!("  {} = {shown}", self.paint(CYAN, &name));
                lines.push(line.trim_end().to_string());
                self.variables.insert(name, value);
                lines
            }
            Message::Result(text) => vec![self.paint(RED, &format!("result: {text}"))],
            Message::Artifact { path, name, length } => {
                let size = length.map(|l| format!(", {l} bytes")).unwrap_or_default();
                self.artifacts.push(path.clone());
                vec![self.paint(DIM, &format!("(artifact {name}{size}: {path})"))]
            }
            Message::Other { name, attrs } => {
                let attrs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
                vec![self.paint(DIM, &format!("({name}: {})", attrs.join(", ")))]
            }
        };
        Shown::Lines(lines)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::service_message;

    fn feed_all(decoder: &mut Decoder, lines: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for l in lines {
            if let Shown::Lines(shown) = decoder.feed(l) {
                out.extend(shown);
            }
        }
        out
    }

    #[test]
    fn plain_lines_name_the_level_and_decode_every_message() {
        let step = [
            "##octopus[stdout-warning]".to_string(),
            "Kept legacy-web-01.".into(),
            "##octopus[stdout-default]".into(),
            "Check 1".into(),
            service_message("progress", &[("percentage", "50"), ("message", "7 of 14")]),
            service_message("setVariable", &[("name", "A"), ("value", "1")]),
            service_message("setVariable", &[("name", "B"), ("value", "")]),
            service_message(
                "setVariable",
                &[("name", "Key"), ("value", "s3cret"), ("sensitive", "True")],
            ),
            crate::output::create_artifact("/tmp/x.json", "x.json", 12),
            service_message("resultMessage", &[("message", "Stopped.")]),
            "##octopus[setVariable name='broken".into(),
        ];
        let mut decoder = Decoder::new(false);
        assert_eq!(
            feed_all(&mut decoder, &step),
            [
                "warning: Kept legacy-web-01.",
                "Check 1",
                "Output variables:",
                "  A = 1",
                "  B =",
                "  Key = ********",
                "(artifact x.json, 12 bytes: /tmp/x.json)",
                "result: Stopped.",
                "## octopus[setVariable name='broken",
            ]
        );
        assert_eq!(decoder.variables["A"], "1");
        assert_eq!(decoder.artifacts, ["/tmp/x.json"]);
        assert_eq!(
            Decoder::new(false).feed(&step[4]),
            Shown::Progress(50, "7 of 14".into())
        );
    }

    #[test]
    fn styled_lines_use_colour_and_keep_warning_words() {
        let mut decoder = Decoder::new(true);
        let lines = feed_all(
            &mut decoder,
            &[
                "##octopus[stdout-warning]".into(),
                "Kept a target.".into(),
                "##octopus[stdout-verbose]".into(),
                "Detail.".into(),
            ],
        );
        assert_eq!(
            lines,
            [
                format!("{YELLOW}warning: Kept a target.{RESET}"),
                format!("{DIM}Detail.{RESET}")
            ]
        );
    }
}
