// SHA-256 (FIPS 180-4) in plain JavaScript for short messages. The ledger hashes many tiny inputs
// (32-byte keys, 65-byte tree nodes, ~100-byte leaves): for those, a native call's fixed cost
// (~1.7 µs through node:crypto) dominates, and this runs in 0.5–1 µs. Long inputs go to the native
// implementation; the result is the same function, checked against node:crypto by property tests.

/** Inputs up to this many bytes are hashed here (at most three compression rounds). */
export const SMALL_HASH_MAX_BYTES = 183

const K = new Int32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be,
  0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa,
  0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85,
  0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3,
  0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f,
  0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
])
const IV = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19])

// Scratch state: hashing is synchronous and not re-entrant, so one set serves every call.
const W = new Int32Array(64)
const H = new Int32Array(8)
const TAIL = new Uint8Array(128)

function compress(b: Uint8Array, off: number): void {
  for (let i = 0; i < 16; i++) {
    const j = off + 4 * i
    W[i] = ((b[j] as number) << 24) | ((b[j + 1] as number) << 16) | ((b[j + 2] as number) << 8) | (b[j + 3] as number)
  }
  for (let i = 16; i < 64; i++) {
    const w15 = W[i - 15] as number
    const w2 = W[i - 2] as number
    const s0 = ((w15 >>> 7) | (w15 << 25)) ^ ((w15 >>> 18) | (w15 << 14)) ^ (w15 >>> 3)
    const s1 = ((w2 >>> 17) | (w2 << 15)) ^ ((w2 >>> 19) | (w2 << 13)) ^ (w2 >>> 10)
    W[i] = ((W[i - 16] as number) + s0 + (W[i - 7] as number) + s1) | 0
  }
  let a = H[0] as number
  let b1 = H[1] as number
  let c = H[2] as number
  let d = H[3] as number
  let e = H[4] as number
  let f = H[5] as number
  let g = H[6] as number
  let h = H[7] as number
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7))
    const t1 = (h + s1 + ((e & f) ^ (~e & g)) + (K[i] as number) + (W[i] as number)) | 0
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10))
    const t2 = (s0 + ((a & b1) ^ (a & c) ^ (b1 & c))) | 0
    h = g
    g = f
    f = e
    e = (d + t1) | 0
    d = c
    c = b1
    b1 = a
    a = (t1 + t2) | 0
  }
  H[0] = ((H[0] as number) + a) | 0
  H[1] = ((H[1] as number) + b1) | 0
  H[2] = ((H[2] as number) + c) | 0
  H[3] = ((H[3] as number) + d) | 0
  H[4] = ((H[4] as number) + e) | 0
  H[5] = ((H[5] as number) + f) | 0
  H[6] = ((H[6] as number) + g) | 0
  H[7] = ((H[7] as number) + h) | 0
}

/** SHA-256 of a message of at most {@link SMALL_HASH_MAX_BYTES} bytes. */
export function sha256Small(msg: Uint8Array): Uint8Array {
  const n = msg.length
  if (n > SMALL_HASH_MAX_BYTES) throw new RangeError(`sha256Small takes at most ${SMALL_HASH_MAX_BYTES} bytes`)
  H.set(IV)
  let off = 0
  for (; off + 64 <= n; off += 64) compress(msg, off)
  // Padding: 0x80, zeros, then the bit length as a big-endian u64 (below 2^32 here).
  const rest = n - off
  const total = rest + 9 <= 64 ? 64 : 128
  TAIL.fill(0, 0, total)
  for (let i = 0; i < rest; i++) TAIL[i] = msg[off + i] as number
  TAIL[rest] = 0x80
  const bits = n * 8
  TAIL[total - 4] = bits >>> 24
  TAIL[total - 3] = bits >>> 16
  TAIL[total - 2] = bits >>> 8
  TAIL[total - 1] = bits
  compress(TAIL, 0)
  if (total === 128) compress(TAIL, 64)
  const out = new Uint8Array(32)
  for (let i = 0; i < 8; i++) {
    const v = H[i] as number
    out[4 * i] = v >>> 24
    out[4 * i + 1] = v >>> 16
    out[4 * i + 2] = v >>> 8
    out[4 * i + 3] = v
  }
  return out
}
