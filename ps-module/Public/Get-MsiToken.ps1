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
    'https://management.azure.com/'. Use 'https://storage.azure.com/' for the blob data plane. The resource
    may be given with or without its trailing slash, or as a scope ending in '/.default'.

    .PARAMETER Endpoint
    The full URL of the token endpoint, overriding the source detected from the environment. For example
    the tutorial's legacy VM extension, http://localhost:50342/oauth2/token, or the local emulator.

    .PARAMETER ClientId
    The client (application) id of a user-assigned identity to use instead of the system-assigned one.

    .PARAMETER ObjectId
    The object (principal) id of a user-assigned identity to use instead of the system-assigned one.

    .PARAMETER IdentityResourceId
    The Azure resource id of a user-assigned identity to use instead of the system-assigned one
    (/subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>).

    .PARAMETER TimeoutSec
    One deadline for the whole call, retries included (default 90 seconds, so that IMDS's documented
    410 "updating" window of 70 seconds is covered). A machine with no identity endpoint fails within about
    two seconds regardless: connecting is bounded separately.

    .PARAMETER Force
    Get a new token even if the session cache holds a valid one.

    .PARAMETER AsPlainText
    Return the token as a plain string, for interop with Invoke-RestMethod -Headers @{ Authorization = "Bearer $t" }.
    It is not the default because a plain string stays readable in memory, in transcripts and in
    $Error; the default SecureString object keeps the token out of view until a cmdlet needs it.

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
    Get-MsiToken -Resource https://storage.azure.com/ -ClientId 5e29463d-71da-4fe0-8e69-999b57db23b0

    Gets a storage token for a user-assigned identity.

    .EXAMPLE
    $t = Get-MsiToken -AsPlainText
    Invoke-RestMethod -Uri "https://management.azure.com/subscriptions?api-version=2022-12-01" -Headers @{ Authorization = "Bearer $t" }

    Uses the token with Invoke-RestMethod.

    .EXAMPLE
    $env:AZURE_POD_IDENTITY_AUTHORITY_HOST = 'http://127.0.0.1:50123'
    Get-MsiToken -Resource https://storage.azure.com/

    Gets a storage token from an IMDS emulator listening on port 50123 of this machine.

    .INPUTS
    None.

    .OUTPUTS
    MsiStorage.AccessToken: Token (SecureString), ExpiresOn (DateTimeOffset), Resource, TokenType, Source
    (IMDS, AppService, AzureArc, CloudShell or VMExtension). System.String with -AsPlainText.

    .NOTES
    Sources are detected as MSAL does, in its order: App Service (IDENTITY_ENDPOINT and IDENTITY_HEADER),
    Cloud Shell (MSI_ENDPOINT), Azure Arc (IDENTITY_ENDPOINT and IMDS_ENDPOINT), else IMDS. Tokens are cached in the
    session's memory, per source, endpoint, resource and identity, until 5 minutes before they expire; a
    cached call starts no process. Retries follow Microsoft's IMDS guidance (404, 408, 410, 429, 5xx and
    timeouts; Retry-After honoured; at least 1 second apart; 410 retried for up to 70 seconds). App Service,
    Azure Arc and Cloud Shell get MSAL's default policy (404, 408, 429, 500, 503 and 504, three retries).

    .LINK
    Get-MsiStorageKey
    #>
    [CmdletBinding(DefaultParameterSetName = 'SystemAssigned')]
    [OutputType('MsiStorage.AccessToken', [string])]
    param(
        [Parameter(Position = 0)]
        [ValidateNotNullOrEmpty()]
        [string] $Resource = 'https://management.azure.com/',

        [uri] $Endpoint,

        [Parameter(Mandatory = $true, ParameterSetName = 'ClientId')]
        [ValidateNotNullOrEmpty()]
        [string] $ClientId,

        [Parameter(Mandatory = $true, ParameterSetName = 'ObjectId')]
        [ValidateNotNullOrEmpty()]
        [string] $ObjectId,

        [Parameter(Mandatory = $true, ParameterSetName = 'IdentityResourceId')]
        [ValidateNotNullOrEmpty()]
        [string] $IdentityResourceId,

        [ValidateRange(1, 3600)]
        [int] $TimeoutSec,

        [switch] $Force,

        [switch] $AsPlainText
    )
    $identity = Get-MsiIdentitySelector -Bound $PSBoundParameters
    $endpointText = $null
    if ($Endpoint) { $endpointText = $Endpoint.OriginalString }
    $token = Resolve-MsiAccessToken -Cmdlet $PSCmdlet -Resource $Resource -Endpoint $endpointText -Identity $identity -TimeoutSec $TimeoutSec -Force:$Force -Quietable
    if ($null -eq $token) { return }
    if ($AsPlainText) { return ConvertFrom-MsiSecureString -SecureString $token.Token }
    $token
}
