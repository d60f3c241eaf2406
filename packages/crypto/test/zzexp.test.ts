import { test } from 'vitest'
import { p256 } from '@noble/curves/nist.js'
import { nodeBackend, nobleBackend } from '@trellis/crypto'
const toBE = (n: bigint) => { const o = new Uint8Array(32); for (let i = 31; i >= 0; i--) { o[i] = Number(n & 0xffn); n >>= 8n } return o }
test('exp', () => {
  const P = p256.Point.Fp.ORDER
  const msg = new TextEncoder().encode('m')
  let found = 0
  for (let d = 1n; found < 3 && d < 100000n; d++) {
    // find key whose x < 2^256 - p so x + p fits
    const Q = p256.Point.BASE.multiply(d)
    const x = Q.toAffine().x
    if (x + P < 2n ** 256n) {
      found++
      const good = Q.toBytes(true)
      const bad = new Uint8Array(33); bad[0] = good[0]; bad.set(toBE(x + P), 1)
      const priv = { alg: 'p256' as const, bytes: toBE(d) }
      const sig = nobleBackend.sign(priv, msg)
      console.log('d', d, 'good', nodeBackend.verify({ alg: 'p256', bytes: good }, msg, sig), nobleBackend.verify({ alg: 'p256', bytes: good }, msg, sig),
        'x+p', nodeBackend.verify({ alg: 'p256', bytes: bad }, msg, sig), nobleBackend.verify({ alg: 'p256', bytes: bad }, msg, sig))
    }
  }
  console.log('found', found)
})
