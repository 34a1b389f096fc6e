//! Simulated Microsoft.StandbyPool: pools and their VMs.

use super::*;

pub(super) fn standby_error((status, code, message): &(u16, String, String)) -> Response {
    let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    arm_error(status, code, message)
}

pub(super) fn pool_id(w: &World, rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.StandbyPool/standbyVirtualMachinePools/{name}",
        w.subscription_id
    )
}

/// The standby pools of the subscription (`rg: None`) or of one resource group.
pub(super) fn list_pools(
    w: &mut World,
    base: &str,
    path: &str,
    rg: Option<&str>,
    q: &HashMap<String, String>,
) -> Response {
    let pools: Vec<_> = w
        .pools
        .iter()
        .filter(|p| rg.is_none_or(|g| p.resource_group.eq_ignore_ascii_case(g)))
        .cloned()
        .collect();
    let render = |p: &crate::sim::world::SimPool| {
        json!({
            "id": pool_id(w, &p.resource_group, &p.name),
            "name": p.name,
            "type": "Microsoft.StandbyPool/standbyVirtualMachinePools",
            "location": w.location,
            "tags": {},
            "properties": {
                "elasticityProfile": {"maxReadyCapacity": 10, "minReadyCapacity": 2},
                "virtualMachineState": p.vm_state,
                "attachedVirtualMachineScaleSetId": w.scale_set_id(&p.scale_set.1, &p.scale_set.0),
                "provisioningState": "Succeeded"
            }
        })
    };
    json(
        StatusCode::OK,
        page_with(
            base,
            path,
            q,
            &pools,
            w.arm_page_size,
            (STANDBY_API_VERSION, w.faults.standby_paging),
            render,
        ),
    )
}

/// A pool's VMs: each one's resource id (its computer name needs a read of the VM itself).
pub(super) fn list_pool_vms(
    w: &mut World,
    base: &str,
    path: &str,
    rg: &str,
    pool: &str,
    q: &HashMap<String, String>,
) -> Response {
    let Some(p) = w
        .pools
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case(pool) && p.resource_group.eq_ignore_ascii_case(rg))
        .cloned()
    else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            &format!("The Resource 'Microsoft.StandbyPool/standbyVirtualMachinePools/{pool}' under resource group '{rg}' was not found."),
        );
    };
    let tick = w.tick;
    let vms: Vec<&SimVm> = w
        .vms
        .iter()
        .filter(|vm| vm.standby_pool.as_deref() == Some(p.name.as_str()) && vm.scale_set.is_none())
        .filter(|vm| vm_state(vm, tick).is_some())
        .collect();
    let render = |vm: &&SimVm| {
        json!({
            "id": format!("{}/standbyVirtualMachines/{}", pool_id(w, &p.resource_group, &p.name), vm.name),
            "name": vm.name,
            "type": "Microsoft.StandbyPool/standbyVirtualMachinePools/standbyVirtualMachines",
            "properties": {
                "virtualMachineResourceId": vm_id(w, vm),
                "provisioningState": "Succeeded"
            }
        })
    };
    json(
        StatusCode::OK,
        page_with(
            base,
            path,
            q,
            &vms,
            w.arm_page_size,
            (STANDBY_API_VERSION, w.faults.standby_paging),
            render,
        ),
    )
}
