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

/** A descriptor this check cannot decide exactly: an unknown type, a malformed field. */
const UNDECIDED = Symbol('undecided')

/** Whether the named bounds are absent or finite numbers (anything else: the check is not exact). */
function bounds(desc: Descriptor, ...names: string[]): boolean {
  return names.every((n) => desc[n] === undefined || (typeof desc[n] === 'number' && Number.isFinite(desc[n])))
}

/**
 * Why `value` does not match `d`, or undefined; for the node's own built-in methods and for
 * admission, which is not consensus. What this check cannot decide is accepted (the sandbox decides
 * at execution). Patterns are tested, with V8; at execution a deployed contract's are left to its
 * sandbox (see argsVerdict).
 */
export function checkArgs(d: unknown, value: unknown): string | undefined {
  const v = check(d, value, '', true)
  return v === UNDECIDED ? undefined : v
}

/**
 * The decision on `value` against `d`, patterns aside: undefined when it matches, why when it does
 * not, and `'undecided'` when `d` holds something this check does not implement exactly like the
 * authoring library (then only the contract's own schema may decide).
 */
export function argsVerdict(d: unknown, value: unknown): string | undefined | 'undecided' {
  const v = check(d, value, '', false)
  return v === UNDECIDED ? 'undecided' : v
}

function check(d: unknown, value: unknown, path: string, patterns: boolean): string | undefined | typeof UNDECIDED {
  if (!isObject(d) || typeof d.type !== 'string') return UNDECIDED
  const desc = d as Descriptor
  switch (desc.type) {
    case 'string': {
      if (!bounds(desc, 'minLength', 'maxLength') || (desc.pattern !== undefined && typeof desc.pattern !== 'string')) return UNDECIDED
      if (typeof value !== 'string') return `${at(path)}: expected a string, got ${describe(value)}`
      if (typeof desc.minLength === 'number' && value.length < desc.minLength)
        return `${at(path)}: must be at least ${desc.minLength} characters`
      if (typeof desc.maxLength === 'number' && value.length > desc.maxLength)
        return `${at(path)}: must be at most ${desc.maxLength} characters`
      // At execution a deployed contract's patterns are left to its own schema, in the metered
      // sandbox: a regular expression can backtrack for minutes, and engines (and Node versions)
      // differ on what a pattern means, where validators must agree.
      if (patterns && typeof desc.pattern === 'string' && !new RegExp(desc.pattern).test(value))
        return `${at(path)}: must match ${desc.pattern}`
      return undefined
    }
    case 'integer':
      if (!bounds(desc, 'minimum', 'maximum')) return UNDECIDED
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) return `${at(path)}: expected a safe integer, got ${describe(value)}`
      if (typeof desc.minimum === 'number' && value < desc.minimum) return `${at(path)}: must be at least ${desc.minimum}`
      if (typeof desc.maximum === 'number' && value > desc.maximum) return `${at(path)}: must be at most ${desc.maximum}`
      return undefined
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `${at(path)}: expected a boolean, got ${describe(value)}`
    case 'null':
      return value === null ? undefined : `${at(path)}: expected null, got ${describe(value)}`
    case 'enum':
      if (!Array.isArray(desc.values) || !desc.values.every((x) => typeof x === 'string')) return UNDECIDED
      return (desc.values as string[]).includes(value as string)
        ? undefined
        : `${at(path)}: must be one of ${(desc.values as string[]).join(', ')}`
    case 'array': {
      if (!bounds(desc, 'maxItems')) return UNDECIDED
      if (!Array.isArray(value)) return `${at(path)}: expected an array, got ${describe(value)}`
      if (typeof desc.maxItems === 'number' && value.length > desc.maxItems) return `${at(path)}: may have at most ${desc.maxItems} items`
      let undecided = false
      for (let i = 0; i < value.length; i++) {
        const bad = check(desc.items, value[i], `${path}[${i}]`, patterns)
        if (bad === UNDECIDED) undecided = true
        else if (bad !== undefined) return bad
      }
      return undecided ? UNDECIDED : undefined
    }
    case 'object': {
      if (!isObject(value)) return `${at(path)}: expected an object, got ${describe(value)}`
      if (!isObject(desc.properties)) return UNDECIDED
      const props = desc.properties
      for (const k of Object.keys(value)) if (!Object.hasOwn(props, k)) return `${at(path)}: unknown property "${k}"`
      let undecided = false
      for (const [k, sub] of Object.entries(props)) {
        if (!Object.hasOwn(value, k)) {
          if (isObject(sub) && sub.type === 'optional') continue
          return `${at(`${path}.${k}`)}: is required`
        }
        const bad = check(sub, value[k], `${path}.${k}`, patterns)
        if (bad === UNDECIDED) undecided = true
        else if (bad !== undefined) return bad
      }
      return undecided ? UNDECIDED : undefined
    }
    case 'record': {
      if (!bounds(desc, 'maxEntries')) return UNDECIDED
      if (!isObject(value)) return `${at(path)}: expected an object, got ${describe(value)}`
      const keys = Object.keys(value)
      if (typeof desc.maxEntries === 'number' && keys.length > desc.maxEntries)
        return `${at(path)}: may have at most ${desc.maxEntries} entries`
      let undecided = false
      for (const k of keys) {
        const bad = check(desc.values, value[k], `${path}.${k}`, patterns)
        if (bad === UNDECIDED) undecided = true
        else if (bad !== undefined) return bad
      }
      return undecided ? UNDECIDED : undefined
    }
    case 'optional':
      return value === undefined ? undefined : check(desc.inner, value, path, patterns)
    case 'any':
      return undefined
    default:
      return UNDECIDED
  }
}
