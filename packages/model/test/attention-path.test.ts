/**
 * The fused attention path (docs/model.md §9) gives the reference path's model outputs: on the golden checkpoint
 * (logits within atol = rtol = 1e-4, exactly the reference's attended sets and expert sets, as `ds forward`), and on
 * a random model over random uneven batches with prefill at non-zero start and multi-token decode (logits, selected
 * sets, experts). Also: which path each call takes, and the in-place cache's tensor count staying flat.
 */
import { readFileSync } from "node:fs"
import { initBackend, Rng, type TensorData } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { resolveAttentionPath } from "../src/attention-path.ts"
import { loadCheckpoint } from "../src/checkpoint.ts"
import { decodeModelConfig } from "../src/config.ts"
import { disposeParameters, initParameters } from "../src/params.ts"
import { type ForwardCall, runForwardCalls } from "../src/programs/forward-program.ts"
import {
  createModelCache,
  disposeForward,
  disposeModelCache,
  type ForwardResult,
  forward,
  type Model,
  type ModelCache,
} from "../src/transformer.ts"
import { allcloseExcess, floats, goldenDir, goldenFile, readGolden, rowSets } from "./golden-fixture.ts"

/** Row sets of a 0/1 mask laid out [rows, width]. */
const maskRows = (mask: ArrayLike<number>, width: number): Array<string> =>
  rowSets(
    Array.from(mask, (v, i) => (v > 0.5 ? i % width : -1)),
    width,
  )

beforeAll(async () => {
  await initBackend("wasm")
})

describe("fused vs reference on the golden checkpoint (ds forward)", () => {
  let model: Model
  let golden: Map<string, TensorData>
  let calls: ReadonlyArray<ForwardCall>

  beforeAll(async () => {
    const checkpoint = await Effect.runPromise(loadCheckpoint(goldenDir))
    model = { config: checkpoint.config, params: checkpoint.params }
    golden = await readGolden()
    calls = (JSON.parse(readFileSync(goldenFile("inputs.json"), "utf8")) as { calls: Array<ForwardCall> }).calls
  })

  afterAll(() => {
    if (model !== undefined) disposeParameters(model.params)
  })

  it("the native kernels are loaded here, so auto resolves to fused", () => {
    expect(resolveAttentionPath("auto")).toBe("fused")
  })

  for (const attention of ["fused", "reference"] as const)
    it(`${attention}: logits within 1e-4, the reference's attended sets and experts, every call`, () => {
      const outputs = runForwardCalls(model, calls, undefined, attention)
      for (const call of calls) {
        const logits = outputs.get(`${call.name}.logits`)?.dataSync() as Float32Array
        expect(allcloseExcess(logits, floats(golden.get(`${call.name}.logits`))), call.name).toBeLessThanOrEqual(0)
        for (let l = 0; l < model.config.n_layers; l++) {
          const name = `${call.name}.layers.${l}.indexer.attend_mask`
          const expected = golden.get(name)
          const width = expected?.shape[2] as number
          expect(maskRows(outputs.get(name)?.dataSync() ?? [], width), name).toEqual(maskRows(floats(expected), width))
        }
        for (let l = model.config.n_dense_layers; l < model.config.n_layers; l++) {
          const name = `${call.name}.layers.${l}.gate.dense_weights`
          const e = model.config.n_routed_experts
          expect(maskRows(outputs.get(name)?.dataSync() ?? [], e), name).toEqual(maskRows(floats(golden.get(name)), e))
        }
      }
      tf.dispose([...outputs.values()])
    })

  it("fused runs the DSA layer for the 32-token prefill (E = 32 > 8 = index_topk) and every decode", () => {
    const cache = createModelCache(model.config, 2)
    const paths = calls.map((call) => {
      const tokens = tf.tensor2d(call.tokens.flat(), [2, call.tokens[0]?.length as number], "int32")
      const result = forward(model, tokens, { cache, startPos: call.start_pos, capture: true, attention: "fused" })
      tokens.dispose()
      const path = result.layers?.map((layer) => layer.path)
      disposeForward(result)
      return path
    })
    disposeModelCache(cache)
    for (const path of paths) expect(path).toEqual(["dsa", "dsa", "dsa"])
  })
})

const config = decodeModelConfig({
  vocab_size: 64,
  dim: 32,
  inter_dim: 48,
  moe_inter_dim: 16,
  n_layers: 2,
  n_dense_layers: 1,
  n_heads: 4,
  n_routed_experts: 4,
  n_shared_experts: 1,
  n_activated_experts: 2,
  n_expert_groups: 2,
  n_limited_groups: 1,
  score_func: "sigmoid",
  route_scale: 2.5,
  q_lora_rank: 16,
  kv_lora_rank: 16,
  qk_nope_head_dim: 8,
  qk_rope_head_dim: 4,
  v_head_dim: 8,
  index_n_heads: 2,
  index_head_dim: 8,
  index_topk: 4,
  max_seq_len: 64,
})

interface Step {
  readonly tokens: number
  readonly startPos: ReadonlyArray<number>
  readonly validLengths: ReadonlyArray<number>
}

/** Prefill of uneven prompts, a second chunk at non-zero, uneven starts, then 3-token and 1-token decodes. */
const randomSteps = (rng: Rng, batch: number): Array<Step> => {
  const lengths = Array.from({ length: batch }, () => rng.int(1, 12))
  const steps: Array<Step> = []
  const push = (tokens: number, valid: (b: number) => number) => {
    const validLengths = lengths.map((_, b) => valid(b))
    steps.push({ tokens, startPos: [...lengths], validLengths })
    validLengths.forEach((v, b) => {
      lengths[b] = (lengths[b] as number) + v
    })
  }
  const first = [...lengths]
  lengths.fill(0)
  push(Math.max(...first), (b) => first[b] as number)
  push(9, () => rng.int(0, 10))
  push(3, () => rng.int(1, 4))
  for (let i = 0; i < 3; i++) push(1, () => 1)
  return steps
}

/** Logits, selected sets and experts of every step on one path. */
const runSteps = (model: Model, steps: ReadonlyArray<Step>, attention: "fused" | "reference", seed: number) => {
  const batch = steps[0]?.startPos.length as number
  const cache: ModelCache = createModelCache(model.config, batch)
  const rng = Rng.make(seed)
  const out = steps.map((step) => {
    const ids = Int32Array.from({ length: batch * step.tokens }, () => rng.int(0, model.config.vocab_size))
    const tokens = tf.tensor2d(ids, [batch, step.tokens], "int32")
    const result: ForwardResult = forward(model, tokens, {
      cache,
      startPos: step.startPos,
      validLengths: step.validLengths,
      logits: "all",
      capture: true,
      attention,
    })
    tokens.dispose()
    const logits = result.logits.arraySync() as Array<Array<Array<number>>>
    const valid = (b: number, t: number) => t < (step.validLengths[b] as number)
    const record = {
      logits: logits.flatMap((row, b) => row.filter((_, t) => valid(b, t)).flat()),
      sets: (result.layers ?? []).map((layer) => {
        const width = layer.indices.shape[2]
        const sets = rowSets(layer.indices.dataSync(), width)
        return sets.filter((_, r) => valid(Math.floor(r / step.tokens), r % step.tokens))
      }),
      experts: result.routing.map((ids) => rowSets(ids, model.config.n_activated_experts)),
      paths: (result.layers ?? []).map((layer) => layer.path),
    }
    disposeForward(result)
    return record
  })
  disposeModelCache(cache)
  return out
}

describe("fused vs reference on random uneven batches", () => {
  let model: Model
  beforeAll(() => {
    model = { config, params: initParameters(config, 5) }
    for (const [name, p] of model.params) if (name.endsWith(".weight") && p.rank === 2) p.assign(tf.mul(p, 4))
  })
  afterAll(() => disposeParameters(model.params))

  for (const seed of [1, 2, 3])
    it(`seed ${seed}: uneven prefill, chunk at non-zero starts, 3-token and 1-token decodes agree`, () => {
      const steps = randomSteps(Rng.make(seed), 3)
      const fused = runSteps(model, steps, "fused", seed)
      const reference = runSteps(model, steps, "reference", seed)
      fused.forEach((step, i) => {
        const ref = reference[i] as (typeof reference)[number]
        expect(allcloseExcess(step.logits, ref.logits), `step ${i}`).toBeLessThanOrEqual(0)
        expect(step.sets, `step ${i}`).toEqual(ref.sets)
        expect(step.experts, `step ${i}`).toEqual(ref.experts)
        expect(ref.paths.every((p) => p === "reference")).toBe(true)
      })
      expect(fused.every((step) => step.paths.every((p) => p === "dsa"))).toBe(true)
    })
})
