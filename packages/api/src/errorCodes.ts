/**
 * Every error code a client can receive, with its HTTP status and meaning. This one table drives the
 * server's responses and the generated docs/errors.md (`npm run docs:errors`); a test keeps them equal.
 */
export const ERROR_CODES = {
  // Request shape
  REQUEST_MALFORMED_JSON: { status: 400, description: 'The request body is not valid JSON.' },
  REQUEST_INVALID: {
    status: 400,
    description: 'A parameter, query or body field has the wrong type, is missing or is out of range; `details.issues` lists each problem.',
  },
  REQUEST_TOO_LARGE: { status: 413, description: 'The request body is larger than the server accepts.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'The request body is not `application/json`.' },
  ROUTE_NOT_FOUND: { status: 404, description: 'No such endpoint.' },
  // Transaction admission (stateless)
  ENCODING_INVALID: { status: 400, description: 'Bytes are not in the canonical encoding (docs/spec/encoding.md).' },
  BYTES_INVALID_BASE64: { status: 400, description: 'A field that must be base64 is not canonical base64.' },
  BYTES_INVALID_HEX: { status: 400, description: 'A field that must be hex is not hex.' },
  TX_MALFORMED: { status: 400, description: 'The transaction bytes cannot be decoded.' },
  TX_TOO_LARGE: { status: 413, description: "The transaction exceeds the chain's `maxTxBytes`." },
  TX_UNSUPPORTED_VERSION: { status: 400, description: 'The transaction format version is not supported.' },
  TX_WRONG_CHAIN: { status: 400, description: "The transaction's chain id is not this chain's." },
  TX_BAD_SIGNATURE: { status: 401, description: 'The signature is invalid, not by the signer, or not canonical (high-S / malleated).' },
  TX_EXPIRED: { status: 400, description: 'The transaction expiry time has passed.' },
  TX_EXPIRY_TOO_FAR: { status: 400, description: "The expiry is further ahead than the chain's `maxTxTtlMs`." },
  TX_INVALID_FIELD: {
    status: 400,
    description:
      'A transaction field is syntactically invalid (contract or method name, signer), or its certificate does not parse or is not for the signer key.',
  },
  // Transaction admission (stateful)
  TX_DUPLICATE: { status: 409, description: 'The same transaction is already waiting in the mempool.' },
  TX_ALREADY_COMMITTED: {
    status: 409,
    description: 'A transaction with this id is already on the ledger; a tx id is accepted once, ever.',
  },
  MEMPOOL_FULL: { status: 503, description: 'The mempool is at its count or byte limit; retry later.' },
  MEMPOOL_SENDER_LIMIT: { status: 429, description: 'This signer has too many pending transactions; wait for some to commit.' },
  CONTRACT_NOT_FOUND: { status: 404, description: 'No contract with that name is deployed.' },
  METHOD_NOT_FOUND: { status: 404, description: 'The contract has no method with that name (or it is not callable this way).' },
  ARGS_INVALID: { status: 400, description: "The arguments do not match the method's declared schema." },
  // Identity and permissions (X.509 certificates of member organisations)
  CERT_REQUIRED: {
    status: 401,
    description: 'The chain requires transactions to carry a certificate of a member organisation (governance `certificatesRequired`).',
  },
  CERT_UNKNOWN_CA: {
    status: 403,
    description: "The certificate's organisation is not a member, or no CA certificate of that organisation issued it.",
  },
  CERT_ORG_MISMATCH: { status: 403, description: "The certificate names one organisation but was issued by another organisation's CA." },
  CERT_NOT_YET_VALID: { status: 403, description: 'The certificate (or a CA above it) is not valid yet at this time.' },
  CERT_EXPIRED: { status: 403, description: 'The certificate (or a CA above it) has expired.' },
  CERT_REVOKED: {
    status: 403,
    description: 'The certificate was revoked by governance; it cannot transact from the revocation height on.',
  },
  CERT_NOT_END_ENTITY: { status: 403, description: 'A CA certificate cannot sign transactions: use a certificate it issued.' },
  PERMISSION_DENIED: {
    status: 403,
    description: "The contract's access rules (governance `acl.set`) do not admit the caller's organisation or role for this method.",
  },
  READ_AUTH_REQUIRED: {
    status: 401,
    description:
      'The chain is readable by members only (governance `readAccess: members`): sign the request (`Authorization: Trellis-Read cert=…, ts=…, sig=…`; the SDK does it with `auth`).',
  },
  READ_AUTH_INVALID: {
    status: 401,
    description: 'The read request signature is malformed, does not verify with its certificate, or its time is more than 5 minutes off.',
  },
  READ_NOT_PERMITTED: { status: 403, description: "The reader's role is not among the chain's `readRoles`." },
  // Governance
  GOV_NOT_MEMBER: { status: 403, description: 'Proposing and voting need a certificate of a member organisation.' },
  GOV_ROLE_REQUIRED: { status: 403, description: "The proposal's policy requires voters in another role (by default `admin`)." },
  GOV_NOT_ELIGIBLE: {
    status: 403,
    description: 'The organisation is not among those that decide this proposal (a k-of-n policy), or cannot cancel it.',
  },
  GOV_ACTION_INVALID: {
    status: 400,
    description: 'The proposed action is malformed or cannot apply to the current state (e.g. adding a member twice).',
  },
  PROPOSAL_NOT_FOUND: { status: 404, description: 'No proposal with that number.' },
  PROPOSAL_CLOSED: { status: 409, description: 'The proposal was already executed, rejected, failed or cancelled.' },
  PROPOSAL_EXPIRED: { status: 409, description: 'The proposal passed its expiry without being decided; it can no longer be voted on.' },
  VOTE_DUPLICATE: { status: 409, description: 'This organisation has already voted on the proposal.' },
  LIFECYCLE_NOT_APPROVED: {
    status: 403,
    description:
      'A deploy, upgrade, pause, resume or freeze without approval: neither a genesis admin key (while governance has not retired them) nor an admin of a member organisation holding a passed `contract.approve` proposal for exactly this operation and code.',
  },
  CONTRACT_PAUSED: {
    status: 409,
    description: 'The contract is paused by the consortium: calls are rejected until it is resumed; queries still work.',
  },
  CONTRACT_FROZEN: {
    status: 409,
    description: 'The contract is frozen for good: it accepts no more calls or upgrades; queries still work.',
  },
  QUERY_TIMEOUT: { status: 422, description: 'The query ran past its wall-clock limit (work the gas meter does not price).' },
  QUERY_TOO_MANY_READS: { status: 422, description: 'The query needs more separate state fetches than a query may make.' },
  QUERY_HISTORY_TOO_LONG: {
    status: 422,
    description:
      'A range scan at a past height would read more history records than a query may; narrow the range or query the latest height.',
  },
  NODE_STOPPING: { status: 503, description: 'The node is shutting down and accepts no new transactions.' },
  // Reads
  TX_NOT_FOUND: { status: 404, description: 'No committed transaction has that id.' },
  BLOCK_NOT_FOUND: { status: 404, description: 'No block at that height or with that hash.' },
  HEIGHT_NOT_AVAILABLE: { status: 404, description: 'The requested height is above the chain head.' },
  QUERY_FAILED: { status: 422, description: 'The read-only query failed in the contract; `details` has its code.' },
  WAIT_TIMEOUT: {
    status: 504,
    description: 'The transactions were accepted but did not commit before the wait timeout; poll `GET /v1/txs/{id}`.',
  },
  // Server
  INTERNAL: { status: 500, description: 'An unexpected server error; the node log has the details.' },
} as const satisfies Record<string, { status: number; description: string }>

export type ErrorCode = keyof typeof ERROR_CODES

/** The body of every error response. */
export interface ErrorBody {
  code: string
  message: string
  details?: Record<string, unknown>
}

/** The HTTP status for a code; unknown codes are treated as bad requests from contract-level failures. */
export function httpStatusOf(code: string): number {
  return (ERROR_CODES as Record<string, { status: number }>)[code]?.status ?? 400
}

/** Renders the error table as Markdown (docs/errors.md is this output). */
export function errorCodesMarkdown(): string {
  const lines = [
    '# Error codes',
    '',
    '<!-- Generated from packages/api/src/errorCodes.ts by `npm run docs:errors`; do not edit by hand. -->',
    '',
    'Every error response has the body `{ "code": string, "message": string, "details"?: object }`.',
    'Failed transactions do not produce HTTP errors: they are committed with a receipt whose `errorCode`',
    'is set by the contract (for example `NOTARY_ALREADY_RECORDED`).',
    '',
    '| code | HTTP status | meaning |',
    '| --- | --- | --- |',
  ]
  for (const [code, { status, description }] of Object.entries(ERROR_CODES)) lines.push(`| \`${code}\` | ${status} | ${description} |`)
  return `${lines.join('\n')}\n`
}
