import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, isTrellisError } from '@trellis/utils'
import { afterAll, describe, expect, it } from 'vitest'
import type { KVStore } from '../src/index.js'
import { createLevelStore } from '../src/index.js'
import { h, runKVConformance } from './conformance.js'

const dirs: string[] = []
const paths = new WeakMap<KVStore, string>()

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'trellis-storage-'))
  dirs.push(dir)
  return dir
}

async function open(path: string): Promise<KVStore> {
  const store = await createLevelStore({ path })
  paths.set(store, path)
  return store
}

afterAll(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

runKVConformance(
  'LevelStore',
  {
    create: async () => open(await tempDir()),
    reopen: async (store) => {
      const path = paths.get(store)
      if (path === undefined) throw new Error('unknown store')
      await store.close()
      return open(path)
    },
  },
  { propertyRuns: 60 },
)

async function openError(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (err: unknown) => err,
  )
}

describe('LevelStore', () => {
  it('applies only its own operations in each write, also on the native batches it reuses', async () => {
    const store = await open(await tempDir())
    const put = (k: number, v: number) => ({ type: 'put' as const, key: Uint8Array.of(k), value: Uint8Array.of(v) })
    for (let round = 0; round < 5; round++) {
      // Concurrent writes take different batches; a later write then reuses one of them.
      await Promise.all([store.write([put(1, 10 + round)]), store.write([put(1, 20 + round), put(2, round)])])
      await store.write([{ type: 'del', key: Uint8Array.of(2) }, put(3, round)])
      expect([store.get(Uint8Array.of(1)), store.get(Uint8Array.of(2)), store.get(Uint8Array.of(3))]).toEqual([
        Uint8Array.of(20 + round),
        undefined,
        Uint8Array.of(round),
      ])
    }
    await store.close()
  })

  it('keeps a sync batch across close and reopen', async () => {
    const path = await tempDir()
    const store = await open(path)
    const ops = Array.from({ length: 1000 }, (_, i) => ({
      type: 'put' as const,
      key: Uint8Array.of(i >> 8, i & 0xff),
      value: Uint8Array.of(i & 0xff, 0x00, 0xff),
    }))
    await store.write(ops, { sync: true })
    await store.close()
    const again = await open(path)
    try {
      const values = again.getMany(ops.map((op) => op.key))
      expect(values.map((v) => (v === undefined ? '' : bytesToHex(v)))).toEqual(ops.map((op) => bytesToHex(op.value)))
      let n = 0
      for await (const _ of again.iterate()) n++
      expect(n).toBe(1000)
    } finally {
      await again.close()
    }
  })

  it('fails with STORAGE_OPEN_FAILED naming the path when the database is already open', async () => {
    const path = await tempDir()
    const store = await open(path)
    try {
      const err = await openError(createLevelStore({ path }))
      expect(isTrellisError(err, 'STORAGE_OPEN_FAILED')).toBe(true)
      if (!isTrellisError(err)) return
      expect(err.details).toEqual({ path, locked: true })
      expect(err.message).toContain(path)
      expect(err.message).toContain('LOCK')
      // The failed open must not disturb the store holding the lock.
      await store.put(h('01'), h('02'))
      expect(store.get(h('01'))).toEqual(h('02'))
    } finally {
      await store.close()
    }
    // Once released, the path opens again.
    const again = await open(path)
    expect(again.get(h('01'))).toEqual(h('02'))
    await again.close()
  })

  it('fails with STORAGE_OPEN_FAILED when the path is not a directory', async () => {
    const path = join(await tempDir(), 'file')
    await writeFile(path, 'not a database')
    const err = await openError(createLevelStore({ path }))
    expect(isTrellisError(err, 'STORAGE_OPEN_FAILED')).toBe(true)
    if (!isTrellisError(err)) return
    expect(err.details).toEqual({ path, locked: false })
    expect(err.message).toContain(path)
  })

  it('rejects bad options with STORAGE_INVALID_ARGUMENT', async () => {
    const path = await tempDir()
    for (const options of [{ path: '' }, { path, cacheSizeBytes: 0 }, { path, writeBufferSizeBytes: 1.5 }]) {
      expect(isTrellisError(await openError(createLevelStore(options)), 'STORAGE_INVALID_ARGUMENT')).toBe(true)
    }
  })
})
