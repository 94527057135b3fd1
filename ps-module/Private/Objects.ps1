# Output shaping: replies become typed objects (PSTypeNames MsiStorage.*), secrets as SecureString.

$script:UnixEpoch = New-Object System.DateTimeOffset -ArgumentList 1970, 1, 1, 0, 0, 0, ([TimeSpan]::Zero)

function ConvertTo-MsiDate {
    param($Value)
    if ($null -eq $Value -or $Value -eq '') { return $null }
    return [System.DateTimeOffset]::Parse([string]$Value, [System.Globalization.CultureInfo]::InvariantCulture)
}

function ConvertTo-MsiAccessToken {
    param([Parameter(Mandatory = $true)] $Result)
    $token = [pscustomobject]@{
        PSTypeName = 'MsiStorage.AccessToken'
        Token      = ConvertTo-MsiSecureString -PlainText $Result.accessToken
        ExpiresOn  = $script:UnixEpoch.AddSeconds([double]$Result.expiresOn)
        Resource   = [string]$Result.resource
        TokenType  = [string]$Result.tokenType
        Source     = [string]$Result.source
        Endpoint   = [string]$Result.endpoint
        ClientId   = $null
    }
    if ($Result.PSObject.Properties['clientId']) { $token.ClientId = [string]$Result.clientId }
    return $token
}

function ConvertTo-MsiStorageKey {
    param([Parameter(Mandatory = $true)] $Result)
    $key = [pscustomobject]@{
        PSTypeName         = 'MsiStorage.StorageKey'
        StorageAccountName = [string]$Result.storageAccountName
        KeyName            = [string]$Result.keyName
        Value              = ConvertTo-MsiSecureString -PlainText $Result.value
        Permissions        = [string]$Result.permissions
        CreationTime       = $null
        SubscriptionId     = $null
        ResourceGroupName  = $null
        Environment        = $null
    }
    foreach ($name in 'SubscriptionId', 'ResourceGroupName', 'Environment') {
        $json = $name.Substring(0, 1).ToLowerInvariant() + $name.Substring(1)
        if ($Result.PSObject.Properties[$json]) { $key.$name = [string]$Result.$json }
    }
    if ($Result.PSObject.Properties['creationTime']) { $key.CreationTime = ConvertTo-MsiDate $Result.creationTime }
    return $key
}

function ConvertTo-MsiBlob {
    # Blob results of a batch, as objects: given a burst of results at a time (-Result takes a list), so that
    # a thousand results cost one call, not a thousand pipeline bindings. Every field is present.
    param([Parameter(Mandatory = $true)] [AllowEmptyCollection()] [object[]] $Result, $Context)
    foreach ($r in $Result) {
        $lastModified = $null
        if ($r.lastModified) { $lastModified = [System.DateTimeOffset]::Parse($r.lastModified, [System.Globalization.CultureInfo]::InvariantCulture) }
        $blob = [pscustomobject]@{
            PSTypeName   = 'MsiStorage.Blob'
            Name         = $r.name
            Container    = $r.container
            BlobType     = $r.blobType
            Length       = [long]$r.length
            ContentType  = $r.contentType
            LastModified = $lastModified
            ETag         = $r.etag
            ContentMD5   = $r.contentMD5
            Context      = $Context
        }
        if ($null -ne $r.destination) { Add-Member -InputObject $blob -NotePropertyName 'Destination' -NotePropertyValue $r.destination }
        $blob
    }
}

function Assert-MsiContext {
    param($Context, [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet)
    if ($null -eq $Context -or -not ($Context.PSObject.TypeNames -contains 'MsiStorage.StorageContext')) {
        Stop-MsiWithError -Cmdlet $Cmdlet -Code 'InvalidContext' -Parameter 'Context' -Message '-Context is not an MsiStorage context. Make one with New-MsiStorageContext.'
    }
}

function ConvertTo-MsiContextArgument {
    # The context as the request carries it: its secret in plain text, for stdin only. A managed-identity
    # context whose token nears expiry gets a fresh one first (from the session cache, or the identity).
    param([Parameter(Mandatory = $true)] $Context, [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet)
    Assert-MsiContext -Context $Context -Cmdlet $Cmdlet
    $argument = @{ storageAccountName = $Context.StorageAccountName; blobEndpoint = $Context.BlobEndpoint; authType = $Context.AuthType }
    switch ($Context.AuthType) {
        'SharedKey' { $argument.storageAccountKey = ConvertFrom-MsiSecureString -SecureString $Context.StorageAccountKey }
        'SAS' { $argument.sasToken = ConvertFrom-MsiSecureString -SecureString $Context.SasToken }
        'OAuth' {
            if (-not (Test-MsiTokenFresh $Context.TokenExpiresOn)) {
                $token = Resolve-MsiAccessToken -Cmdlet $Cmdlet -Resource $script:StorageResource
                $Context.Token = $token.Token
                $Context.TokenExpiresOn = $token.ExpiresOn
            }
            $argument.bearerToken = ConvertFrom-MsiSecureString -SecureString $Context.Token
        }
    }
    return $argument
}

function ConvertTo-MsiStringMap {
    # A hashtable as the request carries it: names and values as strings (Node checks them).
    param([Parameter(Mandatory = $true)] [hashtable] $Table)
    $out = @{}
    foreach ($k in $Table.Keys) { $out[[string]$k] = [string]$Table[$k] }
    return $out
}
