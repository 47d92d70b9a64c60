/*
 * Entry point of the ds native addon (one .node file): calls every module's initialiser listed in modules.h,
 * then exports `modules`, the list of module names, so the JavaScript loader can tell which ones were built.
 */
#include "ds_napi.h"

#define DS_MODULE(name) napi_status ds_init_##name(napi_env env, napi_value exports);
#include "modules.h"
#undef DS_MODULE

static const char* const module_names[] = {
#define DS_MODULE(name) #name,
#include "modules.h"
#undef DS_MODULE
};

static napi_value init(napi_env env, napi_value exports) {
#define DS_MODULE(name)                                    \
  if (ds_init_##name(env, exports) != napi_ok) {          \
    napi_throw_error(env, NULL, "ds native: module " #name " failed to initialise"); \
    return NULL;                                           \
  }
#include "modules.h"
#undef DS_MODULE

  const size_t count = sizeof(module_names) / sizeof(module_names[0]);
  napi_value names;
  if (napi_create_array_with_length(env, count, &names) != napi_ok) return NULL;
  for (size_t i = 0; i < count; i++) {
    napi_value name;
    if (napi_create_string_utf8(env, module_names[i], NAPI_AUTO_LENGTH, &name) != napi_ok) return NULL;
    if (napi_set_element(env, names, (uint32_t)i, name) != napi_ok) return NULL;
  }
  if (napi_set_named_property(env, exports, "modules", names) != napi_ok) return NULL;
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
