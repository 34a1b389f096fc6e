//! The Azure side's pure parts: budgets, error bodies, the expand rule, the credential's Debug.

use super::transport::{error_fields, with_instance_view};
use super::*;

#[test]
fn a_federated_credential_debug_prints_no_assertion() {
    let settings = AzureSettings {
        subscription_id: "s".into(),
        tenant_id: "t".into(),
        client_id: "c".into(),
        credential: AzureCredential::FederatedToken {
            token: crate::redacted::Secret::new("eyJ.secret-assertion.sig"),
            file: None,
        },
        authority_host: url::Url::parse("https://login.example/").unwrap(),
        resource_manager: url::Url::parse("https://arm.example/").unwrap(),
    };
    let http: Arc<dyn HttpClient> = Arc::new(Transport::new(
        crate::http::client(Duration::from_secs(1)),
        Arc::default(),
        &[],
    ));
    let c = FederatedCredential::new(http, settings, None, "eyJ.secret-assertion.sig".into());
    let _ = c.credential().0;
    let printed = format!("{c:?}");
    assert!(!printed.contains("secret-assertion"), "{printed}");
}

#[test]
fn read_budgets_are_taken_per_check_with_their_windows() {
    let limits = RateLimits::default();
    limits.record(
        "Microsoft.Compute/GetVMScaleSet3Min;197,Microsoft.Compute/GetVMScaleSet30Min;1297",
    );
    limits.record(
        "Microsoft.Compute/GetVMScaleSet3Min;195, Microsoft.Compute/GetVMScaleSet30Min;1295",
    );
    limits.record("Microsoft.Compute/HighCostGetVMScaleSet3Min;107,garbage,NoWindow;3");
    let minute = Duration::from_secs(60);
    let b = |name: &str, window, remaining, per_check| {
        (
            name.to_string(),
            crate::wait::Bucket {
                window: Duration::from_secs(window),
                remaining,
                per_check,
            },
        )
    };
    assert_eq!(
        limits.take(minute),
        vec![
            b("Microsoft.Compute/GetVMScaleSet30Min", 1800, 1295, 2),
            b("Microsoft.Compute/GetVMScaleSet3Min", 180, 195, 2),
            b("Microsoft.Compute/HighCostGetVMScaleSet3Min", 180, 107, 1),
        ]
    );
    assert!(limits.take(minute).is_empty(), "each check starts afresh");
}

#[test]
fn only_instance_listings_get_their_expand_back() {
    let url = |s: &str| url::Url::parse(s).unwrap();
    let set = "https://arm/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/web/virtualMachines?api-version=1&$skiptoken=2";
    let expands = |u: url::Url| {
        u.query_pairs()
            .any(|(k, v)| k == "$expand" && v == "instanceView")
    };
    assert!(with_instance_view(&url(set)).is_some_and(expands));
    let flexible = "https://arm/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines?api-version=1&$filter='virtualMachineScaleSet/id' eq 'x'&$skiptoken=2";
    assert!(with_instance_view(&url(flexible)).is_some());
    // The group's plain listing (the proof of absence): Azure refuses `$expand` there.
    let group = "https://arm/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines?api-version=1&$skiptoken=2";
    assert_eq!(with_instance_view(&url(group)), None);
    let expanded = format!("{set}&$expand=instanceView");
    assert_eq!(with_instance_view(&url(&expanded)), None);
}

#[test]
fn orchestration_services_and_the_zone_balance_policy_read_as_azure_writes_them() {
    // The instance view as Microsoft's zone balance documentation shows it.
    let view = serde_json::json!({"orchestrationServices": [
        {"serviceName": "AutomaticRepairs", "serviceState": "Running"},
        {"serviceName": "AutomaticZoneRebalancing", "serviceState": "Running",
         "latestOperationStatus": "InProgress", "lastStatusChangeTime": ""}
    ]});
    let s = Services::read(&view);
    assert_eq!(s.repairs.as_deref(), Some("Running"));
    assert!(s.rebalancing && !s.repairs_stopped());
    let done = serde_json::json!({"orchestrationServices": [
        {"serviceName": "automaticRepairs", "serviceState": "Suspended"},
        {"serviceName": "AutomaticZoneRebalancing", "serviceState": "Running",
         "latestOperationStatus": "Completed"}
    ]});
    let s = Services::read(&done);
    assert!(!s.rebalancing && s.repairs_stopped());
    // Nothing listed: repairs' state unknown (not stopped), no rebalance.
    let none = Services::read(&serde_json::json!({"statuses": []}));
    assert_eq!(none, Services::default());
    assert!(!none.repairs_stopped());
    let set = |p: serde_json::Value| serde_json::json!({"properties": p});
    assert!(zone_rebalancing(&set(
        serde_json::json!({"resiliencyPolicy": {
            "automaticZoneRebalancingPolicy": {"enabled": true, "rebalanceStrategy": "Recreate"}
        }})
    )));
    assert!(!zone_rebalancing(&set(
        serde_json::json!({"resiliencyPolicy": {
            "resilientVMDeletionPolicy": {"enabled": true}
        }})
    )));
}

#[test]
fn a_scale_set_model_says_its_repairs_and_resiliency_policies() {
    let vmss: compute::models::VirtualMachineScaleSet = serde_json::from_value(
        serde_json::json!({"location": "westeurope", "id": "/x", "properties": {
            "automaticRepairsPolicy": {"enabled": true, "gracePeriod": "PT30M", "repairAction": "Reimage"},
            "resiliencyPolicy": {"resilientVMCreationPolicy": {"enabled": true},
                                 "resilientVMDeletionPolicy": {"enabled": false}}
        }}),
    )
    .unwrap();
    let r = scale_set_from_model(&vmss).replacements;
    let repairs = r.repairs.clone().expect("enabled");
    assert_eq!(repairs.grace_text(), "PT30M");
    assert_eq!(repairs.action, "Reimage");
    assert!(r.resilient_creates && !r.resilient_deletes && r.watched());
    // Off, or on without a grace period or action: Azure's defaults.
    let off: compute::models::VirtualMachineScaleSet =
        serde_json::from_value(serde_json::json!({"location": "westeurope", "properties": {
            "automaticRepairsPolicy": {"enabled": false, "gracePeriod": "PT30M"}}}))
        .unwrap();
    assert_eq!(
        scale_set_from_model(&off).replacements,
        Replacements::default()
    );
    let bare: compute::models::VirtualMachineScaleSet =
        serde_json::from_value(serde_json::json!({"location": "westeurope", "properties": {
            "automaticRepairsPolicy": {"enabled": true}}}))
        .unwrap();
    let repairs = scale_set_from_model(&bare).replacements.repairs.unwrap();
    assert_eq!(
        (repairs.grace_text(), repairs.action.as_str()),
        ("PT10M", "Replace")
    );
}

#[test]
fn every_shape_of_azure_error_body_gives_its_code_and_first_line() {
    let arm = br#"{"error":{"code":"ResourceGroupNotFound","message":"Resource group 'x' could not be found."}}"#;
    assert_eq!(
        error_fields(arm),
        (
            Some("ResourceGroupNotFound".into()),
            Some("Resource group 'x' could not be found.".into())
        )
    );
    let throttle = br#"{"code":"OperationNotAllowed","message":"The server rejected the request because too many requests have been received for this subscription."}"#;
    assert_eq!(
        error_fields(throttle).0.as_deref(),
        Some("OperationNotAllowed")
    );
    let aad = br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1\r\nCorrelation ID: 2"}"#;
    assert_eq!(
        error_fields(aad),
        (
            Some("invalid_client".into()),
            Some("AADSTS7000215: Invalid client secret provided.".into())
        )
    );
    assert_eq!(error_fields(b"<html>"), (None, None));
}

/// Azure's answer to a request, as the transport types it.
fn answered(status: u16, code: Option<&str>, message: Option<&str>, sign_in: bool) -> HttpFailure {
    HttpFailure {
        status,
        code: code.map(str::to_string),
        message: message.map(str::to_string),
        retry_after: None,
        sign_in,
    }
}

/// The classification of an answer to reading scale set `rg/web`.
fn refusal(f: &HttpFailure) -> AzureRefusal {
    let set = ScaleSetRef {
        resource_group: "rg".into(),
        name: "web".into(),
    };
    AzureRefusal::of(
        f,
        Asked::new(&set, "sub-1", "read the scale set"),
        "client-1",
        "tenant-1",
    )
}

/// A refusal's variant name, as its Debug starts.
fn variant(r: &AzureRefusal) -> String {
    let printed = format!("{r:?}");
    printed.split([' ', '{']).next().unwrap_or("").to_string()
}

#[test]
fn answers_are_classified_sign_in_first_then_passing_then_by_code_then_by_status() {
    use FailureKind::*;
    let expired = "AADSTS700024: Client assertion is not within its valid time range.";
    let secret = "AADSTS7000215: Invalid client secret provided.";
    #[rustfmt::skip]
    let cases = [
        // Azure AD: busy whatever the status says, an expired federated token, or a wrong account.
        (answered(429, None, None, true), "SignInBusy", Throttled),
        (answered(503, None, None, true), "SignInBusy", ServerError),
        (answered(400, Some("invalid_grant"), Some(expired), true), "FederatedTokenExpired", Permanent),
        (answered(401, Some("invalid_client"), Some(secret), true), "SignInRejected", Unauthorized),
        // Resource Manager: passing failures, whatever their code says.
        (answered(429, Some("OperationNotAllowed"), None, false), "Throttled", Throttled),
        (answered(500, None, None, false), "ArmFailed", ServerError),
        (answered(408, None, None, false), "ArmFailed", Timeout),
        (answered(503, Some("ResourceGroupNotFound"), None, false), "ArmFailed", ServerError),
        // Then ARM's codes, in any case, before the status.
        (answered(404, Some("ResourceGroupNotFound"), Some("gone."), false), "ResourceGroupNotFound", NotFound),
        (answered(404, Some("SubscriptionNotFound"), None, false), "SubscriptionNotFound", NotFound),
        (answered(400, Some("invalidsubscriptionid"), None, false), "SubscriptionNotFound", Permanent),
        // Then the status.
        (answered(404, Some("ResourceNotFound"), None, false), "ScaleSetNotFound", NotFound),
        (answered(401, Some("InvalidAuthenticationToken"), None, false), "TokenRejected", Unauthorized),
        (answered(403, Some("AuthorizationFailed"), None, false), "NotAllowed", Forbidden),
        (answered(400, Some("BadRequest"), None, false), "Refused", Permanent),
        (answered(409, None, None, false), "Refused", Permanent),
    ];
    for (answer, expected, kind) in cases {
        let r = refusal(&answer);
        assert_eq!(
            (variant(&r).as_str(), r.kind()),
            (expected, kind),
            "{answer:?}"
        );
        assert_eq!(r.code(), answer.code.as_deref(), "the code is kept");
    }
}

#[test]
fn refusals_of_the_account_keep_its_names() {
    let secret = "AADSTS7000215: Invalid client secret provided.";
    let rejected = refusal(&answered(401, Some("invalid_client"), Some(secret), true));
    assert!(
        matches!(&rejected, AzureRefusal::SignInRejected { client_id, tenant_id, .. }
            if client_id == "client-1" && tenant_id == "tenant-1"),
        "{rejected:?}"
    );
    let forbidden = refusal(&answered(403, Some("AuthorizationFailed"), None, false));
    assert!(
        matches!(&forbidden, AzureRefusal::NotAllowed { client_id, asked, .. }
            if client_id == "client-1" && asked.resource_group == "rg" && asked.scale_set == "web"),
        "{forbidden:?}"
    );
}

#[test]
fn a_refusal_travels_on_its_failure_with_its_words_and_retry_after() {
    let mut f = answered(
        429,
        Some("OperationNotAllowed"),
        Some("Too many requests."),
        false,
    );
    f.retry_after = Some(Duration::from_secs(17));
    let failure = refusal(&f).into_failure();
    assert_eq!(failure.kind, FailureKind::Throttled);
    assert_eq!(failure.retry_after, Some(Duration::from_secs(17)));
    assert_eq!(
        failure.message,
        "Azure throttled the request to read the scale set 'web' (OperationNotAllowed: Too many requests.)."
    );
    let top = crate::error::Error::Azure(failure.reworded("Reading 'web' stopped.".into()));
    let kept = top.failure().and_then(|f| f.cause::<AzureRefusal>());
    assert!(
        matches!(kept, Some(AzureRefusal::Throttled { .. })),
        "{kept:?}"
    );
    assert_eq!(
        kept.and_then(AzureRefusal::code),
        Some("OperationNotAllowed")
    );
    let answer = kept.and_then(AzureRefusal::answer).map(|a| a.status);
    assert_eq!(answer, Some(429), "the status survives a rewording");
}
