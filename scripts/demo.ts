// `npm run demo`: builds, starts the local stack (Azurite + the IMDS/ARM emulator), runs the tutorial's
// flow in pwsh through the module (scripts/demo.ps1), stops the stack, and exits with the flow's result.
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { startStack } from './stack-client.ts';
import { ensurePwsh, root, runBuild, safeEnv } from './tools.ts';

const started = Date.now();
const pwsh = ensurePwsh();
if (!runBuild()) process.exit(1);

const stack = await startStack();
let code = 1;
try {
  const { info } = stack;
  const r = spawnSync(
    pwsh,
    [
      '-NoProfile', '-NonInteractive', '-File', path.join(root, 'scripts', 'demo.ps1'),
      '-SubscriptionId', info.subscriptionId,
      '-ResourceGroupName', info.resourceGroupName,
      '-StorageAccountName', info.storageAccountName,
      '-ArmEndpoint', info.armEndpoint,
      '-BlobEndpoint', info.blobEndpoint,
    ],
    { cwd: root, stdio: 'inherit', env: safeEnv({ AZURE_POD_IDENTITY_AUTHORITY_HOST: info.imdsHost }) },
  );
  code = r.status ?? 1;
} finally {
  await stack.stop();
}
console.log(`[msistorage] demo ${code === 0 ? 'passed' : 'FAILED'} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(code);
