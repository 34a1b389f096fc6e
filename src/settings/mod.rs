//! Validated step inputs.
//!
//! Everything is checked here, before any network request, and every message names the Octopus
//! parameter (`VMSS.Timeout.Value`) because that is where the user will go to fix it. This
//! module holds the inputs' types and [`Settings::from_args`]; the checks live beside it, one
//! concern each: `values` (numbers, choices, names, the Octopus URL and key), `azure` (the
//! Azure account and its cloud), `unsubstituted` (`#{...}` that reached the step unset).

mod azure;
mod unsubstituted;
mod values;

pub use azure::is_guid;
use azure::parse_azure;
use unsubstituted::{raw_inputs, unsubstituted, SECRET_INPUTS};

use values::{choice, knob_seconds, parse_octopus_url, poll_seconds, present, required};
pub use values::{minutes, parse_roles, parse_scale_sets, yes_no};

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
/// Longest wait for a whole request, body included: a server that accepts and never answers
/// costs at most this much per try (`VMSS_CHECK_REQUEST_TIMEOUT` changes it, a test knob).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

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
            REQUEST_TIMEOUT,
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
mod tests;
