// A faithful local emulator of the Azure VM identity endpoint (IMDS, the legacy MSI VM extension, and the
// App Service, Azure Arc and Cloud Shell sources) and of the Azure Resource Manager storage calls MsiStorage
// makes. It follows Microsoft's documented wire formats: string-typed expires_in/expires_on, 400 without
// `Metadata: true`, ARM error bodies {"error":{"code","message"}}, 401 without a valid ARM token, 404
// SubscriptionNotFound/ResourceGroupNotFound/ResourceNotFound. Each identity source answers errors in its own
// format: IMDS and Arc {"error","error_description"}, App Service {"statusCode","message"}, Cloud Shell
// {"error":{"code","message"}}.
//
// It is a product feature: point your own scripts at it (AZURE_POD_IDENTITY_AUTHORITY_HOST, -ArmEndpoint)
// to test them offline. It serves plain HTTP on loopback only.
//
// Control endpoint (for tests, and for rehearsing failures):
//   GET    /__emulator/info                    identities, the App Service IDENTITY_HEADER, endpoints
//   POST   /__emulator/identities              {"systemAssigned":bool,"userAssigned":n}
//   POST   /__emulator/faults                  {"target":"imds|appservice|arc|cloudshell|identity|metadata|arm|all","faults":[...]}
//   DELETE /__emulator/faults                  clears queued faults
//   GET    /__emulator/requests                requests served so far (method, path, query, target, status, time)
//   DELETE /__emulator/requests                clears that log
//   POST   /__emulator/arc                     {"keyDir","realm","keyExtension","keySize"}
//   POST   /__emulator/token-lifetime          {"seconds":n}
//   POST   /__emulator/metadata                {"azEnvironment":"AzurePublicCloud"}
//   POST   /__emulator/accounts/<name>         {"withholdListKeys":bool,"allowSharedKeyAccess":bool}
//   POST   /__emulator/page-size               {"size":n}   accounts per page of the subscription-wide list
//   POST   /__emulator/role-scope              {"scope":"subscription|accounts|key-operator"}  where the
//                                              identity's roles are assigned: the whole subscription (the
//                                              default), or only each storage account (then ARM answers 403 for
//                                              any other scope, before it looks whether the resource exists, as
//                                              ARM does); key-operator: on each account, only the tutorial's
//                                              Storage Account Key Operator Service Role (listKeys; a GET of the
//                                              account or a SAS is 403)
import { randomUUID } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ArmDeps, type EmulatorAccount, ROLE_SCOPES, type RoleScope, type StoredAccount, arm } from './arm.js';
import { type Fault, FaultQueue, type FaultTarget } from './faults.js';
import { type Ctx, send } from './http.js';

/** Instance metadata api-versions the emulator answers (oldest first), for /metadata/versions. */
const INSTANCE_API_VERSIONS = ['2017-03-01', '2017-04-02', '2017-08-01', '2017-10-01', '2017-12-01', '2018-02-01', '2018-04-02', '2018-10-01', '2019-02-01', '2019-03-11', '2019-04-30', '2019-06-01', '2019-06-04', '2019-08-01', '2019-08-15', '2019-11-01', '2020-06-01', '2020-07-15', '2020-09-01', '2020-10-01', '2020-12-01', '2021-01-01', '2021-02-01', '2021-03-01', '2021-05-01', '2021-08-01', '2021-10-01', '2021-11-01', '2021-11-15', '2021-12-13'];
import { type ArcOptions, IdentityState, type ManagedIdentity, identityRoutes } from './identity.js';
import { TokenSigner } from './jwt.js';

export type { EmulatorAccount };

export interface EmulatorOptions {
  host?: string;
  port?: number;
  tenantId?: string;
  subscriptionId?: string;
  resourceGroupName?: string;
  accounts: EmulatorAccount[];
  /** Token lifetime in seconds (IMDS tokens usually live about a day). */
  tokenLifetimeSec?: number;
}

export interface Emulator {
  url: string;
  accounts: StoredAccount[];
  port: number;
  subscriptionId: string;
  resourceGroupName: string;
  tenantId: string;
  identity: ManagedIdentity;
  state: IdentityState;
  faults: FaultQueue;
  close(): Promise<void>;
}

interface LoggedRequest {
  time: number;
  method: string;
  path: string;
  /** The query string (resource, api-version, identity selectors: nothing secret is ever sent in one here). */
  query: string;
  target: string;
  status?: number;
}

export async function startEmulator(options: EmulatorOptions): Promise<Emulator> {
  const host = options.host ?? '127.0.0.1';
  const tenantId = options.tenantId ?? randomUUID();
  // The VM's own id (compute.vmId), not the tenant's.
  const vmId = randomUUID();
  const subscriptionId = (options.subscriptionId ?? randomUUID()).toLowerCase();
  const resourceGroupName = options.resourceGroupName ?? 'msistorage-rg';
  let lifetime = options.tokenLifetimeSec ?? 86_399;
  const signer = new TokenSigner();
  const state = new IdentityState(subscriptionId, resourceGroupName);
  const faults = new FaultQueue();
  const log: LoggedRequest[] = [];
  const accounts = options.accounts.map((a) => ({ ...a, name: a.name.toLowerCase(), resourceGroupName: a.resourceGroupName ?? resourceGroupName }));
  let pageSize = 100;
  const armDeps: ArmDeps = {
    signer,
    subscriptionId,
    resourceGroups: new Set([resourceGroupName.toLowerCase(), ...accounts.map((a) => a.resourceGroupName.toLowerCase())]),
    accounts,
    location: 'westeurope',
    pageSize: () => pageSize,
    azEnvironment: () => metadata.azEnvironment,
    roleScope: 'subscription',
  };
  const metadata = { azEnvironment: 'AzurePublicCloud' };
  const identity = identityRoutes({ state, signer, tenantId, lifetimeSec: () => lifetime });
  let url = '';

  function control(ctx: Ctx): void {
    const { req, res } = ctx;
    const p = ctx.url.pathname.toLowerCase();
    const body = ctx.body ? (JSON.parse(ctx.body) as Record<string, unknown>) : {};
    if (p === '/__emulator/health') return send(res, 200, { ok: true });
    if (p === '/__emulator/info') {
      return send(res, 200, {
        url,
        tenantId,
        subscriptionId,
        resourceGroupName,
        systemAssigned: state.system ?? null,
        userAssigned: state.user,
        appServiceHeader: state.appServiceHeader,
        endpoints: {
          imds: `${url}/metadata/identity/oauth2/token`,
          vmExtension: `${url}/oauth2/token`,
          appService: `${url}/msi/token`,
          arc: `${url}/arc/metadata/identity/oauth2/token`,
          arcImds: `${url}/arc`,
          cloudShell: `${url}/cloudshell/oauth2/token`,
          arm: `${url}/`,
        },
        pendingFaults: faults.pending(),
      });
    }
    if (p === '/__emulator/identities' && req.method === 'POST') {
      state.configure(body.systemAssigned !== false, Number(body.userAssigned ?? 0));
      return send(res, 200, { systemAssigned: state.system ?? null, userAssigned: state.user });
    }
    if (p === '/__emulator/faults') {
      if (req.method === 'DELETE') faults.clear();
      else faults.add(String(body.target ?? 'all') as FaultTarget, (body.faults ?? []) as Fault[]);
      return send(res, 200, { pending: faults.pending() });
    }
    if (p === '/__emulator/requests') {
      if (req.method === 'DELETE') log.length = 0;
      return send(res, 200, log.filter((r) => !r.path.startsWith('/__emulator')));
    }
    if (p === '/__emulator/arc' && req.method === 'POST') {
      state.arc = body as ArcOptions;
      return send(res, 200, state.arc);
    }
    if (p === '/__emulator/token-lifetime' && req.method === 'POST') {
      lifetime = Number(body.seconds);
      return send(res, 200, { seconds: lifetime });
    }
    if (p === '/__emulator/metadata' && req.method === 'POST') {
      Object.assign(metadata, body);
      return send(res, 200, metadata);
    }
    if (p === '/__emulator/role-scope' && req.method === 'POST') {
      if (!(ROLE_SCOPES as readonly unknown[]).includes(body.scope)) return send(res, 400, { error: { code: 'InvalidScope', message: `scope is one of ${ROLE_SCOPES.join(', ')}` } });
      armDeps.roleScope = body.scope as RoleScope;
      return send(res, 200, { scope: armDeps.roleScope });
    }
    if (p === '/__emulator/page-size' && req.method === 'POST') {
      pageSize = Math.max(1, Number(body.size));
      return send(res, 200, { size: pageSize });
    }
    const acct = /^\/__emulator\/accounts\/([^/]+)$/.exec(p);
    if (acct && req.method === 'POST') {
      const a = accounts.find((x) => x.name === acct[1]);
      if (!a) return send(res, 404, { error: { code: 'NotFound', message: `No account ${acct[1]}` } });
      if (typeof body.withholdListKeys === 'boolean') a.withholdListKeys = body.withholdListKeys;
      if (typeof body.allowSharedKeyAccess === 'boolean') a.allowSharedKeyAccess = body.allowSharedKeyAccess;
      return send(res, 200, { name: a.name, withholdListKeys: !!a.withholdListKeys, allowSharedKeyAccess: a.allowSharedKeyAccess !== false });
    }
    return send(res, 404, { error: { code: 'NotFound', message: `No control route ${req.method} ${ctx.url.pathname}` } });
  }

  /**
   * IMDS instance metadata, as documented (virtual-machines/instance-metadata-service): the whole document at
   * /metadata/instance, any node below it by path (/metadata/instance/compute/subscriptionId), and
   * /metadata/versions. A leaf must be asked for with format=text (the default, json, is refused there); a
   * node with children in text is the list of their names, a trailing '/' on those that have children of
   * their own. The api-version must be one IMDS serves, and a query parameter may not be given twice. Its
   * errors are plain strings, not the token endpoint's.
   */
  function instanceMetadata(ctx: Ctx): void {
    const { req, res, url } = ctx;
    if (req.method !== 'GET') return send(res, 405, { error: 'Method not allowed.' });
    if (req.headers['x-forwarded-for']) return send(res, 400, { error: 'Bad request. Requests with an X-Forwarded-For header are rejected.' });
    if (req.headers.metadata !== 'true') return send(res, 400, { error: 'Bad request. Required metadata header not specified' });
    if (url.pathname.replace(/\/+$/, '').toLowerCase() === '/metadata/versions') return send(res, 200, { apiVersions: INSTANCE_API_VERSIONS });
    const names = [...url.searchParams.keys()].map((k) => k.toLowerCase());
    if (new Set(names).size !== names.length) return send(res, 400, { error: 'Bad request. Requests with duplicate query parameter names are rejected.' });
    const newest = INSTANCE_API_VERSIONS.slice(-3).reverse();
    const apiVersion = url.searchParams.get('api-version');
    if (!apiVersion) return send(res, 400, { error: 'Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds', 'newest-versions': newest });
    if (!INSTANCE_API_VERSIONS.includes(apiVersion)) return send(res, 400, { error: `Bad request. api-version '${apiVersion}' is invalid. For more information refer to aka.ms/azureimds`, 'newest-versions': newest });
    const format = url.searchParams.get('format')?.toLowerCase() ?? 'json';
    if (format !== 'json' && format !== 'text') return send(res, 400, { error: `Bad request. format '${format}' is not supported: use json or text.` });
    const compute = {
      azEnvironment: metadata.azEnvironment,
      location: armDeps.location,
      name: 'msistorage-vm',
      osType: process.platform === 'win32' ? 'Windows' : 'Linux',
      provider: 'Microsoft.Compute',
      resourceGroupName,
      resourceId: `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroupName}/providers/Microsoft.Compute/virtualMachines/msistorage-vm`,
      subscriptionId,
      tags: '',
      vmId,
      vmScaleSetName: '',
    };
    let node: unknown = { compute, network: { interface: [] } };
    for (const segment of url.pathname.replace(/\/+$/, '').split('/').slice(3)) {
      const key = node && typeof node === 'object' ? Object.keys(node).find((k) => k.toLowerCase() === segment.toLowerCase()) : undefined;
      if (key === undefined) return send(res, 404, { error: 'Not found' });
      node = (node as Record<string, unknown>)[key];
    }
    const leaf = node === null || typeof node !== 'object';
    if (leaf && format !== 'text') return send(res, 400, { error: 'Bad request. A leaf node must be queried with format=text; json is the default, and only for nodes with children.' });
    if (format === 'text') {
      const text = leaf
        ? String(node)
        : Object.entries(node as Record<string, unknown>)
            .map(([k, v]) => (v !== null && typeof v === 'object' ? `${k}/` : k))
            .join('\n');
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(text);
      return;
    }
    send(res, 200, node);
  }

  async function route(ctx: Ctx, entry: LoggedRequest): Promise<void> {
    const p = ctx.url.pathname.toLowerCase().replace(/\/+$/, '') || '/';
    if (p.startsWith('/__emulator')) return control(ctx);
    const id = identity[p];
    const isMetadata = p === '/metadata/instance' || p.startsWith('/metadata/instance/') || p === '/metadata/versions';
    const target: FaultTarget | undefined = id ? id.target : isMetadata ? 'metadata' : p === '/subscriptions' || p.startsWith('/subscriptions/') ? 'arm' : undefined;
    if (!target) return send(ctx.res, 404, { error: { code: 'NotFound', message: `No route for ${ctx.url.pathname}` } });
    entry.target = target;
    const faulted = faults.apply(target, ctx);
    if (faulted === true) return;
    if (faulted) await faulted;
    if (id) return id.handle(ctx);
    if (isMetadata) return instanceMetadata(ctx);
    return arm(ctx, armDeps);
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const ctx: Ctx = { req, res, url: new URL(req.url ?? '/', 'http://emulator'), body: Buffer.concat(chunks).toString('utf8') };
      const entry: LoggedRequest = { time: Date.now(), method: req.method ?? '', path: ctx.url.pathname, query: ctx.url.search, target: 'control' };
      log.push(entry);
      if (log.length > 10_000) log.shift();
      res.on('finish', () => (entry.status = res.statusCode));
      route(ctx, entry).catch((err: Error) => {
        if (!res.headersSent) send(res, 500, { error: { code: 'InternalServerError', message: err.message } });
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  url = `http://${host}:${port}`;
  return {
    url,
    accounts,
    port,
    subscriptionId,
    resourceGroupName,
    tenantId,
    get identity() {
      return state.system ?? state.make('Microsoft.Compute/virtualMachines/msistorage-vm');
    },
    state,
    faults,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
