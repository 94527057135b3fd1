function Get-MsiToken {
    <#
    .SYNOPSIS
    Gets an access token from the managed identity of this Azure VM (or another managed-identity source).

    .DESCRIPTION
    Asks the instance's identity endpoint for an OAuth access token for -Resource, the way the tutorial
    "Use a Windows VM MSI to access Azure Storage via access key" does with Invoke-WebRequest, and returns it
    as an object whose Token is a SecureString.

    By default the endpoint is the Azure Instance Metadata Service (IMDS),
    http://169.254.169.254/metadata/identity/oauth2/token, called with api-version=2018-02-01 and the header
    'Metadata: true'. The environment variable AZURE_POD_IDENTITY_AUTHORITY_HOST replaces the IMDS host (for
    example with the MsiStorage emulator). -Endpoint overrides everything, and also accepts the tutorial's
    legacy VM-extension endpoint, http://localhost:50342/oauth2/token.

    Identity endpoints are always contacted directly, never through a proxy.

    .PARAMETER Resource
    The resource (audience) to get a token for. Defaults to Azure Resource Manager,
    'https://management.azure.com/'. Use 'https://storage.azure.com/' for the blob data plane. A scope such as
    'https://storage.azure.com/.default' is accepted too.

    .PARAMETER Endpoint
    The full URL of the token endpoint, when it is not the default IMDS one. For example the legacy
    VM extension, http://localhost:50342/oauth2/token, or the local emulator's URL.

    .PARAMETER TimeoutSec
    One deadline for the whole call, retries included (default 90 seconds; IMDS can be briefly unavailable
    while its host is updated). A machine with no identity endpoint fails within a few seconds regardless.

    .EXAMPLE
    $token = Get-MsiToken
    $key   = Get-MsiStorageKey -Token $token -SubscriptionId $sub -ResourceGroupName $rg -StorageAccountName $acct
    $ctx   = New-MsiStorageContext -StorageAccountName $acct -StorageAccountKey $key
    Send-MsiBlob -File test.txt -Container $c -Blob testblob -Context $ctx

    The tutorial's flow: a token for Azure Resource Manager, the storage account's key, then an upload.

    .EXAMPLE
    Get-MsiToken -Endpoint http://localhost:50342/oauth2/token

    Gets an ARM token from the tutorial's legacy MSI VM extension endpoint.

    .EXAMPLE
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = 'http://127.0.0.1:50123'
    Get-MsiToken -Resource https://storage.azure.com/

    Gets a storage token from an IMDS emulator listening on port 50123 of this machine.

    .INPUTS
    None.

    .OUTPUTS
    MsiStorage.AccessToken. Token (SecureString), ExpiresOn (DateTimeOffset), Resource, TokenType, Source.

    .LINK
    Get-MsiStorageKey
    #>
    [CmdletBinding()]
    [OutputType('MsiStorage.AccessToken')]
    param(
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string] $Resource = 'https://management.azure.com/',

        [uri] $Endpoint,

        [ValidateRange(1, 3600)]
        [int] $TimeoutSec
    )
    $arguments = @{ resource = $Resource }
    if ($Endpoint) { $arguments.endpoint = $Endpoint.OriginalString }
    if ($PSBoundParameters.ContainsKey('TimeoutSec')) { $arguments.timeoutSec = $TimeoutSec }
    $result = Invoke-MsiNode -Command 'token' -Arguments $arguments -Cmdlet $PSCmdlet
    ConvertTo-MsiAccessToken -Result $result
}
