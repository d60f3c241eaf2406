// Validates arguments against a contract manifest's schema descriptors (published by
// `@trellis/contract`): admission rejects malformed calls before they reach a block, and execution
// checks the arguments of library-built schemas here instead of in the sandbox (see argsVerdict).

type Descriptor = { readonly type: string; readonly [k: string]: unknown }

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

// Reasons are worded as the authoring library's schemas word them (the receipts read the same
// whichever side checked).
function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`
}

function at(path: string): string {
  return path === '' ? 'args' : `args${path}`
}

/** A descriptor this check cannot decide: an unknown type, a pattern Node cannot compile. */
const UNDECIDED = Symbol('undecided')

// Compiled patterns (null: Node cannot compile it). Manifests name few distinct patterns.
const patterns = new Map<string, RegExp | null>()

function pattern(source: string): RegExp | null {
  let re = patterns.get(source)
  if (re === undefined) {
    try {
      re = new RegExp(source)
    } catch {
      re = null
    }
    if (patterns.size >= 1024) patterns.clear()
    patterns.set(source, re)
  }
  return re
}

/** Why `value` does not match `d`, or undefined. What this check cannot decide is accepted (the sandbox decides). */
export function checkArgs(d: unknown, value: unknown): string | undefined {
  const v = check(d, value, '')
  return v === UNDECIDED ? undefined : v
}

/**
 * The decision on `value` against `d`: undefined when it matches, why when it does not, and
 * `'undecided'` when `d` holds something this check does not implement exactly like the authoring
 * library (then only the contract's own schema may decide).
 */
export function argsVerdict(d: unknown, value: unknown): string | undefined | 'undecided' {
  const v = check(d, value, '')
  return v === UNDECIDED ? 'undecided' : v
}

function check(d: unknown, value: unknown, path: string): string | undefined | typeof UNDECIDED {
  if (!isObject(d) || typeof d.type !== 'string') return UNDECIDED
  const desc = d as Descriptor
  switch (desc.type) {
    case 'string': {
      if (typeof value !== 'string') return `${at(path)}: expected a string, got ${describe(value)}`
      if (typeof desc.minLength === 'number' && value.length < desc.minLength)
        return `${at(path)}: must be at least ${desc.minLength} characters`
      if (typeof desc.maxLength === 'number' && value.length > desc.maxLength)
        return `${at(path)}: must be at most ${desc.maxLength} characters`
      if (typeof desc.pattern === 'string') {
        const re = pattern(desc.pattern)
        if (re === null) return UNDECIDED
        if (!re.test(value)) return `${at(path)}: must match ${desc.pattern}`
      }
      return undefined
    }
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) return `${at(path)}: expected a safe integer, got ${describe(value)}`
      if (typeof desc.minimum === 'number' && value < desc.minimum) return `${at(path)}: must be at least ${desc.minimum}`
      if (typeof desc.maximum === 'number' && value > desc.maximum) return `${at(path)}: must be at most ${desc.maximum}`
      return undefined
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${at(path)}: expected a boolean, got ${describe(value)}`
    case 'null':
      return value === null ? undefined : `${at(path)}: expected null, got ${describe(value)}`
    case 'enum':
      return Array.isArray(desc.values) && desc.values.includes(value)
        ? undefined
        : `${at(path)}: must be one of ${(desc.values as string[]).join(', ')}`
    case 'array': {
      if (!Array.isArray(value)) return `${at(path)}: expected an array, got ${describe(value)}`
      if (typeof desc.maxItems === 'number' && value.length > desc.maxItems) return `${at(path)}: may have at most ${desc.maxItems} items`
      let undecided = false
      for (let i = 0; i < value.length; i++) {
        const bad = check(desc.items, value[i], `${path}[${i}]`)
        if (bad === UNDECIDED) undecided = true
        else if (bad !== undefined) return bad
      }
      return undecided ? UNDECIDED : undefined
    }
    case 'object': {
      if (!isObject(value)) return `${at(path)}: expected an object, got ${describe(value)}`
      const props = isObject(desc.properties) ? desc.properties : {}
      for (const k of Object.keys(value)) if (!Object.hasOwn(props, k)) return `${at(path)}: unknown property "${k}"`
      let undecided = false
      for (const [k, sub] of Object.entries(props)) {
        if (!Object.hasOwn(value, k)) {
          if (isObject(sub) && sub.type === 'optional') continue
          return `${at(`${path}.${k}`)}: is required`
        }
        const bad = check(sub, value[k], `${path}.${k}`)
        if (bad === UNDECIDED) undecided = true
        else if (bad !== undefined) return bad
      }
      return undecided ? UNDECIDED : undefined
    }
    case 'record': {
      if (!isObject(value)) return `${at(path)}: expected an object, got ${describe(value)}`
      const keys = Object.keys(value)
      if (typeof desc.maxEntries === 'number' && keys.length > desc.maxEntries)
        return `${at(path)}: may have at most ${desc.maxEntries} entries`
      let undecided = false
      for (const k of keys) {
        const bad = check(desc.values, value[k], `${path}.${k}`)
        if (bad === UNDECIDED) undecided = true
        else if (bad !== undefined) return bad
      }
      return undecided ? UNDECIDED : undefined
    }
    case 'optional':
      return value === undefined ? undefined : check(desc.inner, value, path)
    case 'any':
      return undefined
    default:
      return UNDECIDED
  }
}
