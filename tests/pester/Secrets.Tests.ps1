# Issue 6: no token or key in any process's command line or environment during a transfer, in any file the
# module writes, or in what the Node boundary prints. (The error catalogue scans every stream of every case.)
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestStack.psm1') -Force
    $script:ManifestPath = Join-Path (Split-Path -Parent (Split-Path -Parent $PSScriptRoot)) 'MsiStorage.psd1'
    Import-Module $ManifestPath -Force
    $script:Stack = Start-MsiTestStack
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Stack.imdsHost
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-secrets-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $Work | Out-Null
    # Files written after this one are those of this run (find -newer).
    $script:Marker = Join-Path $Work '.started'
    New-Item -ItemType File -Path $Marker | Out-Null
    Start-Sleep -Milliseconds 20
    $script:Token = Get-MsiToken
    $script:Key = Get-MsiStorageKey -Token $Token -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint
    $script:Ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $Key -BlobEndpoint $Stack.blobEndpoint
    $script:Sas = New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -SubscriptionId $Stack.subscriptionId -ArmEndpoint $Stack.armEndpoint -Permission rcwl -Protocol HttpsOrHttp
    $plain = { param($s) (New-Object System.Net.NetworkCredential -ArgumentList '', $s).Password }
    $sasText = & $plain $Sas
    $sigEncoded = ([regex]::Match($sasText, 'sig=([^&]+)')).Groups[1].Value
    # The SAS signature in both of its forms: as it travels in a query string, and decoded.
    $script:Secrets = @{
        token      = & $plain $Token.Token
        key        = & $plain $Key.Value
        sig        = [uri]::UnescapeDataString($sigEncoded)
        sigEncoded = $sigEncoded
    }
    if ($Secrets.sig -eq $Secrets.sigEncoded) { throw 'the test SAS signature needs encoding; make another' }
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
    # A whole file of any size, in chunks (that overlap, so that no secret hides across a boundary). Latin-1 maps
    # each byte to one character, and the secrets are ASCII. $false when the file could not be read.
    function Find-SecretInFile([string] $Path) {
        try { $stream = [System.IO.File]::Open($Path, 'Open', 'Read', 'ReadWrite, Delete') } catch { return $false }
        try {
            $buffer = New-Object byte[] (8MB)
            $carry = ''
            while (($n = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {
                $text = $carry + [System.Text.Encoding]::Latin1.GetString($buffer, 0, $n)
                foreach ($name in $Secrets.Keys) {
                    if ($text.Contains($Secrets[$name])) { $script:Leaks++; throw "the $name appears in $Path" }
                }
                $carry = $text.Substring([Math]::Max(0, $text.Length - 4096))
            }
        }
        finally { $stream.Dispose() }
        return $true
    }
}
AfterAll {
    Write-Host "    secrets: $script:Samples process samples and the written files scanned; leaks found: $script:Leaks"
    Stop-MsiTestStack $script:Stack
    Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Secrets' {
    It 'never appear in any command line, environment or temporary file while transfers with a key, a SAS and a token run' {
        $big = New-MsiTestFile -Path (Join-Path $Work 'big.bin') -Size 96MB
        $ps = [powershell]::Create()
        # Every kind of secret crosses to Node while the sampling runs: the key (a key context), the SAS (a SAS
        # context), and the ARM token (Get-MsiStorageKey -Token, New-MsiStorageSas -Token).
        $null = $ps.AddScript({
                param($Manifest, $Ctx, $File, $Container, $Work, $Sas, $Token, $Stack)
                Import-Module $Manifest
                Send-MsiBlob -File $File -Container $Container -Blob 'big.bin' -Context $Ctx -BlockSize 1MB -Concurrency 2 | Out-Null
                Receive-MsiBlob -Blob 'big.bin' -Container $Container -Destination (Join-Path $Work 'copy.bin') -Context $Ctx -BlockSize 1MB -Concurrency 2 | Out-Null
                $sasCtx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -SasToken $Sas -BlobEndpoint $Stack.blobEndpoint
                Send-MsiBlob -File $File -Container $Container -Blob 'big-sas.bin' -Context $sasCtx -BlockSize 1MB -Concurrency 2 | Out-Null
                Receive-MsiBlob -Blob 'big-sas.bin' -Container $Container -Destination (Join-Path $Work 'copy-sas.bin') -Context $sasCtx -BlockSize 1MB -Concurrency 2 | Out-Null
                foreach ($i in 1..3) {
                    Get-MsiStorageKey -Token $Token -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint | Out-Null
                    New-MsiStorageSas -Token $Token -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -SubscriptionId $Stack.subscriptionId -ArmEndpoint $Stack.armEndpoint -Permission r | Out-Null
                }
            }).AddArgument($ManifestPath).AddArgument($Ctx).AddArgument($big.FullName).AddArgument($Container).AddArgument($Work).AddArgument($Sas).AddArgument($Token).AddArgument($Stack)
        $async = $ps.BeginInvoke()
        $sawNode = $false
        $partials = 0
        $seen = @{}
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
                # The downloads' temporary files, while they exist (each one read once, as far as it is written).
                foreach ($temp in [System.IO.Directory]::GetFiles($Work, '*.msistorage-partial')) {
                    if ($seen.ContainsKey($temp)) { continue }
                    $seen[$temp] = $true
                    if (Find-SecretInFile $temp) { $partials++ }
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
        $partials | Should -BeGreaterThan 0 -Because "a download's temporary file must have been caught and read"
    }

    It 'never appear in any file written during the run: the downloads, the temporary folders, the home folder' {
        # Every regular file changed since the run began, wherever the module could write: its folders, the
        # temporary folders and the whole home folder (less the toolchains' own trees, which it never touches).
        $homeDir = [Environment]::GetFolderPath('UserProfile')
        $prune = foreach ($d in '.rustup', '.cargo', '.pyenv', '.nuget') { Join-Path $homeDir $d }
        $findArgs = @($Work, [System.IO.Path]::GetTempPath(), '/var/tmp', $homeDir, (Join-Path (Split-Path -Parent $ManifestPath) 'dist'), '-xdev')
        foreach ($p in $prune) { $findArgs += @('-path', $p, '-prune', '-o') }
        $findArgs += @('-type', 'f', '-newer', $Marker, '-print')
        $files = @(& find @findArgs 2>$null | Sort-Object -Unique)
        $scanned = @($files | Where-Object { Find-SecretInFile $_ })
        # Not vacuous: the files the module itself wrote (the downloads) are among those read.
        $scanned | Should -Contain (Join-Path $Work 'copy.bin')
        $scanned | Should -Contain (Join-Path $Work 'copy-sas.bin')
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
