// Azure clouds: the ARM endpoint, the audience of ARM tokens, and the storage suffix of each.
import { invalidArgument } from '../errors.js';

export type CloudName = 'AzureCloud' | 'AzureChinaCloud' | 'AzureUSGovernment';

export interface Cloud {
  name: CloudName;
  armEndpoint: string;
  /** The resource to ask the identity endpoint for, for ARM tokens. */
  armResource: string;
  storageSuffix: string;
}

export const CLOUDS: Record<CloudName, Cloud> = {
  AzureCloud: { name: 'AzureCloud', armEndpoint: 'https://management.azure.com/', armResource: 'https://management.azure.com/', storageSuffix: 'core.windows.net' },
  AzureChinaCloud: { name: 'AzureChinaCloud', armEndpoint: 'https://management.chinacloudapi.cn/', armResource: 'https://management.chinacloudapi.cn/', storageSuffix: 'core.chinacloudapi.cn' },
  AzureUSGovernment: {
    name: 'AzureUSGovernment',
    armEndpoint: 'https://management.usgovcloudapi.net/',
    armResource: 'https://management.usgovcloudapi.net/',
    storageSuffix: 'core.usgovcloudapi.net',
  },
};

/** The storage data-plane audience is the same in every cloud. */
export const STORAGE_RESOURCE = 'https://storage.azure.com/';

/** -Environment as the user typed it. */
export function cloudByName(name: string): Cloud {
  const found = (Object.keys(CLOUDS) as CloudName[]).find((k) => k.toLowerCase() === name.toLowerCase());
  if (!found) throw invalidArgument('Environment', `-Environment '${name}' is not one of ${Object.keys(CLOUDS).join(', ')}.`, 'InvalidEnvironment');
  return CLOUDS[found];
}

/**
 * IMDS compute.azEnvironment to a cloud, case-insensitively ("AzurePublicCloud", "AZUREPUBLICCLOUD",
 * "AzureUSGovernmentCloud", "AzureChinaCloud", ...). Anything unknown is the public cloud.
 */
export function cloudFromAzEnvironment(value: string | undefined): Cloud {
  const v = (value ?? '').toLowerCase().replace(/[^a-z]/g, '');
  if (v === 'azurechinacloud' || v === 'chinacloud') return CLOUDS.AzureChinaCloud;
  if (v === 'azureusgovernmentcloud' || v === 'azureusgovernment' || v === 'usgovernmentcloud' || v === 'azureusgov') return CLOUDS.AzureUSGovernment;
  return CLOUDS.AzureCloud;
}

/** ARM tokens for a cloud carry one of these audiences. */
export function armAudiences(cloud: Cloud): string[] {
  const host = new URL(cloud.armEndpoint).host;
  const legacy = cloud.name === 'AzureCloud' ? 'management.core.windows.net' : cloud.name === 'AzureChinaCloud' ? 'management.core.chinacloudapi.cn' : 'management.core.usgovcloudapi.net';
  return [`https://${host}/`, `https://${host}`, `https://${legacy}/`, `https://${legacy}`];
}
