/**
 * OpenBLAS core choice: Debian's OpenBLAS is built with DYNAMIC_ARCH and picks its kernel set (the "core") from
 * CPUID when the library loads. Releases older than the CPU do not know it and fall back to an SSE-era core
 * (OpenBLAS 0.3.21 on Intel family 6 model 207, AVX-512: Prescott, 30 instead of 168 GFLOP/s on a 2048 matmul).
 *
 * OpenBLAS reads `OPENBLAS_CORETYPE` once, in its load-time constructor, so the choice is made before the addon
 * (which links libopenblas) is loaded:
 *   1. `OPENBLAS_CORETYPE` set by the user: left alone (older OpenBLAS computes wrong results on some cores; the user
 *      knows their machine). Same for a value this module set in a parent process (`DS_BLAS_CORE_CHOSEN` names it).
 *   2. The CPU has no AVX2+FMA (or is not x86): nothing better to offer, OpenBLAS's own choice stands.
 *   3. Otherwise ask what OpenBLAS picks alone (a child process loads the addon with the variable unset; the answer
 *      is passed to child processes in `DS_BLAS_DEFAULT_CORE`). A modern core: left alone. A fallback core (an
 *      SSE-era core, or Sandybridge on an AVX2 CPU): set `OPENBLAS_CORETYPE` from the CPU flags,
 *        avx512f+avx512vl+avx512bw+avx512dq  -> Cooperlake with avx512_bf16, else SkylakeX
 *        avx2+fma                            -> Zen on AMD/Hygon, else Haswell
 *   4. After loading, the core OpenBLAS reports is compared with the one chosen (`verified`).
 */
import { spawnSync } from "node:child_process"
import { readFileSync } from "node:fs"

/** What the CPU offers, as the kernel reports it in /proc/cpuinfo. */
export interface CpuFeatures {
  /** `vendor_id`, e.g. "GenuineIntel", "AuthenticAMD" ("" when unknown). */
  readonly vendor: string
  /** The `flags` line, split. */
  readonly flags: ReadonlySet<string>
}

/** Cores an OpenBLAS that does not know the CPU falls back to (names as `openblas_get_corename` spells them). */
const sseEraCores = new Set(
  [
    "unknown",
    "generic",
    "katmai",
    "coppermine",
    "northwood",
    "prescott",
    "banias",
    "atom",
    "core2",
    "penryn",
    "dunnington",
    "nehalem",
  ].map((name) => name.toLowerCase()),
)

const avx512Flags = ["avx512f", "avx512vl", "avx512bw", "avx512dq"] as const

/** The core the CPU's features call for, and the flags that decided it; undefined below AVX2+FMA. */
export const featureCore = (cpu: CpuFeatures): { readonly core: string; readonly because: string } | undefined => {
  const has = (flag: string) => cpu.flags.has(flag)
  if (avx512Flags.every(has)) {
    return has("avx512_bf16")
      ? { core: "Cooperlake", because: `${avx512Flags.join("+")}+avx512_bf16` }
      : { core: "SkylakeX", because: avx512Flags.join("+") }
  }
  if (has("avx2") && has("fma")) {
    const amd = cpu.vendor === "AuthenticAMD" || cpu.vendor === "HygonGenuine"
    return { core: amd ? "Zen" : "Haswell", because: "avx2+fma" }
  }
  return undefined
}

/** Whether OpenBLAS's own pick is a fallback on a CPU with AVX2 (an SSE-era core, or AVX1-only Sandybridge). */
export const isFallbackCore = (corename: string): boolean => {
  const name = corename.trim().toLowerCase()
  return name === "" || sseEraCores.has(name) || name === "sandybridge"
}

export type BlasCoreDecision =
  /** Leave OPENBLAS_CORETYPE as it is. */
  | { readonly action: "keep"; readonly reason: string }
  /** Set OPENBLAS_CORETYPE=core before loading. */
  | { readonly action: "set"; readonly core: string; readonly reason: string }

/**
 * The decision (pure): the CPU's features, the environment, and `defaultCore`, which says what OpenBLAS picks alone
 * (called only when the answer matters: AVX2 CPU, variable unset; undefined when it cannot be told).
 */
export const decideBlasCore = (
  cpu: CpuFeatures,
  env: Readonly<Record<string, string | undefined>>,
  defaultCore: () => string | undefined,
): BlasCoreDecision => {
  const user = env.OPENBLAS_CORETYPE
  if (user !== undefined && user !== "") {
    return user === env.DS_BLAS_CORE_CHOSEN
      ? { action: "keep", reason: `OPENBLAS_CORETYPE=${user} chosen by a parent ds process` }
      : { action: "keep", reason: `OPENBLAS_CORETYPE=${user} set by the environment, left alone` }
  }
  const wanted = featureCore(cpu)
  if (wanted === undefined) return { action: "keep", reason: "OpenBLAS's own choice (no AVX2+FMA to choose for)" }
  const picked = defaultCore()
  if (picked === undefined) return { action: "keep", reason: "OpenBLAS's own choice (its pick could not be probed)" }
  if (!isFallbackCore(picked)) return { action: "keep", reason: `OpenBLAS's own choice (${picked} is no fallback)` }
  return {
    action: "set",
    core: wanted.core,
    reason: `chosen: ${wanted.because}; OpenBLAS alone picked ${picked}; OPENBLAS_CORETYPE was unset`,
  }
}

/** Parses /proc/cpuinfo text (the first processor's vendor and flags). */
export const parseCpuInfo = (text: string): CpuFeatures => {
  const field = (name: string) =>
    text
      .split("\n")
      .find((line) => line.startsWith(name))
      ?.split(":")
      .slice(1)
      .join(":")
      .trim() ?? ""
  return {
    vendor: field("vendor_id"),
    flags: new Set(
      field("flags")
        .split(/\s+/)
        .filter((f) => f !== ""),
    ),
  }
}

/** This machine's features: empty off Linux x86-64 (no choice is made there). */
export const readCpuFeatures = (): CpuFeatures => {
  if (process.platform !== "linux" || process.arch !== "x64") return { vendor: "", flags: new Set() }
  try {
    return parseCpuInfo(readFileSync("/proc/cpuinfo", "utf8"))
  } catch {
    return { vendor: "", flags: new Set() }
  }
}

/** What OpenBLAS picks alone: a child process loads the addon at `path` with OPENBLAS_CORETYPE unset. */
export const probeDefaultCore = (path: string, env: NodeJS.ProcessEnv): string | undefined => {
  const cached = env.DS_BLAS_DEFAULT_CORE
  if (cached !== undefined && cached !== "") return cached
  const { OPENBLAS_CORETYPE: _unset, ...childEnv } = env
  const script = `process.stdout.write(String(require(${JSON.stringify(path)}).blasInfo().corename))`
  const result = spawnSync(process.execPath, ["-e", script], { env: childEnv, encoding: "utf8", timeout: 30_000 })
  const core = result.status === 0 ? result.stdout.trim() : ""
  return core === "" ? undefined : core
}

/** The core in use, for reports: what OpenBLAS says, what was chosen (if anything), and why. */
export interface BlasCoreReport {
  /** `openblas_get_corename()` after loading. */
  readonly corename: string
  /** The OPENBLAS_CORETYPE this module set, if it set one. */
  readonly chosen?: string
  /** Whether OpenBLAS runs the chosen core (true when nothing was chosen). */
  readonly verified: boolean
  readonly reason: string
}

/** `core Haswell (OpenBLAS's own choice (...))`, or the chosen core and why; says so when the choice did not hold. */
export const describeBlasCore = (report: BlasCoreReport): string =>
  report.verified
    ? `core ${report.corename} (${report.reason})`
    : `core ${report.corename}, NOT the chosen ${report.chosen ?? "?"} (${report.reason})`
