import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/unit/**/*.test.ts', 'tests/integration/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two files at a time even on two cores (vitest's default would be one): most of the suite's time is
    // spent waiting (retry delays, deadlines, a 10 s lookup bound), not computing, and npm test has a budget.
    maxWorkers: 2,
    // Never reach a real identity endpoint or Azure, whatever a test forgets: loopback only, and the IMDS
    // host on a closed loopback port unless a test points it at its emulator.
    env: {
      MSISTORAGE_LOOPBACK_ONLY: '1',
      AZURE_POD_IDENTITY_AUTHORITY_HOST: 'http://127.0.0.1:9',
      MSISTORAGE_ARM_ENDPOINT: 'http://127.0.0.1:9/',
      NO_PROXY: '127.0.0.1,localhost,::1',
      // undici reads the lower-case spelling first: an ambient one must not change what the proxy tests see.
      no_proxy: '127.0.0.1,localhost,::1',
      // Arc is detected by its agent's himds file too: never on this machine's, whatever is installed.
      MSISTORAGE_ARC_HIMDS_PATH: '/nonexistent/msistorage/himds',
    },
  },
});
