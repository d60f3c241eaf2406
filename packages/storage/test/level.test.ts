import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, isTrellisError } from '@trellis/utils'
import { ClassicLevel } from 'classic-level'
import { afterAll, describe, expect, it, vi } from 'vitest'
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
  it('writes through native batches, reuses them emptied, and applies only its own operations in each write', async () => {
    type Batch = { _clear: () => void }
    const proto = ClassicLevel.prototype as unknown as { _chainedBatch: () => Batch }
    const make = proto._chainedBatch
    let cleared = 0
    const created = vi.spyOn(proto, '_chainedBatch').mockImplementation(function (this: unknown) {
      const b = make.call(this)
      const clear = b._clear
      b._clear = function (this: Batch) {
        cleared++
        clear.call(this)
      }
      return b
    })
    try {
      const store = await open(await tempDir())
      const key = (k: number) => Uint8Array.of(k)
      const put = (k: number, v: number) => ({ type: 'put' as const, key: key(k), value: Uint8Array.of(v) })
      const del = (k: number) => ({ type: 'del' as const, key: key(k) })
      for (let round = 0; round < 5; round++) {
        // Two concurrent writes take two batches; the next two writes reuse them, in either order. A
        // batch still holding its last write's operation would put key 1 or 2 back.
        await Promise.all([store.write([put(1, round)]), store.write([put(2, round)])])
        await store.write([del(1), del(2)])
        await store.write([put(3, round)])
        expect([store.get(key(1)), store.get(key(2)), store.get(key(3))]).toEqual([undefined, undefined, Uint8Array.of(round)])
      }
      // Twenty writes, two native batches, each emptied after every write before its next one.
      expect(created).toHaveBeenCalledTimes(2)
      expect(cleared).toBe(20)
      await store.close()
    } finally {
      created.mockRestore()
    }
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
