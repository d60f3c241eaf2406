import type { CryptoBackend } from './types.js'
import { createCertificateAuthority, issueCertificate } from './x509/issueCertificate.js'
import { parseCertificate, verifyCertificateSignature } from './x509/parseCertificate.js'
import type { Certificate, CertificateWithKey, CreateCertificateAuthorityOptions, IssueCertificateOptions } from './x509/types.js'

/** Binds the top-level functions of an entry point to one backend. */
export function bindBackend(b: CryptoBackend) {
  return {
    /** SHA-256 of `data`. */
    sha256: b.sha256,
    /** SHA-256 of `data` written into `out[0..32)`, for hot loops that hash into scratch space. */
    sha256Into: b.sha256Into,
    /** A fresh key pair (P-256 unless another algorithm is named). */
    generateKeyPair: b.generateKeyPair,
    /** The public key of a private key. @throws TrellisError CRYPTO_INVALID_PRIVATE_KEY */
    publicKeyFromPrivate: b.publicKeyFromPrivate,
    /** A 64-byte canonical signature (P-256 over SHA-256 with low-S; Ed25519 per RFC 8032). */
    sign: b.sign,
    /** True only for a canonical, valid signature; malformed keys or signatures give false, never throw. */
    verify: b.verify,
    /**
     * True for a valid signature in its X.509 form: DER ECDSA-Sig-Value with any S (P-256), 64 bytes
     * (Ed25519). Malformed keys or signatures give false, never throw.
     */
    verifyDer: b.verifyDer,
    /** Cryptographically secure random bytes. */
    randomBytes: b.randomBytes,
    /**
     * Parses a DER X.509 v3 certificate (P-256 or Ed25519 key, ECDSA-SHA256 or Ed25519 signature),
     * strictly. Its signature is not checked: see {@link verifyCertificateSignature}.
     * @throws TrellisError CERT_MALFORMED (`reason` says why) for anything unparseable or unsupported, and nothing else
     * @example
     * const cert = parseCertificate(certificateFromPem(pem))
     * if (!verifyCertificateSignature(cert, issuerCert)) throw …
     */
    parseCertificate: (der: Uint8Array): Certificate => parseCertificate(b, der),
    /**
     * True when `issuer` is a CA, its subject (CN and O) is `cert`'s issuer, and its key verifies
     * `cert`'s signature over `cert.tbs` (ECDSA of any S, or Ed25519). Says nothing of validity
     * dates, roles or revocation. Never throws.
     */
    verifyCertificateSignature: (cert: Certificate, issuer: Certificate): boolean => verifyCertificateSignature(b, cert, issuer),
    /**
     * Creates a CA certificate and key: a self-signed root, or an intermediate of the same organisation
     * signed by `parent`. P-256 unless `keyPair` says otherwise.
     * @throws TrellisError CERT_INVALID_REQUEST (the promise rejects)
     * @example
     * const root = await createCertificateAuthority({ org: 'org1', commonName: 'org1 root CA', validityDays: 3650 })
     * const ca = await createCertificateAuthority({ org: 'org1', commonName: 'org1 CA', validityDays: 730, parent: root })
     */
    createCertificateAuthority: (o: CreateCertificateAuthorityOptions): Promise<CertificateWithKey> => createCertificateAuthority(b, o),
    /**
     * Issues a certificate for `subjectPublicKey` under a CA: subject O is the issuer's, OU the role,
     * attributes in the Trellis extension; keyUsage digitalSignature, not a CA; a random 16-byte
     * serial unless given; valid 365 days unless told otherwise.
     * @throws TrellisError CERT_INVALID_REQUEST (the promise rejects)
     * @example
     * const cert = await issueCertificate({ issuer: ca, subjectPublicKey: alice.publicKey, commonName: 'alice', role: 'client', attributes: { dept: 'claims' } })
     */
    issueCertificate: (o: IssueCertificateOptions): Promise<Certificate> => issueCertificate(b, o),
  }
}
