/** @trellis/api — the HTTP API's route definitions and error codes, shared by the node, the SDK and the docs. */
export { ERROR_CODES, errorCodesMarkdown, httpStatusOf } from './errorCodes.js'
export type { ErrorBody, ErrorCode } from './errorCodes.js'
export {
  CertificateSchema,
  ErrorSchema,
  HeaderSchema,
  ReceiptSchema,
  StateValueProofSchema,
  TxProofSchema,
  TxSchema,
  routes,
} from './routes.js'
export type { BlockMessage, EventMessage, ResponseOf, RouteDef, RouteName, Routes } from './routes.js'
