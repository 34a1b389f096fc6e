//! Simulated Azure AD token endpoint and Resource Manager (Microsoft.Compute, 2024-07-01).

use super::world::{at, Paging, SimProfile, SimScaleSet, SimVm, World, LISTINGS, SCALE_SET_READS};
use super::{json, object, Incoming};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Instant;

const API_VERSION: &str = super::rules::COMPUTE_API_VERSION;
/// The newer compute api-version the step reads a scale set, its instance view and a
/// resilient-deleting set's VMs at ([`crate::azure::NEWER_API_VERSION`]): their answers carry
/// what 2024-07-01 lacks (zone rebalancing, `resilientVMDeletionStatus`) only at it.
const NEWER_API_VERSION: &str = super::rules::NEWER_COMPUTE_API_VERSION;
/// Microsoft.StandbyPool's api-version (its 2025-03-01 description).
pub const STANDBY_API_VERSION: &str = super::rules::STANDBY_API_VERSION;
/// The read-budget kind of a StandbyPool read: not compute's, so no compute bucket spends it.
const STANDBY_READS: &str = "StandbyPool";

fn standby(path: &str) -> bool {
    path.to_ascii_lowercase()
        .contains("/providers/microsoft.standbypool/")
}

fn query(inc: &Incoming) -> HashMap<String, String> {
    url::form_urlencoded::parse(inc.uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn aad_error(status: StatusCode, error: &str, description: &str) -> Response {
    json(
        status,
        json!({
            "error": error,
            "error_description": format!("{description}\r\nTrace ID: 00000000-0000-0000-0000-000000000000\r\nCorrelation ID: 11111111-1111-1111-1111-111111111111\r\nTimestamp: 2026-11-23 10:00:00Z"),
            "error_codes": [7000215],
        }),
    )
}

/// `POST /{tenant}/oauth2/v2.0/token`: client credentials with a secret or a federated assertion.
pub fn azure_ad(w: &mut World, _base: &str, inc: &Incoming) -> Response {
    let segments: Vec<&str> = inc.uri.path().trim_matches('/').split('/').collect();
    if inc.method != "POST" || segments.len() != 4 || segments[1..] != ["oauth2", "v2.0", "token"] {
        return aad_error(
            StatusCode::NOT_FOUND,
            "invalid_request",
            "AADSTS900561: The endpoint only accepts POST requests.",
        );
    }
    if segments[0] != w.tenant_id {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            &format!("AADSTS90002: Tenant '{}' not found.", segments[0]),
        );
    }
    let form: HashMap<String, String> = url::form_urlencoded::parse(&inc.body)
        .into_owned()
        .collect();
    let field = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if field("grant_type") != "client_credentials" {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: The app requested an unsupported grant type.",
        );
    }
    if field("client_id") != w.client_id {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            &format!(
                "AADSTS700016: Application with identifier '{}' was not found in the directory.",
                field("client_id")
            ),
        );
    }
    let expected_scope = "/.default";
    if !field("scope").ends_with(expected_scope) {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS1002012: The provided value for scope is not valid.",
        );
    }
    if form.contains_key("client_assertion") {
        let expired = crate::token::jwt_expiry(field("client_assertion"))
            .is_some_and(|exp| exp <= time::OffsetDateTime::now_utc());
        if expired {
            return aad_error(
                StatusCode::BAD_REQUEST,
                "invalid_client",
                "AADSTS700024: Client assertion is not within its valid time range. Current time: 2026-11-23T10:30:00Z, assertion valid from 2026-11-23T10:00:00Z, expiry time of assertion 2026-11-23T10:05:00Z.",
            );
        }
    }
    let ok = if form.contains_key("client_assertion") {
        field("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
            && field("client_assertion") == w.federated_token
    } else {
        field("client_secret") == w.client_secret
    };
    if !ok {
        let description = if form.contains_key("client_assertion") {
            "AADSTS700213: No matching federated identity record found for presented assertion subject."
        } else {
            "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID."
        };
        return aad_error(StatusCode::UNAUTHORIZED, "invalid_client", description);
    }
    let token = format!("sim-access-token-{}", w.tokens.len() + 1);
    w.tokens
        .insert(token.clone(), Instant::now() + w.token_lifetime);
    let secs = w.token_lifetime.as_secs();
    json(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": secs, "ext_expires_in": secs, "access_token": token}),
    )
}

fn arm_error(status: StatusCode, code: &str, message: &str) -> Response {
    json(status, json!({"error": {"code": code, "message": message}}))
}

/// Resource Manager: the scale set, its VMs (Uniform), the group's VMs (Flexible).
pub fn resource_manager(w: &mut World, base: &str, inc: &Incoming) -> Response {
    let auth = inc
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(token) = auth.strip_prefix("Bearer ") else {
        return arm_error(
            StatusCode::UNAUTHORIZED,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
        );
    };
    match w.tokens.get(token) {
        None => {
            return arm_error(
                StatusCode::UNAUTHORIZED,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
            );
        }
        Some(expiry) if *expiry <= Instant::now() => {
            return arm_error(
                StatusCode::UNAUTHORIZED,
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
            );
        }
        Some(_) => {}
    }
    let q = query(inc);
    if let Some(refusal) = super::rules::refuse_arm(inc) {
        return refusal;
    }
    if w.faults.arm_throttles > 0 {
        w.faults.arm_throttles -= 1;
        let mut r = json(
            StatusCode::TOO_MANY_REQUESTS,
            json!({"code": "OperationNotAllowed", "message": "The server rejected the request because too many requests have been received for this subscription."}),
        );
        let h = r.headers_mut();
        h.insert(
            header::RETRY_AFTER,
            HeaderValue::from(w.faults.arm_retry_after),
        );
        let lines = [
            "Microsoft.Compute/GetVMScaleSet3Min;0".to_string(),
            "Microsoft.Compute/GetVMScaleSet30Min;1200".to_string(),
        ];
        remaining_lines(&mut r, w.ratelimit_joined, &lines);
        return r;
    }
    // A story on the wall clock moves with every request.
    w.advance(false);
    // Compute's read budget: spent by each read, reported on each answer, 429 when empty.
    let kind = if standby(inc.uri.path()) {
        STANDBY_READS
    } else if inc
        .uri
        .path()
        .to_ascii_lowercase()
        .ends_with("/virtualmachines")
    {
        LISTINGS
    } else {
        SCALE_SET_READS
    };
    let now = Instant::now();
    let remaining = match w.read_budget.as_mut().map(|b| b.spend(kind, now)) {
        Some(Err((retry_after, header))) => {
            let mut r = json(
                StatusCode::TOO_MANY_REQUESTS,
                json!({"code": "OperationNotAllowed", "message": format!("The server rejected the request because too many requests have been received for this subscription. Please retry after {retry_after} seconds.")}),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            remaining_lines(&mut r, w.ratelimit_joined, &header);
            return r;
        }
        Some(Ok(lines)) => lines,
        None => Vec::new(),
    };
    let mut response = route(w, base, inc, &q);
    remaining_lines(&mut response, w.ratelimit_joined, &remaining);
    response
}

const REMAINING: &str = "x-ms-ratelimit-remaining-resource";

/// True when the request asks for the newer api-version.
fn newer(q: &HashMap<String, String>) -> bool {
    q.get("api-version").map(String::as_str) == Some(NEWER_API_VERSION)
}

/// Writes what is left of the read budget: one header line per policy, as Azure sends them
/// (Microsoft's throttling guide), or all policies joined by commas in one line.
fn remaining_lines(r: &mut Response, joined: bool, lines: &[String]) {
    let values = if joined && !lines.is_empty() {
        vec![lines.join(",")]
    } else {
        lines.to_vec()
    };
    for v in values {
        if let Ok(h) = HeaderValue::from_str(&v) {
            r.headers_mut().append(REMAINING, h);
        }
    }
}

fn route(w: &mut World, base: &str, inc: &Incoming, q: &HashMap<String, String>) -> Response {
    if let Some((status, code, message)) = &w.faults.arm_error {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return arm_error(status, code, message);
    }
    if let Some(r) = route_fault(w, &inc.uri.path().to_ascii_lowercase()) {
        return r;
    }
    if inc.method != "GET" {
        return arm_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The simulator only serves reads.",
        );
    }
    let path = inc.uri.path().to_string();
    let seg: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(|s| s.to_string())
        .collect();
    let lower: Vec<String> = seg.iter().map(|s| s.to_ascii_lowercase()).collect();
    let l: Vec<&str> = lower.iter().map(String::as_str).collect();
    if l.len() < 2 || l[0] != "subscriptions" {
        return arm_error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            "The resource type could not be found.",
        );
    }
    if !seg[1].eq_ignore_ascii_case(&w.subscription_id) {
        return arm_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            &format!("The subscription '{}' could not be found.", seg[1]),
        );
    }
    if l[2..]
        == [
            "providers",
            "microsoft.standbypool",
            "standbyvirtualmachinepools",
        ]
    {
        if let Some(e) = w.faults.standby_subscription_error.clone() {
            return standby_error(&e);
        }
        return list_pools(w, base, &path, None, q);
    }
    if standby(&path) {
        if let Some(e) = w.faults.standby_group_error.clone() {
            return standby_error(&e);
        }
    }
    if l.len() < 4 || l[2] != "resourcegroups" {
        return arm_error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            "The resource type could not be found.",
        );
    }
    let Some(rg) = w
        .resource_groups
        .iter()
        .find(|g| g.eq_ignore_ascii_case(&seg[3]))
        .cloned()
    else {
        return arm_error(
            StatusCode::NOT_FOUND,
            "ResourceGroupNotFound",
            &format!("Resource group '{}' could not be found.", seg[3]),
        );
    };
    match &l[4..] {
        ["providers", "microsoft.compute", "virtualmachinescalesets", _] => {
            get_scale_set(w, &rg, &seg[7], newer(q))
        }
        ["providers", "microsoft.compute", "virtualmachinescalesets", _, "instanceview"] => {
            get_scale_set_instance_view(w, &rg, &seg[7], newer(q))
        }
        ["providers", "microsoft.compute", "virtualmachinescalesets", _, "virtualmachines"] => {
            list_scale_set_vms(w, base, &path, &rg, &seg[7], q)
        }
        ["providers", "microsoft.compute", "virtualmachines"] => list_vms(w, base, &path, &rg, q),
        ["providers", "microsoft.compute", "virtualmachines", _] => get_vm(w, &rg, &seg[7]),
        ["providers", "microsoft.compute", "virtualmachines", _, "instanceview"] => {
            get_vm_instance_view(w, &rg, &seg[7])
        }
        ["providers", "microsoft.compute", "virtualmachinescalesets", _, "rollingupgrades", "latest"] => {
            latest_rolling_upgrade(w, &rg, &seg[7])
        }
        ["providers", "microsoft.standbypool", "standbyvirtualmachinepools"] => {
            list_pools(w, base, &path, Some(&rg), q)
        }
        ["providers", "microsoft.standbypool", "standbyvirtualmachinepools", _, "standbyvirtualmachines"] => {
            list_pool_vms(w, base, &path, &rg, &seg[7], q)
        }
        _ => arm_error(
            StatusCode::NOT_FOUND,
            "InvalidResourceType",
            "The resource type could not be found.",
        ),
    }
}

/// The answer of a failing route ([`super::world::ArmFault`]), if this request is one.
fn route_fault(w: &mut World, path: &str) -> Option<Response> {
    let f = w.faults.arm_faults.iter_mut().find(|f| (f.matches)(path))?;
    f.seen += 1;
    let failing = f.seen > f.after && f.seen - f.after <= f.times;
    if !failing {
        return None;
    }
    let status = StatusCode::from_u16(f.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = if f.status == 429 {
        // Compute's throttle has no `error` wrapper.
        json(status, json!({"code": f.code, "message": f.message}))
    } else {
        arm_error(status, &f.code, &f.message)
    };
    if let Some(after) = f.retry_after {
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(after));
    }
    Some(r)
}

fn not_found(rg: &str, name: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The Resource 'Microsoft.Compute/virtualMachineScaleSets/{name}' under resource group '{rg}' was not found."),
    )
}

fn find_scale_set(w: &World, rg: &str, name: &str) -> Option<SimScaleSet> {
    w.scale_sets
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(name) && s.resource_group.eq_ignore_ascii_case(rg))
        .cloned()
}

fn get_scale_set(w: &mut World, rg: &str, name: &str, newer: bool) -> Response {
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
fn get_scale_set_instance_view(w: &mut World, rg: &str, name: &str, newer: bool) -> Response {
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
fn sim_vm_id(vm: &SimVm) -> String {
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
fn deletion_status(vm: &SimVm, tick: u64) -> &'static str {
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

fn vm_state(vm: &SimVm, tick: u64) -> Option<String> {
    at(&vm.state, tick).flatten()
}

fn os_profile(vm: &SimVm) -> Option<Value> {
    if !vm.os_profile {
        return None;
    }
    Some(match &vm.computer_name {
        Some(c) => json!({"computerName": c, "adminUsername": "azureuser", "secrets": []}),
        None => json!({"adminUsername": "azureuser", "secrets": []}),
    })
}

/// The time statuses carry unless a story says when a VM's state changed.
const STATUS_TIME: &str = "2026-11-23T09:59:00.0000000+00:00";

fn status(code: String, level: &str, display: &str, message: Option<&str>) -> Value {
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
fn instance_view(vm: &SimVm, state: &str, tick: u64) -> Value {
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

fn expands_instance_view(q: &HashMap<String, String>) -> bool {
    q.get("$expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("instanceView"))
}

/// One page of a list. Its `nextLink` is written the way ARM writes it for these lists: an
/// absolute URL with the `$filter` unencoded (spaces and quotes as they are), a `$skiptoken`
/// holding `!` and `/`, and no `$expand`.
///
/// Only the page's items are rendered: building every VM's JSON (instance view included) for
/// each page made a 1,000-VM listing cost the simulator ten times what it costs Azure's
/// client, and the benchmark measured the simulator.
fn page<T>(
    base: &str,
    path: &str,
    q: &HashMap<String, String>,
    items: &[T],
    page_size: usize,
    paging: Option<Paging>,
    render: impl Fn(&T) -> Value,
) -> Value {
    // The next page is at the api-version the listing was asked at, as Azure writes it.
    let version = match q.get("api-version").map(String::as_str) {
        Some(NEWER_API_VERSION) => NEWER_API_VERSION,
        _ => API_VERSION,
    };
    page_with(base, path, q, items, page_size, (version, paging), render)
}

/// [`page`] for an API of another api-version, its paging broken as the world says.
fn page_with<T>(
    base: &str,
    path: &str,
    q: &HashMap<String, String>,
    items: &[T],
    page_size: usize,
    (api_version, paging): (&str, Option<Paging>),
    render: impl Fn(&T) -> Value,
) -> Value {
    let skip: usize = q
        .get("$skiptoken")
        .and_then(|s| s.split('!').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if paging == Some(Paging::Listless) {
        let mut itself = format!(
            "{}{}?api-version={api_version}",
            base.trim_end_matches('/'),
            path
        );
        if let Some(token) = q.get("$skiptoken") {
            itself.push_str(&format!("&$skiptoken={token}"));
        }
        return object([("nextLink", Value::String(itself))]);
    }
    let end = (skip + page_size).min(items.len());
    let value: Vec<Value> = items
        .get(skip..end)
        .unwrap_or(&[])
        .iter()
        .map(render)
        .collect();
    let mut body = object([("value", Value::Array(value))]);
    if end < items.len() {
        let mut next = format!(
            "{}{}?api-version={api_version}",
            base.trim_end_matches('/'),
            path
        );
        if let Some(f) = q.get("$filter") {
            next.push_str(&format!("&$filter={f}"));
        }
        let to = match paging {
            Some(Paging::Repeats) => skip,
            _ => end,
        };
        next.push_str(&format!("&$skiptoken={to}!/Subscriptions/page/{to}"));
        if paging == Some(Paging::OtherOrigin) {
            let path = next.split_once("://").map_or("", |(_, r)| r);
            let path = path.find('/').map_or("", |i| &path[i..]);
            next = format!("https://management.elsewhere.example{path}");
        }
        body["nextLink"] = Value::String(next);
    }
    body
}

fn list_scale_set_vms(
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

fn list_vms(
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
fn missed_vm(w: &mut World, set: &str, q: &HashMap<String, String>) -> Option<String> {
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

fn missed_is(vm: &SimVm, missed: Option<&str>) -> bool {
    missed.is_some_and(|m| {
        vm.computer_name
            .as_deref()
            .is_some_and(|c| c.eq_ignore_ascii_case(m))
    })
}

fn standby_error((status, code, message): &(u16, String, String)) -> Response {
    let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    arm_error(status, code, message)
}

/// A VM of a group that exists now, with its provisioning state.
fn find_vm<'w>(w: &'w World, rg: &str, name: &str) -> Option<(&'w SimVm, String)> {
    w.vms
        .iter()
        .filter(|vm| {
            vm.resource_group.eq_ignore_ascii_case(rg) && vm.name.eq_ignore_ascii_case(name)
        })
        .find_map(|vm| Some((vm, vm_state(vm, w.tick)?)))
}

fn vm_not_found(rg: &str, name: &str) -> Response {
    arm_error(
        StatusCode::NOT_FOUND,
        "ResourceNotFound",
        &format!("The Resource 'Microsoft.Compute/virtualMachines/{name}' under resource group '{rg}' was not found."),
    )
}

/// `GET .../virtualMachines/{name}`: one VM, with its OS profile's computer name.
fn get_vm(w: &mut World, rg: &str, name: &str) -> Response {
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
fn get_vm_instance_view(w: &mut World, rg: &str, name: &str) -> Response {
    match find_vm(w, rg, name) {
        Some((vm, state)) => json(StatusCode::OK, instance_view(vm, &state, w.tick)),
        None => vm_not_found(rg, name),
    }
}

fn vm_id(w: &World, vm: &SimVm) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/virtualMachines/{}",
        w.subscription_id, vm.resource_group, vm.name
    )
}

/// `GET .../rollingUpgrades/latest`: the latest rolling upgrade's status; 404 when the set
/// never had one.
fn latest_rolling_upgrade(w: &mut World, rg: &str, name: &str) -> Response {
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

fn pool_id(w: &World, rg: &str, name: &str) -> String {
    format!(
        "/subscriptions/{}/resourceGroups/{rg}/providers/Microsoft.StandbyPool/standbyVirtualMachinePools/{name}",
        w.subscription_id
    )
}

/// The standby pools of the subscription (`rg: None`) or of one resource group.
fn list_pools(
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
    let render = |p: &super::world::SimPool| {
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
fn list_pool_vms(
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
