function New-MsiStorageContext {
    <#
    .SYNOPSIS
    Creates a storage context: the account, its blob endpoint and its key, for the blob cmdlets.

    .DESCRIPTION
    The equivalent of New-AzStorageContext for MsiStorage. The key stays a SecureString inside the context;
    it is sent only on the standard input of MsiStorage's Node process, when a blob cmdlet runs.

    .PARAMETER StorageAccountName
    The storage account's name (3-24 lowercase letters and digits).

    .PARAMETER StorageAccountKey
    The account key: the object Get-MsiStorageKey returns, or a SecureString (a plain string is accepted
    too, as in the tutorial, but keeps the key in your session in clear).

    .PARAMETER BlobEndpoint
    The blob service endpoint. Defaults to https://{account}.blob.core.windows.net/. For Azurite, use the
    path-style URL http://127.0.0.1:10000/{account}.

    .EXAMPLE
    $key = Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey $key
    Send-MsiBlob -File test.txt -Container $c -Blob testblob -Context $ctx

    The tutorial's flow: key, context, upload.

    .EXAMPLE
    New-MsiStorageContext -StorageAccountName devstoreaccount1 -StorageAccountKey $key -BlobEndpoint http://127.0.0.1:10000/devstoreaccount1

    A context for the Azurite emulator.

    .INPUTS
    None.

    .OUTPUTS
    MsiStorage.StorageContext.

    .LINK
    Send-MsiBlob
    #>
    [CmdletBinding()]
    [OutputType('MsiStorage.StorageContext')]
    param(
        [Parameter(Mandatory = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $StorageAccountName,

        [Parameter(Mandatory = $true)]
        [object] $StorageAccountKey,

        [uri] $BlobEndpoint
    )
    $plain = Get-MsiSecretText -Value $StorageAccountKey -PropertyNames @('Value')
    if (-not $plain) {
        Stop-MsiWithError -Cmdlet $PSCmdlet -Code 'InvalidStorageAccountKey' -Parameter 'StorageAccountKey' -Message '-StorageAccountKey is empty or not a key. Pass the object from Get-MsiStorageKey, or the key as a SecureString.'
    }
    $arguments = @{ storageAccountName = $StorageAccountName; storageAccountKey = $plain }
    if ($BlobEndpoint) { $arguments.blobEndpoint = $BlobEndpoint.OriginalString }
    $result = Invoke-MsiNode -Command 'context' -Arguments $arguments -Cmdlet $PSCmdlet
    [pscustomobject]@{
        PSTypeName         = 'MsiStorage.StorageContext'
        StorageAccountName = [string]$result.storageAccountName
        BlobEndpoint       = [string]$result.blobEndpoint
        AuthType           = 'SharedKey'
        StorageAccountKey  = ConvertTo-MsiSecureString -PlainText $plain
    }
}
