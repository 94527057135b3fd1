// A loopback stub of the blob service, for what Azurite cannot be made to do (stall a body, answer a
// conflict other than "already exists"...). The caller answers each request; the stub tracks its sockets so
// that closing it never waits on a connection held open.
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface StubStorage {
  /** The blob endpoint of account 'acct' on the stub. */
  endpoint: string;
  close(): Promise<void>;
}

export async function startStubStorage(answer: http.RequestListener): Promise<StubStorage> {
  const sockets = new Set<Socket>();
  const server = http.createServer(answer);
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/acct/`,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
