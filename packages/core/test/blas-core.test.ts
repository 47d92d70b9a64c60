import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { describeNativeBlas, loadNative } from "../src/native/addon.ts"
import {
  type CpuFeatures,
  decideBlasCore,
  featureCore,
  isFallbackCore,
  parseCpuInfo,
  readCpuFeatures,
} from "../src/native/blas-core.ts"

// The OpenBLAS core choice (src/native/blas-core.ts): a pure decision over CPU flags, the environment and what
// OpenBLAS picks alone; then the loader, which must set OPENBLAS_CORETYPE before libopenblas loads and report it.

const cpu = (vendor: string, flags: string): CpuFeatures => ({ vendor, flags: new Set(flags.split(" ")) })
const avx2 = "sse sse2 sse3 ssse3 sse4_1 sse4_2 avx avx2 fma"
const avx512 = `${avx2} avx512f avx512vl avx512bw avx512dq avx512cd`
const intel = "GenuineIntel"
const amd = "AuthenticAMD"
const neverProbed = () => {
  throw new Error("OpenBLAS's own pick must not be probed here")
}

describe("the core the CPU flags call for", () => {
  it.each([
    [intel, `${avx512} avx512_bf16`, "Cooperlake"],
    [amd, `${avx512} avx512_bf16`, "Cooperlake"],
    [intel, avx512, "SkylakeX"],
    [intel, avx2, "Haswell"],
    [amd, avx2, "Zen"],
    ["HygonGenuine", avx2, "Zen"],
    // AVX-512 foundation without the full Skylake-X set (e.g. Knights Landing): AVX2 kernels.
    [intel, `${avx2} avx512f avx512cd`, "Haswell"],
  ])("%s with [%s] -> %s", (vendor, flags, core) => {
    expect(featureCore(cpu(vendor, flags))?.core).toBe(core)
  })

  it.each([
    [intel, "sse sse2 sse3 avx"],
    [intel, "sse sse2 avx2"],
    [amd, ""],
  ])("%s with [%s] -> nothing to choose", (vendor, flags) => {
    expect(featureCore(cpu(vendor, flags))).toBeUndefined()
  })
})

describe("fallback cores", () => {
  it.each([
    "Prescott",
    "Katmai",
    "Core2",
    "Penryn",
    "Dunnington",
    "Nehalem",
    "Atom",
    "generic",
    "Unknown",
    "Sandybridge",
  ])("%s is a fallback", (name) => expect(isFallbackCore(name)).toBe(true))
  it.each(["Haswell", "Zen", "SkylakeX", "Cooperlake", "sapphirerapids"])("%s is no fallback", (name) =>
    expect(isFallbackCore(name)).toBe(false),
  )
})

describe("decideBlasCore", () => {
  it.each([
    // [cpu, env, OpenBLAS alone, expected action, expected core]
    [cpu(intel, `${avx512} avx512_bf16`), {}, "Prescott", "set", "Cooperlake"],
    [cpu(intel, avx512), {}, "Prescott", "set", "SkylakeX"],
    [cpu(intel, avx2), {}, "Core2", "set", "Haswell"],
    [cpu(amd, avx2), {}, "Sandybridge", "set", "Zen"],
    [cpu(amd, avx2), { OPENBLAS_CORETYPE: "" }, "Nehalem", "set", "Zen"],
    // no fallback: left alone
    [cpu(intel, avx512), {}, "SkylakeX", "keep", undefined],
    [cpu(amd, `${avx512} avx512_bf16`), {}, "Haswell", "keep", undefined],
    [cpu(amd, avx2), {}, "Zen", "keep", undefined],
    // the probe could not tell: left alone
    [cpu(intel, avx512), {}, undefined, "keep", undefined],
  ] as const)("%#: %o %o, OpenBLAS alone %s -> %s %s", (features, env, picked, action, core) => {
    const decision = decideBlasCore(features, env, () => picked)
    expect(decision.action).toBe(action)
    if (decision.action === "set") {
      expect(decision.core).toBe(core)
      expect(decision.reason).toContain(`OpenBLAS alone picked ${picked}`)
      expect(decision.reason).toContain("OPENBLAS_CORETYPE was unset")
    }
  })

  it("a value the user set is left alone, whatever the CPU, and OpenBLAS is not even probed", () => {
    for (const features of [cpu(intel, avx512), cpu(amd, avx2), cpu(intel, "sse2")]) {
      for (const value of ["Haswell", "Prescott", "skylakex"]) {
        const decision = decideBlasCore(features, { OPENBLAS_CORETYPE: value }, neverProbed)
        expect(decision).toEqual({
          action: "keep",
          reason: `OPENBLAS_CORETYPE=${value} set by the environment, left alone`,
        })
      }
    }
  })

  it("a value a parent ds process chose is kept and said to be ours", () => {
    const env = { OPENBLAS_CORETYPE: "SkylakeX", DS_BLAS_CORE_CHOSEN: "SkylakeX" }
    expect(decideBlasCore(cpu(intel, avx512), env, neverProbed).reason).toMatch(/chosen by a parent ds process/)
  })

  it("a CPU without AVX2+FMA is left to OpenBLAS, unprobed", () => {
    expect(decideBlasCore(cpu(intel, "sse sse2 sse3 avx"), {}, neverProbed).action).toBe("keep")
  })
})

describe("parseCpuInfo", () => {
  it("reads the vendor and the flags of the first processor", () => {
    const text = [
      "processor\t: 0",
      "vendor_id\t: GenuineIntel",
      "cpu family\t: 6",
      "model\t\t: 207",
      "flags\t\t: fpu sse2 avx2 fma avx512f",
      "",
      "processor\t: 1",
      "vendor_id\t: GenuineIntel",
      "flags\t\t: fpu",
    ].join("\n")
    const parsed = parseCpuInfo(text)
    expect(parsed.vendor).toBe(intel)
    expect([...parsed.flags]).toEqual(["fpu", "sse2", "avx2", "fma", "avx512f"])
  })
})

const load = loadNative()
const addonPath = fileURLToPath(new URL("../src/native/addon.ts", import.meta.url))

describe.skipIf(load.addon === undefined)("the loader's core report", () => {
  it("names the core OpenBLAS runs, and the report line says it", () => {
    const corename = load.addon?.blasInfo().corename ?? ""
    expect(load.blasCore?.corename).toBe(corename)
    expect(load.blasCore?.verified).toBe(true)
    expect(describeNativeBlas(load)).toMatch(new RegExp(`^OpenBLAS \\d+\\.\\d+\\.\\d+, core ${corename} \\(.+\\)$`))
  })

  const run = (env: NodeJS.ProcessEnv) => {
    const script = `import { loadNative } from ${JSON.stringify(addonPath)}; console.log(JSON.stringify(loadNative().blasCore))`
    const result = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      env,
      timeout: 120_000,
    })
    expect(result.stderr).toBe("")
    return JSON.parse(result.stdout) as { corename: string; chosen?: string; verified: boolean; reason: string }
  }
  const {
    OPENBLAS_CORETYPE: _user,
    DS_BLAS_CORE_CHOSEN: _chosen,
    DS_BLAS_DEFAULT_CORE: _default,
    ...bare
  } = process.env
  const wanted = featureCore(readCpuFeatures())

  it.skipIf(wanted === undefined)(
    "when OpenBLAS would fall back, the core the flags call for is set before loading and is the one in use",
    () => {
      // DS_BLAS_DEFAULT_CORE stands for the probe's answer: OpenBLAS alone would pick Prescott.
      const report = run({ ...bare, DS_BLAS_DEFAULT_CORE: "Prescott" })
      expect(report).toMatchObject({ corename: wanted?.core, chosen: wanted?.core, verified: true })
      expect(report.reason).toMatch(/OpenBLAS alone picked Prescott; OPENBLAS_CORETYPE was unset/)
    },
    120_000,
  )

  it("a core set in the environment is the one in use, never overridden", () => {
    const report = run({ ...bare, OPENBLAS_CORETYPE: "Prescott", DS_BLAS_DEFAULT_CORE: "Prescott" })
    expect(report).toEqual({
      corename: "Prescott",
      verified: true,
      reason: "OPENBLAS_CORETYPE=Prescott set by the environment, left alone",
    })
  }, 120_000)
})
