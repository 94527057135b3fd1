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
}

Describe 'ShouldProcess' {
    It 'Remove-MsiBlob -WhatIf deletes nothing; -Force deletes without asking; blobs bind by property name' {
        Send-MsiBlob -File $File -Container $Container -Blob 'doomed.txt' -Context $Ctx -Force | Out-Null
        Get-MsiBlob -Container $Container -Prefix 'doomed' -Context $Ctx | Remove-MsiBlob -WhatIf
        (Get-MsiBlob -Container $Container -Prefix 'doomed' -Context $Ctx).Name | Should -Be 'doomed.txt'
        $removed = Get-MsiBlob -Container $Container -Prefix 'doomed' -Context $Ctx | Remove-MsiBlob -Force -PassThru
        $removed.Name | Should -Be 'doomed.txt'
        Get-MsiBlob -Container $Container -Prefix 'doomed' -Context $Ctx | Should -BeNullOrEmpty
    }

    It 'Remove-MsiBlob of a missing blob is ObjectNotFound' {
        { Remove-MsiBlob -Blob 'never-was' -Container $Container -Context $Ctx -Force -ErrorAction Stop } | Should -Throw -ErrorId 'RemoveMsiBlobBlobNotFound,Remove-MsiBlob'
    }

    It 'New-MsiStorageContainer -WhatIf and Receive-MsiBlob -WhatIf change nothing' {
        New-MsiStorageContainer -Name 'never-created' -Context $Ctx -WhatIf
        { Send-MsiBlob -File $File -Container 'never-created' -Context $Ctx -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobContainerNotFound,Send-MsiBlob'
        $dest = Join-Path $Work 'whatif.txt'
        Receive-MsiBlob -Blob 'test.txt' -Container $Container -Destination $dest -Context $Ctx -WhatIf
        Test-Path -LiteralPath $dest | Should -BeFalse
    }

    It 'every cmdlet that writes supports -WhatIf and -Confirm' {
        foreach ($name in 'New-MsiStorageContainer', 'Send-MsiBlob', 'Receive-MsiBlob', 'Remove-MsiBlob') {
            (Get-Command $name).Parameters.Keys | Should -Contain 'WhatIf'
            (Get-Command $name).Parameters.Keys | Should -Contain 'Confirm'
        }
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
}

Describe 'Help' {
    It 'every command has an example of the tutorial flow, inputs and outputs' {
        foreach ($name in (Get-Command -Module MsiStorage).Name) {
            $help = Get-Help $name -Full
            ($help.examples.example.code -join "`n") | Should -Match 'New-MsiStorageContext|Get-MsiToken' -Because "$name needs the tutorial flow among its examples"
            ($help.inputTypes | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "$name documents its inputs"
            ($help.returnValues | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "$name documents its outputs"
        }
    }

    It 'has an about_MsiStorage topic on the flow, the emulator and security' {
        $about = Get-Content -Raw -LiteralPath (Join-Path $Root 'ps-module/en-US/about_MsiStorage.help.txt')
        foreach ($section in 'THE FLOW', 'THE LOCAL EMULATOR', 'SECURITY') { $about | Should -Match $section }
    }
}

Describe 'Windows PowerShell 5.1 compatibility' {
    BeforeDiscovery {
        $root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
        $script:Sources = Get-ChildItem -LiteralPath (Join-Path $root 'ps-module') -Recurse -Include '*.ps1', '*.psm1' | ForEach-Object { @{ Path = $_.FullName; Name = $_.Name } }
    }

    It '<Name> uses no PowerShell 7-only syntax' -TestCases $Sources {
        param($Path, $Name)
        $tokens = $null; $errors = $null
        $ast = [System.Management.Automation.Language.Parser]::ParseFile($Path, [ref]$tokens, [ref]$errors)
        $errors | Should -BeNullOrEmpty
        $sevenOnly = $ast.FindAll({
                param($n)
                $n -is [System.Management.Automation.Language.TernaryExpressionAst] -or
                $n -is [System.Management.Automation.Language.PipelineChainAst] -or
                ($n -is [System.Management.Automation.Language.BinaryExpressionAst] -and $n.Operator -eq 'QuestionQuestion') -or
                ($n -is [System.Management.Automation.Language.AssignmentStatementAst] -and $n.Operator -eq 'QuestionQuestionEquals') -or
                ($n -is [System.Management.Automation.Language.MemberExpressionAst] -and $n.NullConditional) -or
                ($n -is [System.Management.Automation.Language.IndexExpressionAst] -and $n.NullConditional) -or
                ($n -is [System.Management.Automation.Language.NamedBlockAst] -and [string]$n.BlockKind -eq 'Clean')
            }, $true)
        @($sevenOnly | ForEach-Object { "$($_.Extent.StartLineNumber): $($_.Extent.Text)" }) | Should -BeNullOrEmpty
    }

    It '<Name> uses no API that Windows PowerShell 5.1 lacks' -TestCases $Sources {
        param($Path, $Name)
        $text = Get-Content -Raw -LiteralPath $Path
        foreach ($pattern in '-AsHashtable', 'StandardInputEncoding', 'ForEach-Object\s+-Parallel', '-NoEnumerate', 'GetRelativePath', '\$PSStyle') {
            $text | Should -Not -Match $pattern -Because "$pattern is not in Windows PowerShell 5.1"
        }
    }

    It 'the manifest declares Desktop and Core, and PowerShell 5.1' {
        $manifest = Import-PowerShellDataFile -Path (Join-Path $Root 'MsiStorage.psd1')
        $manifest.CompatiblePSEditions | Should -Be @('Desktop', 'Core')
        $manifest.PowerShellVersion | Should -Be '5.1'
    }
}

Describe 'The package' {
    BeforeAll {
        $script:Nupkg = Get-ChildItem -LiteralPath (Join-Path $Root 'dist') -Filter 'MsiStorage.*.nupkg' | Select-Object -First 1
        $script:Package = Join-Path $Root 'dist/MsiStorage'
        $script:Version = (Get-Content -Raw -LiteralPath (Join-Path $Root 'package.json') | ConvertFrom-Json).version
    }

    It 'is built (npm run package) with the manifest, scripts, formats, about help and the bundle' {
        $Nupkg | Should -Not -BeNullOrEmpty
        $Nupkg.Name | Should -Be "MsiStorage.$Version.nupkg"
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

    It 'installs with PSResourceGet into a fresh module path and runs the tutorial flow by module name' {
        $repoDir = Join-Path $Work 'repo'
        $modules = Join-Path $Work 'modules'
        New-Item -ItemType Directory -Path $repoDir, $modules | Out-Null
        Copy-Item -LiteralPath $Nupkg.FullName -Destination $repoDir
        $name = 'msistorage-test-' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        Register-PSResourceRepository -Name $name -Uri $repoDir -Trusted
        try { Save-PSResource -Name MsiStorage -Repository $name -Path $modules -TrustRepository }
        finally { Unregister-PSResourceRepository -Name $name }
        Test-Path -LiteralPath (Join-Path $modules "MsiStorage/$Version/MsiStorage.psd1") | Should -BeTrue

        $flow = Join-Path $Work 'flow.ps1'
        Set-Content -LiteralPath $flow -Value @'
param($StackFile, $Work)
$ErrorActionPreference = 'Stop'
$s = Get-Content -Raw -LiteralPath $StackFile | ConvertFrom-Json
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
[pscustomobject]@{ ModuleBase = $m.ModuleBase; Same = ((Get-FileHash (Join-Path $Work 'in.txt')).Hash -eq (Get-FileHash (Join-Path $Work 'out.txt')).Hash); About = $about.Contains('THE LOCAL EMULATOR') } | ConvertTo-Json -Compress
'@
        # A new pwsh: the one the tests run on (a global tool runs as 'dotnet', so not this process's path).
        $pwsh = $env:MSISTORAGE_PWSH
        if (-not $pwsh) { $pwsh = Join-Path $Root '.tools/pwsh/pwsh' }
        if (-not (Test-Path -LiteralPath $pwsh)) { $pwsh = (Get-Command pwsh -CommandType Application | Select-Object -First 1).Path }
        $saved = $env:PSModulePath
        try {
            $env:PSModulePath = $modules
            $stackFile = Join-Path $Work 'stack.json'
            $Stack | Select-Object * -ExcludeProperty Process | ConvertTo-Json -Depth 5 | Set-Content -LiteralPath $stackFile
            $json = & $pwsh -NoProfile -NonInteractive -File $flow -StackFile $stackFile -Work $Work 2>&1
        }
        finally { $env:PSModulePath = $saved }
        $result = $json | Select-Object -Last 1 | ConvertFrom-Json -ErrorAction SilentlyContinue
        $result | Should -Not -BeNullOrEmpty -Because ($json | Out-String)
        $result.ModuleBase | Should -BeLike "$modules*"
        $result.Same | Should -BeTrue
        $result.About | Should -BeTrue
    }
}
