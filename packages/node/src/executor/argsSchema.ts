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
function bounds(desc: Descriptor, a: string, b?: string): boolean {
  return bound(desc[a]) && (b === undefined || bound(desc[b]))
}

function bound(n: unknown): boolean {
  return n === undefined || (typeof n === 'number' && Number.isFinite(n))
}

/**
 * Which patterns a check tests, with V8: `all` for the node's own methods (their patterns are the
 * node's), `bounded` for deployed contracts' at admission (see {@link boundedPattern}; the others
 * are left to the contract's schema, which the metered sandbox runs at execution), `none` at
 * execution (see argsVerdict).
 */
export type PatternTests = 'all' | 'bounded' | 'none'

/**
 * Why `value` does not match `d`, or undefined; for the node's own built-in methods and for
 * admission, which is not consensus. What this check cannot decide is accepted (the sandbox decides
 * at execution), and so is a pattern it does not test.
 */
export function checkArgs(d: unknown, value: unknown, patterns: Exclude<PatternTests, 'none'> = 'all'): string | undefined {
  const v = check(d, value, '', { mode: patterns, steps: ADMISSION_PATTERN_STEPS })
  return v === UNDECIDED ? undefined : v
}

/**
 * At admission, the most backtracking steps deployed contracts' patterns may take on the main thread
 * for one tx's arguments, all strings together (V8 takes a few nanoseconds per step): each test may
 * take `value.length × (tail + 1)`. A test that does not fit is left to the sandbox.
 */
export const ADMISSION_PATTERN_STEPS = 20_000

/** A pattern whose backtracking V8 bounds by input length × (tail + 1) (see {@link boundedPattern}). */
export interface BoundedPattern {
  readonly re: RegExp
  /** Characters the atoms after the varying quantifier match (0 when there is none). */
  readonly tail: number
}

// What boundedPattern answered, and patterns compiled for `all`, per pattern text (a chain has few).
const bounded = new Map<string, BoundedPattern | null>()
const compiled = new Map<string, RegExp | null>()

function remember<T>(cache: Map<string, T>, key: string, make: () => T): T {
  if (cache.has(key)) return cache.get(key) as T
  const v = make()
  if (cache.size >= 1024) cache.clear()
  if (key.length <= 1024) cache.set(key, v)
  return v
}

function compile(pattern: string): RegExp | null {
  try {
    return new RegExp(pattern)
  } catch {
    return null
  }
}

/**
 * `pattern` compiled, when V8's backtracking engine matches it in at most input length ×
 * (`tail` + 1) steps; null otherwise. That holds when it is anchored at both ends (one attempt),
 * has no groups, alternation, back-references or assertions, and at most one atom whose repetition
 * count varies: every other atom matches a fixed number of characters, so each character that
 * quantifier gives back costs one new try of the `tail` characters after it. Conservative: what it
 * does not recognise (`\x`, `\u`, `\c`, `\0`, `\b`, a literal `{`, `}` or `]`, a pattern over
 * 1,024 characters) counts as unbounded. A contract's `^(a+)+$` backtracks for hours on 40
 * characters, and `^\d*\d{9999}$` for seconds on 60 KB; the sandbox meters both.
 */
export function boundedPattern(pattern: string): BoundedPattern | null {
  return remember(bounded, pattern, () => {
    const tail = scanTail(pattern)
    const re = tail < 0 ? null : compile(pattern)
    return re === null ? null : { re, tail }
  })
}

const CLASS_ESCAPES = 'dDwWsStnrfv'
const QUANTIFIER = /^\{(\d{1,4})(,(\d{0,4}))?\}/

/** The `tail` of {@link boundedPattern}, or -1 when `p` is not of that form. */
function scanTail(p: string): number {
  if (p.length > 1024 || p[0] !== '^' || p[p.length - 1] !== '$') return -1
  const end = p.length - 1
  let varying = false
  let tail = 0
  let i = 1
  while (i < end) {
    // One atom, one character wide: an escape, a character class, or a plain character (`.` too).
    const c = p[i] as string
    if (c === '\\') {
      // Class and control escapes, or escaped punctuation; not \b, back-references, \x, \u, \p…
      const n = p[i + 1] as string
      if (!(CLASS_ESCAPES.includes(n) || !/[A-Za-z0-9]/.test(n))) return -1
      i += 2
    } else if (c === '[') {
      let j = i + 1
      while (j < end && p[j] !== ']') j += p[j] === '\\' ? 2 : 1
      if (j >= end) return -1
      i = j + 1
    } else if ('()|*+?{}[]^$'.includes(c)) return -1
    else i++
    // Its quantifier, if any (a lazy one too): how many times it matches, or -1 when that varies.
    let count = 1
    const atomEnd = i
    const q = p[i]
    if (q === '*' || q === '+' || q === '?') {
      count = -1
      i++
    } else if (q === '{') {
      const m = QUANTIFIER.exec(p.slice(i, end))
      if (m === null) return -1
      const [, min, range, max] = m as unknown as [string, string, string | undefined, string]
      count = range === undefined || max === min ? Number(min) : -1
      i += m[0].length
    }
    if (i !== atomEnd && p[i] === '?') i++
    if (count < 0) {
      if (varying) return -1
      varying = true
    } else if (varying) tail += count
  }
  // The last atom may have taken the closing `$` as an escaped `\$`.
  return i === end ? tail : -1
}

/** Which patterns one check tests, and the backtracking steps its `bounded` tests may still take. */
interface Tests {
  readonly mode: PatternTests
  steps: number
}

/** Whether `pattern` rejects `value`, per `tests`; a pattern V8 cannot compile is left to the sandbox. */
function patternRejects(pattern: string, value: string, tests: Tests): boolean {
  if (tests.mode === 'none') return false
  if (tests.mode === 'all') {
    const re = remember(compiled, pattern, () => compile(pattern))
    return re !== null && !re.test(value)
  }
  const b = boundedPattern(pattern)
  const steps = value.length * ((b?.tail ?? 0) + 1)
  if (b === null || steps > tests.steps) return false
  tests.steps -= steps
  return !b.re.test(value)
}

/**
 * The decision on `value` against `d`, patterns aside: undefined when it matches, why when it does
 * not, and `'undecided'` when `d` holds something this check does not implement exactly like the
 * authoring library (then only the contract's own schema may decide).
 */
export function argsVerdict(d: unknown, value: unknown): string | undefined | 'undecided' {
  const v = check(d, value, '', { mode: 'none', steps: 0 })
  return v === UNDECIDED ? 'undecided' : v
}

function check(d: unknown, value: unknown, path: string, patterns: Tests): string | undefined | typeof UNDECIDED {
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
      if (typeof desc.pattern === 'string' && patternRejects(desc.pattern, value, patterns))
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
      for (const k of Object.keys(props)) {
        const sub = props[k]
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
