/**
 * Rejection fine-tuning data (docs/selfverify.md §10): the samples of every role that earned the full reward are
 * merged into ONE supervised set, so one model keeps the generation and verification skills of the iteration.
 *
 *   keep a sample  iff  reward ≥ threshold (default 1: a verifier or meta-verifier analysis in the right format with
 *                       the exact score; a generator output with a correct proof and an accurate self-score)
 *
 * Input: rollout samples (`prompt`, `completion`, `reward`, `role`), e.g. from GRPO rollout records; output: chat
 * records (OpenAI format) shuffled with the seed, deduplicated by (prompt, completion).
 */
import { Rng } from "@ds/core"
import type { TrainingRole } from "./data.ts"

export interface RftSample {
  readonly role: TrainingRole
  readonly prompt: string
  readonly completion: string
  readonly reward: number
}

export interface RftRecord {
  readonly messages: ReadonlyArray<{ readonly role: "user" | "assistant"; readonly content: string }>
  readonly metadata: { readonly role: TrainingRole; readonly reward: number }
}

export interface RftSet {
  readonly records: ReadonlyArray<RftRecord>
  /** Kept / offered samples per role. */
  readonly kept: Readonly<Record<TrainingRole, { readonly kept: number; readonly offered: number }>>
}

export const rejectionFineTuningSet = (samples: ReadonlyArray<RftSample>, seed: number, threshold = 1): RftSet => {
  const kept: Record<TrainingRole, { kept: number; offered: number }> = {
    verifier: { kept: 0, offered: 0 },
    meta: { kept: 0, offered: 0 },
    generator: { kept: 0, offered: 0 },
  }
  const seen = new Set<string>()
  const records: Array<RftRecord> = []
  for (const sample of samples) {
    kept[sample.role].offered++
    if (sample.reward < threshold - 1e-9) continue
    const key = JSON.stringify([sample.prompt, sample.completion])
    if (seen.has(key)) continue
    seen.add(key)
    kept[sample.role].kept++
    records.push({
      messages: [
        { role: "user", content: sample.prompt },
        { role: "assistant", content: sample.completion },
      ],
      metadata: { role: sample.role, reward: sample.reward },
    })
  }
  return { records: Rng.make(seed).fork("rft").shuffle(records), kept }
}
