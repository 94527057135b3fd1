# Tab completion of -Container and -Blob from the live account, when -Context is already bound.

function Get-MsiCompletion {
    [CmdletBinding()]
    param([string] $Kind, [string] $Word, [hashtable] $Bound)
    $context = $Bound['Context']
    if (-not $context -or -not ($context.PSObject.TypeNames -contains 'MsiStorage.StorageContext')) { return }
    if ($Kind -eq 'Blob' -and -not $Bound['Container']) { return }
    try {
        $arguments = @{ context = ConvertTo-MsiContextArgument -Context $context -Cmdlet $PSCmdlet; prefix = $Word.Trim("'", '"') }
        if ($Kind -eq 'Container') { $command = 'containers' } else { $command = 'list'; $arguments.container = $Bound['Container'] }
        $names = Invoke-MsiNode -Command $command -Arguments $arguments -Cmdlet $PSCmdlet -Batch | Select-Object -First 200 | ForEach-Object { $_.name }
        foreach ($name in $names) {
            $text = $name
            if ($name -match '[\s''"`$#;,(){}&|<>@]') { $text = "'" + $name.Replace("'", "''") + "'" }
            New-Object System.Management.Automation.CompletionResult -ArgumentList $text, $name, 'ParameterValue', $name
        }
    }
    catch { Write-Debug "MsiStorage completion failed: $($_.Exception.Message)" }
}

$containerCompleter = { param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters) Get-MsiCompletion -Kind 'Container' -Word $wordToComplete -Bound $fakeBoundParameters }
$blobCompleter = { param($commandName, $parameterName, $wordToComplete, $commandAst, $fakeBoundParameters) Get-MsiCompletion -Kind 'Blob' -Word $wordToComplete -Bound $fakeBoundParameters }
foreach ($command in 'Send-MsiBlob', 'Receive-MsiBlob', 'Get-MsiBlob', 'Remove-MsiBlob') {
    Register-ArgumentCompleter -CommandName $command -ParameterName 'Container' -ScriptBlock $containerCompleter
}
foreach ($command in 'Receive-MsiBlob', 'Remove-MsiBlob') {
    Register-ArgumentCompleter -CommandName $command -ParameterName 'Blob' -ScriptBlock $blobCompleter
}
