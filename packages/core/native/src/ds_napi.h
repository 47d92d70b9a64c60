/*
 * Helpers shared by the C modules of the ds native addon: argument reading with type and range checks, and
 * JavaScript errors. Every exported function checks its arguments and returns NULL after throwing; no C code
 * trusts a length it did not read from the typed array itself.
 */
#ifndef DS_NAPI_H
#define DS_NAPI_H

#include <node_api.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One exported JavaScript function of a module. */
typedef struct {
  const char* name;
  napi_callback fn;
} ds_method;

/* Throws a TypeError/RangeError with `message` and returns NULL (for `return ds_throw...` in callbacks). */
napi_value ds_throw_type(napi_env env, const char* message);
napi_value ds_throw_range(napi_env env, const char* message);

/* Reads the callback's arguments into argv[0..expected); throws when fewer were given. */
bool ds_args(napi_env env, napi_callback_info info, size_t expected, napi_value* argv);

/* Scalars. Each throws (and returns false) on a wrong type or, for the integer readers, a value out of range. */
bool ds_get_bool(napi_env env, napi_value value, const char* name, bool* out);
bool ds_get_f32(napi_env env, napi_value value, const char* name, float* out);
/* An integer in [min, max] (JavaScript numbers up to 2^53 are exact). */
bool ds_get_int(napi_env env, napi_value value, const char* name, int64_t min, int64_t max, int64_t* out);

/* A Float32Array (any view, including views of a WebAssembly heap): its data pointer and element count. */
bool ds_get_f32_array(napi_env env, napi_value value, const char* name, float** data, size_t* length);
/* An Int32Array or Uint32Array of element offsets, widened into `data` (caller-owned, `length` entries). */
bool ds_get_offsets(napi_env env, napi_value value, const char* name, const void** data, size_t* length, bool* is_signed);

/* Whether [offset, offset + extent) lies inside an array of `length` elements (extent 0 is always inside). */
bool ds_in_bounds(int64_t offset, int64_t extent, size_t length);

/* Adds `methods` (terminated by a {NULL, NULL} entry) to `exports`. */
napi_status ds_export_methods(napi_env env, napi_value exports, const ds_method* methods);

#endif
