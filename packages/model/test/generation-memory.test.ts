/**
 * Memory of a long generation (issue 9 item 5): sampling 1,024 tokens (fused; 200 on the slower reference path) keeps the tfjs tensor count flat on both
 * attention paths — the in-place KV cache allocates no tensor per step (fused) or replaces its one tensor copy per
 * layer (reference), and every step frees what it made. The "tiny" preset stands in for "small" to keep CI cheap
 * (the same code; bench/context.bench.ts runs the small preset and reports RSS too).
 */
import { initBackend, Rng } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodeModelConfig } from "../src/config.ts"
import { generate } from "../src/generate.ts"
import { disposeParameters, initParameters } from "../src/params.ts"
import { tinyPreset } from "../src/presets.ts"
import type { Model } from "../src/transformer.ts"

const config = decodeModelConfig({ ...tinyPreset, vocab_size: 64, max_seq_len: 1040 })
let model: Model

beforeAll(async () => {
  await initBackend("wasm")
  model = { config, params: initParameters(config, 2) }
})

afterAll(() => disposeParameters(model.params))

// The reference path runs a shorter generation (its steps cost more); the law is the same.
const lengths = { fused: 1024, reference: 200 } as const

describe("a long generation", () => {
  for (const attention of ["fused", "reference"] as const)
    it(`${attention}: the tensor count at step ${lengths[attention]} equals the count at step 100, and returns to its start`, () => {
      const sample = (maxNewTokens: number, onToken?: (event: { readonly index: number }) => void) =>
        generate(model, [[1, 2, 3, 4]], {
          maxNewTokens,
          sampling: { temperature: 1 },
          rng: Rng.make(1),
          attention,
          ...(onToken === undefined ? {} : { onToken }),
        })
      sample(2) // the per-layer absorbed W_UK / W_UV (weights.ts) are made once, on the first MQA call
      const before = tf.memory().numTensors
      const last = lengths[attention]
      const counts = new Map<number, number>()
      const [generation] = sample(last, ({ index }) => {
        if (index + 1 === 100 || index + 1 === last) counts.set(index + 1, tf.memory().numTensors)
      })
      expect(generation?.tokens.length).toBe(last)
      expect(counts.get(100)).toBeDefined()
      expect(counts.get(last)).toBe(counts.get(100))
      expect(tf.memory().numTensors).toBe(before)
    })
})
