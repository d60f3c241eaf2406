/** @trellis/vm — the deterministic, metered contract sandbox (QuickJS compiled to WebAssembly). */
export {
  defaultVmLimits,
  type EntryCall,
  entryRequestText,
  GAS,
  type GasMeter,
  type HostFunctions,
  type HostProvider,
  type HostResult,
  HostError,
  KEPT_LIMITS,
  type RunResult,
  Sandbox,
  ContractInstance,
  type VmErrorCode,
  type VmLimits,
} from './sandbox.js'
