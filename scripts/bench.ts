// `npm run bench`: measures MsiStorage against baselines in the same run, against Azurite in memory, and
// prints a table of ratios. Sizes are parameters:
//   --size 1GiB --files 1000 --file-size 4KiB --rss-size 2GiB --rounds 5 --file-rounds 5 --iterations 31
//   --smoke     tiny sizes, one round (what `npm test` runs: it checks that everything measures, not targets)
import { spawn, spawnSync } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { startStack } from './stack-client.ts';
import { ensurePwsh, root, runBuild, safeEnv } from './tools.ts';

const MiB = 1024 * 1024;
function size(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(B|KiB|KB|MiB|MB|GiB|GB)?$/i.exec(text.trim());
  if (!m) throw new Error(`not a size: ${text}`);
  const unit = (m[2] ?? 'B').toLowerCase();
  const mult = unit.startsWith('k') ? 1024 : unit.startsWith('m') ? MiB : unit.startsWith('g') ? 1024 * MiB : 1;
  return Math.round(Number(m[1]) * mult);
}
function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
const smoke = process.argv.includes('--smoke');
const cfg = {
  size: size(arg('size', smoke ? '8MiB' : '1GiB')),
  files: Number(arg('files', smoke ? '20' : '1000')),
  fileSize: size(arg('file-size', '4KiB')),
  rssSize: size(arg('rss-size', smoke ? '16MiB' : '2GiB')),
  // Five rounds of each transfer: on a shared 2-core machine one gigabyte's throughput spreads by a third
  // from round to round (more on the parallel side), and a median of three still follows the outliers.
  rounds: Number(arg('rounds', smoke ? '1' : '5')),
  // The many-files rounds are short and their spread is wide (a young pwsh's JIT sometimes recompiles its
  // engine's hot paths on a background thread mid-run): more of them, for a steadier median.
  fileRounds: Number(arg('file-rounds', smoke ? '1' : '5')),
  iterations: Number(arg('iterations', smoke ? '3' : '31')),
  blockSize: 8 * MiB,
  concurrency: 8,
};

const manifest = path.join(root, 'MsiStorage.psd1');
const work = mkdtempSync(path.join(tmpdir(), 'msistorage-bench-'));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
/**
 * A ratio from paired rounds: each round measures both sides back to back (a download on the same Azurite),
 * so the median of the rounds' own ratios cancels what drifts from round to round on a shared machine (a
 * round's two sides move together, by a third and more here), which the ratio of the two medians does not.
 */
const pairedRatio = (ours: number[], base: number[]) => median(ours.map((o, i) => o / base[i]));
/** Each measurement must have done its work: a side that silently did nothing would otherwise "measure". */
function verified(what: string, ok: boolean, detail: string): void {
  if (!ok) throw new Error(`[bench] ${what} did not do its work: ${detail}`);
}
const measured = (what: string, n: number) => verified(what, Number.isFinite(n) && n > 0, `measured ${n}`);
const fmtBytes = (n: number) => (n >= 1024 * MiB ? `${(n / 1024 / MiB).toFixed(1)} GiB` : n >= MiB ? `${(n / MiB).toFixed(0)} MiB` : `${(n / 1024).toFixed(0)} KiB`);
const mbps = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);

function randomFile(file: string, bytes: number): void {
  const fd = openSync(file, 'w');
  const chunk = Buffer.allocUnsafe(Math.min(bytes, 16 * MiB) || 1);
  for (let left = bytes; left > 0; ) {
    const n = Math.min(left, chunk.length);
    randomFillSync(chunk, 0, n);
    writeSync(fd, chunk, 0, n);
    left -= n;
  }
  closeSync(fd);
}

function runJson(cmd: string, args: string[], input?: string, env: NodeJS.ProcessEnv = safeEnv()): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { cwd: root, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    child.on('close', (code) => {
      const line = out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
      if (code !== 0 || !line) return reject(new Error(`${path.basename(cmd)} ${args.slice(0, 4).join(' ')} failed (${code}): ${err || out}`));
      // wallMs: from spawning the process to its exit (for a baseline script: start, load the SDK, work).
      resolve({ ...(JSON.parse(line) as Record<string, number>), wallMs: performance.now() - t0 });
    });
    child.stdin.end(input ?? '');
  });
}

async function main(): Promise<void> {
  const pwsh = ensurePwsh();
  if (!process.argv.includes('--no-build') && !runBuild()) process.exit(1);
  const stack = await startStack();
  const info = stack.info;
  try {
    // The baselines need the account key: get it as any client would, from the emulated IMDS and ARM.
    const token = ((await (await fetch(`${info.imdsHost}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https://management.azure.com/`, { headers: { Metadata: 'true' } })).json()) as { access_token: string }).access_token;
    const keys = (await (
      await fetch(`${info.armEndpoint}subscriptions/${info.subscriptionId}/resourceGroups/${info.resourceGroupName}/providers/Microsoft.Storage/storageAccounts/${info.storageAccountName}/listKeys?api-version=2023-05-01`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}` },
      })
    ).json()) as { keys: { value: string }[] };
    const key = keys.keys[0].value;
    const sdk = await import('@azure/storage-blob');
    const container = new sdk.BlobServiceClient(info.blobEndpoint, new sdk.StorageSharedKeyCredential(info.storageAccountName, key)).getContainerClient('bench');
    await container.createIfNotExists();
    const drop = async (name: string) => void (await container.getBlobClient(name).deleteIfExists());
    const baseline = (req: Record<string, unknown>) =>
      runJson(process.execPath, [path.join(root, 'scripts', 'bench', 'baseline.cjs')], JSON.stringify({ endpoint: info.blobEndpoint, account: info.storageAccountName, key, container: 'bench', blockSize: cfg.blockSize, concurrency: cfg.concurrency, ...req }));
    const ours = (mode: string, params: Record<string, string | number>, env?: NodeJS.ProcessEnv) =>
      runJson(pwsh, ['-NoProfile', '-NonInteractive', '-File', path.join(root, 'scripts', 'bench', 'bench.ps1'), '-Mode', mode, '-Manifest', manifest, '-StackJson', JSON.stringify(info), ...Object.entries(params).flatMap(([k, v]) => [`-${k}`, String(v)])], undefined, env);

    const rows: { measure: string; ours: string; base: string; ratio: number; target: string; pass: boolean }[] = [];
    // Dirty pages of the previous gigabytes being written back would slow whatever runs next.
    const settle = async () => {
      spawnSync('sync');
      await new Promise((r) => setTimeout(r, 500));
    };

    // 5 (measured first, on a quiet machine). start-up: uncached Get-MsiToken vs a bare node -e 0, both
    // from pwsh, interleaved.
    await settle();
    const t = await ours('token', { Iterations: cfg.iterations });
    const tokenRatio = t.token / t.bare;
    const tokenRow = { measure: 'uncached Get-MsiToken vs node -e 0 from pwsh (median)', ours: `${t.token.toFixed(0)} ms`, base: `${t.bare.toFixed(0)} ms`, ratio: tokenRatio, target: '<= 1.5x', pass: tokenRatio <= 1.5 };
    const big = path.join(work, 'big.bin');
    console.log(`[bench] writing ${fmtBytes(cfg.size)} of random data...`);
    randomFile(big, cfg.size);

    // Like for like: MsiStorage's side is timed around the cmdlet (or pipeline) in a running pwsh, which
    // includes starting Node; a baseline is timed from spawning its Node script to its exit, which includes
    // starting Node and loading the SDK. The baselines' own in-script times are printed under the table.
    // Every measured transfer starts on a freshly started Azurite: an in-memory Azurite that holds the
    // previous gigabytes is slower (its heap grows), which would favour whichever side ran first.
    const fresh = async () => {
      await settle();
      await stack.command('stop-azurite');
      await stack.command('start-azurite');
      await container.create();
    };
    const alternate = async (r: number, base: () => Promise<void>, mine: () => Promise<void>) => {
      const first = r % 2 === 0 ? base : mine;
      await first();
      await settle();
      await (first === base ? mine : base)();
    };

    // 1. upload throughput
    const up = { ours: [] as number[], base: [] as number[], inner: [] as number[], raw: [] as number[] };
    for (let r = 0; r < cfg.rounds; r++) {
      await alternate(
        r,
        async () => {
          await fresh();
          const b = await baseline({ mode: 'upload', file: big, blob: 'base' });
          verified('the baseline upload', b.bytes === cfg.size && (await container.getBlobClient('base').getProperties()).contentLength === cfg.size, `${b.bytes} bytes`);
          up.base.push(mbps(b.bytes, b.wallMs));
          up.inner.push(mbps(b.bytes, b.ms));
        },
        async () => {
          await fresh();
          const o = await ours('upload', { Container: 'bench', File: big, Blob: 'ours', BlockSize: cfg.blockSize, Concurrency: cfg.concurrency });
          verified('Send-MsiBlob', o.bytes === cfg.size && (await container.getBlobClient('ours').getProperties()).contentLength === cfg.size, `${o.bytes} bytes`);
          up.ours.push(mbps(o.bytes, o.ms));
        },
      );
    }
    const upRatio = pairedRatio(up.ours, up.base);
    rows.push({ measure: `upload ${fmtBytes(cfg.size)}: Send-MsiBlob vs SDK uploadFile`, ours: `${median(up.ours).toFixed(0)} MiB/s`, base: `${median(up.base).toFixed(0)} MiB/s`, ratio: upRatio, target: '>= 0.95x throughput', pass: upRatio >= 0.95 });

    // 2. download throughput: each round puts the blob on a fresh Azurite with the minimal client (which
    // measures Azurite's PUT ceiling), then both sides and the minimal client download it.
    const down = { ours: [] as number[], base: [] as number[], inner: [] as number[], raw: [] as number[] };
    for (let r = 0; r < cfg.rounds; r++) {
      await fresh();
      const u = await baseline({ mode: 'undici-put', file: big, blob: 'raw' });
      up.raw.push(mbps(u.bytes, u.ms));
      await alternate(
        r,
        async () => {
          const b = await baseline({ mode: 'download', blob: 'raw', destination: path.join(work, 'base.out') });
          verified('the baseline download', statSync(path.join(work, 'base.out')).size === cfg.size, `${statSync(path.join(work, 'base.out')).size} bytes on disk`);
          down.base.push(mbps(b.bytes, b.wallMs));
          down.inner.push(mbps(b.bytes, b.ms));
        },
        async () => {
          const o = await ours('download', { Container: 'bench', Blob: 'raw', Destination: path.join(work, 'ours.out'), BlockSize: cfg.blockSize, Concurrency: cfg.concurrency });
          verified('Receive-MsiBlob', statSync(path.join(work, 'ours.out')).size === cfg.size, `${statSync(path.join(work, 'ours.out')).size} bytes on disk`);
          down.ours.push(mbps(o.bytes, o.ms));
        },
      );
      const g = await baseline({ mode: 'undici-get', blob: 'raw', destination: path.join(work, 'raw.out') });
      down.raw.push(mbps(g.bytes, g.ms));
      for (const f of ['base.out', 'ours.out', 'raw.out']) rmSync(path.join(work, f), { force: true });
    }
    const downRatio = pairedRatio(down.ours, down.base);
    rows.push({ measure: `download ${fmtBytes(cfg.size)}: Receive-MsiBlob vs SDK downloadToFile`, ours: `${median(down.ours).toFixed(0)} MiB/s`, base: `${median(down.base).toFixed(0)} MiB/s`, ratio: downRatio, target: '>= 1.0x throughput', pass: downRatio >= 1.0 });
    rmSync(big, { force: true });

    // 3. many small files
    const folder = path.join(work, 'many');
    mkdirSync(folder);
    for (let i = 0; i < cfg.files; i++) randomFile(path.join(folder, `f${String(i).padStart(5, '0')}.bin`), cfg.fileSize);
    const many = { ours: [] as number[], base: [] as number[], inner: [] as number[], pwshCpu: [] as number[], jit: [] as number[] };
    // A freshly started Azurite is cold (its JavaScript not yet optimised) and slow for its first thousand
    // requests; each side gets a fresh one, warmed by an unmeasured run, so the steady state is compared.
    const freshAndWarm = async () => {
      await fresh();
      await baseline({ mode: 'many', folder, prefix: 'warm/', concurrency: 16 });
    };
    for (let r = 0; r < cfg.fileRounds; r++) {
      await alternate(
        r,
        async () => {
          await freshAndWarm();
          const b = await baseline({ mode: 'many', folder, prefix: 'base/', concurrency: 16 });
          verified('the baseline many-files run', b.files === cfg.files, `${b.files} files`);
          many.base.push(b.wallMs);
          many.inner.push(b.ms);
        },
        async () => {
          await freshAndWarm();
          const o = await ours('many', { Container: 'bench', Folder: folder });
          verified('the Send-MsiBlob pipeline', o.files === cfg.files, `${o.files} files`);
          many.ours.push(o.ms);
          many.pwshCpu.push(o.pwshCpuMs);
          many.jit.push(o.jitMs);
        },
      );
    }
    const manyRatio = pairedRatio(many.ours, many.base);
    rows.push({ measure: `${cfg.files} files of ${fmtBytes(cfg.fileSize)}: pipeline vs Node script at concurrency 16`, ours: `${(median(many.ours) / 1000).toFixed(2)} s`, base: `${(median(many.base) / 1000).toFixed(2)} s`, ratio: manyRatio, target: '<= 1.3x time', pass: manyRatio <= 1.3 });
    rmSync(folder, { recursive: true, force: true });
    await fresh();

    // 4. peak RSS of the Node process, large upload and download
    const rssFile = path.join(work, 'rss.bin');
    randomFile(rssFile, cfg.rssSize);
    const rssLog = path.join(work, 'rss.txt');
    const rssEnv = safeEnv({ MSISTORAGE_RSS_FILE: rssLog });
    await ours('upload', { Container: 'bench', File: rssFile, Blob: 'rss', BlockSize: cfg.blockSize, Concurrency: cfg.concurrency }, rssEnv);
    const upRss = Number(readFileSync(rssLog, 'utf8')) / 1024;
    rmSync(rssFile, { force: true });
    await ours('download', { Container: 'bench', Blob: 'rss', Destination: path.join(work, 'rss.out'), BlockSize: cfg.blockSize, Concurrency: cfg.concurrency }, rssEnv);
    const downRss = Number(readFileSync(rssLog, 'utf8')) / 1024;
    rmSync(path.join(work, 'rss.out'), { force: true });
    await drop('rss');
    const peak = Math.max(upRss, downRss);
    rows.push({ measure: `peak RSS of Node, ${fmtBytes(cfg.rssSize)} upload / download`, ours: `${upRss.toFixed(0)} / ${downRss.toFixed(0)} MiB`, base: '-', ratio: peak, target: '<= 200 MiB', pass: peak <= 200 });

    rows.push(tokenRow);
    for (const [what, xs] of Object.entries({ 'upload (ours)': up.ours, 'upload (SDK)': up.base, 'download (ours)': down.ours, 'download (SDK)': down.base, 'many files (ours)': many.ours, 'many files (script)': many.base, 'Azurite PUT': up.raw, 'Azurite GET': down.raw })) {
      for (const x of xs) measured(what, x);
    }
    for (const [what, x] of Object.entries({ 'uncached Get-MsiToken': t.token, 'node -e 0': t.bare, 'cached Get-MsiToken': t.cached, 'peak RSS (upload)': upRss, 'peak RSS (download)': downRss })) measured(what, x);

    // The table.
    console.log('');
    console.log(`MsiStorage benchmark (${smoke ? 'SMOKE: tiny sizes, ratios are noise' : `median of ${cfg.rounds} rounds, ${cfg.fileRounds} for the many files`}), Azurite in memory on this machine`);
    console.log('A transfer ratio is the median of the rounds\' own ratios (the two sides of a round run back to back); the columns beside it are the medians of each side.');
    const header = ['measure', 'MsiStorage', 'baseline', 'ratio', 'target', ''];
    const table = rows.map((r) => [r.measure, r.ours, r.base, r.measure.startsWith('peak') ? '-' : `${r.ratio.toFixed(2)}x`, r.target, smoke ? '' : r.pass ? 'PASS' : 'MISS']);
    const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
    console.log(line(header));
    console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
    for (const row of table) console.log(line(row));
    console.log('');
    console.log(`Azurite's ceiling, the same bytes through a minimal undici client: PUT ${median(up.raw).toFixed(0)} MiB/s, GET ${median(down.raw).toFixed(0)} MiB/s`);
    console.log(`  (MsiStorage reaches ${((100 * median(up.ours)) / median(up.raw)).toFixed(0)}% of it on upload, ${((100 * median(down.ours)) / median(down.raw)).toFixed(0)}% on download)`);
    console.log('The baselines timed inside their scripts, after Node has started and loaded the SDK:');
    console.log(`  upload ${median(up.inner).toFixed(0)} MiB/s (MsiStorage ${(median(up.ours) / median(up.inner)).toFixed(2)}x), download ${median(down.inner).toFixed(0)} MiB/s (${(median(down.ours) / median(down.inner)).toFixed(2)}x), ${cfg.files} files ${(median(many.inner) / 1000).toFixed(2)} s (${(median(many.ours) / median(many.inner)).toFixed(2)}x the time)`);
    console.log(`The ${cfg.files}-file pipeline's pwsh (2 cores here, shared with Node and Azurite): ${median(many.pwshCpu).toFixed(0)} ms of CPU, ${median(many.jit).toFixed(0)} ms of it in the .NET JIT`);
    console.log(`Cached Get-MsiToken: ${t.cached.toFixed(1)} ms median, ${t.firstCached.toFixed(1)} ms the first time in a session (no process started)`);
    // Every round, so that the noise behind each median is visible.
    const each = (xs: number[], digits = 0) => xs.map((x) => x.toFixed(digits)).join(' ');
    const ratios = (ours: number[], base: number[]) => ours.map((o, i) => `${(o / base[i]).toFixed(2)}x`).join(' ');
    console.log('Each round (MsiStorage / baseline = ratio):');
    console.log(`  upload MiB/s ${each(up.ours)} / ${each(up.base)} = ${ratios(up.ours, up.base)}`);
    console.log(`  download MiB/s ${each(down.ours)} / ${each(down.base)} = ${ratios(down.ours, down.base)}`);
    console.log(`  files s ${each(many.ours.map((x) => x / 1000), 2)} / ${each(many.base.map((x) => x / 1000), 2)} = ${ratios(many.ours, many.base)}`);
    // The smoke run (npm test) keeps its own file: it must not pass for the last real measurement.
    writeFileSync(path.join(root, 'tests', '.out', smoke ? 'bench-smoke.json' : 'bench.json'), JSON.stringify({ smoke, cfg, rows, raw: { put: median(up.raw), get: median(down.raw) }, inScript: { upload: median(up.inner), download: median(down.inner), manyMs: median(many.inner) }, cachedTokenMs: t.cached }, null, 2));
  } finally {
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

mkdirSync(path.join(root, 'tests', '.out'), { recursive: true });
main().catch((err) => {
  console.error(err);
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
});
