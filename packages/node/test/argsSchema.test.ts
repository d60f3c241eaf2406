import { checkPatterns, nodeChecks, type Schema, SchemaError, s } from '@trellis/contract'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ADMISSION_PATTERN_STEPS, argsVerdict, boundedPattern, checkArgs } from '../src/executor/argsSchema.js'

// Schemas built with the authoring library's `s`, at most three levels deep.
const leafSchema: fc.Arbitrary<Schema<unknown>> = fc.oneof(
  fc.record({ min: fc.option(fc.nat(4), { nil: undefined }), max: fc.option(fc.nat(8), { nil: undefined }) }).map((o) => s.string(o)),
  fc.constantFrom(s.string({ pattern: '^[a-c]+$' }), s.string({ min: 1, pattern: '^x' })),
  fc
    .record({
      min: fc.option(fc.integer({ min: -5, max: 5 }), { nil: undefined }),
      max: fc.option(fc.integer({ min: -5, max: 5 }), { nil: undefined }),
    })
    .map((o) => s.int(o)),
  fc.constant(s.boolean()),
  fc.constant(s.null()),
  fc.constant(s.enum(['a', 'b'])),
  fc.constant(s.any()),
)

const schemaArb: fc.Arbitrary<Schema<unknown>> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, leafSchema, tie('array'), tie('object'), tie('record'), tie('optional')),
  array: fc
    .record({ items: tie('node'), max: fc.option(fc.nat(3), { nil: undefined }) })
    .map((o) => s.array(o.items as Schema<unknown>, { max: o.max })),
  object: fc
    .dictionary(fc.constantFrom('a', 'b', 'c'), tie('node'), { maxKeys: 3 })
    .map((shape) => s.object(shape as Record<string, Schema<unknown>>)),
  record: fc
    .record({ values: tie('node'), max: fc.option(fc.nat(2), { nil: undefined }) })
    .map((o) => s.record(o.values as Schema<unknown>, { max: o.max })),
  optional: tie('node').map((inner) => s.optional(inner as Schema<unknown>)),
})).node

// JSON values shaped to hit both sides of every check.
const valueArb: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom('', 'a', 'abc', 'xyz', 'abcdefghij', 'b', 'x1', null, true, false, 0, 1, -6, 6, 2 ** 60, 0.5),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), tie('v'), { maxKeys: 4 }),
  ),
})).v

function reason(f: () => unknown): string | undefined {
  try {
    f()
    return undefined
  } catch (err) {
    if (err instanceof SchemaError) return err.message
    throw err
  }
}

describe('arguments checked against a manifest descriptor', () => {
  it('decide as the library schema that published the descriptor, with its reason; patterns are left to the sandbox (property)', () => {
    fc.assert(
      fc.property(schemaArb, valueArb, (schema, value) => {
        expect(nodeChecks(schema)).toBe(true)
        const node = argsVerdict(schema.descriptor, value)
        const library = reason(() => schema.parse(value))
        if (!JSON.stringify(schema.descriptor).includes('"pattern"')) expect(node).toBe(library)
        else if (node !== undefined) expect(library).toBeDefined()
        // What the node let through, the library rejects only for a pattern, and the sandbox's
        // pattern test names the same one.
        else expect(reason(() => checkPatterns(schema, value))).toBe(library)
      }),
      { numRuns: 3000 },
    )
  })

  it('leave to the sandbox what they cannot decide exactly: unknown types, malformed fields, and every pattern', () => {
    expect(argsVerdict({ type: 'uuid' }, 'x')).toBe('undecided')
    expect(argsVerdict({ type: 'string', pattern: {} }, 'x')).toBe('undecided')
    expect(argsVerdict({ type: 'integer', minimum: null }, 5)).toBe('undecided')
    expect(argsVerdict({ type: 'enum', values: ['a', 1] }, 1)).toBe('undecided')
    // A pattern, even one that backtracks for ages in V8, is not run here.
    const started = performance.now()
    expect(argsVerdict({ type: 'string', pattern: '^(a+)+$' }, 'a'.repeat(40) + '!')).toBeUndefined()
    expect(performance.now() - started).toBeLessThan(1000)
    // An undecided part does not hide a definite failure elsewhere, nor turn it into a pass.
    const d = { type: 'object', properties: { a: { type: 'uuid' }, b: { type: 'integer' } }, required: ['a', 'b'] }
    expect(argsVerdict(d, { a: 'x', b: 'no' })).toBe('args.b: expected a safe integer, got a string')
    expect(argsVerdict(d, { a: 'x', b: 1 })).toBe('undecided')
    // Admission accepts what it cannot decide (the sandbox decides at execution).
    expect(checkArgs(d, { a: 'x', b: 1 })).toBeUndefined()
    expect(checkArgs({ type: 'uuid' }, 'x')).toBeUndefined()
    // Built-in methods and admission test patterns; execution's check does not.
    const name = { type: 'object', properties: { name: { type: 'string', pattern: '^[a-z]+$' } }, required: ['name'] }
    expect(checkArgs(name, { name: 'X' })).toBe('args.name: must match ^[a-z]+$')
    expect(argsVerdict(name, { name: 'X' })).toBeUndefined()
  })

  it('test at admission only the patterns of deployed contracts whose backtracking V8 bounds, within a step budget', () => {
    const tail = (p: string) => boundedPattern(p)?.tail ?? null
    // Bounded: anchored at both ends, no groups, at most one varying quantifier; `tail` is what the
    // atoms after that quantifier match.
    expect(tail('^[A-Za-z0-9_.:-]+$')).toBe(0)
    expect(tail('^[a-z][a-z0-9-]{1,63}$')).toBe(0)
    expect(tail('^\\d{4}-\\d{2}-\\d{2}$')).toBe(0)
    expect(tail('^[A-Z]{3}[0-9]{1,4}x{2}$')).toBe(2)
    expect(tail('^a+?b{3}?c$')).toBe(4)
    expect(tail('^\\d*\\d{9999}$')).toBe(9999)
    expect(tail('^\\$$')).toBe(0)
    for (const p of [
      '^(a+)+$', // nested quantifiers: exponential
      '^(a|a)*$', // alternation under a quantifier: exponential
      '^a*a*$', // two varying quantifiers: quadratic
      '^[a-z]+@[a-z]+$',
      'a+$', // unanchored: one attempt per position
      '^a+',
      '^a|b$',
      '^(a)\\1$', // back-reference
      '^(?=a)a$',
      '^a\\b$',
      '^a{1,$',
      '^a\\$',
      '^[z-a]$', // V8 cannot compile it
      '^',
      '',
      '^$$',
    ])
      expect([p, tail(p)]).toEqual([p, null])
    // Admission does not run a catastrophic pattern (run, this one would reject the value), and
    // still tests a bounded one.
    const greedy = { type: 'string', pattern: '^(a+)+$' }
    expect(checkArgs(greedy, 'a'.repeat(20) + '!', 'bounded')).toBeUndefined()
    expect(checkArgs(greedy, 'a'.repeat(20) + '!')).toBe('args: must match ^(a+)+$')
    expect(checkArgs({ type: 'string', pattern: '^[a-z]+$' }, 'X', 'bounded')).toBe('args: must match ^[a-z]+$')
    // The same pattern is tested on a short value, and not on one whose backtracking could pass the budget.
    const wide = { type: 'string', pattern: '^\\d*\\d{9999}$' }
    const fits = Math.floor(ADMISSION_PATTERN_STEPS / 10_000) // the longest value tested: 10,000 steps per character
    expect(checkArgs(wide, '1'.repeat(fits - 1) + 'x', 'bounded')).toBe('args: must match ^\\d*\\d{9999}$')
    expect(checkArgs(wide, '1'.repeat(fits) + 'x', 'bounded')).toBeUndefined()
    // The budget is per check (one tx's arguments), all strings together: the failing item is
    // tested while the items before it fit, and left to the sandbox once they used the budget.
    const items = { type: 'array', items: { type: 'string', pattern: '^[ab]*[ab]{9}c$' } }
    const good = 'a'.repeat(200) + 'c' // 201 × 10 steps
    const fitting = Math.floor(ADMISSION_PATTERN_STEPS / 2010) - 1
    expect(checkArgs(items, [...Array<string>(fitting).fill(good), 'b'], 'bounded')).toBe(
      'args[' + fitting + ']: must match ^[ab]*[ab]{9}c$',
    )
    expect(checkArgs(items, [...Array<string>(fitting + 1).fill(good), 'b'.repeat(200)], 'bounded')).toBeUndefined()
    // A pattern V8 cannot compile is left to the sandbox, never thrown.
    expect(checkArgs({ type: 'string', pattern: '^[z-a]+$' }, 'x', 'bounded')).toBeUndefined()
    expect(checkArgs({ type: 'string', pattern: '^[z-a]+$' }, 'x')).toBeUndefined()
  })

  it('a pattern judged bounded finishes on adversarial inputs within the budget; judging never throws (property)', () => {
    const inputs = ['a'.repeat(4000) + '!', '1'.repeat(4000) + '\n', 'ab'.repeat(2000) + '$', 'a'.repeat(3000) + 'b'.repeat(1000)]
    // Patterns built from atoms and quantifiers (about one in eight judged bounded), and arbitrary text.
    const atom = fc.constantFrom('a', 'b', '1', '.', '\\d', '\\w', '\\.', '[ab]', '[^a]', '[a-z]', '[]', '(a)', '(a|b)', '(a+)', '\\1', '|')
    const quantifier = fc.constantFrom('', '', '', '', '', '*', '+', '?', '{2}', '{1,3}', '{2,}', '*?', '{3,3}')
    const anchor = fc.constantFrom(true, true, true, false)
    const built = fc
      .tuple(anchor, fc.array(fc.tuple(atom, quantifier), { minLength: 1, maxLength: 6 }), anchor)
      .map(([start, parts, end]) => (start ? '^' : '') + parts.map(([a, q]) => a + q).join('') + (end ? '$' : ''))
    let judgedBounded = 0
    fc.assert(
      fc.property(fc.oneof({ arbitrary: built, weight: 4 }, { arbitrary: fc.string(), weight: 1 }), (p) => {
        const b = boundedPattern(p)
        if (b === null) return
        judgedBounded++
        // A pattern wrongly judged bounded (groups, alternation, three varying quantifiers)
        // backtracks for ages here, and the run never ends.
        for (const s of inputs) if (s.length * (b.tail + 1) <= ADMISSION_PATTERN_STEPS) b.re.test(s)
      }),
      { numRuns: 5000 },
    )
    expect(judgedBounded).toBeGreaterThan(300)
  })

  it('lets the node check only schemas built with s alone, with well-formed options (not copies of them)', () => {
    const own: Schema<string> = { descriptor: { type: 'string' }, parse: (v) => String(v) }
    expect(nodeChecks(s.object({ id: s.string({ pattern: '^a' }), n: s.optional(s.int({ min: 0 })), e: s.enum(['x']) }))).toBe(true)
    expect(nodeChecks(s.object({ id: own }))).toBe(false)
    expect(nodeChecks(s.array(own))).toBe(false)
    expect(nodeChecks(s.record(own))).toBe(false)
    expect(nodeChecks(s.optional(own))).toBe(false)
    // A refinement made by copying a library schema is the contract's own.
    const refined = { ...s.string({ max: 10 }), parse: (v: unknown) => String(v).toLowerCase() }
    expect(nodeChecks(refined)).toBe(false)
    expect(nodeChecks(s.object({ to: refined }))).toBe(false)
    // Options a descriptor cannot carry exactly (JSON has no Infinity; a RegExp is not a string).
    expect(nodeChecks(s.int({ min: Infinity }))).toBe(false)
    expect(nodeChecks(s.string({ pattern: /^a/ as unknown as string }))).toBe(false)
    expect(nodeChecks(s.enum([1] as unknown as ['a']))).toBe(false)
    expect(nodeChecks(s.array(s.int(), { max: Number.NaN }))).toBe(false)
    expect(nodeChecks(s.object({ ['__proto__']: s.string() }))).toBe(false)
    // Nor can a marked schema be changed after it was built: not its parse, its descriptor or its options.
    const opts: { max?: number } = { max: 5 }
    const marked = s.string(opts)
    expect(() => Object.assign(marked, { parse: () => 'x' })).toThrow(TypeError)
    expect(() => {
      ;(marked.descriptor as { maxLength?: number }).maxLength = 2
    }).toThrow(TypeError)
    opts.max = 2
    expect(marked.parse('abcd')).toBe('abcd')
    expect(marked.descriptor).toEqual({ type: 'string', maxLength: 5 })
  })
})
