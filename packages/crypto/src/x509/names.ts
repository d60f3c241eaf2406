import { CERT_ROLES, type CertRole } from './types.js'

// 1–64 code points, no control characters and no lone surrogates.
const NAME_RE = /^[^\p{Cc}\p{Cs}]{1,64}$/u

/** True when `s` can be a subject or issuer CN or O: 1–64 printable characters. */
export function isNameValue(s: unknown): s is string {
  return typeof s === 'string' && NAME_RE.test(s)
}

/** True when `s` is one of {@link CERT_ROLES} (case-sensitive). */
export function isCertRole(s: unknown): s is CertRole {
  return (CERT_ROLES as readonly unknown[]).includes(s)
}
