# Tab completion of -Container and -Blob from the live account, when -Context is already bound.

function Get-MsiCompletion {
    [CmdletBinding()]
    # -Wildcard: the parameter takes a pattern (Get-MsiBlob -Blob, Get-MsiStorageContainer -Name), so a name's
    # wildcard characters are escaped, or the completed name would match other blobs, or none.
    param([string] $Kind, [string] $Word, [hashtable] $Bound, [switch] $Wildcard)
    $context = $Bound['Context']
    if (-not $context -or -not ($context.PSObject.TypeNames -contains 'MsiStorage.StorageContext')) { return }
    if ($Kind -eq 'Blob' -and -not $Bound['Container']) { return }
    try {
        $arguments = @{ context = ConvertTo-MsiContextArgument -Context $context -Cmdlet $PSCmdlet; prefix = $Word.Trim("'", '"') }
        if ($Kind -eq 'Container') { $command = 'containers' } else { $command = 'list'; $arguments.container = $Bound['Container'] }
        # Names are strings as Node sent them (a name like '2026-01-15T10:00:00Z' too: see ConvertFrom-MsiJson).
        $names = Invoke-MsiNode -Command $command -Arguments $arguments -Cmdlet $PSCmdlet -Batch | Select-Object -First 200 | ForEach-Object { [string]$_.name }
        foreach ($name in $names) {
            $text = $name
            # (Not [WildcardPattern]::Escape: before PowerShell 7.6 it leaves a backtick unescaped.)
            if ($Wildcard) { $text = $name -replace '[*?\[\]`]', '`$0' }
            # Quoted when PowerShell would read it otherwise: special characters (typographic quotes too), or
            # a leading dash (any of the dashes PowerShell accepts), which would make it a parameter name.
            if ($text -match '[\s''"`$#;,(){}&|<>@\u2018-\u201E]' -or $text -match '^[-\u2013\u2014\u2015]') {
                $text = "'" + [System.Management.Automation.Language.CodeGeneration]::EscapeSingleQuotedStringContent($text) + "'"
            }
            New-Object System.Management.Automation.CompletionResult -ArgumentList $text, $name, 'ParameterValue', $name
        }
    }
    catch { Write-MsiDebug -Message "MsiStorage completion failed: $($_.Exception.Message)" }
}

$containerCompleter = { param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters) Get-MsiCompletion -Kind 'Container' -Word $wordToComplete -Bound $fakeBoundParameters -Wildcard:($commandName -eq 'Get-MsiStorageContainer') }
$blobCompleter = { param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters) Get-MsiCompletion -Kind 'Blob' -Word $wordToComplete -Bound $fakeBoundParameters -Wildcard:($commandName -eq 'Get-MsiBlob') }
foreach ($command in 'Send-MsiBlob', 'Receive-MsiBlob', 'Get-MsiBlob', 'Remove-MsiBlob') {
    Register-ArgumentCompleter -CommandName $command -ParameterName 'Container' -ScriptBlock $containerCompleter
}
Register-ArgumentCompleter -CommandName 'Get-MsiStorageContainer' -ParameterName 'Name' -ScriptBlock $containerCompleter
foreach ($command in 'Receive-MsiBlob', 'Remove-MsiBlob', 'Get-MsiBlob') {
    Register-ArgumentCompleter -CommandName $command -ParameterName 'Blob' -ScriptBlock $blobCompleter
}
