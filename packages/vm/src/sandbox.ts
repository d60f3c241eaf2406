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
  /**
   * The call passed its wall-clock deadline. NOT deterministic — never a receipt: the caller drops
   * the tx from a block it is producing or refuses a proposal it cannot check in time.
   */
  | 'VM_TIMEOUT'

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
  // QuickJS's own limit must trigger before the host's native stack (each interpreted frame and each
  // level of a recursive built-in also uses native WebAssembly frames): at 128 KB, JSON.stringify of
  // deeply nested values overflowed V8's default stack first (engine discarded, at a depth that
  // depends on the host); at 64 KB QuickJS catches all the deep patterns measured, with a 2× margin.
  // The node processes run with a larger V8 stack too (--stack-size, see the CLI launcher).
  stackBytes: 64 * 1024,
  resultBytes: 64 * 1024,
}

/** Gas schedule. An interrupt check happens every ~10k interpreter steps. */
export const GAS = {
  perInterrupt: 10_000,
  perHostCall: 1_000,
  perByte: 10,
  /** Every call: entering the sandbox. */
  base: 5_000,
  /** Every call, per byte of the contract's code (loading it, amortised). */
  perCodeByte: 1,
  /** Per 8 elements or characters (64 bytes of binary data) a built-in works on (see the prelude). */
  perWorkUnit: 16,
} as const

/**
 * What one instance keeps at most (see {@link ContractInstance.keep}): values, characters of their
 * JSON text in all, and characters of one value's (a larger one is written out in full each time).
 */
export const KEPT_LIMITS = { values: 4096, chars: 1024 * 1024, valueChars: 16 * 1024 } as const

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

/**
 * A call of a contract library's entry (\`{ kind, method, args, argsChecked, env }\`), in parts:
 * {@link ContractInstance.callEntry} sends it without a JSON request when env's values are kept.
 */
export interface EntryCall {
  readonly kind: string
  readonly method: string
  /** The arguments' JSON text; undefined leaves \`args\` out of the request. */
  readonly args: string | undefined
  readonly argsChecked: boolean
  /** JSON texts of env's values. */
  readonly contract: string
  readonly caller: string
  readonly origin: string
  readonly block: string
  readonly txId: string | null
}

/** The request \`c\` stands for, as JSON text; \`share\` gives what to write for each of env's values. */
export function entryRequestText(c: EntryCall, share: (json: string) => string): string {
  return (
    '{"kind":' +
    JSON.stringify(c.kind) +
    ',"method":' +
    JSON.stringify(c.method) +
    (c.args === undefined ? '' : ',"args":' + c.args) +
    (c.argsChecked ? ',"argsChecked":true' : '') +
    ',"env":{"contract":' +
    share(c.contract) +
    ',"caller":' +
    share(c.caller) +
    ',"origin":' +
    share(c.origin) +
    ',"tx":' +
    (c.txId === null ? 'null' : '{"id":' + JSON.stringify(c.txId) + '}') +
    ',"block":' +
    share(c.block) +
    '}}'
  )
}

/** A request in parts, as the bridge takes it (see the prelude). */
interface PartsRequest {
  readonly args: string | undefined
  readonly kind: string
  readonly method: string
  readonly r1: number
  readonly r2: number
  readonly txId: string | null
}

/** Host errors carry their own code and are reported as they are (the host is deterministic code). */
export class HostError extends TrellisError<{ code: string }> {
  /** Gas the failed host operation used (e.g. a failed nested call's), charged to the caller. */
  readonly gas: number

  constructor(code: string, message: string, gas = 0) {
    super({ code }, message)
    this.gas = gas
  }
}

// Evaluated in every fresh context before the contract: removes what is not deterministic and makes
// the intrinsics contract code shares with the host bridge immutable.
const PRELUDE = `
'use strict';
(function () {
  const g = globalThis;
  const host = g.__host;
  const meter = host.__meter;
  delete host.__meter;
  delete g.Date;
  Math.random = function random() { throw new Error('Math.random is not available: contracts must be deterministic'); };
  for (const name of ['setTimeout', 'setInterval', 'clearTimeout', 'clearInterval', 'queueMicrotask', 'WeakRef', 'FinalizationRegistry', 'Atomics', 'SharedArrayBuffer']) delete g[name];

  // No code from strings: compiling is unmetered work, and a contract has no use for it.
  const FunctionProto = Function.prototype;
  const SafeFunction = function Function() { throw new EvalError('code generation from strings is disabled in contracts'); };
  SafeFunction.prototype = FunctionProto;
  Object.defineProperty(FunctionProto, 'constructor', { value: SafeFunction });
  g.Function = SafeFunction;
  delete g.eval;
  for (const f of [function* () {}, async function () {}, async function* () {}]) {
    Object.defineProperty(Object.getPrototypeOf(f), 'constructor', { value: SafeFunction });
  }

  // Metering of built-ins: the interpreter's interrupt counts steps, and one call of a built-in is
  // one step however much it does (JSON.stringify of a large object, indexOf over a large array,
  // spreading one). Every built-in method is wrapped to charge gas in proportion to the sizes it
  // works on: before the call (receiver and arguments) and after (the result). Charges are batched
  // into one host call per 4,096 units; once the budget is spent, no built-in runs again.
  const apply = Reflect.apply;
  // The bridge's own parsing and serialising, charged explicitly (see bridge below).
  const rawParse = JSON.parse;
  const rawStringify = JSON.stringify;
  const rawSplit = String.prototype.split;
  const freeze = Object.freeze;
  const getOwnPropertyNames = Object.getOwnPropertyNames;
  const getOwnPropertyDescriptor = Object.getOwnPropertyDescriptor;
  const defineProperty = Object.defineProperty;
  const objectKeys = Object.keys;
  const isArray = Array.isArray;
  const clz32 = Math.clz32;
  let pending = 0;
  let spent = false;
  const flush = function () {
    const p = pending;
    pending = 0;
    try { meter(String(p)); } catch (e) { spent = true; throw e; }
  };
  const work = function (n) {
    if (spent) throw new RangeError('out of gas');
    pending += n;
    if (pending >= 4096) flush();
  };
  const isView = ArrayBuffer.isView;
  const ArrayBufferProto = ArrayBuffer.prototype;
  const getPrototypeOf = Object.getPrototypeOf;
  const bufferLength = getOwnPropertyDescriptor(ArrayBufferProto, 'byteLength').get;
  const size = function (v) {
    if (typeof v === 'string') return v.length;
    if (v === null || typeof v !== 'object') return 0;
    if (isArray(v)) return v.length;
    // Bulk bytes are copied and filled at memory speed: one unit per 64 bytes.
    if (isView(v)) return v.byteLength >> 6;
    if (getPrototypeOf(v) === ArrayBufferProto) return apply(bufferLength, v, []) >> 6;
    return 0;
  };
  const wrap = function (obj, key, kind) {
    const d = getOwnPropertyDescriptor(obj, key);
    if (d === undefined || typeof d.value !== 'function' || key === 'constructor') return;
    const f = d.value;
    // Functions that ignore \`this\` and take at most three arguments (an absent one and an
    // undefined one mean the same to them) skip the arguments object and Reflect.apply: the same
    // charge (up to three arguments), a third of the overhead. Strings and primitives are sized
    // inline, and the charge before the call is made in place: in QuickJS a function call costs as
    // much as the rest of a wrapper.
    const w = kind === 'static' ? function (a, b, c) {
      if (spent) throw new RangeError('out of gas');
      let n = 1 + (typeof a === 'string' ? a.length : typeof a === 'object' && a !== null ? size(a) : 0);
      if (b !== undefined) n += size(b);
      if (c !== undefined) n += size(c);
      pending += (n >> 3) + 1;
      if (pending >= 4096) flush();
      const r = f(a, b, c);
      const rn = typeof r === 'string' ? r.length : typeof r === 'object' && r !== null ? size(r) : 0;
      if (rn > 0) work(rn >> 3);
      return r;
    } : function () {
      if (spent) throw new RangeError('out of gas');
      const t = this;
      let n = 1 + (typeof t === 'string' ? t.length : typeof t === 'object' && t !== null ? size(t) : 0);
      for (let i = 0; i < arguments.length; i++) {
        const a = arguments[i];
        n += typeof a === 'string' ? a.length : typeof a === 'object' && a !== null ? size(a) : 0;
      }
      if (kind === 'sort') n = n * (33 - clz32(n));
      if (kind === 'keys') for (let i = 1; i < arguments.length; i++) { const a = arguments[i]; if (a !== null && typeof a === 'object') n += objectKeys(a).length; }
      pending += (n >> 3) + 1;
      if (pending >= 4096) flush();
      const r = apply(f, t, arguments);
      const rn = typeof r === 'string' ? r.length : typeof r === 'object' && r !== null ? size(r) : 0;
      if (rn > 0) work(rn >> 3);
      return r;
    };
    defineProperty(obj, key, { value: w, writable: d.writable, enumerable: d.enumerable, configurable: d.configurable });
  };
  const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype);
  const TypedArray = Object.getPrototypeOf(Uint8Array);
  const targets = [String.prototype, Array.prototype, TypedArrayProto, ArrayBuffer.prototype, RegExp.prototype, Map.prototype, Set.prototype,
    FunctionProto, JSON, Object, Array, String, Reflect, TypedArray];
  // Constant-time methods stay unwrapped (wrapping costs every call): they do one step's work.
  const constantTime = ['isArray', 'getPrototypeOf', 'setPrototypeOf', 'defineProperty', 'getOwnPropertyDescriptor', 'create', 'is',
    'preventExtensions', 'isExtensible', 'isFrozen', 'isSealed', 'call', 'bind', 'push', 'pop', 'at', 'charAt', 'charCodeAt',
    'codePointAt', 'valueOf', 'get', 'set', 'has', 'add', 'delete', 'size'];
  const isConstantTime = function (t, key) {
    if (key === 'get' || key === 'set' || key === 'has' || key === 'add' || key === 'delete') return t === Map.prototype || t === Set.prototype || t === Reflect;
    for (let i = 0; i < constantTime.length; i++) if (constantTime[i] === key) return true;
    return false;
  };
  const isStatic = function (t, key) {
    return (t === JSON && (key === 'parse' || key === 'stringify')) || (t === Object && (key === 'keys' || key === 'values' || key === 'entries'));
  };
  for (const t of targets) {
    for (const key of getOwnPropertyNames(t)) {
      if (isConstantTime(t, key)) continue;
      wrap(t, key, key === 'sort' || key === 'toSorted' ? 'sort' : t === Object && key === 'assign' ? 'keys' : isStatic(t, key) ? 'static' : '');
    }
  }
  for (const t of [Array.prototype, String.prototype, TypedArrayProto]) wrap(t, Symbol.iterator, '');
  for (const sym of [Symbol.replace, Symbol.split, Symbol.match, Symbol.matchAll, Symbol.search]) wrap(RegExp.prototype, sym, '');

  // Binary buffers live outside QuickJS's memory accounting (they would grow the WebAssembly heap up
  // to its own limit, at a point that depends on the heap's history): an instance may allocate at
  // most MAX_BINARY bytes of them over all its calls (a reused instance can keep buffers in module
  // state), counted before allocating, deterministically.
  const MAX_BINARY = ${16 * 1024 * 1024};
  let binary = 0;
  const reserve = function (bytes) {
    if (!(bytes >= 0)) return;
    if (binary + bytes > MAX_BINARY) throw new RangeError('out of memory: a contract instance may allocate at most ' + MAX_BINARY + ' bytes of binary buffers');
    binary += bytes;
    work(bytes >> 9);
  };
  const requested = function (args, perElement) {
    const a = args[0];
    if (typeof a === 'number') return a * perElement;
    if (typeof a === 'object' && a !== null) {
      if (isArray(a)) return a.length * perElement;
      if (isView(a)) return a.length * perElement;
      if (getPrototypeOf(a) === ArrayBufferProto) return 0;
      const n = a.length;
      return typeof n === 'number' ? n * perElement : 0;
    }
    return 0;
  };
  const construct = Reflect.construct;
  const guard = function (Orig, perElement) {
    const Guarded = function () {
      if (new.target === undefined) throw new TypeError('Constructor ' + Orig.name + ' requires new');
      reserve(requested(arguments, perElement));
      return construct(Orig, arguments, new.target === Guarded ? Orig : new.target);
    };
    defineProperty(Guarded, 'name', { value: Orig.name });
    Guarded.prototype = Orig.prototype;
    defineProperty(Orig.prototype, 'constructor', { value: Guarded, writable: true, configurable: true });
    for (const key of getOwnPropertyNames(Orig)) if (key !== 'prototype' && key !== 'name' && key !== 'length') defineProperty(Guarded, key, getOwnPropertyDescriptor(Orig, key));
    g[Orig.name] = Guarded;
    return Guarded;
  };
  const guarded = [guard(ArrayBuffer, 1), guard(DataView, 0)];
  for (const T of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array]) {
    guarded.push(guard(T, T.BYTES_PER_ELEMENT));
  }
  // Methods that return a new buffer as large as the receiver.
  for (const [proto, keys] of [[TypedArrayProto, ['slice', 'map', 'filter', 'toReversed', 'toSorted', 'with']], [ArrayBufferProto, ['slice']]]) {
    for (const key of keys) {
      const d = getOwnPropertyDescriptor(proto, key);
      if (d === undefined) continue;
      const f = d.value;
      defineProperty(proto, key, { value: function () { reserve(isView(this) ? this.byteLength : 0); return apply(f, this, arguments); }, writable: d.writable, configurable: d.configurable });
    }
  }

  // What the contract library does on every state access, done here with the unwrapped built-ins and
  // charged as the wrapped ones charge (a wrapper costs a contract as much as the built-in it meters):
  // \`key\` joins composite-key parts with U+0000 (null when a part is not a non-empty string or holds
  // U+0000); \`stringify\` and \`parse\` are JSON.stringify and JSON.parse of one argument. Any
  // contract may call them: they do nothing the built-ins would not, for the same gas.
  const splitBy = FunctionProto.call.bind(rawSplit);
  const lib = {
    key: function key(parts) {
      if (spent) throw new RangeError('out of gas');
      const n = parts.length;
      let key = '';
      for (let i = 0; i < n; i++) {
        const p = parts[i];
        if (typeof p !== 'string' || p.length === 0) return null;
        key = i === 0 ? p : key + '\\u0000' + p;
      }
      // One split of the joined key, charged as String.prototype.split is: receiver, separator, result.
      pending += ((2 + key.length) >> 3) + 1;
      if (pending >= 4096) flush();
      const pieces = splitBy(key, '\\u0000');
      work(pieces.length >> 3);
      return pieces.length === n ? key : null;
    },
    stringify: function stringify(v) {
      if (spent) throw new RangeError('out of gas');
      pending += ((1 + (typeof v === 'string' ? v.length : typeof v === 'object' && v !== null ? size(v) : 0)) >> 3) + 1;
      if (pending >= 4096) flush();
      const r = rawStringify(v);
      if (typeof r === 'string' && r.length >= 8) work(r.length >> 3);
      return r;
    },
    parse: function parse(text) {
      if (spent) throw new RangeError('out of gas');
      // Text only: what an object converts to is not sized before the call.
      if (typeof text !== 'string') throw new TypeError('__trellis.parse takes a string');
      pending += ((1 + text.length) >> 3) + 1;
      if (pending >= 4096) flush();
      const r = rawParse(text);
      const rn = typeof r === 'string' ? r.length : typeof r === 'object' && r !== null ? size(r) : 0;
      if (rn > 0) work(rn >> 3);
      return r;
    },
  };
  freeze(lib.key); freeze(lib.stringify); freeze(lib.parse);
  defineProperty(g, '__trellis', { value: freeze(lib), writable: false, enumerable: false, configurable: false });

  // The intrinsic globals cannot be replaced (a contract adds globals of its own, nothing more).
  for (const name of getOwnPropertyNames(g)) {
    const d = getOwnPropertyDescriptor(g, name);
    if (d !== undefined && d.configurable) defineProperty(g, name, { value: g[name], writable: false, enumerable: d.enumerable, configurable: false });
  }
  Object.freeze(host);
  for (const c of [Object, Array, Function, SafeFunction, String, Number, Boolean, Symbol, Error, TypeError, RangeError, EvalError, JSON, Math, Map, Set, Promise, RegExp, BigInt, Reflect, ArrayBuffer, TypedArray, TypedArrayProto, ...guarded]) {
    Object.freeze(c);
    if (c.prototype) Object.freeze(c.prototype);
  }

  // Values the host sent once for this instance's later calls (a caller's identity, the block),
  // deep-frozen since every call that names one shares it.
  const kept = [];
  const deepFreeze = function (v) {
    if (v !== null && typeof v === 'object') {
      freeze(v);
      for (const k in v) deepFreeze(v[k]);
    }
    return v;
  };

  // The bridge (returned to the host, unreachable from contract code): calls the entry with the
  // request and settles the pending built-in work. \`d\`, when a string, is the JSON array
  // [id, value, id, value, …] of values to keep. The request comes in one of two forms:
  // - as JSON text \`a\`, in which a number in \`env\` names a kept value;
  // - in parts (see ContractInstance.callEntry), when \`kind\` is a string: \`a\` is the arguments'
  //   JSON text (or undefined), \`r1\` and \`r2\` pack the kept values of env (12 bits each) and
  //   argsChecked, \`tx\` is the tx id (or undefined). The same request object either way, built
  //   without parsing env and the tx id as JSON.
  // Parsing and serialising are charged as the wrapped built-ins would charge them.
  return function bridge(f, a, d, kind, method, r1, r2, tx) {
    if (typeof d === 'string') {
      const defs = rawParse(d);
      for (let i = 0; i + 1 < defs.length; i += 2) kept[defs[i]] = deepFreeze(defs[i + 1]);
      work(((1 + d.length) >> 3) + 1);
    }
    let req;
    if (typeof kind === 'string') {
      work(((1 + (a === undefined ? 0 : a.length)) >> 3) + 1);
      const env = { contract: kept[r1 & 4095], caller: kept[r1 >>> 12], origin: kept[r2 & 4095], tx: tx === undefined ? null : { id: tx }, block: kept[(r2 >>> 12) & 4095] };
      // The keys the JSON form has, in its order: args and argsChecked only when given.
      if ((r2 >>> 24) === 1) req = a === undefined ? { kind: kind, method: method, argsChecked: true, env: env } : { kind: kind, method: method, args: rawParse(a), argsChecked: true, env: env };
      else req = a === undefined ? { kind: kind, method: method, env: env } : { kind: kind, method: method, args: rawParse(a), env: env };
    } else {
      work(((1 + a.length) >> 3) + 1);
      req = rawParse(a);
      const env = req === null || typeof req !== 'object' ? undefined : req.env;
      if (env !== null && typeof env === 'object') {
        for (const k in env) {
          const v = env[k];
          if (typeof v === 'number') env[k] = kept[v];
        }
      }
    }
    const r = f(req);
    if (r !== null && typeof r === 'object' && typeof r.then === 'function') throw new TypeError('contracts are synchronous: a promise is not a result');
    const v = r === undefined ? null : r;
    work(((1 + size(v)) >> 3) + 1);
    const json = rawStringify(v);
    if (typeof json === 'string' && json.length >= 8) work(json.length >> 3);
    if (pending > 0) flush();
    return json;
  };
})();
`

export class Sandbox {
  /** Set when tearing down a run failed inside the engine: the next run uses a fresh engine. */
  private broken = false
  /** A loaded engine kept ready, so that a broken one is replaced synchronously, mid-block. */
  private spare: QuickJSWASMModule | undefined
  private loadingSpare: Promise<void> | undefined

  private constructor(
    private qjs: QuickJSWASMModule,
    /** @internal Whether instances route host calls through the fast path (when the engine allows it). */
    readonly fastHostCalls: boolean,
  ) {}

  /**
   * A sandbox with its own WebAssembly engine instance (and a spare). `fastHostCalls: false` keeps
   * every host call on quickjs-emscripten's public path: same results and gas, slower (for tests).
   */
  static async create(options: { readonly fastHostCalls?: boolean } = {}): Promise<Sandbox> {
    const [main, spare] = await Promise.all([newQuickJSWASMModule(), newQuickJSWASMModule()])
    const sb = new Sandbox(main, options.fastHostCalls ?? true)
    sb.spare = spare
    return sb
  }

  /** True when a run can start now without {@link ensureReady}'s reload. */
  get ready(): boolean {
    return !this.broken && this.spare !== undefined
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
  runSync(
    code: string,
    entry: string,
    argsJson: string,
    host: HostProvider,
    limits: VmLimits = defaultVmLimits,
    deadline?: number,
  ): RunResult {
    const instance = this.instantiate(code, limits)
    try {
      return instance.call(entry, argsJson, host, limits.gas, deadline)
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
  /** Wall-clock deadline (performance.now() ms), checked at every interrupt and built-in charge. */
  readonly deadline: number | undefined
  timedOut: boolean
  readonly host: HostFunctions
  hostFailure: { code: string; message: string } | undefined
}

export class ContractInstance {
  private readonly runtime: QuickJSRuntime
  private readonly ctx: QuickJSContext
  private meter: CallMeter | undefined
  private loaded = false
  /** The prelude's bridge function (set once the prelude ran). */
  private bridge: QuickJSHandle | undefined
  private spent = false
  private disposed = false
  /** The host-call fast path, when the engine build supports it. */
  private readonly fast: FastHostCalls | undefined
  /** What made the host bridge fail during the running call (see installFastHostCalls). */
  private trap: { readonly err: unknown } | undefined
  /** Engine strings of entry function names, kept for the instance's life. */
  private readonly entryKeys = new Map<string, QuickJSHandle>()
  /** Host function names installed so far (installed on first use of each name). */
  private readonly hostObject: QuickJSHandle
  private readonly installed = new Set<string>()
  /** What {@link keep} answered for each value text so far (its number, as text). */
  private readonly keptIds = new Map<string, string>()
  /** `id,json` of kept values not yet sent to the engine (they go with the next call). */
  private unsentKept: string[] = []
  private keptChars = 0

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
      if (m.deadline !== undefined && performance.now() > m.deadline) m.timedOut = true
      return m.outOfGas || m.timedOut
    })
    this.ctx = this.runtime.newContext()
    this.fast = sandbox.fastHostCalls
      ? installFastHostCalls(this.ctx, (err) => {
          this.trap ??= { err }
        })
      : undefined
    this.hostObject = this.ctx.newObject()
    this.ctx.setProp(this.ctx.global, '__host', this.hostObject)
    // The prelude's meter for built-ins: charges work units, fails once the budget is spent.
    this.defineHostFunction('__meter', (args) => {
      const m = this.meter
      if (m === undefined) return OUT_OF_GAS
      const n = Number(args[0] ?? '')
      m.gas += (Number.isFinite(n) && n > 0 ? n : 0) * GAS.perWorkUnit
      if (m.gas > m.limit) m.outOfGas = true
      if (m.deadline !== undefined && performance.now() > m.deadline) m.timedOut = true
      return m.outOfGas || m.timedOut ? OUT_OF_GAS : undefined
    })
  }

  /**
   * Defines `__host[name]`. `impl` receives the arguments as strings (any other value as '') and
   * answers a string, null, undefined or an error to throw in the contract. With the fast path
   * (see {@link installFastHostCalls}) the call skips quickjs-emscripten's handle machinery.
   */
  private defineHostFunction(name: string, impl: HostDispatch): void {
    const ctx = this.ctx
    const slow = (...handles: QuickJSHandle[]) => {
      let r: HostAnswer
      try {
        r = impl(handles.map((h) => (ctx.typeof(h) === 'string' ? (ctx.getString(h) as string) : '')))
        if (r === undefined) return ctx.undefined
        if (r === null) return ctx.null
        if (typeof r === 'string') return ctx.newString(r)
      } catch (err) {
        // As on the fast path: a failing bridge ends the run as an engine trap.
        this.trap ??= { err }
        r = { name: 'InternalError', message: 'host failure' }
      }
      return { error: ctx.newError(r) }
    }
    const fn = ctx.newFunction(name, slow)
    this.fast?.handlers.set(slow, impl)
    ctx.setProp(this.hostObject, name, fn)
    fn.dispose()
  }

  /** Whether host calls take the fast path (see {@link installFastHostCalls}). */
  get fastHostCalls(): boolean {
    return this.fast !== undefined
  }

  /** @internal Host calls the fast path has dispatched. */
  get fastHostCallCount(): number {
    return this.fast?.dispatched ?? 0
  }

  /** False once a call has spent the instance, or its engine was replaced. */
  get usable(): boolean {
    return !this.spent && !this.disposed && this.sandbox.isCurrent(this.qjs)
  }

  /**
   * What to write in a call request's `env` for the JSON value `json` (a caller's identity, the
   * block): a number naming the value, which this instance parses once (it goes with the next call)
   * and keeps, deep-frozen, for every later call that names it; or `json` itself when the value or
   * the instance is past {@link KEPT_LIMITS}. Identical on every validator, given the same calls.
   */
  keep(json: string): string {
    let id = this.keptIds.get(json)
    if (id === undefined) {
      const size = json.length
      if (size > KEPT_LIMITS.valueChars || this.keptIds.size >= KEPT_LIMITS.values || this.keptChars + size > KEPT_LIMITS.chars) return json
      id = String(this.keptIds.size)
      this.keptIds.set(json, id)
      this.keptChars += size
      this.unsentKept.push(id + ',' + json)
    }
    return id
  }

  /**
   * Calls the global function `entry` with `argsJson` parsed; `gas` is this call's budget. With a
   * `deadline` (performance.now() ms) a call still running then ends with VM_TIMEOUT — a safety net
   * for work the meter prices badly, never a deterministic outcome.
   */
  call(entry: string, argsJson: string, provider: HostProvider, gas: number, deadline?: number): RunResult {
    return this.run(entry, argsJson, argsJson.length, provider, gas, deadline)
  }

  /**
   * Like {@link call} with the request {@link entryRequestText} gives for \`c\` (env's values kept).
   * When all four are kept, the request goes to the engine in parts, built there without parsing
   * env and the tx id; it is charged by the bytes of its parts.
   */
  callEntry(entry: string, c: EntryCall, provider: HostProvider, gas: number, deadline?: number): RunResult {
    const contract = this.keptRef(c.contract)
    const caller = this.keptRef(c.caller)
    const origin = this.keptRef(c.origin)
    const block = this.keptRef(c.block)
    if (contract < 0 || caller < 0 || origin < 0 || block < 0) {
      const text = entryRequestText(c, (json) => this.keep(json))
      return this.run(entry, text, text.length, provider, gas, deadline)
    }
    const parts: PartsRequest = {
      args: c.args,
      kind: c.kind,
      method: c.method,
      r1: contract | (caller << 12),
      r2: origin | (block << 12) | (c.argsChecked ? 1 << 24 : 0),
      txId: c.txId,
    }
    const bytes = PARTS_REQUEST_BYTES + (c.args?.length ?? 0) + c.kind.length + c.method.length + (c.txId?.length ?? 0)
    return this.run(entry, parts, bytes, provider, gas, deadline)
  }

  /** The number {@link keep} answers for \`json\`, or -1 when it answers the value itself. */
  private keptRef(json: string): number {
    const id = this.keep(json)
    // Twelve bits per value in a request in parts (KEPT_LIMITS.values is 4,096).
    const n = id === json ? -1 : Number(id)
    return n <= 4095 ? n : -1
  }

  private run(
    entry: string,
    request: string | PartsRequest,
    requestBytes: number,
    provider: HostProvider,
    gas: number,
    deadline: number | undefined,
  ): RunResult {
    if (!this.usable) throw new Error('this contract instance is spent: instantiate a new one')
    const limit = gas
    const kept = this.unsentKept.length === 0 ? undefined : '[' + this.unsentKept.join(',') + ']'
    // The same charge whether or not this instance already evaluated the code. A call's gas does
    // depend on the calls this instance ran before it (the first call also runs the code's top
    // level; module state such as the library's caches carries over; kept values are sent and
    // charged once), which is why every validator gives each instance the same calls in the same
    // order (see instantiate()).
    const charge = GAS.base + this.code.length * GAS.perCodeByte + (requestBytes + (kept?.length ?? 0)) * GAS.perByte
    const meter: CallMeter = {
      gas: charge,
      limit,
      outOfGas: charge > limit,
      deadline,
      timedOut: false,
      host: {},
      hostFailure: undefined,
    }
    const host = typeof provider === 'function' ? provider({ remaining: () => Math.max(0, meter.limit - meter.gas) }) : provider
    ;(meter as { host: HostFunctions }).host = host
    this.meter = meter
    this.trap = undefined
    let r: RunResult
    try {
      r = this.callMetered(entry, request, kept, meter)
      // The host bridge failed mid-call: the same trap as an exception out of the engine.
      const trap = this.trap as { readonly err: unknown } | undefined
      if (trap !== undefined) throw trap.err
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
    // After running out of gas, memory or stack the engine may be mid-way through anything: the
    // instance is not used again. A contract's own exception (or a host error it saw) leaves it sound.
    if (meter.timedOut) {
      this.spent = true
      return { ok: false, code: 'VM_TIMEOUT', message: 'the call passed its time limit', gasUsed: meter.gas }
    }
    if (!r.ok && r.code !== 'VM_CONTRACT_ERROR' && r.code !== 'VM_HOST_ERROR') this.spent = true
    // A run cut short to fetch state is run again from scratch: on a fresh instance, so that what the
    // aborted attempt did to module state cannot steer the retry.
    if (!r.ok && r.code === 'VM_HOST_ERROR' && r.contractCode === 'VM_NEED_DATA') this.spent = true
    // Where a stack overflow is detected (QuickJS or the host) depends on the host's own stack depth,
    // so its gas cannot be measured identically everywhere: it costs the whole budget.
    return !r.ok && r.code === 'VM_STACK_OVERFLOW' ? { ...r, gasUsed: limit } : r
  }

  private callMetered(entry: string, request: string | PartsRequest, kept: string | undefined, meter: CallMeter): RunResult {
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
      this.bridge = prelude.value
      const loaded = ctx.evalCode(this.code, 'contract.js')
      if (loaded.error) return this.failure(loaded.error, meter, true)
      loaded.value.dispose()
    }
    let key = this.entryKeys.get(entry)
    if (key === undefined) {
      key = ctx.newString(entry)
      this.entryKeys.set(entry, key)
    }
    const fn = ctx.getProp(ctx.global, key)
    try {
      if (ctx.typeof(fn) !== 'function') return fail('VM_NO_SUCH_FUNCTION', `the contract has no function ${entry}`, meter.gas)
      const bridge = this.bridge
      if (bridge === undefined) return fail('VM_HOST_ERROR', 'sandbox prelude failed', meter.gas)
      // The bridge keeps the values first thing: from here on they count as sent.
      if (kept !== undefined) this.unsentKept = []
      const fast = this.fast
      if (fast !== undefined) {
        const out = fast.callBridge(bridge.value, fn.value, request, kept)
        if ('error' in out) return this.failure(out.error, meter, false)
        return this.finish(out.json, meter)
      }
      const parts = typeof request === 'string' ? undefined : request
      const text = typeof request === 'string' ? request : request.args
      const argHandle = text === undefined ? ctx.undefined : ctx.newString(text)
      let keptHandle: QuickJSHandle = ctx.undefined
      const partHandles: QuickJSHandle[] = []
      try {
        if (kept !== undefined) keptHandle = ctx.newString(kept)
        if (parts !== undefined) {
          partHandles.push(ctx.newString(parts.kind), ctx.newString(parts.method), ctx.newNumber(parts.r1), ctx.newNumber(parts.r2))
          partHandles.push(parts.txId === null ? ctx.undefined : ctx.newString(parts.txId))
        }
        const result = ctx.callFunction(bridge, ctx.undefined, fn, argHandle, keptHandle, ...partHandles)
        if (result.error) return this.failure(result.error, meter, false)
        const json = ctx.typeof(result.value) === 'string' ? (ctx.getString(result.value) as string) : undefined
        result.value.dispose()
        return this.finish(json, meter)
      } finally {
        argHandle.dispose()
        keptHandle.dispose()
        for (const h of partHandles) h.dispose()
      }
    } finally {
      fn.dispose()
    }
  }

  /** The outcome of a call that returned (`json` is undefined when the bridge returned no string). */
  private finish(json: string | undefined, meter: CallMeter): RunResult {
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
    // \`value\` is parsed when read: the executor keeps only the JSON text.
    const gasUsed = meter.gas
    return {
      ok: true,
      json,
      gasUsed,
      get value(): unknown {
        return JSON.parse(json) as unknown
      },
    }
  }

  /** Installs `__host[name]`, dispatching to the running call's host function of that name. */
  private installHostFunction(name: string): void {
    if (this.installed.has(name)) return
    this.installed.add(name)
    this.defineHostFunction(name, (args) => {
      const m = this.meter
      const impl = m?.host[name]
      if (m === undefined || impl === undefined) return { name: 'HostError', message: `no host function ${name}` }
      const addGas = (g: number): boolean => {
        m.gas += g
        if (m.gas > m.limit) m.outOfGas = true
        return m.outOfGas
      }
      const charge = (bytes: number): boolean => addGas(GAS.perHostCall + bytes * GAS.perByte)
      let bytes = 0
      for (const a of args) bytes += a.length
      if (charge(bytes)) return OUT_OF_GAS
      try {
        const r = impl(...args)
        const out = r !== null && typeof r === 'object' ? r.result : r
        if (r !== null && typeof r === 'object' && addGas(r.gas)) return OUT_OF_GAS
        if (out !== null && charge(out.length)) return OUT_OF_GAS
        return out
      } catch (err) {
        if (err instanceof HostError && err.gas > 0) addGas(err.gas)
        // Only Trellis errors carry deterministic messages (V8's wording changes between versions).
        const code = err instanceof TrellisError ? err.code : 'VM_HOST_ERROR'
        const message = err instanceof TrellisError ? err.message : 'the host function failed'
        m.hostFailure ??= { code, message }
        // The contract sees an exception it can catch, but the run fails anyway (see callMetered()).
        return { name: 'HostError', message: `${code}: ${message}` }
      }
    })
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
    if ((name === 'InternalError' && message === 'out of memory') || (name === 'RangeError' && message.startsWith('out of memory: ')))
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
      this.fast?.dispose()
      this.bridge?.dispose()
      for (const key of this.entryKeys.values()) key.dispose()
      this.hostObject.dispose()
      this.ctx.dispose()
      this.runtime.dispose()
    } catch {
      this.sandbox.markBroken(this.qjs)
    }
  }
}

/** What a host function answers the contract: a value, or an error thrown in the contract. */
type HostAnswer = string | null | undefined | { readonly name: string; readonly message: string }
type HostDispatch = (args: readonly string[]) => HostAnswer

const OUT_OF_GAS = { name: 'OutOfGas', message: 'out of gas' } as const

/** Engine strings of request kinds and method names an instance keeps (see installFastHostCalls). */
const NAMES_KEPT = 256
/** The longest name kept (longer ones, which a nested call may pass, are made for their call only). */
const NAME_KEPT_CHARS = 64

/**
 * The bytes a request in parts is charged for besides its parts' own: what the JSON form's fixed
 * text (keys, punctuation, kept numbers) comes to, about.
 */
const PARTS_REQUEST_BYTES = 100

/**
 * The parts of quickjs-emscripten (0.32) that the fast path uses below its public API. Its context
 * routes every call of a host function through `cToHostCallbacks.callFunction`, which wraps the
 * call in a generator-driven scope and a handle per argument: about 15 µs a crossing, as much as
 * the contract's own work in a state read. The fast path reads and writes the values with the FFI
 * calls those handles would make, and nothing else.
 */
interface EngineInternals {
  readonly ffi: {
    QTS_ArgvGetJSValueConstPointer(argv: number, index: number): number
    QTS_Typeof(ctx: number, value: number): number
    QTS_GetString(ctx: number, value: number): number
    QTS_FreeCString(ctx: number, str: number): void
    QTS_NewString(ctx: number, str: number): number
    QTS_DupValuePointer(ctx: number, value: number): number
    QTS_GetNull(): number
    QTS_GetUndefined(): number
    QTS_NewFloat64(ctx: number, value: number): number
    QTS_Throw(ctx: number, error: number): number
    QTS_Call(ctx: number, fn: number, thisValue: number, argc: number, argv: number): number
    QTS_ResolveException(ctx: number, maybeException: number): number
    QTS_FreeValuePointer(ctx: number, value: number): void
  }
  readonly module: {
    readonly HEAPU8: Uint8Array
    UTF8ToString(ptr: number): string
    lengthBytesUTF8(s: string): number
    stringToUTF8(s: string, ptr: number, maxBytes: number): void
    _malloc(bytes: number): number
    _free(ptr: number): void
  }
  readonly ctx: { readonly value: number }
  readonly memory: { heapValueHandle(ptr: number): QuickJSHandle }
  getFunction(id: number): unknown
  readonly cToHostCallbacks: { callFunction: (ctx: number, thisPtr: number, argc: number, argv: number, fnId: number) => number }
}

interface FastHostCalls {
  /** Host functions (as given to `newFunction`) that the fast path dispatches, with their logic. */
  readonly handlers: Map<unknown, HostDispatch>
  /** Calls dispatched so far (tests check that the path is taken, not only installed). */
  dispatched: number
  /**
   * Calls the prelude's bridge (\`bridge(fn, request, kept)\`, or with a request in parts
   * \`bridge(fn, args, kept, kind, method, r1, r2, txId)\`; \`this\` undefined) given their value
   * pointers: the returned string, undefined when it returned anything else, or the thrown value.
   */
  callBridge(
    bridge: number,
    fn: number,
    request: string | PartsRequest,
    kept: string | undefined,
  ): { readonly json: string | undefined } | { readonly error: QuickJSHandle }
  /** Frees what the fast path allocated in the engine heap. */
  dispose(): void
}

const ENGINE_FUNCTIONS = [
  'QTS_ArgvGetJSValueConstPointer',
  'QTS_Typeof',
  'QTS_GetString',
  'QTS_FreeCString',
  'QTS_NewString',
  'QTS_DupValuePointer',
  'QTS_GetNull',
  'QTS_GetUndefined',
  'QTS_NewFloat64',
  'QTS_Throw',
  'QTS_Call',
  'QTS_ResolveException',
  'QTS_FreeValuePointer',
] as const
const MODULE_FUNCTIONS = ['UTF8ToString', 'lengthBytesUTF8', 'stringToUTF8', '_malloc', '_free'] as const

function engineInternals(context: QuickJSContext): EngineInternals | undefined {
  const c = context as unknown as Partial<Record<keyof EngineInternals, unknown>>
  const ffi = c.ffi as Record<string, unknown> | undefined
  const mod = c.module as Record<string, unknown> | undefined
  const cb = c.cToHostCallbacks as Record<string, unknown> | undefined
  const ptr = (c.ctx as { value?: unknown } | undefined)?.value
  if (ffi === undefined || mod === undefined || cb === undefined || typeof ptr !== 'number') return undefined
  if (typeof c.getFunction !== 'function' || typeof cb.callFunction !== 'function') return undefined
  if (typeof (c.memory as { heapValueHandle?: unknown } | undefined)?.heapValueHandle !== 'function') return undefined
  if (!ENGINE_FUNCTIONS.every((f) => typeof ffi[f] === 'function')) return undefined
  if (!MODULE_FUNCTIONS.every((f) => typeof mod[f] === 'function') || !(mod.HEAPU8 instanceof Uint8Array)) return undefined
  return context as unknown as EngineInternals
}

/**
 * Routes the context's host-function calls that have a registered {@link HostDispatch} through a
 * direct path: arguments read as strings (anything else as ''), the answer written back as one
 * value, with the same results as the public API's path (which other host functions keep).
 */
function installFastHostCalls(context: QuickJSContext, onTrap: (err: unknown) => void): FastHostCalls | undefined {
  const e = engineInternals(context)
  if (e === undefined) return undefined
  const { ffi, module } = e
  const ctx = e.ctx.value
  const original = e.cToHostCallbacks.callFunction
  /** The string at value pointer `v`, or undefined when the value is not a string. */
  const readString = (v: number): string | undefined => {
    // QTS_Typeof answers a heap copy of the typeof string: "string" and "symbol" start with 's'.
    const t = ffi.QTS_Typeof(ctx, v)
    const heap = module.HEAPU8
    const isString = heap[t] === 0x73 && heap[t + 1] === 0x74
    module._free(t)
    if (!isString) return undefined
    const s = ffi.QTS_GetString(ctx, v)
    try {
      return module.UTF8ToString(s)
    } finally {
      ffi.QTS_FreeCString(ctx, s)
    }
  }
  const readArg = (argv: number, i: number): string => readString(ffi.QTS_ArgvGetJSValueConstPointer(argv, i)) ?? ''
  const encoder = new TextEncoder()
  /**
   * A new engine string (an owned value pointer) holding `s`, or 0 when the engine heap cannot grow.
   * Well-formed text is encoded natively; text with lone surrogates goes through emscripten's own
   * encoder, as on the public path, whose bytes for them differ from the standard replacement.
   */
  const newString = (s: string): number => {
    let p: number
    if ((s as { isWellFormed?: () => boolean }).isWellFormed?.() === true) {
      const max = s.length * 3 + 1
      p = module._malloc(max)
      if (p === 0) return 0
      const heap = module.HEAPU8
      const { written } = encoder.encodeInto(s, heap.subarray(p, p + max - 1))
      heap[p + written] = 0
    } else {
      const bytes = module.lengthBytesUTF8(s) + 1
      p = module._malloc(bytes)
      if (p === 0) return 0
      module.stringToUTF8(s, p, bytes)
    }
    try {
      return ffi.QTS_NewString(ctx, p)
    } finally {
      module._free(p)
    }
  }
  // The argument vector of bridge calls: up to eight value pointers, kept for the instance's life.
  // Without it (the engine heap cannot grow) the instance keeps the public path.
  const argv = module._malloc(32)
  if (argv === 0) return undefined
  // Engine strings of request kinds and method names, made once (a contract has few): owned value
  // pointers, freed with the instance. Past NAMES_KEPT names, a new one is made for its call only.
  const names = new Map<string, number>()
  const name = (s: string, make: (p: number) => number): number => {
    const hit = names.get(s)
    if (hit !== undefined) return hit
    if (names.size >= NAMES_KEPT || s.length > NAME_KEPT_CHARS) return make(newString(s))
    const p = newString(s)
    if (p === 0) throw new Error('the engine heap cannot grow')
    names.set(s, p)
    return p
  }
  /** Stores a 32-bit pointer at `at`, little-endian as WebAssembly memory is. */
  const writePointer = (at: number, ptr: number): void => {
    const heap = module.HEAPU8
    heap[at] = ptr & 0xff
    heap[at + 1] = (ptr >>> 8) & 0xff
    heap[at + 2] = (ptr >>> 16) & 0xff
    heap[at + 3] = (ptr >>> 24) & 0xff
  }
  const fast: FastHostCalls = {
    handlers: new Map<unknown, HostDispatch>(),
    dispatched: 0,
    callBridge(bridge, fn, request, kept) {
      const parts = typeof request === 'string' ? undefined : request
      const text = typeof request === 'string' ? request : request.args
      const undef = ffi.QTS_GetUndefined()
      // Owned value pointers, freed after the call (0: not made).
      const owned: number[] = []
      const make = (p: number): number => {
        if (p === 0) throw new Error('the engine heap cannot grow')
        owned.push(p)
        return p
      }
      let result: number
      try {
        writePointer(argv, fn)
        writePointer(argv + 4, text === undefined ? undef : make(newString(text)))
        writePointer(argv + 8, kept === undefined ? undef : make(newString(kept)))
        if (parts !== undefined) {
          writePointer(argv + 12, name(parts.kind, make))
          writePointer(argv + 16, name(parts.method, make))
          writePointer(argv + 20, make(ffi.QTS_NewFloat64(ctx, parts.r1)))
          writePointer(argv + 24, make(ffi.QTS_NewFloat64(ctx, parts.r2)))
          writePointer(argv + 28, parts.txId === null ? undef : make(newString(parts.txId)))
        }
        result = ffi.QTS_Call(ctx, bridge, undef, parts === undefined ? 3 : 8, argv)
      } finally {
        for (const p of owned) ffi.QTS_FreeValuePointer(ctx, p)
      }
      const error = ffi.QTS_ResolveException(ctx, result)
      if (error !== 0) {
        ffi.QTS_FreeValuePointer(ctx, result)
        return { error: e.memory.heapValueHandle(error) }
      }
      try {
        return { json: readString(result) }
      } finally {
        ffi.QTS_FreeValuePointer(ctx, result)
      }
    },
    dispose() {
      module._free(argv)
      for (const p of names.values()) ffi.QTS_FreeValuePointer(ctx, p)
      names.clear()
    },
  }
  const handlers = fast.handlers
  e.cToHostCallbacks.callFunction = (ctxPtr, thisPtr, argc, argv, fnId) => {
    const impl = ctxPtr === ctx ? handlers.get(e.getFunction(fnId)) : undefined
    if (impl === undefined) return original(ctxPtr, thisPtr, argc, argv, fnId)
    fast.dispatched++
    let answer: HostAnswer
    try {
      const args = new Array<string>(argc)
      for (let i = 0; i < argc; i++) args[i] = readArg(argv, i)
      answer = impl(args)
      // The engine takes over the returned value and frees the pointer; a null pointer means undefined.
      if (answer === undefined) return 0
      if (answer === null) return ffi.QTS_DupValuePointer(ctx, ffi.QTS_GetNull())
      if (typeof answer === 'string') {
        const v = newString(answer)
        if (v === 0) throw new Error('the engine heap cannot grow')
        return v
      }
    } catch (err) {
      // The bridge itself failed (the host's own stack ran out, the engine heap cannot grow): nothing
      // the contract did, and nothing every machine would do. Nothing may escape into the engine
      // (quickjs-emscripten would log it and hand the contract `undefined`): the run is ended as an
      // engine trap once the engine returns (see ContractInstance.call); meanwhile the contract sees
      // an exception.
      onTrap(err)
      answer = { name: 'InternalError', message: 'host failure' }
    }
    try {
      const err = context.newError(answer)
      try {
        return ffi.QTS_Throw(ctx, err.value)
      } finally {
        err.dispose()
      }
    } catch (err) {
      onTrap(err)
      return 0
    }
  }
  return fast
}

function fail(code: VmErrorCode, message: string, gasUsed: number): RunResult {
  return { ok: false, code, message, gasUsed }
}
