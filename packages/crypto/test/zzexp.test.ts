import { test } from "vitest"
import { ed25519 } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'
import { nodeBackend, nobleBackend } from '@trellis/crypto'
test("exp", () => {
const Point = ed25519.Point
const L = Point.Fn.ORDER
console.log(Object.keys(ed25519.utils), Object.keys(ed25519))
const le = (b: Uint8Array) => { let n = 0n; for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]); return n }
const toLE = (n: bigint) => { const o = new Uint8Array(32); for (let i = 0; i < 32; i++) { o[i] = Number(n & 0xffn); n >>= 8n } return o }
// Exp1: identity public key
const A0 = Point.ZERO.toBytes()
const r = 12345n
const sig1 = new Uint8Array(64); sig1.set(Point.BASE.multiply(r).toBytes()); sig1.set(toLE(r), 32)
const pub0 = { alg: 'ed25519' as const, bytes: A0 }
for (const msg of ['hello', 'anything']) console.log('identity key', msg, 'node', nodeBackend.verify(pub0, new TextEncoder().encode(msg), sig1), 'noble', nobleBackend.verify(pub0, new TextEncoder().encode(msg), sig1))
// Exp2: mixed-order R
const seed = new Uint8Array(32).fill(7)
const ext = ed25519.utils.getExtendedPublicKey(seed)
const a = ext.scalar
const Abytes = ext.pointBytes
// small order point of order 8
let T: any
for (let y = 2n; ; y++) { try { const p = Point.fromBytes(toLE(y)); const t = p.multiply(L); if (!t.is0() && !t.double().is0() && !t.double().double().is0()) { T = t; break } } catch {} }
const R = Point.BASE.multiply(r).add(T)
const Rb = R.toBytes()
const msg = new TextEncoder().encode('m')
const k = le(sha512(new Uint8Array([...Rb, ...Abytes, ...msg]))) % L
const S = (r + k * a) % L
const sig2 = new Uint8Array(64); sig2.set(Rb); sig2.set(toLE(S), 32)
const pub = { alg: 'ed25519' as const, bytes: Abytes }
console.log('mixed R node', nodeBackend.verify(pub, msg, sig2), 'noble', nobleBackend.verify(pub, msg, sig2))
// Exp3: mixed-order A (A + T) with a key
const A2 = Point.BASE.multiply(a).add(T)
const A2b = A2.toBytes()
const R3 = Point.BASE.multiply(r); const R3b = R3.toBytes()
const k3 = le(sha512(new Uint8Array([...R3b, ...A2b, ...msg]))) % L
const sig3 = new Uint8Array(64); sig3.set(R3b); sig3.set(toLE((r + k3 * a) % L), 32)
console.log('mixed A node', nodeBackend.verify({ alg: 'ed25519', bytes: A2b }, msg, sig3), 'noble', nobleBackend.verify({ alg: 'ed25519', bytes: A2b }, msg, sig3))
// Exp4: non-canonical A encoding y >= p  (y = p + 1 encodes y=1 => identity)
const p = 2n ** 255n - 19n
const ncA = toLE(p + 1n)
console.log('noncanon identity A node', nodeBackend.verify({ alg: 'ed25519', bytes: ncA }, msg, sig1), 'noble', nobleBackend.verify({ alg: 'ed25519', bytes: ncA }, msg, sig1))
})
