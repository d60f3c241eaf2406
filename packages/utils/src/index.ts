export type { BytesErrorType } from './bytes.js'
export {
  base64ToBytes,
  bytesToBase64,
  bytesToHex,
  latin1Slice,
  bytesToUtf8,
  compareBytes,
  concatBytes,
  equalBytes,
  hexToBytes,
  isHex,
  toUint8Array,
  utf8ToBytes,
  writeU32BE,
  writeU64BE,
} from './bytes.js'
export { isTrellisError, TrellisError } from './errors.js'
export { allocBytes, copyBytes, growBytes, trimBytes } from './pool.js'
