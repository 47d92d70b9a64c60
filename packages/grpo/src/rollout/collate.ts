/**
 * Rollout records -> one padded training batch (docs/grpo.md §1, "forward policy with forced routing + sampling
 * masks").
 *
 *   input[n]      = prompt_n ++ completion_n[0 .. C_n − 2]        right-padded to L = max_n (P_n + C_n − 1)
 *   target[n, t]  = completion_n[t]                               right-padded to C = max_n C_n
 *   position of target t in row n = P_n − 1 + t                   (the logits at p predict token p + 1)
 *
 * Right padding keeps every real position before every pad, so causal attention needs no mask. The routing replay
 * tensor per MoE layer is [N·L·K] in row-major (n, position, slot) order, −1 for padding (an empty slot), as
 * `@ds/model`'s `moe({ forced })` reads it. Padded target steps have mask 0, log-prob 0 and a full kept set.
 *
 *   mask[n, t]    = lossMask_n[t] (1 when the record has none)    tool results inside a multi-turn completion are
 *                                                                 fed to the model but carry no loss
 *                                                                 (docs/agentdata.md §13)
 */
import { InputError } from "@ds/core"
import type { RolloutRecord } from "./record.ts"

export interface RolloutBatch {
  /** Rows N. */
  readonly size: number
  /** Input length L. */
  readonly inputLength: number
  /** Completion length C. */
  readonly completionLength: number
  /** [N·L] token ids (0 at padding). */
  readonly inputTokens: Int32Array
  /** [N·L] 1 for a real input position. */
  readonly inputValid: Float32Array
  /** [N·C] sampled completion tokens (0 at padding). */
  readonly targets: Int32Array
  /** [N·C] position in the input whose logits predict each target (0 at padding). */
  readonly targetPositions: Int32Array
  /** [N·C] 1 for a real completion token. */
  readonly completionMask: Float32Array
  /** [N·C] ℓ_sampling (0 at padding). */
  readonly samplingLogps: Float32Array
  /** [N][C] kept sets (null = whole vocabulary), or null when no record carries them. */
  readonly keptTokens: ReadonlyArray<ReadonlyArray<ReadonlyArray<number> | null>> | null
  /** Per MoE layer: forced expert ids [N·L·K] (−1 = padding), or null when some record lacks routing. */
  readonly routedExperts: ReadonlyArray<Int32Array> | null
  /** Experts per token K of the recorded routing (0 without routing). */
  readonly expertsPerToken: number
}

const routingShape = (record: RolloutRecord): { layers: number; k: number } | null => {
  const first = record.routedExperts?.[0]
  return first === undefined ? null : { layers: first.length, k: first[0]?.length ?? 0 }
}

/** Collates records into a padded batch; throws `InputError` for an empty completion or inconsistent routing. */
export const collateRollouts = (records: ReadonlyArray<RolloutRecord>): RolloutBatch => {
  const n = records.length
  records.forEach((r) => {
    if (r.lossMask !== undefined && r.lossMask.length !== r.completionTokens.length)
      throw new InputError({
        source: `rollout ${r.id}`,
        reason: `lossMask has ${r.lossMask.length} entries for ${r.completionTokens.length} tokens`,
      })
    if (r.completionTokens.length === 0) throw new InputError({ source: `rollout ${r.id}`, reason: "empty completion" })
    if (r.samplingLogps.length !== r.completionTokens.length)
      throw new InputError({
        source: `rollout ${r.id}`,
        reason: `${r.samplingLogps.length} sampling log-probs for ${r.completionTokens.length} tokens`,
      })
  })
  const inputLength = Math.max(1, ...records.map((r) => r.promptTokens.length + r.completionTokens.length - 1))
  const completionLength = Math.max(1, ...records.map((r) => r.completionTokens.length))
  const inputTokens = new Int32Array(n * inputLength)
  const inputValid = new Float32Array(n * inputLength)
  const targets = new Int32Array(n * completionLength)
  const targetPositions = new Int32Array(n * completionLength)
  const completionMask = new Float32Array(n * completionLength)
  const samplingLogps = new Float32Array(n * completionLength)
  records.forEach((r, i) => {
    const input = [...r.promptTokens, ...r.completionTokens.slice(0, -1)]
    input.forEach((token, p) => {
      inputTokens[i * inputLength + p] = token
      inputValid[i * inputLength + p] = 1
    })
    r.completionTokens.forEach((token, t) => {
      targets[i * completionLength + t] = token
      targetPositions[i * completionLength + t] = r.promptTokens.length - 1 + t
      completionMask[i * completionLength + t] = r.lossMask?.[t] ?? 1
      samplingLogps[i * completionLength + t] = r.samplingLogps[t] ?? 0
    })
  })
  const keptTokens = records.some((r) => r.keptTokens !== null)
    ? records.map((r) => Array.from({ length: completionLength }, (_, t) => r.keptTokens?.[t] ?? null))
    : null
  const routing = collateRouting(records, inputLength)
  return {
    size: n,
    inputLength,
    completionLength,
    inputTokens,
    inputValid,
    targets,
    targetPositions,
    completionMask,
    samplingLogps,
    keptTokens,
    routedExperts: routing?.perLayer ?? null,
    expertsPerToken: routing?.k ?? 0,
  }
}

const collateRouting = (records: ReadonlyArray<RolloutRecord>, inputLength: number) => {
  const shapes = records.map(routingShape)
  const shape = shapes[0]
  if (shape === null || shape === undefined || shapes.some((s) => s === null)) return null
  const { layers, k } = shape
  const perLayer = Array.from({ length: layers }, () => new Int32Array(records.length * inputLength * k).fill(-1))
  records.forEach((r, i) => {
    const rows = r.routedExperts ?? []
    const expected = r.promptTokens.length + r.completionTokens.length - 1
    if (rows.length !== expected)
      throw new InputError({
        source: `rollout ${r.id}`,
        reason: `routedExperts has ${rows.length} positions, expected ${expected}`,
      })
    rows.forEach((perLayerIds, p) => {
      if (perLayerIds.length !== layers || perLayerIds.some((ids) => ids.length !== k))
        throw new InputError({ source: `rollout ${r.id}`, reason: `routedExperts[${p}] is not [${layers}][${k}]` })
      perLayerIds.forEach((ids, l) => {
        const target = perLayer[l] as Int32Array
        ids.forEach((id, j) => {
          target[(i * inputLength + p) * k + j] = id
        })
      })
    })
  })
  return { perLayer, k }
}

/** The records of a batch, in `indices` order. */
export const selectRecords = (
  records: ReadonlyArray<RolloutRecord>,
  indices: ReadonlyArray<number>,
): Array<RolloutRecord> => indices.map((i) => records[i] as RolloutRecord)
