# Issue 6: the catalogue of bad input. Every entry checks the exact ErrorId, the category, and that the
# message names the parameter and says how to fix it; and every entry's streams (-Verbose, -Debug, errors)
# are scanned for the key, the token and every SAS signature (the SAS-context entries carry one to Node).
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestStack.psm1') -Force
    Import-Module (Join-Path (Split-Path -Parent (Split-Path -Parent $PSScriptRoot)) 'MsiStorage.psd1') -Force
    $script:Stack = Start-MsiTestStack
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Stack.imdsHost
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-catalogue-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $Work | Out-Null
    $script:Token = Get-MsiToken
    $script:Key = Get-MsiStorageKey -Token $Token -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint
    $script:Ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $Key -BlobEndpoint $Stack.blobEndpoint
    $script:Container = New-MsiTestContainerName
    New-MsiStorageContainer -Name $Container -Context $Ctx | Out-Null
    # SAS contexts: an account SAS that may do anything here, a read-only container SAS, and an HTTPS-only one
    # (Azurite here is HTTP).
    $sasArgs = @{ SubscriptionId = $Stack.subscriptionId; ResourceGroupName = $Stack.resourceGroupName; StorageAccountName = $Stack.storageAccountName; ArmEndpoint = $Stack.armEndpoint; Token = $Token }
    $script:SasAll = New-MsiStorageSas @sasArgs -Permission rwdlc -Protocol HttpsOrHttp
    $script:SasReadOnly = New-MsiStorageSas @sasArgs -Container $Container -Permission rl -Protocol HttpsOrHttp
    $script:SasHttpsOnly = New-MsiStorageSas @sasArgs -Container $Container -Permission rwl
    $sasContext = { param($sas) New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -SasToken $sas -BlobEndpoint $Stack.blobEndpoint }
    $script:SasCtx = & $sasContext $SasAll
    $script:SasReadOnlyCtx = & $sasContext $SasReadOnly
    $script:SasHttpsOnlyCtx = & $sasContext $SasHttpsOnly
    $plain = { param($s) (New-Object System.Net.NetworkCredential -ArgumentList '', $s).Password }
    $script:Secrets = @(
        & $plain $Token.Token
        & $plain $Key.Value
        # Each signature in both of its forms: as the query string carries it, and decoded.
        foreach ($sas in $SasAll, $SasReadOnly, $SasHttpsOnly) {
            $sig = ([regex]::Match((& $plain $sas), 'sig=([^&]+)')).Groups[1].Value
            if (-not $sig -or $sig -eq [uri]::UnescapeDataString($sig)) { throw 'a test SAS signature needs encoding; run again' }
            $sig
            [uri]::UnescapeDataString($sig)
        }
    )
    $script:File = Join-Path $Work 'ok.txt'
    Set-Content -LiteralPath $File -Value 'ok'
    Send-MsiBlob -File $File -Container $Container -Blob 'exists.txt' -Context $Ctx | Out-Null
    New-Item -ItemType Directory -Path (Join-Path $Work 'adir') | Out-Null
    New-Item -ItemType Directory -Path (Join-Path $Work 'dest/exists.txt') -Force | Out-Null
    # An unreadable file. root reads anything: for root, Node runs without the capabilities that let it ignore
    # file permissions (as in Transfers.Tests.ps1).
    $script:Unreadable = Join-Path $Work 'unreadable.txt'
    Set-Content -LiteralPath $Unreadable -Value 'secret'
    & chmod 000 $Unreadable
    $script:NoDacNode = $null
    if ((& id -u) -eq '0') {
        $script:NoDacNode = Join-Path $Work 'node-no-dac.sh'
        Set-Content -LiteralPath $NoDacNode -Value "#!/bin/sh`nexec setpriv --inh-caps=-dac_override,-dac_read_search --bounding-set=-dac_override,-dac_read_search '$(Get-MsiTestNode)' `"`$@`"`n"
        & chmod +x $NoDacNode
    }
    $script:KeyArgs = @{ SubscriptionId = $Stack.subscriptionId; ResourceGroupName = $Stack.resourceGroupName; StorageAccountName = $Stack.storageAccountName; ArmEndpoint = $Stack.armEndpoint; Token = $Token }
    $script:Tried = 0
    $script:Scanned = 0
    $script:NodeCalls = 0
}
AfterAll {
    Write-Host "    catalogue: $script:Tried inputs tried ($script:NodeCalls reached Node), $script:Scanned characters of output, verbose and debug scanned: 0 leaks"
    Stop-MsiTestStack $script:Stack
    Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Bad input' {
    It '<Name>' -TestCases @(
        # Files
        @{ Name = 'a missing file'; Id = 'SendMsiBlobFileNotFound,Send-MsiBlob'; Category = 'ObjectNotFound'; Says = '-File'; Fix = 'Check the path'; Run = { Send-MsiBlob -File (Join-Path $Work 'missing.txt') -Container $Container -Context $Ctx } }
        @{ Name = 'a directory as -File'; Id = 'SendMsiBlobFileIsDirectory,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-File'; Fix = 'Get-ChildItem -File -Recurse'; Run = { Send-MsiBlob -File (Join-Path $Work 'adir') -Container $Container -Context $Ctx } }
        @{ Name = 'an unreadable file'; Id = 'SendMsiBlobFileNotReadable,Send-MsiBlob'; Category = 'PermissionDenied'; Says = '-File'; Fix = "Check the file's permissions"; Run = { $saved = $env:MSISTORAGE_NODE; if ($NoDacNode) { $env:MSISTORAGE_NODE = $NoDacNode }; try { Send-MsiBlob -File $Unreadable -Container $Container -Context $Ctx } finally { $env:MSISTORAGE_NODE = $saved } } }
        @{ Name = 'a FIFO as -File'; Id = 'SendMsiBlobNotAFile,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-File'; Fix = 'not a regular file'; Run = { $f = Join-Path $Work 'pipe.fifo'; if (-not (Test-Path $f)) { & mkfifo $f }; Send-MsiBlob -File $f -Container $Container -Context $Ctx } }
        # Container names
        @{ Name = 'a container name too short'; Id = 'SendMsiBlobInvalidContainerName,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Container'; Fix = '3-63 lowercase'; Run = { Send-MsiBlob -File $File -Container 'ab' -Context $Ctx } }
        @{ Name = 'a container name too long'; Id = 'SendMsiBlobInvalidContainerName,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Container'; Fix = '3-63 lowercase'; Run = { Send-MsiBlob -File $File -Container ('a' * 64) -Context $Ctx } }
        @{ Name = 'a container name in upper case'; Id = 'SendMsiBlobInvalidContainerName,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Container'; Fix = 'lowercase'; Run = { Send-MsiBlob -File $File -Container 'Upper' -Context $Ctx } }
        @{ Name = 'a container name with an underscore'; Id = 'SendMsiBlobInvalidContainerName,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Container'; Fix = 'single hyphens'; Run = { Send-MsiBlob -File $File -Container 'has_underscore' -Context $Ctx } }
        @{ Name = 'a container name with a double hyphen'; Id = 'ReceiveMsiBlobInvalidContainerName,Receive-MsiBlob'; Category = 'InvalidArgument'; Says = '-Container'; Fix = 'single hyphens'; Run = { Receive-MsiBlob -Blob 'x' -Container 'a--b' -Destination $Work -Context $Ctx } }
        @{ Name = 'a container name starting with a hyphen'; Id = 'NewMsiStorageContainerInvalidContainerName,New-MsiStorageContainer'; Category = 'InvalidArgument'; Says = '-Name'; Fix = 'starting and ending with a letter or digit'; Run = { New-MsiStorageContainer -Name '-abc' -Context $Ctx } }
        # Blob names
        @{ Name = 'a blob name over 1024 characters'; Id = 'SendMsiBlobInvalidBlobName,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Blob'; Fix = 'at most 1024'; Run = { Send-MsiBlob -File $File -Container $Container -Blob ('n' * 1025) -Context $Ctx } }
        @{ Name = 'a blob name with a control character'; Id = 'SendMsiBlobInvalidBlobName,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Blob'; Fix = 'Remove them'; Run = { Send-MsiBlob -File $File -Container $Container -Blob "bad`tname" -Context $Ctx } }
        @{ Name = "a blob name with a '..' segment (it would reach another container)"; Id = 'SendMsiBlobInvalidBlobName,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Blob'; Fix = "Remove the '..' segments"; Run = { Send-MsiBlob -File $File -Container $Container -Blob '../other/escaped.txt' -Context $Ctx } }
        @{ Name = "a blob name with a '.' segment, to download"; Id = 'ReceiveMsiBlobInvalidBlobName,Receive-MsiBlob'; Category = 'InvalidArgument'; Says = '-Blob'; Fix = "Remove the '.' segments"; Run = { Receive-MsiBlob -Blob './x.txt' -Container $Container -Destination (Join-Path $Work 'dot.txt') -Context $Ctx } }
        @{ Name = "a blob name with a '..' segment, to delete"; Id = 'RemoveMsiBlobInvalidBlobName,Remove-MsiBlob'; Category = 'InvalidArgument'; Says = '-Blob'; Fix = "Remove the '..' segments"; Run = { Remove-MsiBlob -Blob 'a/../b' -Container $Container -Context $Ctx -Force } }
        @{ Name = 'a destination folder (trailing slash) that does not exist'; Id = 'ReceiveMsiBlobDestinationFolderNotFound,Receive-MsiBlob'; Category = 'ObjectNotFound'; Says = '-Destination'; Fix = 'New-Item -ItemType Directory'; Run = { Receive-MsiBlob -Blob 'x' -Container $Container -Destination (Join-Path $Work 'no-such-folder/') -Context $Ctx } }
        @{ Name = 'a relative -File while the location is the Env: drive'; Id = 'SendMsiBlobInvalidPath,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-File'; Fix = 'Set-Location to a folder'; Run = { Push-Location Env:; try { Send-MsiBlob -File 'test.txt' -Container $Container -Context $Ctx } finally { Pop-Location } } }
        @{ Name = 'a blob name ending with a dot'; Id = 'SendMsiBlobInvalidBlobName,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Blob'; Fix = 'Remove it'; Run = { Send-MsiBlob -File $File -Container $Container -Blob 'name.' -Context $Ctx } }
        @{ Name = 'a blob name that climbs out of the destination folder'; Id = 'ReceiveMsiBlobInvalidBlobName,Receive-MsiBlob'; Category = 'InvalidArgument'; Says = '-Blob'; Fix = 'another container'; Run = { Receive-MsiBlob -Blob '../escape.txt' -Container $Container -Destination $Work -Context $Ctx } }
        # Identifiers
        @{ Name = 'a subscription id that is not a GUID'; Id = 'GetMsiStorageKeyInvalidSubscriptionId,Get-MsiStorageKey'; Category = 'InvalidArgument'; Says = '-SubscriptionId'; Fix = 'GUID'; Run = { $a = $KeyArgs.Clone(); $a.SubscriptionId = 'my-subscription'; Get-MsiStorageKey @a } }
        @{ Name = 'a storage account name too short'; Id = 'GetMsiStorageKeyInvalidStorageAccountName,Get-MsiStorageKey'; Category = 'InvalidArgument'; Says = '-StorageAccountName'; Fix = '3-24 lowercase'; Run = { $a = $KeyArgs.Clone(); $a.StorageAccountName = 'ab'; Get-MsiStorageKey @a } }
        @{ Name = 'a storage account name too long'; Id = 'GetMsiStorageKeyInvalidStorageAccountName,Get-MsiStorageKey'; Category = 'InvalidArgument'; Says = '-StorageAccountName'; Fix = '3-24 lowercase'; Run = { $a = $KeyArgs.Clone(); $a.StorageAccountName = 'a' * 25; Get-MsiStorageKey @a } }
        @{ Name = 'a storage account name with wrong characters'; Id = 'NewMsiStorageContextInvalidStorageAccountName,New-MsiStorageContext'; Category = 'InvalidArgument'; Says = '-StorageAccountName'; Fix = 'lowercase letters and digits'; Run = { New-MsiStorageContext -StorageAccountName 'My_Account' -StorageAccountKey $Key.Value -BlobEndpoint $Stack.blobEndpoint } }
        @{ Name = 'a resource group name with wrong characters'; Id = 'GetMsiStorageKeyInvalidResourceGroupName,Get-MsiStorageKey'; Category = 'InvalidArgument'; Says = '-ResourceGroupName'; Fix = '1-90 letters'; Run = { $a = $KeyArgs.Clone(); $a.ResourceGroupName = 'rg with spaces'; Get-MsiStorageKey @a } }
        @{ Name = '-KeyName key3'; Id = 'ParameterArgumentValidationError,Get-MsiStorageKey'; Category = 'InvalidData'; Says = 'KeyName'; Fix = 'key1,key2'; Run = { Get-MsiStorageKey @KeyArgs -KeyName key3 } }
        @{ Name = "another account's key object"; Id = 'NewMsiStorageContextStorageAccountKeyMismatch,New-MsiStorageContext'; Category = 'InvalidArgument'; Says = '-StorageAccountKey'; Fix = 'Get-MsiStorageKey -StorageAccountName otheraccount1'; Run = { New-MsiStorageContext -StorageAccountName 'otheraccount1' -StorageAccountKey $Key -BlobEndpoint $Stack.blobEndpoint } }
        @{ Name = "another account's blob endpoint"; Id = 'NewMsiStorageContextBlobEndpointAccountMismatch,New-MsiStorageContext'; Category = 'InvalidArgument'; Says = '-BlobEndpoint'; Fix = 'leave -BlobEndpoint out'; Run = { New-MsiStorageContext -StorageAccountName 'otheraccount1' -StorageAccountKey $Key.Value -BlobEndpoint $Stack.blobEndpoint } }
        @{ Name = 'an empty SecureString key'; Id = 'NewMsiStorageContextInvalidStorageAccountKey,New-MsiStorageContext'; Category = 'InvalidArgument'; Says = '-StorageAccountKey'; Fix = 'Get-MsiStorageKey'; Run = { New-MsiStorageContext -StorageAccountName 'account1' -StorageAccountKey (New-Object System.Security.SecureString) -BlobEndpoint $Stack.blobEndpoint } }
        @{ Name = 'a key that is not base64'; Id = 'NewMsiStorageContextInvalidStorageAccountKey,New-MsiStorageContext'; Category = 'InvalidArgument'; Says = '-StorageAccountKey'; Fix = 'Get-MsiStorageKey'; Run = { New-MsiStorageContext -StorageAccountName 'account1' -StorageAccountKey 'not base64!' -BlobEndpoint $Stack.blobEndpoint } }
        @{ Name = 'a -Token that is not a token'; Id = 'GetMsiStorageKeyInvalidToken,Get-MsiStorageKey'; Category = 'InvalidArgument'; Says = '-Token'; Fix = 'Get-MsiToken'; Run = { $a = $KeyArgs.Clone(); $a.Token = (New-Object System.Security.SecureString); Get-MsiStorageKey @a } }
        @{ Name = 'a client id that is not a GUID'; Id = 'GetMsiTokenInvalidIdentitySelector,Get-MsiToken'; Category = 'InvalidArgument'; Says = '-ClientId'; Fix = 'client \(application\) id'; Run = { Get-MsiToken -ClientId 'my-app' } }
        @{ Name = 'an object id that is not a GUID'; Id = 'GetMsiTokenInvalidIdentitySelector,Get-MsiToken'; Category = 'InvalidArgument'; Says = '-ObjectId'; Fix = 'object \(principal\) id'; Run = { Get-MsiToken -ObjectId '42' } }
        @{ Name = 'an identity resource id of something else'; Id = 'GetMsiTokenInvalidIdentitySelector,Get-MsiToken'; Category = 'InvalidArgument'; Says = '-IdentityResourceId'; Fix = 'userAssignedIdentities'; Run = { Get-MsiToken -IdentityResourceId '/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/virtualMachines/z' } }
        @{ Name = 'a storage resource id of something else'; Id = 'GetMsiStorageKeyInvalidResourceId,Get-MsiStorageKey'; Category = 'InvalidArgument'; Says = '-ResourceId'; Fix = 'Microsoft.Storage/storageAccounts'; Run = { Get-MsiStorageKey -ResourceId '/subscriptions/x/resourceGroups/y' -Token $Token -ArmEndpoint $Stack.armEndpoint } }
        # Endpoints
        @{ Name = '-Endpoint that is not a URL'; Id = 'GetMsiTokenInvalidEndpoint,Get-MsiToken'; Category = 'InvalidArgument'; Says = '-Endpoint'; Fix = 'absolute URL'; Run = { Get-MsiToken -Endpoint 'not-a-url' } }
        @{ Name = '-Endpoint with an unsupported scheme'; Id = 'GetMsiTokenInvalidEndpoint,Get-MsiToken'; Category = 'InvalidArgument'; Says = '-Endpoint'; Fix = 'only http and https'; Run = { Get-MsiToken -Endpoint 'ftp://127.0.0.1/token' } }
        @{ Name = '-Endpoint with a user name'; Id = 'GetMsiTokenInvalidEndpoint,Get-MsiToken'; Category = 'InvalidArgument'; Says = '-Endpoint'; Fix = 'user name or password'; Run = { Get-MsiToken -Endpoint 'http://user:pw@127.0.0.1/token' } }
        @{ Name = '-ArmEndpoint with an unsupported scheme'; Id = 'GetMsiStorageKeyInvalidEndpoint,Get-MsiStorageKey'; Category = 'InvalidArgument'; Says = '-ArmEndpoint'; Fix = 'only http and https'; Run = { $a = $KeyArgs.Clone(); $a.ArmEndpoint = 'file:///etc'; Get-MsiStorageKey @a } }
        @{ Name = '-BlobEndpoint that is not a URL'; Id = 'NewMsiStorageContextInvalidEndpoint,New-MsiStorageContext'; Category = 'InvalidArgument'; Says = '-BlobEndpoint'; Fix = 'absolute URL'; Run = { New-MsiStorageContext -StorageAccountName 'account1' -StorageAccountKey $Key.Value -BlobEndpoint 'blobs here' } }
        @{ Name = '-BlobEndpoint with a container in it'; Id = 'NewMsiStorageContextInvalidEndpoint,New-MsiStorageContext'; Category = 'InvalidArgument'; Says = '-BlobEndpoint'; Fix = '-Container'; Run = { New-MsiStorageContext -StorageAccountName 'account1' -StorageAccountKey $Key.Value -BlobEndpoint 'http://127.0.0.1:1/account1/logs' } }
        @{ Name = '-BlobEndpoint with a query'; Id = 'NewMsiStorageContextInvalidEndpoint,New-MsiStorageContext'; Category = 'InvalidArgument'; Says = '-BlobEndpoint'; Fix = 'only the service URL'; Run = { New-MsiStorageContext -StorageAccountName 'account1' -StorageAccountKey $Key.Value -BlobEndpoint 'http://127.0.0.1:1/account1?sv=1' } }
        # Destinations
        @{ Name = 'a destination folder that does not exist'; Id = 'ReceiveMsiBlobDestinationFolderNotFound,Receive-MsiBlob'; Category = 'ObjectNotFound'; Says = '-Destination'; Fix = 'New-Item -ItemType Directory'; Run = { Receive-MsiBlob -Blob 'exists.txt' -Container $Container -Destination (Join-Path $Work 'no/such/folder/x.txt') -Context $Ctx } }
        @{ Name = 'a destination that is a directory in the way'; Id = 'ReceiveMsiBlobDestinationIsDirectory,Receive-MsiBlob'; Category = 'InvalidArgument'; Says = '-Destination'; Fix = 'another file path'; Run = { Receive-MsiBlob -Blob 'exists.txt' -Container $Container -Destination (Join-Path $Work 'dest') -Context $Ctx } }
        @{ Name = 'an existing destination without -Force'; Id = 'ReceiveMsiBlobDestinationExists,Receive-MsiBlob'; Category = 'ResourceExists'; Says = '-Force'; Fix = 'left untouched'; Run = { Receive-MsiBlob -Blob 'exists.txt' -Container $Container -Destination $File -Context $Ctx } }
        @{ Name = 'an existing blob without -Force'; Id = 'SendMsiBlobBlobAlreadyExists,Send-MsiBlob'; Category = 'ResourceExists'; Says = '-Force'; Fix = 'overwrite'; Run = { Send-MsiBlob -File $File -Container $Container -Blob 'exists.txt' -Context $Ctx } }
        # With a SAS context: what the service refuses, and what it does not have
        @{ Name = 'an existing blob without -Force, with a SAS'; Id = 'SendMsiBlobBlobAlreadyExists,Send-MsiBlob'; Category = 'ResourceExists'; Says = '-Force'; Fix = 'overwrite'; Run = { Send-MsiBlob -File $File -Container $Container -Blob 'exists.txt' -Context $SasCtx } }
        @{ Name = 'a missing blob, with a SAS'; Id = 'ReceiveMsiBlobBlobNotFound,Receive-MsiBlob'; Category = 'ObjectNotFound'; Says = '-Blob'; Fix = 'case-sensitive'; Run = { Receive-MsiBlob -Blob 'nope.txt' -Container $Container -Destination (Join-Path $Work 'nope.txt') -Context $SasCtx } }
        @{ Name = 'a missing blob to delete, with a SAS'; Id = 'RemoveMsiBlobBlobNotFound,Remove-MsiBlob'; Category = 'ObjectNotFound'; Says = '-Blob'; Fix = 'case-sensitive'; Run = { Remove-MsiBlob -Blob 'nope.txt' -Container $Container -Context $SasCtx -Force } }
        @{ Name = 'a missing container, with a SAS'; Id = 'GetMsiBlobContainerNotFound,Get-MsiBlob'; Category = 'ObjectNotFound'; Says = '-Container'; Fix = 'New-MsiStorageContainer'; Run = { Get-MsiBlob -Container 'no-such-container' -Context $SasCtx } }
        @{ Name = 'a read-only SAS that writes'; Id = 'SendMsiBlobStoragePermissionDenied,Send-MsiBlob'; Category = 'PermissionDenied'; Says = '-Permission'; Fix = 'New-MsiStorageSas'; Run = { Send-MsiBlob -File $File -Container $Container -Blob 'denied.txt' -Context $SasReadOnlyCtx } }
        @{ Name = 'a container SAS that lists containers'; Id = 'GetMsiStorageContainerStorageAuthenticationFailed,Get-MsiStorageContainer'; Category = 'AuthenticationError'; Says = '-Container'; Fix = 'account SAS'; Run = { Get-MsiStorageContainer -Context $SasReadOnlyCtx } }
        @{ Name = 'an HTTPS-only SAS over HTTP'; Id = 'SendMsiBlobSasProtocolMismatch,Send-MsiBlob'; Category = 'PermissionDenied'; Says = '-Protocol'; Fix = 'HttpsOrHttp'; Run = { Send-MsiBlob -File $File -Container $Container -Blob 'http.txt' -Context $SasHttpsOnlyCtx } }
        # Other parameters
        @{ Name = '-Metadata with a name Azure refuses'; Id = 'SendMsiBlobInvalidMetadata,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Metadata'; Fix = "letters, digits and '_'"; Run = { Send-MsiBlob -File $File -Container $Container -Blob 'meta' -Context $Ctx -Metadata @{ 'bad-name' = 'x' } } }
        @{ Name = '-Metadata with a non-ASCII value'; Id = 'SendMsiBlobInvalidMetadata,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Metadata'; Fix = "'ë' \(U\+00EB\).*printable ASCII"; Run = { Send-MsiBlob -File $File -Container $Container -Blob 'meta' -Context $Ctx -Metadata @{ owner = "Zoë" } } }
        @{ Name = '-Properties with an unknown property'; Id = 'SendMsiBlobInvalidBlobProperty,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Properties'; Fix = 'CacheControl'; Run = { Send-MsiBlob -File $File -Container $Container -Context $Ctx -Properties @{ Colour = 'blue' } } }
        @{ Name = '-Context that is not a context'; Id = 'SendMsiBlobInvalidContext,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Context'; Fix = 'New-MsiStorageContext'; Run = { Send-MsiBlob -File $File -Container $Container -Context ([pscustomobject]@{ StorageAccountName = 'x' }) } }
        @{ Name = '-Blob for several files'; Id = 'SendMsiBlobBlobNameForManyFiles,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-Blob'; Fix = '-SourceRoot'; Run = { $File, $File | Send-MsiBlob -Container $Container -Blob 'one' -Context $Ctx } }
        @{ Name = 'a file outside -SourceRoot'; Id = 'SendMsiBlobFileOutsideSourceRoot,Send-MsiBlob'; Category = 'InvalidArgument'; Says = '-SourceRoot'; Fix = 'contains every file'; Run = { Send-MsiBlob -File $File -Container $Container -SourceRoot (Join-Path $Work 'adir') -Context $Ctx } }
        @{ Name = 'a SAS permission letter that does not exist'; Id = 'NewMsiStorageSasInvalidSasPermission,New-MsiStorageSas'; Category = 'InvalidArgument'; Says = '-Permission'; Fix = 'racwdl'; Run = { New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -ResourceGroupName $Stack.resourceGroupName -SubscriptionId $Stack.subscriptionId -ArmEndpoint $Stack.armEndpoint -Container $Container -Permission 'rz' } }
        @{ Name = 'a SAS expiry in the past'; Id = 'NewMsiStorageSasInvalidSasTime,New-MsiStorageSas'; Category = 'InvalidArgument'; Says = '-ExpiryTime'; Fix = 'in the future'; Run = { New-MsiStorageSas -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint -Container $Container -ExpiryTime ([DateTimeOffset]::UtcNow.AddDays(-1)) } }
        @{ Name = 'a SAS without a signature'; Id = 'NewMsiStorageContextInvalidSasToken,New-MsiStorageContext'; Category = 'InvalidArgument'; Says = '-SasToken'; Fix = 'New-MsiStorageSas'; Run = { New-MsiStorageContext -StorageAccountName 'account1' -SasToken 'sv=2023-01-03&sp=r' -BlobEndpoint $Stack.blobEndpoint } }
        @{ Name = '-BlockSize below the minimum'; Id = 'ParameterArgumentValidationError,Send-MsiBlob'; Category = 'InvalidData'; Says = 'BlockSize'; Fix = '65536'; Run = { Send-MsiBlob -File $File -Container $Container -Context $Ctx -BlockSize 1000 } }
        @{ Name = '-Concurrency 0'; Id = 'ParameterArgumentValidationError,Receive-MsiBlob'; Category = 'InvalidData'; Says = 'Concurrency'; Fix = '1'; Run = { Receive-MsiBlob -Blob 'exists.txt' -Container $Container -Destination $Work -Context $Ctx -Concurrency 0 } }
        @{ Name = '-TimeoutSec 0'; Id = 'ParameterArgumentValidationError,Get-MsiToken'; Category = 'InvalidData'; Says = 'TimeoutSec'; Fix = 'greater than or equal to 1'; Run = { Get-MsiToken -TimeoutSec 0 } }
        @{ Name = '-Environment that is not a cloud'; Id = 'ParameterArgumentValidationError,Get-MsiStorageKey'; Category = 'InvalidData'; Says = 'Environment'; Fix = 'AzureChinaCloud'; Run = { Get-MsiStorageKey -StorageAccountName 'account1' -Environment 'AzureGermanCloud' } }
    ) {
        param($Name, $Id, $Category, $Says, $Fix, $Run)
        $script:Tried++
        $caught = $null
        # Module functions take Verbose and Debug preferences from the global scope: turn them on there.
        $savedVerbose, $savedDebug = $global:VerbosePreference, $global:DebugPreference
        $global:VerbosePreference, $global:DebugPreference = 'Continue', 'Continue'
        try {
            $streams = & {
                $ErrorActionPreference = 'Stop'
                try { & $Run } catch { $script:caughtRecord = $_; $_ }
            } *>&1 | Out-String
        }
        finally { $global:VerbosePreference, $global:DebugPreference = $savedVerbose, $savedDebug }
        $script:Scanned += $streams.Length
        if ($streams -match 'MsiStorage: starting') { $script:NodeCalls++ }
        $caught = $script:caughtRecord
        $script:caughtRecord = $null
        $caught | Should -Not -BeNullOrEmpty -Because "$Name must fail"
        $caught.FullyQualifiedErrorId | Should -Be $Id
        $caught.CategoryInfo.Category | Should -Be $Category
        $caught.Exception.Message | Should -Match ([regex]::Escape($Says))
        $caught.Exception.Message | Should -Match $Fix
        foreach ($secret in $Secrets) { $streams | Should -Not -Match ([regex]::Escape($secret)) }
    }
}

Describe 'The scan is not vacuous' {
    It 'saw debug and verbose output from Node calls' {
        $script:NodeCalls | Should -BeGreaterThan 20
        $script:Scanned | Should -BeGreaterThan 10000
    }
}

Describe 'Valid input that looks unusual' {
    It 'uploads a zero-byte file' {
        $empty = Join-Path $Work 'zero.bin'
        [System.IO.File]::WriteAllBytes($empty, [byte[]]@())
        (Send-MsiBlob -File $empty -Container $Container -Context $Ctx).Length | Should -Be 0
    }

    It 'round-trips the blob name <Blob>' -TestCases @(
        @{ Blob = 'with space.txt' }
        @{ Blob = 'ünïcødé-名前.txt' }
        @{ Blob = 'hash#tag.txt' }
        @{ Blob = 'question?.txt' }
        @{ Blob = 'per%cent.txt' }
        @{ Blob = 'folder/sub folder/ä #?%.txt' }
    ) {
        param($Blob)
        $script:Tried++
        $content = "content of $Blob"
        $source = Join-Path $Work ('src-' + [guid]::NewGuid().ToString('N'))
        Set-Content -LiteralPath $source -Value $content -NoNewline -Encoding utf8
        (Send-MsiBlob -File $source -Container $Container -Blob $Blob -Context $Ctx -Force).Name | Should -Be $Blob
        (Get-MsiBlob -Container $Container -Prefix $Blob -Context $Ctx).Name | Should -Contain $Blob
        $dest = Join-Path $Work ('dst-' + [guid]::NewGuid().ToString('N'))
        (Receive-MsiBlob -Blob $Blob -Container $Container -Destination $dest -Context $Ctx).Name | Should -Be $Blob
        Get-Content -LiteralPath $dest -Raw -Encoding utf8 | Should -Be $content
    }

    It 'sends from and receives to paths whose folders and names are not ASCII' {
        $script:Tried++
        $folder = Join-Path $Work 'dossier-résumé-データ'
        New-Item -ItemType Directory -Path $folder | Out-Null
        $source = New-MsiTestFile -Path (Join-Path $folder 'résumé-データ.bin') -Size 300KB
        # The blob is named after the file.
        $sent = Send-MsiBlob -File $source.FullName -Container $Container -Context $Ctx -Force
        $sent.Name | Should -BeExactly 'résumé-データ.bin'
        $sent.Length | Should -Be 300KB
        $into = Join-Path $Work 'destino-ñandú-目的地'
        New-Item -ItemType Directory -Path $into | Out-Null
        # To a full path, and into a folder.
        $dest = Join-Path $into 'copie-データ.bin'
        (Receive-MsiBlob -Blob $sent.Name -Container $Container -Destination $dest -Context $Ctx).Destination | Should -Be $dest
        (Receive-MsiBlob -Blob $sent.Name -Container $Container -Destination $into -Context $Ctx).Destination | Should -Be (Join-Path $into 'résumé-データ.bin')
        $expected = [System.IO.File]::ReadAllBytes($source.FullName)
        foreach ($f in $dest, (Join-Path $into 'résumé-データ.bin')) {
            $bytes = [System.IO.File]::ReadAllBytes($f)
            $bytes.Length | Should -Be $expected.Length
            [System.Linq.Enumerable]::SequenceEqual($bytes, $expected) | Should -BeTrue -Because "$f holds the same bytes"
        }
        # And through a pipeline (one request for all files), with -SourceRoot in the non-ASCII folder.
        $sub = Join-Path $folder 'sous-dossier-ü'
        New-Item -ItemType Directory -Path $sub | Out-Null
        $second = New-MsiTestFile -Path (Join-Path $sub 'ñ-データ.bin') -Size 1KB
        $piped = Get-ChildItem -LiteralPath $folder -File -Recurse | Send-MsiBlob -Container $Container -SourceRoot $folder -Context $Ctx -Force
        @($piped.Name | Sort-Object) | Should -Be @(@('résumé-データ.bin', 'sous-dossier-ü/ñ-データ.bin') | Sort-Object)
        $back = Get-MsiBlob -Container $Container -Prefix 'sous-dossier-ü/' -Context $Ctx | Receive-MsiBlob -Destination $into
        $back.Destination | Should -Be (Join-Path $into 'sous-dossier-ü/ñ-データ.bin')
        [System.Linq.Enumerable]::SequenceEqual([System.IO.File]::ReadAllBytes($back.Destination), [System.IO.File]::ReadAllBytes($second.FullName)) | Should -BeTrue
    }

    It 'receives into a folder, creating the blob name folders inside it' {
        # Its own blob: the round-trip cases above may have been filtered out.
        Send-MsiBlob -File $File -Container $Container -Blob 'folder/sub folder/ä #?%.txt' -Context $Ctx -Force | Out-Null
        $folder = Join-Path $Work 'into'
        New-Item -ItemType Directory -Path $folder | Out-Null
        $out = Receive-MsiBlob -Blob 'folder/sub folder/ä #?%.txt' -Container $Container -Destination $folder -Context $Ctx
        $out.Destination | Should -Be (Join-Path $folder 'folder/sub folder/ä #?%.txt')
    }

    It 'accepts paths written with backslashes or slashes' {
        $mixed = $File.Replace('/', '\')
        if ([System.IO.Path]::DirectorySeparatorChar -eq '/') { $mixed = $File -replace '/([^/]+)$', '\$1' }
        (Send-MsiBlob -File $mixed -Container $Container -Blob 'slashes.txt' -Context $Ctx -Force).Length | Should -Be (Get-Item -LiteralPath $File).Length
    }
}
