# The shared reply fixtures (tests/fixtures/replies), read by the PowerShell side exactly as vitest checks
# the Node side produces them: neither side can drift without a test failing.
BeforeAll {
    $script:Root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
    Import-Module (Join-Path $Root 'MsiStorage.psd1') -Force
    function Get-Reply([string] $Name) { Get-Content -Raw -LiteralPath (Join-Path $Root "tests/fixtures/replies/$Name.json") | ConvertFrom-Json }
}

Describe 'Reply fixtures through the converters' {
    It 'turns a token reply into MsiStorage.AccessToken' {
        $reply = Get-Reply token
        $token = InModuleScope MsiStorage -Parameters @{ R = $reply.result } { param($R) ConvertTo-MsiAccessToken -Result $R }
        $token.ExpiresOn | Should -Be ([DateTimeOffset]::new(2026, 11, 29, 16, 19, 54, [TimeSpan]::Zero))
        $token.Source | Should -Be 'IMDS'
        $token.ClientId | Should -Be $reply.result.clientId
        (New-Object System.Net.NetworkCredential -ArgumentList '', $token.Token).Password | Should -Be $reply.result.accessToken
    }

    It 'turns a keys reply into MsiStorage.StorageKey' {
        $reply = Get-Reply keys
        $key = InModuleScope MsiStorage -Parameters @{ R = $reply.result } { param($R) ConvertTo-MsiStorageKey -Result $R }
        $key.KeyName | Should -Be 'key1'
        $key.Value | Should -BeOfType [System.Security.SecureString]
        $key.CreationTime | Should -BeOfType [System.DateTimeOffset]
        $key.ResourceGroupName | Should -Be 'msistorage-rg'
        $key.Environment | Should -Be 'AzureCloud'
    }

    It 'turns upload and download replies into MsiStorage.Blob' {
        $up = InModuleScope MsiStorage -Parameters @{ R = (Get-Reply upload).result } { param($R) ConvertTo-MsiBlob -Result $R }
        $up.Length | Should -BeOfType [long]
        $up.LastModified | Should -Be ([DateTimeOffset]::new(2026, 11, 28, 16, 24, 57, [TimeSpan]::Zero))
        $up.PSObject.Properties['Destination'] | Should -BeNullOrEmpty
        $down = InModuleScope MsiStorage -Parameters @{ R = (Get-Reply download).result } { param($R) ConvertTo-MsiBlob -Result $R }
        $down.Destination | Should -Be '/tmp/test2.txt'
    }

    It 'turns an error reply into an ErrorRecord with a stable ErrorId and category' {
        $reply = Get-Reply error-resource-group-not-found
        $record = InModuleScope MsiStorage -Parameters @{ E = $reply.error } {
            param($E)
            function Get-MsiStorageKey { [CmdletBinding()] param() New-MsiErrorRecord -ErrorObject $E -Cmdlet $PSCmdlet }
            Get-MsiStorageKey
        }
        $record.FullyQualifiedErrorId | Should -Be 'GetMsiStorageKeyResourceGroupNotFound'
        $record.CategoryInfo.Category | Should -Be 'ObjectNotFound'
        $record.Exception | Should -BeOfType [System.Management.Automation.ItemNotFoundException]
        $record.Exception.Data['MsiStorage.azureCode'] | Should -Be 'ResourceGroupNotFound'
        $record.Exception.Data['MsiStorage.parameter'] | Should -Be 'ResourceGroupName'
        $record.TargetObject | Should -Be 'mystorage'
        $record.Exception.Data['MsiStorage.target'] | Should -Be 'mystorage'
    }
}
