import { call, ContractError, defineContract, query, s } from '@trellis/contract'

// Evidence notarisation on the public contract API: the same rules as the notary built into the
// node (record a document hash once, with metadata; look it up and prove it), written the way any
// user's contract is written. Deploy it under another name (e.g. `docs`) next to the built-in one.

export interface NotaryRecord {
  hash: string
  owner: string
  meta: Record<string, string | number | boolean>
  txId: string
  height: number
  timestamp: number
}

const hash = s.string({ min: 64, max: 64, pattern: '^[0-9a-f]{64}$' })
const metaValue = s.any()

export default defineContract({
  version: '1.0.0',
  description: 'Record document hashes once, with metadata; anyone can look a record up and prove it',
  methods: {
    record: call(
      {
        args: s.object({ hash, meta: s.optional(s.record(metaValue, { max: 32 })) }),
        description: 'Record a document hash once; fails with NOTARY_ALREADY_RECORDED if it exists',
      },
      (ctx, a) => {
        const key = `doc:${a.hash}`
        const existing = ctx.state.get<NotaryRecord>(key)
        if (existing !== undefined)
          throw new ContractError('NOTARY_ALREADY_RECORDED', `document ${a.hash} was already recorded by ${existing.owner}`)
        const meta: NotaryRecord['meta'] = {}
        for (const [k, v] of Object.entries(a.meta ?? {})) {
          if (k.length === 0 || k.length > 64) throw new ContractError('ARGS_INVALID', 'meta keys must be 1-64 characters')
          if (typeof v === 'string' ? v.length > 1024 : typeof v !== 'number' && typeof v !== 'boolean')
            throw new ContractError('ARGS_INVALID', `meta.${k} must be a string of at most 1024 characters, a number or a boolean`)
          meta[k] = v as string | number | boolean
        }
        const record: NotaryRecord = {
          hash: a.hash,
          owner: ctx.caller.id,
          meta,
          txId: ctx.tx.id,
          height: ctx.block.height,
          timestamp: ctx.block.timestamp,
        }
        ctx.state.put(key, record)
        ctx.emit('DocumentRecorded', { hash: a.hash, owner: record.owner })
        return record
      },
    ),
    get: query(
      { args: s.object({ hash }), description: 'The record of a document hash (null when never recorded)' },
      (ctx, a) => ctx.state.get<NotaryRecord>(`doc:${a.hash}`) ?? null,
    ),
  },
})
