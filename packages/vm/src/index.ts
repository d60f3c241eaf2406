/** @trellis/vm — the deterministic, metered contract sandbox (QuickJS compiled to WebAssembly). */
export { defaultVmLimits, GAS, type HostFunctions, HostError, type RunResult, Sandbox, type VmErrorCode, type VmLimits } from './sandbox.js'
