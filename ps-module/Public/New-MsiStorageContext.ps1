function New-MsiStorageContext {
    <#
    .SYNOPSIS
    Creates a storage context: the account, its blob endpoint and a credential, for the blob cmdlets.

    .DESCRIPTION
    The equivalent of New-AzStorageContext for MsiStorage. The credential is one of:
    - a key (-StorageAccountKey: the object from Get-MsiStorageKey, or a SecureString);
    - a shared access signature (-SasToken: the SecureString from New-MsiStorageSas);
    - the managed identity itself (-UseManagedIdentity): a token for https://storage.azure.com/ is used for
      the data plane, with no key at all. The identity needs a data role on the account, such as
      "Storage Blob Data Contributor" (or "Storage Blob Data Reader" to download only);
    - nothing: the key is fetched from Azure Resource Manager with the managed identity, as Get-MsiStorageKey does.

    The blob endpoint is -BlobEndpoint when given; otherwise the account's primaryEndpoints.blob from Azure
    Resource Manager (which finds custom domains and emulators), else https://{account}.blob.{cloud suffix}/.
    An identity that holds only the tutorial's "Storage Account Key Operator Service Role" may list the keys
    but not read the account: it gets the suffix's endpoint (-Verbose says so) and the key.

    Secrets stay SecureString inside the context; they are sent only on the standard input of MsiStorage's
    Node process, when a blob cmdlet runs. A managed-identity context renews its token when it nears expiry.

    .PARAMETER StorageAccountName
    The storage account's name (3-24 lowercase letters and digits). Not needed with -ResourceId, nor with a
    key object from Get-MsiStorageKey, which names its account.

    .PARAMETER StorageAccountKey
    The account key: the object Get-MsiStorageKey returns, or a SecureString (a plain string is accepted
    too, as in the tutorial, but keeps the key in your session in clear). A key object pipes in, and names
    its account. With a key (or a SAS), only the blob endpoint is looked up in Azure Resource Manager, for at
    most 10 seconds unless -TimeoutSec or the account's location is given; -BlobEndpoint skips the lookup.

    .PARAMETER SasToken
    A shared access signature for the account, a container or a blob: the SecureString from New-MsiStorageSas,
    or a string.

    .PARAMETER UseManagedIdentity
    Authorize blob requests with the managed identity's token for https://storage.azure.com/ instead of a key.
    Storage accepts bearer tokens over HTTPS only.

    .PARAMETER BlobEndpoint
    The blob service endpoint. Defaults to the account's endpoint from Azure Resource Manager, else
    https://{account}.blob.core.windows.net/ (or the sovereign cloud's suffix). For Azurite, use the
    path-style URL http://127.0.0.1:10000/{account}. An endpoint that names another account
    (https://other.blob.core.windows.net/) is refused (BlobEndpointAccountMismatch).

    .PARAMETER ResourceGroupName
    Where to find the account in Azure Resource Manager. Defaults to the VM's, then to a search across the
    subscription.

    .PARAMETER SubscriptionId
    The account's subscription. Defaults to the VM's.

    .PARAMETER ResourceId
    The account's full Azure resource id, instead of -StorageAccountName, -ResourceGroupName and -SubscriptionId.

    .PARAMETER Environment
    The Azure cloud: AzureCloud, AzureChinaCloud or AzureUSGovernment (its ARM endpoint and storage suffix).
    Defaults to the VM's cloud, else AzureCloud.

    .PARAMETER ArmEndpoint
    The Azure Resource Manager endpoint, overriding -Environment.

    .PARAMETER Token
    The Azure Resource Manager token for the lookups. Defaults to the session's cached token or a new one.

    .PARAMETER KeyName
    Which key to fetch when no credential is given: key1 (default) or key2.

    .PARAMETER ClientId
    The client (application) id of a user-assigned identity to get the Azure Resource Manager token with, when
    the cmdlet gets its own token (no -Token) and the VM has several identities. Give at most one of -ClientId,
    -ObjectId and -IdentityResourceId.

    .PARAMETER ObjectId
    The object (principal) id of the user-assigned identity to use (see -ClientId).

    .PARAMETER IdentityResourceId
    The Azure resource id of the user-assigned identity to use (see -ClientId).

    .PARAMETER TimeoutSec
    One deadline for the Azure Resource Manager and identity calls (default 90 seconds).

    .EXAMPLE
    $ctx = New-MsiStorageContext -StorageAccountName mystorage
    Send-MsiBlob -File test.txt -Container mycontainer -Context $ctx

    The shortest flow on an Azure VM: the account is found, its key fetched and its endpoint discovered.

    .EXAMPLE
    $key = Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey $key
    Send-MsiBlob -File test.txt -Container $c -Blob testblob -Context $ctx

    The tutorial's flow: key, context, upload.

    .EXAMPLE
    $ctx = New-MsiStorageContext -StorageAccountName mystorage -UseManagedIdentity

    A keyless context: blob requests carry the managed identity's storage token.

    .EXAMPLE
    $sas = New-MsiStorageSas -StorageAccountName mystorage -Container logs -Permission rl
    $ctx = New-MsiStorageContext -StorageAccountName mystorage -SasToken $sas

    A context limited to reading and listing one container.

    .INPUTS
    MsiStorage.StorageKey. A key from Get-MsiStorageKey, as -StorageAccountKey: it names its account
    (Get-MsiStorageKey -StorageAccountName $acct | New-MsiStorageContext).

    .OUTPUTS
    MsiStorage.StorageContext: StorageAccountName, BlobEndpoint, AuthType (SharedKey, SAS or OAuth).

    .LINK
    Send-MsiBlob
    #>
    [CmdletBinding(DefaultParameterSetName = 'Discover')]
    [OutputType('MsiStorage.StorageContext')]
    param(
        [Parameter(Position = 0)]
        [Alias('AccountName')]
        [ValidateNotNullOrEmpty()]
        [string] $StorageAccountName,

        [Parameter(Mandatory = $true, ParameterSetName = 'Key', ValueFromPipeline = $true)]
        [object] $StorageAccountKey,

        [Parameter(Mandatory = $true, ParameterSetName = 'Sas')]
        [object] $SasToken,

        [Parameter(Mandatory = $true, ParameterSetName = 'ManagedIdentity')]
        [switch] $UseManagedIdentity,

        [uri] $BlobEndpoint,

        [ValidateNotNullOrEmpty()]
        [string] $ResourceGroupName,

        [ValidateNotNullOrEmpty()]
        [string] $SubscriptionId,

        [ValidateNotNullOrEmpty()]
        [string] $ResourceId,

        [ValidateSet('AzureCloud', 'AzureChinaCloud', 'AzureUSGovernment')]
        [string] $Environment,

        [uri] $ArmEndpoint,

        [object] $Token,

        [Parameter(ParameterSetName = 'Discover')]
        [ValidateSet('key1', 'key2')]
        [string] $KeyName,

        [ValidateNotNullOrEmpty()]
        [string] $ClientId,

        [ValidateNotNullOrEmpty()]
        [string] $ObjectId,

        [ValidateNotNullOrEmpty()]
        [string] $IdentityResourceId,

        [ValidateRange(1, 3600)]
        [int] $TimeoutSec
    )
    process {
        $arguments = @{}
        $cached = $null
        Add-MsiAccountArgument -Arguments $arguments -Bound $PSBoundParameters
        if ($BlobEndpoint) { $arguments.blobEndpoint = $BlobEndpoint.OriginalString }
        switch ($PSCmdlet.ParameterSetName) {
            'Key' {
                # A token piped in by analogy with Get-MsiStorageKey binds here: say where it goes.
                if ($StorageAccountKey -and $StorageAccountKey.PSObject.TypeNames -contains 'MsiStorage.AccessToken') {
                    Stop-MsiWithError -Cmdlet $PSCmdlet -Code 'InvalidStorageAccountKey' -Parameter 'StorageAccountKey' -Message "-StorageAccountKey got a token from Get-MsiToken, not a key. Pass the token as -Token, or get the key with it first: Get-MsiToken | Get-MsiStorageKey -StorageAccountName <account> | New-MsiStorageContext."
                }
                $arguments.storageAccountKey = Get-MsiSecretText -Value $StorageAccountKey -PropertyNames @('Value')
                if (-not $arguments.storageAccountKey) {
                    Stop-MsiWithError -Cmdlet $PSCmdlet -Code 'InvalidStorageAccountKey' -Parameter 'StorageAccountKey' -Message '-StorageAccountKey is empty or not a key. Pass the object from Get-MsiStorageKey, or the key as a SecureString.'
                }
                # A key object knows its account: another account's key would only fail later, as a refused request.
                $keyAccount = $null
                if ($StorageAccountKey.PSObject.Properties['StorageAccountName']) { $keyAccount = [string]$StorageAccountKey.StorageAccountName }
                if ($keyAccount -and $StorageAccountName -and $keyAccount -ne $StorageAccountName) {
                    Stop-MsiWithError -Cmdlet $PSCmdlet -Code 'StorageAccountKeyMismatch' -Parameter 'StorageAccountKey' -Message "-StorageAccountKey is the key of account '$keyAccount', not of -StorageAccountName '$StorageAccountName'. Get the key of '$StorageAccountName' (Get-MsiStorageKey -StorageAccountName $StorageAccountName), or name the key's account."
                }
                # Nor does it need to be told its account.
                if ($keyAccount -and -not $StorageAccountName -and -not $ResourceId) { $arguments.storageAccountName = $keyAccount }
            }
            'Sas' {
                $arguments.sasToken = Get-MsiSecretText -Value $SasToken -PropertyNames @('SasToken')
                if (-not $arguments.sasToken) {
                    Stop-MsiWithError -Cmdlet $PSCmdlet -Code 'InvalidSasToken' -Parameter 'SasToken' -Message '-SasToken is empty. Pass the SecureString from New-MsiStorageSas.'
                }
            }
            'ManagedIdentity' {
                $arguments.useManagedIdentity = $true
                $cached = Get-MsiCachedToken -Key (Get-MsiTokenCacheKey -Resource $script:StorageResource -Identity $arguments['identity'])
                if ($cached) { $arguments.storageToken = ConvertFrom-MsiSecureString -SecureString $cached.Token }
            }
        }
        Add-MsiArmTokenArgument -Arguments $arguments -Cmdlet $PSCmdlet -Token $Token -TokenGiven:$PSBoundParameters.ContainsKey('Token')
        $result = Invoke-MsiNode -Command 'context' -Arguments $arguments -Cmdlet $PSCmdlet -Quietable
        if ($null -eq $result) { return }
        $null = Save-MsiReturnedToken -Result $result -Identity $arguments['identity']
        $storageToken = Save-MsiReturnedToken -Result $result -Property 'storageToken' -Identity $arguments['identity']
        if (-not $storageToken -and $cached) { $storageToken = $cached }

        $context = [pscustomobject]@{
            PSTypeName         = 'MsiStorage.StorageContext'
            StorageAccountName = [string]$result.storageAccountName
            BlobEndpoint       = [string]$result.blobEndpoint
            AuthType           = [string]$result.authType
            SubscriptionId     = $null
            ResourceGroupName  = $null
            StorageAccountKey  = $null
            SasToken           = $null
            Token              = $null
            TokenExpiresOn     = $null
        }
        if ($result.PSObject.Properties['location'] -and $result.location) {
            $context.SubscriptionId = [string]$result.location.subscriptionId
            $context.ResourceGroupName = [string]$result.location.resourceGroupName
        }
        switch ($context.AuthType) {
            'SharedKey' {
                $plainKey = $arguments['storageAccountKey']
                if ($result.PSObject.Properties['storageAccountKey']) { $plainKey = $result.storageAccountKey }
                $context.StorageAccountKey = ConvertTo-MsiSecureString -PlainText $plainKey
            }
            'SAS' { $context.SasToken = ConvertTo-MsiSecureString -PlainText (([string]$arguments.sasToken).TrimStart('?')) }
            'OAuth' {
                $context.Token = $storageToken.Token
                $context.TokenExpiresOn = $storageToken.ExpiresOn
                # Which identity renews the token when it nears expiry (no secret: the selector only).
                $context | Add-Member -NotePropertyName Identity -NotePropertyValue $(if ($arguments['identity']) { $arguments['identity'] } else { @{} })
            }
        }
        $context
    }
}
