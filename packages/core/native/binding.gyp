{
  "targets": [
    {
      "target_name": "ds_native",
      "sources": ["<!@(node -e \"for (const f of require('fs').readdirSync('src').filter((f) => f.endsWith('.c')).sort()) console.log('src/' + f)\")"],
      "cflags": ["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": ["-lopenblas"]
    }
  ]
}
