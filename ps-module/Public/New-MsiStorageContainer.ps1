function New-MsiStorageContainer {
    <#
    .SYNOPSIS
    Creates a blob container in the storage account of a context.

    .DESCRIPTION
    The tutorial's "Create a blob container" step, without the portal. Fails with a ResourceExists error
    (ErrorId NewMsiStorageContainerContainerAlreadyExists) if the container exists.

    .PARAMETER Name
    The container's name: 3-63 lowercase letters, digits and single hyphens.

    .PARAMETER Context
    The storage context from New-MsiStorageContext.

    .EXAMPLE
    $token = Get-MsiToken
    $key   = Get-MsiStorageKey -Token $token -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct
    $ctx   = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey $key
    New-MsiStorageContainer -Name mycontainer -Context $ctx
    Send-MsiBlob -File test.txt -Container mycontainer -Blob testblob -Context $ctx

    The tutorial's flow: token, key, context, container, upload.

    .EXAMPLE
    New-MsiStorageContainer -Name backups -Context $ctx -WhatIf

    Shows what would be created, without creating it.

    .INPUTS
    System.String. Container names, one container each ('logs', 'data' | New-MsiStorageContainer -Context $ctx);
    also objects with a Name property.

    .OUTPUTS
    MsiStorage.Container: Name, LastModified, ETag, Context. It pipes into Get-MsiBlob.

    .LINK
    Get-MsiStorageContainer

    .LINK
    Send-MsiBlob

    .LINK
    about_MsiStorage
    #>
    [CmdletBinding(SupportsShouldProcess = $true)]
    [OutputType('MsiStorage.Container')]
    param(
        [Parameter(Mandatory = $true, Position = 0, ValueFromPipeline = $true, ValueFromPipelineByPropertyName = $true)]
        [Alias('Container')]
        [ValidateNotNullOrEmpty()]
        [string] $Name,

        [Parameter(Mandatory = $true)]
        [object] $Context
    )
    process {
        Assert-MsiContext -Context $Context -Cmdlet $PSCmdlet
        $target = "$($Context.BlobEndpoint)$Name"
        try { $confirmed = $PSCmdlet.ShouldProcess($target, 'Create container') }
        catch { Stop-MsiUnconfirmed -Cmdlet $PSCmdlet -ErrorRecord $_ -Target $target -Action 'Create container' }
        if (-not $confirmed) { return }
        $contextArgument = ConvertTo-MsiContextArgument -Context $Context -Cmdlet $PSCmdlet -Quietable
        if ($null -eq $contextArgument) { return }
        # Names down a pipeline are items: one that fails (it exists, it breaks the naming rules) is reported, and
        # the next one is still created, as New-AzStorageContainer does.
        $result = Invoke-MsiNode -Command 'newContainer' -Arguments @{ context = $contextArgument; container = $Name } -Cmdlet $PSCmdlet -Quietable -PerItem:$PSCmdlet.MyInvocation.ExpectingInput
        if ($null -eq $result) { return }
        ConvertTo-MsiContainer -Result $result -Context $Context
    }
}
