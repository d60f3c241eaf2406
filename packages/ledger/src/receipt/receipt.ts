import { sha256 } from '@trellis/crypto'
import { Reader } from '../codec/reader.js'
import { readValueFrom, type Value, writeValueTo } from '../codec/value.js'
import { Writer } from '../codec/writer.js'
import { PROTOCOL } from '../constants.js'

export const ReceiptStatus = { Ok: 0, Failed: 1 } as const
export type ReceiptStatus = (typeof ReceiptStatus)[keyof typeof ReceiptStatus]

/** An event a contract emitted; indexed by contract and name. */
export interface ContractEvent {
  readonly contract: string
  readonly name: string
  readonly data: Value
}

/** The outcome of one tx. A failed tx has a receipt too: its code says why, and it wrote nothing. */
export interface Receipt {
  readonly txId: Uint8Array
  readonly status: ReceiptStatus
  /** Empty when ok; a machine-readable code otherwise (e.g. `NOTARY_ALREADY_RECORDED`). */
  readonly errorCode: string
  readonly errorMessage: string
  readonly returnValue: Value
  readonly events: readonly ContractEvent[]
  /** Metered work units spent. */
  readonly cost: number
}

export function writeReceipt(w: Writer, r: Receipt): Writer {
  w.u8(PROTOCOL.receiptVersion).raw(r.txId).u8(r.status).string(r.errorCode).string(r.errorMessage)
  writeValueTo(w, r.returnValue)
  w.varint(r.events.length)
  for (const e of r.events) {
    w.string(e.contract).string(e.name)
    writeValueTo(w, e.data)
  }
  return w.varint(r.cost)
}

export function readReceipt(r: Reader): Receipt {
  const version = r.u8()
  if (version !== PROTOCOL.receiptVersion) r.fail(`unsupported receipt version ${version}`)
  const txId = r.raw(32)
  const status = r.u8()
  if (status !== ReceiptStatus.Ok && status !== ReceiptStatus.Failed) r.fail(`unknown receipt status ${status}`)
  const errorCode = r.string(128)
  const errorMessage = r.string()
  const returnValue = readValueFrom(r)
  const n = r.count(3)
  const events: ContractEvent[] = []
  for (let i = 0; i < n; i++) events.push({ contract: r.string(PROTOCOL.maxNameLength), name: r.string(128), data: readValueFrom(r) })
  return { txId, status, errorCode, errorMessage, returnValue, events, cost: r.varint() }
}

export function encodeReceipt(r: Receipt): Uint8Array {
  return writeReceipt(new Writer(128), r).finish()
}

/** @throws TrellisError ENCODING_INVALID */
export function decodeReceipt(bytes: Uint8Array): Receipt {
  const r = new Reader(bytes)
  const out = readReceipt(r)
  r.end()
  return out
}

export function receiptHash(r: Receipt): Uint8Array {
  return sha256(encodeReceipt(r))
}
