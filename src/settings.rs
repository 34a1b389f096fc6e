//! Validated step inputs.
//!
//! Everything is checked here, before any network request, and every message names the Octopus
//! parameter (`VMSS.Timeout.Value`) because that is where the user will go to fix it.

use crate::cli::StepArgs;
use crate::error::Error;
use crate::redacted::{Redactor, Secret};
use crate::signin::OctopusCredential;
use std::time::Duration;
use url::Url;

/// The Octopus parameter that holds the Azure account; named in errors about `AZURE_*` values.
const AZURE_ACCOUNT: &str = "VMSS.Azure.Account";
/// The longest wait or window we accept, so that durations never overflow (a week).
const MAX_MINUTES: f64 = 7.0 * 24.0 * 60.0;
/// The shortest `VMSS.Poll.Interval`: below it the step would read Azure's shared budget as
/// fast as Azure answers (`1e-300` parses, and is 0 s).
pub const MIN_POLL_SECONDS: f64 = 0.1;

/// Collects input problems while parsing goes on.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn take<T>(&mut self, r: Result<T, String>) -> Option<T> {
        r.map_err(|p| self.0.push(p)).ok()
    }
}

/// The Octopus sign-in: required, an API key or an access token, and never quoted back, even
/// when malformed.
fn parse_api_key(key: Option<&Secret>) -> Result<OctopusCredential, String> {
    match key.map(|k| k.expose().trim()) {
        None | Some("") => Err("VMSS.Octopus.ApiKey is required: give the API key (API-...) of a service account that can view and delete deployment targets, or an access token from the step \"Octopus - Authenticate with OIDC\".".into()),
        Some(k) if k.get(..7).is_some_and(|p| p.eq_ignore_ascii_case("bearer ")) => Err(
            "VMSS.Octopus.ApiKey starts with \"Bearer \": give the access token alone (the step adds the word).".into(),
        ),
        Some(k) if !k.chars().all(|c| c.is_ascii_graphic()) => Err(
            "VMSS.Octopus.ApiKey holds spaces or characters an API key cannot have: paste the key again (API-...).".into(),
        ),
        Some(k) => OctopusCredential::parse(k)
            .map_err(|why| format!("{why}: {}.", crate::signin::TOKEN_BINDING)),
    }
}

/// What to do when the wait times out (`VMSS.Timeout.ErrorHandle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutHandle {
    /// Reconcile anyway, leaving instances that are still changing alone.
    Proceed,
    /// Fail the step and remove nothing.
    Error,
}

/// What to do with a duplicate trigger run (`VMSS.Duplicate.Handle`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuplicateHandle {
    /// Carry on waiting and reconciling, with no targets in the output.
    Proceed,
    /// Ask Octopus to cancel this run's task.
    Cancel,
}

/// How the step signs in to Azure AD.
#[derive(Debug, Clone)]
pub enum AzureCredential {
    /// An app registration's client secret.
    ClientSecret(Secret),
    /// A federated (OIDC) token, exchanged for an access token. When it came from a file, the
    /// file is read again for each new access token (whoever issued it may have renewed it).
    FederatedToken {
        /// The token as first read.
        token: Secret,
        /// `AZURE_FEDERATED_TOKEN_FILE`, when the token came from one.
        file: Option<std::path::PathBuf>,
    },
}

/// Where and as whom the step talks to Azure.
#[derive(Debug, Clone)]
pub struct AzureSettings {
    /// The subscription holding the scale set.
    pub subscription_id: String,
    /// The Azure AD tenant.
    pub tenant_id: String,
    /// The application (client) id.
    pub client_id: String,
    /// Secret or federated token.
    pub credential: AzureCredential,
    /// Azure AD endpoint, e.g. `https://login.microsoftonline.com/`.
    pub authority_host: Url,
    /// Resource Manager endpoint, e.g. `https://management.azure.com/`.
    pub resource_manager: Url,
}

/// The Octopus run this step is part of (system variables).
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// `Octopus.Space.Id`; absent on servers older than spaces.
    pub space_id: Option<String>,
    /// `Octopus.Environment.Id`: targets outside it are never touched.
    pub environment_id: String,
    /// `Octopus.Project.Id`.
    pub project_id: Option<String>,
    /// `Octopus.Deployment.Id`; a deployment has it, a runbook run does not.
    pub deployment_id: Option<String>,
    /// `Octopus.Deployment.Tenant.Id`, for tenanted runs.
    pub tenant_id: Option<String>,
    /// `Octopus.Deployment.Trigger.Id`: only a triggered run can be a duplicate.
    pub trigger_id: Option<String>,
    /// `Octopus.Deployment.Trigger.Name`, for messages.
    pub trigger_name: Option<String>,
    /// `Octopus.Task.Id`: the task to cancel for a duplicate.
    pub task_id: Option<String>,
    /// `Octopus.RunbookRun.Id`, for runbook runs.
    pub runbook_run_id: Option<String>,
    /// `Octopus.Runbook.Id`, for runbook runs.
    pub runbook_id: Option<String>,
    /// `Octopus.Release.Id`.
    pub release_id: Option<String>,
}

/// One scale set the step waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScaleSetRef {
    /// Its resource group: `VMSS.ResourceGroup.Name`, or the `group/` of its entry.
    pub resource_group: String,
    /// Its name.
    pub name: String,
}

impl std::fmt::Display for ScaleSetRef {
    /// The scale set's name, as users know it (the group is said where it matters).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)
    }
}

/// Every input of the step, checked.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `VMSS.ScaleSet.Name`: one or more scale sets, in the order given.
    pub scale_sets: Vec<ScaleSetRef>,
    /// `VMSS.ResourceGroup.Name`: the group of entries that name none.
    pub resource_group: String,
    /// `VMSS.DeploymentTarget.Roles`: a target needs all of them.
    pub roles: Vec<String>,
    /// `VMSS.Octopus.Url`, always ending in `/` so relative API paths go under its prefix.
    pub octopus_url: Url,
    /// `VMSS.Octopus.ApiKey`: an API key or an access token.
    pub octopus_credential: OctopusCredential,
    /// `VMSS.Timeout.Value`: one deadline for the whole wait.
    pub timeout: Duration,
    /// `VMSS.Timeout.ErrorHandle`.
    pub timeout_handle: TimeoutHandle,
    /// `VMSS.Duplicate.TimeInMinutes`.
    pub duplicate_window: Duration,
    /// `VMSS.Duplicate.Handle`.
    pub duplicate_handle: DuplicateHandle,
    /// `VMSS.OldServers.ExcludeFromOutput`.
    pub exclude_old: bool,
    /// `VMSS.OldServers.TimeInMinutes`.
    pub old_window: Duration,
    /// `VMSS.Reconcile.DryRun`.
    pub dry_run: bool,
    /// `VMSS.Report.Artifacts`: write the decision record and attach it to the task.
    pub report_artifacts: bool,
    /// `VMSS.Poll.Interval`.
    pub poll_interval: Duration,
    /// Longest wait for one HTTP request (`VMSS_CHECK_REQUEST_TIMEOUT`, a test knob).
    pub request_timeout: Duration,
    /// How long the work after the wait may run past the deadline (`VMSS_CHECK_OVERRUN`, a
    /// test knob): the contract's 2 minutes.
    pub overrun: Duration,
    /// A minute of Azure's read-budget windows (`VMSS_CHECK_MINUTE`, a test knob).
    pub minute: Duration,
    /// The Azure account.
    pub azure: AzureSettings,
    /// The Octopus run.
    pub run: RunContext,
}

impl Settings {
    /// Checks every input. All problems are reported together, in one [`Error::Input`], so a
    /// user fixes them in one round trip rather than one per run.
    pub fn from_args(args: &StepArgs) -> Result<Settings, Error> {
        // An input still holding `#{...}` is a variable Octopus had no value for: say that, not
        // whatever the text breaks further down ("must be an http(s) address").
        let unsubstituted: Vec<String> = raw_inputs(args)
            .into_iter()
            .filter_map(|(parameter, value)| {
                unsubstituted(parameter, value?, SECRET_INPUTS.contains(&parameter))
            })
            .collect();
        if !unsubstituted.is_empty() {
            return Err(Error::Input(unsubstituted.join("\n")));
        }
        let mut p = Problems::default();
        let resource_group = p.take(required(
            &args.resource_group_name,
            "VMSS.ResourceGroup.Name",
        ));
        let scale_sets = p.take(parse_scale_sets(
            args.scale_set_name.as_deref(),
            resource_group.as_deref().unwrap_or(""),
        ));
        let roles = p.take(parse_roles(args.roles.as_deref()));
        let octopus_url = p.take(parse_octopus_url(args.octopus_url.as_deref()));
        let api_key = p.take(parse_api_key(args.octopus_api_key.as_ref()));
        let timeout = p.take(minutes(args.timeout.as_deref(), "VMSS.Timeout.Value", 30.0));
        let timeout_handle = p.take(choice(
            args.timeout_handle.as_deref(),
            "VMSS.Timeout.ErrorHandle",
            &[
                ("proceed", TimeoutHandle::Proceed),
                ("error", TimeoutHandle::Error),
            ],
            TimeoutHandle::Proceed,
        ));
        let duplicate_window = p.take(minutes(
            args.duplicate_minutes.as_deref(),
            "VMSS.Duplicate.TimeInMinutes",
            3.0,
        ));
        let duplicate_handle = p.take(choice(
            args.duplicate_handle.as_deref(),
            "VMSS.Duplicate.Handle",
            &[
                ("proceed", DuplicateHandle::Proceed),
                ("cancel", DuplicateHandle::Cancel),
            ],
            DuplicateHandle::Proceed,
        ));
        let exclude_old = p.take(yes_no(
            args.exclude_old.as_deref(),
            "VMSS.OldServers.ExcludeFromOutput",
        ));
        let old_window = p.take(minutes(
            args.old_minutes.as_deref(),
            "VMSS.OldServers.TimeInMinutes",
            3.0,
        ));
        let dry_run = p.take(yes_no(args.dry_run.as_deref(), "VMSS.Reconcile.DryRun"));
        let report_artifacts = p.take(yes_no(
            present(&args.report_artifacts).or(Some("Yes")),
            "VMSS.Report.Artifacts",
        ));
        let poll_interval = p.take(poll_seconds(args.poll_interval.as_deref()));
        let request_timeout = p.take(knob_seconds(
            args.request_timeout.as_deref(),
            "VMSS_CHECK_REQUEST_TIMEOUT",
            crate::http::REQUEST_TIMEOUT,
        ));
        let overrun = p.take(knob_seconds(
            args.overrun.as_deref(),
            "VMSS_CHECK_OVERRUN",
            Duration::from_secs(120),
        ));
        let minute = p.take(knob_seconds(
            args.minute.as_deref(),
            "VMSS_CHECK_MINUTE",
            Duration::from_secs(60),
        ));
        let azure = p.take(parse_azure(args));
        let run = p.take(parse_run(args));
        if !p.0.is_empty() {
            return Err(Error::Input(p.0.join("\n")));
        }
        // Every value is Some here: each None recorded a problem above.
        let missing = || Error::Input("internal: an input was neither valid nor reported".into());
        Ok(Settings {
            scale_sets: scale_sets.ok_or_else(missing)?,
            resource_group: resource_group.ok_or_else(missing)?,
            roles: roles.ok_or_else(missing)?,
            octopus_url: octopus_url.ok_or_else(missing)?,
            octopus_credential: api_key.ok_or_else(missing)?,
            timeout: timeout.ok_or_else(missing)?,
            timeout_handle: timeout_handle.ok_or_else(missing)?,
            duplicate_window: duplicate_window.ok_or_else(missing)?,
            duplicate_handle: duplicate_handle.ok_or_else(missing)?,
            exclude_old: exclude_old.ok_or_else(missing)?,
            old_window: old_window.ok_or_else(missing)?,
            dry_run: dry_run.ok_or_else(missing)?,
            report_artifacts: report_artifacts.ok_or_else(missing)?,
            poll_interval: poll_interval.ok_or_else(missing)?,
            request_timeout: request_timeout.ok_or_else(missing)?,
            overrun: overrun.ok_or_else(missing)?,
            minute: minute.ok_or_else(missing)?,
            azure: azure.ok_or_else(missing)?,
            run: run.ok_or_else(missing)?,
        })
    }

    /// A redactor that knows every secret among these settings.
    pub fn redactor(&self) -> Redactor {
        let mut r = Redactor::default();
        r.add(self.octopus_credential.secret());
        match &self.azure.credential {
            AzureCredential::ClientSecret(s) | AzureCredential::FederatedToken { token: s, .. } => {
                r.add(s)
            }
        }
        r
    }
}

fn exposed(s: &Option<Secret>) -> Option<&str> {
    s.as_ref().map(Secret::expose)
}

/// Every input with the name its user knows it by: the Octopus parameter, the Azure account
/// parameter for `AZURE_*`, the system variable for the run's context.
fn raw_inputs(args: &StepArgs) -> Vec<(&'static str, Option<&str>)> {
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
fn variable_of(expression: &str) -> &str {
    let e = expression.trim();
    let e = ["if ", "unless ", "each "]
        .iter()
        .find_map(|k| e.strip_prefix(k))
        .unwrap_or(e);
    let e = e.split(" in ").last().unwrap_or(e);
    e.split('|').next().unwrap_or(e).trim()
}

/// Where a variable gets its value, for the error that says it had none.
fn where_set(variable: &str) -> String {
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
fn step_output(variable: &str) -> Option<(&str, &str)> {
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
fn unsubstituted(parameter: &str, value: &str, secret: bool) -> Option<String> {
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
const SECRET_INPUTS: [&str; 3] = [
    "VMSS.Octopus.ApiKey",
    "VMSS.Azure.Account (AZURE_CLIENT_SECRET)",
    "VMSS.Azure.Account (AZURE_FEDERATED_TOKEN)",
];

fn upper_first(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

fn required(value: &Option<String>, parameter: &str) -> Result<String, String> {
    present(value)
        .map(str::to_string)
        .ok_or_else(|| format!("{parameter} is required but was empty."))
}

/// Characters no Azure resource or group name has, and that would change the meaning of a
/// request path if they slipped into one.
const NOT_IN_A_NAME: &[char] = &['/', '\\', '?', '#', '%', '&', ' ', '\t', '\'', '"'];

/// Splits `VMSS.ScaleSet.Name`: a comma list of scale sets, each `name` (in `default_group`)
/// or `group/name`. Blanks are ignored and repeats (ignoring case) dropped.
pub fn parse_scale_sets(
    value: Option<&str>,
    default_group: &str,
) -> Result<Vec<ScaleSetRef>, String> {
    let mut out: Vec<ScaleSetRef> = Vec::new();
    for entry in value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let (group, name) = match entry.split_once('/') {
            Some((g, n)) => (g.trim(), n.trim()),
            None => (default_group, entry),
        };
        if group.is_empty() && entry.contains('/')
            || name.is_empty()
            || [group, name].iter().any(|p| p.contains(NOT_IN_A_NAME))
        {
            return Err(format!(
                "VMSS.ScaleSet.Name has an entry \"{entry}\" that is neither a scale set name nor resource-group/name: separate scale sets with commas, e.g. vmss-web, rg-other/vmss-api."
            ));
        }
        let set = ScaleSetRef {
            resource_group: group.to_string(),
            name: name.to_string(),
        };
        let same = |s: &ScaleSetRef| {
            s.name.eq_ignore_ascii_case(&set.name)
                && s.resource_group.eq_ignore_ascii_case(&set.resource_group)
        };
        if !out.iter().any(same) {
            out.push(set);
        }
    }
    if out.is_empty() {
        return Err("VMSS.ScaleSet.Name is required but was empty: give the scale set's name, or a comma list of them.".into());
    }
    Ok(out)
}

/// Splits the roles list: commas, blanks ignored, duplicates dropped (case-insensitively).
pub fn parse_roles(value: Option<&str>) -> Result<Vec<String>, String> {
    let mut roles: Vec<String> = Vec::new();
    for role in value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
    {
        if !roles.iter().any(|r| r.eq_ignore_ascii_case(role)) {
            roles.push(role.to_string());
        }
    }
    if roles.is_empty() {
        return Err("VMSS.DeploymentTarget.Roles is required: give the target roles (comma-separated) that every VM of the scale set registers with.".into());
    }
    Ok(roles)
}

/// Parses `VMSS.Octopus.Url` once, with the parser that makes the requests: reqwest takes a
/// `url::Url` (the WHATWG URL standard), and this `Url` is the one every Octopus request and
/// the decision record use. So user information is refused as that parser reads it, not as the
/// text looks: `http:\\u:pw@host`, `http:u:pw@host`, `http:/u:pw@host` and `http:/<TAB>/u:pw@host`
/// are all `http://u:pw@host/` to it, and would send Basic auth with every request.
fn parse_octopus_url(value: Option<&str>) -> Result<Url, String> {
    let raw = value.map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Err("VMSS.Octopus.Url is required: give the Octopus Server's address, e.g. https://octopus.example.com (the default #{Octopus.Web.ServerUri} works when it is set).".into());
    }
    const USER_INFO: &str = "VMSS.Octopus.Url must not carry a user name or password";
    const FIX: &str =
        "the step signs in with VMSS.Octopus.ApiKey only. Remove the part before '@'.";
    let not_http = || {
        format!(
            "VMSS.Octopus.Url must be an http(s) address such as https://octopus.example.com, got {}.",
            shown(raw)
        )
    };
    let Ok(mut url) = Url::parse(raw) else {
        // Too broken to parse, so no request would be sent; still never echo what may be a
        // password.
        return Err(match without_user_info(raw) {
            Some(redacted) => format!("{USER_INFO} (got \"{redacted}\"): {FIX}"),
            None => not_http(),
        });
    };
    // A user name or password would travel with every request and be written into the
    // decision record: refused, and shown only with `***` in its place.
    if !url.username().is_empty() || url.password().is_some() {
        let mut redacted = url.clone();
        let _ = redacted.set_password(None);
        let _ = redacted.set_username("***");
        return Err(format!("{USER_INFO} (got \"{redacted}\"): {FIX}"));
    }
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(not_http());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "VMSS.Octopus.Url must be the server's address without a query or fragment, got \"{}\".",
            url.origin().ascii_serialization()
        ));
    }
    // A trailing `/api` is a common slip: the API paths are added here.
    let trimmed = url.path().trim_end_matches('/').to_string();
    let path = trimmed.strip_suffix("/api").unwrap_or(&trimmed);
    url.set_path(&format!("{path}/"));
    Ok(url)
}

/// `raw` in quotes for an error message, unless it holds an `@`: then whatever precedes it may
/// be a password (`mailto:u:pw@host` is no http URL, yet the text is still secret).
fn shown(raw: &str) -> String {
    if raw.contains('@') {
        "a value holding '@' (not shown: what precedes it may be a password)".into()
    } else {
        format!("\"{raw}\"")
    }
}

/// `raw` with its user information replaced by `***`, when it has any: the part between
/// `scheme://` and an `@` before the host's end (`https://:pw@host`, `https://user@host`).
/// Read from the text, for a URL too broken to parse (`https://pw@[broken`).
fn without_user_info(raw: &str) -> Option<String> {
    let (scheme, rest) = raw.split_once("://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@')?;
    Some(format!("{scheme}://***@{}", &rest[at + 1..]))
}

/// Parses minutes (decimals allowed) into a duration.
pub fn minutes(value: Option<&str>, parameter: &str, default: f64) -> Result<Duration, String> {
    let n = number(value, default).ok_or_else(|| {
        format!(
            "{parameter} must be a number of minutes, got \"{}\".",
            value.unwrap_or("").trim()
        )
    })?;
    if !(0.0..=MAX_MINUTES).contains(&n) {
        return Err(format!(
            "{parameter} must be between 0 and {MAX_MINUTES} minutes, got {n}."
        ));
    }
    Ok(Duration::from_secs_f64(n * 60.0))
}

fn poll_seconds(value: Option<&str>) -> Result<Duration, String> {
    let n = number(value, 10.0).ok_or_else(|| {
        format!(
            "VMSS.Poll.Interval must be a number of seconds, got \"{}\".",
            value.unwrap_or("").trim()
        )
    })?;
    if !(MIN_POLL_SECONDS..=3600.0).contains(&n) {
        return Err(format!(
            "VMSS.Poll.Interval must be at least {MIN_POLL_SECONDS} and at most 3600 seconds, got {n}: it is the time between two checks of the scale sets (10 is the default)."
        ));
    }
    Ok(Duration::from_secs_f64(n))
}

/// A test knob in seconds: more than 0, at most the default (a knob may only shorten).
fn knob_seconds(
    value: Option<&str>,
    variable: &str,
    default: Duration,
) -> Result<Duration, String> {
    let max = default.as_secs_f64();
    match number(value, max) {
        Some(n) if n > 0.0 && n <= max => Ok(Duration::from_secs_f64(n)),
        _ => Err(format!(
            "{variable} must be a number of seconds above 0 and at most {max}, got \"{}\".",
            value.unwrap_or("").trim()
        )),
    }
}

/// A decimal number; blank means the default. Accepts a decimal comma too (`0,5`), as typed in
/// many locales.
fn number(value: Option<&str>, default: f64) -> Option<f64> {
    let raw = value.map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Some(default);
    }
    let n: f64 = raw.replace(',', ".").parse().ok()?;
    n.is_finite().then_some(n)
}

fn choice<T: Copy>(
    value: Option<&str>,
    parameter: &str,
    options: &[(&str, T)],
    default: T,
) -> Result<T, String> {
    let raw = value.map(str::trim).unwrap_or("");
    if raw.is_empty() {
        return Ok(default);
    }
    options
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(raw))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<String> = options.iter().map(|(n, _)| capitalise(n)).collect();
            format!("{parameter} must be {}, got \"{raw}\".", names.join(" or "))
        })
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// `Yes`/`No` (also `True`/`False`), any case; blank means No.
pub fn yes_no(value: Option<&str>, parameter: &str) -> Result<bool, String> {
    match value
        .map(str::trim)
        .unwrap_or("")
        .to_ascii_lowercase()
        .as_str()
    {
        "" | "no" | "false" => Ok(false),
        "yes" | "true" => Ok(true),
        other => Err(format!("{parameter} must be Yes or No, got \"{other}\".")),
    }
}

/// Endpoints of the clouds Octopus Azure accounts can name.
fn cloud(name: &str) -> Option<(&'static str, &'static str)> {
    match name.to_ascii_lowercase().as_str() {
        "" | "azurecloud" | "azureglobalcloud" => Some((
            "https://login.microsoftonline.com/",
            "https://management.azure.com/",
        )),
        "azurechinacloud" => Some((
            "https://login.chinacloudapi.cn/",
            "https://management.chinacloudapi.cn/",
        )),
        "azureusgovernment" => Some((
            "https://login.microsoftonline.us/",
            "https://management.usgovcloudapi.net/",
        )),
        _ => None,
    }
}

fn endpoint(value: Option<&str>, default: &str, variable: &str) -> Result<Url, String> {
    let raw = value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(default);
    let mut url = Url::parse(raw)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            format!("{variable} must be an http(s) address (from {AZURE_ACCOUNT}), got \"{raw}\".")
        })?;
    if !url.path().ends_with('/') {
        let p = format!("{}/", url.path());
        url.set_path(&p);
    }
    Ok(url)
}

/// True for a GUID in its usual form, `00000000-0000-0000-0000-000000000000`.
pub fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn parse_azure(args: &StepArgs) -> Result<AzureSettings, String> {
    let subscription_id = present(&args.azure_subscription_id).ok_or_else(|| {
        format!("AZURE_SUBSCRIPTION_ID is required: check the subscription of the Azure account in {AZURE_ACCOUNT}.")
    })?;
    if !is_guid(subscription_id) {
        return Err(format!(
            "AZURE_SUBSCRIPTION_ID must be a subscription id (a GUID), got \"{subscription_id}\": check the Azure account in {AZURE_ACCOUNT}."
        ));
    }
    let tenant_id = present(&args.azure_tenant_id).ok_or_else(|| {
        format!("AZURE_TENANT_ID is required: check the tenant id of the Azure account in {AZURE_ACCOUNT}.")
    })?;
    if tenant_id.contains(['/', '?', '#', ' ']) {
        return Err(format!(
            "AZURE_TENANT_ID must be a tenant id or domain, got \"{tenant_id}\": check the Azure account in {AZURE_ACCOUNT}."
        ));
    }
    let client_id = present(&args.azure_client_id).ok_or_else(|| {
        format!("AZURE_CLIENT_ID is required: check the application id of the Azure account in {AZURE_ACCOUNT}.")
    })?;
    let credential = match (&args.azure_client_secret, &args.azure_federated_token) {
        (Some(s), _) if !s.is_blank() => AzureCredential::ClientSecret(s.clone()),
        (_, Some(t)) if !t.is_blank() => AzureCredential::FederatedToken {
            token: Secret::new(t.expose().trim()),
            file: None,
        },
        _ => match present(&args.azure_federated_token_file) {
            Some(path) => {
                let token = crate::token::read_token_file(path.as_ref()).map_err(|e| {
                    format!("AZURE_FEDERATED_TOKEN_FILE \"{path}\" could not be read ({e}): check the OIDC settings of the Azure account in {AZURE_ACCOUNT}.")
                })?;
                let token = Secret::new(token.trim());
                if token.is_blank() {
                    return Err(format!("AZURE_FEDERATED_TOKEN_FILE \"{path}\" is empty: check the OIDC settings of the Azure account in {AZURE_ACCOUNT}."));
                }
                AzureCredential::FederatedToken {
                    token,
                    file: Some(path.into()),
                }
            }
            None => {
                return Err(format!(
                    "The Azure account has no credential: set AZURE_CLIENT_SECRET, or AZURE_FEDERATED_TOKEN (or AZURE_FEDERATED_TOKEN_FILE) for an OIDC account, from {AZURE_ACCOUNT}."
                ))
            }
        },
    };
    let env_name = present(&args.azure_environment).unwrap_or("");
    let (authority, manager) = cloud(env_name).ok_or_else(|| {
        format!("AZURE_ENVIRONMENT must be AzureCloud, AzureChinaCloud or AzureUSGovernment, got \"{env_name}\": check the Azure account in {AZURE_ACCOUNT}.")
    })?;
    Ok(AzureSettings {
        subscription_id: subscription_id.to_ascii_lowercase(),
        tenant_id: tenant_id.to_string(),
        client_id: client_id.to_string(),
        credential,
        authority_host: endpoint(
            args.azure_authority_host.as_deref(),
            authority,
            "AZURE_AUTHORITY_HOST",
        )?,
        resource_manager: endpoint(
            args.azure_resource_manager_url.as_deref(),
            manager,
            "AZURE_RESOURCE_MANAGER_URL",
        )?,
    })
}

fn parse_run(args: &StepArgs) -> Result<RunContext, String> {
    let opt = |v: &Option<String>| present(v).map(str::to_string);
    let environment_id = opt(&args.environment_id).ok_or(
        "OCTOPUS_ENVIRONMENT_ID is required: the step template sets it from #{Octopus.Environment.Id}; \
         run the step inside an Octopus deployment or runbook run.",
    )?;
    Ok(RunContext {
        space_id: opt(&args.space_id),
        environment_id,
        project_id: opt(&args.project_id),
        deployment_id: opt(&args.deployment_id),
        tenant_id: opt(&args.tenant_id),
        trigger_id: opt(&args.trigger_id),
        trigger_name: opt(&args.trigger_name),
        task_id: opt(&args.task_id),
        runbook_run_id: opt(&args.runbook_run_id),
        runbook_id: opt(&args.runbook_id),
        release_id: opt(&args.release_id),
    })
}

#[cfg(test)]
mod tests {
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
    fn azure_checks() {
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
}
