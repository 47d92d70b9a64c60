/**
 * Named model configurations for fresh training runs (reference `ModelArgs` names). The vocabulary size is set
 * from the tokenizer when a run starts. Every one keeps the full V3.2 structure — MLA with DSA, a dense first
 * block, DeepSeekMoE after — at a size a laptop CPU trains in minutes.
 */
import type { ModelConfig } from "./config.ts"

type Preset = Omit<ModelConfig, "vocab_size">

/** ~0.4 M parameters (with the 263-token byte vocabulary): the `ds train` addition demo and its accuracy test. */
export const tinyPreset: Preset = {
  max_batch_size: 64,
  max_seq_len: 64,
  dtype: "fp32",
  scale_fmt: null,
  dim: 96,
  inter_dim: 192,
  moe_inter_dim: 96,
  n_layers: 2,
  n_dense_layers: 1,
  n_heads: 8,
  n_routed_experts: 4,
  n_shared_experts: 1,
  n_activated_experts: 2,
  n_expert_groups: 2,
  n_limited_groups: 2,
  score_func: "sigmoid",
  route_scale: 1,
  q_lora_rank: 32,
  kv_lora_rank: 32,
  qk_nope_head_dim: 16,
  qk_rope_head_dim: 8,
  v_head_dim: 16,
  original_seq_len: 4096,
  rope_theta: 10000,
  rope_factor: 40,
  beta_fast: 32,
  beta_slow: 1,
  mscale: 1,
  index_n_heads: 2,
  index_head_dim: 16,
  index_topk: 16,
}

/** ~3 M parameters: the benchmark config and small SFT runs. */
export const smallPreset: Preset = {
  ...tinyPreset,
  max_seq_len: 256,
  dim: 256,
  inter_dim: 512,
  moe_inter_dim: 128,
  n_layers: 4,
  n_heads: 8,
  n_routed_experts: 8,
  n_activated_experts: 2,
  n_expert_groups: 2,
  n_limited_groups: 1,
  q_lora_rank: 96,
  kv_lora_rank: 64,
  qk_nope_head_dim: 32,
  qk_rope_head_dim: 16,
  v_head_dim: 32,
  index_n_heads: 4,
  index_head_dim: 32,
  index_topk: 64,
}

/**
 * ~0.1 M parameters for contexts up to 1,024 tokens with top-32 selection: the DSA demo (`ds dsa-demo`, the needle
 * task of training/needle-task.ts). One block with a dense FFN and no MoE: the attention is what it shows.
 */
export const longPreset: Preset = {
  ...tinyPreset,
  max_seq_len: 1024,
  dim: 64,
  inter_dim: 128,
  n_layers: 1,
  n_dense_layers: 1,
  n_heads: 2,
  index_topk: 32,
}

export const presets = { tiny: tinyPreset, small: smallPreset, long: longPreset } as const
export type PresetName = keyof typeof presets
