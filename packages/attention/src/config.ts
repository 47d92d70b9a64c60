/**
 * Attention configuration: the fields of the reference `ModelArgs` (DeepSeek-V3.2 `inference/model.py`,
 * docs/attention.md §2) that MLA, the lightning indexer and RoPE read, under the reference's own snake_case
 * names, so a reference `config.json` (or `@ds/model`'s `ModelConfig`) can be passed unchanged.
 *
 * Derived quantities:
 *   qk_head_dim   = qk_nope_head_dim + qk_rope_head_dim                     (192 at 671B)
 *   kv entry dim  = kv_lora_rank + qk_rope_head_dim                         (576: the MQA-mode cache row)
 *   softmax scale = qk_head_dim^-½ · mscale_yarn²  (mscale_yarn applies only when max_seq_len > original_seq_len)
 */
import { ConfigError } from "@ds/core"

/** The reference `ModelArgs` fields the attention layer uses (reference names; see docs/attention.md §2 for 671B). */
export interface AttentionConfig {
  /** Model width (7168 at 671B). */
  readonly dim: number
  /** Attention heads H (128). */
  readonly n_heads: number
  /** Query latent rank (1536). The V3.2 indexer reads this latent, so it must be >= 1. */
  readonly q_lora_rank: number
  /** KV latent rank (512): the per-token cache entry c_KV. */
  readonly kv_lora_rank: number
  /** Per-head non-positional query/key dims (128). */
  readonly qk_nope_head_dim: number
  /** Rotary dims, shared by MLA and the indexer (64). */
  readonly qk_rope_head_dim: number
  /** Per-head value dims (128). */
  readonly v_head_dim: number
  /** Indexer heads H_I (64). */
  readonly index_n_heads: number
  /** Indexer head dim d_I (128). */
  readonly index_head_dim: number
  /** Tokens selected per query k (2048). */
  readonly index_topk: number
  /** RoPE base (10000). */
  readonly rope_theta: number
  /** YaRN scale factor s (40). */
  readonly rope_factor: number
  /** Context the base model was trained at (4096); YaRN applies when max_seq_len exceeds it. */
  readonly original_seq_len: number
  /** YaRN ramp bounds in rotations (32 and 1). */
  readonly beta_fast: number
  readonly beta_slow: number
  /** YaRN attention-temperature multiplier (1.0). */
  readonly mscale: number
  /** Longest sequence served (16384 in the demo; 163840 = 4096·40 at most). Also the default KV-cache capacity. */
  readonly max_seq_len: number
}

const integerFields = [
  "dim",
  "n_heads",
  "q_lora_rank",
  "kv_lora_rank",
  "qk_nope_head_dim",
  "qk_rope_head_dim",
  "v_head_dim",
  "index_n_heads",
  "index_head_dim",
  "index_topk",
  "original_seq_len",
  "max_seq_len",
] as const satisfies ReadonlyArray<keyof AttentionConfig>

const positiveFields = ["rope_theta", "rope_factor", "beta_fast", "beta_slow"] as const

/** Checks the fields attention relies on; throws `ConfigError` naming the first bad field. Returns its input. */
export const checkAttentionConfig = <C extends AttentionConfig>(config: C): C => {
  for (const field of integerFields) {
    const value = config[field]
    if (!Number.isInteger(value) || value < 1)
      throw new ConfigError({ field, reason: `must be an integer >= 1, got ${value}` })
  }
  for (const field of positiveFields) {
    const value = config[field]
    if (!(Number.isFinite(value) && value > 0))
      throw new ConfigError({ field, reason: `must be a finite number > 0, got ${value}` })
  }
  if (!Number.isFinite(config.mscale))
    throw new ConfigError({ field: "mscale", reason: `must be finite, got ${config.mscale}` })
  if (config.qk_rope_head_dim % 2 !== 0)
    throw new ConfigError({
      field: "qk_rope_head_dim",
      reason: `must be even (RoPE rotates pairs), got ${config.qk_rope_head_dim}`,
    })
  if (config.index_head_dim < config.qk_rope_head_dim)
    throw new ConfigError({
      field: "index_head_dim",
      reason: `must be >= qk_rope_head_dim (${config.qk_rope_head_dim}): the indexer ropes its first qk_rope_head_dim dims`,
    })
  return config
}

/** qk_nope_head_dim + qk_rope_head_dim: the MHA-mode query/key head size. */
export const qkHeadDim = (config: AttentionConfig): number => config.qk_nope_head_dim + config.qk_rope_head_dim

/** kv_lora_rank + qk_rope_head_dim: one MQA-mode cache row [c_KV ; k_rope], shared by every head. */
export const kvEntryDim = (config: AttentionConfig): number => config.kv_lora_rank + config.qk_rope_head_dim

/** Whether the YaRN frequency ramp and temperature apply (the reference: `max_seq_len > original_seq_len`). */
export const yarnEnabled = (config: AttentionConfig): boolean => config.max_seq_len > config.original_seq_len

/** YaRN attention temperature 0.1·mscale·ln(factor) + 1 when YaRN applies, else 1 (docs/attention.md §7). */
export const yarnMscale = (config: AttentionConfig): number =>
  yarnEnabled(config) ? 0.1 * config.mscale * Math.log(config.rope_factor) + 1 : 1

/** MLA softmax scale qk_head_dim^-½ · mscale² (0.135234 at 671B; docs/attention.md §2). */
export const mlaSoftmaxScale = (config: AttentionConfig): number => qkHeadDim(config) ** -0.5 * yarnMscale(config) ** 2

/** Indexer head-weight scale H_I^-½ · d_I^-½ (docs/attention.md §3: `weights_proj(x)·n_heads^-½·softmax_scale`). */
export const indexerWeightScale = (config: AttentionConfig): number =>
  config.index_n_heads ** -0.5 * config.index_head_dim ** -0.5
