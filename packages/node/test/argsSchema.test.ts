import { type Schema, SchemaError, s } from '@trellis/contract'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { argsVerdict, checkArgs } from '../src/executor/argsSchema.js'

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

function libraryVerdict(schema: Schema<unknown>, value: unknown): string | undefined {
  try {
    schema.parse(value)
    return undefined
  } catch (err) {
    if (err instanceof SchemaError) return err.message
    throw err
  }
}

describe('arguments checked against a manifest descriptor', () => {
  it('decide exactly as the library schema that published the descriptor, with the same reason (property)', () => {
    fc.assert(
      fc.property(schemaArb, valueArb, (schema, value) => {
        expect(schema.hostChecked).toBe(true)
        expect(argsVerdict(schema.descriptor, value)).toBe(libraryVerdict(schema, value))
      }),
      { numRuns: 3000 },
    )
  })

  it('leave to the sandbox what they cannot decide exactly: unknown types and patterns Node cannot compile', () => {
    expect(argsVerdict({ type: 'uuid' }, 'x')).toBe('undecided')
    expect(argsVerdict({ type: 'string', pattern: '(' }, 'x')).toBe('undecided')
    // An undecided part does not hide a definite failure elsewhere, nor turn it into a pass.
    const d = { type: 'object', properties: { a: { type: 'string', pattern: '(' }, b: { type: 'integer' } }, required: ['a', 'b'] }
    expect(argsVerdict(d, { a: 'x', b: 'no' })).toBe('args.b: expected a safe integer, got a string')
    expect(argsVerdict(d, { a: 'x', b: 1 })).toBe('undecided')
    // Admission accepts what it cannot decide (the sandbox decides at execution).
    expect(checkArgs(d, { a: 'x', b: 1 })).toBeUndefined()
    expect(checkArgs({ type: 'uuid' }, 'x')).toBeUndefined()
  })

  it('marks only schemas made of library schemas as checked by the node', () => {
    const own: Schema<string> = { descriptor: { type: 'string' }, parse: (v) => String(v) }
    expect(s.object({ id: s.string(), n: s.optional(s.int()) }).hostChecked).toBe(true)
    expect(s.object({ id: own }).hostChecked).toBeUndefined()
    expect(s.array(own).hostChecked).toBeUndefined()
    expect(s.record(own).hostChecked).toBeUndefined()
    expect(s.optional(own).hostChecked).toBeUndefined()
  })
})
