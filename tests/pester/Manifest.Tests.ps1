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
        # The build stamps package.json's version into the manifest (build.ts; tests/unit/build.test.ts stamps
        # a copy with another version). Here: the manifest as PowerShell reads it, and as it loads, against
        # package.json as JSON, each read on its own.
        $package = Get-Content -Raw -LiteralPath (Join-Path $Root 'package.json') | ConvertFrom-Json
        $package.version | Should -Match '^\d+\.\d+\.\d+$'
        (Import-PowerShellDataFile -Path $ManifestPath).ModuleVersion | Should -BeExactly $package.version
        (Test-ModuleManifest -Path $ManifestPath).Version | Should -Be ([version]$package.version)
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
    BeforeAll {
        Import-Module $ManifestPath -Force

        function Get-MsiHelpProblem([System.Management.Automation.FunctionInfo] $Command) {
            # What the command's own comment-based help lacks. Read from the help comment itself, not from
            # Get-Help: Get-Help makes up what a comment leaves out (a synopsis from the syntax, outputs from
            # [OutputType], inputs as None), so a missing section would look written.
            $name = $Command.Name
            $help = $Command.ScriptBlock.Ast.GetHelpContent()
            if (-not $help) { return , @("$name has no comment-based help") }
            $problems = [System.Collections.Generic.List[string]]::new()
            if (-not "$($help.Synopsis)".Trim()) { $problems.Add('no .SYNOPSIS') }
            elseif ($help.Synopsis -match "^\s*$name") { $problems.Add('a .SYNOPSIS that only repeats the name') }
            if (-not "$($help.Description)".Trim()) { $problems.Add('no .DESCRIPTION') }
            if (@($help.Examples | Where-Object { "$_".Trim() }).Count -lt 2) { $problems.Add('fewer than two .EXAMPLEs') }
            if (-not (@($help.Inputs) -join '').Trim()) { $problems.Add('no .INPUTS') }
            $outputs = (@($help.Outputs) -join ' ').Trim()
            if (-not $outputs) { $problems.Add('no .OUTPUTS') }
            if (@($Command.OutputType).Count -eq 0) { $problems.Add('no [OutputType()]') }
            foreach ($type in $Command.OutputType) {
                # [OutputType([string])] is System.String, [OutputType('MsiStorage.Blob')] a PSTypeName.
                $typeName = $type.Name
                if ($type.Type) { $typeName = $type.Type.FullName }
                if ($outputs -notmatch "(^|[\s(,])$([regex]::Escape($typeName))\b") { $problems.Add(".OUTPUTS does not name $typeName, which [OutputType()] declares") }
            }
            $common = [System.Management.Automation.Cmdlet]::CommonParameters + [System.Management.Automation.Cmdlet]::OptionalCommonParameters
            $declared = @($Command.Parameters.Keys | Where-Object { $_ -notin $common })
            foreach ($p in $declared) {
                if (-not "$($help.Parameters[$p.ToUpperInvariant()])".Trim()) { $problems.Add("no .PARAMETER $p") }
            }
            foreach ($documented in $help.Parameters.Keys) {
                if (-not @($declared | Where-Object { $_ -eq $documented })) { $problems.Add(".PARAMETER $documented, which the command does not have") }
            }
            return , @($problems | ForEach-Object { "${name}: $_" })
        }
    }

    It 'the check reads the help comment itself: a section left out is found even where Get-Help fills it in' {
        function Test-MsiHelpSample {
            <#
            .SYNOPSIS
            Test-MsiHelpSample does things.
            .EXAMPLE
            Test-MsiHelpSample -Name x
            .PARAMETER Gone
            A parameter it no longer has.
            #>
            [CmdletBinding()]
            [OutputType('MsiStorage.Sample', [int])]
            param([string] $Name)
            $Name
        }
        # What Get-Help shows: outputs from [OutputType], inputs 'None': the old check passed on these.
        (Get-Help Test-MsiHelpSample -Full).returnValues | Out-String | Should -Match 'MsiStorage\.Sample'
        $problems = Get-MsiHelpProblem (Get-Command Test-MsiHelpSample)
        $problems | Should -Be @(
            'Test-MsiHelpSample: a .SYNOPSIS that only repeats the name'
            'Test-MsiHelpSample: no .DESCRIPTION'
            'Test-MsiHelpSample: fewer than two .EXAMPLEs'
            'Test-MsiHelpSample: no .INPUTS'
            'Test-MsiHelpSample: no .OUTPUTS'
            'Test-MsiHelpSample: .OUTPUTS does not name MsiStorage.Sample, which [OutputType()] declares'
            'Test-MsiHelpSample: .OUTPUTS does not name System.Int32, which [OutputType()] declares'
            'Test-MsiHelpSample: no .PARAMETER Name'
            'Test-MsiHelpSample: .PARAMETER GONE, which the command does not have'
        )
        function Test-MsiHelpWritten {
            <#
            .SYNOPSIS
            Writes the sample.
            .DESCRIPTION
            A command whose help is whole.
            .PARAMETER Name
            The name.
            .EXAMPLE
            Test-MsiHelpWritten -Name x
            .EXAMPLE
            'x' | Test-MsiHelpWritten
            .INPUTS
            System.String.
            .OUTPUTS
            MsiStorage.Sample, or System.Int32.
            #>
            [CmdletBinding()]
            [OutputType('MsiStorage.Sample', [int])]
            param([Parameter(ValueFromPipeline = $true)] [string] $Name)
            $Name
        }
        Get-MsiHelpProblem (Get-Command Test-MsiHelpWritten) | Should -BeNullOrEmpty
    }

    It '<Name> has a synopsis, a description, two examples, inputs, outputs with its [OutputType], and every parameter described' -TestCases $Commands {
        param($Name)
        $command = Get-Command $Name -Module MsiStorage
        Get-MsiHelpProblem $command | Should -BeNullOrEmpty
    }
}
