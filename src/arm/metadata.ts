// IMDS instance metadata: the VM's own subscription, resource group and cloud.
import { MsiError } from '../errors.js';
import { type HttpRequest, type HttpResponse, tryParseJson } from '../http.js';
import { imdsHost } from '../identity/sources.js';
import { imdsRetryPolicy } from '../identity/token.js';
import { type Deadline, type RetryPolicy, sendWithRetries } from '../retry.js';

export const INSTANCE_API_VERSION = '2021-02-01';

export interface InstanceCompute {
  subscriptionId: string;
  resourceGroupName: string;
  azEnvironment?: string;
  name?: string;
}

export function buildInstanceMetadataRequest(env: Record<string, string | undefined> = process.env): HttpRequest {
  return { method: 'GET', url: `${imdsHost(env)}/metadata/instance?api-version=${INSTANCE_API_VERSION}`, headers: { Metadata: 'true' } };
}

export function parseInstanceMetadata(res: HttpResponse): InstanceCompute {
  const body = tryParseJson(res.body) as Record<string, unknown> | undefined;
  // /metadata/instance/compute answers the compute object; /metadata/instance wraps it in "compute".
  const compute = (body && typeof body.compute === 'object' ? body.compute : body) as Record<string, unknown> | undefined;
  const sub = compute?.subscriptionId;
  const rg = compute?.resourceGroupName;
  if (res.status !== 200 || typeof sub !== 'string' || typeof rg !== 'string' || !sub || !rg) {
    throw new MsiError(
      'InstanceMetadataUnavailable',
      `The instance metadata service answered HTTP ${res.status} without compute.subscriptionId and compute.resourceGroupName. Pass -SubscriptionId and -ResourceGroupName (or -ResourceId).`,
      'ResourceUnavailable',
      { statusCode: res.status, parameter: 'SubscriptionId' },
    );
  }
  return {
    subscriptionId: sub,
    resourceGroupName: rg,
    azEnvironment: typeof compute?.azEnvironment === 'string' ? compute.azEnvironment : undefined,
    name: typeof compute?.name === 'string' ? compute.name : undefined,
  };
}

export async function getInstanceMetadata(deadline: Deadline, signal?: AbortSignal): Promise<InstanceCompute> {
  // The token endpoint's 404 means "IMDS is being updated"; here it means "no such element": final.
  const imds = imdsRetryPolicy();
  const policy: RetryPolicy = { ...imds, name: 'Instance metadata', retryable: (o, attempt, elapsed, earlier) => o.response?.status !== 404 && imds.retryable(o, attempt, elapsed, earlier) };
  const outcome = await sendWithRetries(() => buildInstanceMetadataRequest(), policy, deadline, signal);
  if (outcome.error) {
    throw new MsiError(
      'InstanceMetadataUnavailable',
      `The VM's instance metadata could not be read (${outcome.error.message} at ${outcome.error.url}), so its subscription and resource group are unknown. Off an Azure VM, pass -SubscriptionId and -ResourceGroupName (or -ResourceId).`,
      'ResourceUnavailable',
      { parameter: 'SubscriptionId' },
    );
  }
  return parseInstanceMetadata(outcome.response);
}
