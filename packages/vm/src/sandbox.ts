import { TrellisError } from '@trellis/utils'
import { type QuickJSContext, type QuickJSHandle, type QuickJSWASMModule, newQuickJSWASMModule } from 'quickjs-emscripten'

/**
 * A deterministic, metered sandbox for contract code: QuickJS compiled to WebAssembly. The same code
 * with the same inputs and host answers yields the same result and the same gas on every machine:
 * gas counts QuickJS's interrupt checks (issued every fixed number of interpreter steps), host calls
 * and bytes — never wall time. Memory and stack are capped inside the WebAssembly heap. No I/O, clock,
 * randomness or host object is reachable: the only way out is the `__host` functions the caller
 * provides, which exchange JSON text.
 */

/** Why a run ended without a value. Codes are fixed: messages from the engine never reach a receipt. */
export type VmErrorCode =
  | 'VM_OUT_OF_GAS'
  | 'VM_OUT_OF_MEMORY'
  | 'VM_STACK_OVERFLOW'
  | 'VM_RESULT_TOO_LARGE'
  | 'VM_BAD_RESULT'
  | 'VM_NO_SUCH_FUNCTION'
  /** The contract could not be loaded: a syntax error, an import, or an exception at its top level. */
  | 'VM_LOAD_ERROR'
  /** The contract threw: `code` is the contract's own code when it threw a coded error. */
  | 'VM_CONTRACT_ERROR'
  | 'VM_HOST_ERROR'

export interface VmLimits {
  /** Gas budget of one run. */
  readonly gas: number
  readonly memoryBytes: number
  readonly stackBytes: number
  /** Largest JSON result. */
  readonly resultBytes: number
}

export const defaultVmLimits: VmLimits = {
  gas: 10_000_000,
  memoryBytes: 32 * 1024 * 1024,
  // QuickJS's own limit must trigger before the host's native stack (each interpreted frame also uses
  // native WebAssembly frames): at 512 KB a recursive arrow function, and at 256 KB a deeply nested
  // JSON.parse, overflowed V8's stack first. Should the host stack still overflow, run() reports the
  // same VM_STACK_OVERFLOW (see below).
  stackBytes: 128 * 1024,
  resultBytes: 64 * 1024,
}

/** Gas schedule. An interrupt check happens every ~10k interpreter steps. */
export const GAS = {
  perInterrupt: 10_000,
  perHostCall: 1_000,
  perByte: 10,
  /** Creating the sandbox and evaluating the contract module. */
  base: 20_000,
} as const

/** Host functions a contract may call, all synchronous, JSON in and out. */
export type HostFunctions = Readonly<Record<string, (...args: string[]) => string | null>>

export type RunResult =
  | { readonly ok: true; readonly value: unknown; readonly json: string; readonly gasUsed: number }
  | { readonly ok: false; readonly code: VmErrorCode; readonly contractCode?: string; readonly message: string; readonly gasUsed: number }

/** Host errors carry their own code and are reported as they are (the host is deterministic code). */
export class HostError extends TrellisError<{ code: string }> {
  constructor(code: string, message: string) {
    super({ code }, message)
  }
}

// Evaluated in every fresh context before the contract: removes what is not deterministic and makes
// the intrinsics contract code shares with the host bridge immutable.
const PRELUDE = `
'use strict';
(function () {
  const g = globalThis;
  delete g.Date;
  Math.random = function random() { throw new Error('Math.random is not available: contracts must be deterministic'); };
  for (const name of ['setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'queueMicrotask', 'WeakRef', 'FinalizationRegistry', 'Atomics', 'SharedArrayBuffer']) delete g[name];
  const host = g.__host;
  Object.freeze(host);
  for (const c of [Object, Array, Function, String, Number, Boolean, Symbol, Error, TypeError, RangeError, JSON, Math, Map, Set, Promise, RegExp, BigInt]) {
    Object.freeze(c);
    if (c.prototype) Object.freeze(c.prototype);
  }
})();
`

export class Sandbox {
  /** Set when tearing down a run failed inside the engine: the next run loads a fresh engine. */
  private broken = false

  private constructor(private qjs: QuickJSWASMModule) {}

  /** A sandbox with its own WebAssembly engine instance. */
  static async create(): Promise<Sandbox> {
    return new Sandbox(await newQuickJSWASMModule())
  }

  /**
   * Like {@link Sandbox.runSync}, but first replaces the engine if an earlier run left it unusable.
   * QuickJS can fail an internal assertion when freeing a runtime after some stack overflows; the
   * run's result is already decided then (and deterministic), but that engine instance is discarded.
   */
  async run(code: string, entry: string, argsJson: string, host: HostFunctions, limits: VmLimits = defaultVmLimits): Promise<RunResult> {
    if (this.broken) {
      this.qjs = await newQuickJSWASMModule()
      this.broken = false
    }
    return this.runSync(code, entry, argsJson, host, limits)
  }

  /**
   * Evaluates `code` (a script whose top level defines functions) in a fresh context and calls the
   * global function `entry` with the JSON-decoded `argsJson` as its only argument. Nothing survives
   * the run: each call gets a new runtime.
   */
  runSync(code: string, entry: string, argsJson: string, host: HostFunctions, limits: VmLimits = defaultVmLimits): RunResult {
    if (this.broken) throw new Error('the engine must be reloaded first: use run()')
    try {
      const r = this.runOnce(code, entry, argsJson, host, limits)
      // Where a stack overflow is detected (QuickJS or the host) depends on the host's own stack depth,
      // so its gas cannot be measured identically everywhere: it costs the whole budget.
      return !r.ok && r.code === 'VM_STACK_OVERFLOW' ? { ...r, gasUsed: limits.gas } : r
    } catch (err) {
      // The host's native stack overflowed inside the engine (a trap): the engine is discarded.
      this.broken = true
      if (err instanceof RangeError)
        return { ok: false, code: 'VM_STACK_OVERFLOW', message: 'the call stack limit was exceeded', gasUsed: limits.gas }
      throw err
    }
  }

  private runOnce(code: string, entry: string, argsJson: string, host: HostFunctions, limits: VmLimits): RunResult {
    const runtime = this.qjs.newRuntime()
    let gas = GAS.base + (code.length + argsJson.length) * GAS.perByte
    let outOfGas = gas > limits.gas
    runtime.setMemoryLimit(limits.memoryBytes)
    runtime.setMaxStackSize(limits.stackBytes)
    runtime.setInterruptHandler(() => {
      gas += GAS.perInterrupt
      if (gas > limits.gas) outOfGas = true
      return outOfGas
    })
    const ctx = runtime.newContext()
    let hostFailure: { code: string; message: string } | undefined
    try {
      if (outOfGas) return fail('VM_OUT_OF_GAS', 'the gas budget does not cover loading the contract', limits.gas)
      this.installHost(
        ctx,
        host,
        (n) => {
          gas += GAS.perHostCall + n * GAS.perByte
          if (gas > limits.gas) outOfGas = true
          return outOfGas
        },
        (f) => {
          hostFailure ??= f
        },
      )
      const prelude = ctx.evalCode(PRELUDE, 'prelude.js')
      if (prelude.error) {
        prelude.error.dispose()
        return fail('VM_HOST_ERROR', 'sandbox prelude failed', gas)
      }
      prelude.value.dispose()
      const loaded = ctx.evalCode(code, 'contract.js')
      if (loaded.error) return this.failure(ctx, loaded.error, gas, outOfGas, hostFailure, true)
      loaded.value.dispose()
      const fn = ctx.getProp(ctx.global, entry)
      try {
        if (ctx.typeof(fn) !== 'function') return fail('VM_NO_SUCH_FUNCTION', `the contract has no function ${entry}`, gas)
        const call = ctx.evalCode(
          `(function (f, a) {
            const r = f(JSON.parse(a));
            if (r !== null && typeof r === 'object' && typeof r.then === 'function') throw new TypeError('contracts are synchronous: a promise is not a result');
            return JSON.stringify(r === undefined ? null : r);
          })`,
          'bridge.js',
        )
        if (call.error) {
          call.error.dispose()
          return fail('VM_HOST_ERROR', 'bridge failed', gas)
        }
        const argHandle = ctx.newString(argsJson)
        try {
          const result = ctx.callFunction(call.value, ctx.undefined, fn, argHandle)
          if (result.error) return this.failure(ctx, result.error, gas, outOfGas, hostFailure, false)
          const json = ctx.typeof(result.value) === 'string' ? (ctx.getString(result.value) as string) : undefined
          result.value.dispose()
          // A contract that caught an out-of-gas or host error still fails: the budget is the budget.
          if (outOfGas) return fail('VM_OUT_OF_GAS', 'the gas budget was exhausted', limits.gas)
          if (hostFailure !== undefined)
            return {
              ok: false,
              code: 'VM_HOST_ERROR',
              contractCode: hostFailure.code,
              message: hostFailure.message,
              gasUsed: Math.min(gas, limits.gas),
            }
          if (json === undefined) return fail('VM_BAD_RESULT', 'the result is not JSON-serialisable', gas)
          if (json.length > limits.resultBytes)
            return fail('VM_RESULT_TOO_LARGE', `the result is ${json.length} bytes, above ${limits.resultBytes}`, gas)
          gas += json.length * GAS.perByte
          if (gas > limits.gas) return fail('VM_OUT_OF_GAS', 'the gas budget was exhausted', limits.gas)
          return { ok: true, value: JSON.parse(json), json, gasUsed: gas }
        } finally {
          argHandle.dispose()
          call.value.dispose()
        }
      } finally {
        fn.dispose()
      }
    } finally {
      try {
        ctx.dispose()
        runtime.dispose()
      } catch {
        this.broken = true
      }
    }
  }

  private installHost(
    ctx: QuickJSContext,
    host: HostFunctions,
    charge: (bytes: number) => boolean,
    onFailure: (f: { code: string; message: string }) => void,
  ): void {
    const obj = ctx.newObject()
    for (const [name, impl] of Object.entries(host)) {
      const fn = ctx.newFunction(name, (...handles: QuickJSHandle[]) => {
        const args = handles.map((h) => (ctx.typeof(h) === 'string' ? (ctx.getString(h) as string) : ''))
        let bytes = 0
        for (const a of args) bytes += a.length
        if (charge(bytes)) return { error: ctx.newError({ name: 'OutOfGas', message: 'out of gas' }) }
        try {
          const out = impl(...args)
          if (out !== null && charge(out.length)) return { error: ctx.newError({ name: 'OutOfGas', message: 'out of gas' }) }
          return out === null ? ctx.null : ctx.newString(out)
        } catch (err) {
          const code = err instanceof TrellisError ? err.code : 'VM_HOST_ERROR'
          const message = err instanceof Error ? err.message : String(err)
          onFailure({ code, message })
          // The contract sees an exception it can catch, but the run fails anyway (see run()).
          return { error: ctx.newError({ name: 'HostError', message: `${code}: ${message}` }) }
        }
      })
      ctx.setProp(obj, name, fn)
      fn.dispose()
    }
    ctx.setProp(ctx.global, '__host', obj)
    obj.dispose()
  }

  private failure(
    ctx: QuickJSContext,
    error: QuickJSHandle,
    gas: number,
    outOfGas: boolean,
    hostFailure: { code: string; message: string } | undefined,
    loading: boolean,
  ): RunResult {
    // Read name, message and code property by property (no dump: after a stack overflow or out of
    // memory, running more code in the VM is exactly what must be avoided), disposing every handle.
    const prop = (key: string): string | undefined => {
      if (ctx.typeof(error) !== 'object') return undefined
      const h = ctx.getProp(error, key)
      try {
        return ctx.typeof(h) === 'string' ? ctx.getString(h) : undefined
      } finally {
        h.dispose()
      }
    }
    let name: string
    let message: string
    let code: string | undefined
    try {
      name = prop('name') ?? ''
      message = prop('message') ?? (ctx.typeof(error) === 'string' ? (ctx.getString(error) as string) : 'a non-error value was thrown')
      code = prop('code')
    } finally {
      error.dispose()
    }
    const contractCode = code !== undefined && /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : undefined
    const used = Math.min(gas, Number.MAX_SAFE_INTEGER)
    if (outOfGas) return { ok: false, code: 'VM_OUT_OF_GAS', message: 'the gas budget was exhausted', gasUsed: used }
    if (hostFailure !== undefined)
      return { ok: false, code: 'VM_HOST_ERROR', contractCode: hostFailure.code, message: hostFailure.message, gasUsed: used }
    if (name === 'InternalError' && message === 'out of memory')
      return { ok: false, code: 'VM_OUT_OF_MEMORY', message: 'the memory limit was exceeded', gasUsed: used }
    if (/stack overflow/i.test(message))
      return { ok: false, code: 'VM_STACK_OVERFLOW', message: 'the call stack limit was exceeded', gasUsed: used }
    if (loading) return { ok: false, code: 'VM_LOAD_ERROR', message: message.slice(0, 200), gasUsed: used }
    // A contract error: its message is the contract's own (deterministic), bounded in size.
    return {
      ok: false,
      code: 'VM_CONTRACT_ERROR',
      ...(contractCode === undefined ? {} : { contractCode }),
      message: message.slice(0, 500),
      gasUsed: used,
    }
  }
}

function fail(code: VmErrorCode, message: string, gasUsed: number): RunResult {
  return { ok: false, code, message, gasUsed }
}
