//! Azure's own example payloads (tests/fixtures/arm, from azure-rest-api-specs 2024-07-01; see
//! tests/fixtures/SOURCES.md) through the SDK models and vmss-check's conversions.

use azure_mgmt_compute::package_2024_07_01::models;
use serde_json::Value;
use vmss_check::azure::{
    instance_from_vm, instance_from_vmss_vm, scale_set_from_model, vm_in_scale_set, InstanceView,
    Orchestration,
};
use vmss_check::reconcile::InstanceState;

fn body(file: &str, status: &str) -> Value {
    let path = format!("{}/tests/fixtures/arm/{file}", env!("CARGO_MANIFEST_DIR"));
    let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let v: Value = serde_json::from_str(&raw).unwrap();
    v["responses"][status]["body"].clone()
}

#[test]
fn a_lower_case_succeeded_without_orchestration_mode_reads_as_a_settled_uniform_set() {
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
fn azures_create_example_reads_as_a_flexible_set() {
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
fn listed_scale_set_vms_without_a_power_state_are_pending_never_members() {
    let max: models::VirtualMachineScaleSetVmListResult = serde_json::from_value(body(
        "VirtualMachineScaleSetVM_List_MaximumSet_Gen.json",
        "200",
    ))
    .unwrap();
    let i = instance_from_vmss_vm(&max.value[0], "vmss");
    assert_eq!(i.computer_name.as_deref(), Some("test000000"));
    assert_eq!(i.scale_set, "vmss");
    // Succeeded, but the generated example's statuses hold no `PowerState/...` code: without a
    // power state the VM is pending, never a member.
    assert_eq!(i.provisioning_state.as_deref(), Some("Succeeded"));
    assert_eq!(i.power_state, None);
    assert_eq!(i.state(), InstanceState::Pending);
    assert_eq!(max.next_link.as_deref(), Some("aaaaaaaaaaaaaa"));

    let min: models::VirtualMachineScaleSetVmListResult = serde_json::from_value(body(
        "VirtualMachineScaleSetVM_List_MinimumSet_Gen.json",
        "200",
    ))
    .unwrap();
    for vm in &min.value {
        let i = instance_from_vmss_vm(vm, "vmss");
        // No state, no computer name: pending, and never a reason to remove anything.
        assert_eq!(i.state(), InstanceState::Pending);
        assert_eq!(i.computer_name, None);
    }
}

#[test]
fn vms_of_an_availability_set_are_never_members_of_a_scale_set() {
    let max: models::VirtualMachineListResult =
        serde_json::from_value(body("VirtualMachine_List_MaximumSet_Gen.json", "200")).unwrap();
    assert_eq!(max.value.len(), 2);
    for vm in &max.value {
        // These VMs point at an availability set, not at a scale set: never members.
        assert!(!vm_in_scale_set(vm, "/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/virtualMachineScaleSets/z"));
        let i = instance_from_vm(vm, "vmss");
        assert_eq!(i.state(), InstanceState::Pending, "no power state: {i:?}");
    }
    let min: models::VirtualMachineListResult =
        serde_json::from_value(body("VirtualMachine_List_MinimumSet_Gen.json", "200")).unwrap();
    assert!(min
        .value
        .iter()
        .all(|vm| instance_from_vm(vm, "vmss").computer_name.is_none()));
}

#[test]
fn azures_instance_view_example_reads_as_running_with_no_failure() {
    // A real instance view: ProvisioningState/succeeded and PowerState/running among the VM's
    // statuses, a Warning-level agent status that is not a failure, and no computerName.
    let v = body(
        "VirtualMachineScaleSetVM_Get_InstanceViewAutoPlacedOnDedicatedHostGroup.json",
        "200",
    );
    let view: models::VirtualMachineScaleSetVmInstanceView = serde_json::from_value(v).unwrap();
    let read = InstanceView::read(
        &view.statuses,
        &view.extensions,
        view.computer_name.as_deref(),
    );
    assert_eq!(
        read,
        InstanceView {
            power_state: Some("running".into()),
            provisioning_state: Some("succeeded".into()),
            computer_name: None,
            reason: None,
            // The VM's own `ProvisioningState/succeeded` status: when its state last changed
            // (automatic repairs' grace period starts then).
            state_since: Some(time::macros::datetime!(2020-06-05 04:59:58.1852966 UTC)),
        }
    );
    // The same example inside a listed VM, with a Succeeded state: a member.
    let mut vm = models::VirtualMachineScaleSetVm::new(models::Resource::new("westus".into()));
    let mut props = models::VirtualMachineScaleSetVmProperties::new();
    props.provisioning_state = Some("Succeeded".into());
    props.instance_view = Some(view);
    vm.properties = Some(props);
    assert_eq!(
        instance_from_vmss_vm(&vm, "vmss").state(),
        InstanceState::Member
    );
    // A listing that leaves `properties.provisioningState` out: the instance view's
    // `ProvisioningState/succeeded` status stands in.
    vm.properties.as_mut().unwrap().provisioning_state = None;
    assert_eq!(
        instance_from_vmss_vm(&vm, "vmss").state(),
        InstanceState::Member
    );
    // With neither, the VM is pending: never a member, never gone.
    vm.properties.as_mut().unwrap().instance_view = None;
    assert_eq!(
        instance_from_vmss_vm(&vm, "vmss").state(),
        InstanceState::Pending
    );
}
