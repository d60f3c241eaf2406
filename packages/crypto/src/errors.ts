export type CryptoErrorType =
  | { code: 'CRYPTO_UNKNOWN_ALGORITHM'; alg: string }
  | { code: 'CRYPTO_INVALID_PUBLIC_KEY'; alg: string; reason: string }
  | { code: 'CRYPTO_INVALID_PRIVATE_KEY'; alg: string }
  | { code: 'KEYSTORE_BAD_PASSWORD' }
  | { code: 'KEYSTORE_INVALID_FILE'; reason: string }
  | { code: 'CERT_MALFORMED'; reason: string }
  | { code: 'CERT_INVALID_REQUEST'; reason: string }
