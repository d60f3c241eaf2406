import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { stateKey } from '../src/index.js'

const utf8 = (s: string) => new TextEncoder().encode(s)

describe('stateKey', () => {
  it('is UTF-8(contract) ‖ 0x00 ‖ UTF-8(key) for any strings, ASCII or not', () => {
    const text = fc.oneof(fc.string({ unit: 'grapheme-ascii', maxLength: 120 }), fc.string({ unit: 'binary', maxLength: 40 }))
    fc.assert(
      fc.property(text, text, (contract, key) => {
        const c = utf8(contract)
        const k = utf8(key)
        const expected = new Uint8Array(c.length + 1 + k.length)
        expected.set(c, 0)
        expected.set(k, c.length + 1)
        expect(stateKey(contract, key)).toEqual(expected)
      }),
      { numRuns: 2000 },
    )
  })

  it('encodes a non-ASCII character at any position, after ASCII ones were already written', () => {
    for (const [c, k] of [
      ['notary', `doc:${'a'.repeat(70)}é`],
      ['nötary', 'doc'],
      ['notary', '\ud800'],
      ['', ''],
    ] as const) {
      expect(stateKey(c, k)).toEqual(new Uint8Array([...utf8(c), 0, ...utf8(k)]))
    }
  })
})
