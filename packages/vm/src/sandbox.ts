import { TrellisError } from '@trellis/utils'
import {
  type QuickJSContext,
  type QuickJSHandle,
  type QuickJSRuntime,
  type QuickJSWASMModule,
  newQuickJSWASMModule,
} from 'quickjs-emscripten'

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

/**
 * What a host function returns: JSON text (or null), optionally with extra gas to charge — e.g. the
 * gas a nested contract call used.
 */
export type HostResult = string | null | { readonly result: string | null; readonly gas: number }

/** Host functions a contract may call, all synchronous, JSON in and out. */
export type HostFunctions = Readonly<Record<string, (...args: string[]) => HostResult>>

/** The running call's gas meter, for host functions that need the remaining budget. */
export interface GasMeter {
  remaining(): number
}

/** Host functions, or a factory that receives the run's gas meter. */
export type HostProvider = HostFunctions | ((meter: GasMeter) => HostFunctions)

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
  /** Set when tearing down a run failed inside the engine: the next run uses a fresh engine. */
  private broken = false
  /** A loaded engine kept ready, so that a broken one is replaced synchronously, mid-block. */
  private spare: QuickJSWASMModule | undefined
  private loadingSpare: Promise<void> | undefined

  private constructor(private qjs: QuickJSWASMModule) {}

  /** A sandbox with its own WebAssembly engine instance (and a spare). */
  static async create(): Promise<Sandbox> {
    const [main, spare] = await Promise.all([newQuickJSWASMModule(), newQuickJSWASMModule()])
    const sb = new Sandbox(main)
    sb.spare = spare
    return sb
  }

  /** Resolves once a usable engine and a spare are loaded (after an earlier run broke one). */
  async ensureReady(): Promise<void> {
    if (this.broken) this.swapInSpare()
    if (this.spare === undefined) {
      this.loadingSpare ??= newQuickJSWASMModule().then((m) => {
        this.spare = m
        this.loadingSpare = undefined
      })
      await this.loadingSpare
    }
    if (this.broken) this.swapInSpare()
  }

  private swapInSpare(): boolean {
    if (this.spare === undefined) return false
    this.qjs = this.spare
    this.spare = undefined
    this.broken = false
    return true
  }

  /** Like {@link Sandbox.runSync}, after {@link Sandbox.ensureReady}. */
  async run(code: string, entry: string, argsJson: string, host: HostProvider, limits: VmLimits = defaultVmLimits): Promise<RunResult> {
    await this.ensureReady()
    return this.runSync(code, entry, argsJson, host, limits)
  }

  /**
   * Evaluates `code` (a script whose top level defines functions) in a fresh context and calls the
   * global function `entry` with the JSON-decoded `argsJson` as its only argument. Nothing survives
   * the run: each call gets a new runtime.
   *
   * QuickJS can fail an internal assertion when freeing a runtime after some stack overflows; the
   * run's result is already decided then (and deterministic), but that engine instance is discarded
   * and the spare takes over, so a later run in the same block is unaffected.
   */
  runSync(code: string, entry: string, argsJson: string, host: HostProvider, limits: VmLimits = defaultVmLimits): RunResult {
    const instance = this.instantiate(code, limits)
    try {
      return instance.call(entry, argsJson, host, limits.gas)
    } finally {
      instance.dispose()
    }
  }

  /**
   * A contract instance: one runtime and context in which `code` is evaluated once (on the first
   * call) and then called any number of times, in order. Globals the code changes persist between
   * its calls, so callers must give every validator the same sequence of calls (one instance per
   * contract code per block, calls in tx order). After a call ends in anything but the contract's
   * own error (out of gas, memory or stack, a host failure), the instance is spent and `usable`
   * turns false.
   */
  instantiate(code: string, limits: VmLimits = defaultVmLimits): ContractInstance {
    if (this.broken && !this.swapInSpare()) throw new Error('no usable engine: await ensureReady() first')
    return new ContractInstance(this, this.qjs, code, limits)
  }

  /** @internal Called by an instance whose engine trapped or failed to free a runtime. */
  markBroken(qjs: QuickJSWASMModule): void {
    if (qjs === this.qjs) this.broken = true
  }

  /** @internal Whether `qjs` is still the engine in use. */
  isCurrent(qjs: QuickJSWASMModule): boolean {
    return qjs === this.qjs && !this.broken
  }
}

interface CallMeter {
  gas: number
  readonly limit: number
  outOfGas: boolean
  readonly host: HostFunctions
  hostFailure: { code: string; message: string } | undefined
}

// Calls the entry with the parsed arguments and returns its result as JSON text.
const BRIDGE = `(function (f, a) {
  const r = f(JSON.parse(a));
  if (r !== null && typeof r === 'object' && typeof r.then === 'function') throw new TypeError('contracts are synchronous: a promise is not a result');
  return JSON.stringify(r === undefined ? null : r);
})`

export class ContractInstance {
  private readonly runtime: QuickJSRuntime
  private readonly ctx: QuickJSContext
  private meter: CallMeter | undefined
  private loaded = false
  private spent = false
  private disposed = false
  /** Host function names installed so far (installed on first use of each name). */
  private readonly hostObject: QuickJSHandle
  private readonly installed = new Set<string>()

  constructor(
    private readonly sandbox: Sandbox,
    private readonly qjs: QuickJSWASMModule,
    private readonly code: string,
    private readonly limits: VmLimits,
  ) {
    this.runtime = qjs.newRuntime()
    this.runtime.setMemoryLimit(limits.memoryBytes)
    this.runtime.setMaxStackSize(limits.stackBytes)
    this.runtime.setInterruptHandler(() => {
      const m = this.meter
      if (m === undefined) return true
      m.gas += GAS.perInterrupt
      if (m.gas > m.limit) m.outOfGas = true
      return m.outOfGas
    })
    this.ctx = this.runtime.newContext()
    this.hostObject = this.ctx.newObject()
    this.ctx.setProp(this.ctx.global, '__host', this.hostObject)
  }

  /** False once a call has spent the instance, or its engine was replaced. */
  get usable(): boolean {
    return !this.spent && !this.disposed && this.sandbox.isCurrent(this.qjs)
  }

  /** Calls the global function `entry` with `argsJson` parsed; `gas` is this call's budget. */
  call(entry: string, argsJson: string, provider: HostProvider, gas: number): RunResult {
    if (!this.usable) throw new Error('this contract instance is spent: instantiate a new one')
    const limit = gas
    const charge = (this.loaded ? 0 : GAS.base + this.code.length * GAS.perByte) + argsJson.length * GAS.perByte
    const meter: CallMeter = {
      gas: charge,
      limit,
      outOfGas: charge > limit,
      host: {},
      hostFailure: undefined,
    }
    const host = typeof provider === 'function' ? provider({ remaining: () => Math.max(0, meter.limit - meter.gas) }) : provider
    ;(meter as { host: HostFunctions }).host = host
    this.meter = meter
    let r: RunResult
    try {
      r = this.callMetered(entry, argsJson, meter)
    } catch (err) {
      // The host's native stack overflowed inside the engine (a trap): the engine is discarded.
      this.spent = true
      this.sandbox.markBroken(this.qjs)
      if (err instanceof RangeError)
        return { ok: false, code: 'VM_STACK_OVERFLOW', message: 'the call stack limit was exceeded', gasUsed: limit }
      throw err
    } finally {
      this.meter = undefined
    }
    if (!r.ok && r.code !== 'VM_CONTRACT_ERROR') this.spent = true
    // Where a stack overflow is detected (QuickJS or the host) depends on the host's own stack depth,
    // so its gas cannot be measured identically everywhere: it costs the whole budget.
    return !r.ok && r.code === 'VM_STACK_OVERFLOW' ? { ...r, gasUsed: limit } : r
  }

  private callMetered(entry: string, argsJson: string, meter: CallMeter): RunResult {
    const ctx = this.ctx
    if (meter.outOfGas) return fail('VM_OUT_OF_GAS', 'the gas budget does not cover loading the contract', meter.limit)
    for (const name of Object.keys(meter.host)) this.installHostFunction(name)
    if (!this.loaded) {
      this.loaded = true
      const prelude = ctx.evalCode(PRELUDE, 'prelude.js')
      if (prelude.error) {
        prelude.error.dispose()
        return fail('VM_HOST_ERROR', 'sandbox prelude failed', meter.gas)
      }
      prelude.value.dispose()
      const loaded = ctx.evalCode(this.code, 'contract.js')
      if (loaded.error) return this.failure(loaded.error, meter, true)
      loaded.value.dispose()
    }
    const fn = ctx.getProp(ctx.global, entry)
    try {
      if (ctx.typeof(fn) !== 'function') return fail('VM_NO_SUCH_FUNCTION', `the contract has no function ${entry}`, meter.gas)
      const bridge = ctx.evalCode(BRIDGE, 'bridge.js')
      if (bridge.error) {
        bridge.error.dispose()
        return fail('VM_HOST_ERROR', 'bridge failed', meter.gas)
      }
      const argHandle = ctx.newString(argsJson)
      try {
        const result = ctx.callFunction(bridge.value, ctx.undefined, fn, argHandle)
        if (result.error) return this.failure(result.error, meter, false)
        const json = ctx.typeof(result.value) === 'string' ? (ctx.getString(result.value) as string) : undefined
        result.value.dispose()
        // A contract that caught an out-of-gas or host error still fails: the budget is the budget.
        if (meter.outOfGas) return fail('VM_OUT_OF_GAS', 'the gas budget was exhausted', meter.limit)
        const hf = meter.hostFailure
        if (hf !== undefined)
          return { ok: false, code: 'VM_HOST_ERROR', contractCode: hf.code, message: hf.message, gasUsed: Math.min(meter.gas, meter.limit) }
        if (json === undefined) return fail('VM_BAD_RESULT', 'the result is not JSON-serialisable', meter.gas)
        if (json.length > this.limits.resultBytes)
          return fail('VM_RESULT_TOO_LARGE', `the result is ${json.length} bytes, above ${this.limits.resultBytes}`, meter.gas)
        meter.gas += json.length * GAS.perByte
        if (meter.gas > meter.limit) return fail('VM_OUT_OF_GAS', 'the gas budget was exhausted', meter.limit)
        return { ok: true, value: JSON.parse(json), json, gasUsed: meter.gas }
      } finally {
        argHandle.dispose()
        bridge.value.dispose()
      }
    } finally {
      fn.dispose()
    }
  }

  /** Installs `__host[name]`, dispatching to the running call's host function of that name. */
  private installHostFunction(name: string): void {
    if (this.installed.has(name)) return
    this.installed.add(name)
    const ctx = this.ctx
    const fn = ctx.newFunction(name, (...handles: QuickJSHandle[]) => {
      const m = this.meter
      const impl = m?.host[name]
      if (m === undefined || impl === undefined) return { error: ctx.newError({ name: 'HostError', message: `no host function ${name}` }) }
      const addGas = (g: number): boolean => {
        m.gas += g
        if (m.gas > m.limit) m.outOfGas = true
        return m.outOfGas
      }
      const charge = (bytes: number): boolean => addGas(GAS.perHostCall + bytes * GAS.perByte)
      const args = handles.map((h) => (ctx.typeof(h) === 'string' ? (ctx.getString(h) as string) : ''))
      let bytes = 0
      for (const a of args) bytes += a.length
      if (charge(bytes)) return { error: ctx.newError({ name: 'OutOfGas', message: 'out of gas' }) }
      try {
        const r = impl(...args)
        const out = r !== null && typeof r === 'object' ? r.result : r
        if (r !== null && typeof r === 'object' && addGas(r.gas))
          return { error: ctx.newError({ name: 'OutOfGas', message: 'out of gas' }) }
        if (out !== null && charge(out.length)) return { error: ctx.newError({ name: 'OutOfGas', message: 'out of gas' }) }
        return out === null ? ctx.null : ctx.newString(out)
      } catch (err) {
        const code = err instanceof TrellisError ? err.code : 'VM_HOST_ERROR'
        const message = err instanceof Error ? err.message : String(err)
        m.hostFailure ??= { code, message }
        // The contract sees an exception it can catch, but the run fails anyway (see callMetered()).
        return { error: ctx.newError({ name: 'HostError', message: `${code}: ${message}` }) }
      }
    })
    ctx.setProp(this.hostObject, name, fn)
    fn.dispose()
  }

  private failure(error: QuickJSHandle, meter: CallMeter, loading: boolean): RunResult {
    const ctx = this.ctx
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
    const used = Math.min(meter.gas, Number.MAX_SAFE_INTEGER)
    if (meter.outOfGas) return { ok: false, code: 'VM_OUT_OF_GAS', message: 'the gas budget was exhausted', gasUsed: meter.limit }
    const hf = meter.hostFailure
    if (hf !== undefined) return { ok: false, code: 'VM_HOST_ERROR', contractCode: hf.code, message: hf.message, gasUsed: used }
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

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    try {
      this.hostObject.dispose()
      this.ctx.dispose()
      this.runtime.dispose()
    } catch {
      this.sandbox.markBroken(this.qjs)
    }
  }
}

function fail(code: VmErrorCode, message: string, gasUsed: number): RunResult {
  return { ok: false, code, message, gasUsed }
}
