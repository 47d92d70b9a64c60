#!/usr/bin/env node
/**
 * Builds the ds native addon (native/build/Release/ds_native.node) from every C file in native/src, linked
 * against OpenBLAS (Debian/Ubuntu: `apt-get install -y libopenblas-dev`).
 *
 *   node native/build.mjs             build; exit 1 with the compiler's output when it cannot
 *   node native/build.mjs --optional  the package's install hook: never fails, prints one line when it cannot
 *
 * Offline by design: node-gyp gets `--nodedir=<prefix of this node>` when that prefix holds include/node
 * (Debian's nodejs, the official tarballs), so it never downloads headers; without node-gyp, or when it fails,
 * the same sources are compiled with a direct `cc -shared` call. `DS_NATIVE=0` skips the build.
 */
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"

const nativeDir = dirname(fileURLToPath(import.meta.url))
const output = join(nativeDir, "build", "Release", "ds_native.node")
const optional = process.argv.includes("--optional")
const hint = "install libopenblas-dev and a C compiler, then run `pnpm --filter @ds/core build:native`"

/** The prefix whose include/node holds Node's headers (common.gypi for node-gyp), if this node has one. */
const nodePrefix = () => {
  const prefix = dirname(dirname(process.execPath))
  return existsSync(join(prefix, "include", "node", "node_api.h")) ? prefix : undefined
}

/** Node-API headers: this node's own, else the `node-api-headers` package when it is installed. */
const nodeApiInclude = () => {
  const prefix = nodePrefix()
  if (prefix !== undefined) return join(prefix, "include", "node")
  try {
    return createRequire(import.meta.url)("node-api-headers").include_dir
  } catch {
    return undefined
  }
}

/** node-gyp as a command: the one npm/pnpm announce, one on PATH, or the copy bundled with npm or pnpm. */
const nodeGyp = () => {
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp]
  const onPath = spawnSync("node-gyp", ["--version"], { stdio: "ignore" })
  if (onPath.status === 0) return ["node-gyp"]
  const prefix = dirname(dirname(process.execPath))
  const bundled = [
    join(prefix, "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
    join(prefix, "lib", "node_modules", "pnpm", "dist", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  ].find((path) => existsSync(path))
  return bundled === undefined ? undefined : [process.execPath, bundled]
}

const run = (command, args) => {
  const result = spawnSync(command, args, { cwd: nativeDir, encoding: "utf8" })
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}${result.error ? String(result.error) : ""}`.trim()
  const log = output === "" && result.status !== 0 ? `${command} exited with status ${result.status}` : output
  return { ok: result.status === 0, log }
}

const buildWithNodeGyp = () => {
  const gyp = nodeGyp()
  const prefix = nodePrefix()
  if (gyp === undefined) return { ok: false, log: "node-gyp not found" }
  if (prefix === undefined) return { ok: false, log: "no local Node headers for node-gyp (it would download them)" }
  const [command, ...args] = gyp
  return run(command, [...args, "rebuild", `--nodedir=${prefix}`])
}

const buildWithCc = () => {
  const include = nodeApiInclude()
  if (include === undefined) return { ok: false, log: "no Node-API headers (include/node or node-api-headers)" }
  const sources = readdirSync(join(nativeDir, "src"))
    .filter((file) => file.endsWith(".c"))
    .sort()
    .map((file) => join("src", file))
  mkdirSync(dirname(output), { recursive: true })
  const cc = process.env.CC ?? "cc"
  const flags = ["-shared", "-fPIC", "-O3", "-std=c11", "-Wall", `-I${include}`, "-DNAPI_VERSION=8"]
  return run(cc, [...flags, "-DNODE_GYP_MODULE_NAME=ds_native", ...sources, "-o", output, "-lopenblas"])
}

/** The most telling line of a failed build (a missing header or library), for the one-line message. */
const reason = (log) =>
  log
    .split("\n")
    .map((line) => line.trim())
    .find((line) => /fatal error|cannot find|not found|No such file|error:/i.test(line)) ??
  log.trim().split("\n").pop() ??
  "unknown error"

const main = () => {
  if (process.env.DS_NATIVE === "0") {
    console.log("ds native: build skipped (DS_NATIVE=0)")
    return 0
  }
  const gyp = buildWithNodeGyp()
  if (gyp.ok && existsSync(output)) {
    console.log(`ds native: built ${output} (node-gyp)`)
    return 0
  }
  const cc = buildWithCc()
  if (cc.ok && existsSync(output)) {
    console.log(`ds native: built ${output} (cc)`)
    return 0
  }
  const why = reason(cc.log)
  if (optional) {
    console.log(`ds native: not built (${why}); the wasm kernels will be used. To enable it: ${hint}.`)
    return 0
  }
  console.error(`node-gyp:\n${gyp.log}\ncc:\n${cc.log}`)
  console.error(`ds native: build failed (${why}). ${hint}.`)
  return 1
}

try {
  process.exitCode = main()
} catch (error) {
  console.log(
    `ds native: not built (${error instanceof Error ? error.message : String(error)}). To enable it: ${hint}.`,
  )
  process.exitCode = optional ? 0 : 1
}
