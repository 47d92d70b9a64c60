/**
 * The model's parameters: every name and shape of the reference `Transformer.state_dict()` (golden README,
 * "Parameter naming and shapes"), and their initialisation.
 *
 *   embed.weight [V, dim]   head.weight [V, dim]   norm.weight [dim]
 *   layers.{l}.attn_norm.weight, ffn_norm.weight [dim]
 *   layers.{l}.attn.wq_a [q_lora, dim]  q_norm [q_lora]  wq_b [H·(nope+rope), q_lora]
 *   layers.{l}.attn.wkv_a [kv_lora+rope, dim]  kv_norm [kv_lora]  wkv_b [H·(nope+v), kv_lora]  wo [dim, H·v]
 *   layers.{l}.attn.indexer.wq_b [H_I·d_I, q_lora]  wk [d_I, dim]  k_norm.{weight,bias} [d_I]  weights_proj [H_I, dim]
 *   dense blocks:  layers.{l}.ffn.w1, w3 [inter, dim]  w2 [dim, inter]
 *   MoE blocks:    layers.{l}.ffn.gate.weight [E, dim]  gate.bias [E]
 *                  layers.{l}.ffn.experts.{e}.w1, w3 [moe_inter, dim]  w2 [dim, moe_inter]
 *                  layers.{l}.ffn.shared_experts.w1, w3 [n_shared·moe_inter, dim]  w2 [dim, n_shared·moe_inter]
 *
 * Initialisation (a choice; DeepSeek-V3 uses N(0, 0.006²) at 671B, i.e. about 0.5/√dim): matrices
 * N(0, 1/fan_in) (fan_in = the input width, so every projection starts with unit-scale outputs and attention
 * logits of order 1 at small widths), output projections (`attn.wo`, every `w2`) further scaled by 1/√(2·n_layers)
 * as in GPT-2, the embedding N(0, 1) (it feeds an RMSNorm), norm weights 1, norm biases and the gate bias 0.
 *
 * `gate.bias` is not trained by gradients (aux-loss-free balancing updates it, §2.5), and the indexer receives no
 * gradient from the language-modelling loss (top-k is not differentiable, §1.5): both are still variables.
 */
import { disposeAbsorbedProjections } from "@ds/attention"
import { Rng } from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import type { ModelConfig } from "./config.ts"
import { isMoeLayer } from "./config.ts"

export interface ParamSpec {
  readonly name: string
  readonly shape: ReadonlyArray<number>
  readonly init: "normal" | "output" | "embedding" | "ones" | "zeros"
}

const swiGluSpecs = (prefix: string, dim: number, hidden: number): Array<ParamSpec> => [
  { name: `${prefix}.w1.weight`, shape: [hidden, dim], init: "normal" },
  { name: `${prefix}.w2.weight`, shape: [dim, hidden], init: "output" },
  { name: `${prefix}.w3.weight`, shape: [hidden, dim], init: "normal" },
]

const attentionSpecs = (p: string, c: ModelConfig): Array<ParamSpec> => [
  { name: `${p}.wq_a.weight`, shape: [c.q_lora_rank, c.dim], init: "normal" },
  { name: `${p}.q_norm.weight`, shape: [c.q_lora_rank], init: "ones" },
  {
    name: `${p}.wq_b.weight`,
    shape: [c.n_heads * (c.qk_nope_head_dim + c.qk_rope_head_dim), c.q_lora_rank],
    init: "normal",
  },
  { name: `${p}.wkv_a.weight`, shape: [c.kv_lora_rank + c.qk_rope_head_dim, c.dim], init: "normal" },
  { name: `${p}.kv_norm.weight`, shape: [c.kv_lora_rank], init: "ones" },
  {
    name: `${p}.wkv_b.weight`,
    shape: [c.n_heads * (c.qk_nope_head_dim + c.v_head_dim), c.kv_lora_rank],
    init: "normal",
  },
  { name: `${p}.wo.weight`, shape: [c.dim, c.n_heads * c.v_head_dim], init: "output" },
  { name: `${p}.indexer.wq_b.weight`, shape: [c.index_n_heads * c.index_head_dim, c.q_lora_rank], init: "normal" },
  { name: `${p}.indexer.wk.weight`, shape: [c.index_head_dim, c.dim], init: "normal" },
  { name: `${p}.indexer.k_norm.weight`, shape: [c.index_head_dim], init: "ones" },
  { name: `${p}.indexer.k_norm.bias`, shape: [c.index_head_dim], init: "zeros" },
  { name: `${p}.indexer.weights_proj.weight`, shape: [c.index_n_heads, c.dim], init: "normal" },
]

const ffnSpecs = (p: string, c: ModelConfig, layer: number): Array<ParamSpec> => {
  if (!isMoeLayer(c, layer)) return swiGluSpecs(p, c.dim, c.inter_dim)
  const specs: Array<ParamSpec> = [
    { name: `${p}.gate.weight`, shape: [c.n_routed_experts, c.dim], init: "normal" },
    { name: `${p}.gate.bias`, shape: [c.n_routed_experts], init: "zeros" },
  ]
  for (let e = 0; e < c.n_routed_experts; e++) specs.push(...swiGluSpecs(`${p}.experts.${e}`, c.dim, c.moe_inter_dim))
  if (c.n_shared_experts > 0)
    specs.push(...swiGluSpecs(`${p}.shared_experts`, c.dim, c.n_shared_experts * c.moe_inter_dim))
  return specs
}

/** Every parameter of the model, in the reference's order. */
export const parameterSpecs = (c: ModelConfig): Array<ParamSpec> => {
  const specs: Array<ParamSpec> = [{ name: "embed.weight", shape: [c.vocab_size, c.dim], init: "embedding" }]
  for (let l = 0; l < c.n_layers; l++) {
    specs.push(...attentionSpecs(`layers.${l}.attn`, c))
    specs.push({ name: `layers.${l}.attn_norm.weight`, shape: [c.dim], init: "ones" })
    specs.push(...ffnSpecs(`layers.${l}.ffn`, c, l))
    specs.push({ name: `layers.${l}.ffn_norm.weight`, shape: [c.dim], init: "ones" })
  }
  specs.push({ name: "norm.weight", shape: [c.dim], init: "ones" })
  specs.push({ name: "head.weight", shape: [c.vocab_size, c.dim], init: "normal" })
  return specs
}

/** Parameters that gradient descent updates (everything but the gate biases). */
export const isGradientTrained = (name: string): boolean => !name.endsWith(".gate.bias")

const fanInStd = (spec: ParamSpec): number => 1 / Math.sqrt(spec.shape[1] ?? 1)

/** Initial values for `spec`, drawn from `rng` (forked per parameter name, so order does not matter). */
export const initialValue = (spec: ParamSpec, rng: Rng, nLayers: number): tf.Tensor => {
  const size = spec.shape.reduce((a, b) => a * b, 1)
  const shape = [...spec.shape]
  switch (spec.init) {
    case "ones":
      return tf.ones(shape)
    case "zeros":
      return tf.zeros(shape)
    case "embedding":
      return tf.tensor(rng.fork(spec.name).normal(size, 0, 1), shape)
    case "normal":
      return tf.tensor(rng.fork(spec.name).normal(size, 0, fanInStd(spec)), shape)
    case "output":
      return tf.tensor(rng.fork(spec.name).normal(size, 0, fanInStd(spec) / Math.sqrt(2 * nLayers)), shape)
  }
}

/** The parameters as named variables. */
export type Parameters = Map<string, tf.Variable>

/** Freshly initialised parameters for `config`, deterministic in `seed`. */
export const initParameters = (config: ModelConfig, seed: number): Parameters => {
  const rng = Rng.make(seed).fork("init")
  const params: Parameters = new Map()
  for (const spec of parameterSpecs(config)) {
    const value = initialValue(spec, rng, config.n_layers)
    params.set(spec.name, tf.variable(value, isGradientTrained(spec.name)))
    value.dispose()
  }
  return params
}

/** Disposes every parameter and what was derived from it (the attention's absorbed Wkv_b slices). */
export const disposeParameters = (params: Parameters): void => {
  for (const v of params.values()) {
    disposeAbsorbedProjections(v)
    v.dispose()
  }
}

/** Total number of scalar parameters. */
export const countParameters = (config: ModelConfig): number =>
  parameterSpecs(config).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0)
