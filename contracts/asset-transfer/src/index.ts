import { call, ContractError, type CallContext, defineContract, ensure, query, type QueryContext, s } from '@trellis/contract'

// Asset transfer — the classic Fabric sample (asset-transfer-basic), with owners taken from the
// signer's identity instead of a free-text field: only an asset's owner may update, transfer or
// delete it. An owner index (`owner ␀ <owner> ␀ <id>`) answers "assets of an owner" in pages.

export interface Asset {
  id: string
  color: string
  size: number
  appraisedValue: number
  owner: string
  createdAt: number
  updatedAt: number
}

const id = s.string({ min: 1, max: 64, pattern: '^[A-Za-z0-9_.:-]+$' })
const fields = {
  color: s.string({ min: 1, max: 32 }),
  size: s.int({ min: 0, max: 1_000_000 }),
  appraisedValue: s.int({ min: 0 }),
}

const assetKey = (ctx: QueryContext, assetId: string) => ctx.state.key('asset', assetId)
const ownerKey = (ctx: QueryContext, owner: string, assetId: string) => ctx.state.key('owner', owner, assetId)

function load(ctx: QueryContext, assetId: string): Asset {
  const a = ctx.state.get<Asset>(assetKey(ctx, assetId))
  if (a === undefined) throw new ContractError('ASSET_NOT_FOUND', `asset ${assetId} does not exist`)
  return a
}

function loadOwned(ctx: CallContext, assetId: string): Asset {
  const a = load(ctx, assetId)
  // Messages as functions: built only when the check fails.
  ensure(a.owner === ctx.caller.id, 'NOT_OWNER', () => `asset ${assetId} belongs to ${a.owner}, not to ${ctx.caller.id}`)
  return a
}

function save(ctx: CallContext, a: Asset): void {
  ctx.state.put(assetKey(ctx, a.id), a)
}

export default defineContract({
  version: '1.0.0',
  description: 'Create, update, transfer and list assets; only an asset’s owner may change it',
  methods: {
    create: call({ args: s.object({ id, ...fields }), description: 'Create an asset owned by the signer' }, (ctx, a) => {
      ensure(!ctx.state.has(assetKey(ctx, a.id)), 'ASSET_EXISTS', () => `asset ${a.id} already exists`)
      const asset: Asset = { ...a, owner: ctx.caller.id, createdAt: ctx.block.timestamp, updatedAt: ctx.block.timestamp }
      save(ctx, asset)
      ctx.state.put(ownerKey(ctx, asset.owner, a.id), 1)
      ctx.emit('AssetCreated', { id: a.id, owner: asset.owner })
      return asset
    }),
    update: call(
      {
        args: s.object({
          id,
          color: s.optional(fields.color),
          size: s.optional(fields.size),
          appraisedValue: s.optional(fields.appraisedValue),
        }),
        description: 'Change an asset’s fields (owner only)',
      },
      (ctx, a) => {
        const asset = loadOwned(ctx, a.id)
        const next: Asset = {
          ...asset,
          color: a.color ?? asset.color,
          size: a.size ?? asset.size,
          appraisedValue: a.appraisedValue ?? asset.appraisedValue,
          updatedAt: ctx.block.timestamp,
        }
        save(ctx, next)
        ctx.emit('AssetUpdated', { id: a.id })
        return next
      },
    ),
    transfer: call(
      { args: s.object({ id, newOwner: s.string({ min: 1, max: 256 }) }), description: 'Give an asset to another identity (owner only)' },
      (ctx, a) => {
        const asset = loadOwned(ctx, a.id)
        ensure(a.newOwner !== asset.owner, 'SAME_OWNER', () => `asset ${a.id} already belongs to ${a.newOwner}`)
        ctx.state.delete(ownerKey(ctx, asset.owner, a.id))
        ctx.state.put(ownerKey(ctx, a.newOwner, a.id), 1)
        save(ctx, { ...asset, owner: a.newOwner, updatedAt: ctx.block.timestamp })
        ctx.emit('AssetTransferred', { id: a.id, from: asset.owner, to: a.newOwner })
        return { id: a.id, from: asset.owner, to: a.newOwner }
      },
    ),
    remove: call({ args: s.object({ id }), description: 'Delete an asset (owner only)' }, (ctx, a) => {
      const asset = loadOwned(ctx, a.id)
      ctx.state.delete(assetKey(ctx, a.id))
      ctx.state.delete(ownerKey(ctx, asset.owner, a.id))
      ctx.emit('AssetDeleted', { id: a.id, owner: asset.owner })
    }),
    read: query({ args: s.object({ id }), description: 'One asset' }, (ctx, a) => load(ctx, a.id)),
    exists: query({ args: s.object({ id }), description: 'Whether an asset exists' }, (ctx, a) => ctx.state.has(assetKey(ctx, a.id))),
    byOwner: query(
      {
        args: s.object({
          owner: s.string({ min: 1, max: 256 }),
          limit: s.optional(s.int({ min: 1, max: 100 })),
          after: s.optional(s.string({ max: 64 })),
        }),
        description: 'Assets of one owner, ordered by id, in pages (pass `next` as `after`)',
      },
      (ctx, a) => {
        const page = ctx.state.range({
          prefix: ['owner', a.owner],
          limit: a.limit ?? 20,
          ...(a.after === undefined ? {} : { after: ownerKey(ctx, a.owner, a.after) }),
        })
        const assets = page.entries.map((e) => load(ctx, ctx.state.splitKey(e.key)[2] as string))
        const last = page.next === null ? null : (ctx.state.splitKey(page.next)[2] ?? null)
        return { assets, next: last }
      },
    ),
    all: query(
      {
        args: s.object({ limit: s.optional(s.int({ min: 1, max: 100 })), after: s.optional(s.string({ max: 64 })) }),
        description: 'Every asset, ordered by id, in pages',
      },
      (ctx, a) => {
        const page = ctx.state.range<Asset>({
          prefix: ['asset'],
          limit: a.limit ?? 20,
          ...(a.after === undefined ? {} : { after: assetKey(ctx, a.after) }),
        })
        return { assets: page.entries.map((e) => e.value), next: page.next === null ? null : (ctx.state.splitKey(page.next)[1] ?? null) }
      },
    ),
    history: query(
      { args: s.object({ id, limit: s.optional(s.int({ min: 1, max: 100 })) }), description: 'Past versions of an asset, newest first' },
      (ctx, a) => ctx.state.history<Asset>(assetKey(ctx, a.id), { limit: a.limit ?? 20 }),
    ),
  },
})
