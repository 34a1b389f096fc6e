# vmss-check step template body (PowerShell, for Windows PowerShell 5.1 and PowerShell 7). It
# only maps this step's parameters, the Azure account and the run's system variables to the
# environment vmss-check.exe reads, then runs it: all logic lives in the binary. Tracing (Octopus's
# PSDebug trace level) goes off first, and no secret is kept in a script variable a trace prints.
Set-PSDebug -Off
# Neither a stderr line (an error record in Windows PowerShell 5.1) nor the exit code (PowerShell
# 7.3+) may stop the script: the binary's exit code decides the step.
$ErrorActionPreference = 'Continue'
$PSNativeCommandUseErrorActionPreference = $false
function ov([string] $name) { [string] $OctopusParameters[$name] }
$account = 'VMSS.Azure.Account'
# Why a program could not start: the inner exception's reason, not PowerShell's "At ...ps1:21 char:12".
function reason($err) {
    $e = $err.Exception
    if ($e.InnerException) { $e.InnerException.Message } else { $e.Message }
}

# Start clean: no Azure credential of the worker's own environment (secret, certificate, password,
# managed identity) may reach the binary, so a worker can never sign the step in as someone else.
foreach ($name in @(Get-ChildItem Env: | ForEach-Object { $_.Name })) {
    if ($name -match '^(AZURE|IDENTITY|MSI|IMDS)_') { Remove-Item -LiteralPath "Env:$name" }
}

$package = ov 'Octopus.Action.Package[VMSS.Package].ExtractedPath'
$bin = if ($package) { Join-Path $package 'vmss-check.exe' } else { '' }
if (-not $bin -or -not (Test-Path -LiteralPath $bin -PathType Leaf)) {
    Fail-Step 'The package chosen in VMSS.Package has no vmss-check.exe at its root: choose the VmssCheck package (VmssCheck.<version>.tar.gz) of a release that carries the Windows binary.'
}

# Make sure the binary runs before handing it any secret.
$why = ''
try {
    $out = & $bin --version 2>&1 | Out-String
    if ($LASTEXITCODE -ne 0) { $why = "exit code $LASTEXITCODE, $($out.Trim())" }
} catch {
    $why = reason $_
}
if ($why) {
    Fail-Step "vmss-check.exe cannot run from the package folder $package ($why). It needs a 64-bit (x86_64) Windows worker, Windows 10 or Windows Server 2016 or later. If antivirus or application control (AppLocker, WDAC) blocks programs in the worker's work directory, allow vmss-check.exe there."
}

$env:VMSS_SCALESET_NAME = ov 'VMSS.ScaleSet.Name'
$env:VMSS_RESOURCEGROUP_NAME = ov 'VMSS.ResourceGroup.Name'
$env:VMSS_DEPLOYMENTTARGET_ROLES = ov 'VMSS.DeploymentTarget.Roles'
$env:VMSS_OCTOPUS_URL = ov 'VMSS.Octopus.Url'
$env:VMSS_OCTOPUS_APIKEY = ov 'VMSS.Octopus.ApiKey'
$env:VMSS_TIMEOUT_VALUE = ov 'VMSS.Timeout.Value'
$env:VMSS_TIMEOUT_ERRORHANDLE = ov 'VMSS.Timeout.ErrorHandle'
$env:VMSS_DUPLICATE_TIMEINMINUTES = ov 'VMSS.Duplicate.TimeInMinutes'
$env:VMSS_DUPLICATE_HANDLE = ov 'VMSS.Duplicate.Handle'
$env:VMSS_OLDSERVERS_EXCLUDEFROMOUTPUT = ov 'VMSS.OldServers.ExcludeFromOutput'
$env:VMSS_OLDSERVERS_TIMEINMINUTES = ov 'VMSS.OldServers.TimeInMinutes'
$env:VMSS_RECONCILE_DRYRUN = ov 'VMSS.Reconcile.DryRun'
$env:VMSS_POLL_INTERVAL = ov 'VMSS.Poll.Interval'
$env:VMSS_REPORT_ARTIFACTS = ov 'VMSS.Report.Artifacts'

# The Azure account: a client secret, or an OIDC account's federated token.
$env:AZURE_SUBSCRIPTION_ID = ov "$account.SubscriptionNumber"
$env:AZURE_TENANT_ID = ov "$account.TenantId"
$env:AZURE_CLIENT_ID = ov "$account.Client"
$env:AZURE_FEDERATED_TOKEN = ov "$account.OpenIdConnect.Jwt"
if (-not $env:AZURE_FEDERATED_TOKEN) {
    $env:AZURE_CLIENT_SECRET = ov "$account.Password"
}
$env:AZURE_ENVIRONMENT = ov "$account.AzureEnvironment"
$env:AZURE_RESOURCE_MANAGER_URL = ov "$account.ResourceManagementEndpointBaseUri"
$env:AZURE_AUTHORITY_HOST = ov "$account.ActiveDirectoryEndpointBaseUri"

# The run this step is part of.
$env:OCTOPUS_SPACE_ID = ov 'Octopus.Space.Id'
$env:OCTOPUS_ENVIRONMENT_ID = ov 'Octopus.Environment.Id'
$env:OCTOPUS_PROJECT_ID = ov 'Octopus.Project.Id'
$env:OCTOPUS_DEPLOYMENT_ID = ov 'Octopus.Deployment.Id'
$env:OCTOPUS_DEPLOYMENT_TENANT_ID = ov 'Octopus.Deployment.Tenant.Id'
$env:OCTOPUS_DEPLOYMENT_TRIGGER_ID = ov 'Octopus.Deployment.Trigger.Id'
$env:OCTOPUS_DEPLOYMENT_TRIGGER_NAME = ov 'Octopus.Deployment.Trigger.Name'
$env:OCTOPUS_TASK_ID = ov 'Octopus.Task.Id'
$env:OCTOPUS_RUNBOOKRUN_ID = ov 'Octopus.RunbookRun.Id'
$env:OCTOPUS_RUNBOOK_ID = ov 'Octopus.Runbook.Id'
$env:OCTOPUS_RELEASE_ID = ov 'Octopus.Release.Id'

# vmss-check.exe writes UTF-8: read it as such, not in the console's code page.
try { [Console]::OutputEncoding = New-Object System.Text.UTF8Encoding $false } catch { }
try { & $bin } catch { Fail-Step "vmss-check.exe could not be started ($(reason $_))." }
exit $LASTEXITCODE
