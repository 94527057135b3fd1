# The one bridge to Node. Every cmdlet calls it once: it starts the bundled script, writes one JSON request
# (UTF-8 bytes) to its stdin, relays stderr events (verbose, warning, progress) while it runs, reads the one
# JSON reply from stdout, and returns the result or raises an ErrorRecord with a stable ErrorId.
# Secrets travel only inside the request on stdin: never in arguments or environment variables.

$script:ProtocolVersion = 1
$script:MinNodeMajor = 20
$script:NodeScript = $null
# This file is ps-module/Private/Invoke-MsiNode.ps1; the package (or repository) root is two levels up.
$script:PackageRoot = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
$script:NodePathCache = @{ Key = $null; Path = $null }
# Node processes that have replied and are only exiting: the bridge does not wait for that (see Invoke-MsiNode).
$script:ExitingNodes = New-Object 'System.Collections.Generic.List[object]'
$script:Utf8 = New-Object System.Text.UTF8Encoding -ArgumentList $false
# The most items one request carries; a longer batch is sent in several (each its own Node process).
$script:MaxBatchItems = 50000
# The most bytes Node takes in one batch request (MAX_BATCH_REQUEST_BYTES in src/protocol.ts).
$script:MaxBatchRequestBytes = 32MB

function Invoke-MsiNodeInParts {
    # A batch sent as several requests of at most -Size items, one after the other, with the same settings;
    # the first one goes to the prepared process.
    param(
        [string] $Command, [hashtable] $Arguments, [System.Management.Automation.PSCmdlet] $Cmdlet,
        [System.Diagnostics.Process] $Prepared, [scriptblock] $OnItems, [int] $Size
    )
    $all = $Arguments['items']
    # Transfers count their progress on across the parts: files before each part, and in the whole.
    $counted = $Command -eq 'upload' -or $Command -eq 'download'
    $before = 0
    if ($Arguments.ContainsKey('progressOffset')) { $before = [int]$Arguments['progressOffset'] }
    $whole = $all.Count
    if ($Arguments.ContainsKey('progressTotal')) { $whole = [int]$Arguments['progressTotal'] }
    for ($start = 0; $start -lt $all.Count; $start += $Size) {
        $part = $Arguments.Clone()
        $part['items'] = @($all[$start..([Math]::Min($all.Count, $start + $Size) - 1)])
        if ($counted) { $part['progressOffset'] = $before + $start; $part['progressTotal'] = $whole }
        Invoke-MsiNode -Command $Command -Arguments $part -Cmdlet $Cmdlet -Batch -Prepared $Prepared -OnItems $OnItems
        $Prepared = $null
    }
}

# Replies are parsed with no date conversion: PowerShell 7's ConvertFrom-Json turns every string that looks
# like an ISO 8601 time into a DateTime in local time, so a blob named '2026-01-15T10:00:00Z' would come back
# as another name, and a LastModified would lose its milliseconds and its offset. Times are made from their
# text instead (ConvertTo-MsiDate). The parser is chosen once, when the module loads (Select-MsiJsonParser).

function Select-MsiJsonParser {
    # 'DateKind': PowerShell 7.5+, ConvertFrom-Json -DateKind String.
    # 'Populate': PowerShell 7.0-7.4, Newtonsoft.Json's reader with DateParseHandling None; its tree becomes
    #   objects through ConvertFrom-Json's own converter (JsonObject.PopulateFromJArray, found by its exact
    #   signature: the code ConvertFrom-Json runs, as fast).
    # 'Tree': the same reader, the tree made into objects here (ConvertFrom-MsiJsonToken), should that
    #   converter not be found: about three times slower.
    # 'Plain': Windows PowerShell 5.1, whose ConvertFrom-Json keeps such strings as strings.
    # 'Auto' picks the first that this PowerShell has; the tests select each in turn.
    param([ValidateSet('Auto', 'DateKind', 'Populate', 'Tree', 'Plain')] [string] $Parser = 'Auto')
    $script:HasJsonDateKind = $false
    $script:HasJsonReader = $false
    $script:JsonPopulate = $null
    if ($Parser -eq 'Plain' -or $PSVersionTable.PSEdition -ne 'Core') { return }
    if ($Parser -eq 'Auto' -or $Parser -eq 'DateKind') {
        $script:HasJsonDateKind = $null -ne [Microsoft.PowerShell.Commands.ConvertFromJsonCommand].GetProperty('DateKind')
        if ($script:HasJsonDateKind -or $Parser -eq 'DateKind') { return }
    }
    $script:HasJsonReader = $true
    if ($Parser -eq 'Tree') { return }
    $jsonObject = [Microsoft.PowerShell.Commands.JsonObject]
    $newtonsoft = $jsonObject.Assembly.GetReferencedAssemblies() | Where-Object { $_.Name -eq 'Newtonsoft.Json' } | Select-Object -First 1
    $jarray = [System.Reflection.Assembly]::Load($newtonsoft).GetType('Newtonsoft.Json.Linq.JArray')
    $signature = [type[]]@($jarray, [System.Management.Automation.ErrorRecord].MakeByRefType())
    $script:JsonPopulate = $jsonObject.GetMethod('PopulateFromJArray', [System.Reflection.BindingFlags]'NonPublic, Static', $null, $signature, $null)
}
Select-MsiJsonParser

function ConvertFrom-MsiJsonToken {
    # A Newtonsoft.Json tree as ConvertFrom-Json makes it: objects as PSCustomObjects, arrays as object[],
    # values as themselves (strings stay strings). Only when ConvertFrom-Json's own converter is not found.
    param($Token)
    if ($Token -is [Newtonsoft.Json.Linq.JObject]) {
        $properties = [ordered]@{}
        foreach ($property in $Token.Properties()) {
            $value = $property.Value
            if ($value -is [Newtonsoft.Json.Linq.JValue]) { $properties[$property.Name] = $value.Value }
            else { $properties[$property.Name] = ConvertFrom-MsiJsonToken $value }
        }
        return [pscustomobject]$properties
    }
    if ($Token -is [Newtonsoft.Json.Linq.JArray]) {
        $list = [System.Collections.Generic.List[object]]::new($Token.Count)
        foreach ($element in $Token) {
            if ($element -is [Newtonsoft.Json.Linq.JValue]) { $list.Add($element.Value) } else { $list.Add((ConvertFrom-MsiJsonToken $element)) }
        }
        return , $list.ToArray()
    }
    return $Token.Value
}

function ConvertFrom-MsiJson {
    # One JSON text (an object, or an array of them, which is enumerated) as objects, every string kept as
    # the string it is (see $script:HasJsonDateKind). Throws on text that is not exactly one JSON value.
    param([string] $Json)
    if ($script:HasJsonDateKind) { return ConvertFrom-Json -InputObject $Json -DateKind String }
    if ($script:HasJsonReader) {
        $reader = [Newtonsoft.Json.JsonTextReader]::new([System.IO.StringReader]::new($Json))
        $reader.DateParseHandling = [Newtonsoft.Json.DateParseHandling]::None
        $tree = [Newtonsoft.Json.Linq.JToken]::ReadFrom($reader)
        if ($reader.Read()) { throw [System.FormatException]::new('More than one JSON value.') }
        if (-not $script:JsonPopulate) { return ConvertFrom-MsiJsonToken $tree }
        $single = $tree -is [Newtonsoft.Json.Linq.JObject]
        if ($single) {
            # An object is enumerable (its properties): added to an array by a method call, not by @().
            $array = [Newtonsoft.Json.Linq.JArray]::new()
            $array.Add($tree)
            $tree = $array
        }
        elseif ($tree -isnot [Newtonsoft.Json.Linq.JArray]) { return $tree.Value }
        $populateArguments = [object[]]@($tree, $null)
        $objects = $script:JsonPopulate.Invoke($null, $populateArguments)
        if ($null -ne $populateArguments[1]) { throw $populateArguments[1].Exception }
        if ($single) { return $objects[0] }
        return $objects
    }
    return ConvertFrom-Json -InputObject $Json
}

function Get-MsiNodeScript {
    if ($script:NodeScript -and [System.IO.File]::Exists($script:NodeScript)) { return $script:NodeScript }
    # Installed package: <package>/bin; a clone of the repository: <repo>/dist/bin (after npm run build).
    $candidates = @(
        (Join-Path (Join-Path $script:PackageRoot 'bin') 'msistorage.cjs'),
        (Join-Path (Join-Path (Join-Path $script:PackageRoot 'dist') 'bin') 'msistorage.cjs')
    )
    foreach ($candidate in $candidates) {
        if ([System.IO.File]::Exists($candidate)) {
            $script:NodeScript = $candidate
            return $candidate
        }
    }
    return $null
}

function Get-MsiNodePath {
    # (.NET Framework's IsPathRooted throws on a '"' or '|' in the path: such a value is no file, not a crash.)
    $relative = $false
    if ($env:MSISTORAGE_NODE) { try { $relative = -not [System.IO.Path]::IsPathRooted($env:MSISTORAGE_NODE) } catch { $relative = $false } }
    $key = "$env:MSISTORAGE_NODE|$env:PATH"
    if ($relative) { $key += "|$($ExecutionContext.SessionState.Path.CurrentFileSystemLocation)" }
    if ($script:NodePathCache.Key -eq $key -and $script:NodePathCache.Path) { return $script:NodePathCache.Path }
    $path = $null
    if ($env:MSISTORAGE_NODE) {
        # A relative path, as PowerShell resolves it (from the current location), made full: the process is
        # started from the process's working folder, which PowerShell does not keep in step with its location.
        $full = $env:MSISTORAGE_NODE
        if ($relative) {
            try { $full = $ExecutionContext.SessionState.Path.GetUnresolvedProviderPathFromPSPath($env:MSISTORAGE_NODE) }
            catch { $full = $null }
        }
        if ($full -and (Test-Path -LiteralPath $full -PathType Leaf)) { $path = $full }
    }
    else {
        $cmd = Get-Command -Name 'node' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
        if ($cmd) { $path = $cmd.Path }
    }
    $script:NodePathCache = @{ Key = $key; Path = $path }
    return $path
}

function New-MsiErrorRecord {
    # Builds an ErrorRecord from an error reply: ErrorId '<Verb><Noun><Code>', the category Node chose,
    # an exception type that fits it, and the details (HTTP status, Azure's code) in Exception.Data.
    param(
        [Parameter(Mandatory = $true)] $ErrorObject,
        [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        $TargetObject
    )
    $category = [System.Management.Automation.ErrorCategory]::NotSpecified
    if ($ErrorObject.category) {
        try { $category = [System.Management.Automation.ErrorCategory]$ErrorObject.category } catch { $category = [System.Management.Automation.ErrorCategory]::NotSpecified }
    }
    $message = [string]$ErrorObject.message
    switch ($category) {
        'InvalidArgument' { $exception = New-Object System.ArgumentException -ArgumentList $message }
        'ObjectNotFound' { $exception = New-Object System.Management.Automation.ItemNotFoundException -ArgumentList $message }
        'PermissionDenied' { $exception = New-Object System.UnauthorizedAccessException -ArgumentList $message }
        'AuthenticationError' { $exception = New-Object System.Security.Authentication.AuthenticationException -ArgumentList $message }
        'OperationTimeout' { $exception = New-Object System.TimeoutException -ArgumentList $message }
        'ResourceUnavailable' { $exception = New-Object System.Net.WebException -ArgumentList $message }
        'ConnectionError' { $exception = New-Object System.Net.WebException -ArgumentList $message }
        'OperationStopped' { $exception = New-Object System.OperationCanceledException -ArgumentList $message }
        default { $exception = New-Object System.InvalidOperationException -ArgumentList $message }
    }
    foreach ($name in 'code', 'statusCode', 'parameter', 'target') {
        if ($ErrorObject.PSObject.Properties[$name] -and $null -ne $ErrorObject.$name) { $exception.Data["MsiStorage.$name"] = $ErrorObject.$name }
    }
    if ($ErrorObject.PSObject.Properties['azure'] -and $ErrorObject.azure) {
        if ($ErrorObject.azure.PSObject.Properties['code']) { $exception.Data['MsiStorage.azureCode'] = $ErrorObject.azure.code }
        if ($ErrorObject.azure.PSObject.Properties['message']) { $exception.Data['MsiStorage.azureMessage'] = $ErrorObject.azure.message }
    }
    $noun = $Cmdlet.MyInvocation.MyCommand.Name -replace '-', ''
    if (-not $TargetObject -and $ErrorObject.PSObject.Properties['target']) { $TargetObject = $ErrorObject.target }
    $record = New-Object System.Management.Automation.ErrorRecord -ArgumentList $exception, ($noun + $ErrorObject.code), $category, $TargetObject
    return $record
}

function Stop-MsiWithError {
    # A precondition failed on the PowerShell side: raise it exactly like an error reply from Node.
    param(
        [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory = $true)] [string] $Code,
        [Parameter(Mandatory = $true)] [string] $Message,
        [string] $Category = 'InvalidArgument',
        [string] $Parameter
    )
    $errorObject = [pscustomobject]@{ code = $Code; message = $Message; category = $Category; parameter = $Parameter }
    $Cmdlet.ThrowTerminatingError((New-MsiErrorRecord -ErrorObject $errorObject -Cmdlet $Cmdlet))
}

function Write-MsiItemError {
    # A precondition of one pipeline item failed on the PowerShell side: that item's own error, as Node reports
    # a file it cannot read, and the pipeline goes on with the next. Non-terminating, unless the caller stops on
    # errors (then, as for Node's per-item errors, it ends the cmdlet, and the process prepared for the request
    # that will not come is released).
    param(
        [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory = $true)] [string] $Code,
        [Parameter(Mandatory = $true)] [string] $Message,
        [string] $Category = 'InvalidArgument',
        [string] $Parameter,
        $Target,
        [System.Diagnostics.Process] $Prepared
    )
    $errorObject = [pscustomobject]@{ code = $Code; message = $Message; category = $Category; parameter = $Parameter; target = $Target }
    $record = New-MsiErrorRecord -ErrorObject $errorObject -Cmdlet $Cmdlet
    if (Test-MsiStopOnError -Cmdlet $Cmdlet) {
        Close-MsiNode -Process $Prepared
        $Cmdlet.ThrowTerminatingError($record)
    }
    # WriteError follows the preference it finds in scope: the caller's, unless -ErrorAction was given.
    if (-not $Cmdlet.MyInvocation.BoundParameters.ContainsKey('ErrorAction')) { $ErrorActionPreference = [string]$Cmdlet.SessionState.PSVariable.GetValue('ErrorActionPreference') }
    try { $Cmdlet.WriteError($record) }
    catch {
        # -ErrorAction Stop: WriteError itself ends the cmdlet.
        Close-MsiNode -Process $Prepared
        throw
    }
}

function Stop-MsiUnconfirmed {
    # For the catch around $PSCmdlet.ShouldProcess. When it needs to ask and cannot (a -NonInteractive
    # session with -Confirm, or ConfirmImpact above $ConfirmPreference), it throws an error that would end only
    # the statement it is in: the cmdlet would go on to do the very thing nobody confirmed. This ends the
    # cmdlet. (The call itself stays in the cmdlet's process block: a helper per pipeline item costs.)
    param(
        [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [Parameter(Mandatory = $true)] [System.Management.Automation.ErrorRecord] $ErrorRecord,
        [string] $Target,
        [string] $Action,
        # A process the cmdlet started ahead of its request: released, since no request will come.
        [System.Diagnostics.Process] $Prepared
    )
    Close-MsiNode -Process $Prepared
    $reason = $ErrorRecord.Exception
    if ($reason -is [System.Management.Automation.PipelineStoppedException]) { throw $reason }
    if ($reason.InnerException) { $reason = $reason.InnerException }
    Stop-MsiWithError -Cmdlet $Cmdlet -Code 'ConfirmationUnavailable' -Category 'InvalidOperation' -Message "'$Action' on '$Target' needs a confirmation, which this session cannot ask for: $($reason.Message.TrimEnd('.')). Nothing was changed. To go ahead without asking, pass -Confirm:`$false (Remove-MsiBlob: -Force), or run the command interactively."
}

function Write-MsiVerbose {
    # $Cmdlet.WriteVerbose, except under -Debug without -Verbose: PowerShell then makes a cmdlet's own verbose
    # and warning messages ask "Continue with this operation?" one by one (and fail in a -NonInteractive
    # session). Under -Debug they are shown without asking, as Write-Verbose and Write-Warning do.
    param([Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet, [string] $Message, [switch] $Warning)
    $bound = $Cmdlet.MyInvocation.BoundParameters
    $flag = 'Verbose'
    if ($Warning) { $flag = 'WarningAction' }
    if (-not $bound.ContainsKey('Debug') -or -not $bound['Debug'] -or $bound.ContainsKey($flag)) {
        if ($Warning) { $Cmdlet.WriteWarning($Message) } else { $Cmdlet.WriteVerbose($Message) }
        return
    }
    if (-not $Warning) { Write-Verbose -Message $Message -Verbose; return }
    $pref = [string]$Cmdlet.SessionState.PSVariable.GetValue('WarningPreference')
    if ($pref -ne 'SilentlyContinue' -and $pref -ne 'Ignore') { Write-Warning -Message $Message -WarningAction Continue }
}

function Write-MsiDebug {
    # Write-Debug, without asking: Windows PowerShell 5.1's -Debug (as a $DebugPreference of Inquire anywhere)
    # makes every debug message ask "Continue with this operation?", and fail in a -NonInteractive session.
    # Shown when -Debug was given to the cmdlet, or debug output is wanted in this scope.
    param([System.Management.Automation.PSCmdlet] $Cmdlet, [string] $Message)
    $wanted = $DebugPreference -ne 'SilentlyContinue' -and $DebugPreference -ne 'Ignore'
    if (-not $wanted -and $Cmdlet) { $wanted = [bool]$Cmdlet.MyInvocation.BoundParameters['Debug'] }
    if (-not $wanted) { return }
    $DebugPreference = 'Continue'
    Write-Debug -Message $Message
}

function Write-MsiEvent {
    # Relays one stderr line from Node: JSON events become verbose, warning or progress records.
    param([string] $Line, [System.Management.Automation.PSCmdlet] $Cmdlet, [System.Collections.Generic.List[string]] $Other, [bool] $ShowProgress = $true)
    if (-not $Line.StartsWith('{')) {
        if ($Other.Count -lt 20) { $Other.Add($Line) }
        return
    }
    try { $evt = ConvertFrom-MsiJson $Line } catch { if ($Other.Count -lt 20) { $Other.Add($Line) }; return }
    switch ([string]$evt.event) {
        'verbose' { Write-MsiVerbose -Cmdlet $Cmdlet -Message ([string]$evt.message) }
        'warning' { Write-MsiVerbose -Cmdlet $Cmdlet -Message ([string]$evt.message) -Warning }
        'progress' { if ($ShowProgress) { Write-MsiProgress -Event $evt -Cmdlet $Cmdlet } }
        default { Write-MsiDebug -Cmdlet $Cmdlet -Message "MsiStorage: unknown event '$($evt.event)'" }
    }
}

function Write-MsiProgress {
    param($Event, [System.Management.Automation.PSCmdlet] $Cmdlet)
    $record = New-Object System.Management.Automation.ProgressRecord -ArgumentList ([int]$Event.id), ([string]$Event.activity), ('Working')
    if ($Event.PSObject.Properties['parentId'] -and $null -ne $Event.parentId) { $record.ParentActivityId = [int]$Event.parentId }
    if ($Event.PSObject.Properties['status'] -and $Event.status) { $record.StatusDescription = [string]$Event.status }
    if ($Event.PSObject.Properties['percent'] -and $null -ne $Event.percent) { $record.PercentComplete = [Math]::Min(100, [int]$Event.percent) }
    if ($Event.PSObject.Properties['secondsRemaining'] -and $null -ne $Event.secondsRemaining) { $record.SecondsRemaining = [int]$Event.secondsRemaining }
    if ($Event.PSObject.Properties['completed'] -and $Event.completed) { $record.RecordType = [System.Management.Automation.ProgressRecordType]::Completed }
    $Cmdlet.WriteProgress($record)
}

function Clear-MsiExitingNode {
    # Releases the Node processes that have exited since they replied; one still running a minute after its
    # reply is stuck, and is stopped. With -All (the module is being removed), waits briefly for each.
    param([switch] $All)
    for ($i = $script:ExitingNodes.Count - 1; $i -ge 0; $i--) {
        $entry = $script:ExitingNodes[$i]
        try {
            if ($All -and -not $entry.Process.HasExited) { $null = $entry.Process.WaitForExit(2000) }
            if (-not $entry.Process.HasExited) {
                if (-not $All -and $entry.Since.Elapsed.TotalSeconds -lt 60) { continue }
                $entry.Process.Kill()
            }
            $entry.Process.Dispose()
        }
        catch { Write-MsiDebug -Message "MsiStorage: releasing an exited Node process: $($_.Exception.Message)" }
        $script:ExitingNodes.RemoveAt($i)
    }
}

function Test-MsiProgressWanted {
    # The caller's $ProgressPreference (module functions do not see a script's local preference otherwise),
    # or -ProgressAction when given.
    param([Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet)
    $pref = $null
    if ($Cmdlet.MyInvocation.BoundParameters.ContainsKey('ProgressAction')) { $pref = $Cmdlet.MyInvocation.BoundParameters['ProgressAction'] }
    if ($null -eq $pref) { $pref = $Cmdlet.SessionState.PSVariable.GetValue('ProgressPreference') }
    return ([string]$pref -ne 'SilentlyContinue' -and [string]$pref -ne 'Ignore')
}

function Get-MsiQuietAction {
    # 'SilentlyContinue' or 'Ignore' when the caller asked to continue silently (-ErrorAction, else its own
    # $ErrorActionPreference), for a failure that is not about the input (see Invoke-MsiNode -Quietable).
    param([Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet, [string] $Category)
    if ($Cmdlet.MyInvocation.BoundParameters.ContainsKey('ErrorAction')) { $pref = [string]$Cmdlet.MyInvocation.BoundParameters['ErrorAction'] }
    else { $pref = [string]$Cmdlet.SessionState.PSVariable.GetValue('ErrorActionPreference') }
    if ($pref -ne 'SilentlyContinue' -and $pref -ne 'Ignore') { return $null }
    # Only what the operation met out there; never bad input, and never a failure of the module itself.
    if (@('ObjectNotFound', 'ResourceExists', 'PermissionDenied', 'AuthenticationError', 'ResourceUnavailable', 'ConnectionError', 'OperationTimeout') -notcontains $Category) { return $null }
    return $pref
}

function Test-MsiStopOnError {
    # Module functions do not see a caller script's $ErrorActionPreference; read it from the caller's
    # session state, unless -ErrorAction was given (which the function's own WriteError honours).
    param([Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet)
    if ($Cmdlet.MyInvocation.BoundParameters.ContainsKey('ErrorAction')) { return $false }
    return ([string]$Cmdlet.SessionState.PSVariable.GetValue('ErrorActionPreference') -eq 'Stop')
}

function Start-MsiNode {
    # Starts the bundled script, ready for its request on stdin. A pipeline cmdlet calls it with -Prepare at
    # its first item: Node starts and loads what the command needs (the storage SDK) while PowerShell is
    # still binding the rest of the pipeline; the request follows at the end (Invoke-MsiNode -Prepared).
    # A prepared process that is not used exits by itself: at end of input (Close-MsiNode), or after 30 s.
    param(
        [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        [string] $Prepare
    )
    if ($script:ExitingNodes.Count -gt 0) { Clear-MsiExitingNode }
    $scriptPath = Get-MsiNodeScript
    if (-not $scriptPath) {
        Stop-MsiWithError -Cmdlet $Cmdlet -Code 'BundleNotFound' -Category 'NotInstalled' -Message "MsiStorage's Node script (bin/msistorage.cjs) is missing. In a clone of the repository run 'npm run build'; otherwise reinstall the module."
    }
    $node = Get-MsiNodePath
    if (-not $node) {
        if ($env:MSISTORAGE_NODE) { $where = "MSISTORAGE_NODE points to '$env:MSISTORAGE_NODE', which is not a file" } else { $where = "no 'node' was found on PATH" }
        Stop-MsiWithError -Cmdlet $Cmdlet -Code 'NodeNotFound' -Category 'NotInstalled' -Message "MsiStorage needs Node.js $script:MinNodeMajor or later, and $where. Install Node.js $script:MinNodeMajor+ (https://nodejs.org) and put it on PATH, or set `$env:MSISTORAGE_NODE to the full path of node."
    }
    $psi = [System.Diagnostics.ProcessStartInfo]::new()
    $psi.FileName = $node
    # No Node options here: an old Node refuses one it does not know before the script can say that it is
    # too old (NodeTooOld). The script sets what it needs itself (--liftoff-only: see dist/bin/msistorage.cjs).
    $psi.Arguments = '"' + $scriptPath + '"'
    if ($Prepare) { $psi.Arguments += ' --prepare ' + $Prepare }
    $psi.UseShellExecute = $false
    $psi.CreateNoWindow = $true
    $psi.RedirectStandardInput = $true
    $psi.RedirectStandardOutput = $true
    $psi.RedirectStandardError = $true
    $psi.StandardOutputEncoding = $script:Utf8
    $psi.StandardErrorEncoding = $script:Utf8
    Write-MsiDebug -Cmdlet $Cmdlet -Message "MsiStorage: starting '$node' $($psi.Arguments)."
    try {
        return [System.Diagnostics.Process]::Start($psi)
    }
    catch {
        Stop-MsiWithError -Cmdlet $Cmdlet -Code 'NodeStartFailed' -Category 'NotInstalled' -Message "Node.js at '$node' could not be started: $($_.Exception.Message). Install Node.js $script:MinNodeMajor+ or set `$env:MSISTORAGE_NODE."
    }
}

function Close-MsiNode {
    # A prepared process that will get no request (nothing came down the pipeline, or the cmdlet failed
    # first): end of input tells it to exit, which a later call releases.
    param([System.Diagnostics.Process] $Process)
    if (-not $Process) { return }
    try { $Process.StandardInput.Close() } catch { Write-MsiDebug -Message 'Node had already closed its stdin' }
    $script:ExitingNodes.Add(@{ Process = $Process; Since = [System.Diagnostics.Stopwatch]::StartNew() })
}

function Invoke-MsiNode {
    # Starts Node, sends the request, and relays what comes back while it runs: stderr events (verbose,
    # warning, progress), and for batch commands one stdout line per item (written to the output as it
    # arrives, or as a non-terminating error). The final reply is returned, or raised as an ErrorRecord.
    [CmdletBinding()]
    param(
        [Parameter(Mandatory = $true)] [string] $Command,
        [hashtable] $Arguments = @{},
        [Parameter(Mandatory = $true)] [System.Management.Automation.PSCmdlet] $Cmdlet,
        # A batch command: items go to the output as they finish; the final summary is not output.
        [switch] $Batch,
        # A process started early by Start-MsiNode -Prepare; a new one is started if it is gone.
        [System.Diagnostics.Process] $Prepared,
        # For a batch: called with the results that arrived together (a list), instead of writing each
        # result to the output; what it returns is the output. One call per burst, not per item, keeps
        # shaping a thousand results cheap.
        [scriptblock] $OnItems,
        # A failure of the operation itself (not found, already exists, refused, unreachable) is reported as
        # a non-terminating error when the caller asked for -ErrorAction SilentlyContinue or Ignore, and the
        # call returns nothing: Az users write `New-AzStorageContainer ... -ErrorAction SilentlyContinue` for
        # an idempotent create, and `if (-not (Get-... -ErrorAction SilentlyContinue))` to test. Bad input
        # always stops.
        [switch] $Quietable,
        # The call serves one item of the caller's pipeline ('a', 'b' | New-MsiStorageContainer): its failure,
        # bad input included, is that item's error (non-terminating, unless the caller stops on errors), and
        # the pipeline goes on with the next item. The call then returns nothing.
        [switch] $PerItem
    )
    if ($Batch -and $Arguments.ContainsKey('items') -and $Arguments['items'].Count -gt $script:MaxBatchItems) {
        # More items than one request carries: several requests, one after the other (the first one to the
        # prepared process), with the same settings.
        Invoke-MsiNodeInParts -Command $Command -Arguments $Arguments -Cmdlet $Cmdlet -Prepared $Prepared -OnItems $OnItems -Size $script:MaxBatchItems
        return
    }
    # Verbose events are formatted by Node only when someone will see them (-Debug shows them too: Write-MsiVerbose).
    $verbose = $VerbosePreference -ne 'SilentlyContinue' -and $VerbosePreference -ne 'Ignore'
    if (-not $Cmdlet.MyInvocation.BoundParameters.ContainsKey('Verbose') -and $Cmdlet.MyInvocation.BoundParameters.ContainsKey('Debug') -and $Cmdlet.MyInvocation.BoundParameters['Debug']) { $verbose = $true }
    $request = @{ v = $script:ProtocolVersion; command = $Command; verbose = $verbose }
    foreach ($key in $Arguments.Keys) { $request[$key] = $Arguments[$key] }
    $utf8 = $script:Utf8
    $bytes = $utf8.GetBytes((ConvertTo-Json -InputObject $request -Depth 10 -Compress) + "`n")
    $request = $null
    # (+ 3: Windows PowerShell may put a byte-order mark before the request, which Node counts too.)
    if ($Batch -and $bytes.Length + 3 -gt $script:MaxBatchRequestBytes -and $Arguments['items'].Count -gt 1) {
        # Fewer items, but long paths and names: more bytes than Node takes in one request. Halves, in order.
        [Array]::Clear($bytes, 0, $bytes.Length)
        Invoke-MsiNodeInParts -Command $Command -Arguments $Arguments -Cmdlet $Cmdlet -Prepared $Prepared -OnItems $OnItems -Size ([Math]::Ceiling($Arguments['items'].Count / 2))
        return
    }
    if ($DebugPreference -ne 'SilentlyContinue' -and $DebugPreference -ne 'Ignore') {
        Write-MsiDebug -Cmdlet $Cmdlet -Message "MsiStorage: sending command '$Command' with request keys: $(@($Arguments.Keys | Sort-Object) -join ', ')."
    }
    $showProgress = Test-MsiProgressWanted -Cmdlet $Cmdlet
    $stopOnError = Test-MsiStopOnError -Cmdlet $Cmdlet

    $process = $null
    $finished = $false
    $exiting = $false
    $ended = $false
    $exitCode = $null
    $reply = $null
    $outTask = $null
    $errTask = $null
    $other = [System.Collections.Generic.List[string]]::new()
    try {
        if ($Prepared) {
            $process = $Prepared
            try {
                $process.StandardInput.BaseStream.Write($bytes, 0, $bytes.Length)
                $process.StandardInput.BaseStream.Flush()
            }
            catch {
                # It has gone (it waited too long for its request): start another.
                $process.Dispose()
                $process = $null
            }
        }
        if (-not $process) {
            $process = Start-MsiNode -Cmdlet $Cmdlet
            try {
                $process.StandardInput.BaseStream.Write($bytes, 0, $bytes.Length)
                $process.StandardInput.BaseStream.Flush()
            }
            catch [System.IO.IOException] {
                # It ended without reading its request (the executable is no Node, or refused to start): what
                # it said and its exit code tell why (NodeProtocolError below), not a broken pipe.
                Write-MsiDebug -Message "MsiStorage: Node closed its stdin before the request: $($_.Exception.Message)"
            }
        }
        [Array]::Clear($bytes, 0, $bytes.Length)
        # Only a batch listens on stdin after its request (for a cancel); for the rest, the request is all.
        if (-not $Batch) { try { $process.StandardInput.Close() } catch { Write-MsiDebug -Message 'Node had already closed its stdin' } }
        # Read both streams as they come: stderr line by line (events), stdout in chunks cut at the last
        # newline (results and the reply). Waiting at most 200 ms at a time lets Ctrl+C (StopProcessing)
        # interrupt even a silent transfer. A closed stream is replaced by a task that never completes.
        # The reading ends when both streams close, or as soon as the reply and the 'end' event (Node's last
        # word on stderr) are in: the few milliseconds Node takes to exit are not waited for.
        # For a large batch, results are gathered and parsed at most once a second (and at the end): every
        # pass costs PowerShell far more CPU than the lines themselves, CPU taken from the transfer, and in a
        # young session dozens of passes also get the engine's code recompiled by the .NET JIT meanwhile.
        $coalesce = 0
        if ($Batch -and $Arguments.ContainsKey('items') -and @($Arguments['items']).Count -gt 20) { $coalesce = 1000 }
        $sinceParse = [System.Diagnostics.Stopwatch]::StartNew()
        $never = [System.Threading.Tasks.TaskCompletionSource[string]]::new().Task
        $neverOut = [System.Threading.Tasks.TaskCompletionSource[int]]::new().Task
        $outBuffer = [char[]]::new(65536)
        $outText = [System.Text.StringBuilder]::new()
        $outTask = $process.StandardOutput.ReadAsync($outBuffer, 0, $outBuffer.Length)
        $errTask = $process.StandardError.ReadLineAsync()
        $open = 2
        $pair = [System.Threading.Tasks.Task[]]::new(2)
        while ($open -gt 0 -and -not ($ended -and $null -ne $reply)) {
            if (-not ($outTask.IsCompleted -or $errTask.IsCompleted)) {
                $pair[0] = $outTask
                $pair[1] = $errTask
                # A timeout only gives results held back a while (see $coalesce) their turn.
                if ([System.Threading.Tasks.Task]::WaitAny($pair, 200) -lt 0 -and $outText.Length -eq 0) { continue }
            }
            if ($errTask.IsCompleted) {
                $line = $errTask.Result
                if ($null -eq $line) { $errTask = $never; $open-- }
                else {
                    $errTask = $process.StandardError.ReadLineAsync()
                    if ($line -eq '{"event":"end"}') { $ended = $true }
                    else { Write-MsiEvent -Line $line -Cmdlet $Cmdlet -Other $other -ShowProgress $showProgress }
                }
            }
            if ($outTask.IsCompleted -or $outText.Length -gt 0) {
                # Take everything already arrived and parse its whole lines together: one parse per burst, and
                # no PowerShell statement per line, keeps a thousand-file batch cheap.
                while ($outTask.IsCompleted) {
                    $count = $outTask.Result
                    if ($count -eq 0) { $outTask = $neverOut; $open--; $null = $outText.Append("`n"); break }
                    $null = $outText.Append($outBuffer, 0, $count)
                    $outTask = $process.StandardOutput.ReadAsync($outBuffer, 0, $outBuffer.Length)
                }
                if ($coalesce -gt 0 -and -not $ended -and $open -eq 2 -and $sinceParse.ElapsedMilliseconds -lt $coalesce) { continue }
                $sinceParse.Restart()
                $text = $outText.ToString()
                $cut = $text.LastIndexOf("`n")
                if ($cut -lt 0) { continue }
                $null = $outText.Clear().Append($text, $cut + 1, $text.Length - $cut - 1)
                $lines = $text.Substring(0, $cut).Replace("`r", '').Split([char[]]"`n", [System.StringSplitOptions]::RemoveEmptyEntries)
                if ($lines.Count -eq 0) { continue }
                $messages = $null
                try { $messages = ConvertFrom-MsiJson ('[' + [string]::Join(',', $lines) + ']') }
                catch {
                    # A line that is not JSON (a crash message): parse one by one, keeping the rest.
                    $messages = foreach ($l in $lines) { try { ConvertFrom-MsiJson $l } catch { if ($other.Count -lt 20) { $other.Add($l) } } }
                }
                $results = $null
                if ($OnItems) { $results = [System.Collections.Generic.List[object]]::new() }
                foreach ($message in $messages) {
                    if ($null -eq $message) { continue }
                    if ($null -ne $message.PSObject.Properties['item']) {
                        if ($message.ok) { if ($null -ne $results) { $results.Add($message.result) } else { $message.result } }
                        elseif ($stopOnError) { $Cmdlet.ThrowTerminatingError((New-MsiErrorRecord -ErrorObject $message.error -Cmdlet $Cmdlet)) }
                        else { $Cmdlet.WriteError((New-MsiErrorRecord -ErrorObject $message.error -Cmdlet $Cmdlet)) }
                    }
                    else { $reply = $message }
                }
                if ($null -ne $results -and $results.Count -gt 0) { & $OnItems $results }
            }
        }
        if ($open -gt 0) {
            # Node has said all it will; it is only exiting. A later call (or removing the module) releases it.
            $exiting = $true
            $script:ExitingNodes.Add(@{ Process = $process; Since = [System.Diagnostics.Stopwatch]::StartNew() })
        }
        else {
            $process.WaitForExit()
            $exitCode = $process.ExitCode
        }
        $finished = $true
        try { $process.StandardInput.Close() } catch { Write-MsiDebug -Message 'stdin already closed' }
    }
    finally {
        if ($process -and -not $finished) {
            # Stopped (Ctrl+C, a stopped pipeline, an exception). A transfer is asked to cancel, so that it
            # removes its temporary files; anything else has none, and simply ends.
            if ($Batch) {
                try {
                    $cancel = $utf8.GetBytes("{`"cancel`":true}`n")
                    $process.StandardInput.BaseStream.Write($cancel, 0, $cancel.Length)
                    $process.StandardInput.BaseStream.Flush()
                }
                catch { Write-MsiDebug -Message 'Node had already closed its stdin' }
                # Node writes its results synchronously: one that has more to say than the pipe holds (a
                # long listing cut short by Select-Object -First) waits for a reader, and would never see the
                # cancel. What it still writes is read, and dropped, until it has cleaned up and exited.
                $wait = [System.Diagnostics.Stopwatch]::StartNew()
                while ($wait.ElapsedMilliseconds -lt 10000) {
                    try {
                        if ($process.WaitForExit(20)) { break }
                        if ($outTask -and $outTask.IsCompleted) {
                            if ($outTask.Result -gt 0) { $outTask = $process.StandardOutput.ReadAsync($outBuffer, 0, $outBuffer.Length) } else { $outTask = $null }
                        }
                        if ($errTask -and $errTask.IsCompleted) {
                            if ($null -ne $errTask.Result) { $errTask = $process.StandardError.ReadLineAsync() } else { $errTask = $null }
                        }
                    }
                    catch { break }
                }
            }
            try { if (-not $process.HasExited) { $process.Kill() } } catch { Write-MsiDebug -Message 'Node had already exited' }
        }
        if ($process -and -not $exiting) { $process.Dispose() }
    }

    if (-not $reply -or -not $reply.PSObject.Properties['ok']) {
        $detail = ($other | Select-Object -First 5) -join ' | '
        Stop-MsiWithError -Cmdlet $Cmdlet -Code 'NodeProtocolError' -Category 'ProtocolError' -Message "MsiStorage's Node script ended without a reply (exit code $exitCode). $detail Run with -Debug for details; if it persists, reinstall the module."
    }
    if ($reply.v -ne $script:ProtocolVersion) {
        Stop-MsiWithError -Cmdlet $Cmdlet -Code 'ProtocolVersionMismatch' -Category 'ProtocolError' -Message "MsiStorage's Node script speaks protocol version $($reply.v), but this module speaks $script:ProtocolVersion. The module and its script come from different builds: reinstall the module, or run 'npm run build'."
    }
    if (-not $reply.ok) {
        $record = New-MsiErrorRecord -ErrorObject $reply.error -Cmdlet $Cmdlet
        if ($PerItem) {
            if (Test-MsiStopOnError -Cmdlet $Cmdlet) { $Cmdlet.ThrowTerminatingError($record) }
            # WriteError follows the preference it finds in scope: the caller's, unless -ErrorAction was given.
            if (-not $Cmdlet.MyInvocation.BoundParameters.ContainsKey('ErrorAction')) { $ErrorActionPreference = [string]$Cmdlet.SessionState.PSVariable.GetValue('ErrorActionPreference') }
            $Cmdlet.WriteError($record)
            return
        }
        $quiet = $null
        if ($Quietable) { $quiet = Get-MsiQuietAction -Cmdlet $Cmdlet -Category ([string]$reply.error.category) }
        if ($quiet) {
            # WriteError follows the preference it finds in scope: the caller's, which a module function does
            # not see on its own.
            $ErrorActionPreference = $quiet
            $Cmdlet.WriteError($record)
            return
        }
        $Cmdlet.ThrowTerminatingError($record)
    }
    if ($Batch) {
        # Bytes only for transfers (a listing or a deletion moves none).
        $summary = "$($reply.result.done) done, $($reply.result.failed) failed"
        if ($Command -eq 'upload' -or $Command -eq 'download') { $summary += ", $($reply.result.bytes) bytes" }
        Write-MsiVerbose -Cmdlet $Cmdlet -Message "$summary."
        return
    }
    return $reply.result
}
