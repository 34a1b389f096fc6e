//! Every sentence the step says to a person about its outcome, and the output variables later
//! steps read (the contract's outputs): one home for the words, so that the log reads the same
//! everywhere and fits a screen at 1,000 VMs.
//!
//! Highlighted lines are summaries, one per outcome (removed, kept, deployed), with names capped
//! at [`NAMES_SHOWN`] and a count of the rest; the detail goes to verbose lines.
//!
//! One file a part of the run: `wait`, `signin`, `runs` (duplicates, pre-existing
//! targets), `decisions` (the plan and the removals), `variables` (the output variables, in
//! a module of their own), `record` (the decision record in the log), `azure` (why a call to
//! Azure failed: the `Display` of `azure::AzureRefusal`), `octopus` (why a call to Octopus
//! failed: the `Display` of `octopus::OctopusRefusal`).

use crate::settings::ScaleSetRef;
use std::time::Duration;

mod azure;
mod decisions;
mod octopus;
mod record;
mod runs;
mod signin;
mod variables;
mod wait;

pub use decisions::*;
pub use record::*;
pub use runs::*;
pub use signin::*;
pub use variables::*;
pub use wait::*;

/// How many names a line shows before it counts the rest.
pub const NAMES_SHOWN: usize = 10;

/// A list of names, cut short with a count when long: `a, b, c and 12 more`.
pub fn names<S: AsRef<str>>(list: &[S]) -> String {
    let shown: Vec<&str> = list.iter().take(NAMES_SHOWN).map(AsRef::as_ref).collect();
    match list.len().saturating_sub(NAMES_SHOWN) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// A duration in words: `30 minutes`, `1 minute 30 seconds`, `600 milliseconds`.
pub fn duration(d: Duration) -> String {
    let mut f = timeago::Formatter::new();
    f.ago("")
        .num_items(2)
        .min_unit(timeago::TimeUnit::Milliseconds);
    f.convert(d).trim().to_string()
}

/// The first verbose line: which build ran.
pub fn version() -> String {
    format!(
        "vmss-check {} ({} build).",
        env!("CARGO_PKG_VERSION"),
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    )
}

/// `scale set vmss-web in resource group rg-web`, or `2 scale sets (a in rg-a, b in rg-b)`.
fn which(sets: &[ScaleSetRef]) -> String {
    match sets {
        [one] => format!("scale set {one} in resource group {}", one.resource_group),
        many => format!(
            "{} scale sets ({})",
            many.len(),
            many.iter()
                .map(|s| format!("{s} in {}", s.resource_group))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_capped_with_a_count() {
        let few = ["a", "b"];
        assert_eq!(names(&few), "a, b");
        let many: Vec<String> = (0..25).map(|i| format!("web{i:02}")).collect();
        assert_eq!(
            names(&many),
            "web00, web01, web02, web03, web04, web05, web06, web07, web08, web09 and 15 more"
        );
        assert_eq!(names::<&str>(&[]), "");
    }

    #[test]
    fn durations_read_as_words() {
        let s = Duration::from_secs;
        assert_eq!(duration(s(1800)), "30 minutes");
        assert_eq!(duration(s(90)), "1 minute 30 seconds");
        assert_eq!(duration(Duration::from_millis(600)), "600 milliseconds");
        assert_eq!(duration(s(7200)), "2 hours");
    }
}
