function New-MsiStorageSas {
    <#
    .SYNOPSIS
    Gets a shared access signature (SAS) for a storage account, container or blob from Azure Resource Manager.

    .DESCRIPTION
    The tutorial's sibling, "Use a Windows VM MSI to access Azure Storage via a SAS credential": Azure
    Resource Manager signs the SAS with the account key (listServiceSas for a container or blob, listAccountSas
    for the whole blob service), using the managed identity's token. The key never reaches this machine.

    The SAS is returned as a SecureString; pass it to New-MsiStorageContext -SasToken. The identity needs a
    role with the listServiceSas or listAccountSas action, such as "Storage Account Contributor".

    .PARAMETER StorageAccountName
    The storage account's name.

    .PARAMETER Container
    A container: the SAS is a service SAS for it. Without -Container, it is an account SAS for the blob service.

    .PARAMETER Blob
    A blob in -Container: the SAS is a service SAS for that blob only.

    .PARAMETER Permission
    The permissions, as SAS letters: r (read), a (add), c (create), w (write), d (delete), l (list); an account
    SAS also takes u (update) and p (process). A SAS for one blob cannot carry l.
    Defaults to 'r' for a blob, 'rl' for a container or the account.

    .PARAMETER ExpiryTime
    When the SAS expires. Defaults to one hour from now. Keep it short.

    .PARAMETER StartTime
    When the SAS becomes valid. Defaults to at once.

    .PARAMETER Protocol
    HttpsOnly (the default) or HttpsOrHttp (for emulators served over HTTP).

    .PARAMETER KeyName
    The account key that signs the SAS: key1 (default) or key2. Rotating that key revokes the SAS.

    .PARAMETER ResourceGroupName
    The account's resource group. Defaults to the VM's, then to a search across the subscription.

    .PARAMETER SubscriptionId
    The account's subscription. Defaults to the VM's.

    .PARAMETER ResourceId
    The account's full Azure resource id, instead of the three parameters above.

    .PARAMETER Environment
    The Azure cloud: AzureCloud, AzureChinaCloud or AzureUSGovernment. Defaults to the VM's cloud.

    .PARAMETER ArmEndpoint
    The Azure Resource Manager endpoint, overriding -Environment.

    .PARAMETER Token
    The Azure Resource Manager token. Defaults to the session's cached token or a new one.

    .PARAMETER ClientId
    The client (application) id of a user-assigned identity to get the Azure Resource Manager token with, when
    the cmdlet gets its own token (no -Token) and the VM has several identities. Give at most one of -ClientId,
    -ObjectId and -IdentityResourceId.

    .PARAMETER ObjectId
    The object (principal) id of the user-assigned identity to use (see -ClientId).

    .PARAMETER IdentityResourceId
    The Azure resource id of the user-assigned identity to use (see -ClientId).

    .PARAMETER TimeoutSec
    One deadline for the whole call (default 90 seconds).

    .PARAMETER AsPlainText
    Return the SAS as a plain string, for a link to hand out, AzCopy or another tool:
    "$($blob.Uri.AbsoluteUri)?$sas". It is not the default because a plain string stays readable in memory,
    in transcripts and in $Error; the default SecureString keeps the SAS out of view until
    New-MsiStorageContext -SasToken needs it.

    .EXAMPLE
    $token = Get-MsiToken
    $sas   = New-MsiStorageSas -Token $token -StorageAccountName $acct -Container $c -Permission rwl
    $ctx   = New-MsiStorageContext -StorageAccountName $acct -SasToken $sas
    Send-MsiBlob -File test.txt -Container $c -Blob testblob -Context $ctx

    The tutorial's flow through a SAS instead of the key: the identity's token asks Azure Resource Manager for a
    SAS, which the context uploads with.

    .EXAMPLE
    $sas  = New-MsiStorageSas -StorageAccountName $acct -Container logs -Blob today.log -Permission r -ExpiryTime (Get-Date).AddMinutes(15) -AsPlainText
    $blob = Get-MsiBlob -Container logs -Blob today.log -Context $ctx
    "$($blob.Uri.AbsoluteUri)?$sas"

    A read-only link to one blob, valid for 15 minutes, to hand to someone else.

    .INPUTS
    None.

    .OUTPUTS
    System.Security.SecureString. The SAS query string (sv=...&sig=...), without a leading '?'.
    System.String with -AsPlainText.

    .LINK
    New-MsiStorageContext
    #>
    [CmdletBinding(DefaultParameterSetName = 'Name')]
    [OutputType([System.Security.SecureString], [string])]
    param(
        [Parameter(Mandatory = $true, Position = 0, ParameterSetName = 'Name')]
        [Alias('AccountName')]
        [ValidateNotNullOrEmpty()]
        [string] $StorageAccountName,

        [ValidateNotNullOrEmpty()]
        [string] $Container,

        [ValidateNotNullOrEmpty()]
        [string] $Blob,

        [ValidateNotNullOrEmpty()]
        [string] $Permission,

        [DateTimeOffset] $ExpiryTime = [DateTimeOffset]::UtcNow.AddHours(1),

        [DateTimeOffset] $StartTime,

        [ValidateSet('HttpsOnly', 'HttpsOrHttp')]
        [string] $Protocol = 'HttpsOnly',

        [ValidateSet('key1', 'key2')]
        [string] $KeyName,

        [Parameter(ParameterSetName = 'Name')]
        [ValidateNotNullOrEmpty()]
        [string] $ResourceGroupName,

        [Parameter(ParameterSetName = 'Name')]
        [ValidateNotNullOrEmpty()]
        [string] $SubscriptionId,

        [Parameter(Mandatory = $true, ParameterSetName = 'ResourceId')]
        [ValidateNotNullOrEmpty()]
        [string] $ResourceId,

        [ValidateSet('AzureCloud', 'AzureChinaCloud', 'AzureUSGovernment')]
        [string] $Environment,

        [uri] $ArmEndpoint,

        [object] $Token,

        [ValidateNotNullOrEmpty()]
        [string] $ClientId,

        [ValidateNotNullOrEmpty()]
        [string] $ObjectId,

        [ValidateNotNullOrEmpty()]
        [string] $IdentityResourceId,

        [ValidateRange(1, 3600)]
        [int] $TimeoutSec,

        [switch] $AsPlainText
    )
    $arguments = @{
        expiry     = $ExpiryTime.UtcDateTime.ToString('o', [System.Globalization.CultureInfo]::InvariantCulture)
        protocol   = $Protocol
    }
    Add-MsiAccountArgument -Arguments $arguments -Bound $PSBoundParameters
    if ($Container) { $arguments.container = $Container }
    if ($Blob) { $arguments.blob = $Blob }
    if ($Permission) { $arguments.permission = $Permission }
    if ($PSBoundParameters.ContainsKey('StartTime')) { $arguments.start = $StartTime.UtcDateTime.ToString('o', [System.Globalization.CultureInfo]::InvariantCulture) }
    Add-MsiArmTokenArgument -Arguments $arguments -Cmdlet $PSCmdlet -Token $Token -TokenGiven:$PSBoundParameters.ContainsKey('Token')
    $result = Invoke-MsiNode -Command 'sas' -Arguments $arguments -Cmdlet $PSCmdlet -Quietable
    if ($null -eq $result) { return }
    $null = Save-MsiReturnedToken -Result $result -Identity $arguments['identity']
    if ($AsPlainText) { return [string]$result.sasToken }
    ConvertTo-MsiSecureString -PlainText $result.sasToken
}
