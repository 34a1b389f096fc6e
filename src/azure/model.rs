//! What the step reads of Azure's models: a scale set ([`ScaleSet`], its replacement policies)
//! and its VMs as [`Instance`]s (states, computer names, instance views).

use super::*;

/// How a scale set orchestrates its VMs, which decides how they are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Orchestration {
    /// Listed through the scale set's `virtualMachines`.
    Uniform,
    /// Listed through the resource group's VMs, filtered on the scale set.
    Flexible,
}

/// The scale set, as the wait loop needs it.
#[derive(Debug, Clone)]
pub struct ScaleSet {
    /// Its full resource id.
    pub id: String,
    /// `properties.provisioningState`.
    pub provisioning_state: Option<String>,
    /// Uniform or Flexible.
    pub orchestration: Orchestration,
    /// `sku.capacity`: how many instances it is scaling to. Flexible sets without a VM
    /// profile have none.
    pub capacity: Option<i64>,
    /// `virtualMachineProfile.osProfile.computerNamePrefix`: every computer name of the set
    /// starts with it. Missing for specialized images (no OS profile) and for Flexible sets
    /// without a VM profile.
    pub computer_name_prefix: Option<String>,
    /// `upgradePolicy.mode` is `Rolling`, or automatic OS upgrades are on: the wait reads
    /// `rollingUpgrades/latest` on each check (see [`crate::absence`]).
    pub rolls: bool,
    /// What Azure itself does to the set's VMs, as its model says.
    pub replacements: Replacements,
    /// What the set's instance view says of Azure's orchestration services, when it was read
    /// (only for sets whose [`Replacements::watched`] says it matters).
    pub services: Option<Services>,
}

/// What Azure replaces or retries on its own in a scale set, from its model (contract:
/// "Azure's own replacements").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replacements {
    /// `automaticRepairsPolicy`, when `enabled`.
    pub repairs: Option<crate::reconcile::RepairPolicy>,
    /// `resiliencyPolicy.automaticZoneRebalancingPolicy.enabled` (2024-11-01 on).
    pub zone_rebalancing: bool,
    /// `resiliencyPolicy.resilientVMCreationPolicy.enabled`: a create is retried while the VM
    /// stays `Creating`.
    pub resilient_creates: bool,
    /// `resiliencyPolicy.resilientVMDeletionPolicy.enabled`: a delete is retried, the VM
    /// alternating between `Deleting` and `Failed`.
    pub resilient_deletes: bool,
}

impl Replacements {
    /// True when the set's orchestration services matter: repairs may be running or
    /// suspended, or a zone rebalance may be under way. Only then is its instance view read.
    pub fn watched(&self) -> bool {
        self.repairs.is_some() || self.zone_rebalancing
    }
}

/// What a scale set's instance view says of Azure's orchestration services
/// (`orchestrationServices`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Services {
    /// The `AutomaticRepairs` service's `serviceState` (`Running`, `Suspended`, `NotRunning`),
    /// when listed.
    pub repairs: Option<String>,
    /// The `AutomaticZoneRebalancing` service's `latestOperationStatus` is `InProgress`: Azure
    /// has created a VM and will delete one of the set's when the rebalance ends.
    pub rebalancing: bool,
}

impl Services {
    /// True when Azure says it is not repairing the set's VMs now (`Suspended` after too many
    /// failed repairs or by request, or `NotRunning`).
    pub fn repairs_stopped(&self) -> bool {
        self.repairs.as_deref().is_some_and(|s| {
            s.eq_ignore_ascii_case("Suspended") || s.eq_ignore_ascii_case("NotRunning")
        })
    }

    /// Reads an instance view's `orchestrationServices`. `latestOperationStatus` is not in any
    /// published description (2025-04-01's `OrchestrationServiceSummary` has only `serviceName`
    /// and `serviceState`); Microsoft's documentation of automatic zone balance
    /// (`auto-zone-balance-enable.md`) shows it, `InProgress` while a rebalance runs.
    pub fn read(view: &serde_json::Value) -> Services {
        let mut out = Services::default();
        let services = view
            .get("orchestrationServices")
            .and_then(serde_json::Value::as_array)
            .into_iter()
            .flatten();
        for service in services {
            let text = |k: &str| service.get(k).and_then(serde_json::Value::as_str);
            let named = |n: &str| text("serviceName").is_some_and(|s| s.eq_ignore_ascii_case(n));
            if named("AutomaticRepairs") {
                out.repairs = text("serviceState").map(first_line);
            } else if named("AutomaticZoneRebalancing") {
                out.rebalancing = text("latestOperationStatus")
                    .is_some_and(|s| s.trim().eq_ignore_ascii_case("InProgress"));
            }
        }
        out
    }
}

/// `resiliencyPolicy.automaticZoneRebalancingPolicy.enabled` of a scale set read as JSON at
/// [`NEWER_API_VERSION`] (the 2024-07-01 model has no such field).
pub fn zone_rebalancing(vmss: &serde_json::Value) -> bool {
    vmss.pointer("/properties/resiliencyPolicy/automaticZoneRebalancingPolicy/enabled")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false)
}

/// The scale set's fields the step uses. A missing `orchestrationMode` is Uniform: the
/// property is absent from scale sets created before Flexible existed.
pub fn scale_set_from_model(vmss: &compute::models::VirtualMachineScaleSet) -> ScaleSet {
    let props = vmss.properties.as_ref();
    let orchestration = match props.and_then(|p| p.orchestration_mode.as_ref()) {
        Some(compute::models::OrchestrationMode::Flexible) => Orchestration::Flexible,
        Some(compute::models::OrchestrationMode::UnknownValue(s))
            if s.eq_ignore_ascii_case("flexible") =>
        {
            Orchestration::Flexible
        }
        _ => Orchestration::Uniform,
    };
    ScaleSet {
        id: vmss.resource.id.clone().unwrap_or_default(),
        provisioning_state: props.and_then(|p| p.provisioning_state.clone()),
        orchestration,
        capacity: vmss.sku.as_ref().and_then(|s| s.capacity),
        computer_name_prefix: props
            .and_then(|p| p.virtual_machine_profile.as_ref())
            .and_then(|v| v.os_profile.as_ref())
            .and_then(|o| o.computer_name_prefix.clone())
            .filter(|p| !p.trim().is_empty()),
        rolls: props
            .and_then(|p| p.upgrade_policy.as_ref())
            .is_some_and(|u| {
                u.mode == Some(compute::models::upgrade_policy::Mode::Rolling)
                    || u.automatic_os_upgrade_policy
                        .as_ref()
                        .and_then(|a| a.enable_automatic_os_upgrade)
                        .unwrap_or(false)
            }),
        replacements: props.map(replacements).unwrap_or_default(),
        services: None,
    }
}

/// The repairs and resiliency policies of a scale set's model (2024-07-01 has all but zone
/// rebalancing, which [`zone_rebalancing`] reads).
pub(super) fn replacements(p: &compute::models::VirtualMachineScaleSetProperties) -> Replacements {
    let repairs = p
        .automatic_repairs_policy
        .as_ref()
        .filter(|r| r.enabled == Some(true))
        .map(|r| crate::reconcile::RepairPolicy {
            grace_period: r
                .grace_period
                .as_deref()
                .map(first_line)
                .filter(|g| !g.is_empty()),
            action: r
                .repair_action
                .as_ref()
                .and_then(|a| serde_json::to_value(a).ok())
                .and_then(|v| v.as_str().map(first_line))
                .unwrap_or_else(|| "Replace".into()),
        });
    let resiliency = p.resiliency_policy.as_ref();
    Replacements {
        repairs,
        zone_rebalancing: false,
        resilient_creates: resiliency
            .and_then(|r| r.resilient_vm_creation_policy.as_ref())
            .and_then(|c| c.enabled)
            .unwrap_or(false),
        resilient_deletes: resiliency
            .and_then(|r| r.resilient_vm_deletion_policy.as_ref())
            .and_then(|d| d.enabled)
            .unwrap_or(false),
    }
}

/// What an instance view says: the power state (`running`), its computer name, and Azure's
/// reason when something failed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct InstanceView {
    /// The `PowerState/...` status's code without its prefix.
    pub power_state: Option<String>,
    /// The `ProvisioningState/<state>[/<cause>]` status's state: always there, where a
    /// listing may leave `properties.provisioningState` out (Flexible VM lists).
    pub provisioning_state: Option<String>,
    /// `computerName`, reported by the VM agent.
    pub computer_name: Option<String>,
    /// The first error status's code and message, the VM's own or an extension's.
    pub reason: Option<String>,
    /// The `ProvisioningState/...` status's `time`: when the VM's state last changed.
    pub state_since: Option<time::OffsetDateTime>,
}

impl InstanceView {
    /// Reads the statuses Azure reports for a VM and for each of its extensions.
    pub fn read(
        statuses: &[InstanceViewStatus],
        extensions: &[compute::models::VirtualMachineExtensionInstanceView],
        computer_name: Option<&str>,
    ) -> InstanceView {
        let status = |wanted: &str| {
            statuses.iter().find_map(|s| {
                let code = s.code.as_deref()?;
                let (kind, value) = code.split_once('/')?;
                let value = value.split('/').next().unwrap_or(value).trim();
                (kind.eq_ignore_ascii_case(wanted) && !value.is_empty()).then(|| value.to_string())
            })
        };
        let power_state = status("PowerState");
        let provisioning_state = status("ProvisioningState");
        let state_since = statuses
            .iter()
            .find(|s| {
                s.code
                    .as_deref()
                    .and_then(|c| c.split_once('/'))
                    .is_some_and(|(kind, _)| kind.eq_ignore_ascii_case("ProvisioningState"))
            })
            .and_then(|s| s.time);
        let own = statuses.iter().find_map(|s| error_text(s, None));
        let extension = || {
            extensions.iter().find_map(|x| {
                x.statuses
                    .iter()
                    .chain(&x.substatuses)
                    .find_map(|s| error_text(s, x.name.as_deref()))
            })
        };
        InstanceView {
            power_state,
            provisioning_state,
            // Reported by the VM agent, inside the VM: outsider's text.
            computer_name: computer_name
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| printable(c).into_owned()),
            reason: own.or_else(extension),
            state_since,
        }
    }
}

/// `VMExtensionProvisioningError: VM has reported a failure...` for an error-level status:
/// the last segment of `ProvisioningState/failed/VMExtensionProvisioningError` names the cause.
pub(super) fn error_text(s: &InstanceViewStatus, extension: Option<&str>) -> Option<String> {
    if s.level != Some(Level::Error) {
        return None;
    }
    let code = s.code.as_deref().unwrap_or("error");
    let code = code.rsplit('/').next().unwrap_or(code);
    let mut text = match extension {
        Some(x) => format!("extension {x}: {code}"),
        None => code.to_string(),
    };
    if let Some(m) = s
        .message
        .as_deref()
        .map(first_line)
        .filter(|m| !m.is_empty())
    {
        text = format!("{text}: {m}");
    }
    Some(text)
}

/// A Uniform scale set's VM as reconciliation sees it.
pub fn instance_from_vmss_vm(
    vm: &compute::models::VirtualMachineScaleSetVm,
    scale_set: &str,
) -> Instance {
    let props = vm.properties.as_ref();
    let iv = props.and_then(|p| p.instance_view.as_ref());
    let view = iv
        .map(|v| InstanceView::read(&v.statuses, &v.extensions, v.computer_name.as_deref()))
        .unwrap_or_default();
    let health = iv.and_then(|v| health(v.vm_health.as_ref()));
    let mut i = instance(
        scale_set,
        vm.resource
            .name
            .clone()
            .or_else(|| vm.instance_id.clone())
            .unwrap_or_default(),
        props
            .and_then(|p| p.os_profile.as_ref())
            .and_then(|o| o.computer_name.clone()),
        props.and_then(|p| p.provisioning_state.clone()),
        view,
    );
    i.health = health;
    i.vm_id = props.and_then(|p| p.vm_id.clone());
    if let Some(p) = props.and_then(|p| p.protection_policy.as_ref()) {
        i.protection = crate::reconcile::Protection {
            from_scale_in: p.protect_from_scale_in.unwrap_or(false),
            from_scale_set_actions: p.protect_from_scale_set_actions.unwrap_or(false),
        };
    }
    i
}

/// The Application Health extension's state, as the instance view reports it.
pub(super) fn health(h: Option<&compute::models::VirtualMachineHealthStatus>) -> Option<String> {
    h?.status
        .as_ref()?
        .code
        .as_deref()
        .map(first_line)
        .filter(|c| !c.is_empty())
}

/// A Flexible scale set's VM as reconciliation sees it.
pub fn instance_from_vm(vm: &compute::models::VirtualMachine, scale_set: &str) -> Instance {
    let props = vm.properties.as_ref();
    let iv = props.and_then(|p| p.instance_view.as_ref());
    let view = iv
        .map(|v| InstanceView::read(&v.statuses, &v.extensions, v.computer_name.as_deref()))
        .unwrap_or_default();
    let mut i = instance(
        scale_set,
        vm.resource.name.clone().unwrap_or_default(),
        props
            .and_then(|p| p.os_profile.as_ref())
            .and_then(|o| o.computer_name.clone()),
        props.and_then(|p| p.provisioning_state.clone()),
        view,
    );
    i.health = iv.and_then(|v| health(v.vm_health.as_ref()));
    i.pooled = iv.and_then(|v| v.is_vm_in_standby_pool).unwrap_or(false);
    i.vm_id = props.and_then(|p| p.vm_id.clone());
    i
}

/// The OS profile's computer name wins; the instance view's stands in where a specialized
/// image left the VM without an OS profile. Likewise the listing's provisioning state wins,
/// and the instance view's stands in where the listing leaves it out; with neither, the VM is
/// pending (never a member, never gone).
pub(super) fn instance(
    scale_set: &str,
    name: String,
    os_computer_name: Option<String>,
    provisioning_state: Option<String>,
    view: InstanceView,
) -> Instance {
    Instance {
        scale_set: scale_set.to_string(),
        name,
        computer_name: os_computer_name
            .filter(|c| !c.trim().is_empty())
            .or(view.computer_name),
        provisioning_state: provisioning_state
            .filter(|p| !p.trim().is_empty())
            .or(view.provisioning_state),
        power_state: view.power_state,
        reason: view.reason,
        state_since: view.state_since,
        ..Instance::default()
    }
}
