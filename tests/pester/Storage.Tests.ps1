# Issue 4: storage keys from ARM with discovery from the VM, sovereign clouds, errors that say what to do,
# the SAS path, the keyless path over HTTPS, and accounts that refuse shared keys.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestStack.psm1') -Force
    Import-Module (Join-Path (Split-Path -Parent (Split-Path -Parent $PSScriptRoot)) 'MsiStorage.psd1') -Force
    $script:Stack = Start-MsiTestStack
    $script:Emu = $Stack.imdsHost
    $script:SavedArm = $env:MSISTORAGE_ARM_ENDPOINT
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-storage-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $Work | Out-Null
    $script:File = Join-Path $Work 'test.txt'
    Set-Content -LiteralPath $File -Value 'This is a test text file.' -NoNewline

    function Invoke-Emulator([string] $Path, $Body, [string] $Method = 'Post') {
        $json = if ($null -ne $Body) { ConvertTo-Json -InputObject $Body -Depth 6 -Compress } else { $null }
        Invoke-RestMethod -Method $Method -Uri "$Emu$Path" -Body $json -ContentType 'application/json' -NoProxy
    }
    function Get-Requests([string] $Target) {
        $all = Invoke-Emulator '/__emulator/requests' $null 'Get'
        @($all) | ForEach-Object { $_ } | Where-Object { $_.target -eq $Target }
    }
}
AfterAll {
    $env:MSISTORAGE_ARM_ENDPOINT = $script:SavedArm
    Stop-MsiTestStack $script:Stack
    Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Storage accounts through Azure Resource Manager' {
BeforeEach {
    # The emulated VM: IMDS and ARM on the emulator, nothing else given.
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Emu
    $env:MSISTORAGE_ARM_ENDPOINT = $Stack.armEndpoint
    InModuleScope MsiStorage { $script:MsiTokenCache = @{} }
    Invoke-Emulator '/__emulator/faults' $null 'Delete' | Out-Null
    Invoke-Emulator '/__emulator/requests' $null 'Delete' | Out-Null
    Invoke-Emulator '/__emulator/metadata' @{ azEnvironment = 'AzurePublicCloud' } | Out-Null
    Invoke-Emulator '/__emulator/page-size' @{ size = 100 } | Out-Null
    foreach ($name in $Stack.storageAccountName, $Stack.dataStorageAccountName) {
        Invoke-Emulator "/__emulator/accounts/$name" @{ withholdListKeys = $false; allowSharedKeyAccess = $true } | Out-Null
    }
}

Describe 'Discovery' {
    It 'Get-MsiStorageKey -StorageAccountName alone works on the emulated VM' {
        $key = Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName
        $key.KeyName | Should -Be 'key1'
        $key.SubscriptionId | Should -Be $Stack.subscriptionId
        $key.ResourceGroupName | Should -Be $Stack.resourceGroupName
        $key.Environment | Should -Be 'AzureCloud'
        @(Get-Requests 'metadata').Count | Should -Be 1
    }

    It 'finds an account outside the VM resource group across the subscription, following nextLink' {
        Invoke-Emulator '/__emulator/page-size' @{ size = 1 } | Out-Null
        $key = Get-MsiStorageKey -StorageAccountName $Stack.dataStorageAccountName -Verbose 4>&1 | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
        $key.ResourceGroupName | Should -Be $Stack.dataResourceGroupName
        @(Get-Requests 'arm' | Where-Object { $_.method -eq 'GET' }).Count | Should -BeGreaterOrEqual 2
    }

    It 'says when the account is nowhere in the subscription' {
        $err = { Get-MsiStorageKey -StorageAccountName 'nosuchaccount9' } | Should -Throw -ErrorId 'GetMsiStorageKeyStorageAccountNotFound,Get-MsiStorageKey' -PassThru
        $err.Exception.Message | Should -Match "subscription '$($Stack.subscriptionId)'"
    }

    It 'accepts a full -ResourceId' {
        $id = "/subscriptions/$($Stack.subscriptionId)/resourceGroups/$($Stack.dataResourceGroupName)/providers/Microsoft.Storage/storageAccounts/$($Stack.dataStorageAccountName)"
        (Get-MsiStorageKey -ResourceId $id -KeyName key2).KeyName | Should -Be 'key2'
        # The id says where the account is; the VM is asked only which cloud it is in, and not at all with
        # -Environment.
        @(Get-Requests 'metadata').Count | Should -Be 1
        Invoke-Emulator '/__emulator/requests' $null 'Delete' | Out-Null
        (Get-MsiStorageKey -ResourceId $id -Environment AzureCloud).KeyName | Should -Be 'key1'
        @(Get-Requests 'metadata').Count | Should -Be 0
    }

    It 'rejects a -ResourceId that is not a storage account' {
        $err = { Get-MsiStorageKey -ResourceId '/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/virtualMachines/vm' } | Should -Throw -ErrorId 'GetMsiStorageKeyInvalidResourceId,Get-MsiStorageKey' -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
    }

    It 'New-MsiStorageContext -StorageAccountName alone finds the blob endpoint and the key: the three-line flow' {
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.dataStorageAccountName
        # The account's primaryEndpoints.blob, which in the stack is the storage front before Azurite.
        $ctx.BlobEndpoint | Should -Be ($Stack.frontBlobEndpoint -replace [regex]::Escape($Stack.storageAccountName), $Stack.dataStorageAccountName)
        $ctx.AuthType | Should -Be 'SharedKey'
        $ctx.ResourceGroupName | Should -Be $Stack.dataResourceGroupName
        New-MsiStorageContainer -Name 'threelines' -Context $ctx | Out-Null
        (Send-MsiBlob -File $File -Container 'threelines' -Context $ctx).Length | Should -Be 25
    }

    It 'with -Token, -SubscriptionId and -ResourceGroupName (the tutorial line) asks the VM nothing more' {
        $token = Get-MsiToken
        Invoke-Emulator '/__emulator/requests' $null 'Delete' | Out-Null
        $key = Get-MsiStorageKey -Token $token -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName
        $key.Environment | Should -Be 'AzureCloud'
        @(Get-Requests 'metadata').Count | Should -Be 0
        @(Get-Requests 'imds').Count | Should -Be 0
    }

    It 'finds an account in another resource group when the role is on the account alone (ARM answers 403 first)' {
        Invoke-Emulator '/__emulator/role-scope' @{ scope = 'accounts' } | Out-Null
        try {
            # The guessed group answers 403 and the subscription-wide search is refused too: the 403 stands,
            # with the note that the resource group was a guess.
            $err = { Get-MsiStorageKey -StorageAccountName $Stack.dataStorageAccountName } | Should -Throw -ErrorId 'GetMsiStorageKeyAuthorizationFailed,Get-MsiStorageKey' -PassThru
            $err.CategoryInfo.Category | Should -Be 'PermissionDenied'
            $err.Exception.Message | Should -Match 'pass -ResourceGroupName'
            $err.Exception.Message | Should -Match ([regex]::Escape($Stack.resourceGroupName))
            (Get-Requests 'arm').status | Should -Be @(403, 403)
            # Given the right group, it works with the account-scoped role.
            (Get-MsiStorageKey -StorageAccountName $Stack.dataStorageAccountName -ResourceGroupName $Stack.dataResourceGroupName).ResourceGroupName | Should -Be $Stack.dataResourceGroupName
        } finally { Invoke-Emulator '/__emulator/role-scope' @{ scope = 'subscription' } | Out-Null }
    }

    It 'gets the ARM token with the user-assigned identity named by -ClientId, and caches it per identity' {
        $info = Invoke-Emulator '/__emulator/identities' @{ systemAssigned = $false; userAssigned = 2 }
        try {
            { Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName } | Should -Throw -ErrorId 'GetMsiStorageKeyMultipleIdentities,Get-MsiStorageKey'
            $clientId = @($info.userAssigned)[1].clientId
            (Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -ClientId $clientId).KeyName | Should -Be 'key1'
            $sent = @(Get-Requests 'imds' | Where-Object { $_.status -eq 200 })
            $sent.Count | Should -Be 1
            Invoke-Emulator '/__emulator/requests' $null 'Delete' | Out-Null
            (Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -ClientId $clientId).KeyName | Should -Be 'key1'
            @(Get-Requests 'imds').Count | Should -Be 0 -Because "the identity's ARM token is in the session cache"
            (InModuleScope MsiStorage { @($script:MsiTokenCache.Keys) }) | Should -Match ([regex]::Escape("clientId=$clientId"))
            { Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -ClientId $clientId -ObjectId $clientId } | Should -Throw -ErrorId 'GetMsiStorageKeyConflictingIdentitySelectors,Get-MsiStorageKey'
        } finally { Invoke-Emulator '/__emulator/identities' @{ systemAssigned = $true; userAssigned = 0 } | Out-Null }
    }

    It '-TimeoutSec bounds the whole call, the token it gets on its own included' {
        # The identity endpoint accepts and never answers: only the deadline ends the call.
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(1..10 | ForEach-Object { @{ hang = $true } }) } | Out-Null
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        $err = { Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -SubscriptionId $Stack.subscriptionId -TimeoutSec 2 } |
            Should -Throw -ErrorId 'GetMsiStorageKeyIdentityEndpointTimeout,Get-MsiStorageKey' -PassThru
        $err.CategoryInfo.Category | Should -Be 'OperationTimeout'
        # It kept trying until the deadline, and stopped there.
        $watch.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 1.9
        $watch.Elapsed.TotalSeconds | Should -BeLessThan 6
    }

    It 'uses the session token cache across the lookups' {
        Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName | Out-Null
        New-MsiStorageContext -StorageAccountName $Stack.storageAccountName | Out-Null
        @(Get-Requests 'imds').Count | Should -Be 1
    }
}

Describe 'Clouds' {
    BeforeEach { $env:MSISTORAGE_ARM_ENDPOINT = $null }

    It '-Environment <Environment> sets the ARM endpoint <ArmHost>' -TestCases @(
        @{ Environment = 'AzureChinaCloud'; ArmHost = 'management.chinacloudapi.cn' }
        @{ Environment = 'AzureUSGovernment'; ArmHost = 'management.usgovcloudapi.net' }
        @{ Environment = 'AzureCloud'; ArmHost = 'management.azure.com' }
    ) {
        param($Environment, $ArmHost)
        # MSISTORAGE_LOOPBACK_ONLY stops the call before anything leaves the machine, naming where it would go.
        $err = { Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -Environment $Environment } | Should -Throw -ErrorId 'GetMsiStorageKeyEndpointNotAllowed,Get-MsiStorageKey' -PassThru
        $err.Exception.Message | Should -Match ([regex]::Escape("https://$ArmHost"))
    }

    It 'takes the default cloud from the VM azEnvironment, case-insensitively: <AzEnvironment>' -TestCases @(
        @{ AzEnvironment = 'AzureUSGovernmentCloud'; ArmHost = 'management.usgovcloudapi.net' }
        @{ AzEnvironment = 'AZURECHINACLOUD'; ArmHost = 'management.chinacloudapi.cn' }
        @{ AzEnvironment = 'AzurePublicCloud'; ArmHost = 'management.azure.com' }
        @{ AzEnvironment = 'SomethingNew'; ArmHost = 'management.azure.com' }
    ) {
        param($AzEnvironment, $ArmHost)
        Invoke-Emulator '/__emulator/metadata' @{ azEnvironment = $AzEnvironment } | Out-Null
        $err = { Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName } | Should -Throw -PassThru
        $err.Exception.Message | Should -Match ([regex]::Escape("https://$ArmHost"))
    }

    It 'serves a US Government VM end to end: the emulated ARM takes that cloud''s tokens' {
        $env:MSISTORAGE_ARM_ENDPOINT = $Stack.armEndpoint
        Invoke-Emulator '/__emulator/metadata' @{ azEnvironment = 'AzureUSGovernmentCloud' } | Out-Null
        $key = Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName
        $key.Environment | Should -Be 'AzureUSGovernment'
        # The token came from the VM's identity, for the ARM of the VM's cloud.
        (@(Get-Requests 'imds').query -join ' ') | Should -Match ([regex]::Escape('resource=' + [uri]::EscapeDataString('https://management.usgovcloudapi.net/')))
        # The same with subscription and resource group given: the cloud still comes from the VM.
        InModuleScope MsiStorage { $script:MsiTokenCache = @{} }
        (Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName).Environment | Should -Be 'AzureUSGovernment'
        # A public-cloud token passed to -Token is refused by that ARM, and the message says what it wants.
        $public = Get-MsiToken -Resource 'https://management.azure.com/'
        $err = { Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -Environment AzureUSGovernment -Token $public } | Should -Throw -ErrorId 'GetMsiStorageKeyInvalidTokenAudience,Get-MsiStorageKey' -PassThru
        $err.Exception.Message | Should -Match ([regex]::Escape('https://management.usgovcloudapi.net/'))
    }

    It '-ArmEndpoint still overrides -Environment' {
        (Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -Environment AzureChinaCloud -ArmEndpoint $Stack.armEndpoint -Token (Get-MsiToken)).KeyName | Should -Be 'key1'
    }

    It 'New-MsiStorageContext falls back to the cloud storage suffix when ARM cannot tell' {
        # The key as a SecureString: the key object knows it is another account's, and would be refused.
        $key = (Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint).Value
        $ctx = New-MsiStorageContext -StorageAccountName 'otheraccount' -StorageAccountKey $key -Environment AzureChinaCloud
        $ctx.BlobEndpoint | Should -Be 'https://otheraccount.blob.core.chinacloudapi.cn/'
        $ctx = New-MsiStorageContext -StorageAccountName 'otheraccount' -StorageAccountKey $key -Environment AzureUSGovernment -BlobEndpoint 'http://127.0.0.1:1/otheraccount'
        $ctx.BlobEndpoint | Should -Be 'http://127.0.0.1:1/otheraccount/'
    }

    It 'warns when the resource group it was given does not hold the account, and says which endpoint it guessed' {
        $key = Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $key -ResourceGroupName 'bogus-rg' -SubscriptionId $Stack.subscriptionId -ArmEndpoint $Stack.armEndpoint -WarningVariable warned -WarningAction SilentlyContinue
        $ctx.BlobEndpoint | Should -Be "https://$($Stack.storageAccountName).blob.core.windows.net/"
        ($warned -join ' ') | Should -Match "bogus-rg"
        ($warned -join ' ') | Should -Match 'Check -ResourceGroupName'
        # Without a location of the user's, the same fallback is only a verbose note.
        $null = New-MsiStorageContext -StorageAccountName 'otheraccount' -StorageAccountKey $key.Value -ArmEndpoint $Stack.armEndpoint -WarningVariable quiet -WarningAction SilentlyContinue
        $quiet | Should -BeNullOrEmpty
    }
}

Describe 'Errors that say what to do' {
    It '403 on listKeys names the role, the identity object id, the scope, and the delay' {
        Invoke-Emulator "/__emulator/accounts/$($Stack.storageAccountName)" @{ withholdListKeys = $true } | Out-Null
        $err = { Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName } | Should -Throw -ErrorId 'GetMsiStorageKeyAuthorizationFailed,Get-MsiStorageKey' -PassThru
        $err.CategoryInfo.Category | Should -Be 'PermissionDenied'
        $message = $err.Exception.Message
        $message | Should -Match 'Storage Account Key Operator Service Role'
        $message | Should -Match ([regex]::Escape('Microsoft.Storage/storageAccounts/listKeys/action'))
        $message | Should -Match (Invoke-Emulator '/__emulator/info' $null 'Get').systemAssigned.objectId
        $message | Should -Match ([regex]::Escape("/subscriptions/$($Stack.subscriptionId)/resourceGroups/$($Stack.resourceGroupName)/providers/Microsoft.Storage/storageAccounts/$($Stack.storageAccountName)"))
        $message | Should -Match 'minutes'
    }

    It '403 names the role that grants the action refused: the key role for a context, Storage Account Contributor for a SAS' {
        Invoke-Emulator '/__emulator/role-scope' @{ scope = 'accounts' } | Out-Null
        try {
            # No role on this account at all: the context cannot read it (403), goes on to its keys, and the
            # refusal of those is what the admin is told about, with the role that grants them.
            $err = { New-MsiStorageContext -StorageAccountName 'nosuchaccount1' -ResourceGroupName $Stack.resourceGroupName } | Should -Throw -ErrorId 'NewMsiStorageContextAuthorizationFailed,New-MsiStorageContext' -PassThru
            $err.Exception.Message | Should -Match 'Storage Account Key Operator Service Role'
            $err.Exception.Message | Should -Match ([regex]::Escape('listKeys/action'))
            (Get-Requests 'arm' | ForEach-Object { "$($_.method) $($_.status)" }) | Should -Be @('GET 403', 'POST 403')
            $err = { New-MsiStorageSas -StorageAccountName 'nosuchaccount1' -ResourceGroupName $Stack.resourceGroupName -Container 'ccc' } | Should -Throw -ErrorId 'NewMsiStorageSasAuthorizationFailed,New-MsiStorageSas' -PassThru
            $err.Exception.Message | Should -Match "RoleDefinitionName 'Storage Account Contributor'"
            $err.Exception.Message | Should -Match ([regex]::Escape('listServiceSas/action'))
        } finally { Invoke-Emulator '/__emulator/role-scope' @{ scope = 'subscription' } | Out-Null }
    }

    It "works with the tutorial's role alone (Storage Account Key Operator Service Role: listKeys, no read)" {
        Invoke-Emulator '/__emulator/role-scope' @{ scope = 'key-operator' } | Out-Null
        try {
            $key = Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName
            $key.KeyName | Should -Be 'key1'
            # The account's properties cannot be read: its endpoint comes from the cloud's suffix (nothing is
            # sent there: a context is only built), its key from listKeys, and -Verbose says why.
            Invoke-Emulator '/__emulator/requests' $null 'Delete' | Out-Null
            $verbose = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -Verbose 4>&1
            $ctx = @($verbose | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] })[0]
            $ctx.BlobEndpoint | Should -Be "https://$($Stack.storageAccountName).blob.core.windows.net/"
            $ctx.StorageAccountKey | Should -BeOfType [securestring]
            ($verbose | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }) -join "`n" | Should -Match "may not read storage account $($Stack.storageAccountName)'s properties"
            (Get-Requests 'arm' | ForEach-Object { "$($_.method) $($_.status)" }) | Should -Be @('GET 403', 'POST 200')
            # With the endpoint given, the tutorial's flow runs end to end on that role.
            $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -BlobEndpoint $Stack.blobEndpoint
            $Container = 'keyop' + [guid]::NewGuid().ToString('N').Substring(0, 8)
            New-MsiStorageContainer -Name $Container -Context $ctx | Out-Null
            $file = Join-Path $TestDrive 'keyop.txt'
            Set-Content -LiteralPath $file -Value 'This is a test text file.' -NoNewline
            (Send-MsiBlob -File $file -Container $Container -Blob 'keyop.txt' -Context $ctx -Force).Length | Should -Be 25
            $back = Join-Path $TestDrive 'keyop2.txt'
            $null = Receive-MsiBlob -Blob 'keyop.txt' -Container $Container -Destination $back -Context $ctx -Force
            Get-Content -LiteralPath $back -Raw | Should -Be 'This is a test text file.'
            # A SAS needs more than that role: 403 names the action.
            { New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -Container $Container } | Should -Throw -ErrorId 'NewMsiStorageSasAuthorizationFailed,New-MsiStorageSas'
        } finally { Invoke-Emulator '/__emulator/role-scope' @{ scope = 'subscription' } | Out-Null }
    }

    It '401 for a token of another resource says which token and for what' {
        $err = { Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -Token (Get-MsiToken -Resource 'https://storage.azure.com/') } | Should -Throw -ErrorId 'GetMsiStorageKeyInvalidTokenAudience,Get-MsiStorageKey' -PassThru
        $err.CategoryInfo.Category | Should -Be 'AuthenticationError'
        $err.Exception.Message | Should -Match '-Token'
        $err.Exception.Message | Should -Match ([regex]::Escape("'https://storage.azure.com/'"))
    }

    It '401 ExpiredAuthenticationToken refreshes the token once and retries' {
        Invoke-Emulator '/__emulator/token-lifetime' @{ seconds = -60 } | Out-Null
        try { $expired = Get-MsiToken -Force } finally { Invoke-Emulator '/__emulator/token-lifetime' @{ seconds = 86399 } | Out-Null }
        $expired.ExpiresOn | Should -BeLessThan ([DateTimeOffset]::UtcNow)
        (Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -Token $expired).KeyName | Should -Be 'key1'
        @(Get-Requests 'arm' | Where-Object { $_.status -eq 401 }).Count | Should -Be 1
        @(Get-Requests 'imds').Count | Should -Be 2
    }

    It 'retries ARM 429 with Retry-After and 503' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'arm'; faults = @(@{ status = 429; retryAfter = 1 }, @{ status = 503 }) } | Out-Null
        $env:MSISTORAGE_RETRY_DELAY_SCALE = '0.01'
        $watch = [System.Diagnostics.Stopwatch]::StartNew()
        try { (Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName).KeyName | Should -Be 'key1' }
        finally { $env:MSISTORAGE_RETRY_DELAY_SCALE = $null }
        (Get-Requests 'arm').status | Should -Be @(429, 503, 200)
        # Back-off is scaled to 1%, Retry-After is not: the second try waited the full second.
        $watch.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 1
    }

    It 'gives up with ResourceUnavailable when ARM keeps failing' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'arm'; faults = @(1..6 | ForEach-Object { @{ status = 503 } }) } | Out-Null
        $env:MSISTORAGE_RETRY_DELAY_SCALE = '0.01'
        try { $err = { Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName } | Should -Throw -ErrorId 'GetMsiStorageKeyArmUnavailable,Get-MsiStorageKey' -PassThru }
        finally { $env:MSISTORAGE_RETRY_DELAY_SCALE = $null }
        $err.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
    }
}

Describe 'The SAS path' {
    BeforeAll {
        $script:SasContainer = 'sas' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        New-MsiStorageContainer -Name $SasContainer -Context (New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint) | Out-Null
    }

    It 'uploads and downloads with a container SAS from listServiceSas' {
        $sas = New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -Container $SasContainer -Permission rwl -Protocol HttpsOrHttp
        $sas | Should -BeOfType [System.Security.SecureString]
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -SasToken $sas -BlobEndpoint $Stack.blobEndpoint
        $ctx.AuthType | Should -Be 'SAS'
        $ctx.StorageAccountKey | Should -BeNullOrEmpty
        (Send-MsiBlob -File $File -Container $SasContainer -Blob 'via-sas' -Context $ctx).Name | Should -Be 'via-sas'
        $out = Join-Path $Work 'via-sas.txt'
        Receive-MsiBlob -Blob 'via-sas' -Container $SasContainer -Destination $out -Context $ctx | Out-Null
        Get-Content -LiteralPath $out -Raw | Should -Be 'This is a test text file.'
    }

    It "a blob's Uri, with a SAS after it, is a link that fetches it, whatever its name holds" {
        $ctxKey = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -BlobEndpoint $Stack.blobEndpoint
        $name = 'shared/ä b#c?d%e.txt'
        $sent = Send-MsiBlob -File $File -Container $SasContainer -Blob $name -Context $ctxKey -Force
        $sas = New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -Container $SasContainer -Permission r -Protocol HttpsOrHttp
        $plain = (New-Object System.Net.NetworkCredential -ArgumentList '', $sas).Password
        $sent.Uri | Should -BeOfType [System.Uri]
        (Invoke-WebRequest -Uri "$($sent.Uri.AbsoluteUri)?$plain" -NoProxy -UseBasicParsing).Content | Should -Be 'This is a test text file.'
        (Get-MsiBlob -Container $SasContainer -Prefix 'shared/' -Context $ctxKey).Uri | Should -Be $sent.Uri
    }

    It '-AsPlainText gives the SAS as a string, and the blob''s Uri with it is a link that reads the blob over plain HTTP' {
        $ctxKey = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -BlobEndpoint $Stack.blobEndpoint
        Send-MsiBlob -File $File -Container $SasContainer -Blob 'linked blob #1.txt' -Context $ctxKey -Force | Out-Null
        $sas = New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -Container $SasContainer -Blob 'linked blob #1.txt' -Permission r -Protocol HttpsOrHttp -AsPlainText
        $sas | Should -BeOfType [string]
        $sas | Should -Match '(^|&)sig='
        $blob = Get-MsiBlob -Container $SasContainer -Blob 'linked blob #1.txt' -Context $ctxKey
        $link = "$($blob.Uri.AbsoluteUri)?$sas"
        $got = Invoke-WebRequest -Uri $link -UseBasicParsing
        $text = $got.Content
        if ($text -is [byte[]]) { $text = [System.Text.Encoding]::UTF8.GetString($text) }
        $text | Should -Be 'This is a test text file.'
    }

    It 'a SAS for one blob defaults to read, and refuses letters a blob cannot carry' {
        $ctxKey = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -BlobEndpoint $Stack.blobEndpoint
        Send-MsiBlob -File $File -Container $SasContainer -Blob 'one-blob' -Context $ctxKey -Force | Out-Null
        $sas = New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -Container $SasContainer -Blob 'one-blob' -Protocol HttpsOrHttp
        $plain = (New-Object System.Net.NetworkCredential -ArgumentList '', $sas).Password
        $plain | Should -Match '(^|&)sp=r(&|$)'
        $plain | Should -Match '(^|&)sr=b(&|$)'
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -SasToken $sas -BlobEndpoint $Stack.blobEndpoint
        $out = Join-Path $Work 'one-blob.txt'
        Receive-MsiBlob -Blob 'one-blob' -Container $SasContainer -Destination $out -Context $ctx -Force | Out-Null
        Get-Content -LiteralPath $out -Raw | Should -Be 'This is a test text file.'
        $err = { New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -Container $SasContainer -Blob 'one-blob' -Permission rl } | Should -Throw -ErrorId 'NewMsiStorageSasInvalidSasPermission,New-MsiStorageSas' -PassThru
        $err.Exception.Message | Should -Match '-Permission'
        $err.Exception.Message | Should -Match '\(l\)'
        @(Get-Requests 'arm' | Where-Object { $_.status -ge 500 }).Count | Should -Be 0
    }

    It 'uploads with an account SAS from listAccountSas' {
        $sas = New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -Permission rwlc -Protocol HttpsOrHttp
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -SasToken $sas -BlobEndpoint $Stack.blobEndpoint
        (Send-MsiBlob -File $File -Container $SasContainer -Blob 'via-account-sas' -Context $ctx).Name | Should -Be 'via-account-sas'
    }

    It 'a read-only SAS cannot write' {
        $sas = New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -Container $SasContainer -Permission rl -Protocol HttpsOrHttp
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -SasToken $sas -BlobEndpoint $Stack.blobEndpoint
        $err = { Send-MsiBlob -File $File -Container $SasContainer -Blob 'denied' -Context $ctx -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobStoragePermissionDenied,Send-MsiBlob' -PassThru
        $err.CategoryInfo.Category | Should -Be 'PermissionDenied'
        # The advice fits a SAS: its letters, not a role or a key.
        $err.Exception.Message | Should -Match 'New-MsiStorageSas -Permission'
        $err.Exception.Message | Should -Not -Match 'Storage Blob Data'
    }

    It 'an HTTPS-only SAS over HTTP says to use -Protocol HttpsOrHttp' {
        $sas = New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -Container $SasContainer -Permission rwl
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -SasToken $sas -BlobEndpoint $Stack.blobEndpoint
        $err = { Send-MsiBlob -File $File -Container $SasContainer -Blob 'http' -Context $ctx -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobSasProtocolMismatch,Send-MsiBlob' -PassThru
        $err.Exception.Message | Should -Match 'HttpsOrHttp'
    }

    It 'refuses an expiry in the past, naming -ExpiryTime' {
        { New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -Container $SasContainer -ExpiryTime ([DateTimeOffset]::UtcNow.AddMinutes(-5)) } | Should -Throw -ErrorId 'NewMsiStorageSasInvalidSasTime,New-MsiStorageSas'
    }

    It 'never prints the SAS signature' {
        $all = & { New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -Container $SasContainer -Protocol HttpsOrHttp -Verbose -Debug } *>&1
        $sas = $all | Where-Object { $_ -is [System.Security.SecureString] }
        $plain = (New-Object System.Net.NetworkCredential -ArgumentList '', $sas).Password
        $sig = ([regex]::Match($plain, 'sig=([^&]+)')).Groups[1].Value
        $sig | Should -Not -BeNullOrEmpty
        # In both forms: as the query string carries it, and decoded.
        $decoded = [uri]::UnescapeDataString($sig)
        $decoded | Should -Not -Be $sig
        ($all | Out-String) | Should -Not -Match ([regex]::Escape($sig))
        ($all | Out-String) | Should -Not -Match ([regex]::Escape($decoded))
    }
}

Describe 'Accounts that disallow shared keys' {
    It 'says so, and suggests -UseManagedIdentity' {
        Invoke-Emulator "/__emulator/accounts/$($Stack.storageAccountName)" @{ allowSharedKeyAccess = $false } | Out-Null
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -WarningVariable warned -WarningAction SilentlyContinue
        ($warned | Out-String) | Should -Match 'UseManagedIdentity'
        $ctx.BlobEndpoint | Should -Be $Stack.enforcingEndpoint
        $err = { Send-MsiBlob -File $File -Container 'anything' -Context $ctx -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobKeyBasedAuthenticationNotPermitted,Send-MsiBlob' -PassThru
        $err.CategoryInfo.Category | Should -Be 'PermissionDenied'
        $err.Exception.Message | Should -Match '-UseManagedIdentity'
    }
}
}

Describe 'The keyless path over HTTPS' {
    BeforeAll {
        $script:Tls = Start-MsiTestStack -Arguments @('--https')
        $script:SavedCa = $env:NODE_EXTRA_CA_CERTS
        $env:NODE_EXTRA_CA_CERTS = $Tls.caFile
    }
    AfterAll {
        $env:NODE_EXTRA_CA_CERTS = $script:SavedCa
        Stop-MsiTestStack $script:Tls
    }
    BeforeEach {
        $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Tls.imdsHost
        $env:MSISTORAGE_ARM_ENDPOINT = $Tls.armEndpoint
        InModuleScope MsiStorage { $script:MsiTokenCache = @{} }
    }

    It 'uploads and downloads with the managed identity storage token and no key' {
        $Tls.blobEndpoint | Should -BeLike 'https://*'
        $ctx = New-MsiStorageContext -StorageAccountName $Tls.storageAccountName -UseManagedIdentity
        $ctx.AuthType | Should -Be 'OAuth'
        $ctx.BlobEndpoint | Should -Be $Tls.enforcingEndpoint
        $ctx.StorageAccountKey | Should -BeNullOrEmpty
        $ctx.Token | Should -BeOfType [System.Security.SecureString]
        New-MsiStorageContainer -Name 'keyless' -Context $ctx | Out-Null
        (Send-MsiBlob -File $File -Container 'keyless' -Blob 'oauth.txt' -Context $ctx).Length | Should -Be 25
        $out = Join-Path $Work 'oauth.txt'
        Receive-MsiBlob -Blob 'oauth.txt' -Container 'keyless' -Destination $out -Context $ctx | Out-Null
        Get-Content -LiteralPath $out -Raw | Should -Be 'This is a test text file.'
    }

    It 'the storage token is for https://storage.azure.com/ and is cached' {
        New-MsiStorageContext -StorageAccountName $Tls.storageAccountName -UseManagedIdentity | Out-Null
        $env:MSISTORAGE_NODE = Join-Path ([System.IO.Path]::GetTempPath()) 'no-such-node'
        try { (Get-MsiToken -Resource 'https://storage.azure.com/').Resource | Should -Be 'https://storage.azure.com/' }
        finally { $env:MSISTORAGE_NODE = $null }
    }

    It 'is the remedy for an account that disallows shared keys: keys are refused, the identity is not' {
        Invoke-RestMethod -Method Post -Uri "$($Tls.imdsHost)/__emulator/accounts/$($Tls.storageAccountName)" -Body '{"allowSharedKeyAccess":false}' -ContentType 'application/json' -NoProxy | Out-Null
        try {
            $keyed = New-MsiStorageContext -StorageAccountName $Tls.storageAccountName -WarningAction SilentlyContinue
            $keyed.BlobEndpoint | Should -Be $Tls.enforcingEndpoint
            { Send-MsiBlob -File $File -Container 'keyless' -Blob 'by-key.txt' -Context $keyed -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobKeyBasedAuthenticationNotPermitted,Send-MsiBlob'
            $ctx = New-MsiStorageContext -StorageAccountName $Tls.storageAccountName -UseManagedIdentity
            New-MsiStorageContainer -Name 'nosharedkey' -Context $ctx | Out-Null
            (Send-MsiBlob -File $File -Container 'nosharedkey' -Blob 'no-shared-key.txt' -Context $ctx).Length | Should -Be 25
        } finally {
            Invoke-RestMethod -Method Post -Uri "$($Tls.imdsHost)/__emulator/accounts/$($Tls.storageAccountName)" -Body '{"allowSharedKeyAccess":true}' -ContentType 'application/json' -NoProxy | Out-Null
        }
    }

    It 'refuses bearer tokens over plain HTTP with a clear error, when the context is made and when it is used' {
        $err = { New-MsiStorageContext -StorageAccountName $Tls.storageAccountName -UseManagedIdentity -BlobEndpoint "http://127.0.0.1:1/$($Tls.storageAccountName)" } | Should -Throw -ErrorId 'NewMsiStorageContextOAuthNeedsHttps,New-MsiStorageContext' -PassThru
        $err.Exception.Data['MsiStorage.parameter'] | Should -Be 'BlobEndpoint'
        $err.Exception.Message | Should -Match 'https://'
        # A context changed by hand afterwards: the data plane refuses it too.
        $ctx = New-MsiStorageContext -StorageAccountName $Tls.storageAccountName -UseManagedIdentity
        $ctx.BlobEndpoint = "http://127.0.0.1:1/$($Tls.storageAccountName)/"
        { Send-MsiBlob -File $File -Container 'keyless' -Context $ctx -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobOAuthNeedsHttps,Send-MsiBlob'
    }
}

Describe 'Pipeline input as Az users pipe it' {
    BeforeAll {
        $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Emu
        $env:MSISTORAGE_ARM_ENDPOINT = $Stack.armEndpoint
        $script:PipeCtx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -BlobEndpoint $Stack.blobEndpoint
    }

    It 'a token pipes into Get-MsiStorageKey, and a key into New-MsiStorageContext (which takes the account from it)' {
        InModuleScope MsiStorage { $script:MsiTokenCache = @{} }
        Invoke-Emulator '/__emulator/requests' $null 'Delete' | Out-Null
        $key = Get-MsiToken | Get-MsiStorageKey -StorageAccountName $Stack.storageAccountName
        $key.StorageAccountName | Should -Be $Stack.storageAccountName
        (Get-Requests 'imds').Count | Should -Be 1 -Because 'the piped token was used, not a second one'
        $ctx = $key | New-MsiStorageContext -BlobEndpoint $Stack.blobEndpoint
        $ctx.StorageAccountName | Should -Be $Stack.storageAccountName
        $ctx.AuthType | Should -Be 'SharedKey'
        (Get-MsiStorageContainer -Context $ctx -MaxCount 1) | Should -Not -BeNullOrEmpty
        # A token piped into New-MsiStorageContext by analogy is told where it goes.
        $err = { Get-MsiToken | New-MsiStorageContext -StorageAccountName $Stack.storageAccountName } | Should -Throw -ErrorId 'NewMsiStorageContextInvalidStorageAccountKey,New-MsiStorageContext' -PassThru
        $err.Exception.Message | Should -Match 'Pass the token as -Token'
    }

    It 'container names pipe into New-MsiStorageContainer, one container each; one that fails is its own error and the rest are made' {
        $made = 'piped-one', 'BAD_NAME', 'piped-two' | New-MsiStorageContainer -Context $PipeCtx -ErrorVariable failed -ErrorAction SilentlyContinue
        @($made.Name) | Should -Be @('piped-one', 'piped-two')
        $failed.Count | Should -Be 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'NewMsiStorageContainerInvalidContainerName,New-MsiStorageContainer'
        $again = [pscustomobject]@{ Name = 'piped-one' }, [pscustomobject]@{ Name = 'piped-three' } | New-MsiStorageContainer -Context $PipeCtx -ErrorVariable exists -ErrorAction SilentlyContinue
        @($again.Name) | Should -Be @('piped-three')
        $exists[0].FullyQualifiedErrorId | Should -Be 'NewMsiStorageContainerContainerAlreadyExists,New-MsiStorageContainer'
        { 'piped-four', 'piped-one', 'piped-five' | New-MsiStorageContainer -Context $PipeCtx -ErrorAction Stop } | Should -Throw -ErrorId 'NewMsiStorageContainerContainerAlreadyExists,New-MsiStorageContainer'
        @((Get-MsiStorageContainer -Prefix 'piped-' -Context $PipeCtx).Name) | Should -Not -Contain 'piped-five' -Because '-ErrorAction Stop stops at the failing name'
    }

    It 'a context that crossed a process boundary is named as such, with the fix' {
        $copy = [System.Management.Automation.PSSerializer]::Deserialize([System.Management.Automation.PSSerializer]::Serialize($PipeCtx))
        $err = { Get-MsiBlob -Container 'piped-one' -Context $copy } | Should -Throw -ErrorId 'GetMsiBlobInvalidContext,Get-MsiBlob' -PassThru
        $err.Exception.Message | Should -Match 'crossed a process boundary'
        $err.Exception.Message | Should -Match 'New-MsiStorageContext inside the job'
    }

    It '-WhatIf gives a file outside -SourceRoot its own error as the upload would, and sends nothing' {
        $tree = Join-Path $Work 'whatif-tree'
        New-Item -ItemType Directory -Path $tree -Force | Out-Null
        Set-Content -LiteralPath (Join-Path $tree 'in.txt') -Value 'in'
        Get-Item -LiteralPath (Join-Path $tree 'in.txt'), $File | Send-MsiBlob -Container 'piped-one' -SourceRoot $tree -Context $PipeCtx -WhatIf -ErrorVariable failed -ErrorAction SilentlyContinue
        $failed | Should -HaveCount 1
        $failed[0].FullyQualifiedErrorId | Should -Be 'SendMsiBlobFileOutsideSourceRoot,Send-MsiBlob'
        $failed[0].Exception.Message | Should -Match ([regex]::Escape($File))
        @(Get-MsiBlob -Container 'piped-one' -Context $PipeCtx) | Should -HaveCount 0
        # A path inside the root, written with '..' and '//', is inside it, as Node reads it.
        $sent = Send-MsiBlob -File "$tree/../whatif-tree//in.txt" -Container 'piped-one' -SourceRoot $tree -Context $PipeCtx
        $sent.Name | Should -Be 'in.txt'
    }
}
