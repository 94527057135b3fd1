function Receive-MsiBlob {
    <#
    .SYNOPSIS
    Downloads a blob to a file.

    .DESCRIPTION
    The equivalent of Get-AzStorageBlobContent. Downloads -Blob from -Container to -Destination.

    The blob is written to a temporary file next to the destination and moved into place only when it is
    complete, so a failed download never leaves a partial file, and an existing file is never overwritten
    without -Force (it is left untouched).

    If -Destination is an existing folder, the file is written inside it under the blob's name (folders in
    the blob's name are created inside it). Otherwise -Destination is the file's path, and its folder must
    already exist.

    .PARAMETER Blob
    The blob's name.

    .PARAMETER Container
    The blob container.

    .PARAMETER Destination
    The file to write, or an existing folder to write into.

    .PARAMETER Context
    The storage context from New-MsiStorageContext.

    .PARAMETER Force
    Overwrite the destination file if it exists.

    .EXAMPLE
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey (Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct)
    Receive-MsiBlob -Blob testblob -Container $c -Destination test2.txt -Context $ctx

    The tutorial's flow, ending with the download of testblob to test2.txt.

    .EXAMPLE
    Receive-MsiBlob -Blob logs/app.log -Container diagnostics -Destination C:\Temp -Context $ctx -Force

    Writes C:\Temp\logs\app.log, replacing it if it exists.

    .INPUTS
    Objects with Name (or Blob), Container and Context properties, such as the output of Send-MsiBlob.

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

        [Parameter(Mandatory = $true, ValueFromPipelineByPropertyName = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $Container,

        [Parameter(Mandatory = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $Destination,

        [Parameter(Mandatory = $true, ValueFromPipelineByPropertyName = $true)]
        [object] $Context,

        [switch] $Force
    )
    process {
        $ctx = ConvertTo-MsiContextArgument -Context $Context -Cmdlet $PSCmdlet
        $path = Resolve-MsiPath -Path $Destination -Cmdlet $PSCmdlet
        if (-not $PSCmdlet.ShouldProcess($path, "Download $($Context.BlobEndpoint)$Container/$Blob")) { return }
        $arguments = @{ context = $ctx; container = $Container; blob = $Blob; destination = $path; force = [bool]$Force }
        $result = Invoke-MsiNode -Command 'download' -Arguments $arguments -Cmdlet $PSCmdlet
        ConvertTo-MsiBlob -Result $result -Context $Context
    }
}
