import { spawnSync } from "node:child_process"
import { cpSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { loadNative, loadNativeAddon, nativeAddonPath } from "../src/native/addon.ts"
import { expectClose, type MatMulCase, matMulCase, referenceMatMul, seededValues } from "./kernels-cases.ts"

// The addon itself, called directly (the kernels that use it are tested in kernels-wasm.test.ts). Skipped where it
// is not built (no libopenblas-dev): the loader then says why, which the first block checks.

/** `WebAssembly.Memory` (a global in Node; its type lives in lib.dom, which this package does not load). */
const wasmMemory = (
  globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number }) => { buffer: ArrayBuffer } } }
).WebAssembly.Memory

const nativeDir = fileURLToPath(new URL("../native", import.meta.url))
const { addon } = loadNative()

describe("native addon loader", () => {
  it("DS_NATIVE=0 turns the addon off and says so", () => {
    expect(loadNativeAddon(nativeAddonPath, { DS_NATIVE: "0" })).toEqual({ reason: "disabled by DS_NATIVE=0" })
  })

  it("a missing addon gives a reason that says how to build it", () => {
    const load = loadNativeAddon(join(tmpdir(), "no-such-dir", "ds_native.node"), {})
    expect(load.addon).toBeUndefined()
    expect(load.reason).toMatch(/build:native.*libopenblas-dev/)
  })

  it("a module that is not the ds addon is refused", () => {
    const load = loadNativeAddon(fileURLToPath(new URL("../package.json", import.meta.url)), {})
    expect(load.reason).toMatch(/not the ds addon/)
  })

  it("the install hook never fails: without a compiler or node-gyp it prints one line and exits 0", () => {
    const dir = mkdtempSync(join(tmpdir(), "ds-native-"))
    try {
      const buildDir = join(nativeDir, "build")
      cpSync(nativeDir, dir, {
        recursive: true,
        filter: (path) => path !== buildDir && !path.startsWith(`${buildDir}/`),
      })
      const result = spawnSync(process.execPath, [join(dir, "build.mjs"), "--optional"], {
        encoding: "utf8",
        env: { ...process.env, CC: "false", npm_config_node_gyp: join(dir, "no-node-gyp.js"), DS_NATIVE: "" },
      })
      expect(result.status).toBe(0)
      expect(result.stdout.trim().split("\n")).toHaveLength(1)
      expect(result.stdout).toMatch(/^ds native: not built \(.*\); the wasm kernels will be used/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

const gemmOf = (c: MatMulCase, a: Float32Array, b: Float32Array) => {
  const m = c.transposeA ? c.aShape[1]! : c.aShape[0]!
  const k = c.transposeA ? c.aShape[0]! : c.aShape[1]!
  const n = c.transposeB ? c.bShape[0]! : c.bShape[1]!
  return { m, k, n, lda: c.aShape[1]!, ldb: c.bShape[1]!, a, b }
}

describe.skipIf(addon === undefined)("native BLAS (OpenBLAS through N-API)", () => {
  const blas = addon!

  it("is the ds addon with its blas module, on OpenBLAS", () => {
    expect(blas.modules).toContain("blas")
    expect(blas.blasInfo().config).toMatch(/OpenBLAS/)
  })

  it("sgemm equals the float64 reference for every transpose pair, at offsets inside larger arrays", () => {
    for (const [transposeA, transposeB] of [
      [false, false],
      [true, false],
      [false, true],
      [true, true],
    ] as const) {
      const c = matMulCase([], [], [7, 13, 5], transposeA, transposeB)
      const g = gemmOf(c, seededValues(7 * 13, 1), seededValues(13 * 5, 2))
      // A at offset 3 of a longer array, C at offset 2: the kernel must read and write exactly there.
      const aBig = new Float32Array(3 + g.a.length + 4)
      aBig.set(g.a, 3)
      const out = new Float32Array(2 + g.m * g.n + 2).fill(9)
      blas.sgemm(transposeA, transposeB, g.m, g.n, g.k, 1, aBig, 3, g.lda, g.b, 0, g.ldb, 0, out, 2, g.n)
      expectClose(out.subarray(2, 2 + g.m * g.n), referenceMatMul(g.a, g.b, c).values, 1e-5)
      expect([out[0], out[1], out[out.length - 1]]).toEqual([9, 9, 9])
    }
  })

  it("sgemm computes alpha·AB + beta·C", () => {
    const a = Float32Array.from([1, 2, 3, 4])
    const b = Float32Array.from([5, 6, 7, 8])
    const out = Float32Array.from([1, 1, 1, 1])
    blas.sgemm(false, false, 2, 2, 2, 2, a, 0, 2, b, 0, 2, 3, out, 0, 2)
    expect(Array.from(out)).toEqual([2 * 19 + 3, 2 * 22 + 3, 2 * 43 + 3, 2 * 50 + 3])
  })

  it("sgemmBatched runs one product per offset triple (repeated offsets broadcast an operand)", () => {
    const c = matMulCase([3], [], [4, 6, 5], false, true)
    const a = seededValues(3 * 4 * 6, 3)
    const b = seededValues(5 * 6, 4)
    const out = new Float32Array(3 * 4 * 5)
    blas.sgemmBatched(
      false,
      true,
      4,
      5,
      6,
      1,
      a,
      Uint32Array.of(0, 24, 48),
      6,
      b,
      Uint32Array.of(0, 0, 0),
      6,
      0,
      out,
      Int32Array.of(0, 20, 40),
      5,
    )
    expectClose(out, referenceMatMul(a, b, c).values, 1e-5)
  })

  it("sgemv equals sgemm with one row, both orientations, at offsets, with alpha and beta (beta 0 overwrites NaN)", () => {
    const sgemv = blas.sgemv
    expect(sgemv).toBeDefined()
    if (sgemv === undefined) return
    // A: 5 x 7 inside a longer array (lda 9, offset 4); y = 2·op(A)·x + beta·y.
    const [m, n, lda] = [5, 7, 9]
    const a = seededValues(4 + m * lda, 11)
    for (const trans of [false, true]) {
      const [xLen, yLen] = trans ? [m, n] : [n, m]
      const x = seededValues(1 + xLen, 12)
      for (const beta of [0, 0.5]) {
        const start = beta === 0 ? Number.NaN : 3
        const y = new Float32Array(2 + yLen + 1).fill(start)
        y[0] = 9
        y[y.length - 1] = 9
        sgemv(trans, m, n, 2, a, 4, lda, x, 1, beta, y, 1)
        // The same product as a one-row sgemm: [1, xLen] · op(A)ᵀ-or-A.
        const expected = new Float32Array(yLen).fill(beta === 0 ? 0 : 3)
        blas.sgemm(false, !trans, 1, yLen, xLen, 2, x, 1, xLen, a, 4, lda, beta, expected, 0, yLen)
        expectClose(y.subarray(1, 1 + yLen), expected, 1e-5)
        expect([y[0], y[y.length - 1]]).toEqual([9, 9])
      }
    }
    expect(() => sgemv(false, m, n, 1, a, 4, lda, new Float32Array(n - 1), 0, 0, new Float32Array(m), 0)).toThrow(
      /x lies outside/,
    )
    expect(() => sgemv(false, m, n, 1, a, 4, lda, new Float32Array(n), 0, 0, new Float32Array(m), 1)).toThrow(
      /y lies outside/,
    )
    expect(() => sgemv(false, m, n, 1, a, 4, n - 1, new Float32Array(n), 0, 0, new Float32Array(m), 0)).toThrow(/lda/)
  })

  it("works in place on a view of WebAssembly memory (the wasm heap case)", () => {
    const memory = new wasmMemory({ initial: 1 })
    const heap = new Float32Array(memory.buffer, 1024, 48)
    heap.set(seededValues(12, 5), 0) // A: [3, 4] at element 0
    heap.set(seededValues(8, 6), 12) // B: [4, 2] at element 12
    blas.sgemm(false, false, 3, 2, 4, 1, heap, 0, 4, heap, 12, 2, 0, heap, 20, 2)
    const c = matMulCase([], [], [3, 4, 2], false, false)
    expectClose(heap.subarray(20, 26), referenceMatMul(heap.subarray(0, 12), heap.subarray(12, 20), c).values, 1e-5)
  })

  it("refuses matrices outside their arrays, short leading dimensions and wrong argument types", () => {
    const a = new Float32Array(12)
    const b = new Float32Array(8)
    const c = new Float32Array(6)
    expect(() => blas.sgemm(false, false, 3, 2, 4, 1, a, 1, 4, b, 0, 2, 0, c, 0, 2)).toThrow(RangeError)
    expect(() => blas.sgemm(false, false, 3, 2, 4, 1, a, 0, 4, b, 1, 2, 0, c, 0, 2)).toThrow(/B lies outside/)
    expect(() => blas.sgemm(false, false, 3, 2, 4, 1, a, 0, 4, b, 0, 2, 0, c, 1, 2)).toThrow(/C lies outside/)
    expect(() => blas.sgemm(false, false, 3, 2, 4, 1, a, 0, 3, b, 0, 2, 0, c, 0, 2)).toThrow(/lda/)
    expect(() => blas.sgemm(false, false, 3, 2, 4, 1, a, -1, 4, b, 0, 2, 0, c, 0, 2)).toThrow(RangeError)
    const wrong = new Float64Array(12) as unknown as Float32Array
    expect(() => blas.sgemm(false, false, 3, 2, 4, 1, wrong, 0, 4, b, 0, 2, 0, c, 0, 2)).toThrow(TypeError)
    expect(() =>
      blas.sgemmBatched(
        false,
        false,
        3,
        2,
        4,
        1,
        a,
        Int32Array.of(0, -12),
        4,
        b,
        Int32Array.of(0, 0),
        2,
        0,
        c,
        Int32Array.of(0, 0),
        2,
      ),
    ).toThrow(RangeError)
    expect(() =>
      blas.sgemmBatched(
        false,
        false,
        3,
        2,
        4,
        1,
        a,
        Int32Array.of(0),
        4,
        b,
        Int32Array.of(0, 0),
        2,
        0,
        c,
        Int32Array.of(0, 0),
        2,
      ),
    ).toThrow(/equal lengths/)
  })

  it("sets and reports OpenBLAS's thread count", () => {
    const before = blas.getThreads()
    blas.setThreads(1)
    expect(blas.getThreads()).toBe(1)
    blas.setThreads(before)
    expect(blas.getThreads()).toBe(before)
  })
})
