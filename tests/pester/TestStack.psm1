# Test helpers: start and stop the local stack (Azurite + the IMDS/ARM emulator) from Pester.
Set-StrictMode -Version 2.0
$script:RepoRoot = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)

function Get-MsiTestNode {
    if ($env:MSISTORAGE_NODE) { return $env:MSISTORAGE_NODE }
    return (Get-Command -Name node -CommandType Application | Select-Object -First 1).Path
}

function Start-MsiTestStack {
    param([string[]] $Arguments = @())
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = Get-MsiTestNode
    $quoted = @((Join-Path (Join-Path $script:RepoRoot 'dist') 'stack.cjs')) + $Arguments | ForEach-Object { '"' + $_ + '"' }
    $psi.Arguments = $quoted -join ' '
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $process = [System.Diagnostics.Process]::Start($psi)
    $null = $process.StandardError.ReadToEndAsync()
    $line = $process.StandardOutput.ReadLine()
    if (-not $line) { throw "The test stack did not start (exit code $($process.ExitCode))." }
    $stack = $line | ConvertFrom-Json
    Add-Member -InputObject $stack -NotePropertyName Process -NotePropertyValue $process
    return $stack
}

function Invoke-MsiTestStackCommand {
    param([Parameter(Mandatory = $true)] $Stack, [Parameter(Mandatory = $true)] [string] $Command)
    $Stack.Process.StandardInput.WriteLine($Command)
    $Stack.Process.StandardInput.Flush()
    return ($Stack.Process.StandardOutput.ReadLine() | ConvertFrom-Json)
}

function Stop-MsiTestStack {
    param($Stack)
    if (-not $Stack) { return }
    try { $Stack.Process.StandardInput.Close() } catch { Write-Verbose 'stack stdin already closed' }
    if (-not $Stack.Process.WaitForExit(10000)) { $Stack.Process.Kill() }
}

function New-MsiTestContainerName {
    return 't' + [guid]::NewGuid().ToString('N').Substring(0, 12)
}

Export-ModuleMember -Function Start-MsiTestStack, Stop-MsiTestStack, Invoke-MsiTestStackCommand, New-MsiTestContainerName, Get-MsiTestNode
