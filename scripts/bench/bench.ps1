# Benchmark measurements through the module, in one pwsh session per measurement. Prints one JSON line.
param(
    [Parameter(Mandatory = $true)] [ValidateSet('upload', 'download', 'many', 'token')] [string] $Mode,
    [Parameter(Mandatory = $true)] [string] $Manifest,
    [string] $StackJson,
    [string] $Container,
    [string] $File,
    [string] $Blob,
    [string] $Destination,
    [string] $Folder,
    [long] $BlockSize = 8MB,
    [int] $Concurrency = 8,
    [int] $Iterations = 15
)
$ErrorActionPreference = 'Stop'
$ProgressPreference = 'SilentlyContinue'
Import-Module $Manifest
$stack = $StackJson | ConvertFrom-Json
$env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $stack.imdsHost

function New-BenchContext {
    New-MsiStorageContext -StorageAccountName $stack.storageAccountName -ResourceGroupName $stack.resourceGroupName -SubscriptionId $stack.subscriptionId -ArmEndpoint $stack.armEndpoint -BlobEndpoint $stack.blobEndpoint
}

switch ($Mode) {
    'upload' {
        $ctx = New-BenchContext
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $null = Send-MsiBlob -File $File -Container $Container -Blob $Blob -Context $ctx -BlockSize $BlockSize -Concurrency $Concurrency -Force
        $sw.Stop()
        @{ ms = $sw.Elapsed.TotalMilliseconds; bytes = (Get-Item -LiteralPath $File).Length } | ConvertTo-Json -Compress
    }
    'download' {
        $ctx = New-BenchContext
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $r = Receive-MsiBlob -Blob $Blob -Container $Container -Destination $Destination -Context $ctx -BlockSize $BlockSize -Concurrency $Concurrency -Force
        $sw.Stop()
        @{ ms = $sw.Elapsed.TotalMilliseconds; bytes = $r.Length } | ConvertTo-Json -Compress
    }
    'many' {
        $ctx = New-BenchContext
        # Also measured: this pwsh's own CPU time during the pipeline, and how much of it the .NET JIT took
        # (a young pwsh compiles its engine's hot paths anew: tiered compilation), to show where time goes.
        $self = [System.Diagnostics.Process]::GetCurrentProcess()
        $cpu0 = $self.TotalProcessorTime.TotalMilliseconds
        $jit0 = [System.Runtime.JitInfo]::GetCompilationTime($false).TotalMilliseconds
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $out = Get-ChildItem -LiteralPath $Folder -File | Send-MsiBlob -Container $Container -Context $ctx -ConcurrentTaskCount 16 -Force
        $sw.Stop()
        $self.Refresh()
        @{
            ms = $sw.Elapsed.TotalMilliseconds; files = @($out).Count
            pwshCpuMs = $self.TotalProcessorTime.TotalMilliseconds - $cpu0
            jitMs = [System.Runtime.JitInfo]::GetCompilationTime($false).TotalMilliseconds - $jit0
        } | ConvertTo-Json -Compress
    }
    'token' {
        # Uncached Get-MsiToken against the emulator, and a bare `node -e 0`, both started from this pwsh.
        $node = (Get-Command node -CommandType Application | Select-Object -First 1).Path
        $null = Get-MsiToken -Force; & $node -e 0
        $token = New-Object System.Collections.Generic.List[double]
        $bare = New-Object System.Collections.Generic.List[double]
        # Get-MsiToken returns once the reply is in, while Node may still be exiting: each measurement starts
        # after a pause, so that neither side runs beside the other's exit.
        for ($i = 0; $i -lt $Iterations; $i++) {
            Start-Sleep -Milliseconds 40
            $sw = [System.Diagnostics.Stopwatch]::StartNew(); $null = Get-MsiToken -Force; $sw.Stop(); $token.Add($sw.Elapsed.TotalMilliseconds)
            Start-Sleep -Milliseconds 40
            $sw = [System.Diagnostics.Stopwatch]::StartNew(); & $node -e 0; $sw.Stop(); $bare.Add($sw.Elapsed.TotalMilliseconds)
        }
        $cached = New-Object System.Collections.Generic.List[double]
        for ($i = 0; $i -lt 11; $i++) {
            $sw = [System.Diagnostics.Stopwatch]::StartNew(); $null = Get-MsiToken; $sw.Stop(); $cached.Add($sw.Elapsed.TotalMilliseconds)
        }
        $median = { param($l) $s = @($l | Sort-Object); $s[[int][Math]::Floor($s.Count / 2)] }
        @{ token = (& $median $token); bare = (& $median $bare); cached = (& $median $cached); firstCached = $cached[0] } | ConvertTo-Json -Compress
    }
}
