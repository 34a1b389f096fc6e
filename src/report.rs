//! Every sentence the step says to a person about its outcome, and the output variables later
//! steps read (the contract's outputs): one home for the words, so that the log reads the same
//! everywhere and fits a screen at 1,000 VMs.
//!
//! Highlighted lines are summaries, one per outcome (removed, kept, deployed), with names capped
//! at [`NAMES_SHOWN`] and a count of the rest; the detail goes to verbose lines.

use crate::azure::ScaleSet;
use crate::error::Failure;
use crate::outcome::{Decision, Excluded, Outcome};
use crate::output::Reporter;
use crate::reconcile::{self, Instance, InstanceState, Plan, Prefix, RemovalReason, Target};
use crate::settings::{ScaleSetRef, TimeoutHandle};
use std::time::Duration;

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

/// The wait begins.
pub fn waiting(sets: &[ScaleSetRef], timeout: Duration) -> String {
    format!(
        "Waiting up to {} for {} to settle.",
        duration(timeout),
        which(sets)
    )
}

/// The wait ends well.
pub fn settled(sets: &[ScaleSetRef], took: Duration) -> String {
    format!(
        "{} settled after {}.",
        capitalise(&which(sets)),
        duration(took)
    )
}

/// The deadline came first: as the step's failure (`VMSS.Timeout.ErrorHandle` is `Error`), or
/// as the warning it proceeds with.
pub fn did_not_settle(
    sets: &[ScaleSetRef],
    timeout: Duration,
    still: &str,
    handle: TimeoutHandle,
) -> String {
    let head = format!(
        "{} did not settle within {} ({still})",
        capitalise(&which(sets)),
        duration(timeout)
    );
    if handle == TimeoutHandle::Error {
        format!("{head}; nothing was removed. Raise VMSS.Timeout.Value, or set VMSS.Timeout.ErrorHandle to Proceed to deploy to the instances that are ready.")
    } else {
        format!("{head}. Proceeding: the targets of instances still changing are neither removed nor deployed to.")
    }
}

/// A check failed in a way another check cannot mend, and ended the wait.
pub fn wait_failed(failure: &Failure) -> String {
    format!("{} Nothing was removed.", failure.message)
}

/// The deadline came while the checks were failing: `failure` is the last one.
pub fn failing_at_deadline(failure: &Failure) -> String {
    format!(
        "{} The wait ran out before Azure answered; nothing was removed.",
        failure.message
    )
}

/// Azure asked (`Retry-After`) to be left alone past the deadline, so the wait slept to the
/// deadline and ended there: a timeout, handled as `VMSS.Timeout.ErrorHandle` says.
pub fn throttled_to_the_deadline(
    sets: &[ScaleSetRef],
    timeout: Duration,
    throttle: &Failure,
    handle: TimeoutHandle,
) -> String {
    let asked = throttle
        .retry_after
        .map(|r| format!(" asked to wait {}, past the deadline", duration(r)))
        .unwrap_or_default();
    let head = format!(
        "Azure throttled the checks of {} and{asked}, so the wait ended at its deadline ({}) without seeing them settle",
        which(sets),
        duration(timeout)
    );
    if handle == TimeoutHandle::Error {
        format!("{head}; nothing was removed. Compute's read budget is shared by the whole subscription and region: raise VMSS.Poll.Interval or VMSS.Timeout.Value, or set VMSS.Timeout.ErrorHandle to Proceed.")
    } else {
        format!("{head}. Proceeding: the instances are listed once more, and the targets of instances still changing are neither removed nor deployed to.")
    }
}

/// A failure that stopped the step before anything was removed.
pub fn nothing_removed(f: &crate::error::Failure) -> String {
    format!("{} Nothing was removed.", f.message)
}

/// The progress bar's text.
pub fn ready(ready: usize, of: Option<usize>) -> String {
    match of {
        Some(0) => "Waiting for the scale set".to_string(),
        Some(total) => format!("{ready} of {total} instance(s) ready"),
        None => format!("{ready} instance(s) ready"),
    }
}

/// One check that found something still changing.
pub fn check(check: u32, ready: usize, total: usize, still: &str) -> String {
    if total == 0 {
        // No instance listed yet (the scale set itself is still changing): no count to give.
        format!("Check {check}: {still}.")
    } else {
        format!("Check {check}: {ready} of {total} instance(s) ready; {still}.")
    }
}

/// A check that failed, said the first time.
pub fn check_failed(check: u32, failure: &crate::error::Failure) -> String {
    format!("Check {check}: {} Will check again.", failure.message)
}

/// The same failure again, counted.
pub fn check_failed_again(check: u32, repeats: u32) -> String {
    format!(
        "Check {check}: the same failure again ({} checks in a row).",
        repeats + 1
    )
}

/// The poll interval stretched for Azure's read budget; `low` when the budget really is
/// running low (not merely too small for the interval asked for).
pub fn pacing(bucket: &str, remaining: u32, every: Duration, low: bool) -> String {
    if low {
        format!(
            "Azure's read budget is running low ({bucket}: {remaining} left); checking every {} so that it lasts, for this step and the rest of the subscription.",
            duration(every)
        )
    } else {
        format!(
            "Checking every {} rather than every VMSS.Poll.Interval, so that Azure's read budget ({bucket}: {remaining} left) lasts until it refills, for this step and the rest of the subscription.",
            duration(every)
        )
    }
}

/// A scale set that says it has VMs but lists none.
pub fn listed_none_with_capacity(set: &ScaleSetRef, capacity: i64) -> String {
    format!("Scale set {set} has capacity {capacity} but Azure listed no instances, so its listing cannot show which targets are stale: nothing is removed on its account, and none of its targets is deployed to. Check that the Azure account may read the scale set's VMs (for a Flexible scale set, Reader on its resource group).")
}

/// A scale set that lists none and has no capacity at all.
pub fn listed_none_without_capacity(set: &ScaleSetRef) -> String {
    format!("Scale set {set} listed no VMs and reports no capacity, so its listing cannot show which targets are stale: nothing is removed on its account.")
}

/// The preflight got no answer.
pub fn octopus_silent(url: &url::Url, within: Duration) -> String {
    format!(
        "Octopus at {url} did not answer within {}. Check VMSS.Octopus.Url, and that the server is up; nothing was removed.",
        duration(within)
    )
}

/// The OIDC token will expire before the wait could end.
pub fn oidc_expires_first(
    expires: time::OffsetDateTime,
    left: Duration,
    timeout: Duration,
) -> String {
    format!(
        "The Azure account's federated (OIDC) token expires at {} UTC, in {}, which is before this step's wait could end (VMSS.Timeout.Value is {}). Azure AD will not issue a new access token after then (AADSTS700024), so a wait that needs one fails. Lower VMSS.Timeout.Value, or use an Azure account with a client secret for long waits.",
        expires
            .format(&time::macros::format_description!("[hour]:[minute]:[second]"))
            .unwrap_or_default(),
        duration(left),
        duration(timeout)
    )
}

/// The Octopus access token will expire before the step's latest end (or already has).
pub fn octopus_token_expires_first(
    expires: time::OffsetDateTime,
    latest: time::OffsetDateTime,
    left: Duration,
    overrun: Duration,
) -> String {
    use crate::signin::utc;
    let when = if left.is_zero() {
        format!("expired at {}, before this step started", utc(expires))
    } else {
        format!(
            "expires at {}, in {}, before this step's latest end at {} (VMSS.Timeout.Value from now, plus {} for the work after the wait)",
            utc(expires),
            duration(left),
            utc(latest),
            duration(overrun)
        )
    };
    format!(
        "The Octopus access token in VMSS.Octopus.ApiKey {when}. Octopus refuses it from then on, and the step fails wherever it has got to. Run the step \"Octopus - Authenticate with OIDC\" right before this one (its tokens last one hour), or lower VMSS.Timeout.Value."
    )
}

/// Who the signed-in user is, in words: whose key or token, and its name.
fn signed_in(token: bool, user: &str) -> String {
    if token {
        format!("The access token's service account {user}")
    } else {
        format!("The API key's user {user}")
    }
}

/// Where the run is, in words: `space Spaces-1, environment Environments-1, tenant Tenants-1`.
fn run_scope(at: &crate::permissions::Scope<'_>) -> String {
    let mut parts = Vec::new();
    if let Some(space) = at.space {
        parts.push(format!("space {space}"));
    }
    parts.push(format!("environment {}", at.environment));
    if let Some(tenant) = at.tenant {
        parts.push(format!("tenant {tenant}"));
    }
    parts.join(", ")
}

/// The signed-in user may not do what the run needs where it runs: which permissions, how
/// their grants fall short, and the team setting to change.
pub fn permissions_missing(
    token: bool,
    user: &str,
    teams: &[String],
    missing: &[crate::permissions::Missing],
    at: &crate::permissions::Scope<'_>,
) -> String {
    use crate::permissions::Shortfall;
    let ids = |ids: &[String]| ids.join(", ");
    let each: Vec<String> = missing
        .iter()
        .map(|m| {
            let how = match &m.shortfall {
                Shortfall::NotInSpace => "no team of the user grants it in this space".to_string(),
                Shortfall::Environments(e) => format!("granted only in environments {}", ids(e)),
                Shortfall::Tenants(t) => format!("granted only for tenants {}", ids(t)),
                Shortfall::Projects(p) => format!("granted only for projects {}", ids(p)),
            };
            format!("{} (to {}; {how})", m.need.permission, m.need.why)
        })
        .collect();
    let mut add = Vec::new();
    for m in missing {
        let what = match &m.shortfall {
            Shortfall::Environments(_) => format!("environment {}", at.environment),
            Shortfall::Tenants(_) => format!("tenant {}", at.tenant.unwrap_or_default()),
            Shortfall::Projects(_) => format!("project {}", at.project.unwrap_or_default()),
            Shortfall::NotInSpace => continue,
        };
        if !add.contains(&what) {
            add.push(what);
        }
    }
    let teams = if teams.is_empty() {
        String::new()
    } else {
        format!(" (teams: {})", teams.join(", "))
    };
    let change = if add.is_empty() {
        "include a user role that grants them, in this space".to_string()
    } else {
        format!(
            "add {} to the scope of the user role that grants them (the role's Define scope), or include a role that grants them with that scope",
            add.join(" and ")
        )
    };
    format!(
        "{}{teams} lacks permissions this run needs in {}: {}. Octopus does not refuse such a user, it shows it fewer targets or none, so the step stopped here rather than decide on a partial list; nothing was removed. In Octopus, Configuration -> Teams, on the user's team: {change}.",
        signed_in(token, user),
        run_scope(at),
        each.join(", ")
    )
}

/// Octopus could not say what the signed-in user may do: the step goes on as before.
pub fn permissions_unknown(why: &str) -> String {
    format!(
        "Octopus did not say what the signed-in user may do ({}), so the step could not check its permissions for this run's environment and goes on without. A key or token whose team is scoped to other environments or tenants sees fewer targets, not an error: if the step finds no targets where there should be some, check the team's scope.",
        why.trim_end_matches('.')
    )
}

/// Every needed permission is granted where the run is (verbose).
pub fn permissions_granted(
    token: bool,
    user: &str,
    needs: &[crate::permissions::Need],
    at: &crate::permissions::Scope<'_>,
) -> String {
    let names: Vec<&str> = needs.iter().map(|n| n.permission).collect();
    format!(
        "{} may do what this run needs in {}: {}.",
        signed_in(token, user),
        run_scope(at),
        names.join(", ")
    )
}

/// Roles of the run that are tags of two or more target tag sets (one warning for all).
pub fn tags_in_several_sets(shared: &[crate::target_tags::SharedTag]) -> String {
    let each: Vec<String> = shared
        .iter()
        .map(|s| format!("{} is a tag of {}", s.tag, s.sets.join(" and ")))
        .collect();
    format!(
        "Target tag {}. Octopus matches targets by tag value whatever its tag set, so VMSS.DeploymentTarget.Roles selects the targets tagged so in any of them. If the sets mean different machines, rename one of the tags.",
        each.join("; target tag ")
    )
}

/// The target tag sets could not be read (verbose: the check is only a warning).
pub fn tag_sets_unread(f: &crate::error::Failure) -> String {
    format!(
        "The target tag sets were not read, so the step did not check whether a role is a tag of two sets: {}",
        f.message
    )
}

/// A triggered run that is not a duplicate.
pub fn not_a_duplicate(this: &crate::context::ThisRun, window: Duration) -> String {
    format!(
        "Not a duplicate: no other run of this project in this environment finished within {} before this run was queued at {}.",
        duration(window),
        crate::context::format_time(this.queued)
    )
}

/// A duplicate trigger run.
pub fn duplicate(
    trigger: &str,
    this: &crate::context::ThisRun,
    previous: &crate::context::PreviousRun,
    window: Duration,
) -> String {
    format!(
        "Duplicate run: trigger {trigger} queued this run at {}, and the previous run ({}, {}) finished at {}, within VMSS.Duplicate.TimeInMinutes ({}).",
        crate::context::format_time(this.queued),
        previous.task_id,
        previous.state,
        crate::context::format_time(previous.finished),
        duration(window)
    )
}

/// A duplicate that carries on.
pub const PROCEEDING_ON_A_DUPLICATE: &str =
    "Carrying on (VMSS.Duplicate.Handle is Proceed): targets are reconciled, but none are output.";

/// A duplicate that cancels its own task.
pub fn cancelling(this: &crate::context::ThisRun) -> String {
    format!(
        "Cancelling this run's task {} (VMSS.Duplicate.Handle is Cancel); nothing was removed.",
        this.task_id
    )
}

/// Members left out as pre-existing (`VMSS.OldServers.ExcludeFromOutput`).
pub fn pre_existing(old: &[Target], since: time::OffsetDateTime) -> String {
    let ns: Vec<&str> = old.iter().map(|t| t.name.as_str()).collect();
    format!(
        "Leaving {} pre-existing target(s) out of the output, created before {} (VMSS.OldServers.TimeInMinutes before this run was queued) or with no creation event: {}.",
        old.len(),
        crate::context::format_time(since),
        names(&ns)
    )
}

/// What is still changing in one scale set: `the scale set itself is Updating`, or
/// `2 instance(s) still changing: web000003 (Creating), ...`; with `named`, prefixed by the
/// scale set's name, for steps that wait for several.
pub fn still_changing(
    set: &ScaleSetRef,
    state: Option<&str>,
    instances: Option<&[Instance]>,
    named: bool,
) -> String {
    let text = match instances {
        None => format!(
            "{} is {}",
            if named { "it" } else { "the scale set itself" },
            state.unwrap_or("changing")
        ),
        Some(is) => {
            let pending: Vec<String> = is
                .iter()
                .filter(|i| i.state() == InstanceState::Pending)
                .map(|i| format!("{} ({})", i.display_name(), i.describe_state()))
                .collect();
            format!(
                "{} instance(s) still changing: {}",
                pending.len(),
                names(&pending)
            )
        }
    };
    if named {
        format!("{set}: {text}")
    } else {
        text
    }
}

/// One target removed (or, in a dry run, that would be), with the reason: a verbose line.
pub fn removing(target: &Target, reason: &RemovalReason, dry_run: bool) -> String {
    let verb = if dry_run {
        "Dry run: would remove"
    } else {
        "Removed"
    };
    format!("{verb} target {} ({}): {reason}.", target.name, target.id)
}

/// A target someone else removed first.
pub fn already_removed(target: &Target) -> String {
    format!(
        "Target {} ({}) was already removed.",
        target.name, target.id
    )
}

/// Why the step fails after removing some of the targets it meant to.
pub fn not_all_removed(
    removed: usize,
    planned: usize,
    not_tried: usize,
    failed: &[(String, Failure)],
) -> String {
    if not_tried > 0 {
        format!(
            "The step's time ran out (2 minutes past VMSS.Timeout.Value) after removing {removed} of {planned} target(s); {not_tried} were not tried{}. A later run will remove them.",
            failed
                .first()
                .map(|(name, why)| format!(", and {name} failed: {}", why.message))
                .unwrap_or_default()
        )
    } else {
        let (name, first) = failed
            .first()
            .map(|(n, w)| (n.as_str(), w.message.as_str()))
            .unwrap_or_default();
        format!(
            "Could not remove {} of {planned} target(s), {name} first: {first}",
            failed.len()
        )
    }
}

/// What was removed (or, in a dry run, would be): one highlighted summary naming the first
/// few; each target's reason is in the verbose line written when it went.
pub fn removed(removed: &[(Target, RemovalReason)], dry_run: bool, reporter: &Reporter) {
    if removed.is_empty() {
        return;
    }
    let ns: Vec<&str> = removed.iter().map(|(t, _)| t.name.as_str()).collect();
    let verb = if dry_run {
        "Dry run: would remove"
    } else {
        "Removed"
    };
    reporter.highlight(&format!(
        "{verb} {} target(s) whose VMs are gone: {}.",
        ns.len(),
        names(&ns)
    ));
}

/// The plan, for a person: one verbose line of counts, and one warning per kind of target kept
/// (Failed VMs with Azure's reason, stopped VMs, foreign targets, unverified ones) and for VMs
/// whose Tentacle did not register; each names at most [`NAMES_SHOWN`] and counts the rest.
pub fn plan(
    plan: &Plan,
    instances: &[Instance],
    prefixes: &[Prefix],
    scale_sets: &[(ScaleSetRef, ScaleSet)],
    reporter: &Reporter,
) {
    let c = crate::outcome::Counts::of(instances);
    let kept = plan.in_scope() - plan.members.len() - plan.pending.len() - plan.remove.len();
    reporter.verbose(&format!(
        "Instances: {} ready, {} changing, {} stopped, {} failed, {} pooled, {} gone. Targets in scope: {} to deploy to, {} changing, {} to remove, {} kept; {} out of scope.",
        c.ready,
        c.changing,
        c.stopped,
        c.failed,
        c.pooled,
        c.gone,
        plan.members.len(),
        plan.pending.len(),
        plan.remove.len(),
        kept,
        plan.out_of_scope
    ));
    if plan.in_scope() == 0 && instances.iter().any(|i| i.state() != InstanceState::Gone) {
        reporter.warn(
            "No deployment target in this environment has all the roles in VMSS.DeploymentTarget.Roles, \
             although the scale set has VMs: check the roles for a typo, and that the VMs' Tentacles register with them.",
        );
    }
    if !plan.failed.is_empty() {
        let ns: Vec<String> = plan
            .failed
            .iter()
            .map(|(t, i)| {
                let why = i.reason.as_deref().unwrap_or("Azure gave no reason");
                format!("{} (VM {} in {}: {why})", t.name, i.name, i.scale_set)
            })
            .collect();
        reporter.warn(&format!(
            "Kept {} target(s) whose VM Azure reports Failed, and left them out of the output: {}. A Failed VM may still be serving; fix the cause (often an extension), then reimage or redeploy it.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.repair_due.is_empty() {
        let ns: Vec<String> = plan
            .repair_due
            .iter()
            .map(|(t, i)| format!("{} (VM {} in {})", t.name, i.name, i.scale_set))
            .collect();
        reporter.warn(&format!(
            "Kept {} target(s) whose VM Azure reports unhealthy for longer than its scale set's repair grace period, and left them out of the output: {}. Automatic repairs are about to replace these VMs; their targets are removed once the VMs are gone.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.stopped.is_empty() {
        let ns: Vec<String> = plan
            .stopped
            .iter()
            .map(|(t, i)| {
                format!(
                    "{} ({} in {})",
                    t.name,
                    i.power_state.as_deref().unwrap_or("stopped"),
                    i.scale_set
                )
            })
            .collect();
        reporter.warn(&format!(
            "Kept {} target(s) whose VM is stopped or deallocated (an evicted Spot VM among them), and left them out of the output: {}. Start the VMs to deploy to them.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.foreign.is_empty() {
        let ns: Vec<String> = plan.foreign.iter().map(|t| t.name.clone()).collect();
        let known: Vec<String> = prefixes
            .iter()
            .map(|p| {
                format!(
                    "{}{} ({})",
                    p.prefix,
                    "?".repeat(reconcile::NAME_SUFFIX_LEN),
                    p.scale_set
                )
            })
            .collect();
        let without: Vec<String> = scale_sets
            .iter()
            .filter(|(_, ss)| !prefixes.iter().any(|p| p.set_id == ss.id))
            .map(|(set, _)| set.name.clone())
            .collect();
        let mut why = if known.is_empty() {
            "no computer name prefix is known for the scale set(s)".to_string()
        } else {
            format!(
                "their names are not a scale set's computer name prefix followed by exactly {} letters or digits ({})",
                reconcile::NAME_SUFFIX_LEN,
                known.join(", ")
            )
        };
        if !without.is_empty() && !known.is_empty() {
            why.push_str(&format!("; {} lend no prefix", without.join(", ")));
        }
        reporter.warn(&format!(
            "Kept {} target(s) with the roles that match no VM of the scale set(s), because {why}: {}. They may belong to another scale set or a plain VM sharing the roles; vmss-check never removes those.",
            ns.len(),
            names(&ns)
        ));
    }
    for (prefix, sets) in reconcile::shared_prefixes(prefixes) {
        reporter.warn(&format!(
            "Scale sets {} share the computer name prefix {prefix}, so a target named {prefix}{} could be a VM of either: give each scale set its own computerNamePrefix.",
            sets.join(" and "),
            "?".repeat(reconcile::NAME_SUFFIX_LEN),
        ));
    }
    if !plan.shared_names.is_empty() {
        let ns: Vec<String> = plan
            .shared_names
            .iter()
            .map(|s| {
                let vms: Vec<String> = s
                    .instances
                    .iter()
                    .map(|i| format!("{} in {}, {}", i.name, i.scale_set, i.describe_state()))
                    .collect();
                format!("{} ({})", s.name, names(&vms))
            })
            .collect();
        reporter.warn(&format!(
            "{} computer name(s) are reported by several VMs at once, so a target with such a name cannot be tied to one VM: {}. Such a target is never removed, and is deployed to only while every VM with its name is ready and running. Build the scale set from a generalized image (its OS profile gives each VM its own name), or have the bootstrap script give each VM a unique host name before the Tentacle registers.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.unverified.is_empty() {
        let ns: Vec<String> = plan.unverified.iter().map(|t| t.name.clone()).collect();
        reporter.warn(&format!(
            "Kept {} target(s) that match no named instance ({}), because some instance has no computer name yet; a later run will remove them if their VMs are gone.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.disabled.is_empty() {
        let ns: Vec<String> = plan.disabled.iter().map(|t| t.name.clone()).collect();
        reporter.info(&format!(
            "Left {} disabled target(s) out of the output: {}.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.unregistered.is_empty() {
        let ns: Vec<String> = plan
            .unregistered
            .iter()
            .map(|i| format!("{} ({})", i.display_name(), i.scale_set))
            .collect();
        reporter.warn(&format!(
            "{} VM(s) are ready and running but have no deployment target in scope: {}. Their Tentacle did not register, so no deployment will reach them: check the scale set's custom script extension and the roles it registers with.",
            ns.len(),
            names(&ns)
        ));
    }
}

/// Output variable names, as later steps read them.
pub mod vars {
    /// `True` when there is at least one target to deploy to and the run is not a duplicate.
    pub const HAS_SERVERS: &str = "VMSSHasServersToDeployTo";
    /// Comma list of target ids.
    pub const TARGET_IDS: &str = "VMSSDeploymentTargetIds";
    /// Comma list of target names, same order.
    pub const TARGET_NAMES: &str = "VMSSDeploymentTargetNames";
    /// `True` for a duplicate trigger run.
    pub const DUPLICATE: &str = "VMSSDuplicateRun";
    /// Comma list of removed target ids (a dry run: those it would remove).
    pub const REMOVED_IDS: &str = "VMSSRemovedTargetIds";
    /// Comma list of removed target names.
    pub const REMOVED_NAMES: &str = "VMSSRemovedTargetNames";
    /// Comma list of targets left alone because their instance was still changing.
    pub const PENDING_NAMES: &str = "VMSSPendingTargetNames";
    /// `True` when the wait timed out and the step proceeded.
    pub const TIMED_OUT: &str = "VMSSTimedOut";
    /// Comma list of members left out as pre-existing.
    pub const PRE_EXISTING_NAMES: &str = "VMSSPreExistingTargetNames";
    /// Comma list of targets kept but not output because their VM is `Failed`.
    pub const FAILED_NAMES: &str = "VMSSFailedTargetNames";
    /// Comma list of targets kept but not output because their VM is stopped or deallocated.
    pub const STOPPED_NAMES: &str = "VMSSStoppedTargetNames";
    /// Comma list of computer names of ready VMs that no in-scope target matches.
    pub const UNREGISTERED_NAMES: &str = "VMSSUnregisteredInstanceNames";
}

/// Why a target's decision is what it is, in a few words for the decision record.
pub fn decided(d: &Decision) -> String {
    match d {
        Decision::OutOfScope(Excluded::Environment(env)) => format!("not in {env}"),
        Decision::OutOfScope(Excluded::Role(role)) => format!("lacks role {role}"),
        Decision::OutOfScope(Excluded::ParticipationUnknown) => {
            "its tenanted participation is unknown".into()
        }
        Decision::OutOfScope(Excluded::TenantedOnly) => "takes part in tenanted runs only".into(),
        Decision::OutOfScope(Excluded::Tenant(tenant)) => format!("not linked to tenant {tenant}"),
        Decision::Output => "its VM is ready and running".into(),
        Decision::Removed(reason) => reason.to_string(),
        Decision::Failed => "kept: its VM is Failed".into(),
        Decision::Stopped => "kept: its VM is stopped or deallocated".into(),
        Decision::Foreign => {
            "kept: it matches no VM and does not have a scale set's computer-name shape".into()
        }
        Decision::SharedName => "kept: several VMs share its computer name".into(),
        Decision::Pending => "kept: its VM was still changing".into(),
        Decision::Unverified => "kept: a VM of its scale set has no computer name yet".into(),
        Decision::PreExisting => "left out: created before VMSS.OldServers.TimeInMinutes".into(),
        Decision::Disabled => "left out: disabled in Octopus".into(),
        Decision::Pooled => "kept: a standby pool holds its VM".into(),
        Decision::Unproven(why) => format!("kept: {why}"),
        Decision::RepairDue => {
            "kept, not output: Azure reports its VM unhealthy past the repair grace period, so automatic repairs are about to replace it".into()
        }
    }
}

/// What the decision record's summary line counts.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tally {
    /// Targets deployed to.
    pub output: usize,
    /// Targets removed.
    pub removed: usize,
    /// Targets kept (failed, stopped, pending, shared name, foreign, unverified).
    pub kept: usize,
    /// Targets left out of the output (pre-existing, disabled).
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

/// Sets every output variable, after one highlighted line saying whom the deployment goes to,
/// and keeps them in the outcome for the decision record.
pub fn outputs(outcome: &mut Outcome, reporter: &Reporter) {
    let deploy: &[Target] = if outcome.duplicate {
        &[]
    } else {
        &outcome.output
    };
    let ids: Vec<&str> = deploy.iter().map(|t| t.id.as_str()).collect();
    let names_: Vec<&str> = deploy.iter().map(|t| t.name.as_str()).collect();
    let has = !deploy.is_empty();
    if has {
        reporter.highlight(&format!(
            "Deploying to {} target(s): {}.",
            ids.len(),
            names(&names_)
        ));
    } else {
        reporter.highlight("No targets to deploy to.");
    }
    let bool_ = |b: bool| if b { "True" } else { "False" };
    let mut set_vars: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: &str| {
        reporter.set_variable(name, value);
        set_vars.push((name.to_string(), value.to_string()));
    };
    set(vars::HAS_SERVERS, bool_(has));
    set(vars::TARGET_IDS, &ids.join(","));
    set(vars::TARGET_NAMES, &names_.join(","));
    set(vars::DUPLICATE, bool_(outcome.duplicate));
    let removed_ids: Vec<&str> = outcome.removed.iter().map(|(t, _)| t.id.as_str()).collect();
    let removed_names: Vec<&str> = outcome
        .removed
        .iter()
        .map(|(t, _)| t.name.as_str())
        .collect();
    set(vars::REMOVED_IDS, &removed_ids.join(","));
    set(vars::REMOVED_NAMES, &removed_names.join(","));
    let pending: Vec<&str> = outcome.pending.iter().map(|t| t.name.as_str()).collect();
    set(vars::PENDING_NAMES, &pending.join(","));
    set(vars::TIMED_OUT, bool_(outcome.timed_out));
    let old: Vec<&str> = outcome
        .pre_existing
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    set(vars::PRE_EXISTING_NAMES, &old.join(","));
    let names_of = |ts: &[Target]| {
        ts.iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    set(vars::FAILED_NAMES, &names_of(&outcome.failed));
    set(vars::STOPPED_NAMES, &names_of(&outcome.stopped));
    set(vars::UNREGISTERED_NAMES, &outcome.unregistered.join(","));
    outcome.variables = set_vars;
}

/// What is still changing, when the set's latest rolling upgrade is still rolling forward.
pub fn rolling_upgrade(set: &ScaleSetRef, words: &str) -> String {
    and_also(
        words,
        format!(
            "a rolling upgrade of {} is replacing VMs (RollingForward)",
            set.name
        ),
    )
}

/// What is still changing, when an automatic zone rebalance of the set is under way.
pub fn zone_rebalance(set: &ScaleSetRef, words: &str) -> String {
    and_also(
        words,
        format!(
            "an automatic zone rebalance of {} is under way (one of its VMs will be deleted when it ends)",
            set.name
        ),
    )
}

/// `words; more`, or `more` alone when nothing came before.
fn and_also(words: &str, more: String) -> String {
    if words.is_empty() {
        more
    } else {
        format!("{words}; {more}")
    }
}

/// Proceeding after the deadline while a zone rebalance is under way.
pub fn rebalance_under_way(set: &ScaleSetRef) -> String {
    format!(
        "An automatic zone rebalance of scale set {set} was still under way at the deadline: Azure has created a VM in another zone and will delete one of the set's VMs when the rebalance ends (Azure does not say which), so a target deployed to now may lose its VM. Protect the VMs being deployed to (instance protection), or turn automatic zone balancing off while deploying (resiliencyPolicy.automaticZoneRebalancingPolicy)."
    )
}

/// The one warning about a scale set whose automatic repairs run: what Azure will do to a VM
/// the deployment is reaching, and how to make the two agree.
pub fn repairs_will_replace(set: &ScaleSetRef, repairs: &reconcile::RepairPolicy) -> String {
    let does = match repairs.action.to_ascii_lowercase().as_str() {
        "restart" => "restarts it",
        "reimage" => "reimages it (rebuilds its disk from the image)",
        _ => "replaces it (deletes it and creates another under a new name, whose Tentacle registers and fires the trigger again)",
    };
    format!(
        "Scale set {set} has automatic repairs on (grace period {}, action {}): when a VM's health probe still fails {} after its last state change, Azure {does}, during the deployment this step hands it to. If the probe checks what the deployment installs, every new VM fails it until the deployment ends. To keep Azure and the deployment apart, give a grace period longer than the deployment takes (automaticRepairsPolicy.gracePeriod, up to PT90M), protect the VMs being deployed to (instance protection, protectFromScaleSetActions), or suspend automatic repairs for the deployment (az vmss set-orchestration-service-state --service-name AutomaticRepairs --action Suspend).",
        repairs.grace_text(),
        repairs.action,
        duration(repairs.grace()),
    )
}

/// A scale set whose automatic repairs Azure has stopped (verbose): `state` is the
/// `AutomaticRepairs` service's (`Suspended`, `NotRunning`).
pub fn repairs_stopped(set: &ScaleSetRef, state: &str) -> String {
    format!("Automatic repairs of scale set {set} are {state}: Azure repairs none of its VMs now.")
}

/// VMs with instance protection (verbose): Azure's repairs and rebalancing leave them alone.
pub fn protected(vms: &[&Instance]) -> String {
    let ns: Vec<String> = vms
        .iter()
        .map(|i| {
            let from = match (
                i.protection.from_scale_in,
                i.protection.from_scale_set_actions,
            ) {
                (true, true) => "scale-in and scale-set actions",
                (false, true) => "scale-set actions",
                _ => "scale-in",
            };
            format!("{} ({}, from {from})", i.display_name(), i.scale_set)
        })
        .collect();
    format!(
        "{} VM(s) have instance protection, so Azure's automatic repairs and zone rebalancing leave them alone: {}.",
        ns.len(),
        names(&ns)
    )
}

/// The one narrowing of the proof of absence: the subscription's standby pools could not be
/// listed (403), so only the sets' own resource groups were searched.
pub fn pools_narrowed(
    subscription: &str,
    sets: &[(ScaleSetRef, ScaleSet)],
    needed: &[String],
    refused: &Failure,
) -> String {
    let mut groups: Vec<&str> = sets
        .iter()
        .filter(|(_, ss)| needed.contains(&ss.id))
        .map(|(set, _)| set.resource_group.as_str())
        .collect();
    groups.sort_unstable();
    groups.dedup();
    format!(
        "The Azure account may not list the standby pools of subscription {subscription} ({}), so vmss-check looked for them only in resource group(s) {}: a standby pool in another resource group cannot be seen, and a target of one of its VMs could be removed. Grant the account the Reader role on subscription {subscription} (or on each standby pool's resource group) so that every pool attached to the scale set is seen.",
        refused.message,
        groups.join(", ")
    )
}

/// The targets of pooled VMs, and those kept because their VM's absence was not proven: one
/// warning each, naming the targets and why.
pub fn kept_unproven(plan: &Plan, reporter: &Reporter) {
    if !plan.pooled.is_empty() {
        let ns: Vec<String> = plan
            .pooled
            .iter()
            .map(|(t, i)| {
                format!(
                    "{} (VM {} in {}'s standby pool)",
                    t.name, i.name, i.scale_set
                )
            })
            .collect();
        reporter.warn(&format!(
            "Kept {} target(s) whose VM a standby pool holds, and left them out of the output: {}. They join a deployment once the pool hands their VM to the scale set.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.unproven.is_empty() {
        let ns: Vec<String> = plan
            .unproven
            .iter()
            .map(|(t, why)| format!("{} ({why})", t.name))
            .collect();
        reporter.warn(&format!(
            "Kept {} target(s) that match no listed VM, because their VM's absence is not proven: {}. vmss-check removes a target only when its VM is missing from two listings in a row and from the resource group and standby pools.",
            ns.len(),
            names(&ns)
        ));
    }
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
