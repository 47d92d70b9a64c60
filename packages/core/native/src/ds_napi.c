/* Argument readers and error helpers for the ds native addon (see ds_napi.h). */
#include "ds_napi.h"

#include <math.h>
#include <stdio.h>

napi_value ds_throw_type(napi_env env, const char* message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

napi_value ds_throw_range(napi_env env, const char* message) {
  napi_throw_range_error(env, NULL, message);
  return NULL;
}

static bool throw_named(napi_env env, bool range, const char* name, const char* what) {
  char message[256];
  snprintf(message, sizeof(message), "ds native: argument '%s' %s", name, what);
  if (range) napi_throw_range_error(env, NULL, message);
  else napi_throw_type_error(env, NULL, message);
  return false;
}

bool ds_args(napi_env env, napi_callback_info info, size_t expected, napi_value* argv) {
  size_t argc = expected;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  if (argc < expected) {
    char message[128];
    snprintf(message, sizeof(message), "ds native: expected %zu arguments, got %zu", expected, argc);
    napi_throw_type_error(env, NULL, message);
    return false;
  }
  return true;
}

bool ds_get_bool(napi_env env, napi_value value, const char* name, bool* out) {
  if (napi_get_value_bool(env, value, out) != napi_ok) return throw_named(env, false, name, "must be a boolean");
  return true;
}

bool ds_get_f32(napi_env env, napi_value value, const char* name, float* out) {
  double v;
  if (napi_get_value_double(env, value, &v) != napi_ok) return throw_named(env, false, name, "must be a number");
  *out = (float)v;
  return true;
}

bool ds_get_int(napi_env env, napi_value value, const char* name, int64_t min, int64_t max, int64_t* out) {
  double v;
  if (napi_get_value_double(env, value, &v) != napi_ok) return throw_named(env, false, name, "must be a number");
  if (!(v == floor(v)) || v < (double)min || v > (double)max) return throw_named(env, true, name, "is out of range or not an integer");
  *out = (int64_t)v;
  return true;
}

bool ds_get_f32_array(napi_env env, napi_value value, const char* name, float** data, size_t* length) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return throw_named(env, false, name, "must be a Float32Array");
  napi_typedarray_type type;
  void* raw = NULL;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, NULL, NULL) != napi_ok || type != napi_float32_array)
    return throw_named(env, false, name, "must be a Float32Array");
  *data = (float*)raw;
  return true;
}

bool ds_get_offsets(napi_env env, napi_value value, const char* name, const void** data, size_t* length, bool* is_signed) {
  bool is_typed = false;
  if (napi_is_typedarray(env, value, &is_typed) != napi_ok || !is_typed) return throw_named(env, false, name, "must be an Int32Array or Uint32Array");
  napi_typedarray_type type;
  void* raw = NULL;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, NULL, NULL) != napi_ok) return throw_named(env, false, name, "must be an Int32Array or Uint32Array");
  if (type != napi_int32_array && type != napi_uint32_array) return throw_named(env, false, name, "must be an Int32Array or Uint32Array");
  *data = raw;
  *is_signed = type == napi_int32_array;
  return true;
}

bool ds_in_bounds(int64_t offset, int64_t extent, size_t length) {
  if (extent == 0) return offset >= 0;
  return offset >= 0 && extent > 0 && (uint64_t)offset + (uint64_t)extent <= (uint64_t)length;
}

napi_status ds_export_methods(napi_env env, napi_value exports, const ds_method* methods) {
  for (const ds_method* m = methods; m->name != NULL; m++) {
    napi_value fn;
    napi_status status = napi_create_function(env, m->name, NAPI_AUTO_LENGTH, m->fn, NULL, &fn);
    if (status != napi_ok) return status;
    status = napi_set_named_property(env, exports, m->name, fn);
    if (status != napi_ok) return status;
  }
  return napi_ok;
}
