import { isValueMap, type Value } from '@trellis/ledger'
import { type Contract, ContractError } from './types.js'

// Evidence notarisation (存证): anyone may record the hash of a document once, with metadata; the
// record (owner, time, height, tx) can then be looked up and proven to a third party.

const HASH_RE = /^[0-9a-f]{64}$/
const MAX_META_ENTRIES = 32
const MAX_META_KEY = 64
const MAX_META_STRING = 1024

/** The state key of a document record. */
export function notaryKey(hashHex: string): string {
  return `doc:${hashHex}`
}

function validateHashArg(args: Value): string | undefined {
  if (!isValueMap(args)) return 'args must be an object'
  if (typeof args.hash !== 'string' || !HASH_RE.test(args.hash)) return 'hash must be a SHA-256 digest: 64 lower-case hex characters'
  return undefined
}

function validateRecord(args: Value): string | undefined {
  const bad = validateHashArg(args)
  if (bad !== undefined) return bad
  const a = args as { readonly [k: string]: Value }
  for (const k of Object.keys(a)) if (k !== 'hash' && k !== 'meta') return `unknown argument "${k}"`
  if (a.meta === undefined) return undefined
  if (!isValueMap(a.meta)) return 'meta must be an object of strings, numbers and booleans'
  const entries = Object.entries(a.meta)
  if (entries.length > MAX_META_ENTRIES) return `meta may have at most ${MAX_META_ENTRIES} entries`
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > MAX_META_KEY) return `meta keys must be 1-${MAX_META_KEY} characters`
    if (typeof v === 'string' ? v.length > MAX_META_STRING : typeof v !== 'number' && typeof v !== 'boolean') {
      return `meta.${k} must be a string of at most ${MAX_META_STRING} characters, a number or a boolean`
    }
  }
  return undefined
}

/** The built-in notary contract. */
export const notaryContract: Contract = {
  name: 'notary',
  version: '1.0.0',
  methods: {
    record: {
      kind: 'call',
      description: 'Record a document hash once, with optional metadata; fails with NOTARY_ALREADY_RECORDED if it exists',
      validate: validateRecord,
      run(ctx, args) {
        const { hash, meta } = args as { hash: string; meta?: Value }
        const key = notaryKey(hash)
        const existing = ctx.get(key)
        if (existing !== undefined) {
          const owner = isValueMap(existing) ? String(existing.owner) : 'unknown'
          throw new ContractError('NOTARY_ALREADY_RECORDED', `document ${hash} was already recorded by ${owner}`)
        }
        const record: Value = {
          hash,
          owner: ctx.tx.signerId,
          meta: meta ?? {},
          txId: ctx.tx.idHex,
          height: ctx.block.height,
          timestamp: ctx.block.timestamp,
        }
        ctx.put(key, record)
        ctx.emit('DocumentRecorded', { hash, owner: ctx.tx.signerId })
        return record
      },
    },
    get: {
      kind: 'query',
      description: 'Look up the record of a document hash (null when never recorded)',
      validate: (args) => validateHashArg(args) ?? (Object.keys(args as object).length === 1 ? undefined : 'only "hash" is accepted'),
      run(ctx, args) {
        return ctx.get(notaryKey((args as { hash: string }).hash)) ?? null
      },
    },
  },
}
