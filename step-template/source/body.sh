# vmss-check step template body (Bash). It only maps this step's parameters, the Azure account
# and the run's system variables to the environment vmss-check reads, then runs it: all logic
# lives in the binary. Never turn on xtrace here: the environment holds the API key and secrets.
# shellcheck disable=SC2155 # get_octopusvariable prints "" for an unknown name: no failure to mask.
set -eu

ov() { get_octopusvariable "$1"; }
account="VMSS.Azure.Account"

# Start clean: no Azure credential the worker's own environment holds (a service principal's
# secret or certificate, a user's password, a managed identity's endpoint) may reach the binary
# beside the account's, so a worker can never sign the step in as someone else.
for name in $(compgen -e); do
  case "$name" in AZURE_* | IDENTITY_* | MSI_* | IMDS_*) unset "$name" ;; esac
done

package=$(ov "Octopus.Action.Package[VMSS.Package].ExtractedPath")
if [ -z "$package" ] || [ ! -f "$package/vmss-check" ]; then
  fail_step "The package chosen in VMSS.Package has no vmss-check at its root: choose the VmssCheck package (VmssCheck.<version>.tar.gz)."
fi
# The package holds a binary per processor: pick this worker's.
arch=$(uname -m 2>/dev/null) || arch=""
case "$arch" in
  x86_64 | amd64) bin="$package/vmss-check" ;;
  aarch64 | arm64) bin="$package/vmss-check-arm64" ;;
  *) fail_step "This worker's processor is ${arch:-unknown} (uname -m), and the VmssCheck package has vmss-check for x86_64 and vmss-check-arm64 for aarch64 (arm64) Linux workers: run the step on a worker pool of those, or on Windows workers with the (Windows) template." ;;
esac
if [ ! -f "$bin" ]; then
  fail_step "The package chosen in VMSS.Package has no ${bin##*/} at its root, the binary for $arch workers: choose a VmssCheck package (VmssCheck.<version>.tar.gz) of a release that carries it."
fi

# Make sure the binary runs before handing it any secret. A work directory mounted noexec makes
# every exec fail (exit 126, "Permission denied"): then run a copy from a temporary directory.
runs() {
  chmod +x "$1" 2>/dev/null || true
  local out status=0
  out=$("$1" --version 2>&1) || status=$?
  [ "$status" -eq 0 ] && return 0
  reason=${out##*$'\n'}
  reason=${reason##*: }
  [ -n "$reason" ] || reason="exit code $status"
  return 1
}
reason=""
copy=""
if ! runs "$bin"; then
  why=$reason
  reason="no copy could be made there"
  if copy=$(mktemp -d 2>/dev/null) && cp "$bin" "$copy/vmss-check" 2>/dev/null && runs "$copy/vmss-check"; then
    trap 'rm -rf "$copy"' EXIT
    write_verbose "vmss-check cannot be executed from the package folder ($why): running a copy from $copy."
    bin="$copy/vmss-check"
  else
    [ -z "$copy" ] || rm -rf "$copy"
    fail_step "vmss-check cannot be executed from the package folder $package ($why), nor from a copy in ${TMPDIR:-/tmp} ($reason). Most likely both are on file systems mounted noexec: mount the worker's work directory without noexec, or set TMPDIR for the Tentacle or worker service to a directory on a file system that allows execution."
  fi
fi

export VMSS_SCALESET_NAME="$(ov VMSS.ScaleSet.Name)"
export VMSS_RESOURCEGROUP_NAME="$(ov VMSS.ResourceGroup.Name)"
export VMSS_DEPLOYMENTTARGET_ROLES="$(ov VMSS.DeploymentTarget.Roles)"
export VMSS_OCTOPUS_URL="$(ov VMSS.Octopus.Url)"
export VMSS_OCTOPUS_APIKEY="$(ov VMSS.Octopus.ApiKey)"
export VMSS_TIMEOUT_VALUE="$(ov VMSS.Timeout.Value)"
export VMSS_TIMEOUT_ERRORHANDLE="$(ov VMSS.Timeout.ErrorHandle)"
export VMSS_DUPLICATE_TIMEINMINUTES="$(ov VMSS.Duplicate.TimeInMinutes)"
export VMSS_DUPLICATE_HANDLE="$(ov VMSS.Duplicate.Handle)"
export VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT="$(ov VMSS.OldServers.ExcludeFromOutput)"
export VMSS_OLDSERVERS_TIMEINMINUTES="$(ov VMSS.OldServers.TimeInMinutes)"
export VMSS_RECONCILE_DRYRUN="$(ov VMSS.Reconcile.DryRun)"
export VMSS_POLL_INTERVAL="$(ov VMSS.Poll.Interval)"
export VMSS_REPORT_ARTIFACTS="$(ov VMSS.Report.Artifacts)"

# The Azure account: a client secret, or an OIDC account's federated token.
export AZURE_SUBSCRIPTION_ID="$(ov "$account.SubscriptionNumber")"
export AZURE_TENANT_ID="$(ov "$account.TenantId")"
export AZURE_CLIENT_ID="$(ov "$account.Client")"
jwt="$(ov "$account.OpenIdConnect.Jwt")"
if [ -n "$jwt" ]; then
  export AZURE_FEDERATED_TOKEN="$jwt"
else
  export AZURE_CLIENT_SECRET="$(ov "$account.Password")"
fi
unset jwt
export AZURE_ENVIRONMENT="$(ov "$account.AzureEnvironment")"
export AZURE_RESOURCE_MANAGER_URL="$(ov "$account.ResourceManagementEndpointBaseUri")"
export AZURE_AUTHORITY_HOST="$(ov "$account.ActiveDirectoryEndpointBaseUri")"

# The run this step is part of.
export OCTOPUS_SPACE_ID="$(ov Octopus.Space.Id)"
export OCTOPUS_ENVIRONMENT_ID="$(ov Octopus.Environment.Id)"
export OCTOPUS_PROJECT_ID="$(ov Octopus.Project.Id)"
export OCTOPUS_DEPLOYMENT_ID="$(ov Octopus.Deployment.Id)"
export OCTOPUS_DEPLOYMENT_TENANT_ID="$(ov Octopus.Deployment.Tenant.Id)"
export OCTOPUS_DEPLOYMENT_TRIGGER_ID="$(ov Octopus.Deployment.Trigger.Id)"
export OCTOPUS_DEPLOYMENT_TRIGGER_NAME="$(ov Octopus.Deployment.Trigger.Name)"
export OCTOPUS_TASK_ID="$(ov Octopus.Task.Id)"
export OCTOPUS_RUNBOOKRUN_ID="$(ov Octopus.RunbookRun.Id)"
export OCTOPUS_RUNBOOK_ID="$(ov Octopus.Runbook.Id)"
export OCTOPUS_RELEASE_ID="$(ov Octopus.Release.Id)"

if [ -n "$copy" ]; then
  # Not exec: the EXIT trap removes the copy once vmss-check ends.
  status=0
  "$bin" || status=$?
  exit "$status"
fi
exec "$bin"
