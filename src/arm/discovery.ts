// Finding the storage account with the fewest parameters: the VM's own subscription, resource group and
// cloud from instance metadata, a search across the subscription when the account is elsewhere, -ResourceId,
// and -Environment. One ArmSession carries the deadline, the cloud, the ARM endpoint and the token (refreshed
// once if ARM says it expired) through every ARM call of a command.
import { MsiError, firstSentence } from '../errors.js';
import type { HttpRequest, HttpResponse } from '../http.js';
import { STRATEGIES, checkSelector } from '../identity/sources.js';
import { DEFAULT_TOKEN_TIMEOUT_SEC, getToken } from '../identity/token.js';
import { verbose } from '../log.js';
import type { IdentityJson, TokenResult } from '../protocol.js';
import { registerSecret } from '../redact.js';
import { Deadline } from '../retry.js';
import {
  type AccountRef,
  type ArmStorageAccount,
  type TokenOrigin,
  armSend,
  buildGetAccountRequest,
  buildListAccountsRequest,
  parseAccountResponse,
  parseListAccountsResponse,
  parseResourceId,
  tokenClaims,
  validateResourceGroupName,
  validateStorageAccountName,
  validateSubscriptionId,
} from './arm.js';
import { type Cloud, CLOUDS, armAudiences, cloudByName, cloudFromAzEnvironment } from './clouds.js';
import { type InstanceCompute, getInstanceMetadata } from './metadata.js';

/** Errors that, for a guessed resource group, may only mean the account lives elsewhere in the subscription. */
const GUESS_MISSES = new Set(['StorageAccountNotFound', 'ResourceGroupNotFound', 'AuthorizationFailed']);

/** Seconds for the instance-metadata probe that only learns the cloud. */
const CLOUD_PROBE_SEC = 2;

/** The cloud whose ARM a token was issued for, from its audience; undefined when it is none of them. */
function cloudOfArmToken(aud: string | undefined): Cloud | undefined {
  if (!aud) return undefined;
  return Object.values(CLOUDS).find((c) => armAudiences(c).includes(aud));
}

export interface AccountQuery {
  storageAccountName?: string;
  resourceGroupName?: string;
  subscriptionId?: string;
  resourceId?: string;
  environment?: string;
  armEndpoint?: string;
  token?: string;
  /** The token came from PowerShell's session cache (not from -Token): replace it freely if it does not fit. */
  tokenFromCache?: boolean;
  identity?: IdentityJson;
  timeoutSec?: number;
}

export interface ResolvedLocation {
  subscriptionId: string;
  resourceGroupName: string;
  storageAccountName: string;
  environment: string;
  armEndpoint: string;
}

export class ArmSession {
  readonly deadline: Deadline;
  cloud: Cloud = CLOUDS.AzureCloud;
  armEndpoint = CLOUDS.AzureCloud.armEndpoint;
  ref!: AccountRef;
  /** The resource group came from the VM, not the user: the account may live elsewhere in the subscription. */
  private groupGuessed = false;
  private token: string | undefined;
  private origin: TokenOrigin = { from: 'identity' };
  /** The last token this session got from the identity endpoint, handed back to PowerShell's cache. */
  fetchedToken: TokenResult | undefined;
  account: ArmStorageAccount | undefined;

  constructor(
    private readonly q: AccountQuery,
    private readonly signal?: AbortSignal,
  ) {
    this.deadline = new Deadline(q.timeoutSec ?? q.identity?.timeoutSec ?? DEFAULT_TOKEN_TIMEOUT_SEC);
    // Checked up front, not only when a token has to be fetched: a bad selector is an error either way.
    if (q.identity) checkSelector(q.identity);
    if (q.token) {
      registerSecret(q.token);
      // -Token "Bearer eyJ..." (an Authorization header's value, pasted): the token is what follows.
      this.token = q.token.replace(/^\s*bearer\s+/i, '');
      registerSecret(this.token);
      this.origin = { from: q.tokenFromCache ? 'identity' : 'Token', ...tokenClaims(this.token) };
    }
  }

  /** Works out subscription, resource group, name, cloud and ARM endpoint, asking IMDS only when needed. */
  async resolve(): Promise<ResolvedLocation> {
    const q = this.q;
    let fromId: AccountRef | undefined;
    if (q.resourceId) {
      fromId = parseResourceId(q.resourceId);
      if (q.storageAccountName && q.storageAccountName.toLowerCase() !== fromId.storageAccountName.toLowerCase()) {
        throw new MsiError('ConflictingAccountNames', `-StorageAccountName '${q.storageAccountName}' and -ResourceId (account '${fromId.storageAccountName}') disagree. Give one of them.`, 'InvalidArgument', {
          parameter: 'ResourceId',
        });
      }
    }
    const name = fromId?.storageAccountName ?? q.storageAccountName;
    if (!name) throw new MsiError('MissingStorageAccount', 'Give -StorageAccountName or -ResourceId.', 'InvalidArgument', { parameter: 'StorageAccountName' });
    validateStorageAccountName(name);
    if (q.subscriptionId) validateSubscriptionId(q.subscriptionId);
    if (q.resourceGroupName) validateResourceGroupName(q.resourceGroupName);

    const armOverride = q.armEndpoint ?? process.env.MSISTORAGE_ARM_ENDPOINT ?? undefined;
    const needLocation = !fromId && (!q.subscriptionId || !q.resourceGroupName);
    const onImds = STRATEGIES.find((s) => s.isAvailable(process.env))?.name === 'IMDS' && !q.identity?.endpoint;
    // The cloud: -Environment; else the cloud of the ARM token the user passed (the tutorial's line asks
    // nothing more of the VM); else the VM's azEnvironment from instance metadata; else AzureCloud.
    const tokenCloud = !q.environment && this.origin.from === 'Token' ? cloudOfArmToken(this.origin.aud) : undefined;
    const wantCloud = !q.environment && !tokenCloud && onImds;
    let md: InstanceCompute | undefined;
    if (needLocation) {
      md = await getInstanceMetadata(this.deadline, this.signal);
    } else if (wantCloud) {
      // Only to learn the cloud: one short try, so that a slow or absent metadata service cannot use up the
      // deadline before ARM is even called.
      try {
        md = await getInstanceMetadata(new Deadline(Math.min(CLOUD_PROBE_SEC, this.deadline.remainingMs() / 1000)), this.signal);
      } catch (err) {
        if (this.signal?.aborted) throw err;
        verbose(`Instance metadata is not available (${firstSentence((err as Error).message)}); assuming AzureCloud.`);
      }
    }
    if (md) verbose(`Instance metadata: subscription ${md.subscriptionId}, resource group ${md.resourceGroupName}, azEnvironment ${md.azEnvironment ?? '(none)'}.`);
    this.cloud = q.environment ? cloudByName(q.environment) : (tokenCloud ?? (md ? cloudFromAzEnvironment(md.azEnvironment) : CLOUDS.AzureCloud));
    const cloudFrom = q.environment ? '-Environment' : tokenCloud ? "the token's audience" : md ? "the VM's azEnvironment" : 'the default';
    this.armEndpoint = armOverride ?? this.cloud.armEndpoint;
    this.origin.armResource = this.cloud.armResource;
    this.ref = {
      subscriptionId: fromId?.subscriptionId ?? q.subscriptionId ?? md!.subscriptionId,
      resourceGroupName: fromId?.resourceGroupName ?? q.resourceGroupName ?? md!.resourceGroupName,
      storageAccountName: name.toLowerCase(),
    };
    this.groupGuessed = !fromId && !q.resourceGroupName;
    verbose(
      `Storage account ${this.ref.storageAccountName}: ${this.groupGuessed ? `trying the VM's resource group, ${this.ref.resourceGroupName}` : `resource group ${this.ref.resourceGroupName}`}, subscription ${this.ref.subscriptionId}; cloud ${this.cloud.name} (from ${cloudFrom}), ARM at ${this.armEndpoint}.`,
    );
    return this.location();
  }

  location(): ResolvedLocation {
    return { ...this.ref, environment: this.cloud.name, armEndpoint: this.armEndpoint };
  }

  private async freshToken(reason: string): Promise<string> {
    verbose(`${reason}: getting an Azure Resource Manager token from the managed identity.`);
    this.fetchedToken = await getToken({ ...this.q.identity, resource: this.q.identity?.resource ?? this.cloud.armResource }, this.signal, this.deadline);
    this.token = this.fetchedToken.accessToken;
    this.origin = { from: 'identity', armResource: this.cloud.armResource, ...tokenClaims(this.token) };
    return this.token;
  }

  private async currentToken(): Promise<string> {
    if (this.token && this.origin.from === 'identity' && this.origin.aud && !armAudiences(this.cloud).includes(this.origin.aud)) {
      return this.freshToken(`The cached token is for ${this.origin.aud}, not ${this.cloud.name}'s ARM`);
    }
    return this.token ?? this.freshToken('No -Token given');
  }

  /** One ARM call with the session's token; an expired token is refreshed once and the call retried. */
  async send(build: (token: string) => HttpRequest, action: string): Promise<HttpResponse> {
    const token = await this.currentToken();
    try {
      return await armSend(() => build(token), this.ref, action, this.deadline, this.signal, this.origin);
    } catch (err) {
      if (!(err instanceof MsiError) || err.code !== 'TokenExpired') throw err;
      const fresh = await this.freshToken('Azure Resource Manager says the token has expired');
      return armSend(() => build(fresh), this.ref, action, this.deadline, this.signal, this.origin);
    }
  }

  /**
   * Runs an operation on the account. When the resource group was the VM's guess and ARM does not find the
   * account there, finds it by name across the subscription and runs the operation again. A 403 counts as
   * "not found there" too: ARM authorizes before it looks, so an identity whose role is on the account alone
   * gets 403 for a guessed scope where the account is not. If the search itself is refused, the first error
   * stands, with a note that the resource group was a guess.
   */
  async onAccount<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (!this.groupGuessed || !(err instanceof MsiError) || !GUESS_MISSES.has(err.code)) throw err;
      const why = err.code === 'AuthorizationFailed' ? 'refuses this identity there' : err.code === 'ResourceGroupNotFound' ? 'does not exist in this subscription' : 'does not hold it';
      verbose(`The VM's resource group ${this.ref.resourceGroupName} ${why}; looking for storage account ${this.ref.storageAccountName} across subscription ${this.ref.subscriptionId}.`);
      let found: ArmStorageAccount;
      try {
        found = await this.findInSubscription();
      } catch (searchErr) {
        // Refused too, or (for a first 403) not in what this identity may list: the first error stands,
        // with its role advice, and a note that the resource group was a guess.
        const refused = searchErr instanceof MsiError && searchErr.code === 'AuthorizationFailed';
        const unseen = searchErr instanceof MsiError && searchErr.code === 'StorageAccountNotFound' && err.code === 'AuthorizationFailed';
        if (!refused && !unseen) throw searchErr;
        verbose(`The search across the subscription ${refused ? 'was refused too' : 'did not show the account'} (${firstSentence(searchErr.message)}).`);
        err.message += ` The resource group '${this.ref.resourceGroupName}' was the VM's own, a guess: if the account is in another one, pass -ResourceGroupName (or -ResourceId).`;
        throw err;
      }
      this.ref = found.ref;
      this.account = found;
      this.groupGuessed = false;
      verbose(`Found it in resource group ${this.ref.resourceGroupName}.`);
      return op();
    }
  }

  private async findInSubscription(): Promise<ArmStorageAccount> {
    let next: string | undefined;
    do {
      const page = next;
      const res = await this.send((t) => buildListAccountsRequest(this.armEndpoint, this.ref.subscriptionId, t, page), 'Microsoft.Storage/storageAccounts/read');
      const { accounts, nextLink } = parseListAccountsResponse(res);
      const hit = accounts.find((a) => a.name.toLowerCase() === this.ref.storageAccountName);
      if (hit) return hit;
      next = nextLink;
    } while (next);
    throw new MsiError(
      'StorageAccountNotFound',
      `The storage account '${this.ref.storageAccountName}' was not found in subscription '${this.ref.subscriptionId}'. Check -StorageAccountName, or give -SubscriptionId and -ResourceGroupName.`,
      'ObjectNotFound',
      { parameter: 'StorageAccountName', statusCode: 404 },
    );
  }

  /** The account's ARM resource (endpoints, allowSharedKeyAccess). */
  async getAccount(): Promise<ArmStorageAccount> {
    if (this.account) return this.account;
    this.account = await this.onAccount(async () => parseAccountResponse(await this.send((t) => buildGetAccountRequest(this.armEndpoint, this.ref, t), 'Microsoft.Storage/storageAccounts/read')));
    return this.account;
  }
}
