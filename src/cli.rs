//! The command line: every step input is a flag that also reads the environment variable the
//! contract names, so the step template only has to export variables.
//!
//! Values arrive here as raw text. [`crate::settings`] validates them, so that every error can
//! name the Octopus parameter a user sees in the UI rather than a flag they never typed.

use crate::redacted::{Redactor, Secret};
use clap::{Args, Parser, Subcommand};

/// What `--help` says after the options (a literal, so builds with the demo can add to it).
macro_rules! after_help {
    () => {
        "Run without a subcommand, this is the Octopus step: inputs come from the environment \
                  (VMSS_* as the step template sets them, AZURE_* for the Azure account, OCTOPUS_* for the run). \
                  Exit codes: 0 done, 1 the step failed, 2 invalid input (nothing was contacted).\n\n\
                  A target is removed only when its VM is gone, or when it matches no VM and its name is one of \
                  the scale sets' computer name prefixes followed by exactly 6 letters or digits; others that match \
                  no VM are kept as another machine's. A computer name that several VMs report (specialized images) \
                  is never removed, and deployed to only while every VM with it is ready.\n\n\
                  Later steps should run only on the chosen targets. Use exact membership, not `Contains` \
                  (a substring test: Machines-1 is in Machines-10): \
                  #{each id in Octopus.Action[STEP].Output.VMSSDeploymentTargetIds}#{if id == Octopus.Machine.Id}True#{/if}#{/each}"
    };
}

/// What `--version` prints after the name: the version and the platform this binary was built
/// for (`0.1.0 (aarch64-linux)`), so a log shows which of the package's binaries ran.
pub fn version() -> &'static str {
    static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        use std::env::consts::{ARCH, OS};
        format!("{} ({ARCH}-{OS})", env!("CARGO_PKG_VERSION"))
    });
    &VERSION
}

/// Command-line arguments of `vmss-check`.
#[derive(Parser)]
#[command(
    name = "vmss-check",
    version = version(),
    about = "Waits for an Azure VM Scale Set to settle, removes the Octopus targets of VMs that are gone, \
             and tells the rest of the deployment which targets to deploy to.",
    long_about = None,
)]
#[cfg_attr(
    feature = "sim",
    command(after_help = concat!(after_help!(), "\n\nTry `vmss-check demo` to watch a simulated scale-out."))
)]
#[cfg_attr(not(feature = "sim"), command(after_help = after_help!()))]
pub struct Cli {
    /// What to run; the step itself when omitted.
    #[cfg(feature = "sim")]
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The step's inputs.
    #[command(flatten)]
    pub step: StepArgs,
}

/// Subcommands besides the step itself.
#[derive(Subcommand)]
pub enum Command {
    /// Run the step against a simulated Azure and Octopus playing a scale-out, then summarise.
    #[cfg(feature = "sim")]
    Demo(DemoArgs),
}

/// Options of `vmss-check demo`.
#[cfg(feature = "sim")]
#[derive(Args)]
pub struct DemoArgs {
    /// Seconds between checks in the demo (the real step's default is 10).
    #[arg(long, default_value = "1")]
    pub poll_interval: String,
    /// Where the step writes its decision record (JSON and HTML) [default: a new directory
    /// under the system's temporary directory]
    #[arg(long)]
    pub report_dir: Option<std::path::PathBuf>,
}

/// The environment variables that hold secrets.
const SECRET_VARIABLES: [&str; 3] = [
    "VMSS_OCTOPUS_APIKEY",
    "AZURE_CLIENT_SECRET",
    "AZURE_FEDERATED_TOKEN",
];

/// A redactor for the secrets in the environment, for use before the command line is parsed
/// (clap's errors may quote a stray argument).
pub fn secrets_in_environment() -> Redactor {
    let mut r = Redactor::default();
    for v in SECRET_VARIABLES
        .iter()
        .filter_map(|name| std::env::var(name).ok())
    {
        r.add(&Secret::new(v));
    }
    r
}

/// Parses a secret without ever holding it in a type that prints.
fn secret(value: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(value))
}

/// The step's inputs, raw. Names follow the contract: `VMSS.Timeout.Value` is `VMSS_TIMEOUT_VALUE`.
#[derive(Args, Default)]
pub struct StepArgs {
    /// VMSS.ScaleSet.Name: the scale set to wait for, or a comma list of them; `group/name` names a set in another resource group.
    #[arg(long, env = "VMSS_SCALESET_NAME", global = false)]
    pub scale_set_name: Option<String>,
    /// VMSS.ResourceGroup.Name: the scale set's resource group.
    #[arg(long, env = "VMSS_RESOURCEGROUP_NAME")]
    pub resource_group_name: Option<String>,
    /// VMSS.DeploymentTarget.Roles: comma list of target tags (roles); a target belongs to the scale set only with all of them.
    #[arg(long, env = "VMSS_DEPLOYMENTTARGET_ROLES")]
    pub roles: Option<String>,
    /// VMSS.Octopus.Url: the Octopus Server, with its path prefix if it has one, and no user
    /// name or password in it.
    #[arg(long, env = "VMSS_OCTOPUS_URL")]
    pub octopus_url: Option<String>,
    /// VMSS.Octopus.ApiKey: an API key (API-..., sent as X-Octopus-ApiKey) or an access token
    /// (a JWT, sent as Authorization: Bearer), such as
    /// #{Octopus.Action[Authenticate with OIDC].Output.AccessToken} from the step "Octopus -
    /// Authenticate with OIDC". Its user needs target view/delete, task and event view, task
    /// cancel, in this space, environment and tenant (checked before the wait).
    #[arg(long, env = "VMSS_OCTOPUS_APIKEY", hide_env_values = true, value_parser = secret)]
    pub octopus_api_key: Option<Secret>,
    /// VMSS.Timeout.Value: minutes to wait for the scale set to settle (decimals allowed) [default: 30]
    #[arg(long, env = "VMSS_TIMEOUT_VALUE")]
    pub timeout: Option<String>,
    /// VMSS.Timeout.ErrorHandle: `Proceed` or `Error` when the wait times out [default: Proceed]
    #[arg(long, env = "VMSS_TIMEOUT_ERRORHANDLE")]
    pub timeout_handle: Option<String>,
    /// VMSS.Duplicate.TimeInMinutes: a triggered run queued this soon after the previous run finished is a duplicate [default: 3]
    #[arg(long, env = "VMSS_DUPLICATE_TIMEINMINUTES")]
    pub duplicate_minutes: Option<String>,
    /// VMSS.Duplicate.Handle: `Proceed` or `Cancel` a duplicate run [default: Proceed]
    #[arg(long, env = "VMSS_DUPLICATE_HANDLE")]
    pub duplicate_handle: Option<String>,
    /// VMSS.OldServers.ExcludeFromOutput: `Yes` leaves targets that existed before the scale-out out of the output [default: No]
    #[arg(long, env = "VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT")]
    pub exclude_old: Option<String>,
    /// VMSS.OldServers.TimeInMinutes: a target created more than this before the run was queued is pre-existing [default: 3]
    #[arg(long, env = "VMSS_OLDSERVERS_TIMEINMINUTES")]
    pub old_minutes: Option<String>,
    /// VMSS.Reconcile.DryRun: `Yes` reports what would be removed and removes nothing [default: No]
    #[arg(long, env = "VMSS_RECONCILE_DRYRUN")]
    pub dry_run: Option<String>,
    /// VMSS.Report.Artifacts: `No` writes no decision record (JSON and HTML artifacts) [default: Yes]
    #[arg(long, env = "VMSS_REPORT_ARTIFACTS")]
    pub report_artifacts: Option<String>,
    /// VMSS.Poll.Interval: seconds between checks (decimals allowed, at least 0.1)
    /// [default: 10]
    #[arg(long, env = "VMSS_POLL_INTERVAL")]
    pub poll_interval: Option<String>,

    /// Longest wait for one HTTP request, in seconds [default: 30]. For tests.
    #[arg(long, env = "VMSS_CHECK_REQUEST_TIMEOUT", hide = true)]
    pub request_timeout: Option<String>,
    /// How long the work after the wait may run past the deadline, in seconds [default: 120].
    /// For tests.
    #[arg(long, env = "VMSS_CHECK_OVERRUN", hide = true)]
    pub overrun: Option<String>,

    /// How long a minute of Azure's read-budget windows lasts, in seconds [default: 60]. For
    /// tests and benchmarks against the simulator, whose windows are shortened alike.
    #[arg(long, env = "VMSS_CHECK_MINUTE", hide = true)]
    pub minute: Option<String>,

    /// The Azure subscription holding the scale set.
    #[arg(long, env = "AZURE_SUBSCRIPTION_ID", help_heading = "Azure account")]
    pub azure_subscription_id: Option<String>,
    /// The Azure AD tenant of the account.
    #[arg(long, env = "AZURE_TENANT_ID", help_heading = "Azure account")]
    pub azure_tenant_id: Option<String>,
    /// The account's application (client) id.
    #[arg(long, env = "AZURE_CLIENT_ID", help_heading = "Azure account")]
    pub azure_client_id: Option<String>,
    /// The account's client secret (or use a federated token).
    #[arg(long, env = "AZURE_CLIENT_SECRET", hide_env_values = true, value_parser = secret, help_heading = "Azure account")]
    pub azure_client_secret: Option<Secret>,
    /// A federated (OIDC) token, as Octopus Azure OIDC accounts provide.
    #[arg(long, env = "AZURE_FEDERATED_TOKEN", hide_env_values = true, value_parser = secret, help_heading = "Azure account")]
    pub azure_federated_token: Option<Secret>,
    /// A file holding the federated token.
    #[arg(
        long,
        env = "AZURE_FEDERATED_TOKEN_FILE",
        help_heading = "Azure account"
    )]
    pub azure_federated_token_file: Option<String>,
    /// AzureCloud, AzureChinaCloud or AzureUSGovernment [default: AzureCloud]
    #[arg(long, env = "AZURE_ENVIRONMENT", help_heading = "Azure account")]
    pub azure_environment: Option<String>,
    /// Overrides the cloud's Azure AD endpoint.
    #[arg(long, env = "AZURE_AUTHORITY_HOST", help_heading = "Azure account")]
    pub azure_authority_host: Option<String>,
    /// Overrides the cloud's Resource Manager endpoint.
    #[arg(
        long,
        env = "AZURE_RESOURCE_MANAGER_URL",
        help_heading = "Azure account"
    )]
    pub azure_resource_manager_url: Option<String>,

    /// Octopus.Space.Id of the run.
    #[arg(long, env = "OCTOPUS_SPACE_ID", help_heading = "Octopus run")]
    pub space_id: Option<String>,
    /// Octopus.Environment.Id of the run.
    #[arg(long, env = "OCTOPUS_ENVIRONMENT_ID", help_heading = "Octopus run")]
    pub environment_id: Option<String>,
    /// Octopus.Project.Id of the run.
    #[arg(long, env = "OCTOPUS_PROJECT_ID", help_heading = "Octopus run")]
    pub project_id: Option<String>,
    /// Octopus.Deployment.Id (deployments only).
    #[arg(long, env = "OCTOPUS_DEPLOYMENT_ID", help_heading = "Octopus run")]
    pub deployment_id: Option<String>,
    /// Octopus.Deployment.Tenant.Id (tenanted runs only).
    #[arg(
        long,
        env = "OCTOPUS_DEPLOYMENT_TENANT_ID",
        help_heading = "Octopus run"
    )]
    pub tenant_id: Option<String>,
    /// Octopus.Deployment.Trigger.Id (set only when a trigger created the run).
    #[arg(
        long,
        env = "OCTOPUS_DEPLOYMENT_TRIGGER_ID",
        help_heading = "Octopus run"
    )]
    pub trigger_id: Option<String>,
    /// Octopus.Deployment.Trigger.Name.
    #[arg(
        long,
        env = "OCTOPUS_DEPLOYMENT_TRIGGER_NAME",
        help_heading = "Octopus run"
    )]
    pub trigger_name: Option<String>,
    /// Octopus.Task.Id of the run.
    #[arg(long, env = "OCTOPUS_TASK_ID", help_heading = "Octopus run")]
    pub task_id: Option<String>,
    /// Octopus.RunbookRun.Id (runbook runs only).
    #[arg(long, env = "OCTOPUS_RUNBOOKRUN_ID", help_heading = "Octopus run")]
    pub runbook_run_id: Option<String>,
    /// Octopus.Runbook.Id (runbook runs only).
    #[arg(long, env = "OCTOPUS_RUNBOOK_ID", help_heading = "Octopus run")]
    pub runbook_id: Option<String>,
    /// Octopus.Release.Id (deployments only).
    #[arg(long, env = "OCTOPUS_RELEASE_ID", help_heading = "Octopus run")]
    pub release_id: Option<String>,
}

impl StepArgs {
    /// A redactor for the raw secrets, usable before validation (so even an input error that
    /// quotes a value pasted into the wrong field cannot print a secret).
    pub fn redactor(&self) -> Redactor {
        let mut r = Redactor::default();
        for s in [
            &self.octopus_api_key,
            &self.azure_client_secret,
            &self.azure_federated_token,
        ]
        .into_iter()
        .flatten()
        {
            r.add(s);
        }
        r
    }
}
