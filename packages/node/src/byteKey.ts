/**
 * A string identity for a short byte string (ids, hashes, storage keys), for use as a Map/Set key:
 * one char per byte, so it is collision-free, and cheaper than hex.
 */
export function byteKey(b: Uint8Array): string {
  return String.fromCharCode.apply(null, b as unknown as number[])
}
