// Managed-identity sources. Each one is a small strategy: whether it applies here (isAvailable, from the
// environment), and a pure builder of its token request. Sending, retrying and parsing live in token.ts.
//
// Detection order is MSAL's (msal-node selectManagedIdentitySource, MSAL.NET GetManagedIdentitySourceNoImds):
// Service Fabric, App Service, Machine Learning, Cloud Shell, Azure Arc, IMDS. -Endpoint always overrides.
//   Service Fabric            IDENTITY_ENDPOINT + IDENTITY_HEADER + IDENTITY_SERVER_THUMBPRINT   refused (below)
//   App Service / Functions   IDENTITY_ENDPOINT + IDENTITY_HEADER     api-version 2019-08-01, X-IDENTITY-HEADER
//   Azure Machine Learning    MSI_ENDPOINT + MSI_SECRET               refused (below)
//   Cloud Shell               MSI_ENDPOINT                            POST, form body
//   Azure Arc                 IDENTITY_ENDPOINT + IMDS_ENDPOINT, or the agent's himds executable (then
//                             http://127.0.0.1:40342/...)            api-version 2019-11-01, key-file challenge
//   VM / VMSS IMDS            (default)                               api-version 2018-02-01, Metadata: true
// Service Fabric and Azure Machine Learning are detected only to be refused with a clear error: otherwise
// their variables would pass for App Service and Cloud Shell, whose requests they do not understand.
// (Service Fabric's endpoint is HTTPS with a self-signed certificate pinned by IDENTITY_SERVER_THUMBPRINT.)
import { MsiError, invalidArgument } from '../errors.js';
import type { HttpRequest } from '../http.js';
import { registerSecret } from '../redact.js';
import { ARC_DEFAULT_ENDPOINT, arcAgentInstalled } from './arc.js';

export const IMDS_DEFAULT_HOST = 'http://169.254.169.254';
export const IMDS_TOKEN_PATH = '/metadata/identity/oauth2/token';
export const IMDS_API_VERSION = '2018-02-01';
export const APP_SERVICE_API_VERSION = '2019-08-01';
export const ARC_API_VERSION = '2019-11-01';
export const ARM_RESOURCE = 'https://management.azure.com/';

export type SourceName = 'IMDS' | 'VMExtension' | 'AppService' | 'AzureArc' | 'CloudShell';

/** A user-assigned identity, by one of its ids; none means the system-assigned identity. */
export interface IdentitySelector {
  clientId?: string;
  objectId?: string;
  identityResourceId?: string;
}

export interface TokenSpec {
  resource: string;
  identity: IdentitySelector;
}

export interface IdentitySource {
  name: SourceName;
  /** The URL requests go to (without query), for messages and the cache key. */
  endpoint: string;
  /** Named by the caller (-Endpoint), not found from the environment. */
  explicit?: boolean;
  build(spec: TokenSpec): HttpRequest;
}

type Env = Record<string, string | undefined>;

export function parseEndpoint(value: string, parameter: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw invalidArgument(parameter, `-${parameter} '${value}' is not an absolute URL. Give one such as http://169.254.169.254/metadata/identity/oauth2/token.`, 'InvalidEndpoint');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidArgument(parameter, `-${parameter} '${value}' uses the scheme '${url.protocol.replace(':', '')}'; only http and https are supported.`, 'InvalidEndpoint');
  }
  if (url.username || url.password) {
    throw invalidArgument(parameter, `-${parameter} must not carry a user name or password.`, 'InvalidEndpoint');
  }
  return url;
}

/** The IMDS base URL: AZURE_POD_IDENTITY_AUTHORITY_HOST replaces the host for every IMDS request. */
export function imdsHost(env: Env = process.env): string {
  const override = env.AZURE_POD_IDENTITY_AUTHORITY_HOST?.trim();
  if (!override) return IMDS_DEFAULT_HOST;
  const url = parseEndpoint(override.includes('://') ? override : `http://${override}`, 'AZURE_POD_IDENTITY_AUTHORITY_HOST');
  return url.origin + url.pathname.replace(/\/+$/, '');
}

function withQuery(base: URL, query: Record<string, string | undefined>): string {
  const url = new URL(base.href);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && !url.searchParams.has(k)) url.searchParams.set(k, v);
  return url.href;
}

function unsupportedUserAssigned(source: SourceName, spec: TokenSpec): void {
  const { clientId, objectId, identityResourceId } = spec.identity;
  if (clientId || objectId || identityResourceId) {
    throw invalidArgument(
      clientId ? 'ClientId' : objectId ? 'ObjectId' : 'IdentityResourceId',
      `${source} offers only its system-assigned identity, so -ClientId, -ObjectId and -IdentityResourceId cannot be used with it. Leave them out.`,
      'UserAssignedNotSupported',
    );
  }
}

/** VM / VMSS Instance Metadata Service (also the retired MSI VM extension, which spoke the same protocol). */
export function imdsSource(base: URL, name: 'IMDS' | 'VMExtension' = 'IMDS'): IdentitySource {
  return {
    name,
    endpoint: base.origin + base.pathname,
    build: (spec) => ({
      method: 'GET',
      url: withQuery(base, {
        'api-version': name === 'IMDS' ? IMDS_API_VERSION : undefined,
        resource: spec.resource,
        client_id: spec.identity.clientId,
        object_id: spec.identity.objectId,
        msi_res_id: spec.identity.identityResourceId,
      }),
      headers: { Metadata: 'true' },
    }),
  };
}

/** App Service, Functions and Container Apps: IDENTITY_ENDPOINT + IDENTITY_HEADER. */
export function appServiceSource(endpoint: URL, header: string): IdentitySource {
  registerSecret(header);
  return {
    name: 'AppService',
    endpoint: endpoint.origin + endpoint.pathname,
    build: (spec) => ({
      method: 'GET',
      url: withQuery(endpoint, {
        'api-version': APP_SERVICE_API_VERSION,
        resource: spec.resource,
        client_id: spec.identity.clientId,
        principal_id: spec.identity.objectId,
        mi_res_id: spec.identity.identityResourceId,
      }),
      headers: { 'X-IDENTITY-HEADER': header },
    }),
  };
}

/** Azure Arc-enabled servers: IDENTITY_ENDPOINT + IMDS_ENDPOINT; the first answer is a key-file challenge. */
export function arcSource(endpoint: URL): IdentitySource {
  // The agent listens on loopback; MSAL uses 127.0.0.1 rather than "localhost".
  const base = new URL(endpoint.href);
  if (base.hostname === 'localhost') base.hostname = '127.0.0.1';
  return {
    name: 'AzureArc',
    endpoint: base.origin + base.pathname,
    build: (spec) => {
      unsupportedUserAssigned('AzureArc', spec);
      return { method: 'GET', url: withQuery(base, { 'api-version': ARC_API_VERSION, resource: spec.resource }), headers: { Metadata: 'true' } };
    },
  };
}

/** Azure Cloud Shell: MSI_ENDPOINT, a POST with a form body. */
export function cloudShellSource(endpoint: URL): IdentitySource {
  return {
    name: 'CloudShell',
    endpoint: endpoint.origin + endpoint.pathname,
    build: (spec) => {
      unsupportedUserAssigned('CloudShell', spec);
      return {
        method: 'POST',
        url: endpoint.href,
        headers: { Metadata: 'true', 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ resource: spec.resource }).toString(),
      };
    },
  };
}

interface Strategy {
  /** The source, or one that MsiStorage detects only to refuse. */
  name: SourceName | 'ServiceFabric' | 'MachineLearning';
  isAvailable(env: Env, platform?: NodeJS.Platform): boolean;
  create(env: Env, platform?: NodeJS.Platform): IdentitySource;
}

const envUrl = (env: Env, name: string) => parseEndpoint(env[name]!.trim(), name);

/** The error for a source MsiStorage recognises but does not support. */
function unsupportedSource(what: string, variables: string, why: string): MsiError {
  return new MsiError(
    'ManagedIdentitySourceNotSupported',
    `This looks like ${what} (${variables} are set), a managed-identity source MsiStorage does not support: ${why} ` +
      'Pass -Endpoint to use another identity endpoint (such as the VM or scale set IMDS, http://169.254.169.254/metadata/identity/oauth2/token), ' +
      'or get the token another way and pass it with -Token where a cmdlet takes one.',
    'InvalidOperation',
    { parameter: 'Endpoint' },
  );
}

/** The sources, in MSAL's detection order. IMDS is always available: it is the default. */
export const STRATEGIES: Strategy[] = [
  {
    name: 'ServiceFabric',
    isAvailable: (env) => !!env.IDENTITY_ENDPOINT && !!env.IDENTITY_HEADER && !!env.IDENTITY_SERVER_THUMBPRINT,
    create: () => {
      throw unsupportedSource('Service Fabric', 'IDENTITY_ENDPOINT, IDENTITY_HEADER and IDENTITY_SERVER_THUMBPRINT', "its endpoint is HTTPS with the cluster's own certificate, which must be pinned by IDENTITY_SERVER_THUMBPRINT.");
    },
  },
  { name: 'AppService', isAvailable: (env) => !!env.IDENTITY_ENDPOINT && !!env.IDENTITY_HEADER, create: (env) => appServiceSource(envUrl(env, 'IDENTITY_ENDPOINT'), env.IDENTITY_HEADER!) },
  {
    name: 'MachineLearning',
    isAvailable: (env) => !!env.MSI_ENDPOINT && !!env.MSI_SECRET,
    create: () => {
      throw unsupportedSource(
        'Azure Machine Learning, or an App Service or Functions plan that offers only the older protocol',
        'MSI_ENDPOINT and MSI_SECRET',
        'that endpoint speaks api-version 2017-09-01 with a secret header. On App Service and Functions, plans that set IDENTITY_ENDPOINT and IDENTITY_HEADER are supported.',
      );
    },
  },
  { name: 'CloudShell', isAvailable: (env) => !!env.MSI_ENDPOINT, create: (env) => cloudShellSource(envUrl(env, 'MSI_ENDPOINT')) },
  {
    name: 'AzureArc',
    isAvailable: (env, platform) => (!!env.IDENTITY_ENDPOINT && !!env.IMDS_ENDPOINT) || arcAgentInstalled(env, platform),
    // As MSAL does: the variables when both are set, else the agent's fixed local endpoint.
    create: (env) => arcSource(env.IDENTITY_ENDPOINT && env.IMDS_ENDPOINT ? envUrl(env, 'IDENTITY_ENDPOINT') : new URL(ARC_DEFAULT_ENDPOINT)),
  },
  { name: 'IMDS', isAvailable: () => true, create: (env) => imdsSource(new URL(imdsHost(env) + IMDS_TOKEN_PATH)) },
];

/** Picks the source: -Endpoint when given (IMDS path, else the legacy extension), else by the environment. */
export function selectSource(endpoint: string | undefined, env: Env = process.env, platform: NodeJS.Platform = process.platform): IdentitySource {
  if (endpoint) {
    const url = parseEndpoint(endpoint, 'Endpoint');
    const source = url.pathname.toLowerCase().startsWith('/metadata/') ? imdsSource(url) : imdsSource(url, 'VMExtension');
    return { ...source, explicit: true };
  }
  const strategy = STRATEGIES.find((s) => s.isAvailable(env, platform))!;
  return strategy.create(env, platform);
}

/** Exactly one selector at most (the cmdlet's parameter sets ensure it; the request may not). */
export function checkSelector(identity: IdentitySelector): void {
  const given = (['clientId', 'objectId', 'identityResourceId'] as const).filter((k) => identity[k]);
  if (given.length > 1) {
    throw new MsiError('ConflictingIdentitySelectors', `Give only one of -ClientId, -ObjectId and -IdentityResourceId (got ${given.length}).`, 'InvalidArgument', { parameter: 'ClientId' });
  }
  const guid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
  for (const [key, parameter] of [['clientId', 'ClientId'], ['objectId', 'ObjectId']] as const) {
    const v = identity[key];
    if (v !== undefined && !guid.test(v)) {
      throw invalidArgument(parameter, `-${parameter} '${v}' is not a GUID. Give the user-assigned identity's ${key === 'clientId' ? 'client (application)' : 'object (principal)'} id, as the portal or Get-AzUserAssignedIdentity shows it.`, 'InvalidIdentitySelector');
    }
  }
  const rid = identity.identityResourceId;
  if (rid !== undefined && !/^\/subscriptions\/[^/]+\/resourcegroups\/[^/]+\/providers\/microsoft\.managedidentity\/userassignedidentities\/[^/]+$/i.test(rid)) {
    throw invalidArgument(
      'IdentityResourceId',
      `-IdentityResourceId '${rid}' is not a user-assigned identity's resource id: give /subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>.`,
      'InvalidIdentitySelector',
    );
  }
}

/**
 * A scope ending in '/.default' names the resource before it, as MSAL and @azure/identity map it:
 * 'api://<app>/.default' is 'api://<app>', '<app id>/.default' is '<app id>'. A bare service URL keeps its
 * trailing slash ('https://storage.azure.com/.default' is 'https://storage.azure.com/'), the spelling of the
 * default resource, so that both share a token (and a cache entry).
 */
export function normalizeResource(resource: string | undefined): string {
  const r = (resource ?? ARM_RESOURCE).trim();
  const named = r.toLowerCase().endsWith('/.default') ? r.slice(0, -'/.default'.length) : r;
  // '/.default' alone names nothing, as an empty -Resource does.
  if (!named) throw invalidArgument('Resource', `-Resource ${r ? `'${r}' names no resource` : 'is empty'}. Give the resource URI, such as https://management.azure.com/ (or its scope, https://management.azure.com/.default).`, 'InvalidResource');
  if (named === r) return r;
  return /^https?:\/\/[^/]+$/i.test(named) ? `${named}/` : named;
}
