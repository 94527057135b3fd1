BeforeAll {
    $script:Root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
    $script:ManifestPath = Join-Path $Root 'MsiStorage.psd1'
}

Describe 'The module manifest' {
    It 'passes Test-ModuleManifest' {
        { Test-ModuleManifest -Path $ManifestPath -ErrorAction Stop } | Should -Not -Throw
    }

    It 'exports by name exactly one function per file in ps-module/Public' {
        $manifest = Import-PowerShellDataFile -Path $ManifestPath
        $files = Get-ChildItem -LiteralPath (Join-Path $Root 'ps-module/Public') -Filter '*.ps1' | ForEach-Object { $_.BaseName }
        @($manifest.FunctionsToExport | Sort-Object) | Should -Be @($files | Sort-Object)
        $manifest.FunctionsToExport | Should -Not -Contain '*'
    }

    It 'carries the version from package.json' {
        $package = Get-Content -Raw -LiteralPath (Join-Path $Root 'package.json') | ConvertFrom-Json
        (Import-PowerShellDataFile -Path $ManifestPath).ModuleVersion | Should -Be $package.version
    }

    It 'exports nothing private' {
        $module = Import-Module $ManifestPath -Force -PassThru
        $module.ExportedFunctions.Keys | Should -Not -Contain 'Invoke-MsiNode'
        $module.ExportedFunctions.Keys | Should -Not -Contain 'ConvertFrom-MsiSecureString'
    }
}

Describe 'Help' {
    BeforeDiscovery {
        $manifest = Import-PowerShellDataFile -Path (Join-Path (Split-Path -Parent (Split-Path -Parent $PSScriptRoot)) 'MsiStorage.psd1')
        $script:Commands = $manifest.FunctionsToExport | ForEach-Object { @{ Name = $_ } }
    }
    BeforeAll { Import-Module $ManifestPath -Force }

    It '<Name> has a synopsis, a description, two examples and every parameter described' -TestCases $Commands {
        param($Name)
        $help = Get-Help $Name -Full
        $help.Synopsis | Should -Not -BeNullOrEmpty
        $help.Synopsis | Should -Not -Match "^\s*$Name"
        ($help.description | Out-String).Trim() | Should -Not -BeNullOrEmpty
        @($help.examples.example).Count | Should -BeGreaterOrEqual 2
        $common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
        foreach ($p in (Get-Command $Name).Parameters.Keys | Where-Object { $_ -notin $common }) {
            $described = $help.parameters.parameter | Where-Object { $_.name -eq $p }
            ($described.description | Out-String).Trim() | Should -Not -BeNullOrEmpty -Because "-$p of $Name needs a description"
        }
    }
}
