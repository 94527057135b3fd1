function Get-MsiStorageContainer {
    <#
    .SYNOPSIS
    Lists the blob containers of the storage account of a context.

    .DESCRIPTION
    The equivalent of Get-AzStorageContainer. Lists the account's containers, all of them, those whose names
    start with -Prefix, or the one named (or matched, with wildcards) by -Name, as MsiStorage.Container
    objects that pipe into Get-MsiBlob.

    .PARAMETER Name
    Only the container of this name (an error if it does not exist), or, with wildcards (* ? [a-z]; a
    backtick escapes one), the containers whose names match, ignoring case, as Get-AzStorageContainer -Name
    does.

    .PARAMETER Prefix
    Only containers whose names start with this text. The service filters.

    .PARAMETER MaxCount
    Return at most this many containers.

    .PARAMETER Context
    The storage context from New-MsiStorageContext.

    .EXAMPLE
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey (Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct)
    Get-MsiStorageContainer -Context $ctx

    The tutorial's flow, then the account's containers.

    .EXAMPLE
    Get-MsiStorageContainer -Name 'backup-*' -Context $ctx | Get-MsiBlob

    The blobs of every container whose name starts with backup-.

    .EXAMPLE
    if (-not (Get-MsiStorageContainer -Name logs -Context $ctx -ErrorAction SilentlyContinue)) { New-MsiStorageContainer -Name logs -Context $ctx }

    Creates the container only when it is missing. A name that is not there is an ObjectNotFound error
    (GetMsiStorageContainerContainerNotFound), which -ErrorAction SilentlyContinue turns into no output.

    .INPUTS
    None.

    .OUTPUTS
    MsiStorage.Container: Name, LastModified, ETag, Context.

    .LINK
    New-MsiStorageContainer

    .LINK
    Get-MsiBlob

    .LINK
    about_MsiStorage
    #>
    [CmdletBinding(DefaultParameterSetName = 'Name')]
    [OutputType('MsiStorage.Container')]
    param(
        [Parameter(Position = 0, ParameterSetName = 'Name')]
        [Alias('Container')]
        [SupportsWildcards()]
        [ValidateNotNullOrEmpty()]
        [string] $Name,

        [Parameter(Mandatory = $true, ParameterSetName = 'Prefix')]
        [ValidateNotNullOrEmpty()]
        [string] $Prefix,

        [ValidateRange(1, 2147483647)]
        [int] $MaxCount,

        [Parameter(Mandatory = $true)]
        [object] $Context
    )
    $contextArgument = ConvertTo-MsiContextArgument -Context $Context -Cmdlet $PSCmdlet -Quietable
    if ($null -eq $contextArgument) { return }
    $arguments = @{ context = $contextArgument }
    if ($Name) { $arguments.name = $Name }
    if ($Prefix) { $arguments.prefix = $Prefix }
    if ($MaxCount) { $arguments.maxCount = $MaxCount }
    $ctx = $Context
    Invoke-MsiNode -Command 'containers' -Arguments $arguments -Cmdlet $PSCmdlet -Batch -Quietable -OnItems { param($r) foreach ($c in $r) { ConvertTo-MsiContainer -Result $c -Context $ctx } }
}
