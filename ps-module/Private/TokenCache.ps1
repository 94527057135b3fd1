# The session token cache: tokens in this PowerShell session's memory only, never on disk. An entry is
# reused until 5 minutes before it expires. The key is everything that decides which source answers, for
# which resource and which identity (the source and its endpoint follow from the environment and -Endpoint).

$script:MsiTokenCache = @{}
$script:MsiTokenRefreshMargin = [TimeSpan]::FromMinutes(5)

function Get-MsiTokenCacheKey {
    param([string] $Resource, [string] $Endpoint, [hashtable] $Identity)
    if ($null -eq $Identity) { $Identity = @{} }
    # A /.default scope is the resource it names, as Node sends it (normalizeResource): one entry for both.
    # Other spellings stay apart: the token's audience is the resource as it was asked for.
    $Resource = $Resource.Trim()
    if ($Resource -match '^(.+)/\.default$') {
        $Resource = $Matches[1]
        if ($Resource -match '^https?://[^/]+$') { $Resource += '/' }
    }
    return "endpoint=$Endpoint|IDENTITY_ENDPOINT=$env:IDENTITY_ENDPOINT|IDENTITY_HEADER=$([bool]$env:IDENTITY_HEADER)|IMDS_ENDPOINT=$env:IMDS_ENDPOINT|" +
        "MSI_ENDPOINT=$env:MSI_ENDPOINT|AZURE_POD_IDENTITY_AUTHORITY_HOST=$env:AZURE_POD_IDENTITY_AUTHORITY_HOST|resource=$Resource|" +
        "clientId=$($Identity['clientId'])|objectId=$($Identity['objectId'])|identityResourceId=$($Identity['identityResourceId'])"
}

function Test-MsiTokenFresh {
    param($ExpiresOn)
    return ($null -ne $ExpiresOn -and $ExpiresOn -gt [DateTimeOffset]::UtcNow.Add($script:MsiTokenRefreshMargin))
}

function Get-MsiCachedToken {
    param([Parameter(Mandatory = $true)] [string] $Key)
    $entry = $script:MsiTokenCache[$Key]
    if (-not $entry) { return $null }
    if (-not (Test-MsiTokenFresh $entry.ExpiresOn)) {
        $script:MsiTokenCache.Remove($Key)
        return $null
    }
    return $entry
}

function Set-MsiCachedToken {
    param([Parameter(Mandatory = $true)] [string] $Key, [Parameter(Mandatory = $true)] $Token)
    $script:MsiTokenCache[$Key] = $Token
}
