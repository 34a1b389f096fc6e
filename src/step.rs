//! The step: wait, reconcile, report. This is the only module that sequences I/O; the rules live
//! in [`crate::wait`] and [`crate::reconcile`], the wire in [`crate::azure`] and
//! [`crate::octopus`], the words in [`crate::output`].

use crate::azure::{AzureClient, ScaleSet};
use crate::context::{self, ThisRun};
use crate::error::{Error, Failure};
use crate::octopus::{Deleted, OctopusClient};
use crate::output::Reporter;
use crate::reconcile::{self, Instance, InstanceState, Plan, RemovalReason, Scope, Target};
use crate::retry::{retrying, RetryPolicy};
use crate::settings::{DuplicateHandle, Settings, TimeoutHandle};
use crate::wait::{Next, WaitPolicy};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A check that starts just before the deadline still gets this long to finish.
const CHECK_GRACE: Duration = Duration::from_secs(30);
/// How many names to list in one log line before summarising.
const NAMES_SHOWN: usize = 10;

/// What the step did, for the demo's summary and for tests of the library.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Targets put in the output.
    pub output: Vec<Target>,
    /// Targets removed (or, in a dry run, that would have been).
    pub removed: Vec<(Target, RemovalReason)>,
    /// Targets left alone because their instance is still changing.
    pub pending: Vec<Target>,
    /// True when the wait ran out and the step proceeded.
    pub timed_out: bool,
    /// True when this run is a duplicate trigger run.
    pub duplicate: bool,
    /// True when nothing was removed because of `VMSS.Reconcile.DryRun`.
    pub dry_run: bool,
    /// Members left out of the output as pre-existing (`VMSS.OldServers.ExcludeFromOutput`).
    pub pre_existing: Vec<Target>,
}

/// How the wait ended.
enum Waited {
    /// Nothing is changing any more.
    Settled(ScaleSet),
    /// The deadline came with instances still changing.
    TimedOut(ScaleSet, Vec<Instance>),
}

/// Runs the step. Errors carry the sentence for `resultMessage`.
pub async fn run(settings: &Settings, reporter: Arc<Reporter>) -> Result<Outcome, Error> {
    let started = Instant::now();
    let step = Step::new(settings, reporter)?;
    let mut outcome = Outcome {
        dry_run: settings.dry_run,
        ..Outcome::default()
    };

    // Only a triggered run (duplicates) or ExcludeFromOutput (creation window) needs to know
    // when this run was queued; a manual run without it asks Octopus nothing here.
    let this_run = if settings.run.trigger_id.is_some() || settings.exclude_old {
        Some(
            context::this_run(&step.octopus, &settings.run)
                .await
                .map_err(octopus_error)?,
        )
    } else {
        None
    };
    if let Some(this) = &this_run {
        outcome.duplicate = step.is_duplicate(this).await?;
        if outcome.duplicate && settings.duplicate_handle == DuplicateHandle::Cancel {
            step.cancel(this, &outcome).await?;
            return Ok(outcome);
        }
    }

    let scale_set = step.wait_for_scale_set(started, &mut outcome).await?;
    step.reconcile(&scale_set, &mut outcome).await?;
    if let (true, Some(this)) = (settings.exclude_old, &this_run) {
        step.exclude_pre_existing(&mut outcome, this).await?;
    }
    write_outputs(&outcome, &step.reporter);
    step.reporter.done();
    Ok(outcome)
}

fn octopus_error(f: Failure) -> Error {
    Error::Octopus(f.message)
}

/// The step's inputs and clients, shared by its phases.
struct Step<'a> {
    settings: &'a Settings,
    reporter: Arc<Reporter>,
    octopus: OctopusClient,
    azure: AzureClient,
}

impl<'a> Step<'a> {
    fn new(settings: &'a Settings, reporter: Arc<Reporter>) -> Result<Self, Error> {
        let octopus = OctopusClient::new(
            &settings.octopus_url,
            &settings.api_key,
            settings.run.space_id.as_deref(),
            reporter.clone(),
        )
        .map_err(|f| Error::Input(f.message))?;
        let azure = AzureClient::new(
            &settings.azure,
            &settings.resource_group,
            &settings.scale_set,
        );
        Ok(Step {
            settings,
            reporter,
            octopus,
            azure,
        })
    }

    /// True when a trigger started this run and the previous run finished inside the window.
    async fn is_duplicate(&self, this: &ThisRun) -> Result<bool, Error> {
        let (settings, run) = (self.settings, &self.settings.run);
        let Some(trigger) = &run.trigger_id else {
            return Ok(false);
        };
        let previous = context::duplicate_of(&self.octopus, run, this, settings.duplicate_window)
            .await
            .map_err(octopus_error)?;
        let Some(previous) = previous else {
            self.reporter.verbose(&format!(
                "Not a duplicate: no other run of this project in this environment finished within {} before this run was queued at {}.",
                human(settings.duplicate_window),
                context::format_time(this.queued)
            ));
            return Ok(false);
        };
        let trigger = run.trigger_name.as_deref().unwrap_or(trigger);
        self.reporter.warn(&format!(
            "Duplicate run: trigger {trigger} queued this run at {}, and the previous run ({}, {}) finished at {}, within VMSS.Duplicate.TimeInMinutes ({}).",
            context::format_time(this.queued),
            previous.task_id,
            previous.state,
            context::format_time(previous.finished),
            human(settings.duplicate_window)
        ));
        if settings.duplicate_handle == DuplicateHandle::Proceed {
            self.reporter.info("Carrying on (VMSS.Duplicate.Handle is Proceed): targets are reconciled, but none are output.");
        }
        Ok(true)
    }

    /// Sets the outputs of a duplicate, then asks Octopus to cancel this run's task.
    async fn cancel(&self, this: &ThisRun, outcome: &Outcome) -> Result<(), Error> {
        self.reporter.highlight(&format!(
            "Cancelling this run's task {} (VMSS.Duplicate.Handle is Cancel); nothing was removed.",
            this.task_id
        ));
        // Outputs first: once the cancel lands, Octopus may stop this process at any moment.
        write_outputs(outcome, &self.reporter);
        let url = self.octopus.api(&format!("tasks/{}/cancel", this.task_id));
        self.octopus
            .post(&url, &format!("cancel task {}", this.task_id))
            .await
            .map_err(octopus_error)?;
        self.reporter.done();
        Ok(())
    }

    /// Waits, then applies `VMSS.Timeout.ErrorHandle` if the deadline came first.
    async fn wait_for_scale_set(
        &self,
        started: Instant,
        outcome: &mut Outcome,
    ) -> Result<ScaleSet, Error> {
        let settings = self.settings;
        self.reporter.highlight(&format!(
            "Waiting up to {} for scale set {} in resource group {} to settle.",
            human(settings.timeout),
            settings.scale_set,
            settings.resource_group
        ));
        let policy = WaitPolicy {
            interval: settings.poll_interval,
            timeout: settings.timeout,
        };
        let (ss, instances) = match wait(&self.azure, policy, started, &self.reporter).await? {
            Waited::Settled(ss) => {
                self.reporter.highlight(&format!(
                    "Scale set {} settled after {}.",
                    settings.scale_set,
                    human(started.elapsed())
                ));
                return Ok(ss);
            }
            Waited::TimedOut(ss, instances) => (ss, instances),
        };
        let pending: Vec<String> = instances
            .iter()
            .filter(|i| i.state() == InstanceState::Pending)
            .map(describe_instance)
            .collect();
        let still = if pending.is_empty() {
            format!(
                "the scale set itself is {}",
                ss.provisioning_state.as_deref().unwrap_or("changing")
            )
        } else {
            format!(
                "{} instance(s) still changing: {}",
                pending.len(),
                names(&pending)
            )
        };
        if settings.timeout_handle == TimeoutHandle::Error {
            return Err(Error::Timeout(format!(
                "Scale set {} did not settle within {} ({still}); nothing was removed. Raise VMSS.Timeout.Value, or set VMSS.Timeout.ErrorHandle to Proceed to deploy to the instances that are ready.",
                settings.scale_set,
                human(settings.timeout)
            )));
        }
        self.reporter.warn(&format!(
            "Scale set {} did not settle within {} ({still}). Proceeding: their targets are neither removed nor deployed to.",
            settings.scale_set,
            human(settings.timeout)
        ));
        outcome.timed_out = true;
        Ok(ss)
    }

    /// Lists targets, then instances, plans, and removes the targets of gone instances.
    async fn reconcile(&self, scale_set: &ScaleSet, outcome: &mut Outcome) -> Result<(), Error> {
        let settings = self.settings;
        let scope = Scope {
            environment_id: settings.run.environment_id.clone(),
            roles: settings.roles.clone(),
            tenant_id: settings.run.tenant_id.clone(),
        };
        // Targets first, then a fresh instance listing: a Tentacle registers only after its VM
        // exists, so every target in this listing has its VM in the next one. The other order
        // would let a VM that appeared between the two listings lose its brand-new target.
        let targets = self.octopus.targets(&scope).await.map_err(octopus_error)?;
        let instances = retrying(RetryPolicy::default(), &self.reporter, || {
            self.azure.instances(scale_set)
        })
        .await
        .map_err(|f: Failure| Error::Azure(format!("{} Nothing was removed.", f.message)))?;
        guard_against_an_empty_listing(scale_set, &instances, settings)?;

        let plan = reconcile::plan(&instances, &targets, &scope);
        report_plan(&plan, &instances, &self.reporter);
        outcome.removed = remove(&plan, &self.octopus, settings.dry_run, &self.reporter).await?;
        outcome.pending = plan.pending;
        outcome.output = plan.members;
        Ok(())
    }

    /// Leaves members created before the window out of the output (`ExcludeFromOutput=Yes`).
    async fn exclude_pre_existing(
        &self,
        outcome: &mut Outcome,
        this: &ThisRun,
    ) -> Result<(), Error> {
        let since = this.queued - self.settings.old_window;
        let created =
            context::created_since(&self.octopus, self.settings.run.space_id.as_deref(), since)
                .await
                .map_err(octopus_error)?;
        let (new, old) = context::split_new(&outcome.output, &created, since);
        if !old.is_empty() {
            let ns: Vec<String> = old.iter().map(|t| t.name.clone()).collect();
            self.reporter.highlight(&format!(
                "Leaving {} pre-existing target(s) out of the output, created before {} (VMSS.OldServers.TimeInMinutes before this run was queued) or with no creation event: {}.",
                old.len(),
                context::format_time(since),
                names(&ns)
            ));
        }
        outcome.output = new;
        outcome.pre_existing = old;
        Ok(())
    }
}

/// Polls until the scale set and every instance have settled, or the deadline comes.
async fn wait(
    azure: &AzureClient,
    policy: WaitPolicy,
    started: Instant,
    reporter: &Reporter,
) -> Result<Waited, Error> {
    let mut checks = 0u32;
    loop {
        checks += 1;
        let limit = policy.remaining(started.elapsed()) + CHECK_GRACE;
        let checked = tokio::time::timeout(limit, check(azure))
            .await
            .unwrap_or_else(|_| {
                Err(Failure {
                    message: format!("Azure did not answer within {}.", human(limit)),
                    retry: crate::error::Retry::After(None),
                })
            });
        let (last, retry_after) = match checked {
            Ok(Check::Settled(ss, instances)) => {
                let ready = instances
                    .iter()
                    .filter(|i| i.state() == InstanceState::Member)
                    .count();
                reporter.progress(100, &format!("{ready} instance(s) ready"));
                return Ok(Waited::Settled(ss));
            }
            Ok(Check::ScaleSetChanging(ss)) => {
                let state = ss.provisioning_state.clone().unwrap_or_default();
                reporter.progress(
                    0,
                    &format!("Scale set is {state} (capacity {})", capacity(&ss)),
                );
                reporter.info(&format!(
                    "Check {checks}: the scale set is {state}; waiting for it to finish."
                ));
                (Ok((ss, Vec::new())), None)
            }
            Ok(Check::InstancesChanging(ss, instances)) => {
                let ready = instances
                    .iter()
                    .filter(|i| i.state() == InstanceState::Member)
                    .count();
                let pending: Vec<String> = instances
                    .iter()
                    .filter(|i| i.state() == InstanceState::Pending)
                    .map(describe_instance)
                    .collect();
                let total = instances
                    .iter()
                    .filter(|i| i.state() != InstanceState::Gone)
                    .count();
                let pct = (ready * 100).checked_div(total).unwrap_or(0) as u8;
                reporter.progress(pct, &format!("{ready} of {total} instance(s) ready"));
                reporter.info(&format!(
                    "Check {checks}: {ready} of {total} instance(s) ready; waiting for {}.",
                    names(&pending)
                ));
                (Ok((ss, instances)), None)
            }
            Err(f) if f.retry.is_transient() => {
                reporter.warn(&format!("Check {checks}: {} Will check again.", f.message));
                let after = f.retry.retry_after();
                (Err(f), after)
            }
            Err(f) => return Err(Error::Azure(format!("{} Nothing was removed.", f.message))),
        };
        match policy.next_delay(started.elapsed(), retry_after) {
            Next::Sleep(d) => tokio::time::sleep(d).await,
            Next::TimedOut => {
                return match last {
                    Ok((ss, instances)) => Ok(Waited::TimedOut(ss, instances)),
                    // Proceed never covers a failed listing.
                    Err(f) => Err(Error::Azure(format!(
                        "{} The wait ran out before Azure answered; nothing was removed.",
                        f.message
                    ))),
                };
            }
        }
    }
}

/// The result of one look at the scale set.
enum Check {
    ScaleSetChanging(ScaleSet),
    InstancesChanging(ScaleSet, Vec<Instance>),
    Settled(ScaleSet, Vec<Instance>),
}

/// One look: the scale set, then (only once it is steady, to spend less of Azure's small
/// per-scale-set read budget) its instances.
async fn check(azure: &AzureClient) -> Result<Check, Failure> {
    let ss = azure.scale_set().await?;
    if reconcile::scale_set_is_transient(ss.provisioning_state.as_deref()) {
        return Ok(Check::ScaleSetChanging(ss));
    }
    let instances = azure.instances(&ss).await?;
    if instances
        .iter()
        .any(|i| i.state() == InstanceState::Pending)
    {
        Ok(Check::InstancesChanging(ss, instances))
    } else {
        Ok(Check::Settled(ss, instances))
    }
}

/// A scale set that says it has VMs but lists none is more likely a listing problem than an
/// empty fleet; removing every target on its word would be the worst possible mistake.
fn guard_against_an_empty_listing(
    ss: &ScaleSet,
    instances: &[Instance],
    settings: &Settings,
) -> Result<(), Error> {
    if instances.is_empty() && ss.capacity.unwrap_or(0) > 0 {
        return Err(Error::Azure(format!(
            "Scale set {} has capacity {} but Azure listed no instances; nothing was removed. Check that the Azure account may read the scale set's VMs.",
            settings.scale_set,
            capacity(ss)
        )));
    }
    Ok(())
}

fn report_plan(plan: &Plan, instances: &[Instance], reporter: &Reporter) {
    let count = |s| instances.iter().filter(|i| i.state() == s).count();
    reporter.verbose(&format!(
        "Instances: {} ready, {} changing, {} gone. Targets in scope: {} to deploy to, {} changing, {} to remove; {} out of scope.",
        count(InstanceState::Member),
        count(InstanceState::Pending),
        count(InstanceState::Gone),
        plan.members.len(),
        plan.pending.len(),
        plan.remove.len(),
        plan.out_of_scope
    ));
    let in_scope =
        plan.members.len() + plan.pending.len() + plan.remove.len() + plan.unverified.len();
    if in_scope == 0 && instances.iter().any(|i| i.state() != InstanceState::Gone) {
        reporter.warn(
            "No deployment target in this environment has all the roles in VMSS.DeploymentTarget.Roles, \
             although the scale set has VMs: check the roles for a typo, and that the VMs' Tentacles register with them.",
        );
    }
    if !plan.unverified.is_empty() {
        let ns: Vec<String> = plan.unverified.iter().map(|t| t.name.clone()).collect();
        reporter.warn(&format!(
            "Kept {} target(s) that match no named instance ({}), because some instance has no computer name yet; a later run will remove them if their VMs are gone.",
            ns.len(),
            names(&ns)
        ));
    }
    if !plan.without_target.is_empty() {
        reporter.verbose(&format!(
            "Instances with no target yet (their Tentacle has not registered): {}.",
            names(&plan.without_target)
        ));
    }
}

/// Removes the planned targets one by one. Every target is attempted; if any fails, the step
/// fails after the rest, saying which.
async fn remove(
    plan: &Plan,
    octopus: &OctopusClient,
    dry_run: bool,
    reporter: &Reporter,
) -> Result<Vec<(Target, RemovalReason)>, Error> {
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for (target, reason) in &plan.remove {
        if dry_run {
            reporter.highlight(&format!(
                "Dry run: would remove target {} ({}): {reason}.",
                target.name, target.id
            ));
            removed.push((target.clone(), reason.clone()));
            continue;
        }
        match octopus.delete_target(&target.id).await {
            Ok(Deleted::Removed) => {
                reporter.highlight(&format!(
                    "Removed target {} ({}): {reason}.",
                    target.name, target.id
                ));
                removed.push((target.clone(), reason.clone()));
            }
            Ok(Deleted::AlreadyGone) => {
                reporter.info(&format!(
                    "Target {} ({}) was already removed.",
                    target.name, target.id
                ));
                removed.push((target.clone(), reason.clone()));
            }
            Err(f) => failed.push((target.name.clone(), f.message)),
        }
    }
    if let Some((name, first)) = failed.first() {
        return Err(Error::Octopus(format!(
            "Could not remove {} of {} target(s), {name} first: {first}",
            failed.len(),
            plan.remove.len()
        )));
    }
    Ok(removed)
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
}

fn write_outputs(outcome: &Outcome, reporter: &Reporter) {
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
            names_.join(", ")
        ));
    } else {
        reporter.highlight("No targets to deploy to.");
    }
    let bool_ = |b: bool| if b { "True" } else { "False" };
    reporter.set_variable(vars::HAS_SERVERS, bool_(has));
    reporter.set_variable(vars::TARGET_IDS, &ids.join(","));
    reporter.set_variable(vars::TARGET_NAMES, &names_.join(","));
    reporter.set_variable(vars::DUPLICATE, bool_(outcome.duplicate));
    let removed_ids: Vec<&str> = outcome.removed.iter().map(|(t, _)| t.id.as_str()).collect();
    let removed_names: Vec<&str> = outcome
        .removed
        .iter()
        .map(|(t, _)| t.name.as_str())
        .collect();
    reporter.set_variable(vars::REMOVED_IDS, &removed_ids.join(","));
    reporter.set_variable(vars::REMOVED_NAMES, &removed_names.join(","));
    let pending: Vec<&str> = outcome.pending.iter().map(|t| t.name.as_str()).collect();
    reporter.set_variable(vars::PENDING_NAMES, &pending.join(","));
    reporter.set_variable(vars::TIMED_OUT, bool_(outcome.timed_out));
    let old: Vec<&str> = outcome
        .pre_existing
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    reporter.set_variable(vars::PRE_EXISTING_NAMES, &old.join(","));
}

fn describe_instance(i: &Instance) -> String {
    let name = i.computer_name.clone().unwrap_or_else(|| i.name.clone());
    format!(
        "{name} ({})",
        i.provisioning_state.as_deref().unwrap_or("state unknown")
    )
}

/// A list of names, cut short with a count when long.
fn names(list: &[String]) -> String {
    if list.len() <= NAMES_SHOWN {
        list.join(", ")
    } else {
        format!(
            "{} and {} more",
            list[..NAMES_SHOWN].join(", "),
            list.len() - NAMES_SHOWN
        )
    }
}

fn capacity(ss: &ScaleSet) -> String {
    ss.capacity
        .map(|c| c.to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// A duration for people: `30 minutes`, `45 seconds`, `1.5 seconds`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 120.0 {
        let m = s / 60.0;
        if (m - m.round()).abs() < 0.05 {
            format!("{} minutes", m.round())
        } else {
            format!("{m:.1} minutes")
        }
    } else if (s - s.round()).abs() < 0.05 {
        format!("{} seconds", s.round())
    } else {
        format!("{s:.1} seconds")
    }
}
