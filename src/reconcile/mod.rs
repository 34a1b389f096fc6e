//! Reconciliation: a pure function from what Azure says (instances) and what Octopus says
//! (targets) to a plan: which targets to output, which to remove, which to keep and report.
//!
//! No I/O here, so every rule of the contract's membership section has a unit test, and
//! 1,000 x 1,000 costs one hash-map build and one lookup per target. This module holds the
//! instances and their states; beside it, one concern a file: `scope` (which targets a run
//! may touch), `names` (computer-name shapes and shared names), [`plan`] (each target decided
//! once), `absence` (the proof of absence), `replacements` (Azure's own replacements).

mod absence;
mod names;
mod plan;
mod replacements;
mod scope;

pub use absence::*;
pub use names::*;
pub use plan::*;
pub use replacements::*;
pub use scope::*;

/// Where an instance stands, from its provisioning state *and* its power state: Azure keeps
/// the two apart, and a stopped, deallocated or evicted VM still says `Succeeded`.
///
/// Instances that share a host name are ranked by [`InstanceState::rank`], not by this
/// declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceState {
    /// `Deleting` (or absent from the listing): its target is removed.
    Gone,
    /// `Failed` or `Canceled`: the VM exists and may be serving. Kept, not output, reported.
    Failed,
    /// `Succeeded` but stopped or deallocated (an evicted Spot VM among them). Kept, not output.
    Stopped,
    /// A transient provisioning or power state, or one we do not know: waited on, never a
    /// reason to remove.
    Pending,
    /// `Succeeded` and running: its target is deployed to.
    Member,
    /// Held by a standby pool (`isVMInStandbyPool: true`): built and bootstrapped, not yet the
    /// set's. Not waited on, not output, its target never removed.
    Pooled,
}

impl InstanceState {
    /// Which of several instances reporting one host name decides its target (at most one of
    /// them is not gone, else the name is shared): the higher rank. Any instance that exists
    /// outranks one that is going, so a dying VM never takes a live VM's target with it; among
    /// the rest the order only matters for a name reused by a VM being recreated.
    pub fn rank(self) -> u8 {
        match self {
            InstanceState::Gone => 0,
            InstanceState::Pooled => 1,
            InstanceState::Failed => 2,
            InstanceState::Stopped => 3,
            InstanceState::Pending => 4,
            InstanceState::Member => 5,
        }
    }
}

/// Classifies an instance from its provisioning state and the code of its `PowerState/...`
/// status (`running`, `deallocated`...), both compared ignoring case. Unknown or missing
/// values are pending: the wait goes on, and nothing is removed on their account.
pub fn classify(provisioning_state: Option<&str>, power_state: Option<&str>) -> InstanceState {
    let lower = |s: Option<&str>| s.map(|s| s.trim().to_ascii_lowercase());
    match lower(provisioning_state).as_deref() {
        Some("deleting") => InstanceState::Gone,
        // `Canceled` is undocumented for VMs but seen; both mean the last operation did not
        // complete, not that the VM is gone.
        Some("failed" | "canceled" | "cancelled") => InstanceState::Failed,
        Some("succeeded") => match lower(power_state).as_deref() {
            Some("running") => InstanceState::Member,
            Some("stopped" | "deallocated") => InstanceState::Stopped,
            // starting, stopping, deallocating, unknown, or no instance view yet.
            _ => InstanceState::Pending,
        },
        // Creating, Updating, Migrating, or a state this build does not know.
        _ => InstanceState::Pending,
    }
}

/// True while a scale set's own provisioning state says it is still changing. `Failed` and
/// `Canceled` are settled: its instances decide for themselves.
pub fn scale_set_is_transient(provisioning_state: Option<&str>) -> bool {
    matches!(
        provisioning_state
            .map(|s| s.trim().to_ascii_lowercase())
            .as_deref(),
        Some("creating" | "updating" | "deleting" | "migrating")
    )
}

/// The part of a name before the first `.`, lower-cased: `WEB000001.corp.example.com` -> `web000001`.
pub fn host_name(name: &str) -> String {
    name.trim()
        .split('.')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// A VM of one of the step's scale sets, as far as reconciliation cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Instance {
    /// The scale set it was listed under (named in messages, and for its prefix).
    pub scale_set: String,
    /// The Azure resource name (`vmss_3`, or a Flexible VM's name).
    pub name: String,
    /// What the Tentacle registers as: `osProfile.computerName`, or the instance view's
    /// `computerName` where there is no OS profile (specialized images). May be missing while
    /// provisioning.
    pub computer_name: Option<String>,
    /// `properties.provisioningState`.
    pub provisioning_state: Option<String>,
    /// The instance view's power state, without `PowerState/` (`running`, `deallocated`).
    pub power_state: Option<String>,
    /// Azure's own words when something failed: the failing status's code and message.
    pub reason: Option<String>,
    /// The scale set's resource id (what plans key sets by: `rg1/web` and `rg2/web` differ).
    pub set_id: String,
    /// The instance view says `isVMInStandbyPool: true`: a standby pool holds it.
    pub pooled: bool,
    /// The Application Health state Azure reports (`instanceView.vmHealth`), when it does:
    /// `HealthState/healthy`, `HealthState/unhealthy`...
    pub health: Option<String>,
    /// `vmId`, Azure's own id of the VM: unlike its name (a Uniform instance id may be reused),
    /// never given to another VM.
    pub vm_id: Option<String>,
    /// When its provisioning state last changed: the instance view's `ProvisioningState/...`
    /// status's `time`. Automatic repairs' grace period starts then.
    pub state_since: Option<time::OffsetDateTime>,
    /// Its instance protection (`protectionPolicy`): scale-set actions (repairs, zone
    /// rebalancing, upgrades) leave a protected VM alone.
    pub protection: Protection,
    /// `resilientVMDeletionStatus` (`Enabled`, `Disabled`, `InProgress`, `Failed`), where the
    /// listing says it (Uniform sets with resilient deletes, read at a newer api-version).
    pub deletion_status: Option<String>,
    /// Azure is deleting it, whatever its provisioning state says now: an earlier listing
    /// showed it `Deleting` (a resilient delete alternates between `Deleting` and `Failed`),
    /// or its deletion is being retried ([`being_deleted`]).
    pub deleting: bool,
    /// Automatic repairs are about to replace it ([`repair_due`]): a member, but not output.
    pub repair_due: bool,
}

/// A VM's instance protection (`protectionPolicy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Protection {
    /// `protectFromScaleIn`.
    pub from_scale_in: bool,
    /// `protectFromScaleSetActions`.
    pub from_scale_set_actions: bool,
}

impl Protection {
    /// Either policy: Azure's automatic repairs and zone rebalancing leave the VM alone.
    pub fn any(self) -> bool {
        self.from_scale_in || self.from_scale_set_actions
    }
}

impl Instance {
    /// This instance's state.
    pub fn state(&self) -> InstanceState {
        if self.deleting {
            return InstanceState::Gone;
        }
        match classify(
            self.provisioning_state.as_deref(),
            self.power_state.as_deref(),
        ) {
            InstanceState::Gone => InstanceState::Gone,
            _ if self.pooled => InstanceState::Pooled,
            state => state,
        }
    }

    /// Its computer name, or its resource name when it has none yet.
    pub fn display_name(&self) -> &str {
        self.computer_name.as_deref().unwrap_or(&self.name)
    }

    /// Its state as Azure spelt it: `Succeeded/deallocated`, `Creating`.
    pub fn describe_state(&self) -> String {
        let prov = self
            .provisioning_state
            .as_deref()
            .unwrap_or("state unknown");
        if self.deleting && !prov.eq_ignore_ascii_case("deleting") {
            return format!("being deleted (Azure retries the delete; now {prov})");
        }
        match (&self.power_state, self.state()) {
            (Some(power), InstanceState::Stopped | InstanceState::Pending)
                if prov.eq_ignore_ascii_case("succeeded") =>
            {
                format!("{prov}, {power}")
            }
            (None, InstanceState::Pending) if prov.eq_ignore_ascii_case("succeeded") => {
                format!("{prov}, power state unknown")
            }
            _ => prov.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
