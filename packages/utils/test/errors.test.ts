import { hexToBytes, isTrellisError, TrellisError } from '@trellis/utils'
import { describe, expect, it } from 'vitest'

type TxExpired = { code: 'TX_EXPIRED'; expiresAt: number; now: number }

describe('TrellisError', () => {
  it('exposes the code, the details without the code, and the structured type', () => {
    const err = new TrellisError<TxExpired>({ code: 'TX_EXPIRED', expiresAt: 1, now: 2 }, 'tx expired')
    expect(err.code).toBe('TX_EXPIRED')
    expect(err.details).toEqual({ expiresAt: 1, now: 2 })
    expect('code' in err.details).toBe(false)
    expect(err.type).toEqual({ code: 'TX_EXPIRED', expiresAt: 1, now: 2 })
    expect(err.message).toBe('tx expired')
    expect(err.name).toBe('TrellisError')
  })

  it('uses the code as the message when none is given', () => {
    const err = new TrellisError({ code: 'SOMETHING_BAD' })
    expect(err.message).toBe('SOMETHING_BAD')
    expect(err.details).toEqual({})
    expect(String(err)).toBe('TrellisError: SOMETHING_BAD')
  })

  it('keeps an empty message when one is given explicitly', () => {
    expect(new TrellisError({ code: 'X' }, '').message).toBe('')
  })

  it('returns details as a copy: mutating it does not change the error', () => {
    const err = new TrellisError<TxExpired>({ code: 'TX_EXPIRED', expiresAt: 1, now: 2 })
    const d = err.details as { expiresAt: number }
    d.expiresAt = 99
    expect(err.details).toEqual({ expiresAt: 1, now: 2 })
    expect(err.type.expiresAt).toBe(1)
  })

  it('carries the cause', () => {
    const cause = new RangeError('inner')
    const err = new TrellisError({ code: 'OUTER' }, 'outer', { cause })
    expect(err.cause).toBe(cause)
    expect(new TrellisError({ code: 'OUTER' }, 'outer', { cause: 'a string cause' }).cause).toBe('a string cause')
    expect(new TrellisError({ code: 'OUTER' }).cause).toBeUndefined()
    expect('cause' in new TrellisError({ code: 'OUTER' })).toBe(false)
  })

  it('is an Error and a TrellisError, with a stack that names it', () => {
    const err = new TrellisError({ code: 'X' }, 'boom')
    expect(err).toBeInstanceOf(Error)
    expect(err).toBeInstanceOf(TrellisError)
    expect(Object.prototype.toString.call(err)).toBe('[object Error]')
    expect(err.stack).toContain('TrellisError: boom')
    expect(err.stack).toContain('errors.test.ts')
  })

  it('survives being thrown and caught', () => {
    const thrower = () => {
      throw new TrellisError<TxExpired>({ code: 'TX_EXPIRED', expiresAt: 5, now: 6 })
    }
    expect(thrower).toThrow(TrellisError)
    try {
      thrower()
      expect.unreachable()
    } catch (e) {
      expect(isTrellisError(e, 'TX_EXPIRED')).toBe(true)
      if (isTrellisError(e)) expect(e.details).toEqual({ expiresAt: 5, now: 6 })
    }
  })

  it('works for subclasses', () => {
    class ChildError extends TrellisError<{ code: 'CHILD'; n: number }> {}
    const err = new ChildError({ code: 'CHILD', n: 3 })
    expect(err).toBeInstanceOf(ChildError)
    expect(err).toBeInstanceOf(TrellisError)
    expect(err).toBeInstanceOf(Error)
    expect(err.code).toBe('CHILD')
    expect(err.details).toEqual({ n: 3 })
    expect(isTrellisError(err, 'CHILD')).toBe(true)
  })

  it('is what the byte codecs throw', () => {
    try {
      hexToBytes('xyz')
      expect.unreachable()
    } catch (e) {
      expect(e).toBeInstanceOf(TrellisError)
      expect((e as TrellisError).code).toBe('BYTES_INVALID_HEX')
      expect((e as TrellisError).details).toEqual({})
    }
  })
})

describe('isTrellisError', () => {
  const err = new TrellisError({ code: 'A_CODE' })

  it('matches any TrellisError without a code, and only the given code with one', () => {
    expect(isTrellisError(err)).toBe(true)
    expect(isTrellisError(err, 'A_CODE')).toBe(true)
    expect(isTrellisError(err, 'OTHER_CODE')).toBe(false)
    expect(isTrellisError(err, '')).toBe(false)
  })

  it('rejects look-alikes and non-errors', () => {
    const plain = Object.assign(new Error('x'), { code: 'A_CODE', type: { code: 'A_CODE' } })
    expect(isTrellisError(plain)).toBe(false)
    expect(isTrellisError(plain, 'A_CODE')).toBe(false)
    expect(isTrellisError({ code: 'A_CODE', name: 'TrellisError', message: 'x' })).toBe(false)
    expect(isTrellisError(null)).toBe(false)
    expect(isTrellisError(undefined)).toBe(false)
    expect(isTrellisError('A_CODE')).toBe(false)
    expect(isTrellisError(42)).toBe(false)
  })
})
