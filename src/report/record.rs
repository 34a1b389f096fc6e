//! The decision record, said in the log.

/// What the decision record's summary line counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Targets deployed to.
    pub output: usize,
    /// Targets removed.
    pub removed: usize,
    /// Targets kept (failed, stopped, pending, shared name, foreign, unverified).
    pub kept: usize,
    /// Targets left out of the output (pre-existing, disabled, a duplicate run's).
    pub left_out: usize,
    /// VMs in the record.
    pub vms: usize,
    /// Checks of the wait.
    pub checks: usize,
}

/// The decision record's summary line: how the run ended and what it decided.
pub fn record_summary(result: &str, failure: Option<&str>, t: Tally) -> String {
    let head = match (result, failure) {
        (_, Some(why)) => format!("Failed: {why}"),
        ("timedOut", None) => "Timed out and proceeded:".to_string(),
        _ => "Succeeded:".to_string(),
    };
    format!(
        "{head} {} target(s) deployed to, {} removed, {} kept, {} left out of the output; {} VM(s) over {} check(s).",
        t.output, t.removed, t.kept, t.left_out, t.vms, t.checks
    )
}

/// The decision record is attached (Octopus collects it once the step ends).
pub fn record_attached(name: &str, path: &std::path::Path) -> String {
    format!(
        "Attached the decision record {name} (from {}); Octopus collects it when this step ends.",
        path.display()
    )
}

/// The record could not be checked for secrets, so it was not written at all.
pub const RECORD_NOT_SCRUBBED: &str = "The decision record was not written: it could not be checked for secrets, and a record is never written unchecked. The step goes on without it; the log above says what it decided.";

/// A decision record that could not be written: the step goes on.
pub fn record_not_written(path: &std::path::Path, error: &std::io::Error) -> String {
    format!(
        "Could not write the decision record {} ({error}); the step goes on without it. Check that the step's working directory is writable, or set VMSS.Report.Artifacts to No.",
        path.display()
    )
}
