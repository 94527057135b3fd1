# Test helpers: start and stop the local stack (Azurite + the IMDS/ARM emulator) from Pester.
Set-StrictMode -Version 2.0
$script:RepoRoot = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)

# Every test file imports this module first: whichever way Pester is started (npm test sets the same, in
# scripts/tools.ts safeEnv), nothing a test runs may leave this machine. Node refuses any address that is not
# loopback; IMDS and ARM default to a closed loopback port until a test points them at the stack; no
# identity source of a real Azure host, Arc agent or proxy is picked up from the environment.
$env:MSISTORAGE_LOOPBACK_ONLY = '1'
if (-not $env:AZURE_POD_IDENTITY_AUTHORITY_HOST) { $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = 'http://127.0.0.1:9' }
if (-not $env:MSISTORAGE_ARM_ENDPOINT) { $env:MSISTORAGE_ARM_ENDPOINT = 'http://127.0.0.1:9/' }
if (-not $env:MSISTORAGE_ARC_HIMDS_PATH) { $env:MSISTORAGE_ARC_HIMDS_PATH = Join-Path ([System.IO.Path]::GetTempPath()) 'msistorage-no-arc-agent/himds' }
foreach ($name in 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT', 'IMDS_ENDPOINT', 'MSI_ENDPOINT', 'MSI_SECRET', 'HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy', 'no_proxy') {
    # Removed, not set to '' ($null passed to a [string] parameter is ''): an empty http_proxy hides HTTP_PROXY.
    Remove-Item -LiteralPath "Env:$name" -ErrorAction SilentlyContinue
}
$env:NO_PROXY = '127.0.0.1,localhost,::1'

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

function Invoke-MsiTestBlobProperties {
    # Reads (and optionally overwrites the Content-MD5 of) a blob with the SDK directly, the key on stdin.
    param([Parameter(Mandatory = $true)] $Context, [Parameter(Mandatory = $true)] [string] $Container, [Parameter(Mandatory = $true)] [string] $Blob, [string] $SetContentMD5)
    $key = (New-Object System.Net.NetworkCredential -ArgumentList '', $Context.StorageAccountKey).Password
    $request = @{ endpoint = $Context.BlobEndpoint; account = $Context.StorageAccountName; key = $key; container = $Container; blob = $Blob }
    if ($PSBoundParameters.ContainsKey('SetContentMD5')) { $request.setContentMD5 = $SetContentMD5 }
    $psi = New-Object System.Diagnostics.ProcessStartInfo
    $psi.FileName = Get-MsiTestNode
    $psi.Arguments = '"' + (Join-Path (Join-Path $script:RepoRoot 'tests') 'helpers/blob-props.cjs') + '"'
    $psi.WorkingDirectory = $script:RepoRoot
    $psi.UseShellExecute = $false
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $p = [System.Diagnostics.Process]::Start($psi)
    $p.StandardInput.Write((ConvertTo-Json -InputObject $request -Compress))
    $p.StandardInput.Close()
    $out = $p.StandardOutput.ReadToEnd()
    $p.WaitForExit()
    $props = $out | ConvertFrom-Json
    # A helper that failed must not pass for a blob with no MD5.
    if ($p.ExitCode -ne 0 -or $props.PSObject.Properties['error']) { throw "reading the properties of '$Blob' failed: $out" }
    return $props
}

function New-MsiTestFile {
    # A file of random bytes.
    param([Parameter(Mandatory = $true)] [string] $Path, [Parameter(Mandatory = $true)] [long] $Size)
    $buffer = New-Object byte[] ([Math]::Min($Size, 4MB))
    $rng = [System.Security.Cryptography.RandomNumberGenerator]::Create()
    $stream = [System.IO.File]::Create($Path)
    try {
        $left = $Size
        while ($left -gt 0) {
            $n = [int][Math]::Min($left, $buffer.Length)
            $rng.GetBytes($buffer)
            $stream.Write($buffer, 0, $n)
            $left -= $n
        }
    }
    finally { $stream.Dispose() }
    return Get-Item -LiteralPath $Path
}

function Get-MsiTestMd5Base64 {
    param([Parameter(Mandatory = $true)] [string] $Path)
    $hex = (Get-FileHash -LiteralPath $Path -Algorithm MD5).Hash
    $bytes = for ($i = 0; $i -lt $hex.Length; $i += 2) { [Convert]::ToByte($hex.Substring($i, 2), 16) }
    return [Convert]::ToBase64String([byte[]]$bytes)
}

Export-ModuleMember -Function Invoke-MsiTestBlobProperties, New-MsiTestFile, Get-MsiTestMd5Base64
