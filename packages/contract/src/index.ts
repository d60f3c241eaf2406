export type { Json, Schema, SchemaDescriptor, Infer } from './schema.js'
export { s, noArgs, SchemaError, nodeChecks, checkPatterns } from './schema.js'
export type {
  ArgsOf,
  CallContext,
  CallNames,
  Caller,
  ContractDefinition,
  ContractSpec,
  EntryRequest,
  Env,
  HistoryEntry,
  Manifest,
  MethodDef,
  MethodsOf,
  QueryContext,
  QueryNames,
  RangeOptions,
  RangePage,
  ResultOf,
  Storable,
} from './contract.js'
export { __entry, call, ContractError, defineContract, ensure, query, ReadState, WriteState } from './contract.js'
