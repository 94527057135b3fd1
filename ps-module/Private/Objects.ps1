# Output shaping: replies become typed objects (PSTypeNames MsiStorage.*), secrets as SecureString.

$script:UnixEpoch = New-Object System.DateTimeOffset -ArgumentList 1970, 1, 1, 0, 0, 0, ([TimeSpan]::Zero)
# Times in replies are ISO 8601 text (Node's toISOString, ARM's creationTime): read exactly, with their offset
# and their fraction of a second, whatever the session's culture and time zone. Text without an offset is UTC.
$script:IsoFormats = [string[]]@('yyyy-MM-ddTHH:mm:ss.FFFFFFFK')
$script:Invariant = [System.Globalization.CultureInfo]::InvariantCulture
$script:AssumeUtc = [System.Globalization.DateTimeStyles]::AssumeUniversal

function ConvertTo-MsiDate {
    param($Value)
    if ($null -eq $Value -or $Value -eq '') { return $null }
    if ($Value -is [System.DateTimeOffset]) { return $Value }
    if ($Value -is [datetime]) {
        if ($Value.Kind -eq [System.DateTimeKind]::Unspecified) { $Value = [datetime]::SpecifyKind($Value, [System.DateTimeKind]::Utc) }
        return New-Object System.DateTimeOffset -ArgumentList $Value
    }
    $text = [string]$Value
    $parsed = [System.DateTimeOffset]::MinValue
    if ([System.DateTimeOffset]::TryParseExact($text, $script:IsoFormats, $script:Invariant, $script:AssumeUtc, [ref]$parsed)) { return $parsed }
    return [System.DateTimeOffset]::Parse($text, $script:Invariant, $script:AssumeUtc)
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
    $parsed = [System.DateTimeOffset]::MinValue
    foreach ($r in $Result) {
        $lastModified = $null
        # Node's toISOString(), read in line (a thousand results, a thousand calls saved); see ConvertTo-MsiDate.
        if ($r.lastModified -is [string] -and [System.DateTimeOffset]::TryParseExact($r.lastModified, $script:IsoFormats, $script:Invariant, $script:AssumeUtc, [ref]$parsed)) { $lastModified = $parsed }
        elseif ($r.lastModified) { $lastModified = ConvertTo-MsiDate $r.lastModified }
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
        if ($null -ne $r.destination) {
            Add-Member -InputObject $blob -NotePropertyName 'Destination' -NotePropertyValue $r.destination
            # Its own table view, with the Destination column; still an MsiStorage.Blob for everything else.
            $blob.PSObject.TypeNames.Insert(0, 'MsiStorage.DownloadedBlob')
        }
        $blob
    }
}

function ConvertTo-MsiContainer {
    # A container result (New-MsiStorageContainer, Get-MsiStorageContainer) as an object that pipes into
    # Get-MsiBlob by its Name and Context.
    param([Parameter(Mandatory = $true)] $Result, $Context)
    [pscustomobject]@{
        PSTypeName   = 'MsiStorage.Container'
        Name         = [string]$Result.name
        LastModified = ConvertTo-MsiDate $Result.lastModified
        ETag         = [string]$Result.etag
        Context      = $Context
    }
}

function Assert-MsiContext {
    param($Context, [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet)
    if ($null -ne $Context -and $Context.PSObject.TypeNames -contains 'Deserialized.MsiStorage.StorageContext') {
        Stop-MsiWithError -Cmdlet $Cmdlet -Code 'InvalidContext' -Parameter 'Context' -Message '-Context is a copy of an MsiStorage context that crossed a process boundary (Start-Job, a remote session, Import-Clixml), and a copy carries no key, SAS or token. Make the context where it is used: call New-MsiStorageContext inside the job or session.'
    }
    if ($null -eq $Context -or -not ($Context.PSObject.TypeNames -contains 'MsiStorage.StorageContext')) {
        Stop-MsiWithError -Cmdlet $Cmdlet -Code 'InvalidContext' -Parameter 'Context' -Message '-Context is not an MsiStorage context. Make one with New-MsiStorageContext.'
    }
}

function ConvertTo-MsiContextArgument {
    # The context as the request carries it: its secret in plain text, for stdin only. A managed-identity
    # context whose token nears expiry gets a fresh one first (from the session cache, or the identity).
    # -Quietable: a token refresh that fails is reported as the cmdlet's own call would be (Invoke-MsiNode
    # -Quietable), and $null returned.
    param([Parameter(Mandatory = $true)] $Context, [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet, [switch] $Quietable)
    Assert-MsiContext -Context $Context -Cmdlet $Cmdlet
    $argument = @{ storageAccountName = $Context.StorageAccountName; blobEndpoint = $Context.BlobEndpoint; authType = $Context.AuthType }
    switch ($Context.AuthType) {
        'SharedKey' { $argument.storageAccountKey = ConvertFrom-MsiSecureString -SecureString $Context.StorageAccountKey }
        'SAS' { $argument.sasToken = ConvertFrom-MsiSecureString -SecureString $Context.SasToken }
        'OAuth' {
            if (-not (Test-MsiTokenFresh $Context.TokenExpiresOn)) {
                # The identity the context was made with (New-MsiStorageContext -ClientId ...).
                $identity = @{}
                if ($Context.PSObject.Properties['Identity'] -and $Context.Identity) { $identity = $Context.Identity }
                $token = Resolve-MsiAccessToken -Cmdlet $Cmdlet -Resource $script:StorageResource -Identity $identity -Quietable:$Quietable
                if ($null -eq $token) { return $null }
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
