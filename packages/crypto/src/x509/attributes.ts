// The Trellis attributes of a certificate: at most 32 entries, keys 1–64 characters of [A-Za-z0-9_.-],
// values strings of at most 1024 characters (code points). In the certificate they are one JSON text,
// the canonical one, so that one attribute set has exactly one encoding.

const MAX_ATTRIBUTES = 32
const MAX_ATTRIBUTE_VALUE_LENGTH = 1024

const KEY_RE = /^[A-Za-z0-9_.-]{1,64}$/
const LONE_SURROGATE_RE = /\p{Cs}/u

/** Why `x` is not a valid attribute set (an object of at most 32 string → string entries), or undefined. */
export function attributesProblem(x: unknown): string | undefined {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return 'attributes must be an object'
  const entries = Object.entries(x)
  if (entries.length > MAX_ATTRIBUTES) return `at most ${MAX_ATTRIBUTES} attributes, got ${entries.length}`
  for (const [k, v] of entries) {
    if (!KEY_RE.test(k)) return `attribute key "${k.slice(0, 64)}" must be 1-64 characters of [A-Za-z0-9_.-]`
    if (typeof v !== 'string') return `attribute "${k}" must be a string`
    if (LONE_SURROGATE_RE.test(v)) return `attribute "${k}" is not well-formed Unicode`
    if (v.length > MAX_ATTRIBUTE_VALUE_LENGTH && [...v].length > MAX_ATTRIBUTE_VALUE_LENGTH) {
      return `attribute "${k}" is longer than ${MAX_ATTRIBUTE_VALUE_LENGTH} characters`
    }
  }
  return undefined
}

/**
 * The one JSON text of an attribute set: keys sorted, no whitespace. Written by hand because
 * `JSON.stringify` puts integer-like keys ("7", "10") first, in numeric order.
 */
export function attributesToJson(attrs: Readonly<Record<string, string>>): string {
  const keys = Object.keys(attrs).sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${JSON.stringify(attrs[k])}`).join(',')}}`
}

/** The attribute set of a canonical JSON text, or a reason why it is not one. */
export function attributesFromJson(text: string): Readonly<Record<string, string>> | string {
  let x: unknown
  try {
    x = JSON.parse(text)
  } catch {
    return 'attributes are not JSON'
  }
  const problem = attributesProblem(x)
  if (problem !== undefined) return problem
  const attrs = x as Record<string, string>
  if (attributesToJson(attrs) !== text) return 'attributes are not in canonical JSON (sorted keys, no whitespace, no duplicates)'
  return Object.freeze(Object.fromEntries(Object.entries(attrs)))
}
