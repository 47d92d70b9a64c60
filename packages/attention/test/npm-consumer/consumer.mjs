/**
 * A plain-npm consumer of the published packages (run by ../npm-consumer.test.ts in a scratch project outside
 * the workspace): no TypeScript, no `@ds/source` condition, only what the tarballs and their peers provide.
 *
 * Sparse attention (docs/attention.md): the lightning indexer scores keys, top-k keeps K per query, and sparse MLA
 * attention attends to those K rows only. It must equal dense attention restricted to the same keys:
 *   sparse(q, kv, topk(I, K)) = dense(q, kv, mask(topk(I, K)))   and, when K >= the row length,
 *   sparse(q, kv, topk(I, K)) = dense(q, kv, causal).
 * Prints one JSON line with the backend, both differences and a tiny @ds/model forward's logits shape.
 */

import {
  denseMlaAttention,
  indexerScores,
  indicesToMask,
  prefixMask,
  sparseMlaAttention,
  topkIndices,
} from "@ds/attention"
import { initBackend } from "@ds/core"
import { disposeForward, disposeParameters, forward, initParameters, parseModelConfig, tinyPreset } from "@ds/model"
import * as tf from "@tensorflow/tfjs"

const info = await initBackend()

const [batch, tokens, keys, heads, latent, rope, indexHeads, indexDim] = [1, 3, 8, 2, 16, 8, 2, 8]
const scale = 1 / Math.sqrt(latent + rope)
const maxDiff = (a, b) => tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0])

const attention = tf.tidy(() => {
  const q = tf.randomNormal([batch, tokens, heads, latent + rope], 0, 1, "float32", 1)
  const kv = tf.randomNormal([batch, keys, latent + rope], 0, 1, "float32", 2)
  const indexQ = tf.randomNormal([batch, tokens, indexHeads, indexDim], 0, 1, "float32", 3)
  const indexW = tf.randomNormal([batch, tokens, indexHeads], 0, 1, "float32", 4)
  const indexK = tf.randomNormal([batch, keys, indexDim], 0, 1, "float32", 5)
  // The last `tokens` positions of a `keys`-long sequence: query t sees keys 0..keys-tokens+t.
  const lengths = tf.tensor2d(
    [Array.from({ length: tokens }, (_, t) => keys - tokens + t + 1)],
    [batch, tokens],
    "int32",
  )
  const scores = indexerScores(indexQ, indexW, indexK)

  const all = topkIndices(scores, lengths, keys)
  const sparseAll = sparseMlaAttention(q, kv, all, scale, latent).output
  const denseCausal = denseMlaAttention(q, kv, prefixMask(lengths, keys), scale, latent).output

  const top4 = topkIndices(scores, lengths, 4)
  const sparse4 = sparseMlaAttention(q, kv, top4, scale, latent).output
  const dense4 = denseMlaAttention(q, kv, indicesToMask(top4, keys), scale, latent).output
  return {
    full: maxDiff(sparseAll, denseCausal),
    topk: maxDiff(sparse4, dense4),
    topkShape: top4.shape,
    outputShape: sparse4.shape,
  }
})

const config = parseModelConfig({ ...tinyPreset, vocab_size: 32 })
const params = initParameters(config, 0)
const tokensIn = tf.tensor2d([[1, 2, 3, 4, 5]], [1, 5], "int32")
const result = forward({ config, params }, tokensIn)
const logits = await result.logits.data()
const model = { logitsShape: result.logits.shape, finite: logits.every(Number.isFinite) }
disposeForward(result)
disposeParameters(params)
tokensIn.dispose()

console.log(JSON.stringify({ backend: info.name, native: info.fastKernels.native, attention, model }))
