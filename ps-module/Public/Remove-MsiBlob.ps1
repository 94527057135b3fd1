function Remove-MsiBlob {
    <#
    .SYNOPSIS
    Deletes blobs.

    .DESCRIPTION
    The equivalent of Remove-AzStorageBlob. Deletes -Blob from -Container. Blob objects (from Get-MsiBlob or
    Send-MsiBlob) pipe in by property name; one process serves the whole pipeline. Asks for confirmation
    unless -Force is given (or $ConfirmPreference allows); -WhatIf shows what would be deleted and deletes
    nothing. Where no one can be asked (pwsh -NonInteractive: a scheduled task, CI), a deletion that needs a
    confirmation is not done: the cmdlet stops with ...ConfirmationUnavailable. Pass -Force there.

    .PARAMETER Blob
    The blob's name.

    .PARAMETER Container
    The blob container.

    .PARAMETER Context
    The storage context from New-MsiStorageContext.

    .PARAMETER IncludeSnapshots
    Delete the blob's snapshots too (a blob with snapshots cannot be deleted without them).

    .PARAMETER Force
    Do not ask for confirmation.

    .PARAMETER PassThru
    Output an object for each deleted blob.

    .EXAMPLE
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey (Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct)
    Remove-MsiBlob -Blob testblob -Container $c -Context $ctx -Force

    The tutorial's flow, then tidying up the uploaded blob.

    .EXAMPLE
    Get-MsiBlob -Container logs -Prefix 2025/ -Context $ctx | Remove-MsiBlob -WhatIf

    Shows which blobs under a prefix would be deleted.

    .INPUTS
    Objects with Name (or Blob), Container and Context properties, such as the output of Get-MsiBlob.

    .OUTPUTS
    None, or with -PassThru MsiStorage.RemovedBlob: Name, Container, Context.

    .LINK
    Get-MsiBlob
    #>
    [CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]
    [OutputType('MsiStorage.RemovedBlob')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipelineByPropertyName = $true)]
        [Alias('Name')]
        [ValidateNotNullOrEmpty()]
        [string] $Blob,

        [Parameter(Mandatory = $true, Position = 1, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $Container,

        [Parameter(Mandatory = $true, ValueFromPipelineByPropertyName = $true)]
        [object] $Context,

        [switch] $IncludeSnapshots,

        [switch] $Force,

        [switch] $PassThru
    )
    begin {
        $batches = New-Object 'System.Collections.Generic.List[object]'
        $prepared = $null
        if ($Force -and -not $PSBoundParameters.ContainsKey('Confirm')) { $ConfirmPreference = 'None' }
    }
    process {
        Assert-MsiContext -Context $Context -Cmdlet $PSCmdlet
        $target = "$($Context.BlobEndpoint)$Container/$($Blob.Replace('\', '/'))"
        try { $confirmed = $PSCmdlet.ShouldProcess($target, 'Delete blob') }
        catch { Stop-MsiUnconfirmed -Cmdlet $PSCmdlet -ErrorRecord $_ -Target $target -Action 'Delete blob' -Prepared $prepared }
        if (-not $confirmed) { return }
        Add-MsiBatchItem -Batches $batches -Context $Context -Item @{ container = $Container; blob = $Blob }
        if ($null -eq $prepared) { $prepared = Start-MsiNode -Cmdlet $PSCmdlet -Prepare 'remove' }
    }
    end {
        try {
            foreach ($batch in $batches) {
                $arguments = @{ context = ConvertTo-MsiContextArgument -Context $batch.Context -Cmdlet $PSCmdlet; items = $batch.Items.ToArray(); includeSnapshots = [bool]$IncludeSnapshots }
                $node = $prepared
                $prepared = $null
                $removed = Invoke-MsiNode -Command 'remove' -Arguments $arguments -Cmdlet $PSCmdlet -Batch -Prepared $node
                $ctx = $batch.Context
                if ($PassThru) { $removed | ForEach-Object { [pscustomobject]@{ PSTypeName = 'MsiStorage.RemovedBlob'; Name = $_.name; Container = $_.container; Context = $ctx } } }
            }
        }
        finally { Close-MsiNode -Process $prepared }
    }
}
