import {
  type Certificate,
  certificateFromPem,
  certificateToPem,
  parseCertificate,
  type PublicKey,
  publicKeyFromString,
  publicKeyToBytes,
  publicKeyToString,
  sha256,
} from '@trellis/crypto'
import { equalBytes, TrellisError } from '@trellis/utils'
import { encodeValue } from '../codec/value.js'
import { Writer } from '../codec/writer.js'
import type { LedgerErrorType } from '../errors.js'
import { chainsIn, checkOrgCAs, type Organisation } from '../identity/orgs.js'
import { isValidChainId } from '../tx/validation.js'

/** Per-chain parameters, fixed in the genesis (governance will make them changeable). */
export interface ChainParams {
  readonly maxTxBytes: number
  readonly maxBlockTxs: number
  readonly maxBlockBytes: number
  /** How far ahead a tx may expire; also how long the replay window must be remembered. */
  readonly maxTxTtlMs: number
}

export const defaultChainParams: ChainParams = {
  maxTxBytes: 64 * 1024,
  maxBlockTxs: 20_000,
  maxBlockBytes: 16 * 1024 * 1024,
  maxTxTtlMs: 60 * 60 * 1000,
}

export interface Validator {
  readonly name: string
  readonly publicKey: PublicKey
  readonly power: number
  /**
   * Its node certificate (DER, role node) from its organisation's CA, if the genesis gives one: p2p
   * then trusts the validator only while the certificate is not revoked. Not part of the set's hash.
   */
  readonly certificate?: Uint8Array
}

export interface ValidatorSet {
  readonly validators: readonly Validator[]
}

/** The chain's founding document. Its hash is the `prevHash` of block 1. */
export interface Genesis {
  readonly chainId: string
  /** Milliseconds since the Unix epoch; block 1's timestamp must be later. */
  readonly genesisTime: number
  readonly params: ChainParams
  readonly validators: ValidatorSet
  /** Keys allowed to administer the chain until on-chain governance replaces them. */
  readonly admins: readonly PublicKey[]
  /** The founding organisations (X.509 identities); governance adds and removes others later. */
  readonly orgs?: readonly Organisation[]
}

/** JSON form of the genesis, as written to `genesis.json`. */
export interface GenesisJSON {
  chainId: string
  genesisTime: number
  params: ChainParams
  validators: Array<{ name: string; publicKey: string; power: number; certificate?: string }>
  admins: string[]
  /** CA certificates in PEM. Omitted when there are none. */
  orgs?: Array<{ id: string; name: string; caCerts: string[] }>
}

/** Canonical bytes of a validator set. */
export function encodeValidatorSet(set: ValidatorSet): Uint8Array {
  const w = new Writer(64 * set.validators.length + 8)
  w.varint(set.validators.length)
  for (const v of set.validators) w.string(v.name).bytes(publicKeyToBytes(v.publicKey)).varint(v.power)
  return w.finish()
}

/** The hash carried in every header, binding it to the set that must sign its certificate. */
export function validatorSetHash(set: ValidatorSet): Uint8Array {
  return sha256(encodeValidatorSet(set))
}

export function totalPower(set: ValidatorSet): number {
  let total = 0
  for (const v of set.validators) total += v.power
  return total
}

export function genesisToJSON(g: Genesis): GenesisJSON {
  return {
    chainId: g.chainId,
    genesisTime: g.genesisTime,
    params: { ...g.params },
    validators: g.validators.validators.map((v) => ({
      name: v.name,
      publicKey: publicKeyToString(v.publicKey),
      power: v.power,
      ...(v.certificate === undefined ? {} : { certificate: certificateToPem(v.certificate) }),
    })),
    admins: g.admins.map(publicKeyToString),
    ...(g.orgs === undefined || g.orgs.length === 0
      ? {}
      : { orgs: g.orgs.map((o) => ({ id: o.id, name: o.name, caCerts: o.caCerts.map((c) => certificateToPem(c)) })) }),
  }
}

function bad(reason: string): never {
  throw new TrellisError<LedgerErrorType>({ code: 'GENESIS_INVALID', reason }, `invalid genesis: ${reason}`)
}

function positiveInt(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x <= 0) bad(`${what} must be a positive integer`)
  return x
}

/**
 * Parses and validates a genesis JSON document.
 * @throws TrellisError GENESIS_INVALID
 */
export function genesisFromJSON(j: unknown): Genesis {
  if (typeof j !== 'object' || j === null) bad('not an object')
  const o = j as Record<string, unknown>
  if (typeof o.chainId !== 'string' || !isValidChainId(o.chainId)) bad('chainId must be 1-64 characters of [a-zA-Z0-9._-]')
  const genesisTime = positiveInt(o.genesisTime, 'genesisTime')
  const p = (o.params ?? {}) as Record<string, unknown>
  const params: ChainParams = {
    maxTxBytes: positiveInt(p.maxTxBytes ?? defaultChainParams.maxTxBytes, 'params.maxTxBytes'),
    maxBlockTxs: positiveInt(p.maxBlockTxs ?? defaultChainParams.maxBlockTxs, 'params.maxBlockTxs'),
    maxBlockBytes: positiveInt(p.maxBlockBytes ?? defaultChainParams.maxBlockBytes, 'params.maxBlockBytes'),
    maxTxTtlMs: positiveInt(p.maxTxTtlMs ?? defaultChainParams.maxTxTtlMs, 'params.maxTxTtlMs'),
  }
  if (params.maxTxBytes > params.maxBlockBytes) bad('params.maxTxBytes may not exceed params.maxBlockBytes')
  if (!Array.isArray(o.validators) || o.validators.length === 0) bad('validators must be a non-empty array')
  const seen = new Set<string>()
  const validators = o.validators.map((v: unknown, i: number): Validator => {
    const x = (v ?? {}) as Record<string, unknown>
    if (typeof x.name !== 'string' || x.name.length === 0 || x.name.length > 64) bad(`validators[${i}].name must be 1-64 characters`)
    if (typeof x.publicKey !== 'string') bad(`validators[${i}].publicKey must be a string`)
    let publicKey: PublicKey
    try {
      publicKey = publicKeyFromString(x.publicKey)
    } catch {
      bad(`validators[${i}].publicKey is not a valid public key`)
    }
    if (seen.has(x.publicKey)) bad(`validators[${i}] repeats a public key`)
    seen.add(x.publicKey)
    const power = positiveInt(x.power ?? 1, `validators[${i}].power`)
    if (x.certificate === undefined) return { name: x.name, publicKey, power }
    if (typeof x.certificate !== 'string') bad(`validators[${i}].certificate must be a PEM certificate`)
    let certificate: Uint8Array
    try {
      certificate = certificateFromPem(x.certificate as string)
    } catch {
      return bad(`validators[${i}].certificate is not a PEM certificate`)
    }
    return { name: x.name, publicKey, power, certificate }
  })
  if (!Array.isArray(o.admins)) bad('admins must be an array of public keys')
  const admins = o.admins.map((a: unknown, i: number) => {
    try {
      return publicKeyFromString(String(a))
    } catch {
      return bad(`admins[${i}] is not a valid public key`)
    }
  })
  if (o.orgs !== undefined && !Array.isArray(o.orgs)) bad('orgs must be an array')
  const orgIds = new Set<string>()
  const orgs = ((o.orgs ?? []) as unknown[]).map((v: unknown, i: number): Organisation => {
    const x = (v ?? {}) as Record<string, unknown>
    if (typeof x.id !== 'string') bad(`orgs[${i}].id must be a string`)
    if (orgIds.has(x.id)) bad(`orgs[${i}] repeats the organisation id "${x.id}"`)
    orgIds.add(x.id)
    if (typeof x.name !== 'string' || x.name.length === 0 || x.name.length > 128) bad(`orgs[${i}].name must be 1-128 characters`)
    if (!Array.isArray(x.caCerts) || !x.caCerts.every((c) => typeof c === 'string')) bad(`orgs[${i}].caCerts must be PEM strings`)
    let caCerts: Uint8Array[]
    try {
      caCerts = (x.caCerts as string[]).map((pem) => certificateFromPem(pem))
      checkOrgCAs(x.id, caCerts)
    } catch (err) {
      return bad(`orgs[${i}]: ${err instanceof TrellisError ? err.message : 'invalid CA certificates'}`)
    }
    return { id: x.id, name: x.name, caCerts }
  })
  // A validator's node certificate: role node, for its key, issued within a genesis organisation.
  for (const [i, v] of validators.entries()) {
    if (v.certificate === undefined) continue
    let cert: Certificate
    try {
      cert = parseCertificate(v.certificate)
    } catch {
      return bad(`validators[${i}].certificate does not parse`)
    }
    if (cert.role !== 'node') bad(`validators[${i}].certificate has the role ${cert.role ?? 'none'}, not node`)
    if (!equalBytes(publicKeyToBytes(cert.publicKey), publicKeyToBytes(v.publicKey))) bad(`validators[${i}].certificate is for another key`)
    const org = orgs.find((x) => x.id === cert.subject.org)
    if (
      org === undefined ||
      chainsIn(
        cert,
        org.caCerts.map((der) => parseCertificate(der)),
      ).length === 0
    )
      bad(`validators[${i}].certificate is not issued by a CA of a genesis organisation`)
  }
  return { chainId: o.chainId, genesisTime, params, validators: { validators }, admins, orgs }
}

/** Hash of the canonical encoding of the genesis; block 1 links to it. */
export function genesisHash(g: Genesis): Uint8Array {
  const j = genesisToJSON(g)
  return sha256(
    encodeValue({
      chainId: j.chainId,
      genesisTime: j.genesisTime,
      params: { ...j.params },
      validators: j.validators.map((v) => ({ ...v })),
      admins: j.admins,
      // Absent when empty, so chains created before organisations existed keep their genesis hash.
      ...(j.orgs === undefined ? {} : { orgs: j.orgs.map((org) => ({ ...org, caCerts: [...org.caCerts] })) }),
    }),
  )
}
