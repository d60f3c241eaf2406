import { TrellisError } from '@trellis/utils'
import { describe, expect, it } from 'vitest'
import { intFlag, ledgerJSON } from '../src/io.js'

function failure(f: () => unknown): string {
  try {
    f()
  } catch (err) {
    if (err instanceof TrellisError) return `${err.code}: ${err.message}`
    throw err
  }
  return 'no error'
}

describe('integer flags', () => {
  it('accept integers within bounds and name the flag and the value otherwise', () => {
    expect(intFlag('42', 'height', 1, Number.MAX_SAFE_INTEGER)).toBe(42)
    expect(intFlag('3', 'nodes', 1, 7)).toBe(3)
    expect(failure(() => intFlag('abc', 'height', 1, Number.MAX_SAFE_INTEGER))).toBe(
      'FLAG_INVALID: --height must be an integer of at least 1, not "abc"',
    )
    expect(failure(() => intFlag('0', 'height', 1, Number.MAX_SAFE_INTEGER))).toBe(
      'FLAG_INVALID: --height must be an integer of at least 1, not "0"',
    )
    expect(failure(() => intFlag('8', 'nodes', 1, 7))).toBe('FLAG_INVALID: --nodes must be an integer in 1..7, not "8"')
    expect(failure(() => intFlag('1.5', 'nodes', 1, 7))).toBe('FLAG_INVALID: --nodes must be an integer in 1..7, not "1.5"')
    for (const v of ['0x5', '5e0', ' 5', '05', '', '-1'])
      expect(failure(() => intFlag(v, 'nodes', 0, 7))).toBe(`FLAG_INVALID: --nodes must be an integer in 0..7, not "${v}"`)
    expect(intFlag('0', 'nodes', 0, 7)).toBe(0)
    // A positional argument is called by its description, not as a flag.
    expect(failure(() => intFlag('x', 'the proposal id', 1, 9))).toBe('FLAG_INVALID: the proposal id must be an integer in 1..9, not "x"')
    expect(failure(() => intFlag('99999999999999999', 'height', 1, Number.MAX_SAFE_INTEGER))).toBe(
      'FLAG_INVALID: --height must be an integer of at least 1, not "99999999999999999"',
    )
  })
})

describe('JSON arguments', () => {
  it('are parsed when the ledger can store them; a syntax error and a non-ledger value are told apart', () => {
    expect(ledgerJSON('{"name":"alice","n":3,"b":{"$bytes":"AQI="}}', 'the arguments').json).toEqual({
      name: 'alice',
      n: 3,
      b: { $bytes: 'AQI=' },
    })
    expect(failure(() => ledgerJSON('{name:"carol"}', 'the arguments'))).toMatch(
      /^ARGS_INVALID: the arguments: not valid JSON \(.+\); quote it for the shell, e\.g\. '\{"name":"alice"\}'$/,
    )
    expect(failure(() => ledgerJSON('{"x":1.5}', '--init-args'))).toMatch(
      /^ARGS_INVALID: --init-args: not a ledger value \(.*1\.5.*\); numbers are integers/,
    )
  })
})
