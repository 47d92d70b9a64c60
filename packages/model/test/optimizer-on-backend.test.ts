import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { adamWStep, defaultAdamW, initAdamW } from "../src/optimizer.ts"

// AdamW reads parameters and gradients where they live (optimizer.ts, docs/compute.md §6). Laws: on wasm and cpu,
// several clipped steps equal a plain-array reference of the same formula to the last bit, and a step makes no
// host read through the backend (the counter wraps the backend's readSync, the path of dataSync and data).

interface Case {
  readonly shapes: ReadonlyArray<ReadonlyArray<number>>
  readonly seed: number
  readonly clip: number
}

const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.3))

/** The reference: the same update over plain arrays (float64 arithmetic rounded to float32). */
const reference = (c: Case, steps: number) => {
  const params = c.shapes.map((s, k) => values(tf.util.sizeFromShape([...s]), c.seed + k))
  const m = params.map((p) => new Float32Array(p.length))
  const v = params.map((p) => new Float32Array(p.length))
  const { beta1, beta2, epsilon, weightDecay } = defaultAdamW
  for (let t = 1; t <= steps; t++) {
    const grads = c.shapes.map((s, k) => values(tf.util.sizeFromShape([...s]), c.seed * 3 + k + t))
    let total = 0
    for (const g of grads) for (const x of g) total += x * x
    const norm = Math.sqrt(total)
    const scale = norm > c.clip ? c.clip / norm : 1
    params.forEach((p, k) => {
      const decay = (c.shapes[k] as ReadonlyArray<number>).length >= 2 ? weightDecay : 0
      const g = grads[k] as Float32Array
      const mk = m[k] as Float32Array
      const vk = v[k] as Float32Array
      for (let i = 0; i < p.length; i++) {
        const gi = (g[i] as number) * scale
        const mi = beta1 * (mk[i] as number) + (1 - beta1) * gi
        const vi = beta2 * (vk[i] as number) + (1 - beta2) * gi * gi
        mk[i] = mi
        vk[i] = vi
        const update = mi / (1 - beta1 ** t) / (Math.sqrt(vi / (1 - beta2 ** t)) + epsilon) + decay * (p[i] as number)
        p[i] = (p[i] as number) - 1e-2 * update
      }
    })
  }
  return params.map((p) => Array.from(p))
}

/** Runs the steps on the current backend; returns the parameters and the host reads the steps made. */
const onTensors = (c: Case, steps: number) => {
  const backend = tf.backend() as unknown as { readSync: (dataId: object) => unknown }
  const original = backend.readSync
  const params = new Map(
    c.shapes.map((s, k) => [
      `p${k}`,
      tf.variable(tf.tensor(values(tf.util.sizeFromShape([...s]), c.seed + k), [...s])),
    ]),
  )
  const state = initAdamW(params)
  let reads = 0
  for (let t = 1; t <= steps; t++) {
    const grads = new Map(
      c.shapes.map((s, k) => [`p${k}`, tf.tensor(values(tf.util.sizeFromShape([...s]), c.seed * 3 + k + t), [...s])]),
    )
    backend.readSync = function (this: unknown, dataId: object) {
      reads += 1
      return original.call(this, dataId)
    }
    try {
      adamWStep(params, grads, state, 1e-2, { ...defaultAdamW, maxGradNorm: c.clip })
    } finally {
      backend.readSync = original
    }
    tf.dispose([...grads.values()])
  }
  const out = [...params.values()].map((p) => Array.from(p.dataSync()))
  for (const p of params.values()) p.dispose()
  return { params: out, reads }
}

const cases = fc.sample(
  fc.record({
    shapes: fc.array(fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }), {
      minLength: 1,
      maxLength: 4,
    }),
    seed: fc.nat(100),
    clip: fc.constantFrom(0.5, 1, Number.POSITIVE_INFINITY),
  }),
  { numRuns: 12, seed: 21 },
)

describe.each(["wasm", "cpu"] as const)("AdamW on %s", (backend) => {
  it("equals the plain-array reference over 3 clipped steps, with no host read in a step", async () => {
    await initBackend(backend)
    for (const c of cases) {
      const got = onTensors(c, 3)
      expect(got.params).toEqual(reference(c, 3))
      expect(got.reads).toBe(0)
    }
  })
})
