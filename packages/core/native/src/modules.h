/*
 * The registration table of the ds native addon: one line per C module. A module `name` defines
 *
 *     napi_status ds_init_<name>(napi_env env, napi_value exports);
 *
 * which adds its functions to the addon's exports (usually with ds_export_methods). To add a module: write
 * src/<file>.c (binding.gyp and the fallback build compile every .c file in src/) and add a DS_MODULE line here.
 */
DS_MODULE(blas)
DS_MODULE(attention)
