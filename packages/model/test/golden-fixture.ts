/**
 * The golden reference data (`tooling/fixtures/golden/base`, see its README): config, parameters and expected tensors.
 * Located through `@ds/tooling/fixtures`; a missing file fails the test with its name.
 */
import { readSafetensors, type TensorData } from "@ds/core"
import { goldenFile } from "@ds/tooling/fixtures"

export { goldenDir, goldenFile } from "@ds/tooling/fixtures"

export const readGolden = (): Promise<Map<string, TensorData>> => readSafetensors(goldenFile("golden.safetensors"))

export const readGoldenModel = (): Promise<Map<string, TensorData>> => readSafetensors(goldenFile("model.safetensors"))

export const floats = (t: TensorData | undefined): Float32Array => {
  if (t === undefined || !(t.data instanceof Float32Array)) throw new Error("expected an F32 golden tensor")
  return t.data
}

export const ints = (t: TensorData | undefined): Int32Array => {
  if (t === undefined || !(t.data instanceof Int32Array)) throw new Error("expected an I32 golden tensor")
  return t.data
}

/** max |a − b| − (atol + rtol·|b|) over all elements; ≤ 0 means allclose. */
export const allcloseExcess = (a: ArrayLike<number>, b: ArrayLike<number>, atol = 1e-4, rtol = 1e-4): number => {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY
  let worst = Number.NEGATIVE_INFINITY
  for (let i = 0; i < a.length; i++) {
    const excess = Math.abs((a[i] as number) - (b[i] as number)) - (atol + rtol * Math.abs(b[i] as number))
    if (!(excess <= worst)) worst = Number.isNaN(excess) ? Number.POSITIVE_INFINITY : excess
  }
  return worst
}

/** Row-wise sets of ids (order ignored), −1 dropped. */
export const rowSets = (ids: ArrayLike<number>, width: number): Array<string> => {
  const out: Array<string> = []
  for (let r = 0; r * width < ids.length; r++) {
    const row = Array.from({ length: width }, (_, j) => ids[r * width + j] as number).filter((v) => v >= 0)
    out.push(row.sort((x, y) => x - y).join(","))
  }
  return out
}
