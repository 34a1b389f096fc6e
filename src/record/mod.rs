//! The decision record: the step's [`Outcome`] as `vmss-check-report.json` (a versioned
//! schema, `schema/vmss-check-report.schema.json`) and `vmss-check-report.html` (the same for a
//! person, rendered by [`html`]), written to the step's working directory and
//! attached to the Octopus task as artifacts.
//!
//! When the step removes a production target, the people on call ask "why that one?": the
//! record answers per VM and per target, where Octopus users look for files. Writing it is
//! best effort: a record that cannot be written is a warning, never a failed step.

use crate::outcome::{matched_target, targets_by_host, Check, History, Outcome, Removal};
use crate::reconcile::{Decision, InstanceState};

pub mod html;
mod names;

use crate::redacted::Redactor;
use crate::report;
use crate::settings::{AzureCredential, DuplicateHandle, Settings, TimeoutHandle};
pub use names::{class_name, reading, Reading, DECISIONS};
use names::{decision, kept_by};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

/// The record's schema version: raised on any change a reader could trip over (a field
/// removed, renamed or retyped); new optional fields keep it.
pub const SCHEMA_VERSION: u32 = 2;
/// The JSON record's file name.
pub const JSON_FILE: &str = "vmss-check-report.json";
/// The HTML record's file name.
pub const HTML_FILE: &str = "vmss-check-report.html";

/// The whole record, as the JSON file holds it (camelCase, see the schema file).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// The binary that made the record (absent in records made before it was added).
    #[serde(default)]
    pub tool: Option<Tool>,
    /// The run and its settings.
    pub run: Run,
    /// Every check of the wait.
    pub checks: Vec<CheckRow>,
    /// One row per VM: the final listing, and VMs seen only during the wait.
    pub vms: Vec<VmRow>,
    /// One row per target Octopus listed.
    pub targets: Vec<TargetRow>,
    /// The output variables as set (none on a failure).
    pub output_variables: BTreeMap<String, String>,
    /// Each scale set and what Azure replaces or retries in it on its own, as last read
    /// (absent from records made before it was added; empty when the step failed first).
    #[serde(default)]
    pub scale_sets: Vec<SetPolicyRow>,
}

/// A scale set's policies for replacing VMs on its own (contract: "Azure's own replacements").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SetPolicyRow {
    /// Its name.
    pub name: String,
    /// Its resource group.
    pub resource_group: String,
    /// Its automatic repairs, when enabled.
    pub automatic_repairs: Option<RepairsRow>,
    /// Automatic zone rebalancing is enabled.
    pub zone_rebalancing: bool,
    /// A zone rebalance was under way when the set was last read.
    pub rebalance_under_way: bool,
    /// Resilient VM creation is enabled (a create is retried while the VM stays `Creating`).
    #[serde(rename = "resilientVMCreation")]
    pub resilient_vm_creation: bool,
    /// Resilient VM deletion is enabled (a delete is retried, the VM alternating between
    /// `Deleting` and `Failed`).
    #[serde(rename = "resilientVMDeletion")]
    pub resilient_vm_deletion: bool,
}

/// A scale set's automatic repairs policy.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RepairsRow {
    /// `gracePeriod` as Azure wrote it, or Azure's default `PT10M`.
    pub grace_period: String,
    /// `repairAction`: `Replace`, `Restart` or `Reimage`.
    pub repair_action: String,
    /// The `AutomaticRepairs` service's state (`Running`, `Suspended`), when read.
    pub service_state: Option<String>,
}

/// The run: who, where, when, and with which settings (never a secret).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    /// vmss-check's version.
    pub version: String,
    /// `Octopus.Space.Id`.
    pub space: Option<String>,
    /// `Octopus.Environment.Id`.
    pub environment: String,
    /// `Octopus.Deployment.Tenant.Id`.
    pub tenant: Option<String>,
    /// `Octopus.Project.Id`.
    pub project: Option<String>,
    /// `Octopus.Deployment.Id`.
    pub deployment: Option<String>,
    /// `Octopus.RunbookRun.Id`.
    pub runbook_run: Option<String>,
    /// `Octopus.Task.Id`.
    pub task: Option<String>,
    /// The trigger that started the run, if one did.
    pub trigger: Option<Trigger>,
    /// When the step started (RFC 3339, UTC).
    pub started: Option<String>,
    /// The wait's deadline.
    pub deadline: Option<String>,
    /// When the step ended.
    pub ended: Option<String>,
    /// `succeeded`, `timedOut` (proceeded after the deadline) or `failed`.
    pub result: String,
    /// The sentence the step failed with.
    pub failure: Option<String>,
    /// A duplicate trigger run.
    pub duplicate: bool,
    /// The inputs, as validated.
    pub settings: RunSettings,
}

/// Which binary made the record: the package holds one per platform.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// vmss-check's version.
    pub version: String,
    /// The processor it was built for, as Rust names it (`x86_64`, `aarch64`).
    pub arch: String,
    /// The operating system it was built for (`linux`, `windows`).
    pub os: String,
}

impl Tool {
    /// This binary.
    pub fn this() -> Tool {
        Tool {
            version: env!("CARGO_PKG_VERSION").into(),
            arch: std::env::consts::ARCH.into(),
            os: std::env::consts::OS.into(),
        }
    }
}

/// The trigger of a triggered run.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Trigger {
    /// `Octopus.Deployment.Trigger.Id`.
    pub id: String,
    /// `Octopus.Deployment.Trigger.Name`.
    pub name: Option<String>,
}

/// One scale set the step waited for.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SetRef {
    /// Its resource group.
    pub resource_group: String,
    /// Its name.
    pub name: String,
}

/// The step's inputs: what a person checks first when a decision surprises them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RunSettings {
    /// `VMSS.ScaleSet.Name` with each set's group.
    pub scale_sets: Vec<SetRef>,
    /// `VMSS.DeploymentTarget.Roles`.
    pub roles: Vec<String>,
    /// `VMSS.Octopus.Url`.
    pub octopus_url: String,
    /// `VMSS.Timeout.Value`, in minutes.
    pub timeout_minutes: f64,
    /// `VMSS.Timeout.ErrorHandle`.
    pub timeout_error_handle: String,
    /// `VMSS.Duplicate.TimeInMinutes`.
    pub duplicate_minutes: f64,
    /// `VMSS.Duplicate.Handle`.
    pub duplicate_handle: String,
    /// `VMSS.OldServers.ExcludeFromOutput`.
    pub exclude_old_servers: bool,
    /// `VMSS.OldServers.TimeInMinutes`.
    pub old_servers_minutes: f64,
    /// `VMSS.Reconcile.DryRun`.
    pub dry_run: bool,
    /// `VMSS.Poll.Interval`, in seconds.
    pub poll_interval_seconds: f64,
    /// `AZURE_SUBSCRIPTION_ID`.
    pub subscription: String,
    /// `AZURE_CLIENT_ID`.
    pub azure_client: String,
    /// `clientSecret` or `federatedToken`: which kind, never the value.
    pub azure_credential: String,
}

/// One check of the wait.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CheckRow {
    /// 1 for the first.
    pub number: u32,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// Why it failed (transiently), if it did.
    pub failure: Option<String>,
    /// Each scale set as this check saw it.
    pub scale_sets: Vec<SetRow>,
    /// Azure's read budget left after it, per bucket.
    pub read_budget: Vec<ReadBudget>,
}

/// One scale set in one check.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SetRow {
    /// Its name.
    pub name: String,
    /// Its resource group.
    pub resource_group: String,
    /// Its own provisioning state.
    pub state: Option<String>,
    /// Whether its VMs were listed (not while the set itself is changing).
    pub listed: bool,
    /// Members.
    pub ready: usize,
    /// Still changing.
    pub changing: usize,
    /// Stopped or deallocated.
    pub stopped: usize,
    /// `Failed`.
    pub failed: usize,
    /// `Deleting`.
    pub gone: usize,
    /// Held by a standby pool.
    pub pooled: usize,
    /// Its latest rolling upgrade was `RollingForward`, so the wait went on.
    pub rolling_forward: bool,
    /// An automatic zone rebalance was under way, so the wait went on.
    #[serde(default)]
    pub zone_rebalancing: bool,
}

/// One of Azure's read buckets.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ReadBudget {
    /// `Microsoft.Compute/GetVMScaleSet3Min`.
    pub bucket: String,
    /// Reads left.
    pub remaining: u32,
}

/// One VM.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VmRow {
    /// Its scale set.
    pub scale_set: String,
    /// A Uniform VM's instance id (`3` of `vmss-web_3`); a Flexible VM's name.
    pub instance_id: String,
    /// The Azure resource name.
    pub name: String,
    /// Its computer name, once known.
    pub computer_name: Option<String>,
    /// `properties.provisioningState`.
    pub provisioning_state: Option<String>,
    /// Its power state (`running`, `deallocated`).
    pub power_state: Option<String>,
    /// Azure's reason, when something failed.
    pub reason: Option<String>,
    /// The Application Health state Azure reports (`instanceView.vmHealth`), when it does.
    pub health: Option<String>,
    /// Its instance protection: `scaleIn`, `scaleSetActions` (empty when none).
    #[serde(default)]
    pub protected_from: Vec<String>,
    /// Automatic repairs are about to replace it: unhealthy past its set's grace period.
    #[serde(default)]
    pub repair_due: bool,
    /// `member`, `pending`, `stopped`, `failed`, `pooled` or `gone` (gone too when the final
    /// listing no longer has it).
    pub class: String,
    /// The in-scope target it matched.
    pub target: Option<TargetRef>,
    /// Its class at each check that listed it, where it changed: the scale-out at a glance.
    pub history: Vec<ClassAt>,
}

/// A target, by id and name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetRef {
    /// `Machines-12`.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// A VM's class from one check on.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClassAt {
    /// The check's number.
    pub check: u32,
    /// The class.
    pub class: String,
}

/// One target of the listing.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TargetRow {
    /// `Machines-12`.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Whether the run may touch it.
    pub in_scope: bool,
    /// `output`, `removed`, `failed`, `stopped`, `foreign`, `sharedName`, `pending`,
    /// `unverified`, `pooled`, `unproven`, `preExisting`, `disabled` or `outOfScope`.
    pub decision: String,
    /// The decision's reason, in words.
    pub why: String,
    /// For an `unproven` target, the proof of absence that kept it: `listedBefore`,
    /// `noEarlierListing`, `inResourceGroup`, `inStandbyPool` or `unreadable`.
    pub kept_by: Option<String>,
    /// Whether it is disabled in Octopus.
    pub disabled: bool,
    /// For a removal: `removed`, `alreadyGone`, `dryRun`, `failed` or `notTried`.
    pub removal: Option<String>,
    /// Why a removal failed.
    pub removal_error: Option<String>,
}

/// An instant as the record writes it: RFC 3339, UTC.
fn at(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A Uniform VM is `{scale set}_{instance id}`; a Flexible VM is known by its name.
fn instance_id(scale_set: &str, name: &str) -> String {
    name.strip_prefix(scale_set)
        .and_then(|rest| rest.strip_prefix('_'))
        .filter(|id| !id.is_empty())
        .unwrap_or(name)
        .to_string()
}

fn removal(r: &Removal) -> (&'static str, Option<String>) {
    match r {
        Removal::Removed => ("removed", None),
        Removal::AlreadyGone => ("alreadyGone", None),
        Removal::DryRun => ("dryRun", None),
        Removal::Failed(why) => ("failed", Some(why.message.clone())),
        Removal::NotTried => ("notTried", None),
    }
}

fn check_row(c: &Check) -> CheckRow {
    CheckRow {
        number: c.number,
        at: at(c.at),
        failure: c.failure.clone(),
        scale_sets: c
            .sets
            .iter()
            .map(|s| {
                let n = s.counts.unwrap_or_default();
                SetRow {
                    name: s.scale_set.clone(),
                    resource_group: s.resource_group.clone(),
                    state: s.state.clone(),
                    listed: s.counts.is_some(),
                    ready: n.ready,
                    changing: n.changing,
                    stopped: n.stopped,
                    failed: n.failed,
                    gone: n.gone,
                    pooled: n.pooled,
                    rolling_forward: s.rolling_forward,
                    zone_rebalancing: s.zone_rebalancing,
                }
            })
            .collect(),
        read_budget: c
            .read_budget
            .iter()
            .map(|(bucket, remaining)| ReadBudget {
                bucket: bucket.clone(),
                remaining: *remaining,
            })
            .collect(),
    }
}

/// The record's view of a VM's changes.
fn history(h: Option<&History>) -> Vec<ClassAt> {
    h.into_iter()
        .flat_map(|h| &h.changes)
        .map(|(check, class)| ClassAt {
            check: *check,
            class: class_name(*class).into(),
        })
        .collect()
}

/// The final listing's VMs, each with its history across the checks; then the VMs the checks
/// saw that the final listing no longer has, as gone (over-provisioned extras, say).
fn vm_rows(outcome: &Outcome) -> Vec<VmRow> {
    let key = |set: &str, name: &str| (set.to_string(), name.to_string());
    let by_host = targets_by_host(&outcome.targets);
    let mut rows: Vec<VmRow> = outcome
        .vms
        .iter()
        .map(|i| VmRow {
            scale_set: i.scale_set.clone(),
            instance_id: instance_id(&i.scale_set, &i.name),
            name: i.name.clone(),
            computer_name: i.computer_name.clone(),
            provisioning_state: i.provisioning_state.clone(),
            power_state: i.power_state.clone(),
            reason: i.reason.clone(),
            health: i.health.clone(),
            protected_from: protected_from(i.protection),
            repair_due: i.repair_due,
            class: class_name(i.state()).into(),
            target: matched_target(i, &by_host).map(|t| TargetRef {
                id: t.id.clone(),
                name: t.name.clone(),
            }),
            history: history(outcome.history.get(&key(&i.set_id, &i.name))),
        })
        .collect();
    let in_listing: std::collections::HashSet<(String, String)> = outcome
        .vms
        .iter()
        .map(|i| key(&i.set_id, &i.name))
        .collect();
    // Before the final listing (a failure in the wait), a VM's last class is what it was.
    let listed = !outcome.vms.is_empty() || !outcome.targets.is_empty();
    for ((set_id, name), h) in &outcome.history {
        if in_listing.contains(&(set_id.clone(), name.clone())) {
            continue;
        }
        let last = h.changes.last().map_or(InstanceState::Gone, |(_, c)| *c);
        rows.push(VmRow {
            scale_set: h.scale_set.clone(),
            instance_id: instance_id(&h.scale_set, name),
            name: name.clone(),
            computer_name: h.computer_name.clone(),
            provisioning_state: None,
            power_state: None,
            reason: None,
            health: None,
            protected_from: Vec::new(),
            repair_due: false,
            class: class_name(if listed { InstanceState::Gone } else { last }).into(),
            target: None,
            history: history(Some(h)),
        });
    }
    rows
}

/// A VM's protection policies, as the record names them.
fn protected_from(p: crate::reconcile::Protection) -> Vec<String> {
    [
        (p.from_scale_in, "scaleIn"),
        (p.from_scale_set_actions, "scaleSetActions"),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, name)| name.to_string())
    .collect()
}

/// Each scale set's policies for replacing VMs on its own.
fn set_policy_rows(outcome: &Outcome) -> Vec<SetPolicyRow> {
    outcome
        .sets
        .iter()
        .map(|s| SetPolicyRow {
            name: s.scale_set.clone(),
            resource_group: s.resource_group.clone(),
            automatic_repairs: s.repairs.as_ref().map(|r| RepairsRow {
                grace_period: r.grace_text().to_string(),
                repair_action: r.action.clone(),
                service_state: s.repairs_state.clone(),
            }),
            zone_rebalancing: s.zone_rebalancing,
            rebalance_under_way: s.rebalance_under_way,
            resilient_vm_creation: s.resilient_creates,
            resilient_vm_deletion: s.resilient_deletes,
        })
        .collect()
}

fn minutes(d: std::time::Duration) -> f64 {
    d.as_secs_f64() / 60.0
}

impl Record {
    /// The record of a run, every string scrubbed of the run's secrets; `None` when it could not
    /// be scrubbed (then it is not written at all: a record is never written unscrubbed).
    pub fn new(settings: &Settings, outcome: &Outcome) -> Option<Record> {
        let run = &settings.run;
        let record = Record {
            schema_version: SCHEMA_VERSION,
            tool: Some(Tool::this()),
            run: Run {
                version: env!("CARGO_PKG_VERSION").into(),
                space: run.space_id.clone(),
                environment: run.environment_id.clone(),
                tenant: run.tenant_id.clone(),
                project: run.project_id.clone(),
                deployment: run.deployment_id.clone(),
                runbook_run: run.runbook_run_id.clone(),
                task: run.task_id.clone(),
                trigger: run.trigger_id.clone().map(|id| Trigger {
                    id,
                    name: run.trigger_name.clone(),
                }),
                started: outcome.started.map(at),
                deadline: outcome.deadline.map(at),
                ended: outcome.ended.map(at),
                result: match (&outcome.failure, outcome.timed_out) {
                    (Some(_), _) => "failed",
                    (None, true) => "timedOut",
                    (None, false) => "succeeded",
                }
                .into(),
                failure: outcome.failure.clone(),
                duplicate: outcome.duplicate,
                settings: RunSettings {
                    scale_sets: settings
                        .scale_sets
                        .iter()
                        .map(|s| SetRef {
                            resource_group: s.resource_group.clone(),
                            name: s.name.clone(),
                        })
                        .collect(),
                    roles: settings.roles.clone(),
                    octopus_url: settings.octopus_url.to_string(),
                    timeout_minutes: minutes(settings.timeout),
                    timeout_error_handle: match settings.timeout_handle {
                        TimeoutHandle::Proceed => "Proceed",
                        TimeoutHandle::Error => "Error",
                    }
                    .into(),
                    duplicate_minutes: minutes(settings.duplicate_window),
                    duplicate_handle: match settings.duplicate_handle {
                        DuplicateHandle::Proceed => "Proceed",
                        DuplicateHandle::Cancel => "Cancel",
                    }
                    .into(),
                    exclude_old_servers: settings.exclude_old,
                    old_servers_minutes: minutes(settings.old_window),
                    dry_run: settings.dry_run,
                    poll_interval_seconds: settings.poll_interval.as_secs_f64(),
                    subscription: settings.azure.subscription_id.clone(),
                    azure_client: settings.azure.client_id.clone(),
                    azure_credential: match settings.azure.credential {
                        AzureCredential::ClientSecret(_) => "clientSecret",
                        AzureCredential::FederatedToken { .. } => "federatedToken",
                    }
                    .into(),
                },
            },
            checks: outcome.checks.iter().map(check_row).collect(),
            vms: vm_rows(outcome),
            targets: outcome
                .targets
                .iter()
                .map(|r| {
                    let (decision, why) = (decision(&r.decision), report::decided(&r.decision));
                    let (removal, removal_error) = r.removal.as_ref().map(removal).unzip();
                    TargetRow {
                        id: r.target.id.clone(),
                        name: r.target.name.clone(),
                        in_scope: !matches!(r.decision, Decision::OutOfScope(_)),
                        decision: decision.into(),
                        why,
                        kept_by: kept_by(&r.decision).map(str::to_string),
                        disabled: r.target.disabled,
                        removal: removal.map(str::to_string),
                        removal_error: removal_error.flatten(),
                    }
                })
                .collect(),
            output_variables: outcome.variables.iter().cloned().collect(),
            scale_sets: set_policy_rows(outcome),
        };
        record.scrubbed(&settings.redactor())
    }

    /// The same record with every string scrubbed: a secret that reached some text (an error
    /// quoting a request, say) never reaches the files. `None` when the record cannot be
    /// turned into JSON and back to be scrubbed: failing closed, it is not written.
    pub fn scrubbed(self, redactor: &Redactor) -> Option<Record> {
        fn scrub(v: &mut serde_json::Value, r: &Redactor) {
            match v {
                serde_json::Value::String(s) => *s = r.scrub(s).into_owned(),
                serde_json::Value::Array(items) => items.iter_mut().for_each(|i| scrub(i, r)),
                serde_json::Value::Object(map) => map.values_mut().for_each(|i| scrub(i, r)),
                _ => {}
            }
        }
        // Mostly no text holds a secret: one look at the serialized record says so, at a
        // fraction of the cost (and memory) of rebuilding 20,000 rows as JSON values.
        if redactor.json_safe() {
            let clean = serde_json::to_string(&self)
                .is_ok_and(|text| matches!(redactor.scrub(&text), std::borrow::Cow::Borrowed(_)));
            if clean {
                return Some(self);
            }
        }
        let mut value = serde_json::to_value(&self).ok()?;
        scrub(&mut value, redactor);
        serde_json::from_value(value).ok()
    }

    /// Writes the JSON file's text to `path`, streamed: the text is never held whole.
    pub fn write_json(&self, path: &std::path::Path) -> std::io::Result<()> {
        use std::io::Write as _;
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        serde_json::to_writer_pretty(&mut file, self)?;
        file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_come_from_uniform_names() {
        assert_eq!(instance_id("vmss-web", "vmss-web_12"), "12");
        assert_eq!(
            instance_id("vmss-web", "web-flex-a1b2c3"),
            "web-flex-a1b2c3"
        );
        assert_eq!(instance_id("vmss-web", "vmss-web_"), "vmss-web_");
    }
}
