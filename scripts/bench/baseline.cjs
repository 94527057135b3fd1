// Benchmark baselines: what a plain Node script does with @azure/storage-blob, and the same bytes through a
// minimal undici client (SAS in the URL), to show the ceiling of Azurite itself.
// stdin: {"mode","endpoint","account","key","container",...}; stdout: {"ms","bytes"}.
const fs = require('node:fs');
const path = require('node:path');
const { performance } = require('node:perf_hooks');

function readStdin() {
  return new Promise((resolve) => {
    let s = '';
    process.stdin.on('data', (c) => (s += c));
    process.stdin.on('end', () => resolve(JSON.parse(s)));
  });
}

async function mapLimit(items, limit, fn) {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) { const i = next++; await fn(items[i], i); }
  }));
}

async function main() {
  const req = await readStdin();
  const sdk = require('@azure/storage-blob');
  const cred = new sdk.StorageSharedKeyCredential(req.account, req.key);
  const container = new sdk.BlobServiceClient(req.endpoint, cred).getContainerClient(req.container);
  const t0 = performance.now();
  let bytes = 0;
  // How many files the many-files mode uploaded (the benchmark checks it did them all).
  let files = 0;
  let uploaded = 0;
  switch (req.mode) {
    case 'upload': {
      const size = fs.statSync(req.file).size;
      await container.getBlockBlobClient(req.blob).uploadFile(req.file, { blockSize: req.blockSize, concurrency: req.concurrency, maxSingleShotSize: req.blockSize });
      bytes = size;
      break;
    }
    case 'download': {
      const res = await container.getBlobClient(req.blob).downloadToFile(req.destination);
      bytes = res.contentLength;
      break;
    }
    case 'many': {
      const list = fs.readdirSync(req.folder).map((f) => path.join(req.folder, f));
      await mapLimit(list, req.concurrency, async (f) => {
        const data = fs.readFileSync(f);
        await container.getBlockBlobClient(`${req.prefix}${path.basename(f)}`).uploadData(data);
        bytes += data.length;
        uploaded++;
      });
      files = uploaded;
      break;
    }
    case 'undici-put':
    case 'undici-get': {
      const { Agent, request } = require('undici');
      const sas = sdk.generateAccountSASQueryParameters(
        { services: 'b', resourceTypes: 'sco', permissions: sdk.AccountSASPermissions.parse('rwdlac'), expiresOn: new Date(Date.now() + 3600_000), protocol: sdk.SASProtocol.HttpsAndHttp },
        cred,
      ).toString();
      const agent = new Agent({ connections: req.concurrency * 2 });
      const url = `${req.endpoint}${req.container}/${encodeURIComponent(req.blob)}`;
      if (req.mode === 'undici-put') {
        const size = fs.statSync(req.file).size;
        const fd = fs.openSync(req.file, 'r');
        const count = Math.ceil(size / req.blockSize);
        const ids = Array.from({ length: count }, (_, i) => Buffer.from(`b-${String(i).padStart(6, '0')}`).toString('base64'));
        await mapLimit(ids, req.concurrency, async (id, i) => {
          const len = Math.min(req.blockSize, size - i * req.blockSize);
          const buf = Buffer.allocUnsafe(len);
          fs.readSync(fd, buf, 0, len, i * req.blockSize);
          const r = await request(`${url}?comp=block&blockid=${encodeURIComponent(id)}&${sas}`, { method: 'PUT', body: buf, dispatcher: agent, headers: { 'x-ms-version': '2021-08-06', 'content-length': String(len) } });
          await r.body.dump();
          if (r.statusCode !== 201) throw new Error(`PUT block ${r.statusCode}`);
        });
        const xml = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
        const r = await request(`${url}?comp=blocklist&${sas}`, { method: 'PUT', body: xml, dispatcher: agent, headers: { 'x-ms-version': '2021-08-06' } });
        await r.body.dump();
        if (r.statusCode !== 201) throw new Error(`PUT block list ${r.statusCode}`);
        fs.closeSync(fd);
        bytes = size;
      } else {
        const head = await request(`${url}?${sas}`, { method: 'HEAD', dispatcher: agent, headers: { 'x-ms-version': '2021-08-06' } });
        await head.body.dump();
        const size = Number(head.headers['content-length']);
        const fd = fs.openSync(req.destination, 'w');
        const ranges = Array.from({ length: Math.ceil(size / req.blockSize) }, (_, i) => i * req.blockSize);
        await mapLimit(ranges, req.concurrency, async (start) => {
          const end = Math.min(size, start + req.blockSize) - 1;
          const r = await request(`${url}?${sas}`, { method: 'GET', dispatcher: agent, headers: { 'x-ms-version': '2021-08-06', 'x-ms-range': `bytes=${start}-${end}` } });
          let pos = start;
          for await (const chunk of r.body) { fs.writeSync(fd, chunk, 0, chunk.length, pos); pos += chunk.length; }
        });
        fs.closeSync(fd);
        bytes = size;
      }
      await agent.close();
      break;
    }
    default:
      throw new Error(`unknown mode ${req.mode}`);
  }
  process.stdout.write(JSON.stringify({ ms: performance.now() - t0, bytes, files }));
}

main().catch((err) => {
  process.stderr.write(`${err.stack ?? err}\n`);
  process.exit(1);
});
