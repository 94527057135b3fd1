// Brings the tools the tests and the demo need into the ignored .tools/ folder when they are missing:
// PowerShell 7 (the dotnet global tool, installed with --tool-path) and Pester (a NuGet package, restored
// through a throw-away project with a PackageDownload). Needs the .NET SDK on PATH for the first run only.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const tools = path.join(root, '.tools');

/**
 * Runs build.ts in a Node with tsx's loader: the same on every platform (no node_modules/.bin shim, which
 * Windows would start only through a shell). False when the build failed.
 */
export function runBuild(): boolean {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'build.ts')], { cwd: root, stdio: 'inherit' });
  if (r.error) console.error(`[msistorage] the build could not start: ${r.error.message}`);
  return r.status === 0;
}
export const PWSH_VERSION = '7.6.9';
export const PESTER_VERSION = '5.7.1';

function run(cmd: string, args: string[], what: string): void {
  console.log(`[msistorage] ${what}...`);
  const r = spawnSync(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : `${r.stdout}\n${r.stderr}`.trim();
    throw new Error(`${what} failed: ${why}\n(The .NET SDK must be on PATH to install PowerShell and Pester: https://dot.net)`);
  }
}

/** Path of a pwsh to use: $MSISTORAGE_PWSH, else .tools/pwsh/pwsh (installed on first use). */
export function ensurePwsh(): string {
  if (process.env.MSISTORAGE_PWSH) return process.env.MSISTORAGE_PWSH;
  const exe = path.join(tools, 'pwsh', process.platform === 'win32' ? 'pwsh.exe' : 'pwsh');
  if (!existsSync(exe)) {
    mkdirSync(tools, { recursive: true });
    run('dotnet', ['tool', 'install', '--tool-path', path.join(tools, 'pwsh'), 'PowerShell', '--version', PWSH_VERSION], `installing PowerShell ${PWSH_VERSION} into .tools/pwsh`);
  }
  return exe;
}

/** Path of Pester.psd1, restored from NuGet into .tools/nuget on first use. */
export function ensurePester(): string {
  const psd1 = path.join(tools, 'nuget', 'pester', PESTER_VERSION, 'tools', 'Pester.psd1');
  if (!existsSync(psd1)) {
    const project = path.join(tools, 'restore');
    mkdirSync(project, { recursive: true });
    writeFileSync(
      path.join(project, 'tools.csproj'),
      `<Project Sdk="Microsoft.NET.Sdk">
  <PropertyGroup><TargetFramework>net10.0</TargetFramework></PropertyGroup>
  <ItemGroup><PackageDownload Include="Pester" Version="[${PESTER_VERSION}]" /></ItemGroup>
</Project>
`,
    );
    run('dotnet', ['restore', path.join(project, 'tools.csproj'), '--packages', path.join(tools, 'nuget')], `restoring Pester ${PESTER_VERSION} into .tools/nuget`);
  }
  return psd1;
}

/**
 * The environment every test, demo and benchmark child gets: loopback only, the IMDS host pointed at a
 * closed loopback port unless a test points it at its emulator, no ambient identity or proxy settings.
 * Lowercase no_proxy goes too: undici reads it before NO_PROXY, so an ambient one would override ours.
 * The Azure Arc agent's executable is looked for at a path that does not exist, so that a machine with the
 * agent installed does not send the tests' token requests to it. pwsh sends no telemetry and checks for no
 * update.
 */
export function safeEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of ['IDENTITY_ENDPOINT', 'IDENTITY_HEADER', 'IDENTITY_SERVER_THUMBPRINT', 'IMDS_ENDPOINT', 'MSI_ENDPOINT', 'MSI_SECRET', 'MSISTORAGE_ARM_ENDPOINT', 'HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy', 'ALL_PROXY', 'all_proxy', 'no_proxy']) {
    delete env[k];
  }
  env.MSISTORAGE_LOOPBACK_ONLY = '1';
  env.AZURE_POD_IDENTITY_AUTHORITY_HOST = 'http://127.0.0.1:9';
  env.MSISTORAGE_ARM_ENDPOINT = 'http://127.0.0.1:9/';
  env.MSISTORAGE_ARC_HIMDS_PATH = path.join(tools, 'no-arc-agent', 'himds');
  env.NO_PROXY = '127.0.0.1,localhost,::1';
  // pwsh itself stays quiet too: no telemetry, no update check (both would leave the machine).
  env.POWERSHELL_TELEMETRY_OPTOUT = '1';
  env.POWERSHELL_UPDATECHECK = 'Off';
  return { ...env, ...extra };
}
