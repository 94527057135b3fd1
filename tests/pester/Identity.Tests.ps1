# Issue 3: every managed-identity source, user-assigned identities, the documented retries, one deadline,
# the fast failure off Azure, proxy bypass and the session token cache, against the emulator.
BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestStack.psm1') -Force
    Import-Module (Join-Path (Split-Path -Parent (Split-Path -Parent $PSScriptRoot)) 'MsiStorage.psd1') -Force
    $script:Stack = Start-MsiTestStack
    $script:Emu = $Stack.imdsHost
    $script:Info = Invoke-RestMethod -Uri "$Emu/__emulator/info"
    # no_proxy is its own variable on Linux and macOS, and undici reads it before NO_PROXY.
    $script:SourceVars = 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT', 'IMDS_ENDPOINT', 'MSI_ENDPOINT', 'MSI_SECRET', 'MSISTORAGE_ARC_KEY_DIR', 'MSISTORAGE_ARC_HIMDS_PATH', 'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'no_proxy', 'MSISTORAGE_NODE', 'MSISTORAGE_RETRY_DELAY_SCALE'
    $script:Saved = @{}
    foreach ($name in $SourceVars) { $Saved[$name] = [Environment]::GetEnvironmentVariable($name) }

    function Restore-SourceVars {
        # An unset variable is removed, not set to '' (PowerShell passes $null to a string argument as ''),
        # which would hide its other-case twin from undici (http_proxy before HTTP_PROXY).
        foreach ($name in $SourceVars) {
            if ($null -eq $Saved[$name]) { Remove-Item -LiteralPath "Env:$name" -ErrorAction SilentlyContinue }
            else { [Environment]::SetEnvironmentVariable($name, $Saved[$name]) }
        }
    }
    function Reset-Environment {
        Restore-SourceVars
        $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = $Emu
        # Never the Arc agent of the machine the tests run on: its executable is looked for where none is.
        $env:MSISTORAGE_ARC_HIMDS_PATH = Join-Path ([System.IO.Path]::GetTempPath()) 'msistorage-no-arc-agent/himds'
        InModuleScope MsiStorage { $script:MsiTokenCache = @{} }
    }
    function Invoke-Emulator([string] $Path, $Body, [string] $Method = 'Post') {
        $json = if ($null -ne $Body) { ConvertTo-Json -InputObject $Body -Depth 6 -Compress } else { $null }
        Invoke-RestMethod -Method $Method -Uri "$Emu$Path" -Body $json -ContentType 'application/json' -NoProxy
    }
    function Get-Claims($Token) {
        $plain = (New-Object System.Net.NetworkCredential -ArgumentList '', $Token.Token).Password
        $part = $plain.Split('.')[1].Replace('-', '+').Replace('_', '/')
        $part += '=' * ((4 - $part.Length % 4) % 4)
        [System.Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($part)) | ConvertFrom-Json
    }
    function Get-IdentityRequests {
        # The token requests only: not ARM, the control endpoint or instance metadata (which ARM discovery
        # may read to learn the cloud). Invoke-RestMethod returns a JSON array as one object: enumerate it.
        $all = Invoke-Emulator '/__emulator/requests' $null 'Get'
        @($all) | ForEach-Object { $_ } | Where-Object { $_.target -notin 'arm', 'control', 'metadata' }
    }
}
AfterAll {
    Restore-SourceVars
    Stop-MsiTestStack $script:Stack
}
Describe 'Managed identity' {
BeforeEach {
    Reset-Environment
    Invoke-Emulator '/__emulator/faults' $null 'Delete' | Out-Null
    Invoke-Emulator '/__emulator/requests' $null 'Delete' | Out-Null
    Invoke-Emulator '/__emulator/identities' @{ systemAssigned = $true; userAssigned = 2 } | Out-Null
    $script:Info = Invoke-RestMethod -Uri "$Emu/__emulator/info" -NoProxy
}

Describe 'Sources' {
    It 'IMDS (the default), through AZURE_POD_IDENTITY_AUTHORITY_HOST' {
        (Get-MsiToken).Source | Should -Be 'IMDS'
    }

    It 'App Service: IDENTITY_ENDPOINT + IDENTITY_HEADER' {
        $env:IDENTITY_ENDPOINT = $Info.endpoints.appService
        $env:IDENTITY_HEADER = $Info.appServiceHeader
        $token = Get-MsiToken -Resource 'https://vault.azure.net'
        $token.Source | Should -Be 'AppService'
        $token.Resource | Should -Be 'https://vault.azure.net'
        $token.ExpiresOn | Should -BeGreaterThan ([DateTimeOffset]::UtcNow)
    }

    It 'App Service with a wrong IDENTITY_HEADER is an authentication error that never echoes the header' {
        $env:IDENTITY_ENDPOINT = $Info.endpoints.appService
        $env:IDENTITY_HEADER = 'wrong-header-value-123'
        $err = { Get-MsiToken } | Should -Throw -ErrorId 'GetMsiTokenIdentityRequestUnauthorized,Get-MsiToken' -PassThru
        $err.CategoryInfo.Category | Should -Be 'AuthenticationError'
        $err.Exception.Message | Should -Not -Match 'wrong-header-value-123'
    }

    It 'Azure Arc: IDENTITY_ENDPOINT + IMDS_ENDPOINT, answering the key-file challenge' {
        $keyDir = Join-Path ([System.IO.Path]::GetTempPath()) ('arc-' + [guid]::NewGuid().ToString('N'))
        Invoke-Emulator '/__emulator/arc' @{ keyDir = $keyDir } | Out-Null
        $env:IDENTITY_ENDPOINT = $Info.endpoints.arc
        $env:IMDS_ENDPOINT = $Info.endpoints.arcImds
        $env:MSISTORAGE_ARC_KEY_DIR = $keyDir
        (Get-MsiToken).Source | Should -Be 'AzureArc'
        $requests = Get-IdentityRequests
        $requests.status | Should -Be @(401, 200)
    }

    It 'Azure Arc refuses a key file outside the agent folder, not named .key, or too large' -TestCases @(
        @{ Arc = @{ realm = '/etc/passwd' }; Id = 'GetMsiTokenArcKeyPathInvalid' }
        @{ Arc = @{ keyExtension = '.txt' }; Id = 'GetMsiTokenArcKeyPathInvalid' }
        @{ Arc = @{ keySize = 5000 }; Id = 'GetMsiTokenArcKeyTooLarge' }
    ) {
        param($Arc, $Id)
        $keyDir = Join-Path ([System.IO.Path]::GetTempPath()) ('arc-' + [guid]::NewGuid().ToString('N'))
        $Arc.keyDir = $keyDir
        Invoke-Emulator '/__emulator/arc' $Arc | Out-Null
        $env:IDENTITY_ENDPOINT = $Info.endpoints.arc
        $env:IMDS_ENDPOINT = $Info.endpoints.arcImds
        $env:MSISTORAGE_ARC_KEY_DIR = $keyDir
        $err = { Get-MsiToken } | Should -Throw -ErrorId "$Id,Get-MsiToken" -PassThru
        $err.CategoryInfo.Category | Should -Be 'SecurityError'
        @(Get-IdentityRequests).Count | Should -Be 1
    }

    It 'Cloud Shell: MSI_ENDPOINT, a POST with a form body' {
        $env:MSI_ENDPOINT = $Info.endpoints.cloudShell
        $token = Get-MsiToken -Resource 'https://storage.azure.com/'
        $token.Source | Should -Be 'CloudShell'
        (Get-IdentityRequests)[0].method | Should -Be 'POST'
    }

    It 'the legacy VM extension, through -Endpoint, even when the environment names another source' {
        $env:MSI_ENDPOINT = $Info.endpoints.cloudShell
        (Get-MsiToken -Endpoint $Info.endpoints.vmExtension).Source | Should -Be 'VMExtension'
    }

    It 'Service Fabric is refused, not taken for App Service, before any request' {
        $env:IDENTITY_ENDPOINT = $Info.endpoints.appService
        $env:IDENTITY_HEADER = $Info.appServiceHeader
        $env:IDENTITY_SERVER_THUMBPRINT = 'A1B2C3D4'
        $err = { Get-MsiToken } | Should -Throw -ErrorId 'GetMsiTokenManagedIdentitySourceNotSupported,Get-MsiToken' -PassThru
        $err.Exception.Message | Should -Match 'Service Fabric'
        $err.Exception.Message | Should -Match '-Endpoint'
        @(Get-IdentityRequests).Count | Should -Be 0
    }

    It 'Azure Machine Learning is refused, not taken for Cloud Shell' {
        $env:MSI_ENDPOINT = $Info.endpoints.cloudShell
        $env:MSI_SECRET = 'ml-secret-value'
        $err = { Get-MsiToken } | Should -Throw -ErrorId 'GetMsiTokenManagedIdentitySourceNotSupported,Get-MsiToken' -PassThru
        $err.Exception.Message | Should -Match 'Azure Machine Learning'
        $err.Exception.Message | Should -Not -Match 'ml-secret-value'
        @(Get-IdentityRequests).Count | Should -Be 0
    }

    It 'Cloud Shell comes before Azure Arc, as in MSAL' {
        $env:MSI_ENDPOINT = $Info.endpoints.cloudShell
        $env:IDENTITY_ENDPOINT = $Info.endpoints.arc
        $env:IMDS_ENDPOINT = $Info.endpoints.arcImds
        (Get-MsiToken).Source | Should -Be 'CloudShell'
    }

    It 'refuses user-assigned selectors on a source that has none' {
        $env:MSI_ENDPOINT = $Info.endpoints.cloudShell
        $err = { Get-MsiToken -ClientId $Info.userAssigned[0].clientId } | Should -Throw -ErrorId 'GetMsiTokenUserAssignedNotSupported,Get-MsiToken' -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
    }
}

Describe 'User-assigned identities' {
    It 'selects by <Parameter>, sent to IMDS as <Query>' -TestCases @(
        @{ Parameter = 'ClientId'; Field = 'clientId'; Claim = 'appid'; Query = 'client_id' }
        @{ Parameter = 'ObjectId'; Field = 'objectId'; Claim = 'oid'; Query = 'object_id' }
        @{ Parameter = 'IdentityResourceId'; Field = 'resourceId'; Claim = 'xms_mirid'; Query = 'msi_res_id' }
    ) {
        param($Parameter, $Field, $Claim, $Query)
        $uai = $Info.userAssigned[1]
        $splat = @{ $Parameter = $uai.$Field }
        $token = Get-MsiToken @splat
        (Get-Claims $token).$Claim | Should -Be $uai.$Field
        # (Not $query: PowerShell's names ignore case, and $Query is the test case's.)
        $sent = @(Get-IdentityRequests)[0].query
        $sent | Should -Match "[?&]$Query=$([regex]::Escape([uri]::EscapeDataString($uai.$Field)))(&|$)"
    }

    It 'sends client_id, object_id and msi_res_id to IMDS' {
        $uai = $Info.userAssigned[0]
        (Get-Claims (Get-MsiToken -IdentityResourceId $uai.resourceId)).xms_mirid | Should -Be $uai.resourceId
    }

    It 'parameter sets make the selectors mutually exclusive' {
        { Get-MsiToken -ClientId 5e29463d-71da-4fe0-8e69-999b57db23b0 -ObjectId 5e29463d-71da-4fe0-8e69-999b57db23b0 } | Should -Throw -ErrorId 'AmbiguousParameterSet,Get-MsiToken'
    }

    It 'an unknown identity is ObjectNotFound and names the identity and the parameter that asked for it (<Source>)' -TestCases @(
        @{ Source = 'IMDS' }
        @{ Source = 'AppService' }
    ) {
        param($Source)
        if ($Source -eq 'AppService') {
            $env:IDENTITY_ENDPOINT = $Info.endpoints.appService
            $env:IDENTITY_HEADER = $Info.appServiceHeader
        }
        $clientId = [guid]::NewGuid().ToString()
        $err = { Get-MsiToken -ClientId $clientId } | Should -Throw -ErrorId 'GetMsiTokenIdentityNotFound,Get-MsiToken' -PassThru
        $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $err.Exception.Message | Should -Match ([regex]::Escape("No managed identity with client id $clientId is assigned to this resource."))
        $err.Exception.Message | Should -Match 'Check -ClientId'
        $err.Exception.Data['MsiStorage.parameter'] | Should -Be 'ClientId'
    }

    It 'no identity at all says which parameters select one' {
        Invoke-Emulator '/__emulator/identities' @{ systemAssigned = $false; userAssigned = 0 } | Out-Null
        $err = { Get-MsiToken } | Should -Throw -ErrorId 'GetMsiTokenIdentityNotFound,Get-MsiToken' -PassThru
        $err.Exception.Message | Should -Match 'Identity not found\. Enable a system-assigned identity'
        $err.Exception.Message | Should -Match '-ClientId, -ObjectId or -IdentityResourceId'
    }

    It 'several user-assigned identities and no selector: says to pass one' {
        Invoke-Emulator '/__emulator/identities' @{ systemAssigned = $false; userAssigned = 2 } | Out-Null
        $err = { Get-MsiToken } | Should -Throw -ErrorId 'GetMsiTokenMultipleIdentities,Get-MsiToken' -PassThru
        $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
        $err.Exception.Message | Should -Match 'Pass -ClientId, -ObjectId or -IdentityResourceId'
    }

    It 'a malformed client id is refused before any request, naming -ClientId' {
        $err = { Get-MsiToken -ClientId 'not-a-guid' } | Should -Throw -ErrorId 'GetMsiTokenInvalidIdentitySelector,Get-MsiToken' -PassThru
        $err.Exception.Message | Should -Match '-ClientId'
        @(Get-IdentityRequests).Count | Should -Be 0
    }
}

Describe 'Retries and the deadline' {
    BeforeEach { $env:MSISTORAGE_RETRY_DELAY_SCALE = '0.01' }

    It 'rides out 410, 410, 429 with Retry-After, 500, then succeeds' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(@{ status = 410 }, @{ status = 410 }, @{ status = 429; retryAfter = 1 }, @{ status = 500 }) } | Out-Null
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $token = Get-MsiToken -Verbose 4>&1 | Where-Object { $_ -isnot [System.Management.Automation.VerboseRecord] }
        $sw.Stop()
        $token.Source | Should -Be 'IMDS'
        (Get-IdentityRequests).status | Should -Be @(410, 410, 429, 500, 200)
        $sw.ElapsedMilliseconds | Should -BeGreaterOrEqual 1000 -Because 'Retry-After: 1 is honoured'
    }

    It 'counts the 410 retries apart: 410 six times, then 503, then success' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @((1..6 | ForEach-Object { @{ status = 410 } }) + @(@{ status = 503 })) } | Out-Null
        (Get-MsiToken).Source | Should -Be 'IMDS'
        (Get-IdentityRequests).status | Should -Be @(410, 410, 410, 410, 410, 410, 503, 200)
    }

    It 'narrates the retries in -Verbose' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(@{ status = 503 }) } | Out-Null
        $verbose = Get-MsiToken -Verbose 4>&1 | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Out-String
        $verbose | Should -Match 'HTTP 503 on try 1; retrying'
        # The story starts with the source chosen and where it is asked.
        $verbose | Should -Match ('Identity source: IMDS at ' + [regex]::Escape("$Emu/metadata/identity/oauth2/token") + '; resource https://management\.azure\.com/; the system-assigned identity')
    }

    It 'retries a connection reset and an HTML page is not retried but explained' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(@{ reset = $true }) } | Out-Null
        (Get-MsiToken).Source | Should -Be 'IMDS'
        # The reset happened (the emulator served the request it reset, then the retry).
        @(Get-IdentityRequests).Count | Should -Be 2
        (Invoke-Emulator '/__emulator/info' $null 'Get').pendingFaults.imds | Should -Be 0
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(@{ html = $true }) } | Out-Null
        $err = { Get-MsiToken -Force } | Should -Throw -ErrorId 'GetMsiTokenInvalidTokenResponse,Get-MsiToken' -PassThru
        $err.Exception.Message | Should -Match 'HTML page'
    }

    It 'never retries HTTP <Status>' -TestCases @(
        @{ Status = 400; Id = 'TokenRequestFailed'; Category = 'InvalidOperation' }
        @{ Status = 401; Id = 'IdentityRequestUnauthorized'; Category = 'AuthenticationError' }
        @{ Status = 403; Id = 'IdentityRequestUnauthorized'; Category = 'AuthenticationError' }
        @{ Status = 405; Id = 'TokenRequestFailed'; Category = 'InvalidOperation' }
    ) {
        param($Status, $Id, $Category)
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(@{ status = $Status }, @{ status = $Status }) } | Out-Null
        $err = { Get-MsiToken } | Should -Throw -ErrorId "GetMsiToken$Id,Get-MsiToken" -PassThru
        $err.CategoryInfo.Category | Should -Be $Category
        $err.Exception.Message | Should -Match "HTTP $Status\b" 
        @(Get-IdentityRequests).Count | Should -Be 1
    }

    It 'gives up at -TimeoutSec when the endpoint hangs' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(@{ hang = $true }, @{ hang = $true }, @{ hang = $true }) } | Out-Null
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $err = { Get-MsiToken -TimeoutSec 2 } | Should -Throw -PassThru
        $sw.Stop()
        $err.FullyQualifiedErrorId | Should -Be 'GetMsiTokenIdentityEndpointTimeout,Get-MsiToken'
        $err.CategoryInfo.Category | Should -Be 'OperationTimeout'
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 4
        $sw.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 1.9
    }

    It 'keeps retrying 410 past the other retries, and stops at the deadline' {
        Invoke-Emulator '/__emulator/faults' @{ target = 'imds'; faults = @(1..40 | ForEach-Object { @{ status = 410 } }) } | Out-Null
        $env:MSISTORAGE_RETRY_DELAY_SCALE = '0.05'
        $err = { Get-MsiToken -TimeoutSec 3 } | Should -Throw -PassThru
        $err.FullyQualifiedErrorId | Should -Be 'GetMsiTokenIdentityEndpointUnavailable,Get-MsiToken'
        @(Get-IdentityRequests).Count | Should -BeGreaterThan 6
    }
}

Describe 'Off Azure' {
    It 'fails within 3 s when connects to the IMDS host hang, and says how to choose another source' {
        $listener = New-Object System.Net.Sockets.Socket -ArgumentList ([System.Net.Sockets.AddressFamily]::InterNetwork), ([System.Net.Sockets.SocketType]::Stream), ([System.Net.Sockets.ProtocolType]::Tcp)
        $fillers = @()
        try {
            $listener.Bind((New-Object System.Net.IPEndPoint -ArgumentList ([System.Net.IPAddress]::Loopback), 0))
            $listener.Listen(0)
            $port = $listener.LocalEndPoint.Port
            # Fill the accept queue of a socket that never accepts: later connects hang, as to 169.254.169.254 off Azure.
            $fillers = 1..3 | ForEach-Object {
                $s = New-Object System.Net.Sockets.Socket -ArgumentList ([System.Net.Sockets.AddressFamily]::InterNetwork), ([System.Net.Sockets.SocketType]::Stream), ([System.Net.Sockets.ProtocolType]::Tcp)
                $null = $s.ConnectAsync('127.0.0.1', $port)
                $s
            }
            Start-Sleep -Milliseconds 200
            $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = "http://127.0.0.1:$port"
            $sw = [System.Diagnostics.Stopwatch]::StartNew()
            $err = { Get-MsiToken } | Should -Throw -ErrorId 'GetMsiTokenManagedIdentityUnavailable,Get-MsiToken' -PassThru
            $sw.Stop()
            Write-Host "    off-Azure failure took $($sw.ElapsedMilliseconds) ms"
            $sw.Elapsed.TotalSeconds | Should -BeLessOrEqual 3
            # And the connects did hang (a refused one fails at once, with the same ErrorId): two attempts
            # spent the 1.6 s connect budget.
            $sw.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 1.5
            $err.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
            $err.Exception.Message | Should -Match 'No managed-identity endpoint is reachable from this machine'
            foreach ($name in 'AZURE_POD_IDENTITY_AUTHORITY_HOST', 'IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IMDS_ENDPOINT', 'MSI_ENDPOINT', '-Endpoint') {
                $err.Exception.Message | Should -Match ([regex]::Escape($name))
            }
        }
        finally {
            $fillers | ForEach-Object { $_.Dispose() }
            $listener.Dispose()
        }
    }

    It 'fails at once on a refused connection' {
        $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = 'http://127.0.0.1:9'
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        { Get-MsiToken } | Should -Throw -ErrorId 'GetMsiTokenManagedIdentityUnavailable,Get-MsiToken'
        $sw.Elapsed.TotalSeconds | Should -BeLessThan 2
    }
}

Describe 'Proxies' {
    # Both NO_PROXY and no_proxy are cleared: undici reads no_proxy first, so an ambient one would let the
    # requests bypass the dead proxy and the tests pass for the wrong reason (or fail, below).
    It 'contacts identity endpoints directly even with HTTP_PROXY and HTTPS_PROXY set to a dead proxy' {
        $env:HTTP_PROXY = 'http://127.0.0.1:9'
        $env:HTTPS_PROXY = 'http://127.0.0.1:9'
        $env:NO_PROXY = $null
        $env:no_proxy = $null
        (Get-MsiToken).Source | Should -Be 'IMDS'
    }

    It 'sends ARM calls through HTTP_PROXY unless NO_PROXY names the host' {
        $token = Get-MsiToken
        $env:HTTP_PROXY = 'http://127.0.0.1:9'
        $env:NO_PROXY = $null
        $env:no_proxy = $null
        $keyArgs = @{ Token = $token; SubscriptionId = $Stack.subscriptionId; ResourceGroupName = $Stack.resourceGroupName; StorageAccountName = $Stack.storageAccountName; ArmEndpoint = $Stack.armEndpoint }
        { Get-MsiStorageKey @keyArgs } | Should -Throw -ErrorId 'GetMsiStorageKeyArmUnreachable,Get-MsiStorageKey'
        $env:NO_PROXY = '127.0.0.1'
        (Get-MsiStorageKey @keyArgs).KeyName | Should -Be 'key1'
    }

    It 'sends storage calls through HTTP_PROXY unless NO_PROXY names the host' {
        $key = Get-MsiStorageKey -SubscriptionId $Stack.subscriptionId -ResourceGroupName $Stack.resourceGroupName -StorageAccountName $Stack.storageAccountName -ArmEndpoint $Stack.armEndpoint
        $ctx = New-MsiStorageContext -StorageAccountName $Stack.storageAccountName -StorageAccountKey $key -BlobEndpoint $Stack.blobEndpoint
        $container = 'proxied' + [guid]::NewGuid().ToString('N').Substring(0, 8)
        New-MsiStorageContainer -Name $container -Context $ctx | Out-Null
        $env:MSISTORAGE_RETRY_DELAY_SCALE = '0.01'
        $env:HTTP_PROXY = 'http://127.0.0.1:9'
        $env:NO_PROXY = $null
        $env:no_proxy = $null
        # Refused by the dead proxy (port 9), not by Azurite's port: the call went to the proxy.
        $err = { Get-MsiBlob -Container $container -Context $ctx } | Should -Throw -ErrorId 'GetMsiBlobStorageUnreachable,Get-MsiBlob' -PassThru
        $err.Exception.Message | Should -Match ([regex]::Escape('127.0.0.1:9.'))
        $err.Exception.Message | Should -Match 'NO_PROXY'
        $env:NO_PROXY = '127.0.0.1'
        @(Get-MsiBlob -Container $container -Context $ctx).Count | Should -Be 0
    }
}

Describe 'The session token cache' {
    It 'reuses a cached token without starting Node' {
        $first = Get-MsiToken
        $env:MSISTORAGE_NODE = Join-Path ([System.IO.Path]::GetTempPath()) 'no-such-node'
        $sw = [System.Diagnostics.Stopwatch]::StartNew()
        $second = Get-MsiToken
        $sw.Stop()
        Write-Host "    cached Get-MsiToken took $($sw.Elapsed.TotalMilliseconds) ms"
        $second.ExpiresOn | Should -Be $first.ExpiresOn
        @(Get-IdentityRequests).Count | Should -Be 1
    }

    It '-Force bypasses the cache' {
        Get-MsiToken | Out-Null
        $env:MSISTORAGE_NODE = Join-Path ([System.IO.Path]::GetTempPath()) 'no-such-node'
        { Get-MsiToken -Force } | Should -Throw -ErrorId 'GetMsiTokenNodeNotFound,Get-MsiToken'
    }

    It 'keys the cache by resource and identity' {
        Get-MsiToken | Out-Null
        Get-MsiToken -Resource 'https://storage.azure.com/' | Out-Null
        Get-MsiToken -ClientId $Info.userAssigned[0].clientId | Out-Null
        Get-MsiToken | Out-Null
        @(Get-IdentityRequests).Count | Should -Be 3
    }

    It 'keys the cache by source and endpoint: -Endpoint, and each source named in the environment, get their own token' {
        (Get-MsiToken).Source | Should -Be 'IMDS'
        (Get-MsiToken -Endpoint $Info.endpoints.vmExtension).Source | Should -Be 'VMExtension'
        @(Get-IdentityRequests).Count | Should -Be 2
        $env:MSI_ENDPOINT = $Info.endpoints.cloudShell
        (Get-MsiToken).Source | Should -Be 'CloudShell'
        @(Get-IdentityRequests).Count | Should -Be 3
        $env:MSI_ENDPOINT = $null
        $env:IDENTITY_ENDPOINT = $Info.endpoints.appService
        $env:IDENTITY_HEADER = $Info.appServiceHeader
        (Get-MsiToken).Source | Should -Be 'AppService'
        @(Get-IdentityRequests).Count | Should -Be 4
        # Each under its own key: asking each one again is answered from the cache.
        (Get-MsiToken).Source | Should -Be 'AppService'
        $env:IDENTITY_ENDPOINT = $null
        $env:IDENTITY_HEADER = $null
        $env:MSI_ENDPOINT = $Info.endpoints.cloudShell
        (Get-MsiToken).Source | Should -Be 'CloudShell'
        $env:MSI_ENDPOINT = $null
        (Get-MsiToken -Endpoint $Info.endpoints.vmExtension).Source | Should -Be 'VMExtension'
        (Get-MsiToken).Source | Should -Be 'IMDS'
        @(Get-IdentityRequests).Count | Should -Be 4
    }

    It 'does not reuse a token within 5 minutes of its expiry' {
        Invoke-Emulator '/__emulator/token-lifetime' @{ seconds = 240 } | Out-Null
        try {
            Get-MsiToken | Out-Null
            Get-MsiToken | Out-Null
            @(Get-IdentityRequests).Count | Should -Be 2
        }
        finally { Invoke-Emulator '/__emulator/token-lifetime' @{ seconds = 86399 } | Out-Null }
    }

    It 'reuses a token with a little more than 5 minutes left, and not one with a little less' {
        # The margin pinned to within ten seconds of 5 minutes either way.
        try {
            Invoke-Emulator '/__emulator/token-lifetime' @{ seconds = 310 } | Out-Null
            Get-MsiToken -Resource 'https://storage.azure.com/' | Out-Null
            Get-MsiToken -Resource 'https://storage.azure.com/' | Out-Null
            @(Get-IdentityRequests).Count | Should -Be 1
            Invoke-Emulator '/__emulator/token-lifetime' @{ seconds = 290 } | Out-Null
            Get-MsiToken -Resource 'https://vault.azure.net/' | Out-Null
            Get-MsiToken -Resource 'https://vault.azure.net/' | Out-Null
            @(Get-IdentityRequests).Count | Should -Be 3
        }
        finally { Invoke-Emulator '/__emulator/token-lifetime' @{ seconds = 86399 } | Out-Null }
    }

    It 'Get-MsiStorageKey without -Token uses the cached ARM token, and caches the one it gets' {
        $keyArgs = @{ SubscriptionId = $Stack.subscriptionId; ResourceGroupName = $Stack.resourceGroupName; StorageAccountName = $Stack.storageAccountName; ArmEndpoint = $Stack.armEndpoint }
        Get-MsiStorageKey @keyArgs | Out-Null
        @(Get-IdentityRequests).Count | Should -Be 1
        Get-MsiStorageKey @keyArgs | Out-Null
        $env:MSISTORAGE_NODE = Join-Path ([System.IO.Path]::GetTempPath()) 'no-such-node'
        (Get-MsiToken).Resource | Should -Be 'https://management.azure.com/'
        @(Get-IdentityRequests).Count | Should -Be 1
    }
}

Describe 'Token semantics' {
    It 'accepts a scope ending in /.default' {
        (Get-MsiToken -Resource 'https://storage.azure.com/.default').Resource | Should -Be 'https://storage.azure.com/'
        # An app's scope by its id: the resource is the id itself, as MSAL maps it.
        $app = '2ff814a6-3304-4ab8-85cb-cd0e6f879c1d'
        (Get-MsiToken -Resource "$app/.default").Resource | Should -Be $app
        (Get-MsiToken -Resource "api://$app/.default").Resource | Should -Be "api://$app"
    }

    It '-AsPlainText returns the raw token for Invoke-RestMethod' {
        $t = Get-MsiToken -AsPlainText
        $t | Should -BeOfType [string]
        $t.Split('.').Count | Should -Be 3
    }
}

Describe 'Returning before Node has exited' {
    BeforeAll {
        function Get-NodeChild {
            # This pwsh's node children, zombies included (a zombie keeps its /proc entry), except the stack.
            foreach ($dir in [System.IO.Directory]::GetDirectories('/proc')) {
                try { $status = [System.IO.File]::ReadAllText((Join-Path $dir 'status')) } catch { continue }
                $id = Split-Path -Leaf $dir
                if ($id -ne [string]$Stack.pid -and $status -match "(?m)^PPid:\s+$PID\s*$" -and $status -match '(?m)^Name:\s+node') { $id }
            }
        }
    }

    It 'ends the call at the reply; each Node exits by itself and is reaped, leaving no process behind' {
        $null = Get-NodeChild
        1..5 | ForEach-Object { (Get-MsiToken -Force).Source | Should -Be 'IMDS' }
        $deadline = [DateTime]::UtcNow.AddSeconds(10)
        while ((Get-NodeChild) -and [DateTime]::UtcNow -lt $deadline) { Start-Sleep -Milliseconds 20 }
        @(Get-NodeChild) | Should -BeNullOrEmpty -Because 'every Node exits after its reply and is reaped'
        # The next call releases the processes that have exited; removing the module releases the rest.
        Get-MsiToken -Force | Out-Null
        InModuleScope MsiStorage { $script:ExitingNodes.Count } | Should -BeLessOrEqual 1
        $module = Get-Module MsiStorage
        Remove-Module MsiStorage
        & $module { $script:ExitingNodes.Count } | Should -Be 0
        Import-Module (Join-Path (Split-Path -Parent (Split-Path -Parent $PSScriptRoot)) 'MsiStorage.psd1') -Force
    }
}
}
