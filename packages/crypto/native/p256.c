// ECDSA P-256 verification through the OpenSSL that Node.js itself links (ADR 0023), for the
// signature workers: node:crypto's verify() costs ~10 µs a call on top of the curve arithmetic
// (argument checks, an EVP context and a DER re-encoding of the signature per call).
//
// `p256Verify(key, message, signature)`: true when `signature` (r ‖ s, 64 bytes
// big-endian) is a valid ECDSA signature of SHA-256(message) under `key` (a 33-byte SEC1 compressed
// point). Any r, s in [1, n) is accepted, as by node:crypto: the protocol's low-S and encoding rules
// are checked by the caller before. A key that is not a point on the curve verifies nothing.
// `p256KeyValid(key)`, for tests: whether the key decodes to a point of the curve.
//
// Decoding a compressed key costs a square root, more than half a verification: each thread (each
// addon instance) keeps the points it decoded in a set-associative cache (~200 bytes a point, ~3 MB
// when full), since a consortium's txs come from a bounded set of signers, and one EC_KEY that takes
// the point of each call (an EC_KEY per cached key would hold a copy of the curve, ~1.6 KB each).
#define NAPI_VERSION 8
#define OPENSSL_SUPPRESS_DEPRECATED
#include <node_api.h>
#include "typed_array.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/sha.h>

#define KEY_BYTES 33
#define SIG_BYTES 64
#define SETS 2048
#define WAYS 8

typedef struct {
  unsigned char key[KEY_BYTES];
  EC_POINT *point;
} entry_t;

typedef struct {
  entry_t entries[WAYS];
  unsigned next;
} set_t;

typedef struct {
  EC_KEY *verifier;
  const EC_GROUP *group;
  set_t sets[SETS];
} key_cache_t;

static void cache_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  key_cache_t *cache = (key_cache_t *)data;
  for (size_t s = 0; s < SETS; s++)
    for (size_t w = 0; w < WAYS; w++) EC_POINT_free(cache->sets[s].entries[w].point);
  EC_KEY_free(cache->verifier);
  free(cache);
}

// Decodes a compressed point (NULL when the bytes are not a point of the curve): OpenSSL refuses an
// x at or above p, an x with no square root, and checks that the point is on the curve.
static EC_POINT *decode_point(const EC_GROUP *group, const unsigned char *key) {
  EC_POINT *point = EC_POINT_new(group);
  if (point == NULL) return NULL;
  if (EC_POINT_oct2point(group, point, key, KEY_BYTES, NULL) != 1 || EC_POINT_is_on_curve(group, point, NULL) != 1) {
    EC_POINT_free(point);
    return NULL;
  }
  return point;
}

// The decoded point, from the cache or decoded now.
static const EC_POINT *point_for(key_cache_t *cache, const unsigned char *key) {
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < KEY_BYTES; i++) h = (h ^ key[i]) * 16777619u;
  set_t *set = &cache->sets[h & (SETS - 1)];
  for (size_t w = 0; w < WAYS; w++) {
    entry_t *e = &set->entries[w];
    if (e->point != NULL && memcmp(e->key, key, KEY_BYTES) == 0) return e->point;
  }
  EC_POINT *point = decode_point(cache->group, key);
  if (point == NULL) return NULL;
  entry_t *victim = &set->entries[set->next++ % WAYS];
  EC_POINT_free(victim->point);
  memcpy(victim->key, key, KEY_BYTES);
  victim->point = point;
  return point;
}

static int verify(key_cache_t *cache, const unsigned char *key, const unsigned char *msg, size_t msg_length,
                  const unsigned char *sig) {
  const EC_POINT *point = point_for(cache, key);
  if (point == NULL || EC_KEY_set_public_key(cache->verifier, point) != 1) return 0;
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(msg, msg_length, digest);
  ECDSA_SIG *s = ECDSA_SIG_new();
  BIGNUM *r_bn = BN_bin2bn(sig, 32, NULL);
  BIGNUM *s_bn = BN_bin2bn(sig + 32, 32, NULL);
  int ok = 0;
  if (s != NULL && r_bn != NULL && s_bn != NULL && ECDSA_SIG_set0(s, r_bn, s_bn) == 1) {
    r_bn = s_bn = NULL;  // owned by s now
    // 1: valid; 0: invalid; -1: an error (r or s out of range among them).
    ok = ECDSA_do_verify(digest, SHA256_DIGEST_LENGTH, s, cache->verifier) == 1;
  }
  BN_free(r_bn);
  BN_free(s_bn);
  ECDSA_SIG_free(s);
  return ok;
}

static key_cache_t *cache_of(napi_env env) {
  key_cache_t *cache = NULL;
  if (napi_get_instance_data(env, (void **)&cache) != napi_ok || cache == NULL) {
    napi_throw_error(env, NULL, "p256: the addon was not initialised");
    return NULL;
  }
  return cache;
}

static napi_value p256_verify(napi_env env, napi_callback_info info) {
  static const char usage[] =
      "p256Verify(key, message, signature) takes a 33-byte compressed key, a message and a 64-byte signature, as Uint8Arrays";
  size_t argc = 3;
  napi_value argv[3];
  unsigned char *key = NULL, *msg = NULL, *sig = NULL;
  size_t key_length = 0, msg_length = 0, sig_length = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3 || !bytes_of(env, argv[0], &key, &key_length) ||
      !bytes_of(env, argv[1], &msg, &msg_length) || !bytes_of(env, argv[2], &sig, &sig_length) || key_length != KEY_BYTES ||
      sig_length != SIG_BYTES) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  key_cache_t *cache = cache_of(env);
  if (cache == NULL) return NULL;
  // Failures leave entries on OpenSSL's per-thread error queue, which Node.js's own crypto reads:
  // whatever this call adds is removed, and what was there before stays.
  ERR_set_mark();
  int ok = verify(cache, key, msg, msg_length, sig);
  ERR_pop_to_mark();
  napi_value out;
  if (napi_get_boolean(env, ok, &out) != napi_ok) return NULL;
  return out;
}

// For tests: whether `key` decodes to a point of the curve (without the cache).
static napi_value p256_key_valid(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  unsigned char *key = NULL;
  size_t key_length = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || !bytes_of(env, argv[0], &key, &key_length) ||
      key_length != KEY_BYTES) {
    napi_throw_type_error(env, NULL, "p256KeyValid(key) takes a 33-byte Uint8Array");
    return NULL;
  }
  key_cache_t *cache = cache_of(env);
  if (cache == NULL) return NULL;
  ERR_set_mark();
  EC_POINT *point = decode_point(cache->group, key);
  ERR_pop_to_mark();
  EC_POINT_free(point);
  napi_value out;
  if (napi_get_boolean(env, point != NULL, &out) != napi_ok) return NULL;
  return out;
}

static int export_function(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  return napi_create_function(env, name, NAPI_AUTO_LENGTH, cb, NULL, &fn) == napi_ok &&
         napi_set_named_property(env, exports, name, fn) == napi_ok;
}

NAPI_MODULE_INIT() {
  key_cache_t *cache = calloc(1, sizeof(key_cache_t));
  if (cache == NULL) return NULL;
  cache->verifier = EC_KEY_new_by_curve_name(NID_X9_62_prime256v1);
  cache->group = cache->verifier == NULL ? NULL : EC_KEY_get0_group(cache->verifier);
  if (cache->group == NULL || napi_set_instance_data(env, cache, cache_free, NULL) != napi_ok) {
    EC_KEY_free(cache->verifier);
    free(cache);
    return NULL;
  }
  if (!export_function(env, exports, "p256Verify", p256_verify) || !export_function(env, exports, "p256KeyValid", p256_key_valid))
    return NULL;
  return exports;
}
