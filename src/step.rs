//! The step: wait, reconcile, report. This is the only module that sequences I/O; the rules live
//! in [`crate::wait`] and [`crate::reconcile`], the wire in [`crate::azure`] and
//! [`crate::octopus`], the words in [`crate::report`]. The phases fill an [`Outcome`], which
//! ends as the output variables and the decision record ([`crate::record`]).

use crate::azure::{AzureClient, ScaleSet};
use crate::context::{self, ThisRun};
use crate::error::{Error, Failure, FailureKind};
use crate::octopus::{Deleted, OctopusClient};
use crate::outcome::{self, Check, Counts, Outcome, Removal, SetCheck};
use crate::output::Reporter;
use crate::permissions;
use crate::reconcile::{
    self, Instance, InstanceState, Plan, Prefix, RemovalReason, Scope, Target, Tenant,
};
use crate::report;
use crate::retry::{retrying, Budget, RetryPolicy};
use crate::settings::{AzureCredential, DuplicateHandle, ScaleSetRef, Settings, TimeoutHandle};
use crate::wait::{Checked, Look, Progress, WaitEnd, WaitPolicy};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// The preflight's own limit: a wrong URL or a hung server is found in seconds.
const PREFLIGHT: Duration = Duration::from_secs(45);

/// One scale set as a check saw it.
#[derive(Debug, Clone)]
struct SetView {
    set: ScaleSetRef,
    scale_set: ScaleSet,
    /// `None` while the scale set itself is changing: its instances are not listed then, to
    /// spend less of compute's small read budget.
    instances: Option<Vec<Instance>>,
    /// Its latest rolling upgrade is `RollingForward` (sets that roll only).
    rolling: bool,
}

impl SetView {
    /// An automatic zone rebalance is under way: Azure has created a VM and will delete one
    /// of the set's when it ends (contract: "Waiting").
    fn rebalancing(&self) -> bool {
        self.scale_set
            .services
            .as_ref()
            .is_some_and(|s| s.rebalancing)
    }

    fn settled(&self) -> bool {
        !self.rolling
            && !self.rebalancing()
            && self
                .instances
                .as_ref()
                .is_some_and(|is| is.iter().all(|i| i.state() != InstanceState::Pending))
    }

    /// What is still changing, in words; `named` when the step waits for several sets.
    fn still_changing(&self, named: bool) -> String {
        let pending = self
            .instances
            .iter()
            .flatten()
            .any(|i| i.state() == InstanceState::Pending);
        // Every VM settled, the set held by Azure's own work alone: that work says it.
        let words = if self.instances.is_some() && !pending && (self.rolling || self.rebalancing())
        {
            String::new()
        } else {
            report::still_changing(
                &self.set,
                self.scale_set.provisioning_state.as_deref(),
                self.instances.as_deref(),
                named,
            )
        };
        let words = if self.rolling {
            report::rolling_upgrade(&self.set, &words)
        } else {
            words
        };
        if self.rebalancing() {
            report::zone_rebalance(&self.set, &words)
        } else {
            words
        }
    }
}

/// How many targets are removed at once: a scale-in of dozens finishes in a fraction of the
/// time, while Octopus sees no more than a person clicking quickly would send it.
pub const REMOVALS_AT_ONCE: usize = 4;

/// Runs the step. Errors carry the sentence for `resultMessage`. Whatever the result, a run
/// that got as far as a listing leaves its decision record (`VMSS.Report.Artifacts`).
pub async fn run(settings: &Settings, reporter: Arc<Reporter>) -> Result<Outcome, Error> {
    let now = time::OffsetDateTime::now_utc();
    let mut outcome = Outcome {
        dry_run: settings.dry_run,
        started: Some(now),
        deadline: Some(now + settings.timeout),
        ..Outcome::default()
    };
    let result = phases(settings, reporter.clone(), &mut outcome).await;
    outcome.ended = Some(time::OffsetDateTime::now_utc());
    if let Err(e) = &result {
        outcome.failure = Some(e.to_string());
    }
    if settings.report_artifacts && outcome.listed() {
        let dir = std::env::current_dir().unwrap_or_else(|_| ".".into());
        crate::artifacts::attach(settings, &outcome, &dir, &reporter);
    }
    result.map(|()| outcome)
}

/// The phases, in order, each filling the outcome as far as it gets.
async fn phases(
    settings: &Settings,
    reporter: Arc<Reporter>,
    outcome: &mut Outcome,
) -> Result<(), Error> {
    let started = Instant::now();
    reporter.verbose(&report::version());
    let step = Step::new(settings, reporter)?;
    // No call, before the wait or after it, may end later than a fixed time past the deadline,
    // whatever a server does; after the wait, they share what is left.
    let ends = started + settings.timeout + settings.overrun;
    step.octopus.end_calls_at(ends);
    step.azure_budget.end_at(ends);
    // A wrong key, URL, space or environment fails here, in seconds, not after the wait.
    step.warn_if_the_octopus_token_expires_first();
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
            return step.cancel(this, outcome).await;
        }
    }

    let (scale_sets, earlier) = step.wait_for_scale_sets(started, outcome).await?;
    step.reconcile(&scale_sets, &earlier, tenant, outcome)
        .await?;
    if let (true, Some(this)) = (settings.exclude_old, &this_run) {
        step.exclude_pre_existing(outcome, this).await?;
    }
    report::outputs(outcome, &step.reporter);
    step.reporter.done();
    Ok(())
}

fn octopus_error(f: Failure) -> Error {
    Error::Octopus(f)
}

/// A failure that stopped the step before anything was removed, said so.
fn nothing_removed(f: Failure) -> Failure {
    let said = report::nothing_removed(&f);
    f.reworded(said)
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
            &settings.octopus_credential,
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
        let Some(expires) = crate::token::jwt_expiry(token.expose()) else {
            return;
        };
        if let Some((left, _)) = self.before_the_latest_end(expires) {
            self.reporter.warn(&report::oidc_expires_first(
                expires,
                left,
                self.settings.timeout,
            ));
        }
    }

    /// An Octopus access token is refused once it expires: if it expires before the step's
    /// latest end, say so at the start, with both times.
    fn warn_if_the_octopus_token_expires_first(&self) {
        let Some(expires) = self.settings.octopus_credential.expires() else {
            return;
        };
        if let Some((left, latest)) = self.before_the_latest_end(expires) {
            self.reporter.warn(&report::octopus_token_expires_first(
                expires,
                latest,
                left,
                self.settings.overrun,
            ));
        }
    }

    /// When `expires` falls before the step's latest end (the deadline plus the overrun): the
    /// time left until then, and that end.
    fn before_the_latest_end(
        &self,
        expires: time::OffsetDateTime,
    ) -> Option<(Duration, time::OffsetDateTime)> {
        let now = time::OffsetDateTime::now_utc();
        let latest = now + self.settings.timeout + self.settings.overrun;
        (expires < latest).then(|| {
            let left = (expires - now).max(time::Duration::ZERO);
            (left.unsigned_abs(), latest)
        })
    }

    /// The cheap Octopus checks: the signed-in user may do what this run needs here (a key
    /// scoped to other environments gets filtered lists, not errors, so this is asked, not
    /// inferred), the space and environment exist on this server (one request); for a tenanted
    /// run, the tenant and its tags; and, as a warning only, roles that are tags of two tag
    /// sets. Azure's are the wait's first check (sign-in, each scale set read), whose permanent
    /// failures end the step at once.
    async fn preflight(&self) -> Result<Option<Tenant>, Error> {
        let run = &self.settings.run;
        let checks = async {
            self.check_permissions().await?;
            self.octopus
                .environment(&run.environment_id)
                .await
                .map_err(octopus_error)?;
            let tenant = match &run.tenant_id {
                Some(id) => Some(self.octopus.tenant(id).await.map_err(octopus_error)?),
                None => None,
            };
            self.warn_of_tags_in_several_sets().await;
            Ok(tenant)
        };
        match tokio::time::timeout(PREFLIGHT, checks).await {
            Ok(r) => r,
            Err(_) => Err(Error::Octopus(Failure::new(
                FailureKind::Timeout,
                report::octopus_silent(&self.settings.octopus_url, PREFLIGHT),
            ))),
        }
    }

    /// Asks Octopus what the signed-in user may do, and fails when a permission this run needs
    /// is not granted for its space, environment and tenant. A refused key or token fails as
    /// anywhere else; a server that cannot say is said once, and the step goes on.
    async fn check_permissions(&self) -> Result<(), Error> {
        let s = self.settings;
        let needs = permissions::needed(permissions::Uses {
            dry_run: s.dry_run,
            creation_times: s.exclude_old,
            triggered: s.run.trigger_id.is_some(),
            cancels: s.duplicate_handle == DuplicateHandle::Cancel,
        });
        let at = permissions::Scope {
            space: s.run.space_id.as_deref(),
            environment: &s.run.environment_id,
            tenant: s.run.tenant_id.as_deref(),
            project: s.run.project_id.as_deref(),
        };
        let asked = async {
            let Some(user) = self.octopus.current_user().await? else {
                return Ok(None);
            };
            let set = self.octopus.permissions(&user.id).await?;
            Ok::<_, Failure>(set.map(|set| (user, set)))
        };
        let (user, set) = match asked.await {
            Ok(Some(answer)) => answer,
            Err(f) if f.kind == FailureKind::Unauthorized => return Err(octopus_error(f)),
            unanswered => {
                let why = match unanswered {
                    Err(f) => f.message,
                    _ => "it has no such route: HTTP 404".to_string(),
                };
                self.reporter.warn(&report::permissions_unknown(&why));
                return Ok(());
            }
        };
        let token = s.octopus_credential.is_token();
        let name = user.username.as_deref().unwrap_or(&user.id);
        match permissions::check(&set, &needs, &at) {
            permissions::Verdict::Granted => {
                self.reporter
                    .verbose(&report::permissions_granted(token, name, &needs, &at));
                Ok(())
            }
            permissions::Verdict::Unknown(why) => {
                self.reporter.warn(&report::permissions_unknown(why));
                Ok(())
            }
            permissions::Verdict::Missing(missing) => {
                let teams: Vec<String> = set
                    .teams
                    .iter()
                    .filter_map(|t| t.name.as_deref())
                    .map(|n| crate::output::printable(n).into_owned())
                    .collect();
                Err(Error::Octopus(Failure::new(
                    FailureKind::Forbidden,
                    report::permissions_missing(token, name, &teams, &missing, &at),
                )))
            }
        }
    }

    /// Warns once when a role of the run is a tag of two target tag sets. Never fails the step.
    async fn warn_of_tags_in_several_sets(&self) {
        match self.octopus.target_tag_sets().await {
            Ok(sets) => {
                let shared = crate::target_tags::in_several_sets(&self.settings.roles, &sets);
                if !shared.is_empty() {
                    self.reporter.warn(&report::tags_in_several_sets(&shared));
                }
            }
            Err(f) => self.reporter.verbose(&report::tag_sets_unread(&f)),
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
            self.reporter
                .verbose(&report::not_a_duplicate(this, settings.duplicate_window));
            return Ok(false);
        };
        let trigger = run.trigger_name.as_deref().unwrap_or(trigger);
        self.reporter.warn(&report::duplicate(
            trigger,
            this,
            &previous,
            settings.duplicate_window,
        ));
        if settings.duplicate_handle == DuplicateHandle::Proceed {
            self.reporter.info(report::PROCEEDING_ON_A_DUPLICATE);
        }
        Ok(true)
    }

    /// Sets the outputs of a duplicate, then asks Octopus to cancel this run's task.
    async fn cancel(&self, this: &ThisRun, outcome: &mut Outcome) -> Result<(), Error> {
        self.reporter.highlight(&report::cancelling(this));
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
    ) -> Result<(Vec<(ScaleSetRef, ScaleSet)>, Earlier), Error> {
        let settings = self.settings;
        let sets = &settings.scale_sets;
        self.reporter
            .highlight(&report::waiting(sets, settings.timeout));
        let policy = WaitPolicy {
            interval: settings.poll_interval,
            timeout: settings.timeout,
            overrun: settings.overrun,
        };
        let mut progress = WaitProgress {
            reporter: &self.reporter,
            outcome: &mut *outcome,
        };
        let pacing = Pacing {
            azure: &self.azure,
            minute: settings.minute,
            floor: settings.poll_interval,
            reporter: &self.reporter,
            most: Mutex::default(),
        };
        let listings = LastListings::default();
        let end = crate::wait::wait(policy, started, fastrand::f64, &mut progress, || {
            look(&pacing, &listings, sets)
        })
        .await;
        let earlier = listings.into_inner();
        let handle = settings.timeout_handle;
        let (last, sentence) = match end {
            WaitEnd::Settled(read) => {
                report_ready(&read.views, &self.reporter);
                self.reporter
                    .highlight(&report::settled(sets, started.elapsed()));
                return Ok((sets_of(&read.views), earlier));
            }
            WaitEnd::Deadline(read) => {
                let still = still_changing(&read.views);
                let sentence = report::did_not_settle(sets, settings.timeout, &still, handle);
                (Some(read), sentence)
            }
            WaitEnd::Throttled { last, failure } => (
                last,
                report::throttled_to_the_deadline(sets, settings.timeout, &failure, handle),
            ),
            WaitEnd::Failed(failure) => {
                let said = report::wait_failed(&failure);
                return Err(Error::Azure(failure.reworded(said)));
            }
            WaitEnd::FailingAtDeadline(failure) => {
                let said = report::failing_at_deadline(&failure);
                return Err(Error::Azure(failure.reworded(said)));
            }
        };
        if handle == TimeoutHandle::Error {
            return Err(Error::Timeout(sentence));
        }
        self.reporter.warn(&sentence);
        outcome.timed_out = true;
        // Proceeding while Azure rebalances: one of the set's VMs is about to be deleted.
        for v in last
            .iter()
            .flat_map(|r| &r.views)
            .filter(|v| v.rebalancing())
        {
            self.reporter.warn(&report::rebalance_under_way(&v.set));
        }
        match last {
            Some(read) => Ok((sets_of(&read.views), earlier)),
            // Throttled before any check answered: the scale sets are read now, within the
            // calls' budget, for the listing that follows. A set no check listed has no
            // earlier listing, so none of its targets is removed as gone unlisted.
            None => {
                let mut read = Vec::new();
                for set in sets {
                    let ss = retrying(
                        RetryPolicy::default(),
                        &self.azure_budget,
                        &self.reporter,
                        || self.azure.scale_set(set),
                    )
                    .await
                    .map_err(|f: Failure| Error::Azure(nothing_removed(f)))?;
                    read.push((set.clone(), ss));
                }
                Ok((read, earlier))
            }
        }
    }

    /// Lists targets, then every scale set's instances, plans, and removes the targets of gone
    /// instances.
    async fn reconcile(
        &self,
        scale_sets: &[(ScaleSetRef, ScaleSet)],
        earlier: &Earlier,
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
        // The sets are listed concurrently, as the wait's checks read them: ten sets of a
        // thousand VMs take the time of the longest, not of all ten in a row.
        let listings = futures::future::try_join_all(scale_sets.iter().map(|(set, ss)| {
            retrying(
                RetryPolicy::default(),
                &self.azure_budget,
                &self.reporter,
                move || self.azure.instances(set, ss),
            )
        }))
        .await
        .map_err(|f: Failure| Error::Azure(nothing_removed(f)))?;
        let mut instances = Vec::new();
        let mut prefixes = Vec::new();
        // A VM any listing showed being deleted is gone, whatever the final one says.
        let mut deleting = earlier.deleting.clone();
        for ((set, ss), mut listed) in scale_sets.iter().zip(listings) {
            reconcile::mark_deleting(&mut listed, &mut deleting);
            if let Some(prefix) = lent_prefix(set, ss, &listed, &self.reporter) {
                prefixes.push(prefix);
            }
            instances.extend(listed);
        }
        self.azure_replacements(scale_sets, &mut instances, outcome);

        let mut plan = reconcile::plan(&instances, &targets, &scope, &prefixes);
        // The proof of absence: the listings first; the reads only for what is still to go.
        let needed = reconcile::prove_by_listings(&mut plan, &prefixes, &earlier.listings);
        if !needed.is_empty() {
            let ids: Vec<String> = needed.into_iter().map(|p| p.set_id).collect();
            // Within the step's budget after the wait, like every other call: proofs that do
            // not come in time are proofs not read, and their targets are kept.
            // Each read is retried within it too (429, 5xx), so a passing error does not keep
            // a stale target for another whole run.
            let reads = crate::absence::evidence(
                &self.azure,
                scale_sets,
                &ids,
                &instances,
                &self.azure_budget,
                &self.reporter,
            );
            let proofs = match self.azure_budget.remaining() {
                Some(left) => tokio::time::timeout(left, reads).await.unwrap_or_default(),
                None => reads.await,
            };
            if let Some(refused) = &proofs.pools_narrowed {
                self.reporter.warn(&report::pools_narrowed(
                    &self.settings.azure.subscription_id,
                    scale_sets,
                    &ids,
                    refused,
                ));
            }
            reconcile::prove_by_reads(&mut plan, &prefixes, &proofs.sets);
        }
        report::plan(&plan, &instances, &prefixes, scale_sets, &self.reporter);
        report::kept_unproven(&plan, &self.reporter);
        outcome.targets = outcome::target_rows(&targets, &scope, &plan);
        outcome.vms = instances;
        outcome.removed = remove(
            &plan,
            &self.octopus,
            settings.dry_run,
            &self.reporter,
            outcome,
        )
        .await?;
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

    /// What Azure will do to the VMs on its own (contract: "Azure's own replacements"): one
    /// warning per scale set whose automatic repairs run, and each member that repairs are
    /// about to replace marked so; each set's policies kept for the record.
    fn azure_replacements(
        &self,
        scale_sets: &[(ScaleSetRef, ScaleSet)],
        instances: &mut [Instance],
        outcome: &mut Outcome,
    ) {
        let now = time::OffsetDateTime::now_utc();
        for (set, ss) in scale_sets {
            outcome.sets.push(set_replacements(set, ss));
            let Some(repairs) = &ss.replacements.repairs else {
                continue;
            };
            // Stopped only when the instance view says so: one not read (the wait was
            // throttled before any check answered) leaves repairs running, as enabled.
            let stopped = ss
                .services
                .as_ref()
                .filter(|s| s.repairs_stopped())
                .and_then(|s| s.repairs.as_deref());
            if let Some(state) = stopped {
                self.reporter.verbose(&report::repairs_stopped(set, state));
            } else {
                self.reporter
                    .warn(&report::repairs_will_replace(set, repairs));
            }
            for i in instances.iter_mut().filter(|i| i.set_id == ss.id) {
                i.repair_due = reconcile::repair_due(i, repairs, stopped.is_some(), now);
            }
        }
        let protected: Vec<&Instance> = instances
            .iter()
            .filter(|i| i.protection.any() && i.state() != InstanceState::Gone)
            .collect();
        if !protected.is_empty() {
            self.reporter.verbose(&report::protected(&protected));
        }
    }

    /// Leaves members created before the window out of the output (`ExcludeFromOutput=Yes`).
    async fn exclude_pre_existing(
        &self,
        outcome: &mut Outcome,
        this: &ThisRun,
    ) -> Result<(), Error> {
        let since = this.queued - self.settings.old_window;
        let space = self.settings.run.space_id.as_deref();
        let mut created = context::created_since(&self.octopus, space, since)
            .await
            .map_err(octopus_error)?;
        // A recent event that mentions a target proves nothing: one older than the window
        // regarding it proves it pre-existing.
        let candidates: Vec<String> = outcome
            .output
            .iter()
            .filter(|t| created.contains_key(&t.id))
            .map(|t| t.id.clone())
            .collect();
        let old = context::regarded_before(&self.octopus, space, &candidates, since)
            .await
            .map_err(octopus_error)?;
        created.retain(|id, _| !old.contains(id));
        let (new, old) = context::split_new(&outcome.output, &created, since);
        if !old.is_empty() {
            self.reporter.highlight(&report::pre_existing(&old, since));
        }
        outcome.output = new;
        outcome.pre_existing = old;
        outcome.pre_existing_rows();
        Ok(())
    }
}

/// What one check read: each scale set as it saw it, and what Azure said was left of its read
/// budget (for the record).
struct CheckRead {
    views: Vec<SetView>,
    budget: Vec<(String, u32)>,
}

/// Tells the log how the wait goes: a line per check, and a passing failure once, then
/// counted in the verbose log while it repeats; and keeps every check for the record.
struct WaitProgress<'r> {
    reporter: &'r Reporter,
    outcome: &'r mut Outcome,
}

impl WaitProgress<'_> {
    /// Keeps what check `number` saw of each scale set and VM.
    fn record(&mut self, number: u32, read: &CheckRead) {
        self.outcome.checks.push(Check {
            number,
            at: time::OffsetDateTime::now_utc(),
            sets: read
                .views
                .iter()
                .map(|v| SetCheck {
                    scale_set: v.set.name.clone(),
                    resource_group: v.set.resource_group.clone(),
                    state: v.scale_set.provisioning_state.clone(),
                    counts: v.instances.as_ref().map(Counts::of),
                    rolling_forward: v.rolling,
                    zone_rebalancing: v.rebalancing(),
                })
                .collect(),
            budget: read.budget.clone(),
            failure: None,
        });
        self.outcome
            .classes_at(number, read.views.iter().flat_map(listed));
    }

    /// Keeps check `number`, which failed.
    fn record_failure(&mut self, number: u32, failure: &Failure) {
        self.outcome.checks.push(Check {
            number,
            at: time::OffsetDateTime::now_utc(),
            sets: Vec::new(),
            budget: Vec::new(),
            failure: Some(failure.message.clone()),
        });
    }
}

impl Progress<CheckRead> for WaitProgress<'_> {
    fn checked(&mut self, number: u32, checked: Checked<'_, CheckRead>) {
        match checked {
            Checked::Settled(read) => self.record(number, read),
            Checked::Changing(read) => {
                let (ready, total) = counts(&read.views);
                let pct = (ready * 100).checked_div(total).unwrap_or(0) as u8;
                self.reporter
                    .progress(pct, &report::ready(ready, Some(total)));
                self.reporter.info(&report::check(
                    number,
                    ready,
                    total,
                    &still_changing(&read.views),
                ));
                self.record(number, read);
            }
            Checked::Failing { failure, repeats } => {
                self.record_failure(number, failure);
                if repeats == 0 {
                    self.reporter.warn(&report::check_failed(number, failure));
                } else {
                    self.reporter
                        .verbose(&report::check_failed_again(number, repeats));
                }
            }
            // The step's failure says it; the record keeps the check.
            Checked::Ended(failure) => self.record_failure(number, failure),
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
    // A standby pool's VMs are not the set's yet: not counted, not waited for.
    let total = all
        .iter()
        .filter(|i| !matches!(i.state(), InstanceState::Gone | InstanceState::Pooled))
        .count();
    (ready, total)
}

fn report_ready(views: &[SetView], reporter: &Reporter) {
    let (ready, _) = counts(views);
    reporter.progress(100, &report::ready(ready, None));
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

/// The host names each set's last listing during the wait had, not `Deleting`: the first of
/// the two listings the proof of absence asks for. Every listing that was read counts, even in
/// a check that failed afterwards (its rolling-upgrade read throttled, another set's read
/// failed): judging absence on an older listing instead would let one that missed a VM, and
/// a final one that misses it again, remove a serving VM's target. The sets of a check are
/// read concurrently, so each listing is kept as it arrives. It also remembers every VM any
/// listing showed being deleted: a resilient delete alternates between `Deleting` and
/// `Failed`, and such a VM is gone whatever a later listing says.
#[derive(Default)]
struct LastListings {
    hosts: Mutex<reconcile::EarlierListings>,
    deleting: Mutex<reconcile::SeenDeleting>,
}

/// What the wait's listings leave to the final one: each set's last listing, and the VMs seen
/// being deleted.
struct Earlier {
    listings: reconcile::EarlierListings,
    deleting: reconcile::SeenDeleting,
}

impl LastListings {
    /// Marks the VMs of a set's new listing that Azure is deleting, by this listing or any
    /// before ([`reconcile::mark_deleting`]), then keeps it in place of the one before.
    fn keep(&self, set_id: &str, instances: &mut [Instance]) {
        reconcile::mark_deleting(
            instances,
            &mut self.deleting.lock().unwrap_or_else(|e| e.into_inner()),
        );
        let hosts = instances
            .iter()
            .filter(|i| i.state() != InstanceState::Gone)
            .filter_map(|i| i.computer_name.as_deref().map(reconcile::host_name))
            .collect();
        self.hosts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(set_id.to_string(), hosts);
    }

    /// Each set's last listing, and the VMs seen being deleted.
    fn into_inner(self) -> Earlier {
        Earlier {
            listings: self.hosts.into_inner().unwrap_or_else(|e| e.into_inner()),
            deleting: self
                .deleting
                .into_inner()
                .unwrap_or_else(|e| e.into_inner()),
        }
    }
}

/// What a scale set's read (and its instance view, when read) said of Azure's own
/// replacements, for the record.
fn set_replacements(set: &ScaleSetRef, ss: &ScaleSet) -> outcome::SetReplacements {
    let r = &ss.replacements;
    let services = ss.services.as_ref();
    outcome::SetReplacements {
        scale_set: set.name.clone(),
        resource_group: set.resource_group.clone(),
        repairs: r.repairs.clone(),
        repairs_state: services.and_then(|s| s.repairs.clone()),
        zone_rebalancing: r.zone_rebalancing,
        rebalance_under_way: services.is_some_and(|s| s.rebalancing),
        resilient_creates: r.resilient_creates,
        resilient_deletes: r.resilient_deletes,
    }
}

/// Each scale set as the check read it.
fn sets_of(views: &[SetView]) -> Vec<(ScaleSetRef, ScaleSet)> {
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
    /// The most each bucket has had left during this run: its size, as far as the step knows.
    most: Mutex<std::collections::HashMap<String, u32>>,
}

/// Fewer reads than this left in a bucket is low whatever its size.
const LOW_READS: u32 = 50;

/// A bucket is running low when it has fewer than [`LOW_READS`] left, or less than a quarter of
/// the most it had during the run. A budget too small for a short `VMSS.Poll.Interval` is not
/// low by itself: 2,590 of 2,600 left stretches a 1-second interval, and is plenty.
fn budget_is_low(remaining: u32, most: u32) -> bool {
    remaining < LOW_READS || remaining.saturating_mul(4) < most
}

impl Pacing<'_> {
    /// The most `bucket` has had left so far, `remaining` included.
    fn most_seen(&self, bucket: &str, remaining: u32) -> u32 {
        let mut most = self.most.lock().unwrap_or_else(|e| e.into_inner());
        let m = most.entry(bucket.to_string()).or_insert(remaining);
        *m = (*m).max(remaining);
        *m
    }

    /// The interval the buckets this check read from ask for, and what is left of each (for
    /// the record); said (verbose) when it stretches the poll interval, naming the tightest
    /// bucket.
    fn pace(&self) -> (Option<Duration>, Vec<(String, u32)>) {
        let buckets = self.azure.rate_limits().take(self.minute);
        let left = buckets
            .iter()
            .map(|(n, b)| (n.clone(), b.remaining))
            .collect();
        let plain: Vec<crate::wait::Bucket> = buckets.iter().map(|(_, b)| *b).collect();
        (self.stretch(&buckets, crate::wait::pace(&plain)), left)
    }

    /// Says (verbose) when the read budget stretches the poll interval, naming the tightest
    /// bucket; returns the pace.
    fn stretch(
        &self,
        buckets: &[(String, crate::wait::Bucket)],
        pace: Option<Duration>,
    ) -> Option<Duration> {
        let pace = pace?;
        if pace > self.floor {
            let (name, tightest) = buckets
                .iter()
                .max_by_key(|(_, b)| crate::wait::pace(&[*b]))
                .expect("a pace comes from some bucket");
            let low = budget_is_low(tightest.remaining, self.most_seen(name, tightest.remaining));
            self.reporter
                .verbose(&report::pacing(name, tightest.remaining, pace, low));
        }
        Some(pace)
    }
}

/// One look at every scale set: the set, then (only once it is steady) its instances. The
/// sets are read concurrently; any failure makes the whole check a failure.
async fn look(
    pacing: &Pacing<'_>,
    listings: &LastListings,
    sets: &[ScaleSetRef],
) -> Result<Look<CheckRead>, Failure> {
    let azure = pacing.azure;
    let views = futures::future::try_join_all(sets.iter().map(|set| async move {
        let mut scale_set = azure.scale_set(set).await?;
        let instances =
            if reconcile::scale_set_is_transient(scale_set.provisioning_state.as_deref()) {
                None
            } else {
                let mut listed = azure.instances(set, &scale_set).await?;
                listings.keep(&scale_set.id, &mut listed);
                Some(listed)
            };
        // A set that is itself changing is waited on anyway: no need to ask about upgrades,
        // repairs or rebalancing.
        let rolling = match instances {
            Some(_) => crate::absence::rolling_forward(azure, set, &scale_set).await?,
            None => false,
        };
        if instances.is_some() {
            scale_set.services = crate::replacements::services(azure, set, &scale_set).await?;
        }
        Ok::<_, Failure>(SetView {
            set: set.clone(),
            scale_set,
            instances,
            rolling,
        })
    }))
    .await?;
    let (pace, budget) = pacing.pace();
    Ok(Look {
        settled: views.iter().all(SetView::settled),
        pace,
        value: CheckRead { views, budget },
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
) -> Option<Prefix> {
    if instances.is_empty() {
        match ss.capacity {
            Some(0) => {}
            // Its listing proves nothing: it lends no prefix, and the other sets go on.
            Some(n) => {
                reporter.warn(&report::listed_none_with_capacity(set, n));
                return None;
            }
            None => {
                reporter.warn(&report::listed_none_without_capacity(set));
                return None;
            }
        }
    }
    ss.computer_name_prefix.clone().map(|prefix| Prefix {
        scale_set: set.name.clone(),
        set_id: ss.id.clone(),
        prefix,
    })
}

/// Removes the planned targets, [`REMOVALS_AT_ONCE`] at a time, within the step's budget:
/// none starts once the time is spent, and a dry run removes nothing. Every target is
/// attempted; if any fails (or was not tried), the step fails after the rest, saying which.
/// Each target's row in the outcome says how its removal went.
async fn remove(
    plan: &Plan,
    octopus: &OctopusClient,
    dry_run: bool,
    reporter: &Reporter,
    outcome: &mut Outcome,
) -> Result<Vec<(Target, RemovalReason)>, Error> {
    use futures::StreamExt as _;
    let mut results: Vec<(usize, Removal)> = futures::stream::iter(plan.remove.iter().enumerate())
        .map(|(n, (target, reason))| async move {
            if dry_run {
                reporter.verbose(&report::removing(target, reason, true));
                return (n, Removal::DryRun);
            }
            if octopus.out_of_time() {
                return (n, Removal::NotTried);
            }
            let result = match octopus.delete_target(&target.id).await {
                Ok(Deleted::Removed) => {
                    reporter.verbose(&report::removing(target, reason, false));
                    Removal::Removed
                }
                Ok(Deleted::AlreadyGone) => {
                    reporter.info(&report::already_removed(target));
                    Removal::AlreadyGone
                }
                Err(f) => Removal::Failed(f),
            };
            (n, result)
        })
        .buffer_unordered(REMOVALS_AT_ONCE)
        .collect()
        .await;
    // In the plan's order, whichever finished first.
    results.sort_by_key(|(n, _)| *n);
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    let mut not_tried = 0;
    for (n, result) in results {
        let (target, reason) = &plan.remove[n];
        match &result {
            Removal::Removed | Removal::AlreadyGone | Removal::DryRun => {
                removed.push((target.clone(), reason.clone()))
            }
            Removal::Failed(why) => failed.push((target.name.clone(), why.clone())),
            Removal::NotTried => not_tried += 1,
        }
        outcome.removal(&target.id, result);
    }
    report::removed(&removed, dry_run, reporter);
    if not_tried > 0 || !failed.is_empty() {
        let said = report::not_all_removed(removed.len(), plan.remove.len(), not_tried, &failed);
        // The first refusal's kind, or the step's time running out.
        let first = failed.into_iter().next().map(|(_, f)| f);
        let failure = first.unwrap_or_else(|| Failure::new(FailureKind::Timeout, String::new()));
        return Err(Error::Octopus(failure.reworded(said)));
    }
    Ok(removed)
}
