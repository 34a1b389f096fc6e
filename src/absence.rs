//! The reads behind the proof of absence (contract: "Proof of absence"): the Azure side of a
//! rule that lives in [`crate::reconcile`]. Nothing here decides; the reads answer with data
//! ([`Evidence`]) that the rule takes. (The wait's reads, the rolling upgrade's among them,
//! are the Azure client's own: [`AzureClient::rolling_forward`].)
//!
//! - A Flexible set's resource group, listed without the set filter: a VM detached from the
//!   set keeps running there under its set-shaped name.
//! - The standby pools attached to a set (`Microsoft.StandbyPool`, api-version 2025-03-01):
//!   listed in the subscription where the account may, else in the set's resource group; each
//!   pool's `standbyVirtualMachines` give VM ids, whose `osProfile.computerName` is read.

use crate::azure::{self, instance_from_vm, AzureClient, HttpFailure, Orchestration, ScaleSet};
use crate::error::{cause, Failure, FailureKind};
use crate::output::Reporter;
use crate::paging::{self, Cut, Pages};
use crate::reconcile::{host_name, Evidence, Instance, InstanceState};
use crate::retry::{retrying, AsFailure, RetryPolicy, StepEnd};
use crate::settings::ScaleSetRef;
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;

/// Microsoft.StandbyPool's api-version.
pub const STANDBY_API_VERSION: &str = "2025-03-01";

/// How many single VMs (a pool's, or a group's VM listed without a computer name) are read
/// at once.
const VM_READS_AT_ONCE: usize = 4;

/// At most this many VMs of a resource group listed without a computer name are read one by
/// one; past it, the group's names are unknown (and the targets that need them kept) rather
/// than spend the subscription's read budget on them.
const UNNAMED_READS: usize = 20;

/// What the reads of the proofs found, for the sets that needed them.
#[derive(Debug, Default)]
pub struct Proofs {
    /// One entry per set id.
    pub sets: HashMap<String, Evidence>,
    /// The subscription-wide pool listing was refused (403): the sets' resource groups were
    /// searched instead. The refusal and those groups, for the one warning that says what
    /// cannot be seen.
    pub pools_narrowed: Option<(Failure, Vec<String>)>,
}

/// The reads' shared context: the client, and the retries before the step's end.
struct Reads<'a> {
    azure: &'a AzureClient,
    ends: &'a StepEnd,
    reporter: &'a Reporter,
}

impl Reads<'_> {
    /// Runs one read, retrying passing failures (429, 5xx, timeouts) like every other call.
    async fn retried<T, F, Fut>(&self, call: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        retrying(RetryPolicy::default(), self.ends, self.reporter, call).await
    }

    /// One resource read as JSON; `None` once it is gone (404).
    async fn unless_gone(
        &self,
        path_and_query: &str,
        what: &str,
        grant: &str,
    ) -> Result<Option<Value>, Failure> {
        self.retried(|| async {
            match self.azure.get_json(path_and_query).await {
                Ok(v) => Ok(Some(v)),
                Err(e) if cause::<HttpFailure>(&e).is_some_and(|f| f.status == 404) => Ok(None),
                Err(e) => Err(unreadable(&e, what, grant).failure),
            }
        })
        .await
    }

    /// Every item of an ARM list read as JSON, through the one paging rule.
    async fn list(
        &self,
        path_and_query: &str,
        what: &str,
        grant: &str,
    ) -> Result<Vec<Value>, Unread> {
        retrying(RetryPolicy::default(), self.ends, self.reporter, || async {
            let first = self
                .azure
                .url(path_and_query)
                .map_err(|e| unreadable(&e, what, grant))?;
            let pages = self.azure.json_pages(first);
            paging::whole(pages, Pages::starting_at(path_and_query), paging::all)
                .await
                .map_err(|cut| cut_short(cut, what, grant))
        })
        .await
    }
}

/// A proof's read that failed: the failure, and whether it says the subscription has no
/// `Microsoft.StandbyPool` provider (no pools at all, not an unreadable proof).
#[derive(Debug)]
struct Unread {
    failure: Failure,
    no_provider: bool,
}

impl AsFailure for Unread {
    fn failure(&self) -> &Failure {
        &self.failure
    }
    fn from_failure(failure: Failure) -> Self {
        Unread {
            failure,
            no_provider: false,
        }
    }
}

/// A sentence for a proof that could not be read, naming what to grant on 403; typed, so the
/// retries know a passing failure from a lasting one.
fn unreadable(e: &azure_core::Error, what: &str, grant: &str) -> Unread {
    let (kind, retry_after) = azure::kind_of(e);
    let http = cause::<HttpFailure>(e);
    let message = match http {
        Some(f) if f.status == 403 => format!(
            "the Azure account may not read {what} (HTTP 403{}); grant it {grant}",
            f.code
                .as_deref()
                .map(|c| format!(" {c}"))
                .unwrap_or_default()
        ),
        Some(f) => format!(
            "reading {what} failed (HTTP {}{})",
            f.status,
            f.message
                .as_deref()
                .map(|m| format!(": {m}"))
                .unwrap_or_default()
        ),
        None => format!("reading {what} failed ({})", azure::describe(e)),
    };
    Unread {
        failure: Failure::new(kind, message).retry_after(retry_after),
        no_provider: http.is_some_and(provider_missing),
    }
}

/// A listing whose paging broke the rule: unreadable, and lastingly so.
fn cut_short(cut: Cut<azure_core::Error>, what: &str, grant: &str) -> Unread {
    match cut {
        Cut::Read(e) => unreadable(&e, what, grant),
        Cut::Paging(why) => Unread::from_failure(Failure::permanent(format!(
            "the listing of {what} was cut short: {why}"
        ))),
    }
}

/// True when the answer says the subscription has no `Microsoft.StandbyPool` provider
/// registered, and so no pools: only when the error says so.
fn provider_missing(f: &HttpFailure) -> bool {
    let code = f.code.as_deref().unwrap_or("");
    let message = f.message.as_deref().unwrap_or("").to_ascii_lowercase();
    (code.eq_ignore_ascii_case("MissingSubscriptionRegistration")
        || code.eq_ignore_ascii_case("SubscriptionNotRegistered"))
        && message.contains("microsoft.standbypool")
}

/// The resource group of an ARM id (`/subscriptions/s/resourceGroups/rg/...`).
fn group_of(id: &str) -> Option<&str> {
    let mut parts = id.split('/');
    parts
        .by_ref()
        .find(|p| p.eq_ignore_ascii_case("resourceGroups"))?;
    parts.next()
}

/// How the subscription-wide pool listing went.
enum SubscriptionPools {
    /// Every pool of the subscription.
    Listed(Vec<Value>),
    /// The subscription has no `Microsoft.StandbyPool` provider: no pools anywhere.
    NoProvider,
    /// Refused (403): only the sets' own groups can be searched.
    Refused(Failure),
}

/// A pool listing's answer, with "no provider" told apart: only when the error says so.
async fn pools_in(
    reads: &Reads<'_>,
    scope: &str,
    what: &str,
    grant: &str,
) -> Result<Option<Vec<Value>>, Failure> {
    let path = format!("{scope}/providers/Microsoft.StandbyPool/standbyVirtualMachinePools?api-version={STANDBY_API_VERSION}");
    match reads.list(&path, what, grant).await {
        Ok(pools) => Ok(Some(pools)),
        Err(u) if u.no_provider => Ok(None),
        Err(u) => Err(u.failure),
    }
}
/// Lists the subscription's pools once, for every set that needs them.
async fn subscription_pools(reads: &Reads<'_>) -> Result<SubscriptionPools, Failure> {
    let sub = &reads.azure.settings().subscription_id;
    let what = format!("the standby pools of subscription {sub}");
    let path = format!("/subscriptions/{sub}/providers/Microsoft.StandbyPool/standbyVirtualMachinePools?api-version={STANDBY_API_VERSION}");
    match reads
        .list(
            &path,
            &what,
            &format!("the Reader role on subscription {sub}"),
        )
        .await
    {
        Ok(pools) => Ok(SubscriptionPools::Listed(pools)),
        Err(u) if u.no_provider => Ok(SubscriptionPools::NoProvider),
        // The one narrowing: an account that may read only some groups searches the set's.
        Err(u) if u.failure.kind == FailureKind::Forbidden => {
            Ok(SubscriptionPools::Refused(u.failure))
        }
        Err(u) => Err(u.failure),
    }
}

/// The host names of the VMs of every standby pool attached to the set, each with its pool.
/// `listed` is the subscription's pools; when the subscription could not be listed (403), the
/// set's resource group's are listed here.
async fn pool_vms(
    reads: &Reads<'_>,
    set: &ScaleSetRef,
    ss: &ScaleSet,
    subscription: &SubscriptionPools,
) -> Result<HashMap<String, String>, Failure> {
    let sub = &reads.azure.settings().subscription_id;
    let group_pools;
    let pools = match subscription {
        SubscriptionPools::Listed(pools) => pools,
        SubscriptionPools::NoProvider => return Ok(HashMap::new()),
        SubscriptionPools::Refused(_) => {
            let rg = &set.resource_group;
            match pools_in(
                reads,
                &format!("/subscriptions/{sub}/resourceGroups/{rg}"),
                &format!("the standby pools of resource group '{rg}'"),
                &format!("the Reader role on resource group '{rg}' (the standby pool's)"),
            )
            .await?
            {
                Some(pools) => {
                    group_pools = pools;
                    &group_pools
                }
                None => return Ok(HashMap::new()),
            }
        }
    };
    let attached: Vec<(&str, &str)> = pools
        .iter()
        .filter(|p| {
            p.pointer("/properties/attachedVirtualMachineScaleSetId")
                .and_then(Value::as_str)
                .is_some_and(|id| id.eq_ignore_ascii_case(&ss.id))
        })
        .filter_map(|p| Some((p.get("id")?.as_str()?, p.get("name")?.as_str()?)))
        .collect();
    let mut out = HashMap::new();
    for (pool_id, pool) in attached {
        let grant = format!(
            "the Reader role on resource group '{}' (standby pool {pool}'s)",
            group_of(pool_id).unwrap_or("?")
        );
        let what = format!("the VMs of standby pool {pool}");
        let vms = reads
            .list(
                &format!("{pool_id}/standbyVirtualMachines?api-version={STANDBY_API_VERSION}"),
                &what,
                &grant,
            )
            .await
            .map_err(|u| u.failure)?;
        // A pool VM the list does not say which VM it is cannot be told apart from a
        // target's VM.
        let ids = vms
            .iter()
            .map(|v| {
                v.pointer("/properties/virtualMachineResourceId")
                    .and_then(Value::as_str)
                    .filter(|id| !id.trim().is_empty())
                    .ok_or_else(|| {
                        Failure::permanent(format!(
                            "a VM of standby pool {pool} is listed without its virtualMachineResourceId"
                        ))
                    })
            })
            .collect::<Result<Vec<&str>, Failure>>()?;
        let names: Vec<Result<Option<String>, Failure>> =
            futures::stream::iter(ids.iter().map(|id| pool_vm_name(reads, id, pool, &grant)))
                .buffer_unordered(VM_READS_AT_ONCE)
                .collect()
                .await;
        for name in names {
            if let Some(name) = name? {
                out.insert(host_name(&name), pool.to_string());
            }
        }
    }
    Ok(out)
}

/// A pool VM's computer name (`osProfile.computerName`); `None` once it is gone.
async fn pool_vm_name(
    reads: &Reads<'_>,
    vm_id: &str,
    pool: &str,
    grant: &str,
) -> Result<Option<String>, Failure> {
    let what = format!("VM {vm_id} of standby pool {pool}");
    let path = format!("{vm_id}?api-version=2024-07-01");
    let Some(vm) = reads.unless_gone(&path, &what, grant).await? else {
        return Ok(None);
    };
    // A pool VM without a computer name cannot be told apart from a target's VM.
    vm.pointer("/properties/osProfile/computerName")
        .and_then(Value::as_str)
        .filter(|n| !n.trim().is_empty())
        .map(|n| Some(n.to_string()))
        .ok_or_else(|| Failure::permanent(format!("{what} reports no computer name")))
}

/// The host names of the live VMs of a Flexible set's resource group (its plain listing:
/// without the set filter, Azure allows no `$expand`), each with its VM's name. A VM listed
/// without a computer name (a specialized image has no OS profile) is named by the step's own
/// listings when it is one of their VMs, else read on its own (its instance view names it);
/// while any stays unnamed, the group proves nothing.
async fn group_vms(
    reads: &Reads<'_>,
    set: &ScaleSetRef,
    known: &HashMap<String, String>,
) -> Result<HashMap<String, String>, Failure> {
    let rg = &set.resource_group;
    let what = format!("the VMs of resource group '{rg}'");
    let grant = format!("the Reader role on resource group '{rg}'");
    let sub = &reads.azure.settings().subscription_id;
    let vms = reads
        .retried(|| async {
            let pages = reads
                .azure
                .compute()
                .virtual_machines_client()
                .list(rg, sub)
                .into_stream();
            // Each VM as the proof needs it, kept as its page arrives; a VM being deleted
            // proves nothing either way.
            paging::whole(pages, Pages::default(), |vm| {
                let i = instance_from_vm(&vm, &set.name);
                Ok((i.state() != InstanceState::Gone)
                    .then(|| (i, vm.resource.id.unwrap_or_default())))
            })
            .await
            .map_err(|cut| cut_short(cut, &what, &grant).failure)
        })
        .await?;
    let mut out = HashMap::new();
    let mut unnamed = Vec::new();
    for (i, id) in vms {
        match i
            .computer_name
            .or_else(|| known.get(&i.name.to_ascii_lowercase()).cloned())
        {
            Some(c) => {
                out.insert(host_name(&c), i.name);
            }
            None => unnamed.push((i.name, id)),
        }
    }
    if unnamed.len() > UNNAMED_READS {
        return Err(Failure::permanent(format!(
            "{} VMs of resource group '{rg}' are listed without a computer name, more than the {UNNAMED_READS} vmss-check reads one by one, so any of them may be a target's VM",
            unnamed.len()
        )));
    }
    let named: Vec<Result<(String, Option<String>), Failure>> =
        futures::stream::iter(unnamed.iter().map(|(name, id)| async move {
            Ok((name.clone(), unnamed_vm_name(reads, id, name, rg).await?))
        }))
        .buffer_unordered(VM_READS_AT_ONCE)
        .collect()
        .await;
    for n in named {
        if let (vm, Some(c)) = n? {
            out.insert(host_name(&c), vm);
        }
    }
    Ok(out)
}

/// The computer name a group's VM listed without one reports in its instance view; `None`
/// once it is gone. A VM whose instance view names none (a deallocated VM's may not) is an
/// unknown name: the proof fails closed.
async fn unnamed_vm_name(
    reads: &Reads<'_>,
    vm_id: &str,
    vm: &str,
    rg: &str,
) -> Result<Option<String>, Failure> {
    let what = format!("the instance view of VM {vm} in resource group '{rg}'");
    let grant = format!("the Reader role on resource group '{rg}'");
    let path = format!(
        "{}/instanceView?api-version=2024-07-01",
        vm_id.trim_end_matches('/')
    );
    let Some(view) = reads.unless_gone(&path, &what, &grant).await? else {
        return Ok(None);
    };
    view.get("computerName")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(|c| Some(crate::output::printable(c).into_owned()))
        .ok_or_else(|| {
            Failure::permanent(format!(
                "VM {vm} of resource group '{rg}' has no computer name in its listing (no OS profile) nor in its instance view (deallocated?), so it may be a target's VM"
            ))
        })
}

/// The proofs' reads for the sets that need them (by set id), retried before `ends`.
/// `instances` are the step's listings: they name the sets' own VMs that the group's plain
/// listing shows without a computer name.
pub async fn evidence(
    azure: &AzureClient,
    sets: &[(ScaleSetRef, ScaleSet)],
    needed: &[String],
    instances: &[Instance],
    ends: &StepEnd,
    reporter: &Reporter,
) -> Proofs {
    let reads = Reads {
        azure,
        ends,
        reporter,
    };
    let mut out = Proofs::default();
    let needed: Vec<&(ScaleSetRef, ScaleSet)> = sets
        .iter()
        .filter(|(_, ss)| needed.contains(&ss.id))
        .collect();
    // Standby pools attach to Flexible sets only; the subscription is listed once for all.
    let subscription = if needed
        .iter()
        .any(|(_, ss)| ss.orchestration == Orchestration::Flexible)
    {
        Some(subscription_pools(&reads).await)
    } else {
        None
    };
    if let Some(Ok(SubscriptionPools::Refused(f))) = &subscription {
        let mut groups: Vec<String> = needed
            .iter()
            .map(|(set, _)| set.resource_group.clone())
            .collect();
        groups.sort_unstable();
        groups.dedup();
        out.pools_narrowed = Some((f.clone(), groups));
    }
    for (set, ss) in needed {
        let (group, pools) = match (&ss.orchestration, &subscription) {
            (Orchestration::Flexible, Some(subscription)) => {
                let known: HashMap<String, String> = instances
                    .iter()
                    .filter(|i| i.set_id.eq_ignore_ascii_case(&ss.id))
                    .filter_map(|i| Some((i.name.to_ascii_lowercase(), i.computer_name.clone()?)))
                    .collect();
                let group = group_vms(&reads, set, &known).await;
                let pools = match subscription {
                    Ok(s) => pool_vms(&reads, set, ss, s).await,
                    Err(f) => Err(f.clone()),
                };
                (Some(group), pools)
            }
            _ => (None, Ok(HashMap::new())),
        };
        out.sets.insert(
            ss.id.clone(),
            Evidence {
                group: group.map(|g| g.map_err(|f| f.message)),
                pools: pools.map_err(|f| f.message),
            },
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_come_from_ids() {
        assert_eq!(
            group_of("/subscriptions/s/resourceGroups/rg-pool/providers/Microsoft.StandbyPool/standbyVirtualMachinePools/p"),
            Some("rg-pool")
        );
        assert_eq!(group_of("/subscriptions/s"), None);
    }
}
