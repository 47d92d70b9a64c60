/**
 * Model configuration: the reference `ModelArgs` of DeepSeek-V3.2's `inference/model.py` (docs/model.md §5, docs/attention.md §2),
 * with the reference's own field names, so a `config.json` written by the reference loads unchanged.
 *
 * Missing fields take the `ModelArgs` defaults (as `ModelArgs(**config)` does). A Hugging Face `config.json` for
 * DeepSeek-V3 / V3.2 (`hidden_size`, `num_hidden_layers`, `rope_scaling`, ...) is recognised and mapped.
 * A malformed or inconsistent value is a `ConfigError` naming the field.
 *
 * Deviation: `dtype` and `scale_fmt` are kept for round-tripping but computation is always float32.
 */
import { ConfigError, decodeConfigSync, withDefault } from "@ds/core"
import { Schema } from "effect"

const PositiveInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))
const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const PositiveNumber = Schema.Finite.check(Schema.isGreaterThan(0))

/** The reference `ModelArgs` (defaults as in DeepSeek-V3.2-Exp `inference/model.py`). */
export const ModelConfigSchema = Schema.Struct({
  /** Runtime buffer sizes of the reference (KV cache capacity). */
  max_batch_size: withDefault(PositiveInt, 8),
  max_seq_len: withDefault(PositiveInt, 16384),
  /** Weight dtype of the reference checkpoint; computation here is float32 regardless. */
  dtype: withDefault(Schema.Literals(["bf16", "fp8", "fp32", "f32", "float32"]), "bf16"),
  /** FP8 scale format of the reference ("ue8m0" or null); unused in float32. */
  scale_fmt: withDefault(Schema.NullOr(Schema.String), null),
  vocab_size: withDefault(PositiveInt, 102400),
  dim: withDefault(PositiveInt, 2048),
  /** Hidden width of the dense SwiGLU FFN (first `n_dense_layers` blocks). */
  inter_dim: withDefault(PositiveInt, 10944),
  /** Hidden width of each routed expert (and, times `n_shared_experts`, of the shared expert). */
  moe_inter_dim: withDefault(PositiveInt, 1408),
  n_layers: withDefault(PositiveInt, 27),
  n_dense_layers: withDefault(NonNegativeInt, 1),
  n_heads: withDefault(PositiveInt, 16),
  n_routed_experts: withDefault(PositiveInt, 64),
  n_shared_experts: withDefault(NonNegativeInt, 2),
  n_activated_experts: withDefault(PositiveInt, 6),
  n_expert_groups: withDefault(PositiveInt, 1),
  n_limited_groups: withDefault(PositiveInt, 1),
  score_func: withDefault(Schema.Literals(["sigmoid", "softmax"]), "softmax"),
  route_scale: withDefault(PositiveNumber, 1),
  q_lora_rank: withDefault(NonNegativeInt, 0),
  kv_lora_rank: withDefault(PositiveInt, 512),
  qk_nope_head_dim: withDefault(PositiveInt, 128),
  qk_rope_head_dim: withDefault(PositiveInt, 64),
  v_head_dim: withDefault(PositiveInt, 128),
  original_seq_len: withDefault(PositiveInt, 4096),
  rope_theta: withDefault(PositiveNumber, 10000),
  rope_factor: withDefault(PositiveNumber, 40),
  beta_fast: withDefault(PositiveNumber, 32),
  beta_slow: withDefault(PositiveNumber, 1),
  mscale: withDefault(Schema.Finite, 1),
  index_n_heads: withDefault(PositiveInt, 64),
  index_head_dim: withDefault(PositiveInt, 128),
  index_topk: withDefault(PositiveInt, 2048),
})

/** A validated model configuration with the reference field names. */
export type ModelConfig = typeof ModelConfigSchema.Type

const fail = (field: string, reason: string): never => {
  throw new ConfigError({ field, reason })
}

/** Cross-field rules the reference assumes but never checks. */
const checkConsistency = (c: ModelConfig): ModelConfig => {
  if (c.qk_rope_head_dim % 2 !== 0)
    fail("qk_rope_head_dim", `must be even (RoPE rotates pairs), got ${c.qk_rope_head_dim}`)
  if (c.index_head_dim < c.qk_rope_head_dim)
    fail(
      "index_head_dim",
      `must be >= qk_rope_head_dim (${c.qk_rope_head_dim}): the indexer ropes its first qk_rope_head_dim dims`,
    )
  if (c.q_lora_rank < 1)
    fail("q_lora_rank", "must be >= 1: the V3.2 indexer reads the query latent, so the query LoRA is required")
  if (c.n_dense_layers > c.n_layers)
    fail("n_dense_layers", `must be <= n_layers (${c.n_layers}), got ${c.n_dense_layers}`)
  if (c.n_activated_experts > c.n_routed_experts)
    fail("n_activated_experts", `must be <= n_routed_experts (${c.n_routed_experts}), got ${c.n_activated_experts}`)
  if (c.n_routed_experts % c.n_expert_groups !== 0)
    fail("n_expert_groups", `must divide n_routed_experts (${c.n_routed_experts}), got ${c.n_expert_groups}`)
  if (c.n_limited_groups > c.n_expert_groups)
    fail(
      "n_limited_groups",
      `top-k groups must be <= n_expert_groups (${c.n_expert_groups}), got ${c.n_limited_groups}`,
    )
  const reachable = c.n_limited_groups * (c.n_routed_experts / c.n_expert_groups)
  if (c.n_activated_experts > reachable)
    fail(
      "n_activated_experts",
      `must be <= n_limited_groups x experts per group (${reachable}), got ${c.n_activated_experts}`,
    )
  if (c.beta_fast <= c.beta_slow) fail("beta_fast", `must be > beta_slow (${c.beta_slow}), got ${c.beta_fast}`)
  if (c.rope_factor < 1) fail("rope_factor", `must be >= 1, got ${c.rope_factor}`)
  return c
}

/** Validates a config object with reference names; throws `ConfigError` naming the first bad field. */
export const decodeModelConfig = (input: unknown): ModelConfig => {
  if (typeof input !== "object" || input === null || Array.isArray(input))
    return fail("(root)", "expected a JSON object")
  return checkConsistency(decodeConfigSync(ModelConfigSchema, input))
}

/** Hugging Face `config.json` field -> reference field (DeepseekV3Config / DeepseekV32Config). */
const hfFieldNames: Readonly<Record<string, keyof ModelConfig>> = {
  vocab_size: "vocab_size",
  hidden_size: "dim",
  intermediate_size: "inter_dim",
  moe_intermediate_size: "moe_inter_dim",
  num_hidden_layers: "n_layers",
  first_k_dense_replace: "n_dense_layers",
  num_attention_heads: "n_heads",
  n_routed_experts: "n_routed_experts",
  n_shared_experts: "n_shared_experts",
  num_experts_per_tok: "n_activated_experts",
  n_group: "n_expert_groups",
  topk_group: "n_limited_groups",
  scoring_func: "score_func",
  routed_scaling_factor: "route_scale",
  q_lora_rank: "q_lora_rank",
  kv_lora_rank: "kv_lora_rank",
  qk_nope_head_dim: "qk_nope_head_dim",
  qk_rope_head_dim: "qk_rope_head_dim",
  v_head_dim: "v_head_dim",
  rope_theta: "rope_theta",
  max_position_embeddings: "max_seq_len",
  index_n_heads: "index_n_heads",
  index_head_dim: "index_head_dim",
  index_topk: "index_topk",
}

/** HF fields that carry no information the reference model uses (ignored on purpose). */
const hfIgnoredFields = new Set([
  "architectures",
  "auto_map",
  "model_type",
  "torch_dtype",
  "dtype",
  "transformers_version",
  "bos_token_id",
  "eos_token_id",
  "pad_token_id",
  "tie_word_embeddings",
  "use_cache",
  "attention_bias",
  "attention_dropout",
  "hidden_act",
  "initializer_range",
  "num_key_value_heads",
  "num_nextn_predict_layers",
  "ep_size",
  "moe_layer_freq",
  "norm_topk_prob",
  "pretraining_tp",
  "quantization_config",
  "rms_norm_eps",
  "aux_loss_alpha",
  "seq_aux",
  "topk_method",
  "head_dim",
  "rope_interleave",
  "rope_parameters",
])

/** True when the object uses Hugging Face names (a reference config never has `hidden_size`). */
export const isHuggingFaceConfig = (input: unknown): boolean =>
  typeof input === "object" && input !== null && ("hidden_size" in input || "num_hidden_layers" in input)

const mapRopeScaling = (scaling: unknown, out: Record<string, unknown>): void => {
  if (scaling === null || scaling === undefined) {
    // No YaRN: the reference applies YaRN only when max_seq_len > original_seq_len.
    out.original_seq_len = out.max_seq_len ?? 4096
    out.rope_factor = 1
    return
  }
  if (typeof scaling !== "object") fail("rope_scaling", "expected an object or null")
  const s = scaling as Record<string, unknown>
  const kind = s.type ?? s.rope_type
  if (kind !== undefined && kind !== "yarn")
    fail("rope_scaling.type", `only "yarn" is supported, got ${JSON.stringify(kind)}`)
  if (s.factor !== undefined) out.rope_factor = s.factor
  if (s.original_max_position_embeddings !== undefined) out.original_seq_len = s.original_max_position_embeddings
  if (s.beta_fast !== undefined) out.beta_fast = s.beta_fast
  if (s.beta_slow !== undefined) out.beta_slow = s.beta_slow
  // The reference's softmax-scale mscale is HF's `mscale_all_dim` (HF's `mscale` scales cos/sin, equal to it in V3).
  const mscale = s.mscale_all_dim ?? s.mscale
  if (mscale !== undefined) out.mscale = mscale
}

/** Maps a Hugging Face DeepSeek-V3 / V3.2 `config.json` to reference names (then validates). */
export const fromHuggingFaceConfig = (input: Record<string, unknown>): ModelConfig => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(input)) {
    const target = hfFieldNames[key]
    if (target !== undefined) out[target] = value
    else if (key !== "rope_scaling" && !hfIgnoredFields.has(key)) fail(key, "unknown Hugging Face config field")
  }
  if (input.n_shared_experts === null) out.n_shared_experts = 0
  if (input.q_lora_rank === null) out.q_lora_rank = 0
  mapRopeScaling(input.rope_scaling, out)
  if (input.norm_topk_prob === false && out.score_func === "sigmoid")
    fail("norm_topk_prob", "the reference always renormalises sigmoid routing weights; false is not supported")
  return decodeModelConfig(out)
}

/** Parses a `config.json` object in either naming; throws `ConfigError` naming the bad field. */
export const parseModelConfig = (input: unknown): ModelConfig =>
  isHuggingFaceConfig(input) ? fromHuggingFaceConfig(input as Record<string, unknown>) : decodeModelConfig(input)

/** Derived sizes used across the model. */
export const isMoeLayer = (config: ModelConfig, layer: number): boolean => layer >= config.n_dense_layers

/** The config as written to a checkpoint's `config.json` (reference names, every field explicit). */
export const encodeModelConfig = (config: ModelConfig): Record<string, unknown> => ({ ...config })

/** The config under Hugging Face DeepseekV32Config names (for exporting a checkpoint the HF ecosystem reads). */
export const toHuggingFaceConfig = (c: ModelConfig): Record<string, unknown> => {
  const out: Record<string, unknown> = { architectures: ["DeepseekV32ForCausalLM"], model_type: "deepseek_v32" }
  for (const [hf, ref] of Object.entries(hfFieldNames)) out[hf] = c[ref]
  out.rope_scaling =
    c.max_seq_len > c.original_seq_len
      ? {
          type: "yarn",
          factor: c.rope_factor,
          original_max_position_embeddings: c.original_seq_len,
          beta_fast: c.beta_fast,
          beta_slow: c.beta_slow,
          mscale: c.mscale,
          mscale_all_dim: c.mscale,
        }
      : null
  out.rms_norm_eps = 1e-6
  out.norm_topk_prob = true
  out.topk_method = "noaux_tc"
  out.num_nextn_predict_layers = 0
  return out
}
