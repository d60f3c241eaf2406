// Bloom-filter bits keyed by a SHA-256 output (a tx id, a state key hash): its bytes are uniform, so
// each of the 7 probes takes its bit position straight from 4 of them. `mask` = 2^bits − 1.

const PROBES = 7

function bit(hash: Uint8Array, i: number, mask: number): number {
  const o = i * 4
  return (((hash[o] as number) << 24) | ((hash[o + 1] as number) << 16) | ((hash[o + 2] as number) << 8) | (hash[o + 3] as number)) & mask
}

export function bloomAdd(bits: Uint32Array, mask: number, hash: Uint8Array): void {
  for (let i = 0; i < PROBES; i++) {
    const b = bit(hash, i, mask)
    bits[b >>> 5] = (bits[b >>> 5] as number) | (1 << (b & 31))
  }
}

export function bloomHas(bits: Uint32Array, mask: number, hash: Uint8Array): boolean {
  for (let i = 0; i < PROBES; i++) {
    const b = bit(hash, i, mask)
    if (((bits[b >>> 5] as number) & (1 << (b & 31))) === 0) return false
  }
  return true
}
