function Get-MsiBlob {
    <#
    .SYNOPSIS
    Lists the blobs of a container.

    .DESCRIPTION
    The equivalent of Get-AzStorageBlob. Lists the blobs of -Container, optionally only those whose names
    start with -Prefix, as MsiStorage.Blob objects that pipe into Receive-MsiBlob (and Remove-MsiBlob).

    .PARAMETER Container
    The blob container.

    .PARAMETER Prefix
    Only blobs whose names start with this text, such as 'logs/2026/'.

    .PARAMETER Context
    The storage context from New-MsiStorageContext.

    .EXAMPLE
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey (Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct)
    Get-MsiBlob -Container $c -Context $ctx

    The tutorial's flow, then a look at what the container holds.

    .EXAMPLE
    Get-MsiBlob -Container logs -Prefix 2026/11/ -Context $ctx | Receive-MsiBlob -Destination ./logs

    Downloads every blob under a prefix, in one process, blobs in parallel.

    .INPUTS
    None.

    .OUTPUTS
    MsiStorage.Blob.

    .LINK
    Receive-MsiBlob
    #>
    [CmdletBinding()]
    [OutputType('MsiStorage.Blob')]
    param(
        [Parameter(Mandatory = $true, Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string] $Container,

        [string] $Prefix,

        [Parameter(Mandatory = $true)]
        [object] $Context
    )
    $contextArgument = ConvertTo-MsiContextArgument -Context $Context -Cmdlet $PSCmdlet -Quietable
    if ($null -eq $contextArgument) { return }
    $arguments = @{ context = $contextArgument; container = $Container }
    if ($Prefix) { $arguments.prefix = $Prefix }
    Invoke-MsiNode -Command 'list' -Arguments $arguments -Cmdlet $PSCmdlet -Batch -Quietable -OnItems { param($r) ConvertTo-MsiBlob -Result $r -Context $Context }
}
