@{
    RootModule           = 'ps-module/MsiStorage.psm1'
    ModuleVersion = '0.1.0'
    GUID                 = '6f1f2b0e-5d3c-4c59-9a43-2f8b1f6c0a71'
    Author               = 'MsiStorage contributors'
    CompanyName          = 'MsiStorage'
    Copyright            = '(c) MsiStorage contributors. MIT License.'
    Description          = 'Managed identity to Azure Storage in one line: tokens from the VM identity endpoint, storage keys from Azure Resource Manager, and blob upload/download, with no secret in any script.'
    PowerShellVersion    = '5.1'
    CompatiblePSEditions = @('Desktop', 'Core')
    FormatsToProcess     = @('ps-module/MsiStorage.Format.ps1xml')
    TypesToProcess       = @('ps-module/MsiStorage.Types.ps1xml')
    FunctionsToExport    = @(
        'Get-MsiToken'
        'Get-MsiStorageKey'
        'Get-MsiBlob'
        'Get-MsiStorageContainer'
        'New-MsiStorageContext'
        'New-MsiStorageContainer'
        'New-MsiStorageSas'
        'Send-MsiBlob'
        'Receive-MsiBlob'
        'Remove-MsiBlob'
    )
    CmdletsToExport      = @()
    VariablesToExport    = @()
    AliasesToExport      = @()
    PrivateData          = @{
        PSData = @{
            Tags       = @('Azure', 'ManagedIdentity', 'MSI', 'Storage', 'Blob', 'IMDS')
            ProjectUri = 'https://github.com/msistorage/msistorage'
            LicenseUri = 'https://opensource.org/licenses/MIT'
        }
    }
}
