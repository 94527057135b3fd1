# Pipelines of files and blobs: they are sent to Node as batches, one per storage context (a pipeline usually
# carries one), with the transfer settings the sending and receiving cmdlets share.

# A full file-system path, which PowerShell would resolve to itself: C:\... or \\server\... on Windows; elsewhere
# /... without a backslash (PowerShell reads a backslash as a separator there too).
# The characters that end a folder in a path: '\' and '/' on Windows, '/' elsewhere. (A string search, not
# Path.GetFileName, which on .NET Framework throws on characters such as '"'.)
$script:PathSeparators = [char[]]@([System.IO.Path]::DirectorySeparatorChar, [System.IO.Path]::AltDirectorySeparatorChar)
if ([System.IO.Path]::DirectorySeparatorChar -eq '\') { $script:FullPathPattern = '^([A-Za-z]:[\\/]|\\\\)' } else { $script:FullPathPattern = '^/[^\\]*$' }
# How paths compare: without case on Windows (as its file system), with case elsewhere.
if ([System.IO.Path]::DirectorySeparatorChar -eq '\') { $script:PathComparison = [System.StringComparison]::OrdinalIgnoreCase } else { $script:PathComparison = [System.StringComparison]::Ordinal }

function Add-MsiBatchItem {
    param(
        [Parameter(Mandatory = $true)] [AllowEmptyCollection()] [System.Collections.Generic.List[object]] $Batches,
        [Parameter(Mandatory = $true)] $Context,
        [Parameter(Mandatory = $true)] [hashtable] $Item
    )
    $batch = $null
    foreach ($b in $Batches) { if ([object]::ReferenceEquals($b.Context, $Context)) { $batch = $b } }
    if (-not $batch) {
        $batch = @{ Context = $Context; Items = New-Object 'System.Collections.Generic.List[hashtable]' }
        $Batches.Add($batch)
    }
    $batch.Items.Add($Item)
}

function Add-MsiTransferArgument {
    # The transfer settings Send-MsiBlob and Receive-MsiBlob share, copied into a request when given.
    param([Parameter(Mandatory = $true)] [hashtable] $Arguments, [Parameter(Mandatory = $true)] [hashtable] $Bound)
    $map = @{ BlockSize = 'blockSize'; Concurrency = 'concurrency'; ConcurrentTaskCount = 'fileConcurrency' }
    foreach ($name in $map.Keys) {
        if ($Bound.ContainsKey($name)) { $Arguments[$map[$name]] = $Bound[$name] }
    }
    if ($Bound.ContainsKey('SkipIntegrityCheck') -and $Bound['SkipIntegrityCheck']) { $Arguments.skipIntegrityCheck = $true }
}
