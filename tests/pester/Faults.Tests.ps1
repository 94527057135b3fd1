# Issue 6: faults from the identity endpoint, ARM and storage, and interruption. The storage faults go
# through the stack's front (a proxy to Azurite that can stop, fail or hang), so that what Azurite holds can
# be checked afterwards.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestStack.psm1') -Force
    $script:ManifestPath = Join-Path (Split-Path -Parent (Split-Path -Parent $PSScriptRoot)) 'MsiStorage.psd1'
    Import-Module $ManifestPath -Force
    $script:Stack = Start-MsiTestStack
    $script:Emu = $Stack.imdsHost
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Emu
    $env:MSISTORAGE_RETRY_DELAY_SCALE = '0.01'
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-faults-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $Work | Out-Null
    $script:Key = Get-MsiStorageKey -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint
    $script:Direct = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $Key -BlobEndpoint $Stack.blobEndpoint
    $script:Front = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $Key -BlobEndpoint $Stack.frontBlobEndpoint
    $script:Container = New-MsiTestContainerName
    New-MsiStorageContainer -Name $Container -Context $Direct | Out-Null
    $script:Big = New-MsiTestFile -Path (Join-Path $Work 'big.bin') -Size 48MB
    $script:Small = Join-Path $Work 'small.txt'
    Set-Content -LiteralPath $Small -Value 'small'
    $script:Survived = 0

    function Invoke-Emulator([string] $Path, $Body, [string] $Method = 'Post') {
        $json = if ($null -ne $Body) { ConvertTo-Json -InputObject $Body -Depth 6 -Compress } else { $null }
        Invoke-RestMethod -Method $Method -Uri "$Emu$Path" -Body $json -ContentType 'application/json' -NoProxy
    }
    function Get-FrontRequests { (Invoke-MsiTestStackCommand $Stack 'front-requests').requests }
    function Get-Partials([string] $Folder) { @(Get-ChildItem -LiteralPath $Folder -Force -Recurse -Filter '*msistorage-partial*') }
    function Start-Background([scriptblock] $Script, [object[]] $Arguments) {
        $ps = [powershell]::Create()
        $null = $ps.AddScript($Script)
        foreach ($a in $Arguments) { $null = $ps.AddArgument($a) }
        return @{ PowerShell = $ps; Async = $ps.BeginInvoke() }
    }
    function Stop-UnderUpload($On, $Context, [string] $Container, [string] $Stop) {
        # A slow upload of $Big as 'interrupted.bin' through the front of stack $On; once its blocks are on
        # their way, the stack command $Stop takes the service away. Returns the upload's errors.
        (Invoke-MsiTestStackCommand $On 'delay-front 20').ok | Should -BeTrue
        $job = Start-Background -Script {
            param($Manifest, $Ctx, $File, $Container)
            $env:MSISTORAGE_RETRY_DELAY_SCALE = '0.01'
            Import-Module $Manifest
            Send-MsiBlob -File $File -Container $Container -Blob 'interrupted.bin' -Context $Ctx -BlockSize 256KB -Concurrency 1
        } -Arguments @($ManifestPath, $Context, $Big.FullName, $Container)
        try {
            $start = (Invoke-MsiTestStackCommand $On 'front-requests').requests
            Wait-Until { (Invoke-MsiTestStackCommand $On 'front-requests').requests -gt $start + 10 } | Should -BeTrue -Because 'blocks must be on their way when the service stops'
            (Invoke-MsiTestStackCommand $On $Stop).ok | Should -BeTrue
            $null = $job.Async.AsyncWaitHandle.WaitOne(60000)
            $null = $job.PowerShell.EndInvoke($job.Async)
            return , @($job.PowerShell.Streams.Error)
        }
        finally {
            $job.PowerShell.Dispose()
            (Invoke-MsiTestStackCommand $On 'delay-front 0').ok | Should -BeTrue
        }
    }
    function Wait-Until([scriptblock] $Condition, [int] $Seconds = 20) {
        $deadline = [DateTime]::UtcNow.AddSeconds($Seconds)
        while (-not (& $Condition) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
        return (& $Condition)
    }
}
AfterAll {
    Write-Host "    faults: $script:Survived injected faults survived or reported cleanly"
    $env:MSISTORAGE_RETRY_DELAY_SCALE = $null
    Stop-MsiTestStack $script:Stack
    Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue
}
Describe 'Faults' {
AfterEach {
    Invoke-Emulator '/__emulator/faults' $null 'Delete' | Out-Null
    InModuleScope MsiStorage { $script:MsiTokenCache = @{} }
}

Describe 'Identity endpoint faults' {
    It 'a 200 without access_token is an InvalidData error' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(@{ status = 200; body = @{ token_type = 'Bearer'; expires_in = '3599' } }) } | Out-Null
        $err = { Get-MsiToken -Force } | Should -Throw -ErrorId 'GetMsiTokenInvalidTokenResponse,Get-MsiToken' -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidData'
        $script:Survived++
    }

    It 'resets, then an HTML page, then a hang: each reported or ridden out' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(@{ reset = $true }, @{ reset = $true }) } | Out-Null
        (Get-MsiToken -Force).Source | Should -Be 'IMDS'
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(@{ html = $true }) } | Out-Null
        { Get-MsiToken -Force } | Should -Throw -ErrorId 'GetMsiTokenInvalidTokenResponse,Get-MsiToken'
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(@{ hang = $true }, @{ hang = $true }) } | Out-Null
        { Get-MsiToken -Force -TimeoutSec 1 } | Should -Throw -ErrorId 'GetMsiTokenIdentityEndpointTimeout,Get-MsiToken'
        $script:Survived += 4
    }

    It 'redacts a token that an endpoint echoes in its error' {
        $real = Get-MsiToken -AsPlainText -Force
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(@{ status = 400; body = @{ error = 'invalid_request'; error_description = "Token $real is not valid here; key Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==" } }) } | Out-Null
        $err = { Get-MsiToken -Force } | Should -Throw -PassThru
        $err.Exception.Message | Should -Not -Match ([regex]::Escape($real))
        $err.Exception.Message | Should -Not -Match 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50'
        $err.Exception.Message | Should -Match '\[redacted\]'
        ($err.Exception.Data['MsiStorage.azureMessage']) | Should -Not -Match ([regex]::Escape($real))
        $script:Survived++
    }
}

Describe 'ARM faults' {
    It 'a hang ends at -TimeoutSec with ArmTimeout' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'arm'; faults = @(@{ hang = $true }, @{ hang = $true }, @{ hang = $true }) } | Out-Null
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $err = { Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint -TimeoutSec 2 } |
            Should -Throw -ErrorId 'GetMsiStorageKeyArmTimeout,Get-MsiStorageKey' -PassThru
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 5
        $err.CategoryInfo.Category | Should -Be 'OperationTimeout'
        $script:Survived++
    }

    It 'rides out 429 with Retry-After, 503 and a reset' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'arm'; faults = @(@{ status = 429; retryAfter = 1 }, @{ status = 503 }, @{ reset = $true }) } | Out-Null
        (Get-MsiStorageKey -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint).KeyName | Should -Be 'key1'
        $script:Survived += 3
    }
}

Describe 'Storage faults' {
    It 'retries 500 and 503 from the service' -TestCases @(@{ Status = 500 }, @{ Status = 503 }) {
        param($Status)
        $before = Get-FrontRequests
        (Invoke-MsiTestStackCommand $Stack "fail-front $Status 2").ok | Should -BeTrue
        $all = Send-MsiBlob -File $Small -Container $Container -Blob "retried-$Status" -Context $Front -Force -Verbose 4>&1
        ($all | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).Name | Should -Be "retried-$Status"
        (Get-FrontRequests) - $before | Should -BeGreaterOrEqual 3
        # -Verbose tells the retries, with the path and never the query (a SAS would be there).
        $told = ($all | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String)
        $told | Should -Match "Storage: HTTP $Status on try 1 of 4 \(PUT /[^ ]+/retried-$Status\); retrying"
        $told | Should -Match "Storage: HTTP $Status on try 2 of 4"
        $script:Survived += 2
    }

    It 'retries a Put Block of a multi-block upload that got 500, and commits the whole file' {
        $file = New-MsiTestFile -Path (Join-Path $Work 'blocks-500.bin') -Size 1MB
        $null = Invoke-MsiTestStackCommand $Stack 'front-log'
        # Only Put Block requests fail (not the existence check before them, nor the commit after them).
        (Invoke-MsiTestStackCommand $Stack 'fail-front 500 2 InternalError block').ok | Should -BeTrue
        # One block at a time: the two failed requests are the first block's first two tries.
        $all = Send-MsiBlob -File $file.FullName -Container $Container -Blob 'blocks-500.bin' -Context $Front -BlockSize 256KB -Concurrency 1 -Force -Verbose 4>&1
        $sent = $all | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
        $sent.ContentMD5 | Should -Be (Get-MsiTestMd5Base64 -Path $file.FullName)
        $blocks = @((Invoke-MsiTestStackCommand $Stack 'front-log').requests | Where-Object { $_.comp -eq 'block' })
        # Four blocks, and the two failed tries sent again: six Put Block requests for four committed blocks.
        $blocks.Count | Should -Be 6
        @($blocks | Where-Object { $_.path -like '*/blocks-500.bin' -and $_.length -eq 256KB }).Count | Should -Be 6
        $told = ($all | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String)
        $told | Should -Match 'Storage: HTTP 500 on try 1 of 4 \(PUT /[^ ]+/blocks-500\.bin\); retrying'
        $told | Should -Match 'Storage: HTTP 500 on try 2 of 4 \(PUT /[^ ]+/blocks-500\.bin\); retrying'
        (Invoke-MsiTestBlobProperties -Context $Direct -Container $Container -Blob 'blocks-500.bin').contentMD5 | Should -Be (Get-MsiTestMd5Base64 -Path $file.FullName)
        $script:Survived += 2
    }

    It 'retries a ranged GET of a multi-range download that got 503, and writes the whole file' {
        $file = New-MsiTestFile -Path (Join-Path $Work 'ranges-503.bin') -Size 1MB
        Send-MsiBlob -File $file.FullName -Container $Container -Blob 'ranges-503.bin' -Context $Direct -Force | Out-Null
        $dest = Join-Path $Work 'ranges-503.out'
        # fail-front has no kind for a GET without comp=, and the download's HEAD comes first: each request is
        # held 400 ms at the front, and the fault is set once the first ranged GET has arrived (the HEAD is
        # then answered), before that GET is forwarded.
        $null = Invoke-MsiTestStackCommand $Stack 'front-log'
        (Invoke-MsiTestStackCommand $Stack 'delay-front 400').ok | Should -BeTrue
        $job = Start-Background -Script {
            param($Manifest, $Ctx, $Container, $Dest)
            $env:MSISTORAGE_RETRY_DELAY_SCALE = '0.01'
            Import-Module $Manifest
            Receive-MsiBlob -Blob 'ranges-503.bin' -Container $Container -Destination $Dest -Context $Ctx -BlockSize 256KB -Concurrency 2 -Verbose
        } -Arguments @($ManifestPath, $Front, $Container, $dest)
        try {
            $log = [System.Collections.Generic.List[object]]::new()
            $gotGet = Wait-Until {
                foreach ($r in (Invoke-MsiTestStackCommand $Stack 'front-log').requests) { $log.Add($r) }
                @($log | Where-Object { $_.method -eq 'GET' }).Count -gt 0
            }
            $gotGet | Should -BeTrue
            (Invoke-MsiTestStackCommand $Stack 'fail-front 503 1').ok | Should -BeTrue
            $null = $job.Async.AsyncWaitHandle.WaitOne(60000)
            $got = $job.PowerShell.EndInvoke($job.Async)
            $job.PowerShell.Streams.Error | Should -BeNullOrEmpty
            @($got).Count | Should -Be 1
            (Get-MsiTestMd5Base64 -Path $dest) | Should -Be (Get-MsiTestMd5Base64 -Path $file.FullName)
            foreach ($r in (Invoke-MsiTestStackCommand $Stack 'front-log').requests) { $log.Add($r) }
            $gets = @($log | Where-Object { $_.method -eq 'GET' -and $_.path -like '*/ranges-503.bin' })
            # Four ranges, one of them asked for twice: the try that got 503, and its retry.
            $gets.Count | Should -Be 5
            @($gets.range | Sort-Object -Unique).Count | Should -Be 4
            @($gets | Group-Object range | Where-Object Count -EQ 2).Count | Should -Be 1
            ($job.PowerShell.Streams.Verbose | Out-String) | Should -Match 'Storage: HTTP 503 on try 1 of 4 \(GET /[^ ]+/ranges-503\.bin\); retrying'
        }
        finally {
            $job.PowerShell.Dispose()
            (Invoke-MsiTestStackCommand $Stack 'delay-front 0').ok | Should -BeTrue
            (Invoke-MsiTestStackCommand $Stack 'fail-front 503 0').ok | Should -BeTrue
        }
        $script:Survived += 2
    }

    It 'a request that hangs is abandoned after the per-try timeout and retried' {
        $env:MSISTORAGE_TRY_TIMEOUT_MS = '1000'
        try {
            (Invoke-MsiTestStackCommand $Stack 'hang-front 1').ok | Should -BeTrue
            $before = Get-FrontRequests
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            (Send-MsiBlob -File $Small -Container $Container -Blob 'after-hang' -Context $Front -Force).Name | Should -Be 'after-hang'
            $sw.Elapsed.TotalSeconds | Should -BeLessThan 10
            # The hang did happen: the first try waited out its timeout, and a second try went through.
            $sw.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 0.95
            ((Get-FrontRequests) - $before) | Should -BeGreaterOrEqual 2
        }
        finally { $env:MSISTORAGE_TRY_TIMEOUT_MS = $null }
        $script:Survived++
    }

    It 'the service going away mid-upload commits nothing under the name, with a clear error' {
        try { $errors = Stop-UnderUpload -On $Stack -Context $Front -Container $Container -Stop 'stop-front' }
        finally { (Invoke-MsiTestStackCommand $Stack 'start-front').ok | Should -BeTrue }
        $errors.Count | Should -Be 1
        $errors[0].FullyQualifiedErrorId | Should -Be 'SendMsiBlobStorageUnreachable,Send-MsiBlob'
        $errors[0].Exception.Message | Should -Match 'could not be reached'
        # Azurite still holds the container and its other blobs; the interrupted one was never committed.
        @((Get-MsiBlob -Container $Container -Context $Direct).Name) | Should -Not -Contain 'interrupted.bin'
        @((Get-MsiBlob -Container $Container -Context $Direct).Name) | Should -Contain 'after-hang'
        $script:Survived++
    }

    It 'Azurite itself stopped mid-upload: a clear error, and once it is back nothing is committed under the name' {
        # A stack of its own whose Azurite keeps its data on disk: what was committed survives the restart.
        $own = Start-MsiTestStack -Arguments @('--disk')
        try {
            $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $own.imdsHost
            $ctx = New-MsiStorageContext -StorageAccountName $own.storageAccountName -ResourceGroupName $own.resourceGroupName -SubscriptionId $own.subscriptionId -ArmEndpoint $own.armEndpoint -BlobEndpoint $own.frontBlobEndpoint
            New-MsiStorageContainer -Name 'stopped' -Context $ctx | Out-Null
            Send-MsiBlob -File $Small -Container 'stopped' -Blob 'before.txt' -Context $ctx | Out-Null
            $errors = Stop-UnderUpload -On $own -Context $ctx -Container 'stopped' -Stop 'stop-azurite'
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -Be 'SendMsiBlobStorageUnreachable,Send-MsiBlob'
            $errors[0].Exception.Message | Should -Match 'could not be reached'
            (Invoke-MsiTestStackCommand $own 'start-azurite').ok | Should -BeTrue
            $names = @((Get-MsiBlob -Container 'stopped' -Context $ctx).Name)
            $names | Should -Contain 'before.txt' -Because 'Azurite is back with what it held'
            $names | Should -Not -Contain 'interrupted.bin'
        }
        finally {
            $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $script:Stack.imdsHost
            Stop-MsiTestStack $own
        }
        $script:Survived++
    }
}

Describe 'A blob that changes' {
    It 'a blob changed mid-download is detected (If-Match on every range): BlobChanged, no partial file, no destination' {
        Send-MsiBlob -File $Big.FullName -Container $Container -Blob 'changing.bin' -Context $Direct -Force | Out-Null
        $folder = Join-Path $Work 'changed'
        New-Item -ItemType Directory -Path $folder | Out-Null
        $dest = Join-Path $folder 'changing.bin'
        # A slow service: the download is surely under way, and far from done, when the blob changes.
        (Invoke-MsiTestStackCommand $Stack 'delay-front 20').ok | Should -BeTrue
        $job = Start-Background -Script {
            param($Manifest, $Ctx, $Container, $Dest)
            Import-Module $Manifest
            Receive-MsiBlob -Blob 'changing.bin' -Container $Container -Destination $Dest -Context $Ctx -BlockSize 64KB -Concurrency 1
        } -Arguments @($ManifestPath, $Front, $Container, $dest)
        try {
            Wait-Until { Get-Partials $folder } | Should -BeTrue -Because 'the download must be under way'
            # A new version under the same name and of the same size, written straight to Azurite: a new ETag.
            Send-MsiBlob -File $Big.FullName -Container $Container -Blob 'changing.bin' -Context $Direct -Force | Out-Null
            $job.Async.AsyncWaitHandle.WaitOne(60000) | Should -BeTrue
            $null = $job.PowerShell.EndInvoke($job.Async)
            $errors = @($job.PowerShell.Streams.Error)
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -Be 'ReceiveMsiBlobBlobChanged,Receive-MsiBlob'
            $errors[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
            $errors[0].Exception.Message | Should -Match 'changed during the operation'
            Get-Partials $folder | Should -BeNullOrEmpty
            Test-Path -LiteralPath $dest | Should -BeFalse
        }
        finally {
            $job.PowerShell.Dispose()
            $null = Invoke-MsiTestStackCommand $Stack 'delay-front 0'
        }
        $script:Survived++
    }
}

Describe 'Interruption' {
    It 'stopping the pipeline mid-download kills Node and removes its temporary file' {
        Send-MsiBlob -File $Big.FullName -Container $Container -Blob 'slow.bin' -Context $Direct -Force | Out-Null
        $folder = Join-Path $Work 'stopped'
        New-Item -ItemType Directory -Path $folder | Out-Null
        $pidFile = Join-Path $Work 'node.pid'
        $wrapper = Join-Path $Work 'node-pid.sh'
        $node = (Get-Command node -CommandType Application | Select-Object -First 1).Path
        Set-Content -LiteralPath $wrapper -Value "#!/bin/sh`necho `$`$ > '$pidFile'`nexec '$node' `"`$@`"`n"
        & chmod +x $wrapper
        $job = Start-Background -Script {
            param($Manifest, $Ctx, $Container, $Dest, $Wrapper)
            $env:MSISTORAGE_NODE = $Wrapper
            Import-Module $Manifest
            Receive-MsiBlob -Blob 'slow.bin' -Container $Container -Destination $Dest -Context $Ctx -BlockSize 64KB -Concurrency 1
        } -Arguments @($ManifestPath, $Front, $Container, (Join-Path $folder 'slow.bin'), $wrapper)
        try {
            Wait-Until { Get-Partials $folder } | Should -BeTrue -Because 'the download must be under way'
            $nodePid = [int](Get-Content -LiteralPath $pidFile)
            Test-Path "/proc/$nodePid" | Should -BeTrue
            $job.PowerShell.Stop()
            Wait-Until { -not (Test-Path "/proc/$nodePid") } -Seconds 15 | Should -BeTrue -Because 'the Node child must be gone'
            Get-Partials $folder | Should -BeNullOrEmpty
            Test-Path (Join-Path $folder 'slow.bin') | Should -BeFalse
        }
        finally { $job.PowerShell.Dispose(); $env:MSISTORAGE_NODE = $null }
        $script:Survived++
    }

    It 'Select-Object -First on a long listing ends at once, and its Node process with it' {
        $folder = Join-Path $Work 'many'
        New-Item -ItemType Directory -Path $folder | Out-Null
        foreach ($i in 1..1500) { [System.IO.File]::WriteAllBytes((Join-Path $folder ('f{0:d4}.txt' -f $i)), [byte[]]@()) }
        $many = New-MsiTestContainerName
        New-MsiStorageContainer -Name $many -Context $Direct | Out-Null
        @(Get-ChildItem -LiteralPath $folder -File | Send-MsiBlob -Container $many -Context $Direct).Count | Should -Be 1500
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $first = Get-MsiBlob -Container $many -Context $Direct | Select-Object -First 1
        $sw.Stop()
        $first.Name | Should -Be 'f0001.txt'
        # Far more results than a pipe holds: Node, left writing them with nobody reading, never saw the
        # cancel and was killed only when the bridge gave up on it, 10 s later.
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 5
        $script:Survived++
    }

    It 'stopping mid-upload kills Node and commits nothing' {
        $pidFile = Join-Path $Work 'node-up.pid'
        $wrapper = Join-Path $Work 'node-up.sh'
        $node = (Get-Command node -CommandType Application | Select-Object -First 1).Path
        Set-Content -LiteralPath $wrapper -Value "#!/bin/sh`necho `$`$ > '$pidFile'`nexec '$node' `"`$@`"`n"
        & chmod +x $wrapper
        # A slow service: every block waits, so the upload is surely under way, not done, when it is stopped.
        (Invoke-MsiTestStackCommand $Stack 'delay-front 50').ok | Should -BeTrue
        $start = Get-FrontRequests
        $job = Start-Background -Script {
            param($Manifest, $Ctx, $File, $Container, $Wrapper)
            $env:MSISTORAGE_NODE = $Wrapper
            Import-Module $Manifest
            Send-MsiBlob -File $File -Container $Container -Blob 'stopped-upload.bin' -Context $Ctx -BlockSize 128KB -Concurrency 1
        } -Arguments @($ManifestPath, $Front, $Big.FullName, $Container, $wrapper)
        try {
            Wait-Until { (Get-FrontRequests) -gt $start + 5 } | Should -BeTrue
            $nodePid = [int](Get-Content -LiteralPath $pidFile)
            $job.PowerShell.Stop()
            Wait-Until { -not (Test-Path "/proc/$nodePid") } -Seconds 15 | Should -BeTrue
        }
        finally {
            $job.PowerShell.Dispose(); $env:MSISTORAGE_NODE = $null
            $null = Invoke-MsiTestStackCommand $Stack 'delay-front 0'
        }
        @((Get-MsiBlob -Container $Container -Context $Direct).Name) | Should -Not -Contain 'stopped-upload.bin'
        $script:Survived++
    }
}
}
