// Managed-identity sources. Each one is a small strategy: whether it applies here, and a pure builder of
// its token request. Sending, retrying and parsing live in token.ts.
import { invalidArgument } from '../errors.js';
import type { HttpRequest } from '../http.js';

export const IMDS_DEFAULT_HOST = 'http://169.254.169.254';
export const IMDS_TOKEN_PATH = '/metadata/identity/oauth2/token';
export const IMDS_API_VERSION = '2018-02-01';
export const ARM_RESOURCE = 'https://management.azure.com/';

export interface TokenSpec {
  resource: string;
}

export interface IdentitySource {
  /** Reported as the token's Source. */
  name: 'IMDS' | 'VMExtension';
  /** The URL requests go to (without query), for messages and the cache key. */
  endpoint: string;
  build(spec: TokenSpec): HttpRequest;
}

type Env = Record<string, string | undefined>;

/** The IMDS base URL: AZURE_POD_IDENTITY_AUTHORITY_HOST replaces the host for every IMDS request. */
export function imdsHost(env: Env = process.env): string {
  const override = env.AZURE_POD_IDENTITY_AUTHORITY_HOST?.trim();
  if (!override) return IMDS_DEFAULT_HOST;
  const url = parseEndpoint(override.includes('://') ? override : `http://${override}`, 'AZURE_POD_IDENTITY_AUTHORITY_HOST');
  return url.origin + url.pathname.replace(/\/+$/, '');
}

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

function withQuery(base: URL, query: Record<string, string | undefined>): string {
  const url = new URL(base.href);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && !url.searchParams.has(k)) url.searchParams.set(k, v);
  return url.href;
}

/** VM / VMSS Instance Metadata Service. */
export function imdsSource(base: URL): IdentitySource {
  return {
    name: 'IMDS',
    endpoint: base.origin + base.pathname,
    build: (spec) => ({
      method: 'GET',
      url: withQuery(base, { 'api-version': IMDS_API_VERSION, resource: spec.resource }),
      headers: { Metadata: 'true' },
    }),
  };
}

/** The tutorial's (retired) MSI VM extension: http://localhost:50342/oauth2/token, resource in the query. */
export function vmExtensionSource(base: URL): IdentitySource {
  return {
    name: 'VMExtension',
    endpoint: base.origin + base.pathname,
    build: (spec) => ({
      method: 'GET',
      url: withQuery(base, { resource: spec.resource }),
      headers: { Metadata: 'true' },
    }),
  };
}

/** Picks the source: -Endpoint when given (IMDS path or the legacy extension), else IMDS. */
export function selectSource(endpoint: string | undefined, env: Env = process.env): IdentitySource {
  if (endpoint) {
    const url = parseEndpoint(endpoint, 'Endpoint');
    return url.pathname.toLowerCase().startsWith('/metadata/') ? imdsSource(url) : vmExtensionSource(url);
  }
  return imdsSource(new URL(imdsHost(env) + IMDS_TOKEN_PATH));
}

/** A scope such as 'https://storage.azure.com/.default' names the resource 'https://storage.azure.com/'. */
export function normalizeResource(resource: string | undefined): string {
  const r = (resource ?? ARM_RESOURCE).trim();
  if (!r) throw invalidArgument('Resource', '-Resource is empty. Give the resource URI, such as https://management.azure.com/.', 'InvalidResource');
  return r.endsWith('/.default') ? r.slice(0, -'.default'.length) : r;
}
