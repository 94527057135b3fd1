# MsiStorage: the loader only. Private helpers first, then one file per public function.
# The module's logic runs in Node (see Private/Invoke-MsiNode.ps1); these files bind parameters, keep the
# session's token cache, and turn replies into objects and ErrorRecords.
Set-StrictMode -Version 2.0

foreach ($folder in 'Private', 'Public') {
    $files = @(Get-ChildItem -LiteralPath (Join-Path $PSScriptRoot $folder) -Filter '*.ps1' -File | Sort-Object -Property Name)
    foreach ($file in $files) {
        . $file.FullName
    }
}

# Node processes that replied and were still exiting are released with the module.
$ExecutionContext.SessionState.Module.OnRemove = { Clear-MsiExitingNode -All }
