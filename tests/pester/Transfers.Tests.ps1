# Issue 5: large files in blocks and ranges, integrity by default, many files in one process, progress,
# and content settings, against Azurite.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestStack.psm1') -Force
    $script:ManifestPath = Join-Path (Split-Path -Parent (Split-Path -Parent $PSScriptRoot)) 'MsiStorage.psd1'
    Import-Module $ManifestPath -Force
    $script:Stack = Start-MsiTestStack
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Stack.imdsHost
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-transfers-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $Work | Out-Null
    $script:Ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -SubscriptionId $Stack.subscriptionId -ArmEndpoint $Stack.armEndpoint -BlobEndpoint $Stack.blobEndpoint
    $script:Container = New-MsiTestContainerName
    New-MsiStorageContainer -Name $Container -Context $Ctx | Out-Null
    $script:Big = New-MsiTestFile -Path (Join-Path $Work 'big.bin') -Size 20MB
    $script:BigMd5 = Get-MsiTestMd5Base64 -Path $Big.FullName
    # Blobs that several tests read: each is made by the first test that needs it (or by the test that checks
    # its making), so that any test also runs alone, or filtered.
    $script:Made = @{}
    function Use-TestBlob([string] $Name) {
        if ($Made[$Name]) { return }
        switch ($Name) {
            'big.bin' { Send-MsiBlob -File $Big.FullName -Container $Container -Blob 'big.bin' -Context $Ctx -Force | Out-Null }
            'tampered.bin' {
                Send-MsiBlob -File $Big.FullName -Container $Container -Blob 'tampered.bin' -Context $Ctx -Force | Out-Null
                Invoke-MsiTestBlobProperties -Context $Ctx -Container $Container -Blob 'tampered.bin' -SetContentMD5 'AAAAAAAAAAAAAAAAAAAAAA==' | Out-Null
            }
            'nomd5.bin' { Send-MsiBlob -File $Big.FullName -Container $Container -Blob 'nomd5.bin' -Context $Ctx -SkipIntegrityCheck -Force | Out-Null }
            default { throw "no test blob '$Name'" }
        }
        $Made[$Name] = $true
    }

    function Get-Partials([string] $Folder) { @(Get-ChildItem -LiteralPath $Folder -Force -Recurse -Filter '*msistorage-partial*') }
    function Get-CommittedBlockSizes([string] $Container, [string] $Blob) {
        # The committed block list, read with @azure/storage-blob directly; the key goes on stdin only.
        $key = (New-Object System.Net.NetworkCredential -ArgumentList '', $Ctx.StorageAccountKey).Password
        $request = ConvertTo-Json -Compress -InputObject @{ endpoint = $Ctx.BlobEndpoint; account = $Ctx.StorageAccountName; key = $key; container = $Container; blob = $Blob }
        $script = "const s=require('@azure/storage-blob');let i='';process.stdin.on('data',c=>i+=c).on('end',async()=>{const r=JSON.parse(i);" +
            "const b=new s.BlobServiceClient(r.endpoint,new s.StorageSharedKeyCredential(r.account,r.key)).getContainerClient(r.container).getBlockBlobClient(r.blob);" +
            "const l=await b.getBlockList('committed');process.stdout.write(JSON.stringify(l.committedBlocks.map(x=>x.size)));});"
        $psi = New-Object System.Diagnostics.ProcessStartInfo
        $psi.FileName = Get-MsiTestNode
        $psi.ArgumentList.Add('-e')
        $psi.ArgumentList.Add($script)
        $psi.WorkingDirectory = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
        $psi.UseShellExecute = $false
        $psi.RedirectStandardInput = $true
        $psi.RedirectStandardOutput = $true
        $p = [System.Diagnostics.Process]::Start($psi)
        $p.StandardInput.Write($request)
        $p.StandardInput.Close()
        $out = $p.StandardOutput.ReadToEnd()
        $p.WaitForExit()
        return @($out | ConvertFrom-Json)
    }
    function New-CountingNode {
        # MSISTORAGE_NODE pointing at a wrapper that counts how many Node processes the module starts.
        $log = Join-Path $Work ('starts-' + [guid]::NewGuid().ToString('N') + '.log')
        $wrapper = Join-Path $Work ('node-' + [guid]::NewGuid().ToString('N') + '.sh')
        $node = (Get-Command node -CommandType Application | Select-Object -First 1).Path
        Set-Content -LiteralPath $wrapper -Value "#!/bin/sh`necho start >> '$log'`nexec '$node' `"`$@`"`n"
        & chmod +x $wrapper
        return @{ Wrapper = $wrapper; Log = $log }
    }
}
AfterAll {
    Stop-MsiTestStack $script:Stack
    Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Large files' {
    It 'uploads in parallel blocks and stores the whole file MD5 as Content-MD5' {
        $verbose = Send-MsiBlob -File $Big.FullName -Container $Container -Blob 'big.bin' -Context $Ctx -BlockSize 1MB -Concurrency 4 -Verbose 4>&1
        $blob = $verbose | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
        ($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String) | Should -Match 'Staging 20 blocks of 1048576 bytes'
        $blob.Length | Should -Be 20MB
        $blob.ContentMD5 | Should -Be $BigMd5
        (Invoke-MsiTestBlobProperties -Context $Ctx -Container $Container -Blob 'big.bin').contentMD5 | Should -Be $BigMd5
        $Made['big.bin'] = $true
    }

    It 'downloads in parallel ranged GETs of -BlockSize, -Concurrency at a time, verifies the MD5, and writes an identical file' {
        Use-TestBlob 'big.bin'
        # Through the stack's front, which logs each request's range and counts the requests in flight; each
        # waits 50 ms there, so that ranges fetched at the same time overlap there for sure.
        $front = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $Ctx.StorageAccountKey -BlobEndpoint $Stack.frontBlobEndpoint
        $null = Invoke-MsiTestStackCommand $Stack 'front-log'
        (Invoke-MsiTestStackCommand $Stack 'delay-front 50').ok | Should -BeTrue
        $dest = Join-Path $Work 'big-copy.bin'
        try { $verbose = Receive-MsiBlob -Blob 'big.bin' -Container $Container -Destination $dest -Context $front -BlockSize 1MB -Concurrency 4 -Verbose 4>&1 }
        finally { (Invoke-MsiTestStackCommand $Stack 'delay-front 0').ok | Should -BeTrue }
        $log = Invoke-MsiTestStackCommand $Stack 'front-log'
        ($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String) | Should -Match 'MD5 and length verified'
        (Get-MsiTestMd5Base64 -Path $dest) | Should -Be $BigMd5
        $gets = @($log.requests | Where-Object { $_.method -eq 'GET' -and $_.path -eq "/$($Stack.storageAccountName)/$Container/big.bin" })
        # One GET per range of exactly -BlockSize, the ranges together the whole blob, once each.
        $starts = foreach ($get in $gets) {
            $get.range | Should -Match '^bytes=\d+-\d+$'
            $from, $to = [long[]]($get.range -replace '^bytes=', '' -split '-')
            ($to - $from + 1) | Should -Be 1MB
            $from
        }
        @($starts | Sort-Object) | Should -Be @(0..19 | ForEach-Object { $_ * 1MB })
        $log.peakInFlight | Should -Be 4 -Because 'four ranges are fetched at a time, never more'
    }

    It 'commits the blocks it says it stages: the block list holds blocks of -BlockSize' {
        # The growth of the block size for files of more than 50,000 blocks (blockSizeFor) needs a file of
        # over 3 GiB; tests/integration/blob-upload.test.ts checks it against Azurite (the sizes of the blocks it staged).
        $small = New-MsiTestFile -Path (Join-Path $Work 'blocks.bin') -Size 300KB
        $verbose = Send-MsiBlob -File $small.FullName -Container $Container -Context $Ctx -BlockSize 64KB -Verbose 4>&1 | Out-String
        $verbose | Should -Match 'Staging 5 blocks of 65536 bytes'
        Get-CommittedBlockSizes -Container $Container -Blob 'blocks.bin' | Should -Be @(65536, 65536, 65536, 65536, 45056)
    }

    It 'round-trips a file of 32 MiB or more (where the MD5 is computed on the worker thread), MD5 checked' {
        $file = New-MsiTestFile -Path (Join-Path $Work 'large40.bin') -Size 40MB
        $md5 = Get-MsiTestMd5Base64 -Path $file.FullName
        $blob = Send-MsiBlob -File $file.FullName -Container $Container -Context $Ctx
        $blob.ContentMD5 | Should -Be $md5
        (Invoke-MsiTestBlobProperties -Context $Ctx -Container $Container -Blob 'large40.bin').contentMD5 | Should -Be $md5
        $dest = Join-Path $Work 'large40-copy.bin'
        $verbose = Receive-MsiBlob -Blob 'large40.bin' -Container $Container -Destination $dest -Context $Ctx -Verbose 4>&1
        ($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String) | Should -Match "MD5 and length verified: $([regex]::Escape($md5)), 41943040 bytes"
        ($verbose | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).ContentMD5 | Should -Be $md5
        Get-MsiTestMd5Base64 -Path $dest | Should -Be $md5
    }

    It 'fails when the stored MD5 was changed behind its back, and leaves no file' {
        Use-TestBlob 'tampered.bin'
        $dest = Join-Path $Work 'tampered.bin'
        $err = { Receive-MsiBlob -Blob 'tampered.bin' -Container $Container -Destination $dest -Context $Ctx -ErrorAction Stop } | Should -Throw -ErrorId 'ReceiveMsiBlobIntegrityCheckFailed,Receive-MsiBlob' -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidData'
        $err.Exception.Message | Should -Match '-SkipIntegrityCheck'
        Test-Path -LiteralPath $dest | Should -BeFalse
        Get-Partials $Work | Should -BeNullOrEmpty
    }

    It '-SkipIntegrityCheck downloads it anyway, checking the length only' {
        Use-TestBlob 'tampered.bin'
        $dest = Join-Path $Work 'tampered-skip.bin'
        Receive-MsiBlob -Blob 'tampered.bin' -Container $Container -Destination $dest -Context $Ctx -SkipIntegrityCheck | Out-Null
        (Get-MsiTestMd5Base64 -Path $dest) | Should -Be $BigMd5
    }

    It 'a blob with no stored MD5 is checked for length only, and -Verbose says so' {
        $sent = Send-MsiBlob -File $Big.FullName -Container $Container -Blob 'nomd5.bin' -Context $Ctx -SkipIntegrityCheck
        $Made['nomd5.bin'] = $true
        (Invoke-MsiTestBlobProperties -Context $Ctx -Container $Container -Blob 'nomd5.bin').contentMD5 | Should -BeNullOrEmpty
        # Nor does the output claim one (Put Block List answers with the MD5 of the block list it was sent).
        $sent.ContentMD5 | Should -BeNullOrEmpty
        $verbose = Receive-MsiBlob -Blob 'nomd5.bin' -Container $Container -Destination (Join-Path $Work 'nomd5.bin') -Context $Ctx -Verbose 4>&1 | Out-String
        $verbose | Should -Match 'has no stored Content-MD5: only its length'
    }

    It 'uploads a zero-byte file' {
        $empty = Join-Path $Work 'empty.txt'
        [System.IO.File]::WriteAllBytes($empty, [byte[]]@())
        (Send-MsiBlob -File $empty -Container $Container -Context $Ctx).Length | Should -Be 0
        $dest = Join-Path $Work 'empty-copy.txt'
        Receive-MsiBlob -Blob 'empty.txt' -Container $Container -Destination $dest -Context $Ctx | Out-Null
        (Get-Item -LiteralPath $dest).Length | Should -Be 0
    }
}

Describe 'Azurite stopped mid-download' {
    It 'leaves no partial file and the old destination intact' {
        $stack = Start-MsiTestStack
        $ps = $null
        try {
            $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $stack.imdsHost
            $ctx = New-MsiStorageContext -StorageAccountName $stack.storageAccountName -ResourceGroupName $stack.resourceGroupName -SubscriptionId $stack.subscriptionId -ArmEndpoint $stack.armEndpoint -BlobEndpoint $stack.blobEndpoint
            New-MsiStorageContainer -Name 'midway' -Context $ctx | Out-Null
            $file = New-MsiTestFile -Path (Join-Path $Work 'midway.bin') -Size 96MB
            Send-MsiBlob -File $file.FullName -Container 'midway' -Context $ctx | Out-Null
            $folder = Join-Path $Work 'midway-dest'
            New-Item -ItemType Directory -Path $folder | Out-Null
            $dest = Join-Path $folder 'midway.bin'
            Set-Content -LiteralPath $dest -Value 'the previous version' -NoNewline

            $ps = [powershell]::Create()
            $null = $ps.AddScript({
                    param($Manifest, $Ctx, $Dest)
                    $env:MSISTORAGE_RETRY_DELAY_SCALE = '0.01'
                    Import-Module $Manifest
                    Receive-MsiBlob -Blob 'midway.bin' -Container 'midway' -Destination $Dest -Context $Ctx -Force -Concurrency 1 -BlockSize 256KB
                }).AddArgument($ManifestPath).AddArgument($ctx).AddArgument($dest)
            $async = $ps.BeginInvoke()
            $deadline = [DateTime]::UtcNow.AddSeconds(20)
            while (-not (Get-Partials $folder) -and [DateTime]::UtcNow -lt $deadline -and -not $async.IsCompleted) { Start-Sleep -Milliseconds 20 }
            Get-Partials $folder | Should -Not -BeNullOrEmpty -Because 'the download must be under way when Azurite stops'
            (Invoke-MsiTestStackCommand $stack 'stop-azurite').ok | Should -BeTrue
            $null = $async.AsyncWaitHandle.WaitOne(60000)
            $ps.EndInvoke($async) | Out-Null
            $errors = @($ps.Streams.Error)
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -Match '^ReceiveMsiBlob(StorageUnreachable|StorageUnavailable)'
            $errors[0].Exception.Message | Should -Match 'could not be reached|kept failing'
            Get-Partials $folder | Should -BeNullOrEmpty
            Get-Content -LiteralPath $dest -Raw | Should -Be 'the previous version'
        }
        finally {
            if ($ps) { $ps.Dispose() }
            # $script: because PowerShell names are case-insensitive: $Stack here would be this test's $stack.
            $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $script:Stack.imdsHost
            Stop-MsiTestStack $stack
        }
    }
}

Describe 'A write-only SAS' {
    It 'uploads in blocks without -Force (the existence check it may not make is skipped), and the commit still refuses to overwrite' {
        $container = New-MsiTestContainerName
        New-MsiStorageContainer -Name $container -Context $Ctx | Out-Null
        $sas = New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -SubscriptionId $Stack.subscriptionId -ArmEndpoint $Stack.armEndpoint -Container $container -Permission cw -Protocol HttpsOrHttp
        $writeOnly = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -SasToken $sas -BlobEndpoint $Stack.blobEndpoint
        $file = New-MsiTestFile -Path (Join-Path $Work 'write-only.bin') -Size 300KB
        # Larger than one block: the path with the existence check, which this SAS cannot read (403).
        { Get-MsiBlob -Container $container -Context $writeOnly -ErrorAction Stop } | Should -Throw -ErrorId 'GetMsiBlobStoragePermissionDenied,Get-MsiBlob'
        $out = Send-MsiBlob -File $file.FullName -Container $container -Context $writeOnly -BlockSize 64KB -ErrorAction Stop -Verbose 4>&1
        ($out | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).Name | Should -Be 'write-only.bin'
        ($out | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String) | Should -Match 'Could not check whether write-only\.bin already exists \(HTTP 403\)'
        (Invoke-MsiTestBlobProperties -Context $Ctx -Container $container -Blob 'write-only.bin').contentMD5 | Should -Be (Get-MsiTestMd5Base64 -Path $file.FullName)
        # Again without -Force: the early check still cannot answer, and the conditional commit refuses.
        $err = { Send-MsiBlob -File $file.FullName -Container $container -Context $writeOnly -BlockSize 64KB -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobBlobAlreadyExists,Send-MsiBlob' -PassThru
        $err.Exception.Message | Should -Match '-Force'
    }
}

Describe 'Many files' {
    BeforeAll {
        function Receive-IntoNewFolder([string] $Folder, [System.Collections.Specialized.OrderedDictionary] $Blobs) {
            # Uploads each blob (name = content), then downloads the blobs under the first one's top folder
            # into a new folder, as one pipeline. Returns what came, what failed, and the folder.
            foreach ($name in $Blobs.Keys) {
                $source = Join-Path $Work ('src-' + [guid]::NewGuid().ToString('N'))
                $Blobs[$name] | Set-Content -LiteralPath $source
                Send-MsiBlob -File $source -Container $Container -Blob $name -Context $Ctx -Force | Out-Null
            }
            $out = Join-Path $Work $Folder
            New-Item -ItemType Directory -Path $out | Out-Null
            $prefix = @($Blobs.Keys)[0].Split('/')[0] + '/'
            $got = @(Get-MsiBlob -Container $Container -Prefix $prefix -Context $Ctx | Receive-MsiBlob -Destination $out -Context $Ctx -ErrorVariable failed -ErrorAction SilentlyContinue)
            return @{ Got = $got; Failed = @($failed); Folder = $out }
        }
        $script:Tree = Join-Path $Work 'tree'
        New-Item -ItemType Directory -Path (Join-Path $Tree 'sub/deeper') -Force | Out-Null
        'a' | Set-Content -LiteralPath (Join-Path $Tree 'a.txt')
        '{"b":1}' | Set-Content -LiteralPath (Join-Path $Tree 'sub/b.json')
        'c' | Set-Content -LiteralPath (Join-Path $Tree 'sub/deeper/c.txt')
        $script:TreeContainer = New-MsiTestContainerName
        New-MsiStorageContainer -Name $TreeContainer -Context $Ctx | Out-Null
    }
    AfterEach { $env:MSISTORAGE_NODE = $null }

    It 'binds Get-ChildItem output, names blobs relative to -SourceRoot, and starts one Node process' {
        $counting = New-CountingNode
        $env:MSISTORAGE_NODE = $counting.Wrapper
        $out = Get-ChildItem -LiteralPath $Tree -File -Recurse | Send-MsiBlob -Container $TreeContainer -SourceRoot $Tree -Context $Ctx
        @($out).Count | Should -Be 3
        @($out.Name | Sort-Object) | Should -Be @('a.txt', 'sub/b.json', 'sub/deeper/c.txt')
        ($out | Where-Object Name -EQ 'sub/b.json').ContentType | Should -Be 'application/json'
        @(Get-Content -LiteralPath $counting.Log).Count | Should -Be 1
    }

    It 'skips the folders of Get-ChildItem -Recurse without -File when -SourceRoot is given, and says so in -Verbose' {
        $container = New-MsiTestContainerName
        New-MsiStorageContainer -Name $container -Context $Ctx | Out-Null
        $all = Get-ChildItem -LiteralPath $Tree -Recurse | Send-MsiBlob -Container $container -SourceRoot $Tree -Context $Ctx -ErrorVariable failed -Verbose 4>&1
        $failed.Count | Should -Be 0
        @($all | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] } | ForEach-Object Name | Sort-Object) | Should -Be @('a.txt', 'sub/b.json', 'sub/deeper/c.txt')
        @($all | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] -and $_.Message -like 'Skipping the folder*' }).Count | Should -Be 2
        # Without -SourceRoot a folder is still an error: its files would not be uploaded.
        $null = Get-Item -LiteralPath (Join-Path $Tree 'sub') | Send-MsiBlob -Container $container -Context $Ctx -ErrorVariable dir -ErrorAction SilentlyContinue
        $dir[0].FullyQualifiedErrorId | Should -Be 'SendMsiBlobFileIsDirectory,Send-MsiBlob'
        # And so it is with -SourceRoot when only folders come: nothing would be uploaded.
        $null = Get-Item -LiteralPath (Join-Path $Tree 'sub') | Send-MsiBlob -Container $container -SourceRoot $Tree -Context $Ctx -ErrorVariable alone -ErrorAction SilentlyContinue
        $alone.Count | Should -Be 1
        $alone[0].FullyQualifiedErrorId | Should -Be 'SendMsiBlobFileIsDirectory,Send-MsiBlob'
        $alone[0].TargetObject | Should -Be (Join-Path $Tree 'sub')
    }

    It 'filters a listing with -Blob (a name, or a wildcard pattern ignoring case) and -MaxCount, as Get-AzStorageBlob does' {
        $names = { param($Listed) @($Listed | ForEach-Object Name | Sort-Object) }
        $TreeContainer = New-MsiTestContainerName
        New-MsiStorageContainer -Name $TreeContainer -Context $Ctx | Out-Null
        Get-ChildItem -LiteralPath $Tree -File -Recurse | Send-MsiBlob -Container $TreeContainer -SourceRoot $Tree -Context $Ctx | Out-Null
        & $names (Get-MsiBlob -Container $TreeContainer -Blob '*.TXT' -Context $Ctx) | Should -Be @('a.txt', 'sub/deeper/c.txt')
        & $names (Get-MsiBlob -Container $TreeContainer -Prefix 'sub/' -Blob '*.txt' -Context $Ctx) | Should -Be @('sub/deeper/c.txt')
        & $names (Get-MsiBlob -Container $TreeContainer -Blob 'sub/b.json' -Context $Ctx) | Should -Be @('sub/b.json')
        # A name without wildcards is that blob, exactly; one that is not there is an error, as in Az.Storage,
        # and nothing at all with -ErrorAction SilentlyContinue.
        $err = { Get-MsiBlob -Container $TreeContainer -Blob 'SUB/B.JSON' -Context $Ctx } | Should -Throw -ErrorId 'GetMsiBlobBlobNotFound,Get-MsiBlob' -PassThru
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err.Exception.Message | Should -Match 'case-sensitive'
        Get-MsiBlob -Container $TreeContainer -Blob 'sub/b' -Context $Ctx -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        { Get-MsiBlob -Container $TreeContainer -Prefix 'other/' -Blob 'sub/b.json' -Context $Ctx } | Should -Throw -ErrorId 'GetMsiBlobBlobNotFound,Get-MsiBlob'
        @(Get-MsiBlob -Container $TreeContainer -MaxCount 2 -Context $Ctx).Count | Should -Be 2
        { Get-MsiBlob -Container $TreeContainer -Blob 'a[' -Context $Ctx } | Should -Throw -ErrorId 'GetMsiBlobInvalidWildcardPattern,Get-MsiBlob'
        { Get-MsiBlob -Container $TreeContainer -Blob '[z-a]*' -Context $Ctx } | Should -Throw -ErrorId 'GetMsiBlobInvalidWildcardPattern,Get-MsiBlob'
    }

    It 'lists with Get-MsiBlob -Prefix and pipes into Receive-MsiBlob with a folder, in one process' {
        $counting = New-CountingNode
        $env:MSISTORAGE_NODE = $counting.Wrapper
        $folder = Join-Path $Work 'tree-copy'
        New-Item -ItemType Directory -Path $folder | Out-Null
        $listed = Get-MsiBlob -Container $TreeContainer -Prefix 'sub/' -Context $Ctx
        @($listed.Name | Sort-Object) | Should -Be @('sub/b.json', 'sub/deeper/c.txt')
        $listed[0].PSObject.TypeNames | Should -Contain 'MsiStorage.Blob'
        $got = $listed | Receive-MsiBlob -Destination $folder
        @($got).Count | Should -Be 2
        Get-Content -LiteralPath (Join-Path $folder 'sub/deeper/c.txt') | Should -Be 'c'
        @(Get-Content -LiteralPath $counting.Log).Count | Should -Be 2 -Because 'one process lists, one downloads the whole pipeline'
    }

    It 'gives each file its own error: one unreadable file does not stop the rest' {
        $batch = Join-Path $Work 'batch'
        New-Item -ItemType Directory -Path $batch | Out-Null
        foreach ($n in 1..3) { "good $n" | Set-Content -LiteralPath (Join-Path $batch "good$n.txt") }
        $bad = Join-Path $batch 'secret.txt'
        'unreadable' | Set-Content -LiteralPath $bad
        & chmod 000 $bad
        $uid = (& id -u)
        if ($uid -eq '0') {
            # root reads anything: run Node without the capabilities that let it ignore file permissions.
            $wrapper = Join-Path $Work 'node-no-dac.sh'
            $node = (Get-Command node -CommandType Application | Select-Object -First 1).Path
            Set-Content -LiteralPath $wrapper -Value "#!/bin/sh`nexec setpriv --inh-caps=-dac_override,-dac_read_search --bounding-set=-dac_override,-dac_read_search '$node' `"`$@`"`n"
            & chmod +x $wrapper
            $env:MSISTORAGE_NODE = $wrapper
        }
        $container = New-MsiTestContainerName
        New-MsiStorageContainer -Name $container -Context $Ctx | Out-Null
        $out = Get-ChildItem -LiteralPath $batch -File | Send-MsiBlob -Container $container -Context $Ctx -ErrorVariable failures -ErrorAction SilentlyContinue
        @($out).Count | Should -Be 3
        @($failures).Count | Should -Be 1
        $failures[0].FullyQualifiedErrorId | Should -Be 'SendMsiBlobFileNotReadable,Send-MsiBlob'
        $failures[0].CategoryInfo.Category | Should -Be 'PermissionDenied'
        $failures[0].TargetObject | Should -Be $bad
        @((Get-MsiBlob -Container $container -Context $Ctx).Name | Sort-Object) | Should -Be @('good1.txt', 'good2.txt', 'good3.txt')
    }

    It 'gives a file outside -SourceRoot its own error: the files before and after it are uploaded, and -WhatIf neither lists nor sends it' {
        $container = New-MsiTestContainerName
        New-MsiStorageContainer -Name $container -Context $Ctx | Out-Null
        $outside = Join-Path $Work 'outside-the-tree.txt'
        'outside' | Set-Content -LiteralPath $outside
        $files = @((Join-Path $Tree 'a.txt'), $outside, (Join-Path $Tree 'sub/b.json'))
        # -WhatIf writes to the host, which no stream redirection catches: a transcript does.
        $transcript = Join-Path $Work ('whatif-' + [guid]::NewGuid().ToString('N') + '.txt')
        $null = Start-Transcript -LiteralPath $transcript
        try { $files | Send-MsiBlob -Container $container -SourceRoot $Tree -Context $Ctx -WhatIf -ErrorVariable whatIfFailed -ErrorAction SilentlyContinue }
        finally { $null = Stop-Transcript }
        $whatIf = @(Get-Content -LiteralPath $transcript | Where-Object { $_ -like 'What if:*' })
        @($whatIfFailed).Count | Should -Be 1
        $whatIfFailed[0].FullyQualifiedErrorId | Should -Be 'SendMsiBlobFileOutsideSourceRoot,Send-MsiBlob'
        $whatIf.Count | Should -Be 2
        $whatIf[0] | Should -Match "Upload as \S+/$container/a\.txt,"
        $whatIf[1] | Should -Match "Upload as \S+/$container/sub/b\.json,"
        @(Get-MsiBlob -Container $container -Context $Ctx) | Should -HaveCount 0
        $out = $files | Send-MsiBlob -Container $container -SourceRoot $Tree -Context $Ctx -ErrorVariable failed -ErrorAction SilentlyContinue
        @($out.Name) | Sort-Object | Should -Be @('a.txt', 'sub/b.json')
        @($failed).Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'SendMsiBlobFileOutsideSourceRoot,Send-MsiBlob'
        $failed[0].CategoryInfo.Category | Should -Be 'InvalidArgument'
        $failed[0].TargetObject | Should -Be $outside
        $failed[0].Exception.Message | Should -Match ([regex]::Escape("'$outside' is not inside -SourceRoot"))
        $failed[0].Exception.Message | Should -Match 'Give a -SourceRoot that contains every file'
        @((Get-MsiBlob -Container $container -Context $Ctx).Name | Sort-Object) | Should -Be @('a.txt', 'sub/b.json')
        # With -ErrorAction Stop it ends the cmdlet there, before anything is sent.
        $stopped = New-MsiTestContainerName
        New-MsiStorageContainer -Name $stopped -Context $Ctx | Out-Null
        { $files | Send-MsiBlob -Container $stopped -SourceRoot $Tree -Context $Ctx -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobFileOutsideSourceRoot,Send-MsiBlob'
        @(Get-MsiBlob -Container $stopped -Context $Ctx) | Should -HaveCount 0
    }

    It 'refuses -Blob for several files' {
        { Get-ChildItem -LiteralPath $Tree -File -Recurse | Send-MsiBlob -Container $TreeContainer -Blob 'one' -Context $Ctx } | Should -Throw -ErrorId 'SendMsiBlobBlobNameForManyFiles,Send-MsiBlob'
    }

    It 'sends a pipeline in parts, every file once, when <Why>' -TestCases @(
        @{ Why = 'it is longer than one request carries'; Limit = 'MaxBatchItems'; Value = 2; Starts = 2 }
        # A byte limit every request exceeds: halved until each carries one item (one is always sent).
        @{ Why = 'its request would be too many bytes'; Limit = 'MaxBatchRequestBytes'; Value = 1; Starts = 3 }
    ) {
        param($Limit, $Value, $Starts)
        $container = New-MsiTestContainerName
        New-MsiStorageContainer -Name $container -Context $Ctx | Out-Null
        $saved = InModuleScope MsiStorage -Parameters @{ Name = $Limit } { param($Name) Get-Variable -Scope Script -Name $Name -ValueOnly }
        try {
            InModuleScope MsiStorage -Parameters @{ Name = $Limit; Value = $Value } { param($Name, $Value) Set-Variable -Scope Script -Name $Name -Value $Value }
            $counting = New-CountingNode
            $env:MSISTORAGE_NODE = $counting.Wrapper
            $out = Get-ChildItem -LiteralPath $Tree -File -Recurse | Send-MsiBlob -Container $container -SourceRoot $Tree -Context $Ctx
        }
        finally { InModuleScope MsiStorage -Parameters @{ Name = $Limit; Value = $saved } { param($Name, $Value) Set-Variable -Scope Script -Name $Name -Value $Value } }
        @($out.Name | Sort-Object) | Should -Be @('a.txt', 'sub/b.json', 'sub/deeper/c.txt')
        @(Get-Content -LiteralPath $counting.Log).Count | Should -Be $Starts -Because 'one Node process per request'
        @((Get-MsiBlob -Container $container -Context $Ctx).Name | Sort-Object) | Should -Be @('a.txt', 'sub/b.json', 'sub/deeper/c.txt')
    }

    It 'starts no Node for an empty pipeline or under -WhatIf' {
        $counting = New-CountingNode
        $env:MSISTORAGE_NODE = $counting.Wrapper
        @() | Send-MsiBlob -Container $TreeContainer -Context $Ctx | Should -BeNullOrEmpty
        Get-ChildItem -LiteralPath $Tree -File -Recurse | Send-MsiBlob -Container $TreeContainer -Context $Ctx -WhatIf | Should -BeNullOrEmpty
        Get-MsiBlob -Container $TreeContainer -Context $Ctx | Receive-MsiBlob -Destination (Join-Path $Work 'whatif-folder') -WhatIf | Should -BeNullOrEmpty
        @(Get-Content -LiteralPath $counting.Log -ErrorAction SilentlyContinue).Count | Should -Be 1 -Because 'only Get-MsiBlob ran'
    }

    It 'leaves no Node waiting when the pipeline fails before its end' {
        function Get-PreparedNode {
            # This pwsh's own children only: another test run on the machine has prepared processes too.
            foreach ($dir in [System.IO.Directory]::GetDirectories('/proc')) {
                try {
                    $cmd = [System.IO.File]::ReadAllText((Join-Path $dir 'cmdline'))
                    $stat = [System.IO.File]::ReadAllText((Join-Path $dir 'stat'))
                }
                catch { continue }
                # /proc/<pid>/stat: "pid (comm) state ppid ...", comm in parentheses and free to hold spaces.
                $parent = [int]($stat.Substring($stat.LastIndexOf(')') + 2).Split(' ')[1])
                if ($parent -eq $PID -and $cmd -match 'msistorage\.cjs' -and $cmd -match '--prepare') { Split-Path -Leaf $dir }
            }
        }
        function Wait-NoPreparedNode {
            $deadline = [DateTime]::UtcNow.AddSeconds(10)
            while ((Get-PreparedNode) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 50 }
            @(Get-PreparedNode) | Should -BeNullOrEmpty
        }
        # The cmdlet's own refusal at the second file: the prepared process is told at once.
        { Get-ChildItem -LiteralPath $Tree -File -Recurse | Send-MsiBlob -Container $TreeContainer -Blob 'one' -Context $Ctx } | Should -Throw -ErrorId 'SendMsiBlobBlobNameForManyFiles,Send-MsiBlob'
        Wait-NoPreparedNode
        # A failure upstream: the cmdlet never reaches its end, and the waiting process gives up by itself.
        $env:MSISTORAGE_PREPARE_TIMEOUT_MS = '500'
        try {
            { & { Get-Item -LiteralPath (Join-Path $Tree 'a.txt'); throw 'upstream failed' } | Send-MsiBlob -Container $TreeContainer -Context $Ctx -Force } | Should -Throw 'upstream failed'
            @(Get-PreparedNode).Count | Should -Be 1 -Because 'Node was started at the first file'
            Wait-NoPreparedNode
        }
        finally { $env:MSISTORAGE_PREPARE_TIMEOUT_MS = $null }
    }

    It 'refuses several blobs into one file' {
        $listed = Get-MsiBlob -Container $TreeContainer -Context $Ctx
        { $listed | Receive-MsiBlob -Destination (Join-Path $Work 'one-file.txt') } | Should -Throw -ErrorId 'ReceiveMsiBlobDestinationNotFolder,Receive-MsiBlob'
    }

    It "downloads only the first of two blobs that map to one file in the folder ('d/x.txt' and 'd//x.txt'), and says why for the other" {
        $r = Receive-IntoNewFolder -Folder 'dup-out' -Blobs ([ordered]@{ 'dup/x.txt' = 'one'; 'dup//x.txt' = 'two' })
        $got = $r.Got; $failed = $r.Failed; $folder = $r.Folder
        $got.Count | Should -Be 1
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'ReceiveMsiBlobDuplicateDestination,Receive-MsiBlob'
        $failed[0].Exception.Message | Should -Match 'same file'
        # The file holds the blob that was downloaded, whole.
        (Get-Content -LiteralPath (Join-Path $folder 'dup/x.txt') -Raw).Trim() | Should -Be $(if ($got[0].Name -eq 'dup/x.txt') { 'one' } else { 'two' })
    }

    It "downloads the blobs under 'conf/logs/' and says why it cannot also write 'conf/logs' as a file" {
        $r = Receive-IntoNewFolder -Folder 'conf-out' -Blobs ([ordered]@{ 'conf/logs' = 'one'; 'conf/logs/app.log' = 'one' })
        $got = $r.Got; $failed = $r.Failed; $folder = $r.Folder
        @($got.Name) | Should -Be @('conf/logs/app.log')
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'ReceiveMsiBlobDestinationIsDirectory,Receive-MsiBlob'
        $failed[0].Exception.Message | Should -Match "'conf/logs' would be written to a file where the blob 'conf/logs/app.log' needs a folder"
        $failed[0].Exception.Message | Should -Not -Match '-Force'
        Test-Path -LiteralPath (Join-Path $folder 'conf/logs/app.log') -PathType Leaf | Should -BeTrue
    }
}

Describe 'A long file name' {
    It 'downloads to a valid name of 250 bytes (non-ASCII included), whose temporary name would be too long, and leaves no partial file' {
        # 100 x 'ü' (2 bytes each in UTF-8) + 46 x 'a' + '.txt': 250 bytes, under the 255 a file name may have;
        # '.<name>.<12 hex>.msistorage-partial' would be 283.
        $name = ([string]::new([char]0x00FC, 100)) + ('a' * 46) + '.txt'
        [System.Text.Encoding]::UTF8.GetByteCount($name) | Should -Be 250
        $source = Join-Path $Work 'long-name-source.txt'
        Set-Content -LiteralPath $source -Value 'long name'
        Send-MsiBlob -File $source -Container $Container -Blob 'long-name.txt' -Context $Ctx -Force | Out-Null
        $folder = Join-Path $Work 'long-name'
        New-Item -ItemType Directory -Path $folder | Out-Null
        $dest = Join-Path $folder $name
        $got = Receive-MsiBlob -Blob 'long-name.txt' -Container $Container -Destination $dest -Context $Ctx
        $got.Destination | Should -Be $dest
        (Get-Content -LiteralPath $dest -Raw).Trim() | Should -Be 'long name'
        Get-Partials $folder | Should -BeNullOrEmpty
        @(Get-ChildItem -LiteralPath $folder -Force).Name | Should -Be @($name)
        # The same through a folder as -Destination, the blob named so: the file gets the blob's name.
        Send-MsiBlob -File $source -Container $Container -Blob $name -Context $Ctx -Force | Out-Null
        $into = Join-Path $Work 'long-name-folder'
        New-Item -ItemType Directory -Path $into | Out-Null
        (Receive-MsiBlob -Blob $name -Container $Container -Destination $into -Context $Ctx).Destination | Should -Be (Join-Path $into $name)
        @(Get-ChildItem -LiteralPath $into -Force).Name | Should -Be @($name)
    }
}

Describe 'Progress' {
    It 'shows bytes, percent and rate for a large file while it is sent, and files done of total for a batch' {
        # Through the stack's front, each request held 100 ms: the 20 blocks take a second or more, and the
        # progress must show while they go, not all at the end. What tells "while": a record with bytes done
        # is seen before the front has even received the Put Block List that ends the upload.
        $front = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -SubscriptionId $Stack.subscriptionId -ArmEndpoint $Stack.armEndpoint -BlobEndpoint $Stack.frontBlobEndpoint
        $empty = Join-Path $Work 'empty.txt'
        if (-not (Test-Path -LiteralPath $empty)) { [System.IO.File]::WriteAllBytes($empty, [byte[]]@()) }
        $null = Invoke-MsiTestStackCommand $Stack 'front-log'
        (Invoke-MsiTestStackCommand $Stack 'delay-front 100').ok | Should -BeTrue
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($Manifest, $Ctx, $Files, $Container)
                    Import-Module $Manifest
                    $ProgressPreference = 'Continue'
                    $Files | Send-MsiBlob -Container $Container -Context $Ctx -Force -BlockSize 1MB -Concurrency 2 | Out-Null
                }).AddArgument($ManifestPath).AddArgument($front).AddArgument(@($Big.FullName, $empty)).AddArgument($Container)
            $async = $ps.BeginInvoke()
            $seen = $null
            $deadline = [DateTime]::UtcNow.AddSeconds(30)
            while (-not $seen -and -not $async.IsCompleted -and [DateTime]::UtcNow -lt $deadline) {
                $seen = @($ps.Streams.Progress) | Where-Object { $_.Activity -eq 'Uploading big.bin' -and $_.PercentComplete -gt 0 } | Select-Object -First 1
                if (-not $seen) { Start-Sleep -Milliseconds 10 }
            }
            $log = (Invoke-MsiTestStackCommand $Stack 'front-log').requests
            $seen | Should -Not -BeNullOrEmpty -Because 'a progress record with bytes done must show while the upload runs'
            $seen.PercentComplete | Should -BeLessThan 100
            @($log | Where-Object { $_.comp -eq 'block' }).Count | Should -BeGreaterThan 0
            @($log | Where-Object { $_.comp -eq 'blocklist' }) | Should -BeNullOrEmpty -Because 'the record came before the upload was committed'
            $null = $async.AsyncWaitHandle.WaitOne(60000)
            $null = $ps.EndInvoke($async)
            $ps.Streams.Error | Should -BeNullOrEmpty
            $records = @($ps.Streams.Progress)
            $file = $records | Where-Object { $_.Activity -eq 'Uploading big.bin' -and $_.PercentComplete -gt 0 }
            $file | Should -Not -BeNullOrEmpty
            $file[0].StatusDescription | Should -Match '\d+(\.\d)? (KiB|MiB) of 20\.0 MiB, .+/s'
            $file[0].ParentActivityId | Should -Be 1
            ($records | Where-Object { $_.Activity -eq 'Uploading 2 files' -and $_.StatusDescription -match '\d of 2 files' }) | Should -Not -BeNullOrEmpty
            ($records | Where-Object { $_.RecordType -eq 'Completed' }) | Should -Not -BeNullOrEmpty
        }
        finally {
            $ps.Dispose()
            (Invoke-MsiTestStackCommand $Stack 'delay-front 0').ok | Should -BeTrue
        }
    }

    It 'counts files on across the requests of a pipeline sent in parts' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($Manifest, $Ctx, $Tree, $Container)
                    Import-Module $Manifest
                    & (Get-Module MsiStorage) { $script:MaxBatchItems = 2 }
                    $ProgressPreference = 'Continue'
                    Get-ChildItem -LiteralPath $Tree -File -Recurse | Send-MsiBlob -Container $Container -SourceRoot $Tree -Context $Ctx -Force | Out-Null
                }).AddArgument($ManifestPath).AddArgument($Ctx).AddArgument($Tree).AddArgument($Container)
            $null = $ps.Invoke()
            $ps.Streams.Error | Should -BeNullOrEmpty
            $batch = @($ps.Streams.Progress | Where-Object { $_.ActivityId -eq 1 })
            # Three files in requests of two: one bar for all three, which reaches 3 of 3 and completes once.
            @($batch | Where-Object { $_.RecordType -ne 'Completed' } | ForEach-Object Activity | Sort-Object -Unique) | Should -Be @('Uploading 3 files')
            ($batch | Where-Object { $_.StatusDescription -match '^3 of 3 files' }) | Should -Not -BeNullOrEmpty
            @($batch | Where-Object { $_.RecordType -eq 'Completed' }).Count | Should -Be 1
        }
        finally { $ps.Dispose() }
    }

    It 'shows files done of total for a batch download, with no byte total it does not know' {
        Use-TestBlob 'big.bin'
        Use-TestBlob 'nomd5.bin'
        $folder = Join-Path $Work 'progress-down'
        New-Item -ItemType Directory -Path $folder | Out-Null
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($Manifest, $Ctx, $Container, $Folder)
                    Import-Module $Manifest
                    $ProgressPreference = 'Continue'
                    @('big.bin', 'nomd5.bin') | ForEach-Object { [pscustomobject]@{ Blob = $_ } } | Receive-MsiBlob -Container $Container -Context $Ctx -Destination $Folder -BlockSize 1MB -Concurrency 2 | Out-Null
                }).AddArgument($ManifestPath).AddArgument($Ctx).AddArgument($Container).AddArgument($folder)
            $null = $ps.Invoke()
            $ps.Streams.Error | Should -BeNullOrEmpty
            $batch = @($ps.Streams.Progress | Where-Object { $_.Activity -eq 'Downloading 2 files' -and $_.RecordType -ne 'Completed' })
            $batch | Should -Not -BeNullOrEmpty
            foreach ($r in $batch) {
                $r.StatusDescription | Should -Match '^[0-2] of 2 files, \d+(\.\d)? (B|KiB|MiB), .+/s$'
                $r.StatusDescription | Should -Not -Match ' of 0 B'
                $r.PercentComplete | Should -BeIn @(0, 50, 100)
            }
            $batch[-1].StatusDescription | Should -Match '^2 of 2 files'
            ($ps.Streams.Progress | Where-Object { $_.Activity -eq 'Downloading big.bin' -and $_.StatusDescription -match ' of 20\.0 MiB, ' }) | Should -Not -BeNullOrEmpty
        }
        finally { $ps.Dispose() }
    }

    It 'shows nothing when $ProgressPreference is SilentlyContinue' {
        $ps = [powershell]::Create()
        try {
            $null = $ps.AddScript({
                    param($Manifest, $Ctx, $File, $Container)
                    Import-Module $Manifest
                    # The session shows progress; only the caller's own scope turns it off. So nothing may be
                    # shown unless the module honours the caller's preference (the global one would let it through).
                    $global:ProgressPreference = 'Continue'
                    & {
                        $ProgressPreference = 'SilentlyContinue'
                        Send-MsiBlob -File $File -Container $Container -Context $Ctx -Force | Out-Null
                    }
                }).AddArgument($ManifestPath).AddArgument($Ctx).AddArgument($Big.FullName).AddArgument($Container)
            $null = $ps.Invoke()
            $ps.Streams.Error | Should -BeNullOrEmpty
            @($ps.Streams.Progress).Count | Should -Be 0
        }
        finally { $ps.Dispose() }
    }
}

Describe 'Content settings' {
    It 'sets the content type, metadata, properties and tier' {
        $file = Join-Path $Work 'page.html'
        '<p>hi</p>' | Set-Content -LiteralPath $file
        $blob = Send-MsiBlob -File $file -Container $Container -Context $Ctx -Force -Metadata @{ owner = 'ops'; build = 42 } `
            -Properties @{ CacheControl = 'no-cache'; ContentDisposition = 'inline'; ContentEncoding = 'identity'; ContentLanguage = 'en' } -StandardBlobTier Cool
        $blob.ContentType | Should -Be 'text/html'
        $props = Invoke-MsiTestBlobProperties -Context $Ctx -Container $Container -Blob 'page.html'
        $props.contentType | Should -Be 'text/html'
        $props.metadata.owner | Should -Be 'ops'
        $props.metadata.build | Should -Be '42'
        $props.cacheControl | Should -Be 'no-cache'
        $props.contentDisposition | Should -Be 'inline'
        $props.contentEncoding | Should -Be 'identity'
        $props.contentLanguage | Should -Be 'en'
        $props.accessTier | Should -Be 'Cool'
        (Send-MsiBlob -File $file -Container $Container -Blob 'page.bin' -ContentType 'application/x-custom' -Context $Ctx -Force).ContentType | Should -Be 'application/x-custom'
    }

    It 'refuses an unknown property, naming the allowed ones' {
        $err = { Send-MsiBlob -File $Big.FullName -Container $Container -Context $Ctx -Properties @{ Colour = 'blue' } } | Should -Throw -ErrorId 'SendMsiBlobInvalidBlobProperty,Send-MsiBlob' -PassThru
        $err.Exception.Message | Should -Match 'CacheControl'
    }
}
