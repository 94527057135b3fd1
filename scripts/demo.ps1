# The tutorial "Use a Windows VM MSI to access Azure Storage via access key", step by step, through the
# module, against the local stack. scripts/demo.ts starts the stack and passes its endpoints; the IMDS
# host comes from AZURE_POD_IDENTITY_AUTHORITY_HOST, exactly as it would on a pod or a test machine.
param(
    [Parameter(Mandatory = $true)] [string] $SubscriptionId,
    [Parameter(Mandatory = $true)] [string] $ResourceGroupName,
    [Parameter(Mandatory = $true)] [string] $StorageAccountName,
    [Parameter(Mandatory = $true)] [string] $ArmEndpoint,
    [Parameter(Mandatory = $true)] [string] $BlobEndpoint
)
$ErrorActionPreference = 'Stop'
Import-Module (Join-Path (Split-Path -Parent $PSScriptRoot) 'MsiStorage.psd1') -Force

function Show-Step([string] $Title, $Object) {
    Write-Host ''
    Write-Host "== $Title" -ForegroundColor Cyan
    Write-Host (($Object | Format-List | Out-String).Trim())
}

$work = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-demo-' + [guid]::NewGuid().ToString('N').Substring(0, 8))
New-Item -ItemType Directory -Path $work | Out-Null
Push-Location $work
try {
    Write-Host "Identity endpoint: $env:AZURE_POD_IDENTITY_AUTHORITY_HOST (emulated IMDS); ARM: $ArmEndpoint; blobs: $BlobEndpoint (Azurite)"

    $token = Get-MsiToken
    Show-Step '1. Get an access token using the VM''s identity (Get-MsiToken)' $token

    $key = Get-MsiStorageKey -Token $token -SubscriptionId $SubscriptionId -ResourceGroupName $ResourceGroupName -StorageAccountName $StorageAccountName -ArmEndpoint $ArmEndpoint
    Show-Step '2. Get the storage account access key from Azure Resource Manager (Get-MsiStorageKey)' $key

    $ctx = New-MsiStorageContext -StorageAccountName $StorageAccountName -StorageAccountKey $key -BlobEndpoint $BlobEndpoint
    Show-Step '3. Create a storage context (New-MsiStorageContext)' $ctx

    $container = 'msidemo'
    Show-Step '4. Create a blob container (New-MsiStorageContainer)' (New-MsiStorageContainer -Name $container -Context $ctx)

    'This is a test text file.' | Out-File -FilePath test.txt -Encoding ascii
    $uploaded = Send-MsiBlob -File test.txt -Container $container -Blob testblob -Context $ctx
    Show-Step '5. Upload test.txt (Send-MsiBlob)' $uploaded

    $downloaded = Receive-MsiBlob -Blob testblob -Container $container -Destination test2.txt -Context $ctx
    Show-Step '6. Download it to test2.txt (Receive-MsiBlob)' $downloaded

    $a = [System.IO.File]::ReadAllBytes((Join-Path $work 'test.txt'))
    $b = [System.IO.File]::ReadAllBytes((Join-Path $work 'test2.txt'))
    if ($a.Length -ne $b.Length -or (Compare-Object $a $b -SyncWindow 0)) {
        Write-Host 'test.txt and test2.txt differ.' -ForegroundColor Red
        exit 1
    }
    Write-Host ''
    Write-Host "test.txt and test2.txt are byte-identical ($($a.Length) bytes)." -ForegroundColor Green
    exit 0
}
finally {
    Pop-Location
    Remove-Item -LiteralPath $work -Recurse -Force -ErrorAction SilentlyContinue
}
