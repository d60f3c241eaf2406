// Shared by the addon's targets (ADRs 0021, 0023).
#ifndef TRELLIS_TYPED_ARRAY_H
#define TRELLIS_TYPED_ARRAY_H
#include <node_api.h>

// The bytes and length of a Uint8Array (a Buffer among them); 0 for any other value.
static int bytes_of(napi_env env, napi_value v, unsigned char **data, size_t *length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, v, &is_typed) != napi_ok || !is_typed) return 0;
  napi_typedarray_type type;
  void *p = NULL;
  if (napi_get_typedarray_info(env, v, &type, length, &p, NULL, NULL) != napi_ok || type != napi_uint8_array) return 0;
  *data = (unsigned char *)p;
  return 1;
}

#endif
