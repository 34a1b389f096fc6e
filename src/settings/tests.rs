//! The inputs' checks, each naming its Octopus parameter.

use super::unsubstituted::*;
use super::*;

fn args() -> StepArgs {
    StepArgs {
        scale_set_name: Some("web".into()),
        resource_group_name: Some("rg".into()),
        roles: Some("web-server, ,vmss ,Web-Server".into()),
        octopus_url: Some("https://octo.example.com/octopus/api/".into()),
        octopus_api_key: Some(Secret::new("API-KEY123")),
        azure_subscription_id: Some("00000000-1111-2222-3333-444444444444".into()),
        azure_tenant_id: Some("contoso.onmicrosoft.com".into()),
        azure_client_id: Some("app".into()),
        azure_client_secret: Some(Secret::new("s3cret-value")),
        environment_id: Some("Environments-1".into()),
        ..StepArgs::default()
    }
}

#[test]
fn defaults_and_normalisation() {
    let s = Settings::from_args(&args()).unwrap();
    assert_eq!(s.roles, vec!["web-server", "vmss"]);
    assert_eq!(s.octopus_url.as_str(), "https://octo.example.com/octopus/");
    assert_eq!(s.timeout, Duration::from_secs(1800));
    assert_eq!(s.timeout_handle, TimeoutHandle::Proceed);
    assert_eq!(s.duplicate_window, Duration::from_secs(180));
    assert_eq!(s.duplicate_handle, DuplicateHandle::Proceed);
    assert!(!s.exclude_old && !s.dry_run);
    assert_eq!(s.poll_interval, Duration::from_secs(10));
    assert_eq!(
        s.azure.resource_manager.as_str(),
        "https://management.azure.com/"
    );
}

#[test]
fn decimals_case_and_yes_no() {
    let mut a = args();
    a.timeout = Some("0.5".into());
    a.timeout_handle = Some("ERROR".into());
    a.duplicate_handle = Some("cancel".into());
    a.exclude_old = Some("True".into());
    a.poll_interval = Some("2,5".into());
    let s = Settings::from_args(&a).unwrap();
    assert_eq!(s.timeout, Duration::from_secs(30));
    assert_eq!(s.timeout_handle, TimeoutHandle::Error);
    assert_eq!(s.duplicate_handle, DuplicateHandle::Cancel);
    assert!(s.exclude_old);
    assert_eq!(s.poll_interval, Duration::from_millis(2500));
}

#[test]
fn report_artifacts_default_to_yes_and_name_their_parameter() {
    assert!(Settings::from_args(&args()).unwrap().report_artifacts);
    for (value, on) in [("No", false), ("false", false), ("YES", true), (" ", true)] {
        let mut a = args();
        a.report_artifacts = Some(value.into());
        assert_eq!(
            Settings::from_args(&a).unwrap().report_artifacts,
            on,
            "{value}"
        );
    }
    let mut a = args();
    a.report_artifacts = Some("Sometimes".into());
    let Err(Error::Input(msg)) = Settings::from_args(&a) else {
        panic!("expected an input error")
    };
    assert!(
        msg.contains("VMSS.Report.Artifacts must be Yes or No"),
        "{msg}"
    );
}

#[test]
fn errors_name_the_octopus_parameter_and_all_are_reported() {
    let mut a = args();
    a.timeout = Some("thirty".into());
    a.timeout_handle = Some("Ignore".into());
    a.roles = Some(" , ".into());
    let Err(Error::Input(msg)) = Settings::from_args(&a) else {
        panic!("expected an input error")
    };
    assert!(
        msg.contains("VMSS.Timeout.Value must be a number of minutes, got \"thirty\""),
        "{msg}"
    );
    assert!(
        msg.contains("VMSS.Timeout.ErrorHandle must be Proceed or Error, got \"Ignore\""),
        "{msg}"
    );
    assert!(
        msg.contains("VMSS.DeploymentTarget.Roles is required"),
        "{msg}"
    );
}

#[test]
fn an_unsubstituted_variable_is_named_with_where_it_is_set() {
    let mut a = args();
    a.octopus_url = Some("#{Octopus.Web.ServerUri}".into());
    a.roles = Some("#{if Roles}#{Roles}#{/if}".into());
    let Err(Error::Input(e)) = Settings::from_args(&a) else {
        panic!("accepted")
    };
    assert!(
        e.contains("VMSS.Octopus.Url holds #{Octopus.Web.ServerUri}"),
        "{e}"
    );
    assert!(e.contains("Configuration -> Nodes"), "{e}");
    assert!(
        e.contains("VMSS.DeploymentTarget.Roles holds #{Roles}"),
        "{e}"
    );
    assert!(!e.contains("must be an http(s) address"), "{e}");
    assert_eq!(
        variable_of("each id in Octopus.Action[A].Output.Ids"),
        "Octopus.Action[A].Output.Ids"
    );
    assert_eq!(variable_of(" Name | ToLower "), "Name");
    // The access token's binding, when the OIDC step did not run first (or has another name).
    let mut a = args();
    a.octopus_api_key = Some(Secret::new(crate::signin::TOKEN_BINDING));
    let Err(Error::Input(e)) = Settings::from_args(&a) else {
        panic!("accepted")
    };
    assert!(e.contains("VMSS.Octopus.ApiKey refers to the Octopus variable Octopus.Action[Authenticate with OIDC].Output.AccessToken"), "{e}");
    assert!(
        e.contains("only once a step named Authenticate with OIDC has run before this one"),
        "{e}"
    );
    assert!(e.contains("\"Octopus - Authenticate with OIDC\""), "{e}");
    assert_eq!(step_output("octopus.action[A].output.B"), Some(("A", "B")));
    assert_eq!(step_output("Octopus.Action[A].Package.B"), None);
}

#[test]
fn every_input_is_checked_for_an_unsubstituted_variable() {
    use clap::{CommandFactory, Parser};
    let command = crate::cli::Cli::command();
    let mut checked = 0;
    for arg in command.get_arguments() {
        let (Some(env), Some(long)) = (arg.get_env(), arg.get_long()) else {
            continue;
        };
        if env.to_string_lossy().starts_with("VMSS_CHECK_") {
            continue; // test knobs, not Octopus parameters
        }
        let flag = format!("--{long}");
        let cli = crate::cli::Cli::try_parse_from(["vmss-check", flag.as_str(), "#{Probe}"])
            .unwrap_or_else(|e| panic!("{flag}: {e}"));
        let Err(Error::Input(e)) = Settings::from_args(&cli.step) else {
            panic!("{flag} accepted #{{Probe}}")
        };
        assert!(e.contains("variable Probe"), "{flag}: {e}");
        checked += 1;
    }
    assert!(checked >= 30, "{checked}");
}

#[test]
fn the_octopus_sign_in_is_a_key_or_a_token_and_never_quoted() {
    use base64::Engine as _;
    let part = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let token = format!(
        "{}.{}.c2ln",
        part(r#"{"alg":"RS256"}"#),
        part(r#"{"exp":1795420800}"#)
    );
    let mut a = args();
    a.octopus_api_key = Some(Secret::new(format!(" {token}\n")));
    let s = Settings::from_args(&a).unwrap();
    assert!(s.octopus_credential.is_token());
    assert_eq!(s.octopus_credential.secret().expose(), token);
    assert_eq!(s.redactor().scrub(&token), "(redacted)");
    for (bad, says) in [
        (
            "not-a-key-at-all",
            "neither an API key (API-...) nor an access token",
        ),
        ("Bearer eyJ.a.b", "starts with \"Bearer \""),
        ("b\u{e9}arer-\u{e9}t\u{e9}", "holds spaces or characters"),
    ] {
        a.octopus_api_key = Some(Secret::new(bad));
        let Err(Error::Input(e)) = Settings::from_args(&a) else {
            panic!("{bad} accepted")
        };
        assert!(e.contains(says), "{bad}: {e}");
        assert!(!e.contains(bad), "{bad} quoted: {e}");
    }
}

#[test]
fn user_information_is_refused_as_the_requests_parser_reads_it() {
    for raw in [
        "http:\\\\u:pw-1@octo.example.com",
        "http:u:pw-1@octo.example.com",
        "http:/u:pw-1@octo.example.com",
        "http:/\t/u:pw-1@octo.example.com",
        "https://u:pw-1@octo.example.com/octopus",
        "https://pw-1@octo.example.com",
        "https://:pw-1@octo.example.com",
    ] {
        let err = parse_octopus_url(Some(raw)).unwrap_err();
        assert!(
            err.starts_with("VMSS.Octopus.Url must not carry a user name or password"),
            "{raw:?}: {err}"
        );
        assert!(!err.contains("pw-1"), "{raw:?}: {err}");
    }
    let err = parse_octopus_url(Some("http:/\t/u:pw-1@octo.example.com")).unwrap_err();
    assert!(err.contains("\"http://***@octo.example.com/\""), "{err}");
    // Not http, and an '@' in it: refused without echoing the text.
    let err = parse_octopus_url(Some("mailto:u:pw-1@octo.example.com")).unwrap_err();
    assert!(err.contains("must be an http(s) address"), "{err}");
    assert!(!err.contains("pw-1"), "{err}");
    // What the requests use is the parsed URL.
    let url = parse_octopus_url(Some("HTTPS:\\\\Octo.Example.com\\octopus\\api")).unwrap();
    assert_eq!(url.as_str(), "https://octo.example.com/octopus/");
}

#[test]
fn no_secret_in_errors_or_debug() {
    let mut a = args();
    a.octopus_url = Some("not a url".into());
    let err = Settings::from_args(&a).unwrap_err().to_string();
    assert!(err.contains("VMSS.Octopus.Url"));
    let s = Settings::from_args(&args()).unwrap();
    let debug = format!("{s:?}");
    assert!(
        !debug.contains("API-KEY123") && !debug.contains("s3cret-value"),
        "{debug}"
    );
}

#[test]
fn scale_sets_are_a_comma_list_with_optional_groups() {
    let mut a = args();
    a.scale_set_name = Some(" web , rg-api/api,, WEB, rg-api/API ".into());
    let s = Settings::from_args(&a).unwrap();
    let got: Vec<(&str, &str)> = s
        .scale_sets
        .iter()
        .map(|s| (s.resource_group.as_str(), s.name.as_str()))
        .collect();
    assert_eq!(got, [("rg", "web"), ("rg-api", "api")]);
    for bad in ["a/b/c", "/web", "rg/", "web?x", "my scale set"] {
        a.scale_set_name = Some(bad.into());
        let err = Settings::from_args(&a).unwrap_err().to_string();
        assert!(
            err.contains("VMSS.ScaleSet.Name has an entry"),
            "{bad}: {err}"
        );
    }
    a.scale_set_name = Some(" , ".into());
    let err = Settings::from_args(&a).unwrap_err().to_string();
    assert!(err.contains("VMSS.ScaleSet.Name is required"), "{err}");
}

#[test]
fn the_azure_account_is_checked_before_any_request_subscription_credential_and_cloud() {
    let mut a = args();
    a.azure_subscription_id = Some("my-subscription".into());
    assert!(Settings::from_args(&a)
        .unwrap_err()
        .to_string()
        .contains("AZURE_SUBSCRIPTION_ID must be a subscription id"));
    let mut a = args();
    a.azure_client_secret = None;
    assert!(Settings::from_args(&a)
        .unwrap_err()
        .to_string()
        .contains("has no credential"));
    a.azure_federated_token = Some(Secret::new("eyJhbGciOi"));
    assert!(matches!(
        Settings::from_args(&a).unwrap().azure.credential,
        AzureCredential::FederatedToken { .. }
    ));
    a.azure_environment = Some("AzureChinaCloud".into());
    let s = Settings::from_args(&a).unwrap();
    assert_eq!(
        s.azure.authority_host.as_str(),
        "https://login.chinacloudapi.cn/"
    );
    a.azure_environment = Some("AzureGermanCloud".into());
    assert!(Settings::from_args(&a)
        .unwrap_err()
        .to_string()
        .contains("AZURE_ENVIRONMENT"));
}
