/** @trellis/api — the HTTP API's route definitions and error codes, shared by the node, the SDK and the docs. */

export type { ErrorBody, ErrorCode } from './errorCodes.js'
export { ERROR_CODES, errorCodesMarkdown, httpStatusOf } from './errorCodes.js'
export type { BlockMessage, EventMessage, ResponseOf, RouteDef, RouteName, Routes } from './routes.js'
export {
  CertificateSchema,
  ErrorSchema,
  HeaderSchema,
  ReceiptSchema,
  routes,
  StateValueProofSchema,
  TxProofSchema,
  TxSchema,
} from './routes.js'
export { parseReadAuthorization, READ_AUTH_MAX_SKEW_MS, READ_AUTH_SCHEME, readRequestMessage } from './readAuth.js'
