//! The step: wait, reconcile, report. This is the only module that sequences I/O; the rules live
//! in [`crate::wait`] and [`crate::reconcile`], the wire in [`crate::azure`] and
//! [`crate::octopus`], the words in [`crate::output`].

use crate::azure::{AzureClient, ScaleSet};
use crate::context::{self, ThisRun};
use crate::error::{Error, Failure};
use crate::octopus::{Deleted, OctopusClient};
use crate::output::Reporter;
use crate::reconcile::{
    self, Instance, InstanceState, Plan, Prefix, RemovalReason, Scope, Target, Tenant,
};
use crate::report;
/// The output variables' names live with the other words; re-exported for the demo.
pub use crate::report::vars;
use crate::retry::{retrying, Budget, RetryPolicy};
use crate::settings::{AzureCredential, DuplicateHandle, ScaleSetRef, Settings, TimeoutHandle};
use crate::wait::{Look, Progress, WaitPolicy, Waited};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The preflight's own limit: a wrong URL or a hung server is found in seconds.
const PREFLIGHT: Duration = Duration::from_secs(45);
/// What the step did, for the demo's summary and for tests of the library.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// Targets put in the output.
    pub output: Vec<Target>,
    /// Targets removed (or, in a dry run, that would have been).
    pub removed: Vec<(Target, RemovalReason)>,
    /// Targets left alone because their instance is still changing.
    pub pending: Vec<Target>,
    /// Targets kept but not output because their VM is `Failed`.
    pub failed: Vec<Target>,
    /// Targets kept but not output because their VM is stopped or deallocated.
    pub stopped: Vec<Target>,
    /// Computer names of ready, running VMs that no in-scope target matches.
    pub unregistered: Vec<String>,
    /// True when the wait ran out and the step proceeded.
    pub timed_out: bool,
    /// True when this run is a duplicate trigger run.
    pub duplicate: bool,
    /// True when nothing was removed because of `VMSS.Reconcile.DryRun`.
    pub dry_run: bool,
    /// Members left out of the output as pre-existing (`VMSS.OldServers.ExcludeFromOutput`).
    pub pre_existing: Vec<Target>,
}

/// One scale set as a check saw it.
#[derive(Debug, Clone)]
struct SetView {
    set: ScaleSetRef,
    scale_set: ScaleSet,
    /// `None` while the scale set itself is changing: its instances are not listed then, to
    /// spend less of compute's small read budget.
    instances: Option<Vec<Instance>>,
}

impl SetView {
    fn settled(&self) -> bool {
        self.instances
            .as_ref()
            .is_some_and(|is| is.iter().all(|i| i.state() != InstanceState::Pending))
    }

    /// What is still changing, for a person: `the scale set itself is Updating`,
    /// `2 instance(s) still changing: web000003 (Creating), ...`; with `named`, prefixed by
    /// the scale set's name, for steps that wait for several.
    fn still_changing(&self, named: bool) -> String {
        let text = match &self.instances {
            None => format!(
                "{} is {}",
                if named { "it" } else { "the scale set itself" },
                self.scale_set
                    .provisioning_state
                    .as_deref()
                    .unwrap_or("changing")
            ),
            Some(is) => {
                let pending = describe(is, InstanceState::Pending);
                format!(
                    "{} instance(s) still changing: {}",
                    pending.len(),
                    report::names(&pending)
                )
            }
        };
        if named {
            format!("{}: {text}", self.set)
        } else {
            text
        }
    }
}

/// Runs the step. Errors carry the sentence for `resultMessage`.
pub async fn run(settings: &Settings, reporter: Arc<Reporter>) -> Result<Outcome, Error> {
    let started = Instant::now();
    reporter.verbose(&report::version());
    let step = Step::new(settings, reporter)?;
    let mut outcome = Outcome {
        dry_run: settings.dry_run,
        ..Outcome::default()
    };
    // A wrong key, URL, space or environment fails here, in seconds, not after the wait.
    let tenant = step.preflight().await?;
    step.warn_if_the_oidc_token_expires_first();

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

    let scale_sets = step.wait_for_scale_sets(started, &mut outcome).await?;
    // Everything after the wait shares one budget, ending a fixed time past the deadline.
    let ends = started + settings.timeout + settings.overrun;
    step.octopus.end_calls_at(ends);
    step.azure_budget.end_at(ends);
    step.reconcile(&scale_sets, tenant, &mut outcome).await?;
    if let (true, Some(this)) = (settings.exclude_old, &this_run) {
        step.exclude_pre_existing(&mut outcome, this).await?;
    }
    report::outputs(&outcome, &step.reporter);
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
    /// For the Azure calls after the wait.
    azure_budget: Budget,
}

impl<'a> Step<'a> {
    fn new(settings: &'a Settings, reporter: Arc<Reporter>) -> Result<Self, Error> {
        let octopus = OctopusClient::new(
            &settings.octopus_url,
            &settings.api_key,
            settings.run.space_id.as_deref(),
            settings.request_timeout,
            reporter.clone(),
        )
        .map_err(|f| Error::Input(f.message))?;
        let azure = AzureClient::new(&settings.azure, settings.request_timeout);
        Ok(Step {
            settings,
            reporter,
            octopus,
            azure,
            azure_budget: Budget::default(),
        })
    }

    /// An OIDC account's token ends the step's ability to sign in to Azure when it expires: if
    /// the wait could outlive it, say so now, and what to change, rather than fail mid-way.
    fn warn_if_the_oidc_token_expires_first(&self) {
        let AzureCredential::FederatedToken { token, .. } = &self.settings.azure.credential else {
            return;
        };
        let Some(expires) = crate::azure::jwt_expiry(token.expose()) else {
            return;
        };
        let now = time::OffsetDateTime::now_utc();
        let latest = now + self.settings.timeout + self.settings.overrun;
        if expires < latest {
            let left = (expires - now).max(time::Duration::ZERO);
            self.reporter.warn(&format!(
                "The Azure account's federated (OIDC) token expires at {} UTC, in {}, which is before this step's wait could end (VMSS.Timeout.Value is {}). Azure AD will not issue a new access token after then (AADSTS700024), so a wait that needs one fails. Lower VMSS.Timeout.Value, or use an Azure account with a client secret for long waits.",
                expires.format(&time::macros::format_description!("[hour]:[minute]:[second]")).unwrap_or_default(),
                report::duration(left.unsigned_abs()),
                report::duration(self.settings.timeout)
            ));
        }
    }

    /// The cheap Octopus checks: the key is accepted, and the space and environment exist on
    /// this server (one request); for a tenanted run, the tenant and its tags. Azure's are the
    /// wait's first check (sign-in, each scale set read), whose permanent failures end the step
    /// at once.
    async fn preflight(&self) -> Result<Option<Tenant>, Error> {
        let run = &self.settings.run;
        let checks = async {
            self.octopus.environment(&run.environment_id).await?;
            match &run.tenant_id {
                Some(id) => self.octopus.tenant(id).await.map(Some),
                None => Ok(None),
            }
        };
        match tokio::time::timeout(PREFLIGHT, checks).await {
            Ok(r) => r.map_err(octopus_error),
            Err(_) => Err(Error::Octopus(format!(
                "Octopus at {} did not answer within {} seconds. Check VMSS.Octopus.Url, and that the server is up; nothing was removed.",
                self.settings.octopus_url,
                PREFLIGHT.as_secs()
            ))),
        }
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
                report::duration(settings.duplicate_window),
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
            report::duration(settings.duplicate_window)
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
        report::outputs(outcome, &self.reporter);
        let url = self.octopus.api(&format!("tasks/{}/cancel", this.task_id));
        self.octopus
            .post(&url, &format!("cancel task {}", this.task_id))
            .await
            .map_err(octopus_error)?;
        self.reporter.done();
        Ok(())
    }

    /// Waits, then applies `VMSS.Timeout.ErrorHandle` if the deadline came first. Returns the
    /// scale sets as last read.
    async fn wait_for_scale_sets(
        &self,
        started: Instant,
        outcome: &mut Outcome,
    ) -> Result<Vec<(ScaleSetRef, ScaleSet)>, Error> {
        let settings = self.settings;
        let sets = &settings.scale_sets;
        let which = match sets.as_slice() {
            [one] => format!("scale set {one} in resource group {}", one.resource_group),
            many => format!(
                "{} scale sets ({})",
                many.len(),
                many.iter()
                    .map(|s| format!("{s} in {}", s.resource_group))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.reporter.highlight(&format!(
            "Waiting up to {} for {which} to settle.",
            report::duration(settings.timeout)
        ));
        let policy = WaitPolicy {
            interval: settings.poll_interval,
            timeout: settings.timeout,
        };
        let mut progress = WaitProgress {
            reporter: &self.reporter,
        };
        let pacing = Pacing {
            azure: &self.azure,
            minute: settings.minute,
            floor: settings.poll_interval,
            reporter: &self.reporter,
        };
        let waited = crate::wait::wait(policy, started, fastrand::f64, &mut progress, || {
            look(&pacing, sets)
        })
        .await
        .map_err(|stopped| {
            let note = if stopped.timed_out {
                "The wait ran out before Azure answered; nothing was removed."
            } else {
                "Nothing was removed."
            };
            Error::Azure(format!("{} {note}", stopped.failure.message))
        })?;
        let views = match waited {
            Waited::Settled(views) => {
                report_ready(&views, &self.reporter);
                self.reporter.highlight(&format!(
                    "{} settled after {}.",
                    capitalise(&which),
                    report::duration(started.elapsed())
                ));
                return Ok(read(&views));
            }
            Waited::TimedOut(views) => views,
        };
        let still = still_changing(&views);
        if settings.timeout_handle == TimeoutHandle::Error {
            return Err(Error::Timeout(format!(
                "{} did not settle within {} ({still}); nothing was removed. Raise VMSS.Timeout.Value, or set VMSS.Timeout.ErrorHandle to Proceed to deploy to the instances that are ready.",
                capitalise(&which),
                report::duration(settings.timeout)
            )));
        }
        self.reporter.warn(&format!(
            "{} did not settle within {} ({still}). Proceeding: the targets of instances still changing are neither removed nor deployed to.",
            capitalise(&which),
            report::duration(settings.timeout)
        ));
        outcome.timed_out = true;
        Ok(read(&views))
    }

    /// Lists targets, then every scale set's instances, plans, and removes the targets of gone
    /// instances.
    async fn reconcile(
        &self,
        scale_sets: &[(ScaleSetRef, ScaleSet)],
        tenant: Option<Tenant>,
        outcome: &mut Outcome,
    ) -> Result<(), Error> {
        let settings = self.settings;
        let scope = Scope {
            environment_id: settings.run.environment_id.clone(),
            roles: settings.roles.clone(),
            tenant,
        };
        // Targets first, then a fresh instance listing: a Tentacle registers only after its VM
        // exists, so every target in this listing has its VM in the next one. The other order
        // would let a VM that appeared between the two listings lose its brand-new target.
        let targets = self.octopus.targets(&scope).await.map_err(octopus_error)?;
        let mut instances = Vec::new();
        let mut prefixes = Vec::new();
        for (set, ss) in scale_sets {
            let listed = retrying(
                RetryPolicy::default(),
                &self.azure_budget,
                &self.reporter,
                || self.azure.instances(set, ss),
            )
            .await
            .map_err(|f: Failure| Error::Azure(format!("{} Nothing was removed.", f.message)))?;
            if let Some(prefix) = lent_prefix(set, ss, &listed, &self.reporter)? {
                prefixes.push(prefix);
            }
            instances.extend(listed);
        }

        let plan = reconcile::plan(&instances, &targets, &scope, &prefixes);
        report::plan(&plan, &instances, &prefixes, scale_sets, &self.reporter);
        outcome.removed = remove(&plan, &self.octopus, settings.dry_run, &self.reporter).await?;
        outcome.pending = plan.pending;
        outcome.failed = plan.failed.into_iter().map(|(t, _)| t).collect();
        outcome.stopped = plan.stopped.into_iter().map(|(t, _)| t).collect();
        outcome.unregistered = plan
            .unregistered
            .iter()
            .map(|i| i.display_name().to_string())
            .collect();
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
                report::names(&ns)
            ));
        }
        outcome.output = new;
        outcome.pre_existing = old;
        Ok(())
    }
}

/// Tells the log how the wait goes: a line per check, and a transient failure once, then
/// counted in the verbose log while it repeats.
struct WaitProgress<'r> {
    reporter: &'r Reporter,
}

impl Progress<Vec<SetView>> for WaitProgress<'_> {
    fn changing(&mut self, check: u32, views: &Vec<SetView>) {
        let (ready, total) = counts(views);
        let pct = (ready * 100).checked_div(total).unwrap_or(0) as u8;
        self.reporter
            .progress(pct, &format!("{ready} of {total} instance(s) ready"));
        self.reporter.info(&format!(
            "Check {check}: {ready} of {total} instance(s) ready; {}.",
            still_changing(views)
        ));
    }

    fn failed(&mut self, check: u32, failure: &Failure, repeats: u32) {
        if repeats == 0 {
            self.reporter.warn(&format!(
                "Check {check}: {} Will check again.",
                failure.message
            ));
        } else {
            self.reporter.verbose(&format!(
                "Check {check}: the same failure again ({} checks in a row).",
                repeats + 1
            ));
        }
    }
}

/// Ready (member) instances and live ones, across the scale sets.
fn counts(views: &[SetView]) -> (usize, usize) {
    let all: Vec<&Instance> = views.iter().flat_map(listed).collect();
    let ready = all
        .iter()
        .filter(|i| i.state() == InstanceState::Member)
        .count();
    let total = all
        .iter()
        .filter(|i| i.state() != InstanceState::Gone)
        .count();
    (ready, total)
}

fn report_ready(views: &[SetView], reporter: &Reporter) {
    let (ready, _) = counts(views);
    reporter.progress(100, &format!("{ready} instance(s) ready"));
}

/// What is still changing across the scale sets, naming each when there are several.
fn still_changing(views: &[SetView]) -> String {
    let named = views.len() > 1;
    views
        .iter()
        .filter(|v| !v.settled())
        .map(|v| v.still_changing(named))
        .collect::<Vec<_>>()
        .join("; ")
}

fn listed(v: &SetView) -> impl Iterator<Item = &Instance> {
    v.instances.iter().flatten()
}

fn read(views: &[SetView]) -> Vec<(ScaleSetRef, ScaleSet)> {
    views
        .iter()
        .map(|v| (v.set.clone(), v.scale_set.clone()))
        .collect()
}

/// What a check needs to pace the next one on Azure's read budget.
struct Pacing<'a> {
    azure: &'a AzureClient,
    minute: Duration,
    floor: Duration,
    reporter: &'a Reporter,
}

impl Pacing<'_> {
    /// The interval the buckets this check read from ask for; said (verbose) when it stretches
    /// the poll interval, naming the tightest bucket.
    fn pace(&self) -> Option<Duration> {
        let buckets = self.azure.rate_limits().take(self.minute);
        let plain: Vec<crate::wait::Bucket> = buckets.iter().map(|(_, b)| *b).collect();
        let pace = crate::wait::pace(&plain)?;
        if pace > self.floor {
            let (name, tightest) = buckets
                .iter()
                .max_by_key(|(_, b)| crate::wait::pace(&[*b]))
                .expect("a pace comes from some bucket");
            self.reporter.verbose(&format!(
                "Azure's read budget is running low ({name}: {} left); checking every {} so that it lasts, for this step and the rest of the subscription.",
                tightest.remaining,
                report::duration(pace)
            ));
        }
        Some(pace)
    }
}

/// One look at every scale set: the set, then (only once it is steady) its instances. The
/// sets are read concurrently; any failure makes the whole check a failure.
async fn look(pacing: &Pacing<'_>, sets: &[ScaleSetRef]) -> Result<Look<Vec<SetView>>, Failure> {
    let azure = pacing.azure;
    let views = futures::future::try_join_all(sets.iter().map(|set| async move {
        let scale_set = azure.scale_set(set).await?;
        let instances =
            if reconcile::scale_set_is_transient(scale_set.provisioning_state.as_deref()) {
                None
            } else {
                Some(azure.instances(set, &scale_set).await?)
            };
        Ok::<_, Failure>(SetView {
            set: set.clone(),
            scale_set,
            instances,
        })
    }))
    .await?;
    Ok(Look {
        settled: views.iter().all(SetView::settled),
        pace: pacing.pace(),
        value: views,
    })
}

/// The contract's empty-listing rule, per scale set. A set that says it has VMs but lists none
/// is more likely a listing problem than an empty fleet: the step fails rather than remove
/// every target on its word. A set that lists none and reports no capacity at all (a Flexible
/// set without a VM profile) lends no prefix, so nothing is removed on its account. Otherwise
/// the set lends its computer name prefix, if it has one.
fn lent_prefix(
    set: &ScaleSetRef,
    ss: &ScaleSet,
    instances: &[Instance],
    reporter: &Reporter,
) -> Result<Option<Prefix>, Error> {
    if instances.is_empty() {
        match ss.capacity {
            Some(0) => {}
            Some(n) => {
                return Err(Error::Azure(format!(
                    "Scale set {set} has capacity {n} but Azure listed no instances; nothing was removed. Check that the Azure account may read the scale set's VMs."
                )))
            }
            None => {
                reporter.warn(&format!(
                    "Scale set {set} listed no VMs and reports no capacity, so its listing cannot show which targets are stale: nothing is removed on its account."
                ));
                return Ok(None);
            }
        }
    }
    Ok(ss.computer_name_prefix.clone().map(|prefix| Prefix {
        scale_set: set.name.clone(),
        prefix,
    }))
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
    let mut not_tried = 0;
    for (target, reason) in &plan.remove {
        if !dry_run && octopus.out_of_time() {
            not_tried += 1;
            continue;
        }
        if dry_run {
            reporter.verbose(&format!(
                "Dry run: would remove target {} ({}): {reason}.",
                target.name, target.id
            ));
            removed.push((target.clone(), reason.clone()));
            continue;
        }
        match octopus.delete_target(&target.id).await {
            Ok(Deleted::Removed) => {
                reporter.verbose(&format!(
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
    report::removed(&removed, dry_run, reporter);
    if not_tried > 0 {
        return Err(Error::Octopus(format!(
            "The step's time ran out (2 minutes past VMSS.Timeout.Value) after removing {} of {} target(s); {not_tried} were not tried{}. A later run will remove them.",
            removed.len(),
            plan.remove.len(),
            failed
                .first()
                .map(|(name, why)| format!(", and {name} failed: {why}"))
                .unwrap_or_default()
        )));
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

/// `web000003 (Creating)` for every instance in `state`.
fn describe(instances: &[Instance], state: InstanceState) -> Vec<String> {
    instances
        .iter()
        .filter(|i| i.state() == state)
        .map(|i| format!("{} ({})", i.display_name(), i.describe_state()))
        .collect()
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
