//! The wait's checks as the step drives them: one look at every scale set, what it read
//! ([`CheckRead`]), each listing kept as it arrives ([`LastListings`]), the pacing on Azure's
//! read budget, and the log and record of each check ([`WaitProgress`]).

use crate::azure::{AzureClient, ScaleSet};
use crate::error::Failure;
use crate::outcome::{self, Check, Counts, Outcome, SetCheck};
use crate::output::Reporter;
use crate::reconcile::{self, Instance, InstanceState};
use crate::report;
use crate::settings::ScaleSetRef;
use crate::wait::{Checked, Look, Progress};
use std::sync::Mutex;
use std::time::Duration;

/// One scale set as a check saw it.
#[derive(Debug, Clone)]
pub(super) struct SetView {
    pub(super) set: ScaleSetRef,
    pub(super) scale_set: ScaleSet,
    /// `None` while the scale set itself is changing: its instances are not listed then, to
    /// spend less of compute's small read budget.
    pub(super) instances: Option<Vec<Instance>>,
    /// Its latest rolling upgrade is `RollingForward` (sets that roll only).
    pub(super) rolling: bool,
}

impl SetView {
    /// An automatic zone rebalance is under way: Azure has created a VM and will delete one
    /// of the set's when it ends (contract: "Waiting").
    pub(super) fn rebalancing(&self) -> bool {
        self.scale_set
            .services
            .as_ref()
            .is_some_and(|s| s.rebalancing)
    }

    pub(super) fn settled(&self) -> bool {
        crate::wait::set_settled(self.instances.as_deref(), self.rolling, self.rebalancing())
    }

    /// What is still changing, in words; `named` when the step waits for several sets.
    pub(super) fn still_changing(&self, named: bool) -> String {
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

/// What one check read: each scale set as it saw it, and what Azure said was left of its read
/// budget (for the record).
pub(super) struct CheckRead {
    pub(super) views: Vec<SetView>,
    pub(super) read_budget: Vec<(String, u32)>,
}

/// Tells the log how the wait goes: a line per check, and a passing failure once, then
/// counted in the verbose log while it repeats; and keeps every check for the record.
pub(super) struct WaitProgress<'r> {
    pub(super) reporter: &'r Reporter,
    pub(super) outcome: &'r mut Outcome,
}

impl WaitProgress<'_> {
    /// Keeps what check `number` saw of each scale set and VM.
    pub(super) fn record(&mut self, number: u32, read: &CheckRead) {
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
            read_budget: read.read_budget.clone(),
            failure: None,
        });
        self.outcome
            .classes_at(number, read.views.iter().flat_map(listed));
    }

    /// Keeps check `number`, which failed.
    pub(super) fn record_failure(&mut self, number: u32, failure: &Failure) {
        self.outcome.checks.push(Check {
            number,
            at: time::OffsetDateTime::now_utc(),
            sets: Vec::new(),
            read_budget: Vec::new(),
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

/// Ready (member) instances and live ones ([`Counts::live`]), across the scale sets.
pub(super) fn counts(views: &[SetView]) -> (usize, usize) {
    let c = Counts::of(views.iter().flat_map(listed));
    (c.ready, c.live())
}

pub(super) fn report_ready(views: &[SetView], reporter: &Reporter) {
    let (ready, _) = counts(views);
    reporter.progress(100, &report::ready(ready, None));
}

/// What is still changing across the scale sets, naming each when there are several.
pub(super) fn still_changing(views: &[SetView]) -> String {
    let named = views.len() > 1;
    views
        .iter()
        .filter(|v| !v.settled())
        .map(|v| v.still_changing(named))
        .collect::<Vec<_>>()
        .join("; ")
}

pub(super) fn listed(v: &SetView) -> impl Iterator<Item = &Instance> {
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
pub(super) struct LastListings {
    pub(super) hosts: Mutex<reconcile::EarlierListings>,
    pub(super) deleting: Mutex<reconcile::SeenDeleting>,
}

/// What the wait's listings leave to the final one: each set's last listing, and the VMs seen
/// being deleted.
pub(super) struct Earlier {
    pub(super) listings: reconcile::EarlierListings,
    pub(super) deleting: reconcile::SeenDeleting,
}

impl LastListings {
    /// Marks the VMs of a set's new listing that Azure is deleting, by this listing or any
    /// before ([`reconcile::mark_deleting`]), then keeps it in place of the one before.
    pub(super) fn keep(&self, set_id: &str, instances: &mut [Instance]) {
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
    pub(super) fn into_inner(self) -> Earlier {
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
pub(super) fn set_replacements(set: &ScaleSetRef, ss: &ScaleSet) -> outcome::SetReplacements {
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
pub(super) fn sets_of(views: &[SetView]) -> Vec<(ScaleSetRef, ScaleSet)> {
    views
        .iter()
        .map(|v| (v.set.clone(), v.scale_set.clone()))
        .collect()
}

/// What a check needs to pace the next one on Azure's read budget.
pub(super) struct Pacing<'a> {
    pub(super) azure: &'a AzureClient,
    pub(super) minute: Duration,
    pub(super) floor: Duration,
    pub(super) reporter: &'a Reporter,
    /// The most each bucket has had left during this run: its size, as far as the step knows.
    pub(super) most: Mutex<std::collections::HashMap<String, u32>>,
}

impl Pacing<'_> {
    /// The most `bucket` has had left so far, `remaining` included.
    pub(super) fn most_seen(&self, bucket: &str, remaining: u32) -> u32 {
        let mut most = self.most.lock().unwrap_or_else(|e| e.into_inner());
        let m = most.entry(bucket.to_string()).or_insert(remaining);
        *m = (*m).max(remaining);
        *m
    }

    /// The interval the buckets this check read from ask for, and what is left of each (for
    /// the record); said (verbose) when it stretches the poll interval, naming the tightest
    /// bucket.
    pub(super) fn pace(&self) -> (Option<Duration>, Vec<(String, u32)>) {
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
    pub(super) fn stretch(
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
            let low = crate::wait::running_low(
                tightest.remaining,
                self.most_seen(name, tightest.remaining),
            );
            self.reporter
                .verbose(&report::pacing(name, tightest.remaining, pace, low));
        }
        Some(pace)
    }
}

/// One look at every scale set: the set, then (only once it is steady) its instances. The
/// sets are read concurrently; any failure makes the whole check a failure.
pub(super) async fn look(
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
            Some(_) => azure.rolling_forward(set, &scale_set).await?,
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
    let (pace, read_budget) = pacing.pace();
    Ok(Look {
        settled: views.iter().all(SetView::settled),
        pace,
        value: CheckRead { views, read_budget },
    })
}
