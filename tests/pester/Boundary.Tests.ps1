# Issue 6: the Node boundary, seen from PowerShell: no Node, an old Node, a script that speaks another
# protocol version or dies without a reply. And the script itself: malformed requests get one JSON error
# reply and a non-zero exit, never a stack trace.
BeforeAll {
    $script:Root = Split-Path -Parent (Split-Path -Parent $PSScriptRoot)
    # For its environment guard (loopback only) whichever way Pester is started.
    Import-Module (Join-Path $PSScriptRoot 'TestStack.psm1') -Force
    Import-Module (Join-Path $Root 'MsiStorage.psd1') -Force
    $script:Node = (Get-Command node -CommandType Application | Select-Object -First 1).Path
    $script:Bundle = Join-Path $Root 'dist/bin/msistorage.cjs'
    $script:Work = Join-Path ([System.IO.Path]::GetTempPath()) ('msistorage-boundary-' + [guid]::NewGuid().ToString('N'))
    New-Item -ItemType Directory -Path $Work | Out-Null
    $script:Saved = @{ PATH = $env:PATH; MSISTORAGE_NODE = $env:MSISTORAGE_NODE; NODE_OPTIONS = $env:NODE_OPTIONS }

    function New-FakeNode([string] $Name, [string] $Body) {
        $f = Join-Path $Work $Name
        Set-Content -LiteralPath $f -Value "#!/bin/sh`ncat > /dev/null`n$Body`n"
        & chmod +x $f
        return $f
    }
    function Invoke-Bundle([string] $Text, [System.Text.Encoding] $InputEncoding) {
        $psi = [System.Diagnostics.ProcessStartInfo]::new($Node, "`"$Bundle`"")
        $psi.UseShellExecute = $false; $psi.RedirectStandardInput = $true; $psi.RedirectStandardOutput = $true; $psi.RedirectStandardError = $true
        # The writer Process.Start wraps stdin in; with an encoding that has a preamble, it writes that first.
        if ($InputEncoding) { $psi.StandardInputEncoding = $InputEncoding }
        $p = [System.Diagnostics.Process]::Start($psi)
        $bytes = [System.Text.Encoding]::UTF8.GetBytes($Text)
        $p.StandardInput.BaseStream.Write($bytes, 0, $bytes.Length)
        $p.StandardInput.Close()
        $errTask = $p.StandardError.ReadToEndAsync()
        $out = $p.StandardOutput.ReadToEnd()
        $p.WaitForExit()
        return @{ Exit = $p.ExitCode; Reply = ($out | ConvertFrom-Json); Stderr = $errTask.Result }
    }
}
AfterAll { Remove-Item -LiteralPath $script:Work -Recurse -Force -ErrorAction SilentlyContinue }

Describe 'Starting Node' {
    AfterEach {
        $env:PATH = $Saved.PATH
        $env:MSISTORAGE_NODE = $Saved.MSISTORAGE_NODE
        $env:NODE_OPTIONS = $Saved.NODE_OPTIONS
    }

    It 'no node on PATH: NotInstalled, naming Node.js 20 and MSISTORAGE_NODE' {
        $env:MSISTORAGE_NODE = $null
        $env:PATH = $Work
        $err = { Get-MsiToken -Force } | Should -Throw -ErrorId 'GetMsiTokenNodeNotFound,Get-MsiToken' -PassThru
        $err.CategoryInfo.Category | Should -Be 'NotInstalled'
        $err.Exception.Message | Should -Match 'Node\.js 20 or later'
        $err.Exception.Message | Should -Match 'MSISTORAGE_NODE'
    }

    It 'MSISTORAGE_NODE pointing nowhere: NotInstalled' {
        $env:MSISTORAGE_NODE = Join-Path $Work 'nothing-here'
        { Get-MsiToken -Force } | Should -Throw -ErrorId 'GetMsiTokenNodeNotFound,Get-MsiToken'
    }

    It 'a Node older than 20: NotInstalled, naming the minimum' {
        $preload = Join-Path $Work 'old-node.cjs'
        Set-Content -LiteralPath $preload -Value "Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '18.19.0' } });"
        $env:NODE_OPTIONS = "--require $preload"
        $err = { Get-MsiToken -Force } | Should -Throw -ErrorId 'GetMsiTokenNodeTooOld,Get-MsiToken' -PassThru
        $err.CategoryInfo.Category | Should -Be 'NotInstalled'
        $err.Exception.Message | Should -Match 'Node\.js 20 or later'
    }

    It 'a Node too old to know the options PowerShell could pass (v12): NodeTooOld naming the minimum, not a protocol error' {
        # Like Node 10 and 12: an option it does not know is refused before any script runs ("bad option",
        # exit 9); run with no option, the script sees version 12.22.9.
        $preload = Join-Path $Work 'node12.cjs'
        Set-Content -LiteralPath $preload -Value "Object.defineProperty(process, 'versions', { value: { ...process.versions, node: '12.22.9' } }); Object.defineProperty(process, 'version', { value: 'v12.22.9' });"
        $fake = Join-Path $Work 'node12.sh'
        Set-Content -LiteralPath $fake -Value @"
#!/bin/sh
case "`$1" in
  --version|-v) echo v12.22.9; exit 0 ;;
  -*) echo "`$0: bad option: `$1" >&2; exit 9 ;;
esac
exec '$Node' --require '$preload' "`$@"
"@
        & chmod +x $fake
        (& $fake --version) | Should -Be 'v12.22.9'
        & $fake --liftoff-only -e 0 2>$null
        $LASTEXITCODE | Should -Be 9
        $env:MSISTORAGE_NODE = $fake
        $err = { Get-MsiToken -Force } | Should -Throw -ErrorId 'GetMsiTokenNodeTooOld,Get-MsiToken' -PassThru
        $err.CategoryInfo.Category | Should -Be 'NotInstalled'
        $err.Exception.Message | Should -Match 'Node\.js 20 or later'
        $err.Exception.Message | Should -Match 'v12\.22\.9'
        $err.Exception.Message | Should -Match 'MSISTORAGE_NODE'
    }

    It 'an executable that ends without reading the request: ProtocolError with what it said, not a broken pipe' {
        $f = Join-Path $Work 'no-stdin.sh'
        Set-Content -LiteralPath $f -Value "#!/bin/sh`nexec 0<&-`nsleep 0.2`necho 'node: bad option: --frobnicate' >&2`nexit 9`n"
        & chmod +x $f
        $env:MSISTORAGE_NODE = $f
        $err = { Get-MsiToken -Force } | Should -Throw -ErrorId 'GetMsiTokenNodeProtocolError,Get-MsiToken' -PassThru
        $err.Exception.Message | Should -Match 'exit code 9'
        $err.Exception.Message | Should -Match 'bad option: --frobnicate'
    }

    It 'a script that speaks another protocol version: ProtocolError, saying to reinstall' {
        $env:MSISTORAGE_NODE = New-FakeNode 'v99.sh' "echo '{`"v`":99,`"ok`":true,`"result`":{}}'"
        $err = { Get-MsiToken -Force } | Should -Throw -ErrorId 'GetMsiTokenProtocolVersionMismatch,Get-MsiToken' -PassThru
        $err.CategoryInfo.Category | Should -Be 'ProtocolError'
        $err.Exception.Message | Should -Match 'reinstall the module'
    }

    It 'a script that dies without a reply: ProtocolError with what it said' {
        $env:MSISTORAGE_NODE = New-FakeNode 'crash.sh' "echo 'Segmentation fault' >&2; exit 139"
        $err = { Get-MsiToken -Force } | Should -Throw -ErrorId 'GetMsiTokenNodeProtocolError,Get-MsiToken' -PassThru
        $err.Exception.Message | Should -Match 'exit code 139'
        $err.Exception.Message | Should -Match 'Segmentation fault'
    }
}

Describe 'The script reads a request that starts with a byte order mark' {
    # Windows PowerShell 5.1 on .NET Framework wraps a child's stdin in a writer with the console's input
    # encoding; under code page 65001 that writer puts EF BB BF into the pipe before the bridge writes a byte.
    It 'as the bytes EF BB BF before the request' {
        $r = Invoke-Bundle ([string][char]0xFEFF + '{"v":1,"command":"version"}' + "`n")
        $r.Reply.error.code | Should -BeNullOrEmpty
        $r.Exit | Should -Be 0
        $r.Reply.ok | Should -BeTrue
        $r.Reply.result.protocol | Should -Be 1
    }

    It 'as written by a stdin writer whose encoding has a preamble, the request then written to its stream as the bridge does' {
        $r = Invoke-Bundle ('{"v":1,"command":"version"}' + "`n") -InputEncoding ([System.Text.UTF8Encoding]::new($true))
        $r.Reply.error.code | Should -BeNullOrEmpty
        $r.Exit | Should -Be 0
        $r.Reply.result.protocol | Should -Be 1
    }

    It 'but not two of them: a malformed request' {
        $r = Invoke-Bundle ([string][char]0xFEFF + [string][char]0xFEFF + '{"v":1,"command":"version"}' + "`n")
        $r.Exit | Should -Be 1
        $r.Reply.error.code | Should -Be 'MalformedRequest'
    }
}

Describe 'The script refuses bad requests with one JSON error' {
    It '<Name>' -TestCases @(
        @{ Name = 'malformed JSON'; Text = "{not json`n"; Code = 'MalformedRequest' }
        @{ Name = 'an unknown command'; Text = '{"v":1,"command":"format-disk"}' + "`n"; Code = 'UnknownCommand' }
        @{ Name = 'an unknown key'; Text = '{"v":1,"command":"token","resorce":"x"}' + "`n"; Code = 'UnknownRequestKey' }
        @{ Name = 'a protocol version mismatch'; Text = '{"v":2,"command":"token"}' + "`n"; Code = 'ProtocolVersionMismatch' }
        @{ Name = 'a request over the size limit'; Text = '{"v":1,"command":"token","resource":"' + ('x' * 300KB) + '"}' + "`n"; Code = 'RequestTooLarge' }
        @{ Name = 'an empty request'; Text = ''; Code = 'MalformedRequest' }
        @{ Name = 'a wrong type'; Text = '{"v":1,"command":"token","timeoutSec":"soon"}' + "`n"; Code = 'InvalidRequestValue' }
    ) {
        param($Name, $Text, $Code)
        $r = Invoke-Bundle $Text
        $r.Exit | Should -Be 1
        $r.Reply.ok | Should -BeFalse
        $r.Reply.v | Should -Be 1
        $r.Reply.error.code | Should -Be $Code
        $r.Reply.error.category | Should -Be 'ProtocolError'
        $r.Stderr | Should -Not -Match '\n\s+at '
    }
}
