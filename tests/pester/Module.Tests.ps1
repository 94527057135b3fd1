# Issue 7: a first-class module: views, ShouldProcess, tab completion, Windows PowerShell 5.1 compatibility
# of the source, and the installable package.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestStack.psm1') -Force
    $script:Root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
    Import-Module (Join-Path $Root 'MsiStorage.psd1') -Force
    $script:Stack = Start-MsiTestStack
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Stack.imdsHost
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-module-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $Work | Out-Null
    $script:Key = Get-MsiStorageKey -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint
    $script:Ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $Key -BlobEndpoint $Stack.blobEndpoint
    $script:Container = New-MsiTestContainerName
    New-MsiStorageContainer -Name $Container -Context $Ctx | Out-Null
    $script:File = Join-Path $Work 'test.txt'
    Set-Content -LiteralPath $File -Value 'This is a test text file.'
    # A new pwsh: the one the tests run on (a global tool runs as 'dotnet', so not this process's path).
    $script:Pwsh = $env:MSISTORAGE_PWSH
    if (-not $Pwsh) { $script:Pwsh = Join-Path $Root '.tools/pwsh/pwsh' }
    if (-not (Test-Path -LiteralPath $Pwsh)) { $script:Pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Path }
    $script:StackFile = Join-Path $Work 'stack.json'
    $Stack | Select-Object * -ExcludeProperty Process | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $StackFile

    function New-MsiTestHome([string] $Path) {
        # A fresh home, and the environment that points a pwsh at it. Its XDG folders must exist: .NET gives an
        # empty LocalApplicationData for a missing one, and PSResourceGet would then keep its repository list
        # in the current folder.
        $environment = @{ HOME = $Path; XDG_DATA_HOME = "$Path/.local/share"; XDG_CONFIG_HOME = "$Path/.config"; XDG_CACHE_HOME = "$Path/.cache"; PSModulePath = $null }
        foreach ($folder in $Path, $environment.XDG_DATA_HOME, $environment.XDG_CONFIG_HOME, $environment.XDG_CACHE_HOME) { New-Item -ItemType Directory -Path $folder -Force | Out-Null }
        return $environment
    }

    function Invoke-ChildPwsh {
        # Runs a script in a new pwsh with some environment variables set (a $null value removes one) and
        # returns what it printed, errors included. Never telemetry nor an update check: nothing leaves the machine.
        # -File runs a script that is already on disk instead (its exit code is then in $LASTEXITCODE).
        param([string] $Name, [string] $Script, [string[]] $Arguments = @(), [hashtable] $Environment = @{}, [string] $File)
        $path = $File
        if (-not $path) {
            $path = Join-Path $Work "$Name.ps1"
            Set-Content -LiteralPath $path -Value $Script
        }
        $vars = @{ POWERSHELL_TELEMETRY_OPTOUT = '1'; POWERSHELL_UPDATECHECK = 'Off' } + $Environment
        $saved = @{}
        foreach ($k in $vars.Keys) { $saved[$k] = [Environment]::GetEnvironmentVariable($k); [Environment]::SetEnvironmentVariable($k, $vars[$k]) }
        try { return & $Pwsh -NoProfile -NonInteractive -File $path @Arguments 2>&1 }
        finally { foreach ($k in $saved.Keys) { [Environment]::SetEnvironmentVariable($k, $saved[$k]) } }
    }
}
AfterAll {
    Stop-MsiTestStack $script:Stack
    Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Output and formatting' {
    It 'types every object' {
        (Get-MsiToken).PSObject.TypeNames | Should -Contain 'MsiStorage.AccessToken'
        $Key.PSObject.TypeNames | Should -Contain 'MsiStorage.StorageKey'
        $Ctx.PSObject.TypeNames | Should -Contain 'MsiStorage.StorageContext'
        (Send-MsiBlob -File $File -Container $Container -Context $Ctx -Force).PSObject.TypeNames | Should -Contain 'MsiStorage.Blob'
    }

    It 'a container object pipes into Get-MsiBlob, as in Az.Storage' {
        $name = New-MsiTestContainerName
        $made = New-MsiStorageContainer -Name $name -Context $Ctx
        $made | Get-MsiBlob | Should -BeNullOrEmpty
        Send-MsiBlob -File $File -Container $name -Blob 'piped.txt' -Context $Ctx | Out-Null
        $listed = @($made | Get-MsiBlob)
        $listed.Name | Should -Be 'piped.txt'
        $listed[0].Container | Should -Be $name
    }

    It 'Get-MsiStorageContainer finds containers by name, wildcard or prefix, and they pipe into Get-MsiBlob' {
        $name = New-MsiTestContainerName
        New-MsiStorageContainer -Name $name -Context $Ctx | Out-Null
        Send-MsiBlob -File $File -Container $name -Blob 'listed.txt' -Context $Ctx | Out-Null
        $found = Get-MsiStorageContainer -Name $name -Context $Ctx
        $found.PSObject.TypeNames | Should -Contain 'MsiStorage.Container'
        $found.Name | Should -Be $name
        $found.ETag | Should -Match '^"0x[0-9A-F]+"$'
        (Get-MsiStorageContainer -Name ($name.Substring(0, 8).ToUpper() + '*') -Context $Ctx).Name | Should -Be $name
        (Get-MsiStorageContainer -Prefix $name.Substring(0, 8) -Context $Ctx).Name | Should -Be $name
        # Container names are lower case: a name in capitals is the same container.
        (Get-MsiStorageContainer -Name $name.ToUpper() -Context $Ctx).Name | Should -Be $name
        { Get-MsiStorageContainer -Name ($name + 'x') -Context $Ctx } | Should -Throw -ErrorId 'GetMsiStorageContainerContainerNotFound,Get-MsiStorageContainer'
        Get-MsiStorageContainer -Name ($name + 'x') -Context $Ctx -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Get-MsiStorageContainer -Name ($name + '*x') -Context $Ctx | Should -BeNullOrEmpty
        @(Get-MsiStorageContainer -MaxCount 1 -Context $Ctx).Count | Should -Be 1
        (Get-MsiStorageContainer $name -Context $Ctx | Get-MsiBlob).Name | Should -Be 'listed.txt'
        # A failure names the account, not a container.
        $dead = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $Key -BlobEndpoint "http://127.0.0.1:9/$($Stack.storageAccountName)/"
        $err = { Get-MsiStorageContainer -Context $dead } | Should -Throw -ErrorId 'GetMsiStorageContainerStorageUnreachable,Get-MsiStorageContainer' -PassThru
        $err.Exception.Message | Should -Match "the containers of account '$($Stack.storageAccountName)'"
        $err.TargetObject | Should -Be $Stack.storageAccountName
    }

    It 'shows blobs in a table like Az.Storage' {
        $text = Get-MsiBlob -Container $Container -Context $Ctx | Format-Table | Out-String
        foreach ($column in 'Name', 'BlobType', 'Length', 'ContentType', 'LastModified') { $text | Should -Match $column }
        $text | Should -Match 'test\.txt'
    }

    It 'never shows the key in the views of the key and the context' {
        $plain = (New-Object System.Net.NetworkCredential -ArgumentList '', $Key.Value).Password
        foreach ($o in $Key, $Ctx) {
            ($o | Out-String) | Should -Not -BeLikeExactly "*$plain*"
            ($o | Format-List | Out-String) | Should -Not -BeLikeExactly "*$plain*"
            ($o | Format-Table | Out-String) | Should -Not -BeLikeExactly "*$plain*"
        }
    }

    It 'has tables for the token, the key and the context, with no secret column' {
        foreach ($case in @(
                @{ Object = (Get-MsiToken); Columns = 'TokenType', 'Resource', 'ExpiresOn', 'Source' }
                @{ Object = $Key; Columns = 'StorageAccountName', 'KeyName', 'Permissions' }
                @{ Object = $Ctx; Columns = 'StorageAccountName', 'BlobEndpoint', 'AuthType' })) {
            $text = $case.Object | Format-Table | Out-String
            foreach ($column in $case.Columns) { $text | Should -Match $column }
            $text | Should -Not -Match 'SecureString'
        }
    }

    It 'shows a context inside another object as its account, credential kind and endpoint' {
        "$Ctx" | Should -Be "$($Stack.storageAccountName) (SharedKey, $($Stack.blobEndpoint))"
        $text = Get-MsiBlob -Container $Container -Context $Ctx | Format-List * | Out-String -Width 500
        $text | Should -Match ([regex]::Escape("Context      : $($Stack.storageAccountName) (SharedKey, "))
        $text | Should -Not -Match 'SecureString'
    }

    It 'shows where Receive-MsiBlob wrote each blob' {
        $dest = Join-Path $Work 'table-view.txt'
        $got = Receive-MsiBlob -Blob 'test.txt' -Container $Container -Destination $dest -Context $Ctx -Force
        $got.PSObject.TypeNames | Should -Contain 'MsiStorage.Blob'
        $text = $got | Format-Table | Out-String -Width 500
        $text | Should -Match 'Destination'
        $text | Should -Match ([regex]::Escape($dest))
    }
}

Describe 'Error actions' {
    It '-ErrorAction SilentlyContinue or Ignore quiets a failure of the operation itself, as Az cmdlets do' {
        $Error.Clear()
        # The idempotent create, and the existence test.
        New-MsiStorageContainer -Name $Container -Context $Ctx -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        $Error[0].FullyQualifiedErrorId | Should -Be 'NewMsiStorageContainerContainerAlreadyExists,New-MsiStorageContainer'
        # Ignore: not even recorded.
        $before = $Error.Count
        Get-MsiBlob -Container 'nosuchcontainer' -Context $Ctx -ErrorAction Ignore | Should -BeNullOrEmpty
        $Error.Count | Should -Be $before
        $found = Get-MsiStorageKey -StorageAccountName 'nosuchaccount1' -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -ArmEndpoint $Stack.armEndpoint -ErrorAction SilentlyContinue
        $found | Should -BeNullOrEmpty
        $Error[0].FullyQualifiedErrorId | Should -Be 'GetMsiStorageKeyStorageAccountNotFound,Get-MsiStorageKey'
        $Error[0].CategoryInfo.Category | Should -Be 'ObjectNotFound'
        # The caller's preference works too.
        & {
            $ErrorActionPreference = 'SilentlyContinue'
            New-MsiStorageSas -StorageAccountName 'nosuchaccount1' -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -ArmEndpoint $Stack.armEndpoint -Container 'cont1' | Should -BeNullOrEmpty
        }
        # Reported, not dropped.
        $Error[0].FullyQualifiedErrorId | Should -Be 'NewMsiStorageSasStorageAccountNotFound,New-MsiStorageSas'
    }

    It 'still stops on bad input, and on any failure without it' {
        { New-MsiStorageContainer -Name 'UPPER' -Context $Ctx -ErrorAction SilentlyContinue } | Should -Throw -ErrorId 'NewMsiStorageContainerInvalidContainerName,New-MsiStorageContainer'
        { New-MsiStorageContainer -Name $Container -Context $Ctx } | Should -Throw -ErrorId 'NewMsiStorageContainerContainerAlreadyExists,New-MsiStorageContainer'
    }
}

Describe 'ShouldProcess' {
    It 'a confirmation that a -NonInteractive session cannot ask for stops the cmdlet, and nothing is changed' {
        Send-MsiBlob -File $File -Container $Container -Blob 'keep-unconfirmed.txt' -Context $Ctx -Force | Out-Null
        # No try/catch around the calls (one would end the cmdlet anyway): a scheduled task's script, as it runs.
        $out = Invoke-ChildPwsh -Name 'noninteractive' -Arguments $Root, $StackFile, $Work, $Container, $File -Script @'
param($Root, $StackFile, $Work, $Container, $File)
$s = Get-Content -Raw -LiteralPath $StackFile | ConvertFrom-Json
$env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $s.imdsHost
Import-Module (Join-Path $Root 'MsiStorage.psd1')
$ctx = New-MsiStorageContext -StorageAccountName $s.storageAccountName -SubscriptionId $s.subscriptionId -ResourceGroupName $s.resourceGroupName -ArmEndpoint $s.armEndpoint -BlobEndpoint $s.blobEndpoint
$Error.Clear()
Remove-MsiBlob -Blob 'keep-unconfirmed.txt' -Container $Container -Context $ctx 2>$null
Get-MsiBlob -Container $Container -Prefix 'keep-unconfirmed' -Context $ctx | Remove-MsiBlob 2>$null
Send-MsiBlob -File $File -Container $Container -Blob 'never-confirmed.txt' -Context $ctx -Confirm 2>$null
Receive-MsiBlob -Blob 'keep-unconfirmed.txt' -Container $Container -Destination (Join-Path $Work 'never-confirmed.txt') -Context $ctx -Confirm 2>$null
New-MsiStorageContainer -Name 'neverconfirmed' -Context $ctx -Confirm 2>$null
# Newest first. (What ShouldProcess threw is in $Error too: the module caught it and raised its own error.)
$Error | Where-Object { $_.FullyQualifiedErrorId -like '*,*' } | Select-Object -First 5 | ForEach-Object { 'ERR ' + $_.FullyQualifiedErrorId }
'DONE'
'@
        ($out -join "`n") | Should -Match 'DONE'
        # $Error is newest first.
        @($out | Where-Object { "$_" -like 'ERR *' }) | Should -Be @(
            'ERR NewMsiStorageContainerConfirmationUnavailable,New-MsiStorageContainer'
            'ERR ReceiveMsiBlobConfirmationUnavailable,Receive-MsiBlob'
            'ERR SendMsiBlobConfirmationUnavailable,Send-MsiBlob'
            'ERR RemoveMsiBlobConfirmationUnavailable,Remove-MsiBlob'
            'ERR RemoveMsiBlobConfirmationUnavailable,Remove-MsiBlob'
        )
        (Get-MsiBlob -Container $Container -Prefix 'keep-unconfirmed' -Context $Ctx).Name | Should -Be 'keep-unconfirmed.txt'
        Get-MsiBlob -Container $Container -Prefix 'never-confirmed' -Context $Ctx | Should -BeNullOrEmpty
        Test-Path -LiteralPath (Join-Path $Work 'never-confirmed.txt') | Should -BeFalse
        { Get-MsiBlob -Container 'neverconfirmed' -Context $Ctx -ErrorAction Stop } | Should -Throw -ErrorId 'GetMsiBlobContainerNotFound,Get-MsiBlob'
    }

    It 'Remove-MsiBlob -WhatIf deletes nothing; -Force deletes without asking; blobs bind by property name' {
        Send-MsiBlob -File $File -Container $Container -Blob 'doomed.txt' -Context $Ctx -Force | Out-Null
        Get-MsiBlob -Container $Container -Prefix 'doomed' -Context $Ctx | Remove-MsiBlob -WhatIf
        (Get-MsiBlob -Container $Container -Prefix 'doomed' -Context $Ctx).Name | Should -Be 'doomed.txt'
        $removed = Get-MsiBlob -Container $Container -Prefix 'doomed' -Context $Ctx | Remove-MsiBlob -Force -PassThru
        $removed.Name | Should -Be 'doomed.txt'
        # What its [OutputType()] declares.
        $removed.PSObject.TypeNames | Should -Contain 'MsiStorage.RemovedBlob'
        Get-MsiBlob -Container $Container -Prefix 'doomed' -Context $Ctx | Should -BeNullOrEmpty
    }

    It 'Remove-MsiBlob of a missing blob is ObjectNotFound' {
        { Remove-MsiBlob -Blob 'never-was' -Container $Container -Context $Ctx -Force -ErrorAction Stop } | Should -Throw -ErrorId 'RemoveMsiBlobBlobNotFound,Remove-MsiBlob'
    }

    It 'New-MsiStorageContainer -WhatIf and Receive-MsiBlob -WhatIf change nothing' {
        New-MsiStorageContainer -Name 'never-created' -Context $Ctx -WhatIf
        { Send-MsiBlob -File $File -Container 'never-created' -Context $Ctx -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobContainerNotFound,Send-MsiBlob'
        $dest = Join-Path $Work 'whatif.txt'
        # The blob exists (this test uploads it), so only -WhatIf can keep the file from being written.
        Send-MsiBlob -File $File -Container $Container -Blob 'whatif-source.txt' -Context $Ctx -Force -ErrorAction Stop | Out-Null
        Receive-MsiBlob -Blob 'whatif-source.txt' -Container $Container -Destination $dest -Context $Ctx -WhatIf -ErrorAction Stop
        Test-Path -LiteralPath $dest | Should -BeFalse
    }

    It 'every cmdlet that writes supports -WhatIf and -Confirm' {
        # Every exported command whose verb does not only read is taken to write (in the account or on the
        # disk), so that a new one cannot come without ShouldProcess unnoticed.
        $readingVerbs = 'Get', 'Test', 'Find', 'Search', 'Measure', 'Compare', 'Resolve', 'Show', 'Format', 'ConvertTo', 'ConvertFrom', 'Select', 'Read', 'Wait', 'Watch'
        # New- commands that make nothing, in the account or anywhere: a context is an object in the session
        # (its key, when not given, read from ARM's listKeys), and a SAS is a string that ARM signs
        # (listServiceSas, listAccountSas) and keeps no record of.
        $readOnly = 'New-MsiStorageContext', 'New-MsiStorageSas'
        $exported = @(Get-Command -Module MsiStorage)
        foreach ($name in $readOnly) { $exported.Name | Should -Contain $name -Because 'an exception names a command the module exports' }
        $writers = @($exported | Where-Object { $_.Verb -notin $readingVerbs -and $_.Name -notin $readOnly })
        # The ones known to write are among them; the list is not empty by a mistake in the filter.
        foreach ($name in 'New-MsiStorageContainer', 'Send-MsiBlob', 'Receive-MsiBlob', 'Remove-MsiBlob') { $writers.Name | Should -Contain $name }
        foreach ($command in $writers) {
            $command.Parameters.Keys | Should -Contain 'WhatIf' -Because "$($command.Name) writes"
            $command.Parameters.Keys | Should -Contain 'Confirm' -Because "$($command.Name) writes"
        }
    }
}

Describe '-WhatIf on a pipeline of files' {
    It 'names each blob as it would be stored, uploads nothing, and finds no fault with the folders' {
        $tree = Join-Path $Work 'whatif-tree'
        New-Item -ItemType Directory -Path (Join-Path $tree 'sub') -Force | Out-Null
        'a' | Set-Content -LiteralPath (Join-Path $tree 'a.txt')
        'b' | Set-Content -LiteralPath (Join-Path $tree 'sub/b.txt')
        $out = Invoke-ChildPwsh -Name 'whatif-tree' -Arguments $Root, $StackFile, $Container, $tree -Script @'
param($Root, $StackFile, $Container, $Tree)
$s = Get-Content -Raw -LiteralPath $StackFile | ConvertFrom-Json
$env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $s.imdsHost
Import-Module (Join-Path $Root 'MsiStorage.psd1')
$ctx = New-MsiStorageContext -StorageAccountName $s.storageAccountName -SubscriptionId $s.subscriptionId -ResourceGroupName $s.resourceGroupName -ArmEndpoint $s.armEndpoint -BlobEndpoint $s.blobEndpoint
$Error.Clear()
Get-ChildItem -LiteralPath $Tree -Recurse | Send-MsiBlob -Container $Container -SourceRoot $Tree -Context $ctx -WhatIf
Send-MsiBlob -File (Join-Path $Tree 'a.txt') -Container $Container -Blob 'back\slash.txt' -Context $ctx -Force -WhatIf
'ERRORS ' + $Error.Count
'LISTED ' + @(Get-MsiBlob -Container $Container -Prefix 'sub/' -Context $ctx).Count
'@
        $text = $out -join "`n"
        $text | Should -Match 'ERRORS 0'
        $text | Should -Match "Upload as \S+/$Container/sub/b\.txt, unless the blob exists"
        $text | Should -Match "Upload as \S+/$Container/a\.txt, unless the blob exists"
        $text | Should -Match "Upload as \S+/$Container/back/slash\.txt, replacing the blob if it exists"
        $text | Should -Match 'LISTED 0'
    }
}

Describe '-Debug' {
    It 'shows the verbose story and the warnings without asking, in a -NonInteractive session too' {
        # PowerShell makes a function's own $PSCmdlet.WriteVerbose and WriteWarning ask "Continue with this
        # operation?" under -Debug, and fail where nobody can answer.
        $out = Invoke-ChildPwsh -Name 'debug' -Arguments $Root, $StackFile, $Container, $File -Script @'
param($Root, $StackFile, $Container, $File)
$s = Get-Content -Raw -LiteralPath $StackFile | ConvertFrom-Json
$env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $s.imdsHost
Import-Module (Join-Path $Root 'MsiStorage.psd1')
$null = Get-MsiToken
$Error.Clear()
$records = @(
    Get-MsiToken -Debug 5>&1 4>&1
    # A warning from Node: the account is not in the resource group given, so its endpoint is not read from ARM.
    $key = Get-MsiStorageKey -StorageAccountName $s.dataStorageAccountName -SubscriptionId $s.subscriptionId -ResourceGroupName $s.dataResourceGroupName -ArmEndpoint $s.armEndpoint
    New-MsiStorageContext -StorageAccountName $s.dataStorageAccountName -StorageAccountKey $key -SubscriptionId $s.subscriptionId -ResourceGroupName $s.resourceGroupName -ArmEndpoint $s.armEndpoint -Debug 5>&1 4>&1 3>&1 | Where-Object { $_ -is [System.Management.Automation.InformationalRecord] }
    Send-MsiBlob -File $File -Container $Container -Blob 'debugged.txt' -Context (New-MsiStorageContext -StorageAccountName $s.storageAccountName -SubscriptionId $s.subscriptionId -ResourceGroupName $s.resourceGroupName -ArmEndpoint $s.armEndpoint -BlobEndpoint $s.blobEndpoint) -Force -Debug 5>&1 4>&1
)
'ERRORS ' + $Error.Count
foreach ($r in $records) { if ($r -is [System.Management.Automation.VerboseRecord]) { 'VERBOSE ' + $r.Message } elseif ($r -is [System.Management.Automation.WarningRecord]) { 'WARNING ' + $r.Message } }
# What Windows PowerShell 5.1's -Debug sets: debug messages that ask before each one.
$ctx = New-MsiStorageContext -StorageAccountName $s.storageAccountName -SubscriptionId $s.subscriptionId -ResourceGroupName $s.resourceGroupName -ArmEndpoint $s.armEndpoint -BlobEndpoint $s.blobEndpoint
$global:DebugPreference = 'Inquire'
$Error.Clear()
$debug = @(Send-MsiBlob -File $File -Container $Container -Blob 'debugged.txt' -Context $ctx -Force 5>&1 | Where-Object { $_ -is [System.Management.Automation.DebugRecord] })
$global:DebugPreference = 'SilentlyContinue'
'INQUIRE ERRORS ' + $Error.Count
foreach ($r in $debug) { 'DEBUG ' + $r.Message }
'@
        $text = $out -join "`n"
        $text | Should -Match 'ERRORS 0'
        $text | Should -Match 'INQUIRE ERRORS 0'
        $text | Should -Match "DEBUG MsiStorage: sending command 'upload'"
        $text | Should -Not -Match 'NonInteractive mode'
        $text | Should -Match "VERBOSE Using the session's cached token"
        $text | Should -Match 'VERBOSE Context: '
        $text | Should -Match "WARNING The account's blob endpoint could not be read"
        $text | Should -Match 'VERBOSE 1 done, 0 failed'
    }
}

Describe 'Tab completion' {
    It 'completes -Container and -Blob from the live account when -Context is bound' {
        $global:MsiCompletionContext = $Ctx
        try {
            $line = "Get-MsiBlob -Context `$global:MsiCompletionContext -Container $($Container.Substring(0, 4))"
            $found = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
            $found | Should -Contain $Container
            $line = "Receive-MsiBlob -Context `$global:MsiCompletionContext -Container $Container -Blob tes"
            $found = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
            $found | Should -Contain 'test.txt'
        }
        finally { Remove-Variable -Name MsiCompletionContext -Scope Global }
    }

    It "escapes wildcards where the parameter takes a pattern (Get-MsiBlob -Blob), not where it takes a name" {
        Send-MsiBlob -File $File -Container $Container -Blob 'set[1].txt' -Context $Ctx -Force | Out-Null
        $global:MsiCompletionContext = $Ctx
        try {
            $line = "Get-MsiBlob -Context `$global:MsiCompletionContext -Container $Container -Blob set"
            $found = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
            $found | Should -Contain "'set``[1``].txt'"
            # What it completes finds that one blob.
            (Get-MsiBlob -Container $Container -Blob 'set`[1`].txt' -Context $Ctx).Name | Should -Be 'set[1].txt'
            # A backtick too (which [WildcardPattern]::Escape leaves alone before PowerShell 7.6).
            Send-MsiBlob -File $File -Container $Container -Blob 'tick`mark.txt' -Context $Ctx -Force | Out-Null
            $line = "Get-MsiBlob -Context `$global:MsiCompletionContext -Container $Container -Blob tick"
            $found = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText
            $found | Should -Contain "'tick````mark.txt'"
            (Get-MsiBlob -Container $Container -Blob 'tick``mark.txt' -Context $Ctx).Name | Should -Be 'tick`mark.txt'
            $line = "Remove-MsiBlob -Context `$global:MsiCompletionContext -Container $Container -Blob set"
            (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches.CompletionText | Should -Contain 'set[1].txt'
        }
        finally { Remove-Variable -Name MsiCompletionContext -Scope Global }
    }
}

Describe 'Replies: names stay strings, times are exact' {
    BeforeAll {
        function Use-MsiJsonParser([string] $Parser) {
            InModuleScope MsiStorage -Parameters @{ P = $Parser } {
                param($P)
                Select-MsiJsonParser -Parser $P
                # 'Plain' is Windows PowerShell 5.1's ConvertFrom-Json, which keeps a string that looks like a
                # time as a string, and writes an array as one object. PowerShell 7's does neither unless told
                # to: these defaults, for the module's own commands only, tell it, so that the Plain path, and
                # everything that reads what it returns, runs here on what 5.1 would give it.
                if ($P -eq 'Plain') { $script:PSDefaultParameterValues = @{ 'ConvertFrom-Json:DateKind' = 'String'; 'ConvertFrom-Json:NoEnumerate' = $true } }
                else { Remove-Variable -Name PSDefaultParameterValues -Scope Script -ErrorAction SilentlyContinue }
            }
        }

        function Test-DateNamedBlob([string] $Parser) {
            $container = New-MsiTestContainerName
            New-MsiStorageContainer -Name $container -Context $Ctx | Out-Null
            # Names like times, and one with a space and letters beyond ASCII (written as code points: this file
            # stays ASCII), which must come back as the same characters from Node's UTF-8.
            $names = '2026-01-15T10:00:00Z', '2026-01-15T10:00:00.1234567+01:00', "2026-01-15 Z$([char]0xFC)rich $([char]0x6771)$([char]0x4EAC).txt"
            foreach ($n in $names) {
                $sent = Send-MsiBlob -File $File -Container $container -Blob $n -Context $Ctx
                $sent.Name | Should -BeOfType [string]
                $sent.Name | Should -BeExactly $n
            }
            $listed = @(Get-MsiBlob -Container $container -Context $Ctx)
            @($listed.Name | Sort-Object) | Should -Be @($names | Sort-Object)
            foreach ($b in $listed) { $b.Name | Should -BeOfType [string] }

            $folder = Join-Path $Work "dated-$Parser"
            New-Item -ItemType Directory -Path $folder | Out-Null
            $got = @($listed | Receive-MsiBlob -Destination $folder)
            @($got.Name | Sort-Object) | Should -Be @($names | Sort-Object)
            foreach ($n in $names) { (Get-FileHash -LiteralPath (Join-Path $folder $n)).Hash | Should -Be (Get-FileHash -LiteralPath $File).Hash }

            $global:MsiCompletionContext = $Ctx
            try {
                $line = "Remove-MsiBlob -Context `$global:MsiCompletionContext -Container $container -Blob 2026"
                $completions = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches
                @($completions.ListItemText | Sort-Object) | Should -Be @($names | Sort-Object)
                # What completion inserts reads back as the very name.
                foreach ($c in $completions) { (& ([scriptblock]::Create("Write-Output $($c.CompletionText)"))) | Should -BeExactly $c.ListItemText }
            }
            finally { Remove-Variable -Name MsiCompletionContext -Scope Global }

            $removed = @($listed | Remove-MsiBlob -Force -PassThru)
            @($removed.Name | Sort-Object) | Should -Be @($names | Sort-Object)
            Get-MsiBlob -Container $container -Context $Ctx | Should -BeNullOrEmpty
        }
    }

    # Auto is ConvertFrom-Json -DateKind String on PowerShell 7.5+; Populate and Tree are the PowerShell 7.0-7.4
    # parsers (Newtonsoft.Json's reader without date parsing), and Plain Windows PowerShell 5.1's, run here on
    # purpose (see Use-MsiJsonParser).
    It 'a blob named like a date round-trips through Send, Get, Receive, tab completion and Remove (<Parser> parser)' -TestCases @(
        @{ Parser = 'Auto' }, @{ Parser = 'Populate' }, @{ Parser = 'Tree' }, @{ Parser = 'Plain' }
    ) {
        param($Parser)
        Use-MsiJsonParser $Parser
        try { Test-DateNamedBlob -Parser $Parser }
        finally { Use-MsiJsonParser Auto }
    }

    It 'a reply reads back with every name and value as sent: nested objects, arrays, times as text, non-ASCII (<Parser> parser)' -TestCases @(
        @{ Parser = 'Auto' }, @{ Parser = 'DateKind' }, @{ Parser = 'Populate' }, @{ Parser = 'Tree' }, @{ Parser = 'Plain' }
    ) {
        param($Parser)
        $zurich = "Z$([char]0xFC)rich $([char]0x6771)$([char]0x4EAC) $([char]0xD83D)$([char]0xDE00)"
        $reply = [ordered]@{
            v = 1; ok = $true
            result = [ordered]@{
                name = '2026-01-15T10:00:00Z'; lastModified = '2026-01-15T10:00:00.1234567+01:00'; day = '2026-01-15'
                $zurich = $zurich
                nested = [ordered]@{ deeper = [ordered]@{ when = '2026-01-15T10:00:00.123Z'; list = @([ordered]@{ n = $zurich }, '2026-01-15T10:00:00Z', 3) } }
                size = 12; big = 1234567890123; ratio = 1.5; yes = $true; none = $null
            }
        }
        # What Node writes: UTF-8 JSON, non-ASCII unescaped; the batch parse reads several lines as one array.
        $json = $reply | ConvertTo-Json -Depth 10 -Compress
        $json | Should -Match ([regex]::Escape($zurich.Substring(0, 7)))
        Use-MsiJsonParser $Parser
        try {
            $read = InModuleScope MsiStorage -Parameters @{ J = $json } {
                param($J)
                # As Invoke-MsiNode reads a batch: assigned, then enumerated (5.1's ConvertFrom-Json, and the
                # Tree converter, return an array as one object).
                $messages = ConvertFrom-MsiJson ('[' + $J + ',' + $J + ']')
                @{ One = @(ConvertFrom-MsiJson $J); Many = @(foreach ($m in $messages) { $m }) }
            }
        }
        finally { Use-MsiJsonParser Auto }
        $read.One.Count | Should -Be 1
        $read.Many.Count | Should -Be 2
        foreach ($r in $read.One + $read.Many) {
            $r.ok | Should -BeTrue
            $x = $r.result
            foreach ($property in 'name', 'lastModified', 'day') {
                $x.$property | Should -BeOfType [string]
                $x.$property | Should -BeExactly $reply.result[$property]
            }
            $x.$zurich | Should -BeExactly $zurich
            $x.nested.deeper.when | Should -BeOfType [string]
            $x.nested.deeper.when | Should -BeExactly '2026-01-15T10:00:00.123Z'
            $list = @($x.nested.deeper.list)
            $list.Count | Should -Be 3
            $list[0].n | Should -BeExactly $zurich
            $list[1] | Should -BeOfType [string]
            $list[1] | Should -BeExactly '2026-01-15T10:00:00Z'
            $list[2] | Should -Be 3
            $x.size | Should -Be 12
            $x.big | Should -Be 1234567890123
            $x.ratio | Should -Be 1.5
            $x.yes | Should -BeTrue
            $x.PSObject.Properties['none'] | Should -Not -BeNullOrEmpty
            $x.none | Should -BeNullOrEmpty
        }
    }

    It 'completion quotes a name that PowerShell would read as a parameter' {
        $container = New-MsiTestContainerName
        New-MsiStorageContainer -Name $container -Context $Ctx | Out-Null
        Send-MsiBlob -File $File -Container $container -Blob '-flag' -Context $Ctx | Out-Null
        $global:MsiCompletionContext = $Ctx
        try {
            $line = "Receive-MsiBlob -Context `$global:MsiCompletionContext -Container $container -Blob "
            $m = (TabExpansion2 -inputScript $line -cursorColumn $line.Length).CompletionMatches | Where-Object ListItemText -EQ '-flag'
            $m.CompletionText | Should -Be "'-flag'"
        }
        finally { Remove-Variable -Name MsiCompletionContext -Scope Global }
    }

    It 'times are the UTC instant, to the tick, in a session in another time zone (TZ=America/New_York)' {
        $out = Invoke-ChildPwsh -Name 'timezone' -Arguments $Root, $StackFile, $Work -Environment @{ TZ = 'America/New_York' } -Script @'
param($Root, $StackFile, $Work)
$ErrorActionPreference = 'Stop'
$s = Get-Content -Raw -LiteralPath $StackFile | ConvertFrom-Json
$env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $s.imdsHost
$m = Import-Module (Join-Path $Root 'MsiStorage.psd1') -PassThru
$t0 = [DateTimeOffset]::UtcNow
$key = Get-MsiStorageKey -SubscriptionId $s.subscriptionId -ResourceGroupName $s.resourceGroupName -StorageAccountName $s.storageAccountName -ArmEndpoint $s.armEndpoint
$t1 = [DateTimeOffset]::UtcNow
$ctx = New-MsiStorageContext -StorageAccountName $s.storageAccountName -StorageAccountKey $key -BlobEndpoint $s.blobEndpoint
$c = 't' + [guid]::NewGuid().ToString('N').Substring(0, 12)
$t2 = [DateTimeOffset]::UtcNow
$container = New-MsiStorageContainer -Name $c -Context $ctx
$f = Join-Path $Work 'tz.txt'
'tz' | Set-Content -LiteralPath $f
$sent = Send-MsiBlob -File $f -Container $c -Context $ctx
$t3 = [DateTimeOffset]::UtcNow
$listed = Get-MsiBlob -Container $c -Context $ctx
$fixed = & $m {
    $b = ConvertTo-MsiBlob -Result @([pscustomobject]@{ name = 'x'; container = 'c'; blobType = 'BlockBlob'; length = 1; contentType = $null; lastModified = '2026-01-15T10:00:00.123Z'; etag = $null; contentMD5 = $null; destination = $null })
    @{
        Z = (ConvertTo-MsiDate '2026-01-15T10:00:00.123Z')
        Plus1 = (ConvertTo-MsiDate '2026-01-15T10:00:00.1234567+01:00')
        NoOffset = (ConvertTo-MsiDate '2026-01-15T10:00:00')
        Blob = $b.LastModified
    }
}
$o = { param($d) @{ Ticks = $d.UtcTicks; Offset = $d.Offset.TotalMinutes } }
[pscustomobject]@{
    LocalOffset = [TimeZoneInfo]::Local.GetUtcOffset([DateTime]::UtcNow).TotalMinutes
    T0 = $t0.UtcTicks; T1 = $t1.UtcTicks; T2 = $t2.UtcTicks; T3 = $t3.UtcTicks
    Creation = & $o $key.CreationTime
    Container = & $o $container.LastModified
    Sent = & $o $sent.LastModified
    Listed = & $o $listed.LastModified
    Z = & $o $fixed.Z; Plus1 = & $o $fixed.Plus1; NoOffset = & $o $fixed.NoOffset; Blob = & $o $fixed.Blob
} | ConvertTo-Json -Compress
'@
        $r = $out | Select-Object -Last 1 | ConvertFrom-Json -ErrorAction SilentlyContinue
        $r | Should -Not -BeNullOrEmpty -Because ($out | Out-String)
        $r.LocalOffset | Should -BeLessThan 0 -Because 'the child runs in New York time'
        # The emulator's keys were created one day before the request, to the millisecond.
        $day = [TimeSpan]::FromDays(1).Ticks
        $r.Creation.Offset | Should -Be 0
        $r.Creation.Ticks | Should -BeGreaterOrEqual ($r.T0 - $day - 10000)
        $r.Creation.Ticks | Should -BeLessOrEqual ($r.T1 - $day + 10000)
        # Storage keeps whole seconds.
        foreach ($d in $r.Container, $r.Sent, $r.Listed) {
            $d.Offset | Should -Be 0
            $d.Ticks | Should -BeGreaterOrEqual ($r.T2 - [TimeSpan]::TicksPerSecond)
            $d.Ticks | Should -BeLessOrEqual ($r.T3 + [TimeSpan]::TicksPerSecond)
        }
        $r.Listed.Ticks | Should -Be $r.Sent.Ticks
        $utc = [DateTime]::new(2026, 1, 15, 10, 0, 0, [DateTimeKind]::Utc)
        $r.Z.Ticks | Should -Be $utc.AddMilliseconds(123).Ticks
        $r.Z.Offset | Should -Be 0
        $r.Blob.Ticks | Should -Be $utc.AddMilliseconds(123).Ticks
        $r.Blob.Offset | Should -Be 0
        $r.Plus1.Ticks | Should -Be ($utc.AddHours(-1).Ticks + 1234567)
        $r.Plus1.Offset | Should -Be 60
        $r.NoOffset.Ticks | Should -Be $utc.Ticks -Because 'a time without an offset is UTC, not local'
        $r.NoOffset.Offset | Should -Be 0
    }
}

Describe 'Help' {
    It 'every command has an example of the tutorial flow' {
        # The tutorial's flow (issue 7: one example of each command is it), its steps in the order they run: a
        # token, a key (or a SAS) from ARM with it, a context, then an upload or a download (or the command
        # itself) with that. A command in another's argument runs before it: commands are taken in the order
        # in which they end.
        $steps = '^Get-MsiToken$', '^(Get-MsiStorageKey|New-MsiStorageSas)$', '^New-MsiStorageContext$'
        $isFlow = {
            param([string] $Code, [string] $Name)
            $tokens = $null; $errors = $null
            $ast = [System.Management.Automation.Language.Parser]::ParseInput($Code, [ref]$tokens, [ref]$errors)
            $commands = @($ast.FindAll({ param($n) $n -is [System.Management.Automation.Language.CommandAst] }, $true) | Sort-Object { $_.Extent.EndOffset } | ForEach-Object { $_.GetCommandName() })
            $want = @($steps) + "^(Send-MsiBlob|Receive-MsiBlob|$([regex]::Escape($Name)))$"
            $next = 0
            foreach ($command in $commands) { if ($next -lt $want.Count -and $command -match $want[$next]) { $next++ } }
            $next -eq $want.Count
        }
        # The check itself: the flow written nested, as most examples do, passes; a step missing or out of order does not.
        & $isFlow '$ctx = New-MsiStorageContext -StorageAccountName $a -StorageAccountKey (Get-MsiStorageKey -Token (Get-MsiToken) -StorageAccountName $a); Send-MsiBlob -File f -Container c -Context $ctx' 'X' | Should -BeTrue
        & $isFlow '$ctx = New-MsiStorageContext -StorageAccountName $a -StorageAccountKey (Get-MsiStorageKey -StorageAccountName $a); Send-MsiBlob -File f -Container c -Context $ctx' 'X' | Should -BeFalse
        & $isFlow 'Send-MsiBlob -File f -Container c -Context $ctx; $t = Get-MsiToken; $k = Get-MsiStorageKey -Token $t; $ctx = New-MsiStorageContext -StorageAccountKey $k' 'X' | Should -BeFalse
        $missing = foreach ($name in (Get-Command -Module MsiStorage).Name) {
            if (-not @((Get-Help $name -Full).examples.example | Where-Object { & $isFlow ([string]$_.code) $name })) { $name }
        }
        $missing | Should -BeNullOrEmpty -Because 'each command needs the tutorial flow (Get-MsiToken, Get-MsiStorageKey or New-MsiStorageSas, New-MsiStorageContext, then Send-MsiBlob, Receive-MsiBlob or the command) among its examples'
        # Inputs, outputs and the rest of each command's help comment: tests/pester/Manifest.Tests.ps1.
    }

    It 'has an about_MsiStorage topic on the flow, the emulator and security, which Get-Help finds from the clone' {
        # A new pwsh that imported the clone's own manifest, with a home and module path of its own: only the
        # imported module can supply the topic.
        $out = Invoke-ChildPwsh -Name 'about' -Arguments $Root -Environment (New-MsiTestHome (Join-Path $Work 'about-home')) -Script @'
param($Root)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path $Root 'MsiStorage.psd1')
Get-Help about_MsiStorage | Out-String -Width 200
'@
        $about = $out | Out-String
        $about | Should -Match 'about_MsiStorage' -Because $about
        foreach ($section in 'THE FLOW', 'THE LOCAL EMULATOR', 'SECURITY') { $about | Should -Match $section }
    }
}

Describe 'npm run demo' {
    It "scripts/demo.ps1 runs the tutorial's flow against the stack, as scripts/demo.ts starts it, and finds the download byte-identical" {
        # The arguments scripts/demo.ts passes, from the stack's own description (as demo.ts has it from its stack).
        $demoTs = Get-Content -Raw -LiteralPath (Join-Path $Root 'scripts/demo.ts')
        $passed = @([regex]::Matches($demoTs, "'-(\w+)', info\.(\w+)") | ForEach-Object { @{ Parameter = $_.Groups[1].Value; Field = $_.Groups[2].Value } })
        @($passed.Parameter) | Should -Be @('SubscriptionId', 'ResourceGroupName', 'StorageAccountName', 'ArmEndpoint', 'BlobEndpoint')
        $arguments = foreach ($p in $passed) { "-$($p.Parameter)"; [string]$Stack.($p.Field) }
        $demoTs | Should -Match 'AZURE_POD_IDENTITY_AUTHORITY_HOST: info\.imdsHost'
        $out = Invoke-ChildPwsh -File (Join-Path $Root 'scripts/demo.ps1') -Arguments $arguments -Environment @{ AZURE_POD_IDENTITY_AUTHORITY_HOST = $Stack.imdsHost }
        $code = $LASTEXITCODE
        $text = $out -join "`n"
        $code | Should -Be 0 -Because $text
        $text | Should -Match 'test\.txt and test2\.txt are byte-identical \(\d+ bytes\)\.'
        foreach ($step in 'Get-MsiToken', 'Get-MsiStorageKey', 'New-MsiStorageContext', 'New-MsiStorageContainer', 'Send-MsiBlob', 'Receive-MsiBlob') { $text | Should -Match "\($step\)" }
        # It worked in the stack's account: the blob it uploaded is there.
        (Get-MsiBlob -Container 'msidemo' -Context $Ctx).Name | Should -Be 'testblob'
    }
}

Describe 'Windows PowerShell 5.1 compatibility' {
    BeforeDiscovery {
        $root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
        $script:Sources = Get-ChildItem -LiteralPath (Join-Path $root 'ps-module') -Recurse -Include '*.ps1', '*.psm1' | ForEach-Object { @{ Path = $_.FullName; Name = $_.Name } }
        $script:Ps1Xml = Get-ChildItem -LiteralPath (Join-Path $root 'ps-module') -Recurse -Include '*.ps1xml' | ForEach-Object { @{ Path = $_.FullName; Name = $_.Name } }
        # What 5.1 reads as PowerShell source: the module's scripts and its manifest.
        $script:Encoded = @(Get-ChildItem -LiteralPath (Join-Path $root 'ps-module') -Recurse -Include '*.ps1', '*.psm1', '*.psd1') + @(Get-Item -LiteralPath (Join-Path $root 'MsiStorage.psd1')) | ForEach-Object { @{ Path = $_.FullName; Name = $_.Name } }
    }

    It '<Name> uses no PowerShell 7-only syntax' -TestCases $Sources {
        param($Path, $Name)
        $tokens = $null; $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseFile($Path, [ref]$tokens, [ref]$errors)
        $errors | Should -BeNullOrEmpty
        Get-Ps7Syntax $ast $tokens | Should -BeNullOrEmpty
    }

    It 'the syntax check finds each form 5.1 cannot read, and nothing in what it can' {
        # One line per rule: each must be found on its line, so that no rule is one that cannot fire.
        $sample = @'
$a = $b ? 1 : 2
Get-Thing && Get-Other
$a = $b ?? 1
$a ??= 1
$a = ${b}?.Name
$a = ${b}?[0]
function f { param() process { } clean { } }
Start-Sleep 10 &
$a = "check `u{2713}"
Write-Output mark`u{2713}
$a = @"
mark `u{2713}
"@
$a = 1u
$a = 2uy + 3y
$a = 4s + 5us
$a = 6ul
$a = 7n
$a = 0b1010
$a = "$(8u) inside a string"
function g { param([ArgumentCompletions('a', 'b')] [string] $P) }
function g { param([ValidateNotNullOrWhiteSpace()] [string] $P) }
function g { param([ValidateRange('Positive')] [int] $P) }
function g { param([System.Management.Automation.ValidateRangeAttribute([System.Management.Automation.ValidateRangeKind]::NonNegative)] [int] $P) }
function g { param([ValidateSet([SomeValuesGenerator])] [string] $P) }
function g { param([Parameter(ExperimentalName = 'x', ExperimentalAction = 'Show')] [string] $P) }
function g { [Experimental('x', 'Show')] param() }
'@
        $tokens = $null; $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($sample, [ref]$tokens, [ref]$errors)
        $errors | Should -BeNullOrEmpty
        $found = Get-Ps7Syntax $ast $tokens
        $lines = @($found | ForEach-Object { [int]($_ -split ':')[0] } | Sort-Object -Unique)
        $lines | Should -Be @(1..11 + 14..27) -Because ($found -join "`n")

        $allowed = @'
$a = if ($b) { 1 } else { 2 }
Get-Thing; if ($?) { Get-Other }
$a = 'no `u{2713} in single quotes', "an escaped ``u{2713}", "a tab`t and `$u{x}"
# "`u{2713}" in a comment
$a = 1 + 2L + 3l + 4d + 1.5d + 1e3 + .5 + 0x1F + 0xFFl + 10kb + 2MB + 1gb + 1TB + 1pb + 1.5mb + -1 + 5lkb
$a = $b[0] + $b[-1]; 1..3 | ForEach-Object { $_ }
$job = Start-Job { 1 }; & $command; & { 1 }; $a = 1 -band 3
function g { param([ArgumentCompleter({ 'a' })] [ValidateRange(1, 10)] [ValidateSet('a', 'b')] [ValidateNotNullOrEmpty()] [Parameter(Mandatory = $true)] [string] $P) }
'@
        # A literal here-string (which cannot be written inside this one).
        $allowed += "`n`$a = @'`n``u{2713} in a literal here-string`n'@"
        $ast = [System.Management.Automation.Language.Parser]::ParseInput($allowed, [ref]$tokens, [ref]$errors)
        $errors | Should -BeNullOrEmpty
        Get-Ps7Syntax $ast $tokens | Should -BeNullOrEmpty
    }

    It '<Name>: its script blocks use nothing that Windows PowerShell 5.1 lacks' -TestCases $Ps1Xml {
        param($Path, $Name)
        $blocks = @(Get-Ps1XmlScript $Path)
        $blocks.Count | Should -BeGreaterThan 0 -Because "$Name has script blocks, which PowerShell parses when it loads the file"
        $found = foreach ($b in $blocks) {
            $tokens = $null; $errors = $null
            $ast = [System.Management.Automation.Language.Parser]::ParseInput($b.Text, [ref]$tokens, [ref]$errors)
            foreach ($e in $errors) { "$($b.Where): $($e.Message)" }
            foreach ($f in @(Get-Ps7Syntax $ast $tokens) + @(Get-Ps7OnlyUse $ast | ForEach-Object { $_ })) { "$($b.Where), line $f" }
        }
        $found | Should -BeNullOrEmpty
    }

    It 'the .ps1xml check reads every kind of script block, and finds a 7-only one' {
        $xml = Join-Path $Work 'sample.Types.ps1xml'
        Set-Content -LiteralPath $xml -Encoding utf8 -Value @'
<?xml version="1.0" encoding="utf-8"?>
<Types><Type><Name>X</Name><Members>
  <ScriptProperty><Name>A</Name><GetScriptBlock>$this.A ?? 1</GetScriptBlock><SetScriptBlock>param($v) $v</SetScriptBlock></ScriptProperty>
  <ScriptMethod><Name>B</Name><Script>"`u{2713}"</Script></ScriptMethod>
</Members></Type>
<View><TableControl><TableRowEntries><TableRowEntry><TableColumnItems><TableColumnItem><ScriptBlock>$_.Name | ConvertFrom-Json -AsHashtable</ScriptBlock></TableColumnItem></TableColumnItems></TableRowEntry></TableRowEntries></TableControl></View>
</Types>
'@
        $blocks = @(Get-Ps1XmlScript $xml)
        @($blocks.Where | ForEach-Object { ($_ -split ' ')[0] }) | Should -Be @('<GetScriptBlock>', '<SetScriptBlock>', '<Script>', '<ScriptBlock>')
        $found = foreach ($b in $blocks) {
            $tokens = $null; $errors = $null
            $ast = [System.Management.Automation.Language.Parser]::ParseInput($b.Text, [ref]$tokens, [ref]$errors)
            Get-Ps7Syntax $ast $tokens
            Get-Ps7OnlyUse $ast | ForEach-Object { $_ }
        }
        @($found) | Should -Be @('1: ??', '1: "`u{...}" (a Unicode escape)', '1: ConvertFrom-Json -AsHashtable')
    }

    It '<Name> is ASCII, or says its encoding with a byte order mark' -TestCases $Encoded {
        # Windows PowerShell 5.1 reads a .ps1, .psm1 or .psd1 without a byte order mark in the system's ANSI
        # code page: UTF-8 letters beyond ASCII come out as other characters.
        param($Path, $Name)
        Get-AnsiMisread $Path | Should -BeNullOrEmpty
    }

    It 'the encoding check finds a UTF-8 letter in a file without a byte order mark, and allows one with it' {
        $utf8 = [System.Text.Encoding]::UTF8
        $plain = Join-Path $Work 'nobom.ps1'
        [System.IO.File]::WriteAllBytes($plain, $utf8.GetBytes("'ascii'`n# caf$([char]0xE9)`n'ascii'`n"))
        Get-AnsiMisread $plain | Should -Be @('2: 2 bytes beyond ASCII')
        $bom = Join-Path $Work 'bom.ps1'
        [System.IO.File]::WriteAllBytes($bom, [byte[]](0xEF, 0xBB, 0xBF) + $utf8.GetBytes("# caf$([char]0xE9)`n"))
        Get-AnsiMisread $bom | Should -BeNullOrEmpty
        $utf16 = Join-Path $Work 'utf16.ps1'
        [System.IO.File]::WriteAllBytes($utf16, [System.Text.Encoding]::Unicode.GetPreamble() + [System.Text.Encoding]::Unicode.GetBytes("# caf$([char]0xE9)`n"))
        Get-AnsiMisread $utf16 | Should -BeNullOrEmpty
    }

    BeforeAll {
        # What Windows PowerShell 5.1 on .NET Framework 4.x lacks, found in the syntax tree (not in the text, so
        # that comments, strings and New-Object's own -ArgumentList do not count): commands, parameters of a
        # command (abbreviations and common aliases too), automatic variables, types and members.
        # A use is allowed in a branch that only a newer PowerShell runs: inside an if clause (its condition
        # or its body) whose condition reads $PSVersionTable, reads a feature flag that the module probes when it
        # loads ($script:Has<Feature>, e.g. $script:HasJsonDateKind), or checks that the variable is defined
        # (Test-Path variable:IsWindows).
        $script:Ps7Commands = 'Start-ThreadJob', 'Test-Json', 'Get-Error', 'Join-String', 'Get-Uptime', 'ConvertFrom-Markdown', 'Show-Markdown', 'Remove-Alias', 'Remove-Service', 'Get-SecureRandom'
        $script:Ps7Parameters = @{
            'ConvertFrom-Json'  = 'AsHashtable', 'Depth', 'DateKind', 'NoEnumerate'
            'ConvertTo-Json'    = 'AsArray', 'EnumsAsStrings', 'EscapeHandling'
            'ForEach-Object'    = 'Parallel', 'ThrottleLimit', 'TimeoutSeconds', 'AsJob', 'UseNewRunspace'
            'Split-Path'        = 'LeafBase', 'Extension'
            'Join-Path'         = 'AdditionalChildPath'
            'Invoke-RestMethod' = 'SkipCertificateCheck', 'SkipHttpErrorCheck', 'StatusCodeVariable', 'ResponseHeadersVariable', 'Authentication', 'SslProtocol', 'Form'
            'Invoke-WebRequest' = 'SkipCertificateCheck', 'SkipHttpErrorCheck', 'Authentication', 'SslProtocol', 'Form'
            'Get-ChildItem'     = 'FollowSymlink'
            'Get-Content'       = 'AsByteStream'
            'Set-Content'       = 'AsByteStream'
            'Add-Content'       = 'AsByteStream'
        }
        # 7-only wherever they appear.
        $script:Ps7AnyParameters = 'AsByteStream', 'SkipCertificateCheck'
        $script:CommandAliases = @{ '%' = 'ForEach-Object'; 'foreach' = 'ForEach-Object'; 'gc' = 'Get-Content'; 'cat' = 'Get-Content'; 'type' = 'Get-Content'; 'sc' = 'Set-Content'; 'ac' = 'Add-Content'; 'irm' = 'Invoke-RestMethod'; 'iwr' = 'Invoke-WebRequest'; 'gci' = 'Get-ChildItem'; 'ls' = 'Get-ChildItem'; 'dir' = 'Get-ChildItem' }
        $script:Ps7Variables = 'IsWindows', 'IsLinux', 'IsMacOS', 'IsCoreCLR', 'PSStyle', 'EnabledExperimentalFeatures'
        $script:Ps7Types = '^(System\.)?Text\.Json(\.|$)', '^(System\.Management\.Automation\.)?SemanticVersion$', '^semver$'
        $script:Ps7Members = 'ArgumentList', 'StandardInputEncoding', 'GetRelativePath'

        function Test-Guarded([System.Management.Automation.Language.Ast] $Node) {
            for ($a = $Node.Parent; $a; $a = $a.Parent) {
                if ($a -isnot [System.Management.Automation.Language.IfStatementAst]) { continue }
                foreach ($clause in $a.Clauses) {
                    if ($Node.Extent.StartOffset -lt $clause.Item1.Extent.StartOffset -or $Node.Extent.EndOffset -gt $clause.Item2.Extent.EndOffset) { continue }
                    $guards = $clause.Item1.FindAll({
                            param($n)
                            ($n -is [System.Management.Automation.Language.VariableExpressionAst] -and $n.VariablePath.UserPath -match '^(PSVersionTable|script:Has\w+)$') -or
                            ($n -is [System.Management.Automation.Language.StringConstantExpressionAst] -and $n.Value -match '^variable:')
                        }, $true)
                    if (@($guards).Count -gt 0) { return $true }
                }
            }
            return $false
        }

        function Get-Ps7OnlyUse([System.Management.Automation.Language.Ast] $Ast) {
            # "<line>: <what>" for every unguarded use of something Windows PowerShell 5.1 lacks.
            $found = [System.Collections.Generic.List[object]]::new()
            $add = { param($n, $what) if (-not (Test-Guarded $n)) { $found.Add("$($n.Extent.StartLineNumber): $what") } }
            foreach ($n in $Ast.FindAll({ $true }, $true)) {
                if ($n -is [System.Management.Automation.Language.CommandAst]) {
                    $name = $n.GetCommandName()
                    if (-not $name) { continue }
                    if ($CommandAliases.ContainsKey($name)) { $name = $CommandAliases[$name] }
                    if ($Ps7Commands -contains $name) { & $add $n "the command $name" }
                    $banned = @(@($Ps7Parameters[$name]) + $Ps7AnyParameters | Where-Object { $_ })
                    $elements = $n.CommandElements
                    # Join-Path's paths: positional values, and the values of -Path and -ChildPath (5.1 takes two).
                    $paths = 0
                    for ($i = 1; $i -lt $elements.Count; $i++) {
                        $e = $elements[$i]
                        if ($e -isnot [System.Management.Automation.Language.CommandParameterAst]) { $paths++; continue }
                        $given = $e.ParameterName
                        foreach ($b in $banned) { if ($given.Length -ge 2 -and $b.StartsWith($given, [System.StringComparison]::OrdinalIgnoreCase)) { & $add $e "$name -$b" } }
                        if ($name -ne 'Join-Path' -or 'Resolve'.StartsWith($given, [System.StringComparison]::OrdinalIgnoreCase)) { continue }
                        if (-not $e.Argument) { $i++ }
                        if ('Path'.StartsWith($given, [System.StringComparison]::OrdinalIgnoreCase) -or 'ChildPath'.StartsWith($given, [System.StringComparison]::OrdinalIgnoreCase)) { $paths++ }
                    }
                    if ($name -eq 'Join-Path' -and $paths -gt 2) { & $add $n "Join-Path with $paths paths" }
                    if ($name -eq 'New-Object' -or $name -eq 'Add-Type') {
                        for ($i = 1; $i -lt $elements.Count; $i++) {
                            $e = $elements[$i]
                            if ($e -isnot [System.Management.Automation.Language.StringConstantExpressionAst]) { continue }
                            foreach ($t in $Ps7Types) { if ($e.Value -match $t) { & $add $e "the type $($e.Value)" } }
                        }
                    }
                }
                elseif ($n -is [System.Management.Automation.Language.VariableExpressionAst]) {
                    $v = $n.VariablePath.UserPath -replace '^global:', ''
                    if ($Ps7Variables -contains $v) { & $add $n "`$$v" }
                }
                elseif ($n -is [System.Management.Automation.Language.TypeExpressionAst] -or $n -is [System.Management.Automation.Language.TypeConstraintAst]) {
                    foreach ($t in $Ps7Types) { if ($n.TypeName.FullName -match $t) { & $add $n "the type $($n.TypeName.FullName)" } }
                }
                elseif ($n -is [System.Management.Automation.Language.MemberExpressionAst] -and $n.Member -is [System.Management.Automation.Language.StringConstantExpressionAst]) {
                    if ($Ps7Members -contains $n.Member.Value) { & $add $n "the member .$($n.Member.Value)" }
                }
            }
            return , $found.ToArray()
        }

        # Syntax that Windows PowerShell 5.1's parser rejects, or reads as something else. Not allowed even in a
        # guarded branch: 5.1 parses the whole file before it runs any of it.
        $script:Ps7Attributes = @{
            'ArgumentCompletions'         = '[ArgumentCompletions()] (PowerShell 6)'
            'ValidateNotNullOrWhiteSpace' = '[ValidateNotNullOrWhiteSpace()] (PowerShell 7.4)'
            'Experimental'                = '[Experimental()] (PowerShell 6.2)'
        }
        # 5.1's numbers: decimal or hexadecimal (no 0b binary), then l (long) or d (decimal), then kb..pb.
        # PowerShell 6.2 added y, uy, s, us, u and ul, 7.0 n and 0b (about_Numeric_Literals).
        $script:Ps51Number = '^[-+\u2013\u2014\u2015]?(0x[0-9a-f]+l?|(\d+\.?\d*|\.\d+)(e[-+]?\d+)?[ld]?)(kb|mb|gb|tb|pb)?$'

        function Get-StringTokenText([System.Management.Automation.Language.Token] $Token) {
            # The token's own text, with what is nested in it ("$(...)", "$var") blanked out: a single-quoted
            # string inside a sub-expression is not the outer string's.
            $text = $Token.Text.ToCharArray()
            foreach ($nested in $Token.NestedTokens) {
                for ($i = $nested.Extent.StartOffset - $Token.Extent.StartOffset; $i -lt $nested.Extent.EndOffset - $Token.Extent.StartOffset; $i++) { $text[$i] = ' ' }
            }
            return -join $text
        }

        function Get-Ps7Syntax([System.Management.Automation.Language.Ast] $Ast, [System.Management.Automation.Language.Token[]] $Tokens) {
            # "<line>: <what>" for every use of syntax that Windows PowerShell 5.1 lacks.
            $found = [System.Collections.Generic.List[string]]::new()
            foreach ($n in $Ast.FindAll({ $true }, $true)) {
                $what = $null
                if ($n -is [System.Management.Automation.Language.TernaryExpressionAst]) { $what = '? : (the ternary operator)' }
                elseif ($n -is [System.Management.Automation.Language.PipelineChainAst]) { $what = "$($n.Operator) (a pipeline chain)" }
                elseif ($n -is [System.Management.Automation.Language.BinaryExpressionAst] -and $n.Operator -eq 'QuestionQuestion') { $what = '??' }
                elseif ($n -is [System.Management.Automation.Language.AssignmentStatementAst] -and $n.Operator -eq 'QuestionQuestionEquals') { $what = '??=' }
                elseif ($n -is [System.Management.Automation.Language.MemberExpressionAst] -and $n.NullConditional) { $what = '?.' }
                elseif ($n -is [System.Management.Automation.Language.IndexExpressionAst] -and $n.NullConditional) { $what = '?[]' }
                elseif ($n -is [System.Management.Automation.Language.NamedBlockAst] -and [string]$n.BlockKind -eq 'Clean') { $what = 'a clean block' }
                elseif ($n -is [System.Management.Automation.Language.PipelineAst] -and $n.Background) { $what = '& at the end of a pipeline (a background job)' }
                elseif ($n -is [System.Management.Automation.Language.AttributeAst]) {
                    $attribute = $n.TypeName.FullName -replace '^System\.Management\.Automation\.', '' -replace 'Attribute$', ''
                    if ($Ps7Attributes.ContainsKey($attribute)) { $what = $Ps7Attributes[$attribute] }
                    # 5.1's ValidateRange takes a minimum and a maximum; 6.1 added one ValidateRangeKind instead.
                    elseif ($attribute -eq 'ValidateRange' -and $n.PositionalArguments.Count -ne 2) { $what = '[ValidateRange()] with a range kind (PowerShell 6.1)' }
                    # 5.1's ValidateSet takes strings; 6.0 added a type that generates them.
                    elseif ($attribute -eq 'ValidateSet' -and @($n.PositionalArguments | Where-Object { $_ -is [System.Management.Automation.Language.TypeExpressionAst] }).Count -gt 0) { $what = '[ValidateSet()] with a values generator (PowerShell 6)' }
                    elseif ($attribute -eq 'Parameter' -and @($n.NamedArguments | Where-Object { $_.ArgumentName -match '^Experimental(Name|Action)$' }).Count -gt 0) { $what = '[Parameter(ExperimentalName/ExperimentalAction)] (PowerShell 6.2)' }
                }
                if ($what) { $found.Add("$($n.Extent.StartLineNumber): $what") }
            }
            $pending = [System.Collections.Generic.Queue[object]]::new()
            foreach ($t in $Tokens) { $pending.Enqueue($t) }
            while ($pending.Count -gt 0) {
                $t = $pending.Dequeue()
                foreach ($nested in $t.NestedTokens) { $pending.Enqueue($nested) }
                if ($t.Kind -eq 'Number' -and $t.Text -notmatch $Ps51Number) { $found.Add("$($t.Extent.StartLineNumber): the number $($t.Text)") }
                # "`u{...}" (PowerShell 6): 5.1 reads it as the letters u{...}. In double-quoted strings and
                # here-strings, and in bare words; an odd run of backticks escapes, an even one is backticks.
                $expanding = $t.Kind -eq 'StringExpandable' -or $t.Kind -eq 'HereStringExpandable' -or ($t.Kind -eq 'Generic' -and $t -is [System.Management.Automation.Language.StringToken])
                if ($expanding -and (Get-StringTokenText $t) -match '(?<!`)`(``)*u\{') { $found.Add("$($t.Extent.StartLineNumber): `"``u{...}`" (a Unicode escape)") }
            }
            $found | Sort-Object { [int]($_ -split ':')[0] }
        }

        function Get-Ps1XmlScript([string] $Path) {
            # The script blocks of a types or formats file, each with where it is: PowerShell parses them when it
            # loads the file, so 5.1 would fail (or misread) them as it would a .ps1.
            $document = New-Object System.Xml.XmlDocument
            $document.Load($Path)
            $i = 0
            foreach ($node in $document.SelectNodes("//*[local-name()='ScriptBlock' or local-name()='GetScriptBlock' or local-name()='SetScriptBlock' or local-name()='Script']")) {
                $i++
                [pscustomobject]@{ Where = "<$($node.LocalName)> #$i"; Text = $node.InnerText }
            }
        }

        function Get-AnsiMisread([string] $Path) {
            # "<line>: <n> bytes beyond ASCII" in a file without a byte order mark (UTF-8, UTF-16 or UTF-32),
            # which Windows PowerShell 5.1 reads in the system's ANSI code page.
            $bytes = [System.IO.File]::ReadAllBytes($Path)
            $hasBom = ($bytes.Length -ge 3 -and $bytes[0] -eq 0xEF -and $bytes[1] -eq 0xBB -and $bytes[2] -eq 0xBF) -or
                ($bytes.Length -ge 2 -and (($bytes[0] -eq 0xFF -and $bytes[1] -eq 0xFE) -or ($bytes[0] -eq 0xFE -and $bytes[1] -eq 0xFF))) -or
                ($bytes.Length -ge 4 -and $bytes[0] -eq 0 -and $bytes[1] -eq 0 -and $bytes[2] -eq 0xFE -and $bytes[3] -eq 0xFF)
            if ($hasBom) { return , @() }
            $found = [System.Collections.Generic.List[string]]::new()
            $line = 1; $count = 0
            foreach ($b in $bytes + [byte]10) {
                if ($b -eq 10) {
                    if ($count -gt 0) { $found.Add("${line}: $count bytes beyond ASCII") }
                    $line++; $count = 0
                }
                elseif ($b -gt 0x7F) { $count++ }
            }
            return , $found.ToArray()
        }
    }

    It 'the check finds what 5.1 lacks, and lets a guarded branch use it' {
        $sample = @'
$a = ConvertFrom-Json -InputObject $t -AsHashtable
$a = '{}' | ConvertFrom-Json -Depth 5
$a = ConvertFrom-Json $t -DateK String
$a = Join-Path a b c
$a = Join-Path -Path a -ChildPath b -AdditionalChildPath c
$a = Split-Path -LeafBase $p
$a = Split-Path $p -Extension
$b = Get-Content $p -AsByteStream
$b = gc $p -AsByteStream
if ($IsWindows) { 'w' }
$c = $IsLinux -or $global:IsMacOS
$j = Start-ThreadJob { 1 }
$d = [System.Text.Json.JsonSerializer]::Serialize(1)
$psi.ArgumentList.Add('x')
$psi.StandardInputEncoding = $utf8
Test-Json -Json $t
Invoke-RestMethod -Uri $u -SkipCertificateCheck
1..3 | ForEach-Object -Parallel { $_ }
1..3 | % -Parallel { $_ }
Get-Error
$v = [System.Management.Automation.SemanticVersion]'1.0.0'
$v = [semver]::new(1, 0, 0)
$v = New-Object System.Text.Json.JsonDocumentOptions
'@
        $tokens = $null; $errors = $null
        $found = Get-Ps7OnlyUse ([System.Management.Automation.Language.Parser]::ParseInput($sample, [ref]$tokens, [ref]$errors))
        $lines = @($found | ForEach-Object { [int]($_ -split ':')[0] } | Sort-Object -Unique)
        $lines | Should -Be @(1..23) -Because ($found -join "`n")

        $allowed = @'
$a = Join-Path (Join-Path $root 'bin') 'x.cjs'
$a = Join-Path -Path $root -ChildPath 'bin' -Resolve
$a = Split-Path -Parent $p
$b = Get-Content $p -Encoding Byte
$p = New-Object System.Diagnostics.ProcessStartInfo -ArgumentList 'node', 'x'
1..3 | ForEach-Object -Process { $_ }
$o = Write-Output -NoEnumerate @(1)
# ConvertFrom-Json -AsHashtable in a comment, $IsWindows in a string: '$IsWindows'
if ($script:HasJsonDateKind) { $a = ConvertFrom-Json -InputObject $t -DateKind String }
elseif ($PSVersionTable.PSVersion.Major -ge 6) { $a = ConvertFrom-Json -InputObject $t -Depth 5 }
if ((Test-Path -LiteralPath 'variable:IsWindows') -and $IsWindows) { 'w' }
'@
        $found = Get-Ps7OnlyUse ([System.Management.Automation.Language.Parser]::ParseInput($allowed, [ref]$tokens, [ref]$errors))
        $found | Should -BeNullOrEmpty
    }

    It '<Name> uses no API that Windows PowerShell 5.1 lacks' -TestCases $Sources {
        param($Path, $Name)
        $tokens = $null; $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseFile($Path, [ref]$tokens, [ref]$errors)
        Get-Ps7OnlyUse $ast | Should -BeNullOrEmpty
    }

    It 'the manifest declares Desktop and Core, and PowerShell 5.1' {
        $manifest = Import-PowerShellDataFile -Path (Join-Path $Root 'MsiStorage.psd1')
        $manifest.CompatiblePSEditions | Should -Be @('Desktop', 'Core')
        $manifest.PowerShellVersion | Should -Be '5.1'
    }
}

Describe 'The package' {
    BeforeAll {
        $script:Package = Join-Path $Root 'dist/MsiStorage'
        $script:Version = (Get-Content -Raw -LiteralPath (Join-Path $Root 'package.json') | ConvertFrom-Json).version
        # This version's package by its name: never whichever .nupkg a listing happens to give first.
        $script:Nupkg = Get-Item -LiteralPath (Join-Path $Root "dist/MsiStorage.$Version.nupkg") -ErrorAction SilentlyContinue
    }

    It 'is built (npm run package) with the manifest, scripts, formats, about help and the bundle' {
        $Nupkg | Should -Not -BeNullOrEmpty -Because "npm run package makes dist/MsiStorage.$Version.nupkg"
        # scripts/package.ts removes the packages of earlier versions.
        @(Get-ChildItem -LiteralPath (Join-Path $Root 'dist') -Filter 'MsiStorage.*.nupkg').Name | Should -Be @("MsiStorage.$Version.nupkg")
        foreach ($f in 'MsiStorage.psd1', 'ps-module/MsiStorage.psm1', 'ps-module/MsiStorage.Format.ps1xml', 'ps-module/Private/Invoke-MsiNode.ps1', 'ps-module/Public/Send-MsiBlob.ps1', 'en-US/about_MsiStorage.help.txt', 'bin/msistorage.cjs', 'bin/msistorage.js') {
            Test-Path -LiteralPath (Join-Path $Package $f) | Should -BeTrue -Because "$f belongs in the package"
        }
        (Test-ModuleManifest -Path (Join-Path $Package 'MsiStorage.psd1')).Version.ToString() | Should -Be $Version
    }

    It 'carries a minified bundle within its size budget' {
        $bundle = Get-Item -LiteralPath (Join-Path $Package 'bin/msistorage.js')
        $bundle.Length | Should -BeLessThan 1.6MB
        @(Get-Content -LiteralPath $bundle.FullName).Count | Should -BeLessThan 500 -Because 'a minified bundle has few lines'
    }

    It 'installs with Install-PSResource into a new home, and a new pwsh imports it by name and runs the tutorial flow' {
        # A home of its own (PSResourceGet's repository list and the CurrentUser module folder live under it),
        # and no inherited PSModulePath: each pwsh computes its module path from that home, as a user's would.
        $repoDir = Join-Path $Work 'repo'
        New-Item -ItemType Directory -Path $repoDir | Out-Null
        Copy-Item -LiteralPath $Nupkg.FullName -Destination $repoDir
        $home2 = Join-Path $Work 'home'
        $environment = New-MsiTestHome $home2
        $repository = 'msistorage-test-' + [guid]::NewGuid().ToString('N').Substring(0, 8)

        $installed = Invoke-ChildPwsh -Name 'install' -Arguments $repository, $repoDir -Environment $environment -Script @'
param($Repository, $RepoDir)
$ErrorActionPreference = 'Stop'
Register-PSResourceRepository -Name $Repository -Uri $RepoDir
Install-PSResource -Name MsiStorage -Repository $Repository -Scope CurrentUser -TrustRepository -Quiet
$r = Get-InstalledPSResource -Name MsiStorage -Scope CurrentUser
[pscustomobject]@{ Version = $r.Version.ToString(); Location = $r.InstalledLocation; Repository = $r.Repository } | ConvertTo-Json -Compress
'@
        $install = $installed | Select-Object -Last 1 | ConvertFrom-Json -ErrorAction SilentlyContinue
        $install | Should -Not -BeNullOrEmpty -Because ($installed | Out-String)
        $install.Version | Should -Be $Version
        $install.Repository | Should -Be $repository
        $modules = Join-Path $home2 '.local/share/powershell/Modules'
        Test-Path -LiteralPath (Join-Path $modules "MsiStorage/$Version/MsiStorage.psd1") | Should -BeTrue -Because "Install-PSResource -Scope CurrentUser installs under the home's module folder ($($install.Location))"
        # The test's own PowerShell knows nothing of it, and the repository list is in that home.
        Get-PSResourceRepository -Name $repository -ErrorAction SilentlyContinue | Should -BeNullOrEmpty
        Get-Content -Raw -LiteralPath (Join-Path $environment.XDG_DATA_HOME 'PSResourceGet/PSResourceRepository.xml') | Should -Match ([regex]::Escape($repository))

        $ran = Invoke-ChildPwsh -Name 'flow' -Arguments $StackFile, $Work -Environment $environment -Script @'
param($StackFile, $Work)
$ErrorActionPreference = 'Stop'
$s = Get-Content -Raw -LiteralPath $StackFile | ConvertFrom-Json
$env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $s.imdsHost
Import-Module MsiStorage
$m = Get-Module MsiStorage
$token = Get-MsiToken
$key = Get-MsiStorageKey -Token $token -SubscriptionId $s.subscriptionId -ResourceGroupName $s.resourceGroupName -StorageAccountName $s.storageAccountName -ArmEndpoint $s.armEndpoint
$ctx = New-MsiStorageContext -StorageAccountName $s.storageAccountName -StorageAccountKey $key -BlobEndpoint $s.blobEndpoint
New-MsiStorageContainer -Name installed -Context $ctx | Out-Null
'This is a test text file.' | Set-Content -Path (Join-Path $Work 'in.txt')
Send-MsiBlob -File (Join-Path $Work 'in.txt') -Container installed -Blob testblob -Context $ctx | Out-Null
Receive-MsiBlob -Blob testblob -Container installed -Destination (Join-Path $Work 'out.txt') -Context $ctx | Out-Null
$about = (Get-Help about_MsiStorage | Out-String)
[pscustomobject]@{ ModuleBase = $m.ModuleBase; Version = $m.Version.ToString(); Same = ((Get-FileHash (Join-Path $Work 'in.txt')).Hash -eq (Get-FileHash (Join-Path $Work 'out.txt')).Hash); About = $about.Contains('THE LOCAL EMULATOR') } | ConvertTo-Json -Compress
'@
        $result = $ran | Select-Object -Last 1 | ConvertFrom-Json -ErrorAction SilentlyContinue
        $result | Should -Not -BeNullOrEmpty -Because ($ran | Out-String)
        $result.ModuleBase | Should -Be (Join-Path $modules "MsiStorage/$Version")
        $result.Version | Should -Be $Version
        $result.Same | Should -BeTrue
        $result.About | Should -BeTrue
    }
}
