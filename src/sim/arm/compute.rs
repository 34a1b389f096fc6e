//! Simulated Microsoft.Compute: scale sets, their instance views, their VMs (Uniform and
//! Flexible listings), single VMs, rolling upgrades.

use super::*;

pub(super) fn not_found(rg: &str, name: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The Resource 'Microsoft.Compute/virtualMachineScaleSets/{name}' under resource group '{rg}' was not found."),
    )
}

pub(super) fn find_scale_set(w: &World, rg: &str, name: &str) -> Option<SimScaleSet> {
    w.scale_sets
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name) && s.resource_group.eq_ignore_ascii_case(rg))
        .cloned()
}

pub(super) fn get_scale_set(w: &mut World, rg: &str, name: &str, newer: bool) -> Response {
    let Some(ss) = find_scale_set(w, rg, name) else {
        return not_found(rg, name);
    };
    // Each read of a scale set is one tick of the story's clock (unless it follows the wall).
    w.advance(true);
    let tick = w.tick;
    let mut props = json!({
        "singlePlacementGroup": true,
        "upgradePolicy": {
            "mode": ss.upgrade_mode,
            "automaticOSUpgradePolicy": {"enableAutomaticOSUpgrade": ss.automatic_os_upgrade}
        },
        "provisioningState": at(&ss.state, tick).unwrap_or_else(|| "Succeeded".into()),
        "overprovision": ss.orchestration == "Uniform",
        "doNotRunExtensionsOnOverprovisionedVMs": false,
        "uniqueId": "b9e2c8a4-0f3d-4b6e-9d1a-5c7f3e2a1b0d",
        "orchestrationMode": ss.orchestration,
        "timeCreated": "2026-06-01T09:00:00.0000000+00:00"
    });
    if let Some(r) = &ss.repairs {
        props["automaticRepairsPolicy"] =
            json!({"enabled": true, "gracePeriod": r.grace_period, "repairAction": r.action});
    }
    let mut resiliency = serde_json::Map::new();
    if ss.resilient_creates {
        resiliency.insert("resilientVMCreationPolicy".into(), json!({"enabled": true}));
    }
    if ss.resilient_deletes {
        resiliency.insert("resilientVMDeletionPolicy".into(), json!({"enabled": true}));
    }
    // Described from 2024-11-01 on: an older api-version's answer leaves it out.
    if ss.zone_rebalancing && newer {
        resiliency.insert(
            "automaticZoneRebalancingPolicy".into(),
            json!({"enabled": true, "rebalanceStrategy": "Recreate", "rebalanceBehavior": "CreateBeforeDelete"}),
        );
    }
    if !resiliency.is_empty() {
        props["resiliencyPolicy"] = Value::Object(resiliency);
    }
    let storage = json!({"imageReference": {"id": format!("/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/images/images/web/versions/1.0.0", w.subscription_id)}});
    match &ss.profile {
        SimProfile::Generalized(prefix) => {
            props["virtualMachineProfile"] = json!({
                "osProfile": {"computerNamePrefix": prefix, "adminUsername": "azureuser", "secrets": []},
                "storageProfile": storage,
            });
        }
        // A specialized image carries its OS as it was: there is no OS profile to give.
        SimProfile::Specialized | SimProfile::SpecializedCopies(_) => {
            props["virtualMachineProfile"] = json!({"storageProfile": storage});
        }
        SimProfile::None => {}
    }
    let mut body = json!({
        "name": ss.name,
        "id": w.scale_set_id(&ss.resource_group, &ss.name),
        "type": "Microsoft.Compute/virtualMachineScaleSets",
        "location": w.location,
        "tags": {},
        "properties": props
    });
    // A Flexible set without a VM profile has no SKU, and so no capacity.
    if ss.profile != SimProfile::None {
        body["sku"] = json!({"name": "Standard_D2s_v3", "tier": "Standard", "capacity": at(&ss.capacity, tick).unwrap_or(0)});
    }
    json(StatusCode::OK, body)
}

/// `GET .../virtualMachineScaleSets/{name}/instanceView`: the set's statuses and its
/// orchestration services: `AutomaticRepairs` (its `serviceState`) when repairs are on;
/// `AutomaticZoneRebalancing` when zone balancing is on, with the `latestOperationStatus` and
/// `lastStatusChangeTime` Microsoft's documentation of automatic zone balance shows (no
/// published description has them yet), at the newer api-version only.
pub(super) fn get_scale_set_instance_view(
    w: &mut World,
    rg: &str,
    name: &str,
    newer: bool,
) -> Response {
    let Some(ss) = find_scale_set(w, rg, name) else {
        return not_found(rg, name);
    };
    let tick = w.tick;
    let state = at(&ss.state, tick)
        .unwrap_or_else(|| "Succeeded".into())
        .to_ascii_lowercase();
    let live = w
        .vms
        .iter()
        .filter(|vm| {
            vm.scale_set.as_deref() == Some(ss.name.as_str())
                && vm.resource_group == ss.resource_group
        })
        .filter(|vm| vm_state(vm, tick).is_some())
        .count();
    let mut services = Vec::new();
    if let Some(r) = &ss.repairs {
        services.push(json!({
            "serviceName": "AutomaticRepairs",
            "serviceState": at(&r.state, tick).unwrap_or_else(|| "Running".into()),
        }));
    }
    if ss.zone_rebalancing && newer {
        let running = at(&ss.rebalance, tick).unwrap_or(false);
        services.push(json!({
            "serviceName": "AutomaticZoneRebalancing",
            "serviceState": "Running",
            "latestOperationStatus": if running { "InProgress" } else { "Completed" },
            "lastStatusChangeTime": "2026-11-23T09:50:00.0000000+00:00",
        }));
    }
    json(
        StatusCode::OK,
        json!({
            "virtualMachine": {"statusesSummary": [{"code": format!("ProvisioningState/{state}"), "count": live}]},
            "statuses": [status(format!("ProvisioningState/{state}"), "Info", &format!("Provisioning {state}"), None)],
            "orchestrationServices": services,
        }),
    )
}

/// A VM's `vmId`: Azure's own id of it, unique to the VM (a Uniform instance id may be reused,
/// a `vmId` never is), here drawn from its group and name.
pub(super) fn sim_vm_id(vm: &SimVm) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in vm
        .resource_group
        .bytes()
        .chain([b'/'])
        .chain(vm.name.bytes())
    {
        hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let h = format!("{hash:016x}");
    format!(
        "{}-{}-4{}-8{}-{}{}",
        &h[..8],
        &h[8..12],
        &h[12..15],
        &h[13..16],
        &h[..4],
        &h[4..12]
    )
}

/// `resilientVMDeletionStatus` of a VM of a set with resilient deletes: `InProgress` once its
/// delete began (while it alternates between `Deleting` and `Failed`), `Enabled` before.
pub(super) fn deletion_status(vm: &SimVm, tick: u64) -> &'static str {
    let began = vm.state.iter().any(|(from, s)| {
        *from <= tick
            && s.as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("Deleting"))
    });
    if began {
        "InProgress"
    } else {
        "Enabled"
    }
}

pub(super) fn vm_state(vm: &SimVm, tick: u64) -> Option<String> {
    at(&vm.state, tick).flatten()
}

pub(super) fn os_profile(vm: &SimVm) -> Option<Value> {
    if !vm.os_profile {
        return None;
    }
    Some(match &vm.computer_name {
        Some(c) => json!({"computerName": c, "adminUsername": "azureuser", "secrets": []}),
        None => json!({"adminUsername": "azureuser", "secrets": []}),
    })
}

/// The time statuses carry unless a story says when a VM's state changed.
pub(super) const STATUS_TIME: &str = "2026-11-23T09:59:00.0000000+00:00";

pub(super) fn status(code: String, level: &str, display: &str, message: Option<&str>) -> Value {
    let mut s = object([
        ("code", code.into()),
        ("level", level.into()),
        ("displayStatus", display.into()),
        ("time", STATUS_TIME.into()),
    ]);
    if let Some(m) = message {
        s["message"] = Value::String(m.to_string());
    }
    s
}

/// The instance view Azure returns with `$expand=instanceView`: provisioning and power
/// statuses (a failed extension's reason among them), and the agent's `computerName`.
pub(super) fn instance_view(vm: &SimVm, state: &str, tick: u64) -> Value {
    let lower = state.to_ascii_lowercase();
    let failed = lower == "failed";
    let mut provisioning = match (&vm.failure, failed) {
        (Some(f), true) => status(
            format!("ProvisioningState/failed/{}", f.code),
            "Error",
            "Provisioning failed",
            Some(&f.message),
        ),
        _ => status(
            format!("ProvisioningState/{lower}"),
            "Info",
            &format!("Provisioning {lower}"),
            None,
        ),
    };
    // When the story says how long ago the VM's state changed, on the real clock: automatic
    // repairs' grace period counts from it.
    if let Some(ago) = vm.changed_ago {
        let when = time::OffsetDateTime::now_utc() - ago;
        if let Ok(t) = when.format(&time::format_description::well_known::Rfc3339) {
            provisioning["time"] = Value::String(t);
        }
    }
    let mut statuses = vec![provisioning];
    if let Some(power) = at(&vm.power, tick) {
        statuses.push(status(
            format!("PowerState/{power}"),
            "Info",
            &format!("VM {power}"),
            None,
        ));
    }
    let agent = status(
        "ProvisioningState/succeeded".into(),
        "Info",
        "Ready",
        Some("Guest Agent is running"),
    );
    let mut view = object([
        ("platformUpdateDomain", 0.into()),
        ("platformFaultDomain", 0.into()),
        ("osName", "ubuntu".into()),
        ("osVersion", "22.04".into()),
        (
            "vmAgent",
            object([
                ("vmAgentVersion", "2.11.1.12".into()),
                ("statuses", Value::Array(vec![agent])),
            ]),
        ),
        ("statuses", Value::Array(statuses)),
    ]);
    // The agent reports the name; a deallocated VM's agent is not running, and Azure's
    // recorded instance view of a deallocated VM has no `computerName`.
    let deallocated = at(&vm.power, tick).is_some_and(|p| p.eq_ignore_ascii_case("deallocated"));
    if let (Some(c), false) = (&vm.computer_name, deallocated) {
        view["computerName"] = Value::String(c.clone());
    }
    if let Some(h) = &vm.health {
        view["vmHealth"] = object([(
            "status",
            status(h.clone(), "Info", "Application health reported", None),
        )]);
    }
    if let (Some(f), true) = (&vm.failure, failed) {
        view["extensions"] = json!([{
            "name": f.extension,
            "type": "Microsoft.Azure.Extensions.CustomScript",
            "typeHandlerVersion": "2.1.10",
            "statuses": [status("ProvisioningState/failed/1".into(), "Error", "Provisioning failed", Some("Enable failed: failed to execute command: command terminated with exit status=1"))]
        }]);
    }
    view
}

pub(super) fn expands_instance_view(q: &HashMap<String, String>) -> bool {
    q.get("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"))
}

pub(super) fn list_scale_set_vms(
    w: &mut World,
    base: &str,
    path: &str,
    rg: &str,
    name: &str,
    q: &HashMap<String, String>,
) -> Response {
    let Some(ss) = find_scale_set(w, rg, name) else {
        return not_found(rg, name);
    };
    if ss.orchestration != "Uniform" {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "OperationNotAllowed",
            "Operation 'List VMs of a VM scale set' is not allowed on a VM scale set with Flexible orchestration mode.",
        );
    }
    let tick = w.tick;
    let expand = expands_instance_view(q);
    let deletion_statuses = ss.resilient_deletes && newer(q);
    let ss_id = w.scale_set_id(&ss.resource_group, &ss.name);
    let missed = missed_vm(w, &ss.name, q);
    let items: Vec<(&SimVm, String)> = w
        .vms
        .iter()
        .filter(|vm| {
            vm.scale_set.as_deref() == Some(ss.name.as_str())
                && vm.resource_group == ss.resource_group
        })
        .filter(|vm| !missed_is(vm, missed.as_deref()))
        .filter_map(|vm| Some((vm, vm_state(vm, tick)?)))
        .collect();
    let render = |(vm, state): &(&SimVm, String)| {
        let mut props = json!({
            "latestModelApplied": true,
            "vmId": sim_vm_id(vm),
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "provisioningState": state,
            "timeCreated": "2026-11-23T09:58:00.0000000+00:00"
        });
        if vm.protection != (false, false) {
            props["protectionPolicy"] = json!({
                "protectFromScaleIn": vm.protection.0,
                "protectFromScaleSetActions": vm.protection.1,
            });
        }
        if deletion_statuses {
            props["resilientVMDeletionStatus"] = json!(deletion_status(vm, tick));
        }
        if let Some(os) = os_profile(vm) {
            props["osProfile"] = os;
        }
        if expand {
            props["instanceView"] = instance_view(vm, state, tick);
        }
        let mut vm_json = json!({
            "name": format!("{}_{}", ss.name, vm.instance_id),
            "id": format!("{ss_id}/virtualMachines/{}", vm.instance_id),
            "type": "Microsoft.Compute/virtualMachineScaleSets/virtualMachines",
            "location": w.location,
            "instanceId": vm.instance_id,
            "sku": {"name": "Standard_D2s_v3", "tier": "Standard"},
        });
        vm_json["properties"] = props;
        vm_json
    };
    json(
        StatusCode::OK,
        page(
            base,
            path,
            q,
            &items,
            w.arm_page_size,
            w.faults.arm_paging,
            render,
        ),
    )
}

pub(super) fn list_vms(
    w: &mut World,
    base: &str,
    path: &str,
    rg: &str,
    q: &HashMap<String, String>,
) -> Response {
    if let Some(body) = &w.faults.vm_list_body {
        return json(StatusCode::OK, body.clone());
    }
    // Without a `$filter`, Azure still answers `$expand=instanceView` (200, every VM of the
    // group with its instance view), whatever the description's remark says.
    let expand = expands_instance_view(q);
    // ARM's filter: 'virtualMachineScaleSet/id' eq '<id>'.
    let wanted = q.get("$filter").and_then(|f| {
        let f = f.trim();
        let rest = f.strip_prefix("'virtualMachineScaleSet/id' eq '")?;
        Some(rest.trim_end_matches('\'').to_ascii_lowercase())
    });
    let tick = w.tick;
    // The set the filter names, for the story's missed listing.
    let filtered_set = wanted
        .as_deref()
        .and_then(|id| id.rsplit('/').next())
        .map(str::to_string);
    let missed = match &filtered_set {
        Some(set) => missed_vm(w, set, q),
        None => None,
    };
    let uniform: Vec<&str> = w
        .scale_sets
        .iter()
        .filter(|s| s.orchestration == "Uniform")
        .map(|s| s.name.as_str())
        .collect();
    // Each set's id and its lowercased form, formatted once per set, not once per VM and page.
    // (group, set, id, id lowercased)
    let mut ids: Vec<(&str, &str, String, String)> = Vec::new();
    let items: Vec<(&SimVm, String, Option<String>)> = w
        .vms
        .iter()
        .filter(|vm| vm.resource_group.eq_ignore_ascii_case(rg))
        // With a filter, only VMs of a set of that name can match: the cheap test first, so a
        // 10,000-VM group costs no id formatting per VM and page (the fleet bench).
        .filter(|vm| {
            filtered_set.as_deref().is_none_or(|set| {
                vm.scale_set
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(set))
            })
        })
        .filter(|vm| !missed_is(vm, missed.as_deref()))
        // A Uniform set's instances are its own child resources, listed only under the set.
        .filter(|vm| {
            vm.scale_set
                .as_deref()
                .is_none_or(|set| !uniform.contains(&set))
        })
        .filter_map(|vm| {
            let state = vm_state(vm, tick)?;
            let ss_id = match vm.scale_set.as_deref() {
                Some(set) => {
                    let group = vm.resource_group.as_str();
                    let at = match ids.iter().position(|i| (i.0, i.1) == (group, set)) {
                        Some(at) => at,
                        None => {
                            let id = w.scale_set_id(group, set);
                            let lower = id.to_ascii_lowercase();
                            ids.push((group, set, id, lower));
                            ids.len() - 1
                        }
                    };
                    let (_, _, id, lower) = &ids[at];
                    if wanted.as_ref().is_some_and(|wanted| wanted != lower) {
                        return None;
                    }
                    Some(id.clone())
                }
                None if wanted.is_some() => return None,
                None => None,
            };
            Some((vm, state, ss_id))
        })
        .collect();
    let render = |(vm, state, ss_id): &(&SimVm, String, Option<String>)| {
        let mut props = json!({
            "vmId": sim_vm_id(vm),
            "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
            "provisioningState": state,
            "timeCreated": "2026-11-23T09:58:00.0000000+00:00"
        });
        if expand && w.vm_list_without_provisioning_state {
            props.as_object_mut().map(|p| p.remove("provisioningState"));
        }
        if let Some(os) = os_profile(vm) {
            props["osProfile"] = os;
        }
        if let Some(id) = ss_id {
            props["virtualMachineScaleSet"] = json!({"id": id});
        }
        if vm.spot {
            props["priority"] = json!("Spot");
            props["evictionPolicy"] = json!("Deallocate");
            props["billingProfile"] = json!({"maxPrice": -1});
        }
        if expand {
            props["instanceView"] = instance_view(vm, state, tick);
            // Flexible VMs say whether a standby pool holds them (2024-07-01's instance view).
            if vm.standby_pool.is_some() {
                props["instanceView"]["isVMInStandbyPool"] = json!(vm.scale_set.is_some());
            }
        }
        let mut vm_json = json!({
            "name": vm.name,
            "id": format!("/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachines/{}", w.subscription_id, vm.resource_group, vm.name),
            "type": "Microsoft.Compute/virtualMachines",
            "location": w.location,
        });
        vm_json["properties"] = props;
        vm_json
    };
    json(
        StatusCode::OK,
        page(
            base,
            path,
            q,
            &items,
            w.arm_page_size,
            w.faults.arm_paging,
            render,
        ),
    )
}

/// Counts a new listing of `set` (a first page) and returns the computer name the story's
/// `listing_misses` leaves out of this listing, if it is the one.
pub(super) fn missed_vm(w: &mut World, set: &str, q: &HashMap<String, String>) -> Option<String> {
    let key = set.to_ascii_lowercase();
    if !q.contains_key("$skiptoken") {
        *w.listings.entry(key.clone()).or_default() += 1;
    }
    let n = w.listings.get(&key).copied().unwrap_or(0);
    let ours = |name: &str| {
        w.vms.iter().any(|vm| {
            vm.scale_set
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(set))
                && vm
                    .computer_name
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(name))
        })
    };
    w.faults
        .listing_misses
        .iter()
        .find(|(name, at)| *at == n && ours(name))
        .map(|(name, _)| name.clone())
}

pub(super) fn missed_is(vm: &SimVm, missed: Option<&str>) -> bool {
    missed.is_some_and(|m| {
        vm.computer_name
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(m))
    })
}

/// A VM of a group that exists now, with its provisioning state.
pub(super) fn find_vm<'w>(w: &'w World, rg: &str, name: &str) -> Option<(&'w SimVm, String)> {
    w.vms
        .iter()
        .filter(|vm| {
            vm.resource_group.eq_ignore_ascii_case(rg) && vm.name.eq_ignore_ascii_case(name)
        })
        .find_map(|vm| Some((vm, vm_state(vm, w.tick)?)))
}

pub(super) fn vm_not_found(rg: &str, name: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The Resource 'Microsoft.Compute/virtualMachines/{name}' under resource group '{rg}' was not found."),
    )
}

/// `GET .../virtualMachines/{name}`: one VM, with its OS profile's computer name.
pub(super) fn get_vm(w: &mut World, rg: &str, name: &str) -> Response {
    let Some((vm, state)) = find_vm(w, rg, name) else {
        return vm_not_found(rg, name);
    };
    let mut props = json!({
        "vmId": sim_vm_id(vm),
        "hardwareProfile": {"vmSize": "Standard_D2s_v3"},
        "provisioningState": state,
        "timeCreated": "2026-11-23T09:58:00.0000000+00:00"
    });
    if let Some(os) = os_profile(vm) {
        props["osProfile"] = os;
    }
    if let Some(set) = &vm.scale_set {
        props["virtualMachineScaleSet"] = json!({"id": w.scale_set_id(&vm.resource_group, set)});
    }
    json(
        StatusCode::OK,
        json!({
            "name": vm.name,
            "id": vm_id(w, vm),
            "type": "Microsoft.Compute/virtualMachines",
            "location": w.location,
            "properties": props
        }),
    )
}

/// `GET .../virtualMachines/{name}/instanceView`: what the VM agent reports, its
/// `computerName` among it (none while deallocated, as Azure's recorded answers show).
pub(super) fn get_vm_instance_view(w: &mut World, rg: &str, name: &str) -> Response {
    match find_vm(w, rg, name) {
        Some((vm, state)) => json(StatusCode::OK, instance_view(vm, &state, w.tick)),
        None => vm_not_found(rg, name),
    }
}

pub(super) fn vm_id(w: &World, vm: &SimVm) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachines/{}",
        w.subscription_id, vm.resource_group, vm.name
    )
}

/// `GET .../rollingUpgrades/latest`: the latest rolling upgrade's status; 404 when the set
/// never had one.
pub(super) fn latest_rolling_upgrade(w: &mut World, rg: &str, name: &str) -> Response {
    let Some(ss) = find_scale_set(w, rg, name) else {
        return not_found(rg, name);
    };
    let Some(code) = at(&ss.rolling_upgrade, w.tick).flatten() else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("The entity was not found in this Azure location. No rolling upgrade has been run on '{name}'."),
        );
    };
    json(
        StatusCode::OK,
        json!({
            "location": w.location,
            "properties": {
                "policy": {"maxBatchInstancePercent": 20, "maxUnhealthyInstancePercent": 20, "maxUnhealthyUpgradedInstancePercent": 20, "pauseTimeBetweenBatches": "PT0S", "maxSurge": true},
                "runningStatus": {"code": code, "startTime": "2026-11-23T09:55:00.0000000+00:00", "lastAction": "Start", "lastActionTime": "2026-11-23T09:55:00.0000000+00:00"},
                "progress": {"successfulInstanceCount": 2, "failedInstanceCount": 0, "inProgressInstanceCount": 2, "pendingInstanceCount": 4}
            }
        }),
    )
}
