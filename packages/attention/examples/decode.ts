/**
 * Prefill 20 tokens (MHA mode with the index mask), then decode one token (absorbed MQA mode gathering only the
 * index_topk selected cache rows). Run from the repository root:
 *   pnpm tsx --conditions=@ds/source packages/attention/examples/decode.ts
 */
import { attentionLayer, createKvCache, disposeKvCache, randomAttentionWeights } from "@ds/attention"
import { initBackend } from "@ds/core"
import * as tf from "@tensorflow/tfjs"

await initBackend("wasm")
const config = {
  dim: 64,
  n_heads: 4,
  q_lora_rank: 32,
  kv_lora_rank: 32,
  qk_nope_head_dim: 16,
  qk_rope_head_dim: 8,
  v_head_dim: 16,
  index_n_heads: 16,
  index_head_dim: 32,
  index_topk: 8,
  rope_theta: 10000,
  rope_factor: 40,
  original_seq_len: 4096,
  beta_fast: 32,
  beta_slow: 1,
  mscale: 1,
  max_seq_len: 64,
}
const weights = randomAttentionWeights(config, 1)
const cache = createKvCache(config, 1)
const prompt = tf.randomNormal([1, 20, config.dim], 0, 1, "float32", 2) as tf.Tensor3D
const prefill = attentionLayer(weights, config, prompt, { cache })
const next = tf.randomNormal([1, 1, config.dim], 0, 1, "float32", 3) as tf.Tensor3D
const step = attentionLayer(weights, config, next, { cache, startPos: 20 })
console.log("prefill output", prefill.output.shape, "decode output", step.output.shape)
console.log(
  `decode attends to ${config.index_topk} of ${step.keyCount} positions:`,
  (await step.indices.array())[0]?.[0],
)
tf.dispose([prompt, next, prefill.output, prefill.indices, step.output, step.indices])
disposeKvCache(cache)
