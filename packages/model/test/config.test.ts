import { readFileSync } from "node:fs"
import { ConfigError } from "@ds/core"
import { describe, expect, it } from "vitest"
import { decodeModelConfig, parseModelConfig } from "../src/config.ts"
import { goldenFile } from "./golden-fixture.ts"

const base = {
  vocab_size: 512,
  dim: 64,
  inter_dim: 96,
  moe_inter_dim: 32,
  n_layers: 3,
  n_dense_layers: 1,
  n_heads: 4,
  n_routed_experts: 8,
  n_shared_experts: 1,
  n_activated_experts: 2,
  n_expert_groups: 2,
  n_limited_groups: 1,
  score_func: "sigmoid",
  route_scale: 2.5,
  q_lora_rank: 32,
  kv_lora_rank: 32,
  qk_nope_head_dim: 16,
  qk_rope_head_dim: 8,
  v_head_dim: 16,
  index_n_heads: 16,
  index_head_dim: 32,
  index_topk: 8,
  max_seq_len: 64,
}

const fieldOf = (f: () => unknown): string | undefined => {
  try {
    f()
  } catch (error) {
    if (error instanceof ConfigError) return error.field
    throw error
  }
  return undefined
}

describe("model config", () => {
  it("the reference config.json decodes unchanged", () => {
    const raw = JSON.parse(readFileSync(goldenFile("config.json"), "utf8"))
    expect(decodeModelConfig(raw)).toEqual(raw)
  })

  it("missing fields take the reference ModelArgs defaults", () => {
    const c = decodeModelConfig({ q_lora_rank: 64 })
    expect(c.dim).toBe(2048)
    expect(c.rope_factor).toBe(40)
    expect(c.index_topk).toBe(2048)
    expect(c.scale_fmt).toBeNull()
  })

  it("a bad or inconsistent value is a ConfigError naming the field", () => {
    expect(fieldOf(() => decodeModelConfig({ ...base, qk_rope_head_dim: 7 }))).toBe("qk_rope_head_dim")
    expect(fieldOf(() => decodeModelConfig({ ...base, n_limited_groups: 3 }))).toBe("n_limited_groups")
    expect(fieldOf(() => decodeModelConfig({ ...base, n_expert_groups: 3 }))).toBe("n_expert_groups")
    expect(fieldOf(() => decodeModelConfig({ ...base, n_activated_experts: 5 }))).toBe("n_activated_experts")
    expect(fieldOf(() => decodeModelConfig({ ...base, dim: 0 }))).toBe("dim")
    expect(fieldOf(() => decodeModelConfig({ ...base, dim: "64" }))).toBe("dim")
    expect(fieldOf(() => decodeModelConfig({ ...base, score_func: "relu" }))).toBe("score_func")
    expect(fieldOf(() => decodeModelConfig({ ...base, n_dense_layers: 4 }))).toBe("n_dense_layers")
    expect(fieldOf(() => decodeModelConfig({ ...base, q_lora_rank: 0 }))).toBe("q_lora_rank")
    expect(fieldOf(() => decodeModelConfig({ ...base, typo_field: 1 }))).toBe("typo_field")
  })

  it("a Hugging Face DeepSeek-V3.2 config.json maps to the reference fields", () => {
    const hf = {
      architectures: ["DeepseekV32ForCausalLM"],
      model_type: "deepseek_v32",
      vocab_size: 129280,
      hidden_size: 7168,
      intermediate_size: 18432,
      moe_intermediate_size: 2048,
      num_hidden_layers: 61,
      first_k_dense_replace: 3,
      num_attention_heads: 128,
      num_key_value_heads: 128,
      n_routed_experts: 256,
      n_shared_experts: 1,
      num_experts_per_tok: 8,
      n_group: 8,
      topk_group: 4,
      scoring_func: "sigmoid",
      routed_scaling_factor: 2.5,
      norm_topk_prob: true,
      q_lora_rank: 1536,
      kv_lora_rank: 512,
      qk_nope_head_dim: 128,
      qk_rope_head_dim: 64,
      v_head_dim: 128,
      max_position_embeddings: 163840,
      rope_theta: 10000,
      rms_norm_eps: 1e-6,
      num_nextn_predict_layers: 1,
      topk_method: "noaux_tc",
      index_n_heads: 64,
      index_head_dim: 128,
      index_topk: 2048,
      torch_dtype: "bfloat16",
      rope_scaling: {
        type: "yarn",
        factor: 40,
        original_max_position_embeddings: 4096,
        beta_fast: 32,
        beta_slow: 1,
        mscale: 1,
        mscale_all_dim: 1,
      },
    }
    const c = parseModelConfig(hf)
    expect(c).toMatchObject({
      dim: 7168,
      inter_dim: 18432,
      moe_inter_dim: 2048,
      n_layers: 61,
      n_dense_layers: 3,
      n_heads: 128,
      n_routed_experts: 256,
      n_activated_experts: 8,
      n_expert_groups: 8,
      n_limited_groups: 4,
      score_func: "sigmoid",
      route_scale: 2.5,
      max_seq_len: 163840,
      original_seq_len: 4096,
      rope_factor: 40,
      mscale: 1,
      index_topk: 2048,
    })
    expect(fieldOf(() => parseModelConfig({ ...hf, topk_group: 9 }))).toBe("n_limited_groups")
    expect(fieldOf(() => parseModelConfig({ ...hf, rope_scaling: { type: "linear", factor: 2 } }))).toBe(
      "rope_scaling.type",
    )
  })
})
