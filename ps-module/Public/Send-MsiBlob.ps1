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
    The file to upload. Relative paths are resolved against the current location.

    .PARAMETER Container
    The blob container.

    .PARAMETER Blob
    The blob's name. Defaults to the file's name.

    .PARAMETER Context
    The storage context from New-MsiStorageContext.

    .PARAMETER Force
    Overwrite the blob if it exists.

    .PARAMETER ContentType
    The blob's Content-Type. Defaults to a type guessed from the file's extension, else
    application/octet-stream.

    .PARAMETER Metadata
    Metadata name/value pairs to store on the blob.

    .EXAMPLE
    $ctx = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey (Get-MsiStorageKey -Token (Get-MsiToken) -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct)
    Send-MsiBlob -File test.txt -Container $c -Blob testblob -Context $ctx

    The tutorial's flow, ending with the upload of test.txt as testblob.

    .EXAMPLE
    Send-MsiBlob -File .\report.csv -Container reports -Context $ctx -Force -Metadata @{ source = 'nightly' }

    Uploads report.csv as the blob report.csv, overwriting it if it exists, with metadata.

    .INPUTS
    System.String. A path, or objects with a FullName property (Get-ChildItem output), by property name.

    .OUTPUTS
    MsiStorage.Blob. Name, Container, BlobType, Length, ContentType, LastModified, ETag.

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

        [Parameter(Mandatory = $true)]
        [ValidateNotNullOrEmpty()]
        [string] $Container,

        [ValidateNotNullOrEmpty()]
        [string] $Blob,

        [Parameter(Mandatory = $true)]
        [object] $Context,

        [switch] $Force,

        [ValidateNotNullOrEmpty()]
        [string] $ContentType,

        [hashtable] $Metadata
    )
    begin {
        $ctx = ConvertTo-MsiContextArgument -Context $Context -Cmdlet $PSCmdlet
    }
    process {
        $path = Resolve-MsiPath -Path $File -Cmdlet $PSCmdlet
        $name = $Blob
        if (-not $name) { $name = [System.IO.Path]::GetFileName($path) }
        if (-not $PSCmdlet.ShouldProcess("$($Context.BlobEndpoint)$Container/$name", "Upload '$path'")) { return }
        $arguments = @{ context = $ctx; file = $path; container = $Container; blob = $name; force = [bool]$Force }
        if ($ContentType) { $arguments.contentType = $ContentType }
        if ($Metadata) {
            $meta = @{}
            foreach ($k in $Metadata.Keys) { $meta[[string]$k] = [string]$Metadata[$k] }
            $arguments.metadata = $meta
        }
        $result = Invoke-MsiNode -Command 'upload' -Arguments $arguments -Cmdlet $PSCmdlet
        ConvertTo-MsiBlob -Result $result -Context $Context
    }
}
