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

    On an Azure VM, -StorageAccountName alone is enough: the subscription and resource group default to the
    VM's own (from the instance metadata service), and when the account is not in the VM's resource group it
    is found by name across the subscription. The cloud (-Environment) defaults to the VM's too.

    Without -Token, the command uses the session's cached Azure Resource Manager token, or gets one from
    the managed identity (and caches it). An expired token is refreshed once, automatically.

    .PARAMETER StorageAccountName
    The storage account's name (3-24 lowercase letters and digits). Alias -Name, as Get-AzStorageAccountKey has it.

    .PARAMETER ResourceGroupName
    The resource group that holds the storage account. Defaults to the VM's, then to a search across the
    subscription.

    .PARAMETER SubscriptionId
    The subscription (a GUID) that holds the account. Defaults to the VM's.

    .PARAMETER ResourceId
    The storage account's full Azure resource id, instead of the three parameters above:
    /subscriptions/<guid>/resourceGroups/<group>/providers/Microsoft.Storage/storageAccounts/<name>.

    .PARAMETER Token
    The Azure Resource Manager token: the object Get-MsiToken returns, a SecureString, or a string.
    Without it, the command uses the session's cached token or gets one from the managed identity.

    .PARAMETER KeyName
    Which key to return: key1 (the default, like the tutorial's keys[0]) or key2.

    .PARAMETER Environment
    The Azure cloud: AzureCloud, AzureChinaCloud or AzureUSGovernment. It sets the Azure Resource Manager
    endpoint. Defaults to the VM's cloud (instance metadata azEnvironment), else AzureCloud.

    .PARAMETER ArmEndpoint
    The Azure Resource Manager endpoint, overriding -Environment (and the MSISTORAGE_ARM_ENDPOINT variable).
    Point it at the local emulator to test scripts offline.

    .PARAMETER ClientId
    The client (application) id of a user-assigned identity to get the Azure Resource Manager token with, when
    the cmdlet gets its own token (no -Token) and the VM has several identities. Give at most one of -ClientId,
    -ObjectId and -IdentityResourceId.

    .PARAMETER ObjectId
    The object (principal) id of the user-assigned identity to use (see -ClientId).

    .PARAMETER IdentityResourceId
    The Azure resource id of the user-assigned identity to use (see -ClientId).

    .PARAMETER TimeoutSec
    One deadline for the whole call, retries included (default 90 seconds).

    .EXAMPLE
    $key = Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey $key
    Receive-MsiBlob -Blob testblob -Container $c -Destination test2.txt -Context $ctx

    The tutorial's flow: the key, a context, then a download.

    .EXAMPLE
    Get-MsiStorageKey -StorageAccountName mystorage

    On an Azure VM: finds the account in the VM's subscription and gets key1, with the VM's own token.

    .EXAMPLE
    Get-MsiStorageKey -ResourceId /subscriptions/$sub/resourceGroups/data/providers/Microsoft.Storage/storageAccounts/mystorage -KeyName key2

    Gets key2 of the account named by its resource id.

    .INPUTS
    MsiStorage.AccessToken. A token from Get-MsiToken, as -Token (Get-MsiToken | Get-MsiStorageKey -StorageAccountName $acct).

    .OUTPUTS
    MsiStorage.StorageKey. StorageAccountName, KeyName, Value (SecureString), Permissions, and where the
    account was found: SubscriptionId, ResourceGroupName, Environment.

    .LINK
    New-MsiStorageContext
    #>
    [CmdletBinding(DefaultParameterSetName = 'Name')]
    [OutputType('MsiStorage.StorageKey')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ParameterSetName = 'Name')]
        [Alias('Name', 'AccountName')]
        [ValidateNotNullOrEmpty()]
        [string] $StorageAccountName,

        [Parameter(ParameterSetName = 'Name')]
        [ValidateNotNullOrEmpty()]
        [string] $ResourceGroupName,

        [Parameter(ParameterSetName = 'Name')]
        [ValidateNotNullOrEmpty()]
        [string] $SubscriptionId,

        [Parameter(Mandatory = $true, ParameterSetName = 'ResourceId')]
        [ValidateNotNullOrEmpty()]
        [string] $ResourceId,

        [Parameter(ValueFromPipeline = $true)]
        [object] $Token,

        [ValidateSet('key1', 'key2')]
        [string] $KeyName = 'key1',

        [ValidateSet('AzureCloud', 'AzureChinaCloud', 'AzureUSGovernment')]
        [string] $Environment,

        [uri] $ArmEndpoint,

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
        $arguments = @{ keyName = $KeyName.ToLowerInvariant() }
        Add-MsiAccountArgument -Arguments $arguments -Bound $PSBoundParameters
        $arguments.keyName = $KeyName.ToLowerInvariant()
        Add-MsiArmTokenArgument -Arguments $arguments -Cmdlet $PSCmdlet -Token $Token -TokenGiven:$PSBoundParameters.ContainsKey('Token')
        $result = Invoke-MsiNode -Command 'keys' -Arguments $arguments -Cmdlet $PSCmdlet -Quietable
        if ($null -eq $result) { return }
        $null = Save-MsiReturnedToken -Result $result -Identity $arguments['identity']
        ConvertTo-MsiStorageKey -Result $result
    }
}
