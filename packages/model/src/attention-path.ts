/**
 * Which attention implementation a model call runs (docs/model.md §9):
 *
 *   "reference"  @ds/attention `attentionLayer`: plain tfjs over the cache's tensor copy; the only path with
 *                gradients, so training (and every call without a KV cache) always runs it;
 *   "fused"      @ds/attention `dsaAttentionLayer`: indexer, top-k and sparse MQA attention in one native call
 *                per sequence over the in-place host cache (its tfjs fallback when the addon is missing);
 *   "auto"       "fused" when the native attention kernels are loaded, else "reference" (the default).
 *
 * Within "fused", a short chunk takes the masked-dense reference layer when that is faster (DeepSeek serves short
 * prefills with dense MHA too): `prefersDense` is a measured rule, see docs/model.md §9 for the figures.
 */
import { nativeAttention, nativeAttentionReason } from "@ds/attention"

export type AttentionPath = "auto" | "fused" | "reference"

export const attentionPaths = ["auto", "fused", "reference"] as const

let processDefault: AttentionPath = "auto"

/**
 * Sets the path of the calls that do not name one (the CLI's `--attention`, so that programs of other packages,
 * which call `generate` without the option, follow it). Returns the previous default.
 */
export const setDefaultAttentionPath = (path: AttentionPath): AttentionPath => {
  const previous = processDefault
  processDefault = path
  return previous
}

/** "fused" or "reference": what `path` (default: the process default) runs on this machine. */
export const resolveAttentionPath = (path: AttentionPath = processDefault): "fused" | "reference" =>
  path === "auto" ? (nativeAttention() === undefined ? "reference" : "fused") : path

/** One line for logs: what `path` runs and why. */
export const describeAttentionPath = (path: AttentionPath = processDefault): string => {
  const resolved = resolveAttentionPath(path)
  const native = nativeAttention() !== undefined
  const why =
    path === "auto"
      ? native
        ? "auto: native attention kernels loaded"
        : `auto: ${nativeAttentionReason() ?? "native attention kernels unavailable"}`
      : resolved === "fused" && !native
        ? `asked for; without the native kernels it runs its plain-tfjs fallback (${nativeAttentionReason() ?? "not loaded"})`
        : "asked for"
  return `${resolved} (${why}); training and calls without a KV cache run the reference path`
}

/**
 * The measured crossover of the fused path (docs/model.md §9): a multi-token chunk whose key axis E is at most
 * `DENSE_KEY_FACTOR` × index_topk takes the masked-dense reference layer. Measured with
 * `bench/context.bench.ts` (small preset, one layer, T = E = 16 .. 512): the native DSA call was faster at every
 * size (1.06x at E = 16, 2.6x at 32, 3.7x at 128, 17x at 512), so on this build no chunk is faster dense and the
 * factor is 0; a build whose dense layer wins at short E raises it from the same table.
 */
export const DENSE_KEY_FACTOR = 0

/** Whether a fused-path chunk of `tokens` new tokens over `keys` keys should take the masked-dense layer. */
export const prefersDense = (tokens: number, keys: number, indexTopk: number): boolean =>
  tokens > 1 && keys <= DENSE_KEY_FACTOR * indexTopk
