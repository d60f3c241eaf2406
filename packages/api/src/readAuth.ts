// Signed reads: on a chain readable by members only, every API request but tx submission (signed
// itself), /healthz and /metrics carries
//   Authorization: Trellis-Read cert=<base64url DER>, ts=<ms since epoch>, sig=<base64url signature>
// where the signature (P-256 over SHA-256, low-S; or Ed25519) covers readRequestMessage(...).

/** The authorization scheme name. */
export const READ_AUTH_SCHEME = 'Trellis-Read'

/** How far a signed read's time may be from the node's clock. */
export const READ_AUTH_MAX_SKEW_MS = 5 * 60_000

/**
 * The bytes a reader signs: the chain, the method, the path with its query string, the time, and the
 * JSON body in canonical form (keys sorted; empty without a body) — a signature is good for that one
 * request on that one chain.
 */
export function readRequestMessage(chainId: string, method: string, pathAndQuery: string, timestamp: number, body?: unknown): Uint8Array {
  const canonical = body === undefined || body === null ? '' : canonicalJson(body)
  return new TextEncoder().encode(`trellis/read/v1\n${chainId}\n${method.toUpperCase()}\n${pathAndQuery}\n${timestamp}\n${canonical}`)
}

/** JSON with object keys in sorted order (the same text for the same data, whatever the key order). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`
  if (typeof v === 'object' && v !== null) {
    const o = v as Record<string, unknown>
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v) ?? 'null'
}

/** The parts of an Authorization header value, or undefined when it is not this scheme. */
export function parseReadAuthorization(header: string): { cert: string; ts: string; sig: string } | undefined {
  if (!header.startsWith(`${READ_AUTH_SCHEME} `)) return undefined
  const parts = new Map<string, string>()
  for (const item of header.slice(READ_AUTH_SCHEME.length + 1).split(',')) {
    const eq = item.indexOf('=')
    if (eq <= 0) return undefined
    parts.set(item.slice(0, eq).trim(), item.slice(eq + 1).trim())
  }
  const cert = parts.get('cert')
  const ts = parts.get('ts')
  const sig = parts.get('sig')
  return cert === undefined || ts === undefined || sig === undefined ? undefined : { cert, ts, sig }
}
