function Send-MsiBlob {
    <#
    .SYNOPSIS
    Uploads a file to a block blob.

    .DESCRIPTION
    The equivalent of Set-AzStorageBlobContent. Uploads -File to -Container as a block blob named -Blob
    (default: the file's name).

    An existing blob is never overwritten without -Force: the upload is a conditional request
    (If-None-Match: *), so the service itself refuses it, with no window between a check and the write.

    .PARAMETER File
    The file to upload. Relative paths are resolved against the current location. Takes pipeline input,
    also by property name (FullName), so Get-ChildItem output pipes in.

    .PARAMETER Container
    The blob container.

    .PARAMETER Blob
    The blob's name, for a single file. Defaults to the file's path relative to -SourceRoot, else its name.
    '/' makes virtual folders; '.' and '..' segments are refused, since a URL would resolve them to another
    blob or container.

    .PARAMETER SourceRoot
    For a pipeline of files: blob names are the files' paths relative to this folder, with '/' separators,
    so that a folder tree keeps its structure. Folders that come down the pipeline with their files
    (Get-ChildItem -Recurse without -File) are then skipped. A file outside it gets its own error
    (FileOutsideSourceRoot) and is not uploaded; the other files are.

    .PARAMETER Context
    The storage context from New-MsiStorageContext.

    .PARAMETER Force
    Overwrite blobs that exist.

    .PARAMETER ContentType
    The blobs' Content-Type. Defaults to a type guessed from each file's extension, else application/octet-stream.

    .PARAMETER Metadata
    Metadata name/value pairs to store on the blobs.

    .PARAMETER Properties
    Blob properties: a hashtable with any of CacheControl, ContentDisposition, ContentEncoding, ContentLanguage,
    and ContentType (as Set-AzStorageBlobContent takes it; the same as -ContentType).

    .PARAMETER StandardBlobTier
    The access tier: Hot, Cool, Cold or Archive.

    .PARAMETER BlockSize
    The block size in bytes for files larger than one block (default 8MB; files up to one block are sent
    in one request). It grows automatically so that no file needs more than 50,000 blocks. Each block in
    flight is held in memory: the transfer uses at most about 96 MB, and one block at a time when a block
    is larger than that.

    .PARAMETER Concurrency
    How many blocks of one file are sent at once (default 8).

    .PARAMETER ConcurrentTaskCount
    How many files are sent at once (default 16).

    .PARAMETER SkipIntegrityCheck
    Do not compute the file's MD5. By default it is computed while the file is read and stored as the blob's
    Content-MD5 (also for block uploads), so that downloads can verify it. Without it, a blob sent in one
    Put Blob still gets the Content-MD5 the service computes; one sent in blocks has none (ContentMD5 is
    empty in the output).

    .EXAMPLE
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey (Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct)
    Send-MsiBlob -File test.txt -Container $c -Blob testblob -Context $ctx

    The tutorial's flow, ending with the upload of test.txt as testblob.

    .EXAMPLE
    Get-ChildItem -File -Recurse .\logs | Send-MsiBlob -Container logs -SourceRoot .\logs -Context $ctx

    Uploads a folder tree; blob names keep the folders. One process serves the whole pipeline, files in
    parallel; a file that fails gets its own error and the others go on.

    .EXAMPLE
    Send-MsiBlob -File .\report.csv -Container reports -Context $ctx -Force -Metadata @{ source = 'nightly' } -Properties @{ CacheControl = 'no-cache' }

    Uploads report.csv, overwriting it, with metadata and a Cache-Control header.

    .INPUTS
    System.String, or objects with a FullName property (Get-ChildItem output).

    .OUTPUTS
    MsiStorage.Blob. Name, Container, BlobType, Length, ContentType, LastModified, ETag, ContentMD5.

    .NOTES
    Existing blobs are never overwritten without -Force: the write is conditional (If-None-Match: *), so
    the service itself refuses it. A failed upload commits nothing under the blob's name. Progress shows
    bytes, percent and rate for files over 4 MiB, and files done of total for batches.

    .LINK
    Receive-MsiBlob
    #>
    [CmdletBinding(SupportsShouldProcess = $true)]
    [OutputType('MsiStorage.Blob')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [Alias('FullName', 'Path')]
        [ValidateNotNullOrEmpty()]
        [string] $File,

        [Parameter(Mandatory = $true, Position = 1)]
        [ValidateNotNullOrEmpty()]
        [string] $Container,

        [ValidateNotNullOrEmpty()]
        [string] $Blob,

        [ValidateNotNullOrEmpty()]
        [string] $SourceRoot,

        [Parameter(Mandatory = $true)]
        [object] $Context,

        [switch] $Force,

        [ValidateNotNullOrEmpty()]
        [string] $ContentType,

        [hashtable] $Metadata,

        [hashtable] $Properties,

        [ValidateSet('Hot', 'Cool', 'Cold', 'Archive')]
        [string] $StandardBlobTier,

        [ValidateRange(65536, 4194304000)]
        [long] $BlockSize,

        [ValidateRange(1, 64)]
        [int] $Concurrency,

        [ValidateRange(1, 256)]
        [int] $ConcurrentTaskCount,

        [switch] $SkipIntegrityCheck
    )
    begin {
        Assert-MsiContext -Context $Context -Cmdlet $PSCmdlet
        $items = New-Object 'System.Collections.Generic.List[hashtable]'
        $skippedFolders = New-Object 'System.Collections.Generic.List[string]'
        $filesSeen = $false
        $prepared = $null
        # -WhatIf and -Confirm say what each blob will be called (as Node names it: -Blob, else the path under
        # -SourceRoot, else the file's name; '\' is '/'), and what happens to one that exists.
        $blobBase = "$($Context.BlobEndpoint)$Container/"
        if ($Force) { $overwrite = ', replacing the blob if it exists' } else { $overwrite = ', unless the blob exists' }
        $rootPrefix = $null
        if ($SourceRoot) {
            try { $rootPrefix = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($SourceRoot).TrimEnd('\', '/') + [System.IO.Path]::DirectorySeparatorChar }
            catch { $rootPrefix = $null }
        }
    }
    process {
        # Get-ChildItem -Recurse without -File, for a tree (-SourceRoot): its folders come along with their
        # files; the files are what is uploaded.
        if ($SourceRoot -and $_ -is [System.IO.DirectoryInfo] -and $PSCmdlet.MyInvocation.ExpectingInput) {
            Write-MsiVerbose -Cmdlet $PSCmdlet -Message "Skipping the folder '$($_.FullName)': its files are uploaded as they come down the pipeline."
            $skippedFolders.Add($_.FullName)
            return
        }
        # A PowerShell path (relative, ~, a PSDrive) as a file-system path; Node checks the file itself. Called
        # directly, not through a helper function: this runs once per file of a pipeline. A full path (what
        # Get-ChildItem's FullName is) needs no resolving, which for a thousand files saves a tenth of a second.
        if ($File -match $script:FullPathPattern) { $path = $File }
        else { $path = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($File) }
        $filesSeen = $true
        if ($Blob -and $items.Count -gt 0) {
            Close-MsiNode -Process $prepared
            Stop-MsiWithError -Cmdlet $PSCmdlet -Code 'BlobNameForManyFiles' -Parameter 'Blob' -Message "-Blob names one blob, but several files came down the pipeline. Leave -Blob out (each blob is named after its file), or give -SourceRoot."
        }
        if ($Blob) { $name = $Blob }
        elseif ($rootPrefix) {
            # As Node names it, and refuses it: a file outside -SourceRoot gets its own error, and is neither
            # sent nor listed by -WhatIf; the files before and after it go on. Node compares the path cleaned
            # up ('..', '//', and '/' for '' on Windows): so does this, when the path as given does not
            # already start with the root.
            $under = $path
            if (-not $under.StartsWith($rootPrefix, $script:PathComparison)) {
                try { $under = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($path) } catch { $under = $path }
                if ([System.IO.Path]::DirectorySeparatorChar -eq '\') { $under = $under.Replace('/', '\') }
            }
            if (-not $under.StartsWith($rootPrefix, $script:PathComparison)) {
                Write-MsiItemError -Cmdlet $PSCmdlet -Code 'FileOutsideSourceRoot' -Parameter 'SourceRoot' -Target $path -Prepared $prepared -Message "'$path' is not inside -SourceRoot '$SourceRoot', so it has no blob name under it, and was not uploaded. Give a -SourceRoot that contains every file, or leave this file out."
                return
            }
            $name = $under.Substring($rootPrefix.Length)
        }
        else { $name = $path.Substring($path.LastIndexOfAny($script:PathSeparators) + 1) }
        $action = 'Upload as ' + $blobBase + $name.Replace('\', '/') + $overwrite
        try { $confirmed = $PSCmdlet.ShouldProcess($path, $action) }
        catch { Stop-MsiUnconfirmed -Cmdlet $PSCmdlet -ErrorRecord $_ -Target $path -Action $action -Prepared $prepared }
        if (-not $confirmed) { return }
        $item = @{ file = $path }
        if ($Blob) { $item.blob = $Blob }
        $items.Add($item)
        # Node starts (and loads the storage SDK) while the rest of the pipeline is bound.
        if ($null -eq $prepared) { $prepared = Start-MsiNode -Cmdlet $PSCmdlet -Prepare 'upload' }
    }
    end {
        try {
            # Folders alone (Get-Item .\site | Send-MsiBlob -SourceRoot ...) would upload nothing, and say
            # nothing: they go to Node as the files they were given as, each to get the error a folder does.
            if (-not $filesSeen) { foreach ($folder in $skippedFolders) { $items.Add(@{ file = $folder }) } }
            if ($items.Count -eq 0) { return }
            $arguments = @{
                context   = ConvertTo-MsiContextArgument -Context $Context -Cmdlet $PSCmdlet
                container = $Container
                items     = $items.ToArray()
                force     = [bool]$Force
                progress  = Test-MsiProgressWanted -Cmdlet $PSCmdlet
            }
            if ($SourceRoot) { $arguments.sourceRoot = $PSCmdlet.SessionState.Path.GetUnresolvedProviderPathFromPSPath($SourceRoot) }
            if ($ContentType) { $arguments.contentType = $ContentType }
            if ($StandardBlobTier) { $arguments.tier = $StandardBlobTier }
            Add-MsiTransferArgument -Arguments $arguments -Bound $PSBoundParameters
            if ($Metadata) { $arguments.metadata = ConvertTo-MsiStringMap $Metadata }
            if ($Properties) { $arguments.properties = ConvertTo-MsiStringMap $Properties }
            $node = $prepared
            $prepared = $null
            Invoke-MsiNode -Command 'upload' -Arguments $arguments -Cmdlet $PSCmdlet -Batch -Prepared $node -OnItems { param($r) ConvertTo-MsiBlob -Result $r -Context $Context }
        }
        finally { Close-MsiNode -Process $prepared }
    }
}
