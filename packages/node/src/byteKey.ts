/**
 * A string identity for a short byte string (ids, hashes, storage keys), for use as a Map/Set key:
 * one char per byte, so it is collision-free, and cheaper than hex.
 */
export function byteKey(b: Uint8Array): string {
  return String.fromCharCode.apply(null, b as unknown as number[])
}

/** The bytes of a {@link byteKey} string. */
export function byteKeyBytes(id: string): Uint8Array {
  const b = new Uint8Array(id.length)
  for (let i = 0; i < id.length; i++) b[i] = id.charCodeAt(i)
  return b
}
