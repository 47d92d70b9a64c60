/**
 * Hugging Face -> reference parameter names (the renames DeepSeek's `inference/convert.py` makes; golden README,
 * "Parameter naming"):
 *
 *   model.                      -> (dropped)         lm_head                  -> head
 *   self_attn -> attn           mlp -> ffn           embed_tokens -> embed
 *   input_layernorm -> attn_norm                     post_attention_layernorm -> ffn_norm
 *   q_a_proj -> wq_a   q_a_layernorm -> q_norm       q_b_proj -> wq_b
 *   kv_a_proj_with_mqa -> wkv_a   kv_a_layernorm -> kv_norm   kv_b_proj -> wkv_b   o_proj -> wo
 *   gate_proj -> w1   down_proj -> w2   up_proj -> w3          e_score_correction_bias -> bias
 *
 * The indexer's names (wq_b, wk, k_norm, weights_proj) are the same in both. Reference names pass unchanged.
 */
const segmentRenames: Readonly<Record<string, string>> = {
  self_attn: "attn",
  mlp: "ffn",
  embed_tokens: "embed",
  input_layernorm: "attn_norm",
  post_attention_layernorm: "ffn_norm",
  q_a_proj: "wq_a",
  q_a_layernorm: "q_norm",
  q_b_proj: "wq_b",
  kv_a_proj_with_mqa: "wkv_a",
  kv_a_layernorm: "kv_norm",
  kv_b_proj: "wkv_b",
  o_proj: "wo",
  gate_proj: "w1",
  down_proj: "w2",
  up_proj: "w3",
  e_score_correction_bias: "bias",
  lm_head: "head",
}

/** The reference name of a checkpoint tensor named either way. */
export const toReferenceName = (name: string): string => {
  const parts = name.split(".")
  if (parts[0] === "model") parts.shift()
  const at = parts.indexOf("indexer")
  return parts.map((p, i) => (at >= 0 && i > at ? p : (segmentRenames[p] ?? p))).join(".")
}

/** Layer index of a per-layer name (`layers.{l}.…`), else undefined. */
export const layerOf = (name: string): number | undefined => {
  const match = /^layers\.(\d+)\./.exec(name)
  return match === null ? undefined : Number(match[1])
}

/** FP8 checkpoints (DeepSeek's HF release) carry one inverse scale per 128 x 128 block of a weight. */
export const scaleSuffix = "_scale_inv"

const inverseRenames: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(segmentRenames)
    .filter(([hf]) => hf !== "e_score_correction_bias" && hf !== "lm_head")
    .map(([hf, ref]) => [ref, hf]),
)

/** The Hugging Face name of a reference parameter name (inverse of `toReferenceName`). */
export const toHuggingFaceName = (name: string): string => {
  if (name === "head.weight") return "lm_head.weight"
  const parts = name.split(".")
  const renamed = parts.map((p, i) => {
    if (p === "bias" && parts[i - 1] === "gate") return "e_score_correction_bias"
    // Inside the indexer the names are shared (wq_b, wk, k_norm, weights_proj).
    if (parts.includes("indexer") && i > parts.indexOf("indexer")) return p
    return inverseRenames[p] ?? p
  })
  return `model.${renamed.join(".")}`
}
