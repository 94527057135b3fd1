# Issue 6: no token or key in any process's command line or environment during a transfer, in any file the
# module writes, or in what the Node boundary prints. (The error catalogue scans every stream of every case.)
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestStack.psm1') -Force
    $script:ManifestPath = Join-Path (Split-Path -Parent (Split-Path -Parent $PSScriptRoot)) 'MsiStorage.psd1'
    Import-Module $ManifestPath -Force
    $script:Stack = Start-MsiTestStack
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Stack.imdsHost
    $script:Started = Get-Date
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-secrets-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $Work | Out-Null
    $script:Token = Get-MsiToken
    $script:Key = Get-MsiStorageKey -Token $Token -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint
    $script:Ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $Key -BlobEndpoint $Stack.blobEndpoint
    $script:Sas = New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -SubscriptionId $Stack.subscriptionId -ArmEndpoint $Stack.armEndpoint -Permission rl -Protocol HttpsOrHttp
    $plain = { param($s) (New-Object System.Net.NetworkCredential -ArgumentList '', $s).Password }
    $sasText = & $plain $Sas
    $script:Secrets = @{
        token = & $plain $Token.Token
        key   = & $plain $Key.Value
        sig   = [uri]::UnescapeDataString(([regex]::Match($sasText, 'sig=([^&]+)')).Groups[1].Value)
    }
    $script:Container = New-MsiTestContainerName
    New-MsiStorageContainer -Name $Container -Context $Ctx | Out-Null
    $script:Leaks = 0
    $script:Samples = 0

    function Find-Secret([byte[]] $Bytes, [string] $Where) {
        if (-not $Bytes -or $Bytes.Length -eq 0) { return }
        $text = [System.Text.Encoding]::UTF8.GetString($Bytes)
        foreach ($name in $Secrets.Keys) {
            if ($text.Contains($Secrets[$name])) { $script:Leaks++; throw "the $name appears in $Where" }
        }
    }
}
AfterAll {
    Write-Host "    secrets: $script:Samples process samples and the written files scanned; leaks found: $script:Leaks"
    Stop-MsiTestStack $script:Stack
    Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Secrets' {
    It 'never appear in any command line or environment while a large upload and download run' {
        $big = New-MsiTestFile -Path (Join-Path $Work 'big.bin') -Size 96MB
        $ps = [powershell]::Create()
        $null = $ps.AddScript({
                param($Manifest, $Ctx, $File, $Container, $Work)
                Import-Module $Manifest
                Send-MsiBlob -File $File -Container $Container -Blob 'big.bin' -Context $Ctx -BlockSize 1MB -Concurrency 2 | Out-Null
                Receive-MsiBlob -Blob 'big.bin' -Container $Container -Destination (Join-Path $Work 'copy.bin') -Context $Ctx -BlockSize 1MB -Concurrency 2 | Out-Null
            }).AddArgument($ManifestPath).AddArgument($Ctx).AddArgument($big.FullName).AddArgument($Container).AddArgument($Work)
        $async = $ps.BeginInvoke()
        $sawNode = $false
        try {
            while (-not $async.IsCompleted) {
                foreach ($dir in [System.IO.Directory]::GetDirectories('/proc')) {
                    if ((Split-Path -Leaf $dir) -notmatch '^\d+$') { continue }
                    foreach ($file in 'cmdline', 'environ') {
                        try { $bytes = [System.IO.File]::ReadAllBytes("$dir/$file") } catch { continue }
                        if ($file -eq 'cmdline' -and [System.Text.Encoding]::UTF8.GetString($bytes) -match 'msistorage\.cjs') { $sawNode = $true }
                        Find-Secret $bytes "$dir/$file"
                    }
                }
                $script:Samples++
                Start-Sleep -Milliseconds 50
            }
        }
        finally {
            $null = $ps.EndInvoke($async)
            $ps.Streams.Error | Should -BeNullOrEmpty
            $ps.Dispose()
        }
        $sawNode | Should -BeTrue -Because 'the sampling must have caught the Node process at work'
        $script:Samples | Should -BeGreaterThan 3
    }

    It 'never appear in any file the module or its tests wrote' {
        $roots = @($Work, [System.IO.Path]::GetTempPath(), (Join-Path (Split-Path -Parent $ManifestPath) 'dist'))
        $scanned = 0
        foreach ($root in $roots) {
            Get-ChildItem -LiteralPath $root -File -Recurse -Force -ErrorAction SilentlyContinue |
                # Regular files only (a FIFO would block the read), written during this run.
                Where-Object { $_.UnixMode -like '-*' -and $_.LastWriteTime -ge $Started.AddMinutes(-1) -and $_.Length -lt 64MB -and $_.Name -ne 'big.bin' -and $_.Name -ne 'copy.bin' } |
                ForEach-Object {
                    $bytes = $null
                    try { $bytes = [System.IO.File]::ReadAllBytes($_.FullName) } catch { $bytes = $null }
                    if ($bytes) { Find-Secret $bytes $_.FullName; $scanned++ }
                }
        }
        $scanned | Should -BeGreaterThan 0
    }

    It 'never appear in what Node prints, even when it fails' {
        $node = (Get-Command node -CommandType Application | Select-Object -First 1).Path
        $bundle = Join-Path (Split-Path -Parent $ManifestPath) 'dist/bin/msistorage.cjs'
        $requests = @(
            @{ v = 1; command = 'keys'; token = $Secrets.token; storageAccountName = 'nosuchaccount'; subscriptionId = $Stack.subscriptionId; resourceGroupName = $Stack.resourceGroupName; armEndpoint = $Stack.armEndpoint }
            @{ v = 1; command = 'newContainer'; container = 'UPPER'; context = @{ storageAccountName = $Stack.storageAccountName; blobEndpoint = $Stack.blobEndpoint; authType = 'SharedKey'; storageAccountKey = $Secrets.key } }
            @{ v = 1; command = 'upload'; container = $Container; items = @(@{ file = '/no/such/file' }); context = @{ storageAccountName = $Stack.storageAccountName; blobEndpoint = 'http://127.0.0.1:9/x/'; authType = 'SharedKey'; storageAccountKey = $Secrets.key } }
            @{ v = 1; command = 'context'; storageAccountName = 'account1'; sasToken = "sv=2023-01-03&sig=$($Secrets.sig)"; blobEndpoint = 'ftp://x' }
            @{ v = 1; command = 'keys'; token = $Secrets.token; storageAccountName = 'x'; unknown = $Secrets.key }
        )
        foreach ($request in $requests) {
            $psi = [System.Diagnostics.ProcessStartInfo]::new($node, "`"$bundle`"")
            $psi.UseShellExecute = $false; $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true
            $p = [System.Diagnostics.Process]::Start($psi)
            $p.StandardInput.WriteLine((ConvertTo-Json -InputObject $request -Depth 5 -Compress))
            $p.StandardInput.Close()
            $errTask = $p.StandardError.ReadToEndAsync()
            $out = $p.StandardOutput.ReadToEnd()
            $err = $errTask.Result
            $p.WaitForExit()
            # Each request fails: the reply, or (for a batch) its one item.
            $out | Should -Match '"ok":false'
            Find-Secret ([System.Text.Encoding]::UTF8.GetBytes($out + $err)) "the output of '$($request.command)'"
        }
    }
}
