# Secrets are SecureString on this side. They become plain text only here, only to be written into the
# request on Node's stdin, and replies' secrets become SecureString at once.

function ConvertTo-MsiSecureString {
    param([Parameter(Mandatory = $true)] [AllowEmptyString()] [string] $PlainText)
    if ($PlainText.Length -eq 0) { return (New-Object System.Security.SecureString) }
    # What ConvertTo-SecureString -AsPlainText does, without a cmdlet call (this runs on every token and key).
    $secure = [System.Net.NetworkCredential]::new('', $PlainText).SecurePassword
    $secure.MakeReadOnly()
    return $secure
}

function ConvertFrom-MsiSecureString {
    param([Parameter(Mandatory = $true)] [System.Security.SecureString] $SecureString)
    $bstr = [System.Runtime.InteropServices.Marshal]::SecureStringToBSTR($SecureString)
    try { return [System.Runtime.InteropServices.Marshal]::PtrToStringBSTR($bstr) }
    finally { [System.Runtime.InteropServices.Marshal]::ZeroFreeBSTR($bstr) }
}

function Get-MsiSecretText {
    # Accepts what users pass as a secret: the module's own objects (token, key), a SecureString, or a
    # string (as the tutorial's $key is). Returns the plain text for the request, or $null if unusable.
    param($Value, [string[]] $PropertyNames = @('Token', 'Value'))
    if ($null -eq $Value) { return $null }
    if ($Value -is [System.Security.SecureString]) { return ConvertFrom-MsiSecureString -SecureString $Value }
    if ($Value -is [string]) { return $Value }
    foreach ($name in $PropertyNames) {
        if ($Value.PSObject.Properties[$name]) { return Get-MsiSecretText -Value $Value.$name -PropertyNames @() }
    }
    return $null
}
