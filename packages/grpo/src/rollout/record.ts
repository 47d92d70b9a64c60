/**
 * Rollout records (docs/grpo.md §1): one sampled completion with everything the update needs to replay the
 * sampling conditions. One JSON object per line (JSONL), OpenAI chat text under `messages`, so rollouts can be
 * produced elsewhere (vLLM returns `routed_experts`, SGLang `output_token_sampling_mask`) and trained on here.
 *
 *   completionTokens[t]   o_t                                 t = 0..C−1
 *   samplingLogps[t]      log π_old(o_t | q, o_<t), as the sampling engine computed it (temperature applied,
 *                         renormalised over the kept set): π_old of V3.2's ratio and masking
 *   keptTokens[t]         ids the top-p/top-k filter kept at step t (Keep Sampling Mask); null = whole vocabulary
 *   routedExperts[p][l]   expert ids chosen at position p in MoE layer l (Keep Routing), for every position fed to
 *                         the model: the P prompt tokens, then the completion tokens but the last (P + C − 1 rows)
 *   truncated             the completion hit the length budget before the end token
 *   lossMask[t]           optional: 1 where o_t was sampled from the policy, 0 where the environment wrote it (a tool
 *                         result between the turns of a multi-turn rollout, docs/agentdata.md §13); absent = all 1
 */
import { ChatMessage } from "@ds/model"
import { Schema } from "effect"

export const RolloutRecordSchema = Schema.Struct({
  /** Deterministic id `<step>/<group>/<sample>`: the unit of resumable work. */
  id: Schema.String,
  /** Id of the prompt group (the G samples of one prompt share it). */
  groupId: Schema.String,
  /** [user prompt, assistant completion] as text. */
  messages: Schema.Array(ChatMessage),
  promptTokens: Schema.Array(Schema.Int),
  completionTokens: Schema.Array(Schema.Int),
  samplingLogps: Schema.Array(Schema.Finite),
  keptTokens: Schema.NullOr(Schema.Array(Schema.NullOr(Schema.Array(Schema.Int)))),
  routedExperts: Schema.NullOr(Schema.Array(Schema.Array(Schema.Array(Schema.Int)))),
  truncated: Schema.Boolean,
  /** Multi-turn rollouts: 1 for policy tokens, 0 for environment tokens (masked out of the loss). Absent: all 1. */
  lossMask: Schema.optionalKey(Schema.Array(Schema.Literals([0, 1]))),
  /** Task data (e.g. the reference answer), passed to the reward functions. */
  metadata: Schema.Record(Schema.String, Schema.Unknown),
})

export type RolloutRecord = typeof RolloutRecordSchema.Type

/** The prompt text (the last user message). */
export const recordPrompt = (record: RolloutRecord): string =>
  [...record.messages].reverse().find((m) => m.role === "user")?.content ?? ""

/** The completion text (the last assistant message). */
export const recordCompletion = (record: RolloutRecord): string =>
  [...record.messages].reverse().find((m) => m.role === "assistant")?.content ?? ""
