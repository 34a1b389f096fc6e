//! The step: wait, reconcile, report. This is the only module that sequences I/O; the rules live
//! in [`crate::wait`] and [`crate::reconcile`], the wire in [`crate::azure`] and
//! [`crate::octopus`], the words in [`crate::report`]. The phases fill an [`Outcome`], which
//! ends as the output variables and the decision record ([`crate::record`]). This module
//! holds the phases in order; `checks` the wait's checks as the step drives them, `removals`
//! the removals.

use crate::azure::{AzureClient, ScaleSet};
use crate::context;
use crate::error::{Error, Failure, FailureKind};
use crate::octopus::OctopusClient;
use crate::outcome::{Outcome, TargetRow};
use crate::output::Reporter;
use crate::permissions;
use crate::reconcile::{self, Decision, Instance, InstanceState, Prefix, Scope, Target, Tenant};
use crate::report;
use crate::retry::{retrying, RetryPolicy, StepEnd};
use crate::runs::{self, ThisRun};
use crate::settings::{AzureCredential, DuplicateHandle, ScaleSetRef, Settings, TimeoutHandle};
use crate::wait::{WaitEnd, WaitPolicy};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

mod checks;
mod removals;

use checks::{
    look, report_ready, set_replacements, sets_of, still_changing, Earlier, LastListings, Pacing,
    WaitProgress,
};
use removals::remove;
pub use removals::REMOVALS_AT_ONCE;

/// The preflight's own limit: a wrong URL or a hung server is found in seconds.
const PREFLIGHT: Duration = Duration::from_secs(45);

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
    step.azure_end.end_at(ends);
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
    outcome.leave_out_as_duplicate();
    outcome.variables = report::outputs(outcome, &step.reporter);
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
    azure_end: StepEnd,
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
            azure_end: StepEnd::default(),
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
        outcome.variables = report::outputs(outcome, &self.reporter);
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
        let (last, sentence, throttled) = match end {
            WaitEnd::Settled(read) => {
                report_ready(&read.views, &self.reporter);
                self.reporter
                    .highlight(&report::settled(sets, started.elapsed()));
                return Ok((sets_of(&read.views), earlier));
            }
            WaitEnd::Deadline(read) => {
                let still = still_changing(&read.views);
                let sentence = report::did_not_settle(sets, settings.timeout, &still, handle);
                (Some(read), sentence, None)
            }
            WaitEnd::Throttled { last, failure } => (
                last,
                report::throttled_to_the_deadline(sets, settings.timeout, &failure, handle),
                Some(failure),
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
            return Err(Error::Timeout {
                sentence,
                throttled,
            });
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
            // calls' time, for the listing that follows. A set no check listed has no
            // earlier listing, so none of its targets is removed as gone unlisted.
            None => {
                let mut read = Vec::new();
                for set in sets {
                    let ss = retrying(
                        RetryPolicy::default(),
                        &self.azure_end,
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
                &self.azure_end,
                &self.reporter,
                move || self.azure.instances(set, ss),
            )
        }))
        .await
        .map_err(|f: Failure| Error::Azure(nothing_removed(f)))?;
        let mut instances = Vec::new();
        let mut prefixes = Vec::new();
        let mut lending_none = Vec::new();
        // A VM any listing showed being deleted is gone, whatever the final one says.
        let mut deleting = earlier.deleting.clone();
        for ((set, ss), mut listed) in scale_sets.iter().zip(listings) {
            reconcile::mark_deleting(&mut listed, &mut deleting);
            let lends = reconcile::may_lend_prefix(listed.len(), ss.capacity);
            if let Err(why) = lends {
                self.reporter.warn(&report::listed_none(set, why));
            }
            match (lends, &ss.computer_name_prefix) {
                (Ok(()), Some(prefix)) => prefixes.push(Prefix {
                    scale_set: set.name.clone(),
                    set_id: ss.id.clone(),
                    prefix: prefix.clone(),
                }),
                _ => lending_none.push(set.name.as_str()),
            }
            instances.extend(listed);
        }
        self.azure_replacements(scale_sets, &mut instances, outcome);

        let mut plan = reconcile::plan(&instances, &targets, &scope, &prefixes);
        // The proof of absence: the listings first; the reads only for what is still to go.
        let needed = reconcile::prove_by_listings(&mut plan, &prefixes, &earlier.listings);
        if !needed.is_empty() {
            let ids: Vec<String> = needed.into_iter().map(|p| p.set_id).collect();
            // Before the step's end, after the wait, like every other call: proofs that do
            // not come in time are proofs not read, and their targets are kept.
            // Each read is retried within it too (429, 5xx), so a passing error does not keep
            // a stale target for another whole run.
            let reads = crate::absence::evidence(
                &self.azure,
                scale_sets,
                &ids,
                &instances,
                &self.azure_end,
                &self.reporter,
            );
            let proofs = match self.azure_end.remaining() {
                Some(left) => tokio::time::timeout(left, reads).await.unwrap_or_default(),
                None => reads.await,
            };
            if let Some((refused, groups)) = &proofs.pools_narrowed {
                self.reporter.warn(&report::pools_narrowed(
                    &self.settings.azure.subscription_id,
                    refused,
                    groups,
                ));
            }
            reconcile::prove_by_reads(&mut plan, &prefixes, &proofs.sets);
        }
        report::plan(&plan, &instances, &prefixes, &lending_none, &self.reporter);
        report::kept_unproven(&plan, &self.reporter);
        outcome.unregistered = plan
            .unregistered
            .iter()
            .map(|i| i.display_name().to_string())
            .collect();
        outcome.targets = plan.targets.into_iter().map(TargetRow::from).collect();
        outcome.vms = instances;
        remove(&self.octopus, settings.dry_run, &self.reporter, outcome).await
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
        let output: Vec<Target> = outcome
            .decided(|d| *d == Decision::Output)
            .cloned()
            .collect();
        let candidates: Vec<String> = output
            .iter()
            .filter(|t| created.contains_key(&t.id))
            .map(|t| t.id.clone())
            .collect();
        let old = context::regarded_before(&self.octopus, space, &candidates, since)
            .await
            .map_err(octopus_error)?;
        created.retain(|id, _| !old.contains(id));
        let (_, old) = runs::split_new(&output, &created, since);
        if !old.is_empty() {
            self.reporter.highlight(&report::pre_existing(&old, since));
        }
        outcome.pre_existing(&old);
        Ok(())
    }
}
