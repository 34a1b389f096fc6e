//! The reads behind the proof of absence (contract: "Proof of absence") and the rolling-upgrade
//! wait: the Azure side of rules that live in [`crate::reconcile`] and [`crate::wait`]. Nothing
//! here decides; each function answers with data ([`Evidence`], a running upgrade) that the
//! rules take.
//!
//! - A Flexible set's resource group, listed without the set filter: a VM detached from the
//!   set keeps running there under its set-shaped name.
//! - The standby pools attached to a set (`Microsoft.StandbyPool`, api-version 2025-03-01):
//!   listed in the subscription where the account may, else in the set's resource group; each
//!   pool's `standbyVirtualMachines` give VM ids, whose `osProfile.computerName` is read.
//! - `rollingUpgrades/latest`, for sets that roll: `RollingForward` means VMs are still being
//!   replaced although every listed VM looks settled.

use crate::azure::{
    instance_from_vm, AzureClient, HttpFailure, Orchestration, PageGuard, ScaleSet,
};
use crate::error::Failure;
use crate::reconcile::{host_name, Evidence, InstanceState};
use crate::settings::ScaleSetRef;
use futures::StreamExt;
use serde_json::Value;
use std::collections::HashMap;

/// Microsoft.StandbyPool's api-version.
pub const STANDBY_API_VERSION: &str = "2025-03-01";

/// How many pool VMs are read at once.
const VM_READS_AT_ONCE: usize = 4;

/// The HTTP failure inside an SDK error, if it is one.
fn http_failure(e: &azure_core::Error) -> Option<&HttpFailure> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(f) = err.downcast_ref::<HttpFailure>() {
            return Some(f);
        }
        source = err.source();
    }
    None
}

/// A sentence for a proof that could not be read, naming what to grant on 403.
fn unreadable(e: &azure_core::Error, what: &str, grant: &str) -> String {
    match http_failure(e) {
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
        None => format!("reading {what} failed ({e})"),
    }
}

/// True when the answer says the subscription has no `Microsoft.StandbyPool` provider
/// registered, and so no pools: only when the error says so.
fn provider_missing(e: &azure_core::Error) -> bool {
    http_failure(e).is_some_and(|f| {
        let code = f.code.as_deref().unwrap_or("");
        let message = f.message.as_deref().unwrap_or("").to_ascii_lowercase();
        (code.eq_ignore_ascii_case("MissingSubscriptionRegistration")
            || code.eq_ignore_ascii_case("SubscriptionNotRegistered"))
            && message.contains("microsoft.standbypool")
    })
}

/// Every item of a list, following `nextLink` while it advances ([`PageGuard`]).
async fn all_items(azure: &AzureClient, path_and_query: &str) -> azure_core::Result<Vec<Value>> {
    let mut page = azure.get_json(path_and_query).await?;
    let mut items = Vec::new();
    let mut guard = PageGuard::default();
    loop {
        let next = page
            .get("nextLink")
            .and_then(Value::as_str)
            .map(str::to_string);
        if let Some(v) = page.get_mut("value").and_then(Value::as_array_mut) {
            let ids = v.iter().filter_map(|i| i.get("id").and_then(Value::as_str));
            guard.advance(next.as_deref(), ids).map_err(|why| {
                azure_core::Error::message(azure_core::error::ErrorKind::DataConversion, why)
            })?;
            items.append(v);
        }
        let Some(next) = next.filter(|n| !n.is_empty()) else {
            return Ok(items);
        };
        let url = url::Url::parse(&next).map_err(|e| {
            azure_core::Error::full(azure_core::error::ErrorKind::DataConversion, e, "nextLink")
        })?;
        page = azure.get_url(url).await?;
    }
}

/// The resource group of an ARM id (`/subscriptions/s/resourceGroups/rg/...`).
fn group_of(id: &str) -> Option<&str> {
    let mut parts = id.split('/');
    parts
        .by_ref()
        .find(|p| p.eq_ignore_ascii_case("resourceGroups"))?;
    parts.next()
}

/// The host names of the VMs of every standby pool attached to the set, each with its pool.
async fn pool_vms(
    azure: &AzureClient,
    set: &ScaleSetRef,
    ss: &ScaleSet,
) -> Result<HashMap<String, String>, String> {
    let sub = &azure.settings().subscription_id;
    let list = |scope: String| async move {
        all_items(
            azure,
            &format!("{scope}/providers/Microsoft.StandbyPool/standbyVirtualMachinePools?api-version={STANDBY_API_VERSION}"),
        )
        .await
    };
    let pools = match list(format!("/subscriptions/{sub}")).await {
        Ok(p) => p,
        Err(e) if provider_missing(&e) => return Ok(HashMap::new()),
        // An account that may read only some groups: the set's own group, where pools are.
        Err(_) => match list(format!(
            "/subscriptions/{sub}/resourceGroups/{}",
            set.resource_group
        ))
        .await
        {
            Ok(p) => p,
            Err(e) if provider_missing(&e) => return Ok(HashMap::new()),
            Err(e) => {
                return Err(unreadable(
                    &e,
                    &format!(
                        "the standby pools of resource group '{}'",
                        set.resource_group
                    ),
                    &format!(
                        "the Reader role on resource group '{}' (the standby pool's)",
                        set.resource_group
                    ),
                ))
            }
        },
    };
    let attached: Vec<(String, String)> = pools
        .iter()
        .filter(|p| {
            p.pointer("/properties/attachedVirtualMachineScaleSetId")
                .and_then(Value::as_str)
                .is_some_and(|id| id.eq_ignore_ascii_case(&ss.id))
        })
        .filter_map(|p| {
            Some((
                p.get("id")?.as_str()?.to_string(),
                p.get("name")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let mut out = HashMap::new();
    for (pool_id, pool) in attached {
        let grant = format!(
            "the Reader role on resource group '{}' (standby pool {pool}'s)",
            group_of(&pool_id).unwrap_or("?")
        );
        let vms = all_items(
            azure,
            &format!("{pool_id}/standbyVirtualMachines?api-version={STANDBY_API_VERSION}"),
        )
        .await
        .map_err(|e| unreadable(&e, &format!("the VMs of standby pool {pool}"), &grant))?;
        let ids: Vec<String> = vms
            .iter()
            .filter_map(|v| v.pointer("/properties/virtualMachineResourceId")?.as_str())
            .map(str::to_string)
            .collect();
        let names: Vec<Result<Option<String>, String>> =
            futures::stream::iter(ids.iter().map(|id| computer_name(azure, id, &pool, &grant)))
                .buffer_unordered(VM_READS_AT_ONCE)
                .collect()
                .await;
        for name in names {
            if let Some(name) = name? {
                out.insert(host_name(&name), pool.clone());
            }
        }
    }
    Ok(out)
}

/// A pool VM's computer name (`osProfile.computerName`); `None` once it is gone.
async fn computer_name(
    azure: &AzureClient,
    vm_id: &str,
    pool: &str,
    grant: &str,
) -> Result<Option<String>, String> {
    let what = format!("VM {vm_id} of standby pool {pool}");
    match azure
        .get_json(&format!("{vm_id}?api-version=2024-07-01"))
        .await
    {
        Ok(vm) => {
            let name = vm
                .pointer("/properties/osProfile/computerName")
                .and_then(Value::as_str)
                .filter(|n| !n.trim().is_empty())
                .map(str::to_string);
            // A pool VM without a computer name cannot be told apart from a target's VM.
            name.map(Some)
                .ok_or_else(|| format!("{what} reports no computer name"))
        }
        Err(e) if http_failure(&e).is_some_and(|f| f.status == 404) => Ok(None),
        Err(e) => Err(unreadable(&e, &what, grant)),
    }
}

/// The host names of the live VMs of a Flexible set's resource group (its listing without the
/// set filter), each with its VM's name.
async fn group_vms(
    azure: &AzureClient,
    set: &ScaleSetRef,
) -> Result<HashMap<String, String>, String> {
    let sub = &azure.settings().subscription_id;
    let mut pages = azure
        .compute()
        .virtual_machines_client()
        .list(&set.resource_group, sub)
        .expand("instanceView")
        .into_stream();
    let mut out = HashMap::new();
    let mut guard = PageGuard::default();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            unreadable(
                &e,
                &format!("the VMs of resource group '{}'", set.resource_group),
                &format!("the Reader role on resource group '{}'", set.resource_group),
            )
        })?;
        guard
            .advance(
                page.next_link.as_deref(),
                page.value.iter().filter_map(|vm| vm.resource.id.as_deref()),
            )
            .map_err(|why| {
                format!(
                    "the listing of resource group '{}' was cut short: {why}",
                    set.resource_group
                )
            })?;
        for vm in &page.value {
            let i = instance_from_vm(vm, &set.name);
            if i.state() == InstanceState::Gone {
                continue;
            }
            if let Some(c) = i.computer_name.as_deref() {
                out.insert(host_name(c), i.name.clone());
            }
        }
    }
    Ok(out)
}

/// The proofs' reads for the sets that need them: one entry per set id.
pub async fn evidence(
    azure: &AzureClient,
    sets: &[(ScaleSetRef, ScaleSet)],
    needed: &[String],
) -> HashMap<String, Evidence> {
    let mut out = HashMap::new();
    for (set, ss) in sets.iter().filter(|(_, ss)| needed.contains(&ss.id)) {
        let group = match ss.orchestration {
            Orchestration::Flexible => Some(group_vms(azure, set).await),
            Orchestration::Uniform => None,
        };
        // Standby pools attach to Flexible sets only.
        let pools = match ss.orchestration {
            Orchestration::Flexible => pool_vms(azure, set, ss).await,
            Orchestration::Uniform => Ok(HashMap::new()),
        };
        out.insert(ss.id.clone(), Evidence { group, pools });
    }
    out
}

/// True while the set's latest rolling upgrade is `RollingForward`; false when it has none
/// (404) or it has ended. Read only for sets that roll ([`ScaleSet::rolls`]).
pub async fn rolling_forward(
    azure: &AzureClient,
    set: &ScaleSetRef,
    ss: &ScaleSet,
) -> Result<bool, Failure> {
    if !ss.rolls {
        return Ok(false);
    }
    // Read as JSON, not through the SDK's model: its closed enums (runningStatus.code,
    // lastAction) would turn a value Azure adds later into a failed check.
    let path = format!(
        "{}/rollingUpgrades/latest?api-version=2024-07-01",
        ss.id.trim_end_matches('/')
    );
    match azure.get_json(&path).await {
        Ok(status) => Ok(status
            .pointer("/properties/runningStatus/code")
            .and_then(Value::as_str)
            .is_some_and(|c| c.eq_ignore_ascii_case("RollingForward"))),
        Err(e) if http_failure(&e).is_some_and(|f| f.status == 404) => Ok(false),
        Err(e) => Err(azure.failure(e, set, "read the scale set's latest rolling upgrade")),
    }
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
