// Compile-time test of the SDK's typed contract client (checked by `tsc -p contracts` in npm test):
// method names, argument shapes and result types come from the contract's own definition.
import { contractClient, createClient } from '@trellis/sdk'
import type assetTransfer from '../src/index.js'

const assets = contractClient<typeof assetTransfer>(createClient({ url: 'http://127.0.0.1:7700' }), 'asset-transfer')

export async function typedUsage(): Promise<unknown[]> {
  const moved = await assets.call.transfer({ id: 'a1', newOwner: 'p256:02…' })
  const to: string | undefined = moved.result?.to
  const asset = await assets.query.read({ id: 'a1' })
  const color: string = asset.color
  const page = await assets.query.byOwner({ owner: 'p256:02…', limit: 5 })
  const next: string | null = page.next
  // @ts-expect-error: no such method
  await assets.call.nosuch({})
  // @ts-expect-error: newOwner is required
  await assets.call.transfer({ id: 'a1' })
  // @ts-expect-error: read is a query, not a call
  await assets.call.read({ id: 'a1' })
  // @ts-expect-error: size is an integer
  await assets.call.create({ id: 'a2', color: 'red', size: 'big', appraisedValue: 1 })
  return [to, color, next]
}
