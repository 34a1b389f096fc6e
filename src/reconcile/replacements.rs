//! Azure's own replacements: automatic repairs about to replace an unhealthy VM, and deletes
//! Azure retries (a VM seen `Deleting` is being deleted, whatever a later listing says).

use super::{Instance, InstanceState};
use std::collections::HashSet;

/// A scale set's automatic repairs policy (`automaticRepairsPolicy`), when it is enabled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairPolicy {
    /// `gracePeriod` as Azure wrote it (`PT10M`); `None` when it gave none (the default).
    pub grace_period: Option<String>,
    /// `repairAction`: `Replace` (the default), `Restart` or `Reimage`.
    pub action: String,
}

/// Azure's default and shortest grace period: 10 minutes (`PT10M`).
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(600);

impl RepairPolicy {
    /// How long Azure waits after a VM's state change before it repairs it. A grace period
    /// missing or not read as ISO 8601 is Azure's default and minimum, 10 minutes: the
    /// shortest wait, so the rule errs on the side of not deploying to a VM about to go.
    pub fn grace(&self) -> std::time::Duration {
        self.grace_period
            .as_deref()
            .and_then(iso8601_duration)
            .map_or(DEFAULT_GRACE, |g| g.max(DEFAULT_GRACE))
    }

    /// The grace period as written, or Azure's default.
    pub fn grace_text(&self) -> &str {
        self.grace_period.as_deref().unwrap_or("PT10M")
    }
}

/// An ISO 8601 duration of days, hours, minutes and seconds (`PT10M`, `PT1H30M`, `P1DT2H`,
/// `PT90.5S`), as Azure writes grace periods; `None` for anything else (years, months, weeks,
/// signs, an empty `PT`).
pub fn iso8601_duration(text: &str) -> Option<std::time::Duration> {
    let rest = text.trim().to_ascii_uppercase();
    let rest = rest.strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, t),
        Some(_) => return None,
        None => (rest, ""),
    };
    let mut seconds = 0f64;
    let mut any = false;
    for (part, units) in [
        (days, &[('D', 86_400.0)][..]),
        (time, &[('H', 3_600.0), ('M', 60.0), ('S', 1.0)][..]),
    ] {
        let mut number = String::new();
        let mut next_unit = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' || c == ',' {
                number.push(if c == ',' { '.' } else { c });
                continue;
            }
            let at = units[next_unit..].iter().position(|(u, _)| *u == c)? + next_unit;
            seconds += number.parse::<f64>().ok()? * units[at].1;
            number.clear();
            next_unit = at + 1;
            any = true;
        }
        if !number.is_empty() {
            return None;
        }
    }
    (any && seconds.is_finite()).then(|| std::time::Duration::from_secs_f64(seconds))
}

/// The contract's repairs rule: automatic repairs are about to replace (or restart, or
/// reimage) a member that Azure reports `HealthState/unhealthy` once its last provisioning
/// state change is longer ago than the grace period. Not while repairs are suspended, not for
/// a protected VM (either protection policy exempts it), and not when the time of its last
/// change is unknown (nothing says the grace period is over).
pub fn repair_due(
    i: &Instance,
    policy: &RepairPolicy,
    repairs_suspended: bool,
    now: time::OffsetDateTime,
) -> bool {
    let unhealthy = i
        .health
        .as_deref()
        .is_some_and(|h| h.trim().eq_ignore_ascii_case("HealthState/unhealthy"));
    let past_grace = i
        .state_since
        .is_some_and(|since| now - since > policy.grace());
    !repairs_suspended
        && unhealthy
        && past_grace
        && !i.protection.any()
        && i.state() == InstanceState::Member
}

/// Whether a VM's deletion is under way now, as the listing itself says: `Deleting`, or
/// Azure retrying a delete (`resilientVMDeletionStatus: InProgress`), whatever its
/// provisioning state (a retried delete shows `Failed` between attempts).
pub fn being_deleted(i: &Instance) -> bool {
    let state = |s: &Option<String>, wanted: &str| {
        s.as_deref()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case(wanted))
    };
    state(&i.provisioning_state, "Deleting") || state(&i.deletion_status, "InProgress")
}

/// The key a VM is remembered by across listings: its scale set and Azure's `vmId` (its name
/// where the listing gives no `vmId`), ignoring case.
pub fn vm_key(i: &Instance) -> String {
    let id = i.vm_id.as_deref().unwrap_or(&i.name);
    format!("{}|{}", i.set_id, id).to_ascii_lowercase()
}

/// The VMs the step saw being deleted in any listing so far, by [`vm_key`].
pub type SeenDeleting = HashSet<String>;

/// The contract's resilient-delete rule over one listing: a VM seen being deleted in an
/// earlier listing (`seen`), or being deleted in this one, is gone whatever this listing
/// says (`Failed` included); `seen` then remembers this listing's for the next.
pub fn mark_deleting(instances: &mut [Instance], seen: &mut SeenDeleting) {
    for i in instances.iter_mut() {
        let key = vm_key(i);
        if being_deleted(i) {
            seen.insert(key);
            i.deleting = true;
        } else if seen.contains(&key) {
            i.deleting = true;
        }
    }
}
