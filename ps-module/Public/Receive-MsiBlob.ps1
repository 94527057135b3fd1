function Receive-MsiBlob {
    <#
    .SYNOPSIS
    Downloads blobs to files.

    .DESCRIPTION
    The equivalent of Get-AzStorageBlobContent. Downloads -Blob from -Container to -Destination, in parallel
    ranges, into a temporary file next to the destination that is renamed into place only after its length
    and MD5 are verified, so a failed or damaged download never leaves a partial file, and an existing file
    is never overwritten without -Force (it is left untouched).

    If -Destination is an existing folder, the file is written inside it under the blob's name (folders in
    the blob's name are created inside it, and a name cannot climb out of it). On Windows, a blob whose name
    is no valid file name there (a ':', one of <>"|?*\, a device name such as CON, a trailing dot or space)
    is refused with InvalidFileName: give it a -Destination file path. Otherwise -Destination is the file's
    path, and its folder must already exist: Receive-MsiBlob does not create it. A path ending in a slash
    names a folder, which must exist (DestinationFolderNotFound). Two blobs of one pipeline that would land on
    the same file in the folder ('a//b' and 'a/b'; on Windows and macOS, names that differ only in case): the
    first is downloaded, the other gets a DuplicateDestination error; a blob whose file another blob needs as
    a folder ('logs' beside 'logs/app.log') gets DestinationIsDirectory. As with Get-AzStorageBlobContent, a
    -Destination that does not exist is a file name, which fits one blob only: for a pipeline of blobs, give
    an existing folder, best written with a trailing slash (C:\Temp\logs\), so that the meaning never depends
    on how many blobs came.

    Blob objects (from Get-MsiBlob or Send-MsiBlob) pipe in by property name; one process serves the whole
    pipeline, blobs in parallel, and a blob that fails gets its own error while the others go on.

    .PARAMETER Blob
    The blob's name.

    .PARAMETER Container
    The blob container.

    .PARAMETER Destination
    The file to write, or an existing folder to write into (the only choice for several blobs).

    .PARAMETER Context
    The storage context from New-MsiStorageContext.

    .PARAMETER Force
    Overwrite destination files that exist (the new file replaces the old one in one rename). On Windows a
    read-only destination is made writable to be replaced, as Copy-Item -Force does; one that another program
    keeps open fails with DestinationInUse and is left as it was.

    .PARAMETER BlockSize
    The size in bytes of each ranged request (default 8MB).

    .PARAMETER Concurrency
    How many ranges of one blob are fetched at once (default 8).

    .PARAMETER ConcurrentTaskCount
    How many blobs are fetched at once (default 16).

    .PARAMETER SkipIntegrityCheck
    Do not verify the blob's Content-MD5 (the length is still checked). By default a blob with a stored MD5
    is verified, and a mismatch is an error that leaves the destination untouched. A blob without one is
    checked for length only, and -Verbose says so.

    .EXAMPLE
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey (Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct)
    Receive-MsiBlob -Blob testblob -Container $c -Destination test2.txt -Context $ctx

    The tutorial's flow, ending with the download of testblob to test2.txt.

    .EXAMPLE
    New-Item -ItemType Directory C:\Temp\logs -Force | Out-Null
    Get-MsiBlob -Container logs -Prefix 2026/11/ -Context $ctx | Receive-MsiBlob -Destination C:\Temp\logs\

    Downloads every blob under a prefix into a folder, keeping the blobs' folders.

    .INPUTS
    Objects with Name (or Blob), Container and Context properties, such as the output of Get-MsiBlob.

    .OUTPUTS
    MsiStorage.Blob, with a Destination property.

    .LINK
    Send-MsiBlob
    #>
    [CmdletBinding(SupportsShouldProcess = $true)]
    [OutputType('MsiStorage.Blob')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipelineByPropertyName = $true)]
        [Alias('Name')]
        [ValidateNotNullOrEmpty()]
        [string] $Blob,

        [Parameter(Mandatory = $true, Position = 1, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $Container,

        [Parameter(Mandatory = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $Destination,

        [Parameter(Mandatory = $true, ValueFromPipelineByPropertyName = $true)]
        [object] $Context,

        [switch] $Force,

        [ValidateRange(65536, 4194304000)]
        [long] $BlockSize,

        [ValidateRange(1, 64)]
        [int] $Concurrency,

        [ValidateRange(1, 256)]
        [int] $ConcurrentTaskCount,

        [switch] $SkipIntegrityCheck
    )
    begin {
        # One batch per context (a pipeline usually carries one).
        $batches = New-Object 'System.Collections.Generic.List[object]'
        $checkedContext = $null
        $prepared = $null
    }
    process {
        # Once per blob of a pipeline, so kept cheap: a context is checked when it changes, and the path (the
        # destination need not exist yet) is resolved by a direct call rather than through a helper, and not
        # at all when it is a full path already.
        if (-not [object]::ReferenceEquals($Context, $checkedContext)) {
            Assert-MsiContext -Context $Context -Cmdlet $PSCmdlet
            $checkedContext = $Context
        }
        if ($Destination -match $script:FullPathPattern) { $path = $Destination }
        else { $path = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($Destination) }
        # The blob as Azure names it ('\' is '/').
        $action = "Download $($Context.BlobEndpoint)$Container/$($Blob.Replace('\', '/'))"
        try { $confirmed = $PSCmdlet.ShouldProcess($path, $action) }
        catch { Stop-MsiUnconfirmed -Cmdlet $PSCmdlet -ErrorRecord $_ -Target $path -Action $action -Prepared $prepared }
        if (-not $confirmed) { return }
        Add-MsiBatchItem -Batches $batches -Context $Context -Item @{ container = $Container; blob = $Blob; destination = $path }
        # Node starts (and loads the storage SDK) while the rest of the pipeline is bound.
        if ($null -eq $prepared) { $prepared = Start-MsiNode -Cmdlet $PSCmdlet -Prepare 'download' }
    }
    end {
        try {
            foreach ($batch in $batches) {
                $arguments = @{
                    context  = ConvertTo-MsiContextArgument -Context $batch.Context -Cmdlet $PSCmdlet
                    items    = $batch.Items.ToArray()
                    force    = [bool]$Force
                    progress = Test-MsiProgressWanted -Cmdlet $PSCmdlet
                }
                Add-MsiTransferArgument -Arguments $arguments -Bound $PSBoundParameters
                $ctx = $batch.Context
                $node = $prepared
                $prepared = $null
                Invoke-MsiNode -Command 'download' -Arguments $arguments -Cmdlet $PSCmdlet -Batch -Prepared $node -OnItems { param($r) ConvertTo-MsiBlob -Result $r -Context $ctx }
            }
        }
        finally { Close-MsiNode -Process $prepared }
    }
}
