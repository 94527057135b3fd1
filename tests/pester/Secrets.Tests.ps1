# Issue 6: no token, key or SAS in any process's command line or environment during a transfer, in any file the
# module writes (temporary files included, even one deleted at once, and in any encoding), or in what the Node
# boundary prints. (The error catalogue scans every stream of every case.) The scanner (SecretScanner.cs) is
# proven first, with decoys: it must report each form of each kind of secret, in each place it watches.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestStack.psm1') -Force
    $script:ManifestPath = Join-Path (Split-Path -Parent (Split-Path -Parent $PSScriptRoot)) 'MsiStorage.psd1'
    $script:RepoRoot = Split-Path -Parent $ManifestPath
    Import-Module $ManifestPath -Force
    if (-not ('MsiStorageTests.SecretScanner' -as [type])) { Add-Type -Path (Join-Path $PSScriptRoot 'SecretScanner.cs') }
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-secrets-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $Work | Out-Null
    # The temporary folder of the sampled run (TMPDIR, TMP and TEMP), watched with the rest of $Work.
    $script:RunTemp = Join-Path $Work 'tmp'
    New-Item -ItemType Directory -Path $RunTemp | Out-Null
    $script:HomeDir = [Environment]::GetFolderPath('UserProfile')
    # Where a file written during a run is looked for afterwards: every folder the module could write to (its
    # own, the temporary folders, home, the repository and the current folders, in PowerShell's sense and the
    # process's, which Node inherits).
    $script:FindRoots = @($Work, [System.IO.Path]::GetTempPath(), '/var/tmp', '/dev/shm', $HomeDir, $RepoRoot, (Get-Location).ProviderPath, [Environment]::CurrentDirectory) |
        ForEach-Object { $_.TrimEnd('/') } | Where-Object { $_ -and (Test-Path -LiteralPath $_ -PathType Container) } | Sort-Object -Unique
    # Watched while a run goes. With fanotify (root): every file this PowerShell and its children (less the
    # stacks) write and close, anywhere on the file systems of these folders, held open from its close, so
    # that it is read even when deleted the next moment. Without it, folder watchers: $Work with its
    # subfolders, the rest without theirs (a file is opened as it appears, which a file deleted within a
    # millisecond can outrun).
    $script:WatchFlat = @($FindRoots | Where-Object { $_ -ne $Work })
    $script:StackPids = @()

    function Start-Watching($Scanner) {
        # True when fanotify watches.
        if ($Scanner.WatchWrites([string[]]$FindRoots, [int[]]@($PID), [int[]]$StackPids)) { return $true }
        $Scanner.Watch($Work, $true)
        foreach ($folder in $WatchFlat) { $Scanner.Watch($folder, $false) }
        return $false
    }
    function Get-WrittenFile([string] $Marker) {
        # Every regular file changed since $Marker under the roots, less the toolchains' own trees (the module
        # never writes there) and the repository's dependencies and history.
        $prune = @('.rustup', '.cargo', '.pyenv', '.nuget' | ForEach-Object { Join-Path $HomeDir $_ }) + @('node_modules', '.tools', '.git' | ForEach-Object { Join-Path $RepoRoot $_ })
        $findArgs = @($FindRoots) + @('-xdev')
        foreach ($p in $prune) { $findArgs += @('-path', $p, '-prune', '-o') }
        $findArgs += @('-type', 'f', '-newer', $Marker, '-print')
        @(& find @findArgs 2>$null | Sort-Object -Unique)
    }
    function Use-RunTemp([scriptblock] $Do) {
        # $Do with TMPDIR, TMP and TEMP at the watched temporary folder (Node and .NET both read them).
        $saved = @{}
        foreach ($name in 'TMPDIR', 'TMP', 'TEMP') { $saved[$name] = [Environment]::GetEnvironmentVariable($name); [Environment]::SetEnvironmentVariable($name, $RunTemp) }
        try { & $Do }
        finally { foreach ($name in 'TMPDIR', 'TMP', 'TEMP') { [Environment]::SetEnvironmentVariable($name, $saved[$name]) } }
    }
    function New-Decoy {
        # Secrets shaped as the real ones, never used for anything: an account key, a JWT, a SAS signature.
        $rng = [System.Security.Cryptography.RandomNumberGenerator]::Create()
        $bytes = { param($n) $b = New-Object byte[] $n; $rng.GetBytes($b); $b }
        $url = { param($b) [Convert]::ToBase64String($b).TrimEnd('=').Replace('+', '-').Replace('/', '_') }
        $claims = [Text.Encoding]::UTF8.GetBytes('{"aud":"https://storage.azure.com/","oid":"' + [guid]::NewGuid() + '"}')
        [ordered]@{
            'decoy key'   = [Convert]::ToBase64String((& $bytes 64))
            'decoy token' = (& $url ([Text.Encoding]::UTF8.GetBytes('{"alg":"RS256","typ":"JWT"}'))) + '.' + (& $url $claims) + '.' + (& $url (& $bytes 256))
            'decoy sig'   = [Convert]::ToBase64String((& $bytes 32))
        }
    }
}
AfterAll {
    Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'The secrets scanner, on decoys' {
    BeforeAll {
        $script:Decoys = New-Decoy
        $script:Decoy = New-Object MsiStorageTests.SecretScanner
        foreach ($name in $Decoys.Keys) { $Decoy.Add($name, $Decoys[$name]) }
        $script:Noise = New-Object byte[] 5000
        [System.Security.Cryptography.RandomNumberGenerator]::Fill($Noise)
        function Get-Planted([string] $Secret, [string] $Form) {
            # The decoy in one form, as a writer would leave it: inside a JSON request, itself in that form.
            # (Each one as an object: PowerShell would unroll a bare byte array.)
            $request = '{"v":1,"command":"upload","context":{"storageAccountKey":"' + $Secret + '","authType":"SharedKey"}}'
            $utf8 = [Text.Encoding]::UTF8
            $texts = switch ($Form) {
                'text' { $request }
                'UTF-16LE' { [pscustomobject]@{ Bytes = [Text.Encoding]::Unicode.GetBytes($request) } }
                'UTF-16BE' { [pscustomobject]@{ Bytes = [Text.Encoding]::BigEndianUnicode.GetBytes($request) } }
                'base64' { foreach ($a in 0..2) { [Convert]::ToBase64String($utf8.GetBytes(('x' * $a) + $request)) } }
                'base64url' { foreach ($a in 0..2) { [Convert]::ToBase64String($utf8.GetBytes(('x' * $a) + $request)).TrimEnd('=').Replace('+', '-').Replace('/', '_') } }
                'URL-encoded' { $e = [uri]::EscapeDataString($request); $e; [regex]::Replace($e, '%[0-9A-F]{2}', { param($m) $m.Value.ToLowerInvariant() }) }
                'hex of its text' { $h = [Convert]::ToHexString($utf8.GetBytes($request)); $h; $h.ToLowerInvariant() }
                'hex of its bytes' { $h = [Convert]::ToHexString([Convert]::FromBase64String($Secret)); $h; $h.ToLowerInvariant() }
                # As System.Text.Json writes it by default, and with '/' escaped as some writers do.
                'a piece of it' { $Secret -replace '\+', '\u002B' -replace '/', '\/' -replace '=', '\u003D' -replace '-', '\u002D' -replace '_', '\u005F' -replace '\.', '\u002E' }
                default { throw "no way to plant the form '$Form'" }
            }
            foreach ($t in $texts) { if ($t -is [string]) { [pscustomobject]@{ Bytes = $utf8.GetBytes($t) } } else { $t } }
        }
    }
    AfterAll { $script:Decoy.Dispose() }

    It 'knows each form of each kind of secret' {
        foreach ($name in $Decoys.Keys) {
            $forms = $Decoy.Forms($name)
            foreach ($form in 'text', 'UTF-16LE', 'UTF-16BE', 'base64', 'base64url', 'hex of its text') { $forms | Should -Contain $form -Because "the $name" }
        }
        # (A JWT is made of characters that URL-encoding leaves alone.)
        $Decoy.Forms('decoy key') | Should -Contain 'URL-encoded'
        $Decoy.Forms('decoy sig') | Should -Contain 'URL-encoded'
        # (A piece of the key or the signature is looked for only when one is long enough not to match by chance.)
        $Decoy.Forms('decoy token') | Should -Contain 'a piece of it'
        $Decoy.Forms('decoy key') | Should -Contain 'hex of its bytes'
        $Decoy.Forms('decoy sig') | Should -Contain 'hex of its bytes'
    }

    It 'reports the <Name> in each of its forms, amid other bytes, and nothing in those bytes alone' -TestCases @(
        @{ Name = 'decoy key' }
        @{ Name = 'decoy token' }
        @{ Name = 'decoy sig' }
    ) {
        param($Name)
        $Decoy.ScanBytes($Noise, 0, $Noise.Length, "noise for $Name") | Should -Be 0
        foreach ($form in $Decoy.Forms($Name)) {
            $i = 0
            foreach ($planted in (Get-Planted $Decoys[$Name] $form)) {
                $i++
                # At an odd place in the noise, so that nothing lines up by chance.
                $buffer = [byte[]]($Noise[0..(1000 + $i)] + $planted.Bytes + $Noise[0..999])
                $where = "$Name as $form #$i"
                $null = $Decoy.ScanBytes($buffer, 0, $buffer.Length, $where)
                $Decoy.Findings | Should -Contain "the $Name ($form) in $where"
            }
        }
    }

    It 'reports decoys in a command line, an environment, and files open in the sampled processes, deleted ones too' {
        $folder = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-unwatched-' + [guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory -Path $folder | Out-Null
        $psi = New-Object System.Diagnostics.ProcessStartInfo
        $psi.FileName = Get-MsiTestNode
        # A Node process that the scanner takes for the module's: it holds a file open that it has deleted.
        $script = "const fs=require('fs');let b='',fd;process.stdin.on('data',c=>{b+=c;const i=b.indexOf('\n');" +
            "if(i>=0&&fd===undefined){fd=fs.openSync(process.argv[1],'w+');fs.writeSync(fd,b.slice(0,i));fs.unlinkSync(process.argv[1]);process.stdout.write('ready\n');}}).on('end',()=>process.exit(0));"
        foreach ($a in '-e', $script, (Join-Path $folder 'held-by-node.json'), 'decoy-msistorage.cjs', "--key=$($Decoys['decoy key'])") { $psi.ArgumentList.Add($a) }
        $psi.Environment['MSISTORAGE_DECOY'] = $Decoys['decoy sig']
        $psi.UseShellExecute = $false
        $psi.RedirectStandardInput = $true
        $psi.RedirectStandardOutput = $true
        $node = [System.Diagnostics.Process]::Start($psi)
        # And this PowerShell holds one, deleted too, in UTF-16.
        $mine = Join-Path $folder 'held-by-pwsh.txt'
        $stream = [System.IO.File]::Open($mine, 'CreateNew', 'ReadWrite')
        try {
            $node.StandardInput.WriteLine('{"bearerToken":"' + $Decoys['decoy token'] + '"}')
            $node.StandardInput.Flush()
            $node.StandardOutput.ReadLine() | Should -Be 'ready'
            $bytes = [Text.Encoding]::Unicode.GetBytes('{"storageAccountKey":"' + $Decoys['decoy key'] + '"}')
            $stream.Write($bytes, 0, $bytes.Length)
            $stream.Flush()
            Remove-Item -LiteralPath $mine
            $Decoy.Sample('msistorage\.cjs', @($PID)) | Should -BeTrue
            $findings = $Decoy.Findings
            $findings | Should -Contain "the decoy key (text) in /proc/$($node.Id)/cmdline"
            $findings | Should -Contain "the decoy sig (text) in /proc/$($node.Id)/environ"
            @($findings | Where-Object { $_ -like "the decoy token (text) in /proc/$($node.Id)/fd/* ($folder/held-by-node.json (deleted))" }).Count | Should -Be 1
            @($findings | Where-Object { $_ -like "the decoy key (UTF-16LE) in /proc/$PID/fd/* ($mine (deleted))" }).Count | Should -Be 1
        }
        finally {
            $stream.Dispose()
            $node.StandardInput.Close()
            if (-not $node.WaitForExit(5000)) { $node.Kill() }
            Remove-Item -LiteralPath $folder -Recurse -Force
        }
    }

    It 'reads the command line and environment of a process that lives only a moment, as it opens the watched script' {
        $folder = Join-Path $Work ('starts-' + [guid]::NewGuid().ToString('N'))
        New-Item -ItemType Directory -Path $folder | Out-Null
        $script = Join-Path $folder 'decoy-msistorage.cjs'
        Set-Content -LiteralPath $script -Value 'process.exit(0)'
        $scanner = New-Object MsiStorageTests.SecretScanner
        foreach ($name in $Decoys.Keys) { $scanner.Add($name, $Decoys[$name]) }
        try {
            if (-not $scanner.WatchStarts($script)) {
                Set-ItResult -Skipped -Because 'fanotify permission events are not available (they need root, CAP_SYS_ADMIN): without them, command lines and environments are sampled, which a process living a few milliseconds can escape'
                return
            }
            $psi = New-Object System.Diagnostics.ProcessStartInfo
            $psi.FileName = Get-MsiTestNode
            foreach ($a in $script, "--sig=$($Decoys['decoy sig'])") { $psi.ArgumentList.Add($a) }
            $psi.Environment['MSISTORAGE_DECOY'] = $Decoys['decoy key']
            $psi.UseShellExecute = $false
            $node = [System.Diagnostics.Process]::Start($psi)
            $node.WaitForExit(10000) | Should -BeTrue
            $nodeId = $node.Id
        }
        finally { $scanner.StopStarts() }
        $scanner.StartsSeen | Should -Be 1
        $scanner.Findings | Should -Contain "the decoy sig (text) in /proc/$nodeId/cmdline (as it started)"
        $scanner.Findings | Should -Contain "the decoy key (text) in /proc/$nodeId/environ (as it started)"
        $scanner.Dispose()
    }

    It 'reads a temporary file again as it grows: a decoy written at its end after a first read' {
        $scanner = New-Object MsiStorageTests.SecretScanner
        $scanner.Add('decoy key', $Decoys['decoy key'])
        $partial = Join-Path $Work 'grows.bin.msistorage-partial'
        $stream = [System.IO.File]::Open($partial, 'CreateNew', 'ReadWrite')
        try {
            $stream.Write($Noise, 0, $Noise.Length); $stream.Flush()
            $null = $scanner.Sample('(?!)', @($PID))
            $scanner.PartialBytesScanned | Should -Be $Noise.Length
            $scanner.Findings | Should -BeNullOrEmpty
            $bytes = [Text.Encoding]::UTF8.GetBytes($Decoys['decoy key'])
            # Across the point where the first read ended: the overlap finds it.
            $stream.Position = $Noise.Length - 10
            $stream.Write($bytes, 0, $bytes.Length); $stream.Flush()
            $null = $scanner.Sample('(?!)', @($PID))
            @($scanner.Findings | Where-Object { $_ -like "the decoy key (text) in /proc/$PID/fd/* ($partial)" }).Count | Should -Be 1
        }
        finally { $stream.Dispose(); $scanner.Dispose(); Remove-Item -LiteralPath $partial }
    }

    It 'catches a file in the run''s temporary folder that is written and deleted at once, and one in each watched folder' {
        $scanner = New-Object MsiStorageTests.SecretScanner
        foreach ($name in $Decoys.Keys) { $scanner.Add($name, $Decoys[$name]) }
        $planted = @()
        try {
            if (-not (Start-Watching $scanner)) {
                Set-ItResult -Skipped -Because 'fanotify is not available (it needs root, CAP_SYS_ADMIN): the folder watchers that replace it can miss a file deleted within a millisecond (the next test checks them)'
                return
            }
            Use-RunTemp {
                # As a careless module would: the request in a temporary file, removed the moment it is written.
                $leak = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-req-' + [guid]::NewGuid().ToString('N') + '.json')
                [System.IO.File]::WriteAllBytes($leak, [Text.Encoding]::UTF8.GetBytes('{"storageAccountKey":"' + $Decoys['decoy key'] + '"}'))
                Remove-Item -LiteralPath $leak -Force
                $script:Leak = $leak
            }
            $Leak | Should -BeLike "$RunTemp/*"
            foreach ($folder in $WatchFlat + (Join-Path $RunTemp 'deeper')) {
                New-Item -ItemType Directory -Path $folder -Force | Out-Null
                $file = Join-Path $folder ('.msistorage-decoy-' + [guid]::NewGuid().ToString('N'))
                [System.IO.File]::WriteAllText($file, $Decoys['decoy token'])
                $planted += $file
                Remove-Item -LiteralPath $file -Force
            }
        }
        finally { $scanner.StopWatching(); foreach ($file in $planted) { Remove-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue } }
        $findings = $scanner.Findings
        $findings | Should -Contain "the decoy key (text) in $Leak (caught by the watch)"
        foreach ($file in $planted) { $findings | Should -Contain "the decoy token (text) in $file (caught by the watch)" }
        $scanner.Dispose()
    }

    It 'catches, with folder watchers alone (as without fanotify), a file that lives a moment in each watched folder' {
        $scanner = New-Object MsiStorageTests.SecretScanner
        $scanner.Add('decoy sig', $Decoys['decoy sig'])
        $planted = @()
        $scanner.Watch($Work, $true)
        foreach ($folder in $WatchFlat) { $scanner.Watch($folder, $false) }
        try {
            foreach ($folder in $WatchFlat + $RunTemp) {
                $file = Join-Path $folder ('.msistorage-decoy-' + [guid]::NewGuid().ToString('N'))
                [System.IO.File]::WriteAllText($file, $Decoys['decoy sig'], [Text.Encoding]::Unicode)
                $planted += $file
            }
            Start-Sleep -Milliseconds 200
            foreach ($file in $planted) { Remove-Item -LiteralPath $file -Force }
        }
        finally { $scanner.StopWatching(); foreach ($file in $planted) { Remove-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue } }
        foreach ($file in $planted) { $scanner.Findings | Should -Contain "the decoy sig (UTF-16LE) in $file (caught by the watch)" }
        $scanner.Dispose()
    }

    It 'finds decoys left in a file in each folder it searches after a run, across a chunk boundary too' {
        $marker = Join-Path $Work ('.decoy-started-' + [guid]::NewGuid().ToString('N'))
        New-Item -ItemType File -Path $marker | Out-Null
        Start-Sleep -Milliseconds 20
        $planted = @()
        try {
            foreach ($folder in $FindRoots) {
                $file = Join-Path $folder ('.msistorage-decoy-' + [guid]::NewGuid().ToString('N') + '.log')
                [System.IO.File]::WriteAllText($file, "token=$($Decoys['decoy token'])`n", [Text.Encoding]::BigEndianUnicode)
                $planted += $file
            }
            # A file larger than one read, the decoy straddling the 4 MiB boundary.
            $large = Join-Path $Work 'large.bin'
            $bytes = New-Object byte[] (9MB)
            $sig = [Text.Encoding]::ASCII.GetBytes($Decoys['decoy sig'])
            [Array]::Copy($sig, 0, $bytes, 4MB - 20, $sig.Length)
            [System.IO.File]::WriteAllBytes($large, $bytes)
            $planted += $large
            $files = Get-WrittenFile $marker
            foreach ($file in $planted) { $files | Should -Contain $file }
            foreach ($file in $files) { $null = $Decoy.ScanFile($file) }
            $findings = $Decoy.Findings
            foreach ($file in $planted[0..($planted.Count - 2)]) { $findings | Should -Contain "the decoy token (UTF-16BE) in $file" }
            $findings | Should -Contain "the decoy sig (text) in $large"
        }
        finally { foreach ($file in @($planted) + $marker) { Remove-Item -LiteralPath $file -Force -ErrorAction SilentlyContinue } }
    }

    It 'reports a decoy in printed text' {
        $null = $Decoy.ScanText("verbose: sending sig=$([uri]::EscapeDataString($Decoys['decoy sig']))&sv=2023", 'a verbose line')
        $Decoy.Findings | Should -Contain 'the decoy sig (URL-encoded) in a verbose line'
    }
}

Describe 'Secrets' {
    BeforeAll {
        $script:Stack = Start-MsiTestStack
        # The keyless path needs HTTPS (a bearer token never travels over HTTP): a second stack, as in
        # Storage.Tests.ps1, whose Azurite takes the emulator's OAuth tokens.
        $script:Tls = Start-MsiTestStack -Arguments @('--https')
        # What the stacks write (their own certificates, their own logs) is theirs, not the module's.
        $script:StackPids = @($Stack.pid, $Tls.pid)
        $script:SavedEnv = @{}
        foreach ($name in 'NODE_EXTRA_CA_CERTS', 'AZURE_POD_IDENTITY_AUTHORITY_HOST', 'MSISTORAGE_ARM_ENDPOINT') { $SavedEnv[$name] = [Environment]::GetEnvironmentVariable($name) }
        $env:NODE_EXTRA_CA_CERTS = $Tls.caFile
        # Files written after this one are those of this run (find -newer).
        $script:Marker = Join-Path $Work '.started'
        New-Item -ItemType File -Path $Marker | Out-Null
        Start-Sleep -Milliseconds 20
        & (Get-Module MsiStorage) { $script:MsiTokenCache = @{} }
        # The storage token of the keyless context, from the HTTPS stack's identity.
        $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Tls.imdsHost
        $script:OAuthCtx = New-MsiStorageContext -StorageAccountName $Tls.storageAccountName -UseManagedIdentity -ArmEndpoint $Tls.armEndpoint
        $script:OAuthContainer = New-MsiTestContainerName
        New-MsiStorageContainer -Name $OAuthContainer -Context $OAuthCtx | Out-Null
        $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Stack.imdsHost
        $script:Token = Get-MsiToken
        $script:Key = Get-MsiStorageKey -Token $Token -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint
        $script:Ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $Key -BlobEndpoint $Stack.blobEndpoint
        $script:Sas = New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -SubscriptionId $Stack.subscriptionId -ArmEndpoint $Stack.armEndpoint -Permission rcwl -Protocol HttpsOrHttp
        $plain = { param($s) (New-Object System.Net.NetworkCredential -ArgumentList '', $s).Password }
        $sasText = & $plain $Sas
        $sigEncoded = ([regex]::Match($sasText, 'sig=([^&]+)')).Groups[1].Value
        # Every secret of the run: the key, the SAS signature in both of its forms (as it travels in a query
        # string, and decoded), the ARM token, the keyless context's storage token, and every other token this
        # session obtained (the module's cache holds them all).
        $script:Secrets = [ordered]@{
            key           = & $plain $Key.Value
            sig           = [uri]::UnescapeDataString($sigEncoded)
            sigEncoded    = $sigEncoded
            'ARM token'   = & $plain $Token.Token
            'storage token' = & $plain $OAuthCtx.Token
        }
        if ($Secrets.sig -eq $Secrets.sigEncoded) { throw 'the test SAS signature needs encoding; make another' }
        $i = 0
        foreach ($cached in @(& (Get-Module MsiStorage) { $script:MsiTokenCache.Values })) {
            $value = & $plain $cached.Token
            if ($Secrets.Values -notcontains $value) { $Secrets["cached token $((++$i))"] = $value }
        }
        $script:Scanner = New-Object MsiStorageTests.SecretScanner
        foreach ($name in $Secrets.Keys) { $Scanner.Add($name, $Secrets[$name]) }
        $script:Container = New-MsiTestContainerName
        New-MsiStorageContainer -Name $Container -Context $Ctx | Out-Null
    }
    AfterAll {
        $how = if ($script:Fanotify) { 'written (fanotify)' } else { 'appeared (folder watchers)' }
        Write-Host "    secrets: $($script:Scanner.Samples) samples, $($script:Scanner.StartsSeen) Node starts read, $($script:Scanner.BytesScanned) bytes of files read ($($script:Scanner.PartialBytesScanned) of temporary downloads), $(@($script:Scanner.WatchedFiles).Count) files caught as they were $how; leaks found: $(@($script:Scanner.Findings).Count)"
        if ($script:Scanner) { $script:Scanner.Dispose() }
        foreach ($name in $script:SavedEnv.Keys) { [Environment]::SetEnvironmentVariable($name, $script:SavedEnv[$name]) }
        Stop-MsiTestStack $script:Stack
        Stop-MsiTestStack $script:Tls
    }

    It 'never appear in any command line, environment, open file or file written and deleted while transfers with a key, a SAS and the identity run' {
        $big = New-MsiTestFile -Path (Join-Path $Work 'big.bin') -Size 96MB
        $small = New-MsiTestFile -Path (Join-Path $Work 'small.bin') -Size 8MB
        $ps = [powershell]::Create()
        # Every kind of secret crosses to Node while the sampling runs: the key (a key context), the SAS (a SAS
        # context), the storage token (a keyless context, over HTTPS), and the ARM token (Get-MsiStorageKey
        # -Token, New-MsiStorageSas -Token). Verbose and debug output are on: every stream is scanned too.
        $null = $ps.AddScript({
                param($Manifest, $Ctx, $OAuthCtx, $File, $Small, $Container, $OAuthContainer, $Work, $Sas, $Token, $Stack)
                Import-Module $Manifest
                $VerbosePreference = 'Continue'
                $DebugPreference = 'Continue'
                Send-MsiBlob -File $File -Container $Container -Blob 'big.bin' -Context $Ctx -BlockSize 1MB -Concurrency 2 | Out-Null
                Receive-MsiBlob -Blob 'big.bin' -Container $Container -Destination (Join-Path $Work 'copy.bin') -Context $Ctx -BlockSize 1MB -Concurrency 2 | Out-Null
                $sasCtx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -SasToken $Sas -BlobEndpoint $Stack.blobEndpoint
                Send-MsiBlob -File $File -Container $Container -Blob 'big-sas.bin' -Context $sasCtx -BlockSize 1MB -Concurrency 2 | Out-Null
                Receive-MsiBlob -Blob 'big-sas.bin' -Container $Container -Destination (Join-Path $Work 'copy-sas.bin') -Context $sasCtx -BlockSize 1MB -Concurrency 2 | Out-Null
                Send-MsiBlob -File $Small -Container $OAuthContainer -Blob 'keyless.bin' -Context $OAuthCtx -BlockSize 1MB -Concurrency 2 | Out-Null
                Receive-MsiBlob -Blob 'keyless.bin' -Container $OAuthContainer -Destination (Join-Path $Work 'copy-keyless.bin') -Context $OAuthCtx -BlockSize 1MB -Concurrency 2 | Out-Null
                foreach ($i in 1..3) {
                    Get-MsiStorageKey -Token $Token -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint | Out-Null
                    New-MsiStorageSas -Token $Token -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -SubscriptionId $Stack.subscriptionId -ArmEndpoint $Stack.armEndpoint -Permission r | Out-Null
                }
                # Every token that crossed is one the scanner knows: this session obtained none of its own.
                & (Get-Module MsiStorage) { $script:MsiTokenCache.Count }
            }).AddArgument($ManifestPath).AddArgument($Ctx).AddArgument($OAuthCtx).AddArgument($big.FullName).AddArgument($small.FullName).AddArgument($Container).AddArgument($OAuthContainer).AddArgument($Work).AddArgument($Sas).AddArgument($Token).AddArgument($Stack)
        $before = @($Scanner.Findings).Count
        $state = @{ SawNode = $false; Output = $null }
        $script:Fanotify = Start-Watching $Scanner
        # Every Node process of the module, however short-lived, is read as it opens the module's script.
        $script:StartsWatched = $Scanner.WatchStarts((Join-Path $RepoRoot 'dist/bin/msistorage.cjs'))
        try {
            Use-RunTemp {
                $async = $ps.BeginInvoke()
                try {
                    while (-not $async.IsCompleted) {
                        $Scanner.ScanHeld()
                        if ($Scanner.Sample('msistorage\.cjs', @($PID))) { $state.SawNode = $true }
                        Start-Sleep -Milliseconds 50
                    }
                }
                finally { $state.Output = $ps.EndInvoke($async) }
            }
        }
        finally { $Scanner.StopWatching(); $Scanner.StopStarts() }
        try {
            $ps.Streams.Error | Should -BeNullOrEmpty
            @($state.Output) | Should -Be @(0) -Because 'the run must have used only the tokens the scanner looks for'
            $streams = @($ps.Streams.Verbose) + @($ps.Streams.Debug) + @($ps.Streams.Warning) + @($ps.Streams.Information) + @($ps.Streams.Progress | ForEach-Object { "$($_.Activity) $($_.StatusDescription) $($_.CurrentOperation)" })
            $text = ($streams | Out-String)
            $text | Should -Match 'keyless\.bin' -Because 'the verbose output of the keyless transfer is among the streams scanned'
            $null = $Scanner.ScanText($text, 'the streams of the run')
        }
        finally { $ps.Dispose() }
        @($Scanner.Findings | Select-Object -Skip $before) | Should -BeNullOrEmpty
        # Not vacuous: Node was caught at work, its open files were read (a download's temporary file among
        # them, re-read as it grew), and the watchers caught the files the run made.
        $state.SawNode | Should -BeTrue -Because 'the sampling must have caught the Node process at work'
        $Scanner.Samples | Should -BeGreaterThan 3
        # (Without fanotify, only the sampling above sees Node's command lines and environments.)
        if ($StartsWatched) { $Scanner.StartsSeen | Should -BeGreaterOrEqual 12 -Because 'each of the twelve commands of the run started a Node process, read as it started' }
        @($Scanner.FdFiles | Where-Object { $_ -like '*.msistorage-partial*' }) | Should -Not -BeNullOrEmpty -Because "a download's temporary file must have been seen open in Node"
        $Scanner.PartialBytesScanned | Should -BeGreaterThan 0 -Because "a download's temporary file must have been read"
        @($Scanner.WatchedFiles | Where-Object { $_ -like "$Work/*copy*" }) | Should -Not -BeNullOrEmpty -Because 'the watchers must have been live during the run'
    }

    It 'never appear in any file written during the run: the downloads, the temporary, home, repository and current folders' {
        $before = @($Scanner.Findings).Count
        $files = Get-WrittenFile $Marker
        $scanned = @($files | Where-Object { $Scanner.ScanFile($_) })
        @($Scanner.Findings | Select-Object -Skip $before) | Should -BeNullOrEmpty
        # Not vacuous: the files the module itself wrote (the downloads) are among those read.
        $scanned | Should -Contain (Join-Path $Work 'copy.bin')
        $scanned | Should -Contain (Join-Path $Work 'copy-sas.bin')
        $scanned | Should -Contain (Join-Path $Work 'copy-keyless.bin')
    }

    It 'never appear in what Node prints, even when it fails' {
        $before = @($Scanner.Findings).Count
        $node = (Get-Command node -CommandType Application | Select-Object -First 1).Path
        $bundle = Join-Path $RepoRoot 'dist/bin/msistorage.cjs'
        $requests = @(
            @{ v = 1; command = 'keys'; token = $Secrets['ARM token']; storageAccountName = 'nosuchaccount'; subscriptionId = $Stack.subscriptionId; resourceGroupName = $Stack.resourceGroupName; armEndpoint = $Stack.armEndpoint }
            @{ v = 1; command = 'newContainer'; container = 'UPPER'; context = @{ storageAccountName = $Stack.storageAccountName; blobEndpoint = $Stack.blobEndpoint; authType = 'SharedKey'; storageAccountKey = $Secrets.key } }
            @{ v = 1; command = 'upload'; container = $Container; items = @(@{ file = '/no/such/file' }); context = @{ storageAccountName = $Stack.storageAccountName; blobEndpoint = 'http://127.0.0.1:9/x/'; authType = 'SharedKey'; storageAccountKey = $Secrets.key } }
            @{ v = 1; command = 'upload'; container = $Container; items = @(@{ file = '/no/such/file' }); context = @{ storageAccountName = $Tls.storageAccountName; blobEndpoint = 'https://127.0.0.1:9/x/'; authType = 'OAuth'; bearerToken = $Secrets['storage token'] } }
            @{ v = 1; command = 'context'; storageAccountName = 'account1'; sasToken = "sv=2023-01-03&sig=$($Secrets.sigEncoded)"; blobEndpoint = 'ftp://x' }
            @{ v = 1; command = 'keys'; token = $Secrets['ARM token']; storageAccountName = 'x'; unknown = $Secrets.key }
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
            $null = $Scanner.ScanText($out + $err, "the output of '$($request.command)'")
        }
        @($Scanner.Findings | Select-Object -Skip $before) | Should -BeNullOrEmpty
    }
}
