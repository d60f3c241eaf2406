import { describe, expect, it } from 'vitest'
import { MALLOC_TUNABLES, nodeProcessEnv } from '../src/processEnv.js'

describe('nodeProcessEnv', () => {
  it('adds the malloc settings to the environment, and keeps the rest', () => {
    const env = nodeProcessEnv({ PATH: '/bin', NO_COLOR: '1' })
    expect(env).toEqual({ PATH: '/bin', NO_COLOR: '1', GLIBC_TUNABLES: MALLOC_TUNABLES })
    expect(MALLOC_TUNABLES.split(':')).toEqual([
      'glibc.malloc.arena_max=1',
      'glibc.malloc.trim_threshold=268435456',
      'glibc.malloc.mmap_threshold=33554432',
    ])
  })

  it('leaves an operator’s own GLIBC_TUNABLES alone, and does not change the environment it is given', () => {
    const given = { GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' }
    const env = nodeProcessEnv(given)
    expect(env.GLIBC_TUNABLES).toBe('glibc.malloc.arena_max=4')
    env.EXTRA = 'x'
    expect(given).toEqual({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=4' })
  })
})
