# Pipelines of blobs are sent to Node as batches, one per storage context (a pipeline usually carries one).

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
