import type { ArgsOf, CallNames, QueryNames, ResultOf } from '@trellis/contract'
import type { PrivateKey } from '@trellis/crypto'
import { type JsonValue, type SignedTx, valueFromJSON } from '@trellis/ledger'
import { bytesToHex, TrellisError } from '@trellis/utils'
import type { QueryOptions, TrellisClient } from './client.js'
import type { SdkErrorType, TxFailedType } from './errors.js'
import type { RequestOptions } from './options.js'
import { buildTx } from './txBuilder.js'
import type { ContractResponse, QueryResponse, ReceiptResponse } from './types.js'

/** Options of a state-changing call. */
export interface ContractCallOptions extends RequestOptions {
  /** Who signs the tx (default: the handle's signer). */
  readonly signer?: PrivateKey
  /** The signer's certificate (DER), for chains with organisations (default: the handle's). */
  readonly certificate?: Uint8Array
  /** Wait for the commit (default true); the result then has the receipt, and a contract failure throws. */
  readonly wait?: boolean
  readonly timeoutMs?: number
  readonly ttlMs?: number
  readonly nonce?: number
}

/** What a call returns; with `wait`, the commit height, the receipt, the method's result and events. */
export interface ContractCallResult<R> {
  readonly txId: string
  readonly tx: SignedTx
  readonly height?: number
  readonly receipt?: ReceiptResponse
  readonly result?: R
  readonly events?: ReceiptResponse['events']
}

type AnyCall = (args?: JsonValue, options?: ContractCallOptions) => Promise<ContractCallResult<JsonValue>>
type AnyQuery = (args?: JsonValue, options?: QueryOptions) => Promise<JsonValue>

/** `call.<method>(args, options)` for every callable method of contract type C. */
export type CallMethods<C> = unknown extends C
  ? Readonly<Record<string, AnyCall>>
  : { readonly [K in CallNames<C>]: (args: ArgsOf<C, K>, options?: ContractCallOptions) => Promise<ContractCallResult<ResultOf<C, K>>> }

/** `query.<method>(args, options)` for every query method of contract type C. */
export type QueryMethods<C> = unknown extends C
  ? Readonly<Record<string, AnyQuery>>
  : { readonly [K in QueryNames<C>]: (args: ArgsOf<C, K>, options?: QueryOptions) => Promise<ResultOf<C, K>> }

/**
 * A client for one contract. With the contract's type (`typeof import('./my-contract')['default']`),
 * method names, arguments and results are checked by the compiler; without it, any method name is
 * accepted and arguments are JSON.
 */
export interface ContractClient<C = unknown> {
  readonly name: string
  /** State-changing methods: build, sign and submit a tx. */
  readonly call: CallMethods<C>
  /** Read-only methods: answered by the node without a tx. */
  readonly query: QueryMethods<C>
  /** A query with the whole response: height, cost and, when the result is one state value, its proof. */
  queryWithProof(method: string, args?: JsonValue, options?: QueryOptions): Promise<QueryResponse>
  /** The contract's version, status, code hash, methods and argument schemas. */
  info(options?: RequestOptions): Promise<ContractResponse>
}

export interface ContractClientOptions {
  /** Default signer of calls. */
  readonly signer?: PrivateKey
  /** The default signer's certificate (DER). */
  readonly certificate?: Uint8Array
  /** Default: asked from the node once. */
  readonly chainId?: string
}

function invalidArgument(argument: string, reason: string): TrellisError<SdkErrorType> {
  return new TrellisError<SdkErrorType>({ code: 'SDK_INVALID_ARGUMENT', argument, reason }, `invalid ${argument}: ${reason}`)
}

/** Sends one call of `contract.method` and, with `wait`, turns a failed receipt into a thrown error. */
export async function sendCall(
  client: TrellisClient,
  contract: string,
  method: string,
  args: unknown,
  options: ContractCallOptions & { readonly chainId?: string },
): Promise<ContractCallResult<JsonValue>> {
  const signer = options.signer
  if (signer === undefined) throw invalidArgument('signer', `a call of ${contract}.${method} needs a signer`)
  const req: RequestOptions = options.signal === undefined ? {} : { signal: options.signal }
  const chainId = options.chainId ?? (await client.status(req)).chainId
  const tx = buildTx({
    chainId,
    contract,
    method,
    args: valueFromJSON(args ?? null),
    signer,
    ...(options.certificate === undefined ? {} : { certificate: options.certificate }),
    ...(options.nonce === undefined ? {} : { nonce: options.nonce }),
    ...(options.ttlMs === undefined ? {} : { ttlMs: options.ttlMs }),
  })
  const wait = options.wait ?? true
  const res = await client.submit(tx, { wait, ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }), ...req })
  const txId = bytesToHex(tx.id)
  if (res.receipt === undefined || res.height === undefined) return { txId, tx }
  const { receipt, height } = res
  if (receipt.status !== 'ok') {
    throw new TrellisError<TxFailedType>(
      { code: receipt.errorCode, txId, height },
      receipt.errorMessage === '' ? receipt.errorCode : receipt.errorMessage,
    )
  }
  return { txId, tx, height, receipt, result: receipt.returnValue as JsonValue, events: receipt.events }
}

/** A client for the contract deployed as `name` (see {@link ContractClient}). */
export function contractClient<C = unknown>(client: TrellisClient, name: string, defaults: ContractClientOptions = {}): ContractClient<C> {
  let chainId: Promise<string> | undefined = defaults.chainId === undefined ? undefined : Promise.resolve(defaults.chainId)
  const chain = (): Promise<string> => (chainId ??= client.status().then((s) => s.chainId))
  const call = new Proxy(
    {},
    {
      get: (_target, method) =>
        typeof method !== 'string'
          ? undefined
          : async (args?: unknown, options: ContractCallOptions = {}) =>
              sendCall(client, name, method, args, {
                ...options,
                chainId: await chain(),
                ...(options.signer === undefined && defaults.signer !== undefined
                  ? { signer: defaults.signer, ...(defaults.certificate === undefined ? {} : { certificate: defaults.certificate }) }
                  : {}),
              }),
    },
  ) as CallMethods<C>
  const query = new Proxy(
    {},
    {
      get: (_target, method) =>
        typeof method !== 'string'
          ? undefined
          : async (args?: unknown, options: QueryOptions = {}) =>
              (await client.query(name, method, valueFromJSON(args ?? {}), options)).result,
    },
  ) as QueryMethods<C>
  return {
    name,
    call,
    query,
    queryWithProof: (method, args, options = {}) => client.query(name, method, valueFromJSON(args ?? {}), options),
    info: (options = {}) => client.getContract(name, options),
  }
}

/** The system contract that deploys and governs contracts. */
export const LIFECYCLE_CONTRACT = 'trellis'

/** A built contract, as `trellis contract build` writes it (only `code` is sent). */
export interface ContractArtifactLike {
  readonly code: string
}

/** Contract lifecycle txs (approved by a chain admin: the signer must be one). */
export const lifecycle = {
  /** Deploys `artifact` as `name` and runs its init hook with `initArgs`. */
  deploy(
    client: TrellisClient,
    name: string,
    artifact: ContractArtifactLike,
    options: ContractCallOptions & { readonly initArgs?: JsonValue } = {},
  ) {
    const { initArgs, ...rest } = options
    return sendCall(
      client,
      LIFECYCLE_CONTRACT,
      'deploy',
      { name, code: artifact.code, ...(initArgs === undefined ? {} : { initArgs }) },
      rest,
    )
  },
  /** Replaces `name`'s code with `artifact` (a new version), keeping its state; runs its upgrade hook. */
  upgrade(
    client: TrellisClient,
    name: string,
    artifact: ContractArtifactLike,
    options: ContractCallOptions & { readonly upgradeArgs?: JsonValue } = {},
  ) {
    const { upgradeArgs, ...rest } = options
    return sendCall(
      client,
      LIFECYCLE_CONTRACT,
      'upgrade',
      { name, code: artifact.code, ...(upgradeArgs === undefined ? {} : { upgradeArgs }) },
      rest,
    )
  },
  pause: (client: TrellisClient, name: string, options: ContractCallOptions & { readonly reason?: string } = {}) =>
    sendCall(client, LIFECYCLE_CONTRACT, 'pause', { name, ...(options.reason === undefined ? {} : { reason: options.reason }) }, options),
  resume: (client: TrellisClient, name: string, options: ContractCallOptions = {}) =>
    sendCall(client, LIFECYCLE_CONTRACT, 'resume', { name }, options),
  freeze: (client: TrellisClient, name: string, options: ContractCallOptions & { readonly reason?: string } = {}) =>
    sendCall(client, LIFECYCLE_CONTRACT, 'freeze', { name, ...(options.reason === undefined ? {} : { reason: options.reason }) }, options),
}
