// Small byte arrays carved out of shared slabs, as Node's Buffer pool does. A `new Uint8Array(n)`
// above 64 bytes, and any small one handed to native code (LevelDB, node:crypto) or asked for its
// `.buffer`, costs a malloc'd backing store that the GC must track and a background thread must free;
// on the node's hot path that was about a tenth of the main thread. A view into a slab costs one
// small heap object.
//
// The price: a view keeps its whole slab alive. Keep pooled arrays short-lived (encodings and keys on
// their way to storage); copy with `slice()` what is kept for long. Never transfer (postMessage) or
// detach the `.buffer` of a pooled array: other arrays share it.

const SLAB_BYTES = 64 * 1024
/** Larger arrays get their own buffer. */
const MAX_POOLED_BYTES = 4 * 1024

let slab = new ArrayBuffer(SLAB_BYTES)
// Invariant: every byte of `slab` from `used` on is zero (fresh, or zeroed when given back).
let used = 0

/** A zero-filled byte array of length `n` (a view into a shared slab when `n` ≤ 4 KiB). */
export function allocBytes(n: number): Uint8Array {
  // Anything but a small non-negative integer (NaN, fractions, negatives: bugs upstream) gets the
  // plain constructor's behaviour and never touches the pool's bookkeeping.
  if (!(Number.isInteger(n) && n >= 0 && n <= MAX_POOLED_BYTES)) return new Uint8Array(n)
  if (used + n > SLAB_BYTES) {
    slab = new ArrayBuffer(SLAB_BYTES)
    used = 0
  }
  const out = new Uint8Array(slab, used, n)
  used += n
  return out
}

/**
 * The first `n` bytes of `b` as an exact-length array, for a buffer filled up to `n` (a writer's
 * output); `b` must be an array {@link allocBytes} or {@link growBytes} returned, not a subarray of
 * one. When `b` is the pool's latest allocation, its unused tail goes back to the pool (zeroed);
 * otherwise a pooled `b` yields a view and an unpooled one a right-sized copy, so a large buffer's
 * spare capacity is not kept alive.
 */
export function trimBytes(b: Uint8Array, n: number): Uint8Array {
  if (b.buffer !== slab) return n === b.length ? b : b.slice(0, n)
  if (b.byteOffset + b.length === used) {
    b.fill(0, n)
    used = b.byteOffset + n
  }
  return n === b.length ? b : b.subarray(0, n)
}

/**
 * `b` (an array {@link allocBytes} or {@link growBytes} returned) grown to `n` bytes (n ≥ b.length),
 * its first `keep` bytes kept and the rest zero: in place when `b` is the pool's latest allocation
 * and the slab has room, otherwise a copy into a new allocation.
 */
export function growBytes(b: Uint8Array, n: number, keep = b.length): Uint8Array {
  if (!(Number.isInteger(n) && n >= b.length && Number.isInteger(keep) && keep >= 0 && keep <= b.length))
    throw new RangeError(`growBytes: cannot grow ${b.length} bytes to ${n} keeping ${keep}`)
  if (b.buffer === slab && b.byteOffset + b.length === used && b.byteOffset + n <= SLAB_BYTES) {
    if (keep < b.length) b.fill(0, keep)
    used = b.byteOffset + n
    return new Uint8Array(slab, b.byteOffset, n)
  }
  const out = allocBytes(n)
  out.set(keep === b.length ? b : b.subarray(0, keep))
  return out
}

/** A copy of `b` from the pool. */
export function copyBytes(b: Uint8Array): Uint8Array {
  const out = allocBytes(b.length)
  out.set(b)
  return out
}
