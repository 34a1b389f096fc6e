//! Inputs that still hold `#{...}`: the Octopus variable had no value, and Octopus passed the
//! text through. Which variable, and where it is set.

use super::*;

/// Every input with the name its user knows it by: the Octopus parameter, the Azure account
/// parameter for `AZURE_*`, the system variable for the run's context.
pub(super) fn raw_inputs(args: &StepArgs) -> Vec<(&'static str, Option<&str>)> {
    vec![
        ("VMSS.ScaleSet.Name", args.scale_set_name.as_deref()),
        (
            "VMSS.ResourceGroup.Name",
            args.resource_group_name.as_deref(),
        ),
        ("VMSS.DeploymentTarget.Roles", args.roles.as_deref()),
        ("VMSS.Octopus.Url", args.octopus_url.as_deref()),
        ("VMSS.Octopus.ApiKey", exposed(&args.octopus_api_key)),
        ("VMSS.Timeout.Value", args.timeout.as_deref()),
        ("VMSS.Timeout.ErrorHandle", args.timeout_handle.as_deref()),
        (
            "VMSS.Duplicate.TimeInMinutes",
            args.duplicate_minutes.as_deref(),
        ),
        ("VMSS.Duplicate.Handle", args.duplicate_handle.as_deref()),
        (
            "VMSS.OldServers.ExcludeFromOutput",
            args.exclude_old.as_deref(),
        ),
        ("VMSS.OldServers.TimeInMinutes", args.old_minutes.as_deref()),
        ("VMSS.Reconcile.DryRun", args.dry_run.as_deref()),
        ("VMSS.Report.Artifacts", args.report_artifacts.as_deref()),
        ("VMSS.Poll.Interval", args.poll_interval.as_deref()),
        (
            "VMSS.Azure.Account (AZURE_SUBSCRIPTION_ID)",
            args.azure_subscription_id.as_deref(),
        ),
        (
            "VMSS.Azure.Account (AZURE_TENANT_ID)",
            args.azure_tenant_id.as_deref(),
        ),
        (
            "VMSS.Azure.Account (AZURE_CLIENT_ID)",
            args.azure_client_id.as_deref(),
        ),
        (
            "VMSS.Azure.Account (AZURE_CLIENT_SECRET)",
            exposed(&args.azure_client_secret),
        ),
        (
            "VMSS.Azure.Account (AZURE_FEDERATED_TOKEN)",
            exposed(&args.azure_federated_token),
        ),
        (
            "VMSS.Azure.Account (AZURE_FEDERATED_TOKEN_FILE)",
            args.azure_federated_token_file.as_deref(),
        ),
        (
            "VMSS.Azure.Account (AZURE_ENVIRONMENT)",
            args.azure_environment.as_deref(),
        ),
        (
            "VMSS.Azure.Account (AZURE_AUTHORITY_HOST)",
            args.azure_authority_host.as_deref(),
        ),
        (
            "VMSS.Azure.Account (AZURE_RESOURCE_MANAGER_URL)",
            args.azure_resource_manager_url.as_deref(),
        ),
        ("Octopus.Space.Id", args.space_id.as_deref()),
        ("Octopus.Environment.Id", args.environment_id.as_deref()),
        ("Octopus.Project.Id", args.project_id.as_deref()),
        ("Octopus.Deployment.Id", args.deployment_id.as_deref()),
        ("Octopus.Deployment.Tenant.Id", args.tenant_id.as_deref()),
        ("Octopus.Deployment.Trigger.Id", args.trigger_id.as_deref()),
        (
            "Octopus.Deployment.Trigger.Name",
            args.trigger_name.as_deref(),
        ),
        ("Octopus.Task.Id", args.task_id.as_deref()),
        ("Octopus.RunbookRun.Id", args.runbook_run_id.as_deref()),
        ("Octopus.Runbook.Id", args.runbook_id.as_deref()),
        ("Octopus.Release.Id", args.release_id.as_deref()),
    ]
}

/// The variable an unsubstituted `#{...}` names: `Octopus.Web.ServerUri` of
/// `#{Octopus.Web.ServerUri}`, `#{if Octopus.Web.ServerUri}...` and `#{Name | Filter}`.
pub(super) fn variable_of(expression: &str) -> &str {
    let e = expression.trim();
    let e = ["if ", "unless ", "each "]
        .iter()
        .find_map(|k| e.strip_prefix(k))
        .unwrap_or(e);
    let e = e.split(" in ").last().unwrap_or(e);
    e.split('|').next().unwrap_or(e).trim()
}

/// Where a variable gets its value, for the error that says it had none.
pub(super) fn where_set(variable: &str) -> String {
    let lower = variable.to_ascii_lowercase();
    if lower == "octopus.web.serveruri" {
        "Octopus sets Octopus.Web.ServerUri only once an administrator gives the Server URI (Configuration -> Nodes, on a self-hosted Octopus Server); set it there, or give VMSS.Octopus.Url your Octopus Server's address".into()
    } else if lower == "octopus.web.baseurl" {
        "Octopus.Web.BaseUrl is the Octopus Server's own address; give VMSS.Octopus.Url your Octopus Server's address".into()
    } else if let Some((step, output)) = step_output(variable) {
        let oidc = if output.eq_ignore_ascii_case("AccessToken") {
            " (an access token comes from the step \"Octopus - Authenticate with OIDC\": it must run shortly before this one, in the same deployment)"
        } else {
            ""
        };
        format!("Octopus sets {variable} only once a step named {step} has run before this one in the same deployment and set {output}{oidc}; check the step's name between the brackets, and that it runs first")
    } else if lower.starts_with("octopus.") {
        format!("{variable} is an Octopus system variable that Octopus did not set for this run; check its name (Octopus's system variables documentation lists them), or give the parameter a value")
    } else {
        format!("define {variable} in the project's variables (or a library variable set the project includes), scoped to this environment, or give the parameter a value in the step")
    }
}

/// The step and the variable of an output variable's name, `Octopus.Action[STEP].Output.NAME`.
pub(super) fn step_output(variable: &str) -> Option<(&str, &str)> {
    let rest = variable
        .get(..15)
        .filter(|p| p.eq_ignore_ascii_case("Octopus.Action["))
        .map(|_| &variable[15..])?;
    let (step, after) = rest.split_once(']')?;
    let output = after
        .get(..8)
        .filter(|p| p.eq_ignore_ascii_case(".Output."))
        .map(|_| &after[8..])?;
    Some((step, output))
}

/// The error for an input that reached the step as an Octopus variable expression: Octopus
/// leaves `#{Name}` as it is when `Name` has no value. Secret inputs are never quoted: only
/// the variable's name is said.
pub(super) fn unsubstituted(parameter: &str, value: &str, secret: bool) -> Option<String> {
    let start = value.find("#{")?;
    let end = value[start..].find('}')? + start;
    let variable = variable_of(&value[start + 2..end]);
    let what = if secret {
        format!("{parameter} refers to the Octopus variable {variable}")
    } else {
        format!("{parameter} holds #{{{variable}}}")
    };
    Some(format!(
        "{what}: Octopus had no value for the variable {variable}, so it passed the text through unchanged. {}.",
        upper_first(&where_set(variable))
    ))
}

/// Inputs whose value is a secret: an error about them names the variable, never the value.
pub(super) const SECRET_INPUTS: [&str; 3] = [
    "VMSS.Octopus.ApiKey",
    "VMSS.Azure.Account (AZURE_CLIENT_SECRET)",
    "VMSS.Azure.Account (AZURE_FEDERATED_TOKEN)",
];

pub(super) fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
