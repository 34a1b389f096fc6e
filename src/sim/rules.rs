//! What the simulated services refuse before they read anything: the rules that the published
//! descriptions of the operations the step calls state about their query parameters, in words
//! ("this can only be specified if a valid $filter option is specified", "Allowed values
//! are ...") or as a closed list of values, and which a schema alone does not hold.
//!
//! A simulator that answers what the real service refuses lets a call pass every test and
//! fail on every real subscription: the resource group's VM listing with `$expand=instanceView`
//! and no `$filter` did (issue 23). So each router asks `refuse_arm` or `refuse_octopus`
//! first, and a breach is answered as the service answers it: Resource Manager with 400 and its
//! error body (`{"error": {"code", "message", "target"}}`), Octopus with 400 and
//! `{"ErrorMessage", "Errors"}`.
//!
//! `tests/wire_spec.rs` lists each rule beside the words of the vendored description that state
//! it (and checks that they are still there), and breaks each one against the running
//! simulator. [`RULES`] is the list it holds this module to.

use super::world::Service;
use super::{json, Incoming};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

/// Microsoft.Compute's api-version (its 2024-07-01 description).
pub const COMPUTE_API_VERSION: &str = "2024-07-01";
/// The newer compute api-version (issue 25): a scale set, its instance view and a
/// resilient-deleting Uniform set's VMs are read at it, for what 2024-07-01's description lacks
/// (`tests/fixtures/spec/compute-2025-04-01-additions.json`).
pub const NEWER_COMPUTE_API_VERSION: &str = "2025-04-01";

/// The compute operations the step calls at [`NEWER_COMPUTE_API_VERSION`] too.
pub const NEWER_COMPUTE_OPS: &[&str] = &[
    "VirtualMachineScaleSets_Get",
    "VirtualMachineScaleSets_GetInstanceView",
    "VirtualMachineScaleSetVMs_List",
];

/// Microsoft.StandbyPool's api-version (its 2025-03-01 description).
pub const STANDBY_API_VERSION: &str = "2025-03-01";

/// A rule a service's description states, by the id the tests name it with.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id (`vm-list-expand-needs-filter`).
    pub id: &'static str,
    /// The service that holds it.
    pub service: Service,
    /// The operations (`operationId`s) whose description states it. Resource Manager's front
    /// door holds the subscription id and api-version rules for every route the same way.
    pub operations: &'static [&'static str],
    /// The parameter it is about.
    pub parameter: &'static str,
}

/// The compute operations the step calls.
pub const COMPUTE_OPS: &[&str] = &[
    "VirtualMachineScaleSets_Get",
    "VirtualMachineScaleSets_GetInstanceView",
    "VirtualMachineScaleSetVMs_List",
    "VirtualMachines_List",
    "VirtualMachines_Get",
    "VirtualMachines_InstanceView",
    "VirtualMachineScaleSetRollingUpgrades_GetLatest",
];
/// The StandbyPool operations the step calls.
pub const STANDBY_OPS: &[&str] = &[
    "StandbyVirtualMachinePools_ListBySubscription",
    "StandbyVirtualMachinePools_ListByResourceGroup",
    "StandbyVirtualMachines_ListByStandbyVirtualMachinePoolResource",
];
/// The Octopus listings the step pages through.
pub const OCTOPUS_LISTS: &[&str] = &[
    "indexDeploymentTargets_Spaces",
    "getListTasks_Spaces",
    "getListEvents_Spaces",
    "getListEvents",
];
/// The other Octopus operations the step calls (their parameters are ids in the path, or none:
/// `getUserGetCurrent` has none, and `listAllTagSets_Spaces` only the space, its `scopes` being
/// later than the 2020.5 description).
pub const OCTOPUS_OTHERS: &[&str] = &[
    "deleteDeploymentTarget_Spaces",
    "getEnvironmentById_Spaces",
    "getTenantById_Spaces",
    "getTaskById_Spaces",
    "createTaskCancel_Spaces",
    "getDeploymentById_Spaces",
    "getRunbookRunById_Spaces",
    "getUserGetCurrent",
    "getUserGetPermissions_Spaces",
    "listAllTagSets_Spaces",
];

/// Every operation the step calls, by `operationId`: the ones whose parameters the rules were
/// read from.
pub fn operations() -> impl Iterator<Item = &'static str> {
    [COMPUTE_OPS, STANDBY_OPS, OCTOPUS_LISTS, OCTOPUS_OTHERS]
        .into_iter()
        .flatten()
        .copied()
}

const fn rule(
    id: &'static str,
    service: Service,
    operations: &'static [&'static str],
    parameter: &'static str,
) -> Rule {
    Rule {
        id,
        service,
        operations,
        parameter,
    }
}

/// Every rule the simulator holds requests to.
pub const RULES: &[Rule] = &[
    rule(
        "arm-subscription-id-is-a-uuid",
        Service::Arm,
        STANDBY_OPS,
        "subscriptionId",
    ),
    rule(
        "compute-api-version-required",
        Service::Arm,
        COMPUTE_OPS,
        "api-version",
    ),
    rule(
        "compute-api-version-is-the-description-s",
        Service::Arm,
        COMPUTE_OPS,
        "api-version",
    ),
    rule(
        "standby-api-version-required",
        Service::Arm,
        STANDBY_OPS,
        "api-version",
    ),
    rule(
        "standby-api-version-is-the-description-s",
        Service::Arm,
        STANDBY_OPS,
        "api-version",
    ),
    rule(
        "vm-list-filter-names-a-scale-set",
        Service::Arm,
        &["VirtualMachines_List"],
        "$filter",
    ),
    rule(
        "vm-list-expand-is-instance-view",
        Service::Arm,
        &["VirtualMachines_List"],
        "$expand",
    ),
    rule(
        "vm-list-expand-needs-filter",
        Service::Arm,
        &["VirtualMachines_List"],
        "$expand",
    ),
    rule(
        "set-vms-filter-allowed-values",
        Service::Arm,
        &["VirtualMachineScaleSetVMs_List"],
        "$filter",
    ),
    rule(
        "set-vms-select-allowed-values",
        Service::Arm,
        &["VirtualMachineScaleSetVMs_List"],
        "$select",
    ),
    rule(
        "set-vms-expand-allowed-values",
        Service::Arm,
        &["VirtualMachineScaleSetVMs_List"],
        "$expand",
    ),
    rule(
        "vm-get-expand-values",
        Service::Arm,
        &["VirtualMachines_Get"],
        "$expand",
    ),
    rule(
        "set-get-expand-values",
        Service::Arm,
        &["VirtualMachineScaleSets_Get"],
        "$expand",
    ),
    rule(
        "octopus-skip-is-an-int32",
        Service::Octopus,
        OCTOPUS_LISTS,
        "skip",
    ),
    rule(
        "octopus-take-is-an-int32",
        Service::Octopus,
        OCTOPUS_LISTS,
        "take",
    ),
];

/// A request a rule refuses, and the answer's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The [`Rule::id`] it breaks.
    pub rule: &'static str,
    /// Resource Manager's error code (`BadRequest`, `InvalidParameter`, ...); empty for Octopus.
    pub code: &'static str,
    /// What the service says.
    pub message: String,
    /// The parameter at fault, as Resource Manager names it in `target`.
    pub target: Option<&'static str>,
}

impl Refusal {
    fn new(rule: &'static str, code: &'static str, message: String) -> Refusal {
        Refusal {
            rule,
            code,
            message,
            target: None,
        }
    }

    fn at(mut self, target: &'static str) -> Refusal {
        self.target = Some(target);
        self
    }

    /// Resource Manager's answer: 400 with its error body.
    fn arm_response(&self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(t) = self.target {
            error["target"] = Value::String(t.to_string());
        }
        json(StatusCode::BAD_REQUEST, json!({ "error": error }))
    }

    /// Octopus's answer: 400 with its validation error body.
    fn octopus_response(&self) -> Response {
        json(
            StatusCode::BAD_REQUEST,
            json!({
                "ErrorMessage": "There was a problem with your request.",
                "Errors": [self.message],
                "ParsedHelpLinks": [],
            }),
        )
    }
}

/// The operation of a Resource Manager path, as the descriptions name it (only those the step
/// calls).
pub fn arm_operation(path: &str) -> Option<&'static str> {
    let lower = path.trim_matches('/').to_ascii_lowercase();
    let s: Vec<&str> = lower.split('/').collect();
    match s.as_slice() {
        ["subscriptions", _, "providers", "microsoft.standbypool", "standbyvirtualmachinepools"] => {
            Some("StandbyVirtualMachinePools_ListBySubscription")
        }
        ["subscriptions", _, "resourcegroups", _, "providers", rest @ ..] => match rest {
            ["microsoft.compute", "virtualmachinescalesets", _] => {
                Some("VirtualMachineScaleSets_Get")
            }
            ["microsoft.compute", "virtualmachinescalesets", _, "virtualmachines"] => {
                Some("VirtualMachineScaleSetVMs_List")
            }
            ["microsoft.compute", "virtualmachinescalesets", _, "instanceview"] => {
                Some("VirtualMachineScaleSets_GetInstanceView")
            }
            ["microsoft.compute", "virtualmachinescalesets", _, "rollingupgrades", "latest"] => {
                Some("VirtualMachineScaleSetRollingUpgrades_GetLatest")
            }
            ["microsoft.compute", "virtualmachines"] => Some("VirtualMachines_List"),
            ["microsoft.compute", "virtualmachines", _] => Some("VirtualMachines_Get"),
            ["microsoft.compute", "virtualmachines", _, "instanceview"] => {
                Some("VirtualMachines_InstanceView")
            }
            ["microsoft.standbypool", "standbyvirtualmachinepools"] => {
                Some("StandbyVirtualMachinePools_ListByResourceGroup")
            }
            ["microsoft.standbypool", "standbyvirtualmachinepools", _, "standbyvirtualmachines"] => {
                Some("StandbyVirtualMachines_ListByStandbyVirtualMachinePoolResource")
            }
            _ => None,
        },
        _ => None,
    }
}

fn pairs(query: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// The value of a query parameter; an empty one counts as not given.
fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Compute's answer to a value outside a parameter's list, worded as Azure worded it for the
/// scale set VM list's `$filter` ("The value '...' of parameter '$filter' is not allowed.
/// Allowed values are '...'.", recorded in azure-sdk-for-java#630).
fn not_allowed(rule: &'static str, name: &'static str, value: &str, allowed: &[&str]) -> Refusal {
    Refusal::new(
        rule,
        "InvalidParameter",
        format!(
            "The value '{value}' of parameter '{name}' is not allowed. Allowed values are '{}'.",
            allowed.join(", ")
        ),
    )
    .at(name)
}

/// A value that must be one of `allowed` (compared as Azure does, ignoring case).
fn one_of(
    q: &[(String, String)],
    rule: &'static str,
    name: &'static str,
    allowed: &[&str],
) -> Result<(), Refusal> {
    match param(q, name) {
        Some(v) if !allowed.iter().any(|a| a.eq_ignore_ascii_case(v)) => {
            Err(not_allowed(rule, name, v, allowed))
        }
        _ => Ok(()),
    }
}

/// The only `$filter` of the resource group's VM listing: `'virtualMachineScaleSet/id' eq
/// '<a scale set's resource id>'` (the description's words, with the quote it leaves out).
fn names_a_scale_set(filter: &str) -> bool {
    let Some(id) = filter
        .trim()
        .strip_prefix("'virtualMachineScaleSet/id' eq '")
        .and_then(|rest| rest.strip_suffix('\''))
    else {
        return false;
    };
    let lower = id.to_ascii_lowercase();
    let s: Vec<&str> = lower.trim_matches('/').split('/').collect();
    id.starts_with('/')
        && matches!(
            s.as_slice(),
            ["subscriptions", sub, "resourcegroups", rg, "providers", "microsoft.compute", "virtualmachinescalesets", name]
                if !sub.is_empty() && !rg.is_empty() && !name.is_empty()
        )
}

/// The parameter rules of one compute operation.
fn compute_params(op: &str, q: &[(String, String)]) -> Result<(), Refusal> {
    match op {
        "VirtualMachines_List" => {
            let filter = param(q, "$filter");
            if let Some(f) = filter.filter(|f| !names_a_scale_set(f)) {
                return Err(not_allowed(
                    "vm-list-filter-names-a-scale-set",
                    "$filter",
                    f,
                    &["'virtualMachineScaleSet/id' eq '/subscriptions/{subId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute/virtualMachineScaleSets/{vmssName}'"],
                ));
            }
            one_of(
                q,
                "vm-list-expand-is-instance-view",
                "$expand",
                &["instanceView"],
            )?;
            if param(q, "$expand").is_some() && filter.is_none() {
                // Real Azure's answer (wire.md: a real subscription, 2026).
                return Err(Refusal::new(
                    "vm-list-expand-needs-filter",
                    "BadRequest",
                    "Expand Instance View is only supported when Virtual Machine Scale Set resource filter is applied".into(),
                ));
            }
            Ok(())
        }
        "VirtualMachineScaleSetVMs_List" => {
            one_of(
                q,
                "set-vms-filter-allowed-values",
                "$filter",
                &[
                    "startswith(instanceView/statuses/code, 'PowerState') eq true",
                    "properties/latestModelApplied eq true",
                    "properties/latestModelApplied eq false",
                ],
            )?;
            one_of(
                q,
                "set-vms-select-allowed-values",
                "$select",
                &["instanceView", "instanceView/statuses"],
            )?;
            one_of(
                q,
                "set-vms-expand-allowed-values",
                "$expand",
                &["instanceView"],
            )
        }
        "VirtualMachines_Get" => one_of(
            q,
            "vm-get-expand-values",
            "$expand",
            &["instanceView", "userData"],
        ),
        "VirtualMachineScaleSets_Get" => {
            one_of(q, "set-get-expand-values", "$expand", &["userData"])
        }
        _ => Ok(()),
    }
}

/// The resource type a path addresses, as Resource Manager names it in its errors: the type
/// segments after the provider's namespace (`virtualMachineScaleSets/virtualMachines`).
fn resource_type(segments: &[&str]) -> String {
    let after = segments
        .iter()
        .rposition(|s| s.eq_ignore_ascii_case("providers"))
        .map_or(&[][..], |i| segments.get(i + 2..).unwrap_or(&[]));
    after
        .iter()
        .step_by(2)
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// `YYYY-MM-DD`, with an optional `-preview` (or other) suffix: the shape of every api-version.
fn is_api_version(v: &str) -> bool {
    let date = v.get(..10).unwrap_or("");
    let digits = |r: std::ops::Range<usize>| {
        date.get(r)
            .is_some_and(|d| d.bytes().all(|b| b.is_ascii_digit()))
    };
    date.len() == 10
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && &date[4..5] == "-"
        && &date[7..8] == "-"
        && (v.len() == 10 || v[10..].starts_with('-'))
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

/// What Resource Manager refuses in a request: first what its front door checks (the
/// subscription id, the api-version), then the operation's parameters. `None`: not refused.
pub fn arm(path: &str, query: &str) -> Option<Refusal> {
    let q = pairs(query);
    let standby = path
        .to_ascii_lowercase()
        .contains("/providers/microsoft.standbypool/");
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if let ["subscriptions", sub, ..] = segments.as_slice() {
        if !is_uuid(sub) {
            return Some(Refusal::new(
                "arm-subscription-id-is-a-uuid",
                "InvalidSubscriptionId",
                format!("The provided subscription identifier '{sub}' is malformed or invalid."),
            ));
        }
    }
    // The operations the step also reads at the newer compute api-version answer at either.
    let newer = !standby
        && arm_operation(path).is_some_and(|op| NEWER_COMPUTE_OPS.contains(&op))
        && param(&q, "api-version") == Some(NEWER_COMPUTE_API_VERSION);
    let (version, required, described) = if standby {
        (
            STANDBY_API_VERSION,
            "standby-api-version-required",
            "standby-api-version-is-the-description-s",
        )
    } else if newer {
        (
            NEWER_COMPUTE_API_VERSION,
            "compute-api-version-required",
            "compute-api-version-is-the-description-s",
        )
    } else {
        (
            COMPUTE_API_VERSION,
            "compute-api-version-required",
            "compute-api-version-is-the-description-s",
        )
    };
    match param(&q, "api-version") {
        None => {
            return Some(Refusal::new(
                required,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests."
                    .into(),
            ))
        }
        // A version of another description is one the simulator cannot answer as Azure would:
        // refused, as Azure refuses a version its provider does not have.
        Some(v) if v != version && is_api_version(v) => {
            return Some(Refusal::new(
                described,
                "NoRegisteredProviderFound",
                format!(
                    "No registered resource provider found for API version '{v}' for type '{}'. The supported api-versions are '{version}'.",
                    resource_type(&segments)
                ),
            ));
        }
        Some(v) if v != version => {
            return Some(Refusal::new(
                described,
                "InvalidApiVersionParameter",
                format!(
                    "The api-version '{v}' is invalid. The supported versions are '{version}'."
                ),
            ))
        }
        Some(_) => {}
    }
    compute_params(arm_operation(path)?, &q).err()
}

/// What Octopus refuses in a request to `path` (under the server's prefix): a `skip` or `take`
/// that is not a 32-bit integer, on the listings the step pages through.
pub fn octopus(path: &str, query: &str) -> Option<Refusal> {
    let s: Vec<&str> = path.trim_matches('/').split('/').collect();
    let listing = matches!(
        s.as_slice(),
        ["api", "events"] | ["api", _, "machines" | "tasks" | "events"]
    );
    if !listing {
        return None;
    }
    let q = pairs(query);
    [
        ("skip", "octopus-skip-is-an-int32"),
        ("take", "octopus-take-is-an-int32"),
    ]
    .into_iter()
    .find_map(|(name, rule)| {
        let v = q.iter().find(|(k, _)| k == name)?.1.as_str();
        v.parse::<i32>().is_err().then(|| {
            // ASP.NET Core's words for a query value its model binding cannot convert.
            Refusal::new(
                rule,
                "",
                format!("The value '{v}' is not valid for {name}."),
            )
        })
    })
}

/// Resource Manager's 400 for a request a rule refuses; `None` lets it through. The router
/// asks this before anything else reads the request, as Azure's front door does.
pub(crate) fn refuse_arm(inc: &Incoming) -> Option<Response> {
    arm(inc.uri.path(), inc.uri.query().unwrap_or("")).map(|r| r.arm_response())
}

/// Octopus's 400 for a request a rule refuses; `None` lets it through.
pub(crate) fn refuse_octopus(inc: &Incoming, prefix: &str) -> Option<Response> {
    let path = inc.uri.path();
    let path = path.strip_prefix(prefix).unwrap_or(path);
    octopus(path, inc.uri.query().unwrap_or("")).map(|r| r.octopus_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: &str = "/subscriptions/6b3a7e1f-2c4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachineScaleSets/web";
    const GROUP_VMS: &str = "/subscriptions/6b3a7e1f-2c4d-4e5f-8a9b-0c1d2e3f4a5b/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines";

    fn rule_of(path: &str, query: &str) -> Option<&'static str> {
        arm(path, query).map(|r| r.rule)
    }

    #[test]
    fn the_step_s_requests_pass() {
        let filter = format!("'virtualMachineScaleSet/id' eq '{SET}'");
        let q: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("api-version", COMPUTE_API_VERSION)
            .append_pair("$filter", &filter)
            .append_pair("$expand", "instanceView")
            .finish();
        assert_eq!(rule_of(GROUP_VMS, &q), None);
        assert_eq!(rule_of(GROUP_VMS, "api-version=2024-07-01"), None);
        assert_eq!(
            rule_of(
                &format!("{SET}/virtualMachines"),
                "api-version=2024-07-01&%24expand=instanceView&%24skiptoken=4!%2Fx"
            ),
            None
        );
        // Issue 25's reads at the newer api-version, and only those.
        for path in [
            SET.to_string(),
            format!("{SET}/instanceView"),
            format!("{SET}/virtualMachines"),
        ] {
            assert_eq!(rule_of(&path, "api-version=2025-04-01"), None, "{path}");
        }
        assert_eq!(
            rule_of(
                &format!("{SET}/rollingUpgrades/latest"),
                "api-version=2025-04-01"
            ),
            Some("compute-api-version-is-the-description-s")
        );
        assert_eq!(
            rule_of(GROUP_VMS, "api-version=2025-04-01"),
            Some("compute-api-version-is-the-description-s")
        );
    }

    #[test]
    fn each_breach_names_its_rule() {
        assert_eq!(
            rule_of(GROUP_VMS, "api-version=2024-07-01&%24expand=instanceView"),
            Some("vm-list-expand-needs-filter")
        );
        assert_eq!(
            rule_of(
                GROUP_VMS,
                "api-version=2024-07-01&%24filter=name%20eq%20%27x%27"
            ),
            Some("vm-list-filter-names-a-scale-set")
        );
        assert_eq!(rule_of(GROUP_VMS, ""), Some("compute-api-version-required"));
        assert_eq!(
            rule_of(
                "/subscriptions/prod/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines",
                "api-version=2024-07-01"
            ),
            Some("arm-subscription-id-is-a-uuid")
        );
        assert_eq!(octopus("/api/Spaces-1/machines", "take=lots"), {
            Some(Refusal::new(
                "octopus-take-is-an-int32",
                "",
                "The value 'lots' is not valid for take.".into(),
            ))
        });
        assert_eq!(octopus("/api/Spaces-1/machines/Machines-1", "take=x"), None);
    }

    #[test]
    fn every_operation_the_step_calls_is_known() {
        for op in RULES.iter().flat_map(|r| r.operations) {
            assert!(operations().any(|o| o == *op), "{op}");
        }
        let segments: Vec<&str> = SET.trim_matches('/').split('/').collect();
        assert_eq!(resource_type(&segments), "virtualMachineScaleSets");
        let vms = format!("{SET}/virtualMachines");
        let segments: Vec<&str> = vms.trim_matches('/').split('/').collect();
        assert_eq!(
            resource_type(&segments),
            "virtualMachineScaleSets/virtualMachines"
        );
        assert_eq!(
            arm_operation(&format!("{SET}/rollingUpgrades/latest")),
            Some("VirtualMachineScaleSetRollingUpgrades_GetLatest")
        );
    }
}
