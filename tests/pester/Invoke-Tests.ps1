# Runs every *.Tests.ps1 here with Pester (the path comes from scripts/tools.ts); exits non-zero on failure.
param(
    [Parameter(Mandatory = $true)] [string] $PesterPath,
    [string] $ResultPath
)
$ErrorActionPreference = 'Stop'
Import-Module $PesterPath -Force
$config = New-PesterConfiguration
$config.Run.Path = $PSScriptRoot
$config.Run.Exit = $true
$config.Output.Verbosity = 'Detailed'
if ($ResultPath) {
    $config.TestResult.Enabled = $true
    $config.TestResult.OutputPath = $ResultPath
}
Invoke-Pester -Configuration $config
