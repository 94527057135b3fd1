# Getting tokens through the session cache, for Get-MsiToken and for every cmdlet that needs one: the cache
# first, else one Node call; and caching the tokens Node fetched on its own (returned in a reply's token
# fields) so that the next call needs no identity request.

$script:ArmResource = 'https://management.azure.com/'
$script:StorageResource = 'https://storage.azure.com/'
# The resource of ARM tokens in each cloud (src/arm/clouds.ts).
$script:ArmResources = [ordered]@{
    AzureCloud        = 'https://management.azure.com/'
    AzureUSGovernment = 'https://management.usgovcloudapi.net/'
    AzureChinaCloud   = 'https://management.chinacloudapi.cn/'
}

function Resolve-MsiAccessToken {
    param(
        [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [string] $Resource = $script:ArmResource,
        [string] $Endpoint,
        [hashtable] $Identity = @{},
        [int] $TimeoutSec,
        [switch] $Force,
        # Get-MsiToken's own call: see Invoke-MsiNode -Quietable ($null when the failure was reported quietly).
        [switch] $Quietable
    )
    $cacheKey = Get-MsiTokenCacheKey -Resource $Resource -Endpoint $Endpoint -Identity $Identity
    if (-not $Force) {
        $token = Get-MsiCachedToken -Key $cacheKey
        if ($token) {
            Write-MsiVerbose -Cmdlet $Cmdlet -Message "Using the session's cached token for $($token.Resource) from $($token.Source) (expires $($token.ExpiresOn.ToString('u')))."
            return $token
        }
    }
    $arguments = @{ resource = $Resource } + $Identity
    if ($Endpoint) { $arguments.endpoint = $Endpoint }
    if ($TimeoutSec) { $arguments.timeoutSec = $TimeoutSec }
    $result = Invoke-MsiNode -Command 'token' -Arguments $arguments -Cmdlet $Cmdlet -Quietable:$Quietable
    if ($null -eq $result) { return $null }
    $token = ConvertTo-MsiAccessToken -Result $result
    Set-MsiCachedToken -Key $cacheKey -Token $token
    return $token
}

function Add-MsiArmTokenArgument {
    # Fills the request's ARM token: -Token when given, else the session's cached ARM token (Node replaces
    # it if it does not fit the account's cloud, and returns the one it got).
    param([Parameter(Mandatory = $true)] [hashtable] $Arguments, [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet, $Token, [switch] $TokenGiven)
    if ($TokenGiven) {
        $plain = Get-MsiSecretText -Value $Token
        if (-not $plain) {
            Stop-MsiWithError -Cmdlet $Cmdlet -Code 'InvalidToken' -Parameter 'Token' -Message '-Token is empty or not a token. Pass the object from Get-MsiToken, or leave -Token out to get one automatically.'
        }
        $Arguments.token = $plain
        return
    }
    # The ARM token of the user's -Environment first, else any cloud's: Node replaces one that does not fit.
    $identity = $Arguments['identity']
    $resources = @($script:ArmResources.Values)
    if ($Arguments['environment']) { $resources = @($script:ArmResources[$Arguments['environment']]) + $resources }
    $cached = $null
    foreach ($resource in $resources) {
        $cached = Get-MsiCachedToken -Key (Get-MsiTokenCacheKey -Resource $resource -Identity $identity)
        if ($cached) { break }
    }
    if ($cached) {
        Write-MsiVerbose -Cmdlet $Cmdlet -Message "Using the session's cached Azure Resource Manager token (expires $($cached.ExpiresOn.ToString('u')))."
        $Arguments.token = ConvertFrom-MsiSecureString -SecureString $cached.Token
        $Arguments.tokenFromCache = $true
    }
}

function Save-MsiReturnedToken {
    # A reply's 'token' (an ARM token Node fetched) goes into the session cache, and out of the reply.
    param([Parameter(Mandatory = $true)] $Result, [string] $Property = 'token', [hashtable] $Identity)
    if (-not ($Result.PSObject.Properties[$Property] -and $Result.$Property)) { return $null }
    $token = ConvertTo-MsiAccessToken -Result $Result.$Property
    Set-MsiCachedToken -Key (Get-MsiTokenCacheKey -Resource $token.Resource -Identity $Identity) -Token $token
    $Result.PSObject.Properties.Remove($Property)
    return $token
}

function Add-MsiAccountArgument {
    # The parameters that locate a storage account, shared by Get-MsiStorageKey, New-MsiStorageContext and
    # New-MsiStorageSas, copied into a request; with the user-assigned identity that gets their tokens.
    param([Parameter(Mandatory = $true)] [hashtable] $Arguments, [Parameter(Mandatory = $true)] [hashtable] $Bound)
    $map = @{
        StorageAccountName = 'storageAccountName'; ResourceGroupName = 'resourceGroupName'; SubscriptionId = 'subscriptionId'
        ResourceId = 'resourceId'; Environment = 'environment'; KeyName = 'keyName'; TimeoutSec = 'timeoutSec'
    }
    foreach ($name in $map.Keys) {
        if ($Bound.ContainsKey($name)) { $Arguments[$map[$name]] = $Bound[$name] }
    }
    if ($Bound.ContainsKey('ArmEndpoint')) { $Arguments.armEndpoint = ([uri]$Bound['ArmEndpoint']).OriginalString }
    $identity = Get-MsiIdentitySelector -Bound $Bound
    if ($identity.Count) { $Arguments.identity = $identity }
}

function Get-MsiIdentitySelector {
    # -ClientId, -ObjectId or -IdentityResourceId as the request's identity fields (Node checks them).
    param([Parameter(Mandatory = $true)] [hashtable] $Bound)
    $identity = @{}
    if ($Bound['ClientId']) { $identity.clientId = [string]$Bound['ClientId'] }
    if ($Bound['ObjectId']) { $identity.objectId = [string]$Bound['ObjectId'] }
    if ($Bound['IdentityResourceId']) { $identity.identityResourceId = [string]$Bound['IdentityResourceId'] }
    return $identity
}
