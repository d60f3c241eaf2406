// SHA-256 through the OpenSSL that Node.js itself links (its symbols are visible to addons), so the
// CPU's SHA extensions are used where present. One N-API function, `sha256Into(input, length,
// output)`: hashes the first `length` bytes of a Uint8Array into the first 32 bytes of another.
// See docs/adr/0021.
#define NAPI_VERSION 8
#define OPENSSL_SUPPRESS_DEPRECATED
#include <node_api.h>
#include "typed_array.h"
#include <openssl/sha.h>

static napi_value sha256_into(napi_env env, napi_callback_info info) {
  static const char usage[] =
      "sha256Into(input, length, output) takes a Uint8Array, a length within it and a Uint8Array of at least 32 bytes";
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 3) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  unsigned char *in = NULL, *out = NULL;
  size_t in_length = 0, out_length = 0;
  double length = -1;
  if (!bytes_of(env, argv[0], &in, &in_length) || napi_get_value_double(env, argv[1], &length) != napi_ok ||
      !bytes_of(env, argv[2], &out, &out_length) || out_length < SHA256_DIGEST_LENGTH || !(length >= 0) ||
      length > (double)in_length || length != (double)(size_t)length) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  // The input may be empty (a null data pointer): SHA256_Update accepts a zero length.
  SHA256_CTX ctx;
  SHA256_Init(&ctx);
  SHA256_Update(&ctx, in, (size_t)length);
  SHA256_Final(out, &ctx);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "sha256Into", NAPI_AUTO_LENGTH, sha256_into, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "sha256Into", fn) != napi_ok) return NULL;
  return exports;
}
