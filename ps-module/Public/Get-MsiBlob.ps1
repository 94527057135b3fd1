function Get-MsiBlob {
    <#
    .SYNOPSIS
    Lists the blobs of a container.

    .DESCRIPTION
    The equivalent of Get-AzStorageBlob. Lists the blobs of -Container, optionally only those whose names
    start with -Prefix, or match -Blob, as MsiStorage.Blob objects that pipe into Receive-MsiBlob (and
    Remove-MsiBlob).

    .PARAMETER Container
    The blob container. Container objects (from New-MsiStorageContainer or Get-MsiStorageContainer) pipe in by
    their Name and Context. It is the first positional parameter (Get-MsiBlob logs -Context $ctx); unlike
    Get-AzStorageBlob, whose first position is the blob, so name -Blob: Get-MsiBlob logs -Blob '*.log'.

    .PARAMETER Prefix
    Only blobs whose names start with this text, such as 'logs/2026/'. The service filters: the fastest way
    to list part of a large container.

    .PARAMETER Blob
    Only the blob of this name, or, with wildcards (* ? [a-z]; a backtick escapes one), the blobs whose
    names match, ignoring case, as Get-AzStorageBlob -Blob does. A pattern is matched against every blob
    listed (give -Prefix as well to list fewer); a name without wildcards is looked up directly, matched
    exactly (blob names are case-sensitive), and is an ObjectNotFound error (GetMsiBlobBlobNotFound) when
    it is not there.

    .PARAMETER MaxCount
    Return at most this many blobs.

    .PARAMETER Context
    The storage context from New-MsiStorageContext.

    .EXAMPLE
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey (Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct)
    Get-MsiBlob -Container $c -Context $ctx

    The tutorial's flow, then a look at what the container holds.

    .EXAMPLE
    New-Item -ItemType Directory ./logs -Force | Out-Null
    Get-MsiBlob -Container logs -Prefix 2026/11/ -Context $ctx | Receive-MsiBlob -Destination ./logs/

    Downloads every blob under a prefix into the folder ./logs, in one process, blobs in parallel.

    .EXAMPLE
    Get-MsiBlob -Container logs -Prefix 2026/ -Blob '*.gz' -MaxCount 10 -Context $ctx

    The first ten blobs under 2026/ whose names end in .gz.

    .EXAMPLE
    New-MsiStorageContainer -Name backups -Context $ctx | Get-MsiBlob

    A container object pipes in, as Get-AzStorageContainer's do into Get-AzStorageBlob.

    .INPUTS
    Objects with Name (or Container) and Context properties, such as the output of New-MsiStorageContainer.

    .OUTPUTS
    MsiStorage.Blob.

    .LINK
    Receive-MsiBlob
    #>
    [CmdletBinding()]
    [OutputType('MsiStorage.Blob')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipelineByPropertyName = $true)]
        [Alias('Name')]
        [ValidateNotNullOrEmpty()]
        [string] $Container,

        [string] $Prefix,

        [SupportsWildcards()]
        [ValidateNotNullOrEmpty()]
        [string] $Blob,

        [ValidateRange(1, 2147483647)]
        [int] $MaxCount,

        [Parameter(Mandatory = $true, ValueFromPipelineByPropertyName = $true)]
        [object] $Context
    )
    process {
        $contextArgument = ConvertTo-MsiContextArgument -Context $Context -Cmdlet $PSCmdlet -Quietable
        if ($null -eq $contextArgument) { return }
        $arguments = @{ context = $contextArgument; container = $Container }
        if ($Prefix) { $arguments.prefix = $Prefix }
        if ($Blob) { $arguments.blob = $Blob }
        if ($MaxCount) { $arguments.maxCount = $MaxCount }
        $ctx = $Context
        Invoke-MsiNode -Command 'list' -Arguments $arguments -Cmdlet $PSCmdlet -Batch -Quietable -OnItems { param($r) ConvertTo-MsiBlob -Result $r -Context $ctx }
    }
}
