/**
 * Random attention weights for tests, benchmarks and from-scratch training: every linear weight
 * W ~ N(0, 1/fan_in) (so activations keep their scale), norm weights 1, the k_norm bias 0. Seeded, reproducible.
 */
import * as tf from "@tensorflow/tfjs"
import type { AttentionConfig } from "./config.ts"
import { type AttentionWeights, attentionWeightShapes, disposeAbsorbedProjections } from "./weights.ts"

/** Fresh weights for one block's attention; `seed` makes them reproducible (each tensor uses seed + its rank). */
export const randomAttentionWeights = (config: AttentionConfig, seed = 0): AttentionWeights => {
  const shapes = attentionWeightShapes(config)
  let next = seed
  const normal = (name: keyof typeof shapes) => {
    const [out, fanIn] = shapes[name] as readonly [number, number]
    return tf.randomNormal([out, fanIn], 0, fanIn ** -0.5, "float32", next++) as tf.Tensor2D
  }
  const filled = (name: keyof typeof shapes, value: number) =>
    tf.fill([shapes[name][0] as number], value) as tf.Tensor1D
  return {
    wq_a: normal("wq_a.weight"),
    q_norm: filled("q_norm.weight", 1),
    wq_b: normal("wq_b.weight"),
    wkv_a: normal("wkv_a.weight"),
    kv_norm: filled("kv_norm.weight", 1),
    wkv_b: normal("wkv_b.weight"),
    wo: normal("wo.weight"),
    indexer: {
      wq_b: normal("indexer.wq_b.weight"),
      wk: normal("indexer.wk.weight"),
      k_norm_weight: filled("indexer.k_norm.weight", 1),
      k_norm_bias: filled("indexer.k_norm.bias", 0),
      weights_proj: normal("indexer.weights_proj.weight"),
    },
  }
}

/** Disposes every tensor of a weights record. */
export const disposeAttentionWeights = (weights: AttentionWeights): void => {
  const { indexer, ...mla } = weights
  disposeAbsorbedProjections(weights.wkv_b)
  for (const t of [...Object.values(mla), ...Object.values(indexer)]) t.dispose()
}
