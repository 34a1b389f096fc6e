//! Azure's own example payloads (tests/fixtures/arm, from azure-rest-api-specs 2024-07-01; see
//! tests/fixtures/SOURCES.md) through the SDK models and vmss-check's conversions.

use azure_mgmt_compute::package_2024_07_01::models;
use serde_json::Value;
use vmss_check::azure::{
    instance_from_vm, instance_from_vmss_vm, scale_set_from_model, vm_in_scale_set, Orchestration,
};
use vmss_check::reconcile::InstanceState;

fn body(file: &str, status: &str) -> Value {
    let path = format!("{}/tests/fixtures/arm/{file}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&raw).unwrap();
    v["responses"][status]["body"].clone()
}

#[test]
fn scale_set_get_with_lower_case_state_and_no_orchestration_mode() {
    let vmss: models::VirtualMachineScaleSet =
        serde_json::from_value(body("VirtualMachineScaleSet_Get_WithUserData.json", "200"))
            .unwrap();
    let ss = scale_set_from_model(&vmss);
    assert_eq!(ss.provisioning_state.as_deref(), Some("succeeded"));
    assert!(!vmss_check::reconcile::scale_set_is_transient(
        ss.provisioning_state.as_deref()
    ));
    assert_eq!(
        ss.orchestration,
        Orchestration::Uniform,
        "absent orchestrationMode means Uniform"
    );
    assert_eq!(ss.capacity, Some(4));
    assert!(ss
        .id
        .ends_with("/virtualMachineScaleSets/myVirtualMachineScaleSet"));
}

#[test]
fn flexible_scale_set_from_the_create_example() {
    for status in ["200", "201"] {
        let vmss: models::VirtualMachineScaleSet = serde_json::from_value(body(
            "VirtualMachineScaleSet_Create_WithPriorityMixPolicy.json",
            status,
        ))
        .unwrap();
        assert_eq!(
            scale_set_from_model(&vmss).orchestration,
            Orchestration::Flexible
        );
    }
}

#[test]
fn scale_set_vm_lists_maximum_and_minimum() {
    let max: models::VirtualMachineScaleSetVmListResult = serde_json::from_value(body(
        "VirtualMachineScaleSetVM_List_MaximumSet_Gen.json",
        "200",
    ))
    .unwrap();
    let i = instance_from_vmss_vm(&max.value[0]);
    assert_eq!(i.computer_name.as_deref(), Some("test000000"));
    assert_eq!(i.state(), InstanceState::Member);
    assert_eq!(max.next_link.as_deref(), Some("aaaaaaaaaaaaaa"));

    let min: models::VirtualMachineScaleSetVmListResult = serde_json::from_value(body(
        "VirtualMachineScaleSetVM_List_MinimumSet_Gen.json",
        "200",
    ))
    .unwrap();
    for vm in &min.value {
        let i = instance_from_vmss_vm(vm);
        // No state, no computer name: pending, and never a reason to remove anything.
        assert_eq!(i.state(), InstanceState::Pending);
        assert_eq!(i.computer_name, None);
    }
}

#[test]
fn vm_lists_and_scale_set_membership() {
    let max: models::VirtualMachineListResult =
        serde_json::from_value(body("VirtualMachine_List_MaximumSet_Gen.json", "200")).unwrap();
    assert_eq!(max.value.len(), 2);
    for vm in &max.value {
        // These VMs point at an availability set, not at a scale set: never members.
        assert!(!vm_in_scale_set(vm, "/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/virtualMachineScaleSets/z"));
        assert_eq!(instance_from_vm(vm).state(), InstanceState::Member);
    }
    let min: models::VirtualMachineListResult =
        serde_json::from_value(body("VirtualMachine_List_MinimumSet_Gen.json", "200")).unwrap();
    assert!(min
        .value
        .iter()
        .all(|vm| instance_from_vm(vm).computer_name.is_none()));
}

#[test]
fn instance_view_example_is_not_a_list() {
    // The per-instance view has statuses but no provisioningState property: it is not what the
    // step reads, and it must not be mistaken for a VM.
    let v = body(
        "VirtualMachineScaleSetVM_Get_InstanceViewAutoPlacedOnDedicatedHostGroup.json",
        "200",
    );
    let view: models::VirtualMachineScaleSetVmInstanceView = serde_json::from_value(v).unwrap();
    assert!(!view.statuses.is_empty());
}
