function Get-MsiStorageKey {
    <#
    .SYNOPSIS
    Gets a storage account access key from Azure Resource Manager with the managed identity's token.

    .DESCRIPTION
    Calls the Azure Resource Manager action listKeys on the storage account
    (POST .../providers/Microsoft.Storage/storageAccounts/{account}/listKeys) with a bearer token, as the
    tutorial does, and returns one key as a SecureString. The identity needs a role with
    Microsoft.Storage/storageAccounts/listKeys/action on the account, such as "Storage Account Key Operator
    Service Role".

    Without -Token, the command uses the session's cached Azure Resource Manager token, or gets one from
    the managed identity (and caches it).

    .PARAMETER StorageAccountName
    The storage account's name (3-24 lowercase letters and digits).

    .PARAMETER ResourceGroupName
    The resource group that holds the storage account.

    .PARAMETER SubscriptionId
    The subscription (a GUID) that holds the resource group.

    .PARAMETER Token
    The Azure Resource Manager token: the object Get-MsiToken returns, a SecureString, or a string.
    Without it, the command gets one from the managed identity.

    .PARAMETER KeyName
    Which key to return: key1 (the default, like the tutorial's keys[0]) or key2.

    .PARAMETER ArmEndpoint
    The Azure Resource Manager endpoint. Defaults to https://management.azure.com/. Point it at the local
    emulator to test scripts offline.

    .EXAMPLE
    $key = Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey $key
    Receive-MsiBlob -Blob testblob -Container $c -Destination test2.txt -Context $ctx

    The tutorial's flow: the key, a context, then a download.

    .EXAMPLE
    Get-MsiStorageKey -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct -KeyName key2

    Gets key2, fetching the ARM token from the managed identity automatically.

    .INPUTS
    None.

    .OUTPUTS
    MsiStorage.StorageKey. StorageAccountName, KeyName, Value (SecureString), Permissions.

    .LINK
    New-MsiStorageContext
    #>
    [CmdletBinding()]
    [OutputType('MsiStorage.StorageKey')]
    param(
        [Parameter(Mandatory = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $StorageAccountName,

        [Parameter(Mandatory = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $ResourceGroupName,

        [Parameter(Mandatory = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $SubscriptionId,

        [object] $Token,

        [ValidateSet('key1', 'key2')]
        [string] $KeyName = 'key1',

        [uri] $ArmEndpoint
    )
    $arguments = @{
        storageAccountName = $StorageAccountName
        resourceGroupName  = $ResourceGroupName
        subscriptionId     = $SubscriptionId
        keyName            = $KeyName.ToLowerInvariant()
    }
    if ($ArmEndpoint) { $arguments.armEndpoint = $ArmEndpoint.OriginalString }
    if ($PSBoundParameters.ContainsKey('Token')) {
        $plain = Get-MsiSecretText -Value $Token
        if (-not $plain) {
            Stop-MsiWithError -Cmdlet $PSCmdlet -Code 'InvalidToken' -Parameter 'Token' -Message '-Token is empty or not a token. Pass the object from Get-MsiToken, or leave -Token out to get one automatically.'
        }
        $arguments.token = $plain
    }
    else {
        # The session cache first; otherwise Node gets a token and returns it, and it is cached for next time.
        $cacheKey = Get-MsiTokenCacheKey -Resource 'https://management.azure.com/'
        $cached = Get-MsiCachedToken -Key $cacheKey
        if ($cached) {
            Write-Verbose "Using the session's cached Azure Resource Manager token (expires $($cached.ExpiresOn.ToString('u')))."
            $arguments.token = ConvertFrom-MsiSecureString -SecureString $cached.Token
        }
    }
    $result = Invoke-MsiNode -Command 'keys' -Arguments $arguments -Cmdlet $PSCmdlet
    if ($result.PSObject.Properties['token'] -and $result.token) {
        Set-MsiCachedToken -Key $cacheKey -Token (ConvertTo-MsiAccessToken -Result $result.token)
        $result.PSObject.Properties.Remove('token')
    }
    ConvertTo-MsiStorageKey -Result $result
}
