# The tutorial's flow, cmdlet by cmdlet, against Azurite and the IMDS/ARM emulator.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestStack.psm1') -Force
    Import-Module (Join-Path (Split-Path -Parent (Split-Path -Parent $PSScriptRoot)) 'MsiStorage.psd1') -Force
    $script:Stack = Start-MsiTestStack
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Stack.imdsHost
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-pester-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $Work | Out-Null
    $script:KeyArgs = @{
        SubscriptionId     = $Stack.subscriptionId
        ResourceGroupName  = $Stack.resourceGroupName
        StorageAccountName = $Stack.storageAccountName
        ArmEndpoint        = $Stack.armEndpoint
    }
}
AfterAll {
    Stop-MsiTestStack $script:Stack
    Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue
}

Describe 'Get-MsiToken' {
    It 'returns a typed token whose Token is a SecureString and ExpiresOn a DateTimeOffset' {
        $token = Get-MsiToken
        $token.PSObject.TypeNames | Should -Contain 'MsiStorage.AccessToken'
        $token.Token | Should -BeOfType [System.Security.SecureString]
        $token.ExpiresOn | Should -BeOfType [System.DateTimeOffset]
        $token.ExpiresOn | Should -BeGreaterThan ([DateTimeOffset]::UtcNow.AddMinutes(30))
        $token.Resource | Should -Be 'https://management.azure.com/'
        $token.TokenType | Should -Be 'Bearer'
        $token.Source | Should -Be 'IMDS'
    }

    It 'works against the tutorial legacy endpoint through -Endpoint' {
        $token = Get-MsiToken -Endpoint $Stack.legacyTokenEndpoint -Resource 'https://storage.azure.com/'
        $token.Source | Should -Be 'VMExtension'
        $token.Resource | Should -Be 'https://storage.azure.com/'
    }

    It 'never shows the token in its default view' {
        $token = Get-MsiToken
        $plain = (New-Object System.Net.NetworkCredential -ArgumentList '', $token.Token).Password
        ($token | Out-String) | Should -Not -BeLikeExactly "*$plain*"
        ($token | Format-List * | Out-String) | Should -Not -BeLikeExactly "*$plain*"
    }

    It 'fails with ManagedIdentityUnavailable when no endpoint listens' {
        $saved = $env:AZURE_POD_IDENTITY_AUTHORITY_HOST
        try {
            $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = 'http://127.0.0.1:9'
            { Get-MsiToken } | Should -Throw -ErrorId 'GetMsiTokenManagedIdentityUnavailable,Get-MsiToken'
        }
        finally { $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $saved }
    }
}

Describe 'Get-MsiStorageKey' {
    It 'gets key1 as a SecureString with a token from Get-MsiToken' {
        $key = Get-MsiStorageKey -Token (Get-MsiToken) @KeyArgs
        $key.PSObject.TypeNames | Should -Contain 'MsiStorage.StorageKey'
        $key.StorageAccountName | Should -Be $Stack.storageAccountName
        $key.KeyName | Should -Be 'key1'
        $key.Value | Should -BeOfType [System.Security.SecureString]
        $key.Permissions | Should -Be 'FULL'
    }

    It 'gets its own token without -Token, and key2 on request' {
        (Get-MsiStorageKey @KeyArgs -KeyName key2).KeyName | Should -Be 'key2'
    }

    It 'rejects -KeyName key3 at binding' {
        { Get-MsiStorageKey @KeyArgs -KeyName key3 } | Should -Throw -ErrorId 'ParameterArgumentValidationError,Get-MsiStorageKey'
    }

    It 'says which resource group was not found, as ObjectNotFound' {
        $bad = $KeyArgs.Clone()
        $bad.ResourceGroupName = 'rg-that-does-not-exist'
        $err = { Get-MsiStorageKey @bad } | Should -Throw -ErrorId 'GetMsiStorageKeyResourceGroupNotFound,Get-MsiStorageKey' -PassThru
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err.Exception.Message | Should -Match "'rg-that-does-not-exist'"
        $err.Exception.Message | Should -Match '-ResourceGroupName'
        $err.Exception.Data['MsiStorage.statusCode'] | Should -Be 404
        # What failed, for a loop over several accounts.
        $err.TargetObject | Should -Be $Stack.storageAccountName
    }

    It 'says which subscription and account were not found' {
        $bad = $KeyArgs.Clone(); $bad.SubscriptionId = '00000000-0000-0000-0000-000000000000'
        { Get-MsiStorageKey @bad } | Should -Throw -ErrorId 'GetMsiStorageKeySubscriptionNotFound,Get-MsiStorageKey'
        $bad = $KeyArgs.Clone(); $bad.StorageAccountName = 'nosuchaccount'
        { Get-MsiStorageKey @bad } | Should -Throw -ErrorId 'GetMsiStorageKeyStorageAccountNotFound,Get-MsiStorageKey'
    }

    It 'refuses a token for the wrong resource with AuthenticationError' {
        $storageToken = Get-MsiToken -Resource 'https://storage.azure.com/'
        $err = { Get-MsiStorageKey -Token $storageToken @KeyArgs } | Should -Throw -ErrorId 'GetMsiStorageKeyInvalidTokenAudience,Get-MsiStorageKey' -PassThru
        $err.CategoryInfo.Category | Should -Be 'AuthenticationError'
    }
}

Describe 'New-MsiStorageContext' {
    It 'accepts the key object and keeps the key as a SecureString' {
        $key = Get-MsiStorageKey @KeyArgs
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $key -BlobEndpoint $Stack.blobEndpoint
        $ctx.PSObject.TypeNames | Should -Contain 'MsiStorage.StorageContext'
        $ctx.BlobEndpoint | Should -Be $Stack.blobEndpoint
        $ctx.StorageAccountKey | Should -BeOfType [System.Security.SecureString]
    }

    It "takes the account's name from the key object when -StorageAccountName is left out" {
        $ctx = New-MsiStorageContext -StorageAccountKey (Get-MsiStorageKey @KeyArgs) -BlobEndpoint $Stack.blobEndpoint
        $ctx.StorageAccountName | Should -Be $Stack.storageAccountName
        $container = New-MsiTestContainerName
        (New-MsiStorageContainer -Name $container -Context $ctx).Name | Should -Be $container
    }

    It 'defaults the endpoint to the public cloud' {
        $ctx = New-MsiStorageContext -StorageAccountName 'someaccount' -StorageAccountKey (Get-MsiStorageKey @KeyArgs).Value
        $ctx.BlobEndpoint | Should -Be 'https://someaccount.blob.core.windows.net/'
    }

    It 'rejects a key that is not base64, naming the parameter' {
        $err = { New-MsiStorageContext -StorageAccountName 'someaccount' -StorageAccountKey 'not a key!' } | Should -Throw -ErrorId 'NewMsiStorageContextInvalidStorageAccountKey,New-MsiStorageContext' -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.Exception.Message | Should -Match '-StorageAccountKey'
    }
}

Describe 'Send-MsiBlob and Receive-MsiBlob' {
    BeforeAll {
        $script:Ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey (Get-MsiStorageKey @KeyArgs) -BlobEndpoint $Stack.blobEndpoint
        $script:Container = New-MsiTestContainerName
        New-MsiStorageContainer -Name $Container -Context $Ctx | Out-Null
        $script:Source = Join-Path $Work 'test.txt'
        Set-Content -LiteralPath $Source -Value 'This is a test text file.' -NoNewline
    }

    It 'uploads a block blob and reports what the tutorial shows' {
        $blob = Send-MsiBlob -File $Source -Container $Container -Blob testblob -Context $Ctx
        $blob.PSObject.TypeNames | Should -Contain 'MsiStorage.Blob'
        $blob.Name | Should -Be 'testblob'
        $blob.Container | Should -Be $Container
        $blob.BlobType | Should -Be 'BlockBlob'
        $blob.Length | Should -Be 25
        $blob.ContentType | Should -Be 'text/plain'
        $blob.LastModified | Should -BeOfType [System.DateTimeOffset]
        $blob.ETag | Should -Not -BeNullOrEmpty
        $blob.Uri | Should -Be "$($Stack.blobEndpoint)$Container/testblob"
    }

    It 'names the blob after the file by default, resolving relative paths from the current location' {
        Push-Location $Work
        try { $blob = Send-MsiBlob -File 'test.txt' -Container $Container -Context $Ctx }
        finally { Pop-Location }
        $blob.Name | Should -Be 'test.txt'
    }

    It 'refuses to overwrite a blob without -Force, and overwrites with it' {
        $err = { Send-MsiBlob -File $Source -Container $Container -Blob testblob -Context $Ctx -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobBlobAlreadyExists,Send-MsiBlob' -PassThru
        $err.CategoryInfo.Category | Should -Be 'ResourceExists'
        $err.Exception.Message | Should -Match '-Force'
        (Send-MsiBlob -File $Source -Container $Container -Blob testblob -Context $Ctx -Force).Name | Should -Be 'testblob'
    }

    It 'downloads a byte-identical file and reports the destination' {
        $dest = Join-Path $Work 'test2.txt'
        $blob = Receive-MsiBlob -Blob testblob -Container $Container -Destination $dest -Context $Ctx
        $blob.Destination | Should -Be $dest
        $blob.Length | Should -Be 25
        [System.IO.File]::ReadAllBytes($dest) | Should -Be ([System.IO.File]::ReadAllBytes($Source))
    }

    It 'refuses to overwrite a file without -Force and leaves it untouched' {
        $dest = Join-Path $Work 'keep.txt'
        Set-Content -LiteralPath $dest -Value 'precious' -NoNewline
        $err = { Receive-MsiBlob -Blob testblob -Container $Container -Destination $dest -Context $Ctx -ErrorAction Stop } | Should -Throw -ErrorId 'ReceiveMsiBlobDestinationExists,Receive-MsiBlob' -PassThru
        $err.CategoryInfo.Category | Should -Be 'ResourceExists'
        Get-Content -LiteralPath $dest -Raw | Should -Be 'precious'
        Receive-MsiBlob -Blob testblob -Container $Container -Destination $dest -Context $Ctx -Force | Out-Null
        Get-Content -LiteralPath $dest -Raw | Should -Be 'This is a test text file.'
        @(Get-ChildItem -LiteralPath $Work -Force -Filter '*msistorage-partial*').Count | Should -Be 0
    }

    It 'gives the same blob the same ETag from every cmdlet, in the quoted form If-Match takes' {
        $sent = Send-MsiBlob -File $Source -Container $Container -Blob 'etag.txt' -Context $Ctx -Force
        $sent.ETag | Should -Match '^"0x[0-9A-F]+"$'
        (Get-MsiBlob -Container $Container -Prefix 'etag.txt' -Context $Ctx).ETag | Should -Be $sent.ETag
        (Receive-MsiBlob -Blob 'etag.txt' -Container $Container -Destination (Join-Path $Work 'etag.txt') -Context $Ctx).ETag | Should -Be $sent.ETag
    }

    It "names a blob given with '\' as Azure Storage stores it, with '/', everywhere" {
        $sent = Send-MsiBlob -File $Source -Container $Container -Blob 'back\slash.txt' -Context $Ctx -Force -Verbose 4>&1
        ($sent | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] }).Message | Should -Contain "Blob name 'back\slash.txt' is 'back/slash.txt': Azure Storage reads '\' in a blob name as '/'."
        ($sent | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }).Name | Should -Be 'back/slash.txt'
        (Get-MsiBlob -Container $Container -Prefix 'back\' -Context $Ctx).Name | Should -Be 'back/slash.txt'
        $folder = Join-Path $Work 'backslash'
        New-Item -ItemType Directory -Path $folder | Out-Null
        (Receive-MsiBlob -Blob 'back\slash.txt' -Container $Container -Destination "$folder/" -Context $Ctx).Destination | Should -Be (Join-Path $folder 'back/slash.txt')
        (Remove-MsiBlob -Blob 'back\slash.txt' -Container $Container -Context $Ctx -Force -PassThru).Name | Should -Be 'back/slash.txt'
    }

    It 'takes the file or blob, then the container, by position, as Az.Storage does' {
        (Send-MsiBlob $Source $Container -Blob 'positional.txt' -Context $Ctx -Force).Name | Should -Be 'positional.txt'
        $dest = Join-Path $Work 'positional.txt'
        (Receive-MsiBlob 'positional.txt' $Container -Destination $dest -Context $Ctx).Destination | Should -Be $dest
        (Remove-MsiBlob 'positional.txt' $Container -Context $Ctx -Force -PassThru).Name | Should -Be 'positional.txt'
    }

    It 'pipes a blob object into Receive-MsiBlob by property name' {
        $dest = Join-Path $Work 'piped.txt'
        $out = Send-MsiBlob -File $Source -Container $Container -Blob piped -Context $Ctx | Receive-MsiBlob -Destination $dest
        $out.Destination | Should -Be $dest
        Test-Path -LiteralPath $dest | Should -BeTrue
    }

    It 'reports a missing container as ObjectNotFound, the container as its target' {
        { Send-MsiBlob -File $Source -Container 'no-such-container' -Context $Ctx -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobContainerNotFound,Send-MsiBlob'
        $err = { Get-MsiBlob -Container 'no-such-container' -Context $Ctx } | Should -Throw -ErrorId 'GetMsiBlobContainerNotFound,Get-MsiBlob' -PassThru
        $err.TargetObject | Should -Be 'no-such-container'
    }

    It 'reports a missing file as ObjectNotFound naming -File' {
        $err = { Send-MsiBlob -File (Join-Path $Work 'missing.txt') -Container $Container -Context $Ctx -ErrorAction Stop } | Should -Throw -ErrorId 'SendMsiBlobFileNotFound,Send-MsiBlob' -PassThru
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err.Exception.Message | Should -Match '-File'
    }

    It 'writes nothing under -WhatIf' {
        Send-MsiBlob -File $Source -Container $Container -Blob whatif -Context $Ctx -WhatIf
        { Receive-MsiBlob -Blob whatif -Container $Container -Destination (Join-Path $Work 'whatif.txt') -Context $Ctx -ErrorAction Stop } | Should -Throw -ErrorId 'ReceiveMsiBlobBlobNotFound,Receive-MsiBlob'
    }
}

Describe 'The whole flow with a non-default account name and key' {
    It 'runs the tutorial end to end' {
        $Stack.storageAccountName | Should -Not -Be 'devstoreaccount1'
        $token = Get-MsiToken
        $key = Get-MsiStorageKey -Token $token -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint
        $plainKey = (New-Object System.Net.NetworkCredential -ArgumentList '', $key.Value).Password
        $plainKey | Should -Not -Be 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=='
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $key -BlobEndpoint $Stack.blobEndpoint
        $c = New-MsiTestContainerName
        New-MsiStorageContainer -Name $c -Context $ctx | Out-Null
        $file = Join-Path $Work 'flow.txt'
        Set-Content -LiteralPath $file -Value 'This is a test text file.'
        Send-MsiBlob -File $file -Container $c -Blob testblob -Context $ctx | Out-Null
        $out = Join-Path $Work 'flow2.txt'
        Receive-MsiBlob -Blob testblob -Container $c -Destination $out -Context $ctx | Out-Null
        (Get-FileHash -LiteralPath $out).Hash | Should -Be (Get-FileHash -LiteralPath $file).Hash
    }

    It 'never writes the key or token to the verbose or debug streams' {
        $token = Get-MsiToken
        $plainToken = (New-Object System.Net.NetworkCredential -ArgumentList '', $token.Token).Password
        $key = Get-MsiStorageKey -Token $token @KeyArgs
        $plainKey = (New-Object System.Net.NetworkCredential -ArgumentList '', $key.Value).Password
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $key -BlobEndpoint $Stack.blobEndpoint
        $file = Join-Path $Work 'verbose.txt'
        Set-Content -LiteralPath $file -Value 'v'
        $c = New-MsiTestContainerName
        $all = & {
            $DebugPreference = 'Continue'
            Get-MsiStorageKey -Token $token @KeyArgs -Verbose -Debug
            New-MsiStorageContainer -Name $c -Context $ctx -Verbose -Debug
            Send-MsiBlob -File $file -Container $c -Context $ctx -Verbose -Debug
        } *>&1 | Out-String
        $all | Should -Match 'listKeys'
        $all | Should -Not -BeLikeExactly "*$plainToken*"
        $all | Should -Not -BeLikeExactly "*$plainKey*"
    }
}
