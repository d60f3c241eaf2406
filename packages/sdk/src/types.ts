import type { ResponseOf, RouteName, Routes } from '@trellis/api'

/** `GET /v1/status`. */
export type StatusResponse = ResponseOf<'getStatus'>
/** `POST /v1/txs`. */
export type SubmitResponse = ResponseOf<'submitTxs'>
/** One entry of {@link SubmitResponse}: `accepted`, and with `wait` the commit `height` and `receipt`. */
export type SubmitResult = SubmitResponse['results'][number]
/** `GET /v1/txs/:id`: the tx, its receipt and an offline-verifiable proof. */
export type TxResponse = ResponseOf<'getTx'>
/** `GET /v1/blocks/:ref`. */
export type BlockResponse = ResponseOf<'getBlock'>
/** `GET /v1/state/:contract/:key`: the value (JSON form) with a proof. */
export type StateResponse = ResponseOf<'getState'>
/** `GET /v1/state/:contract/:key/history`. */
export type StateHistoryResponse = ResponseOf<'getStateHistory'>
/** `GET /v1/contracts`. */
export type ContractsResponse = ResponseOf<'listContracts'>
export type ContractResponse = ResponseOf<'getContract'>
/** `POST /v1/contracts/:name/query`. */
export type QueryResponse = ResponseOf<'queryContract'>
/** `GET /healthz`. */
export type HealthResponse = ResponseOf<'health'>
/** The receipt in JSON form, as the API serves it. */
export type ReceiptResponse = TxResponse['receipt']

/** Routes that answer with JSON (every route but the SSE stream and the metrics text). */
export type JsonRouteName = { [N in RouteName]: Routes[N] extends { readonly produces: string } ? never : N }[RouteName]
