/**
 * The training stages of `ds train` (docs/attention.md §12; DeepSeek-V3.2's two indexer stages, docs/attention.md §9):
 *
 *   stage            attention   trained parameters                 loss
 *   sft (default)    top-k       all but the indexer (and gate b)   L_LM                        (the frozen indexer selects)
 *   dense            dense       all but the indexer (and gate b)   L_LM                        (V3.1-style MLA)
 *   indexer-warmup   dense       the indexer only                   L_I dense KL                (stage A; no L_LM at all)
 *   sparse           top-k       all (but gate b)                   L_LM + λ · L_I sparse KL    (stage B; detached)
 *
 * "Trained" is exact: the gradient is taken only with respect to these parameters (train-step.ts), so the frozen
 * ones get no backward pass, and only they have AdamW moments in the checkpoint (trainer-state.ts).
 */
import { isGradientTrained } from "../params.ts"

export const trainingStages = ["sft", "dense", "indexer-warmup", "sparse"] as const
export type TrainingStage = (typeof trainingStages)[number]

/** The stage a run without `stage` (and a trainer_state.json written before stages existed) has. */
export const defaultStage: TrainingStage = "sft"

export interface StagePlan {
  /** Attention of the training forward. */
  readonly selection: "topk" | "dense"
  /** The language-modelling loss is computed and back-propagated. */
  readonly languageModel: boolean
  /** Which indexer KL (losses.ts of @ds/attention) is added, if any. */
  readonly indexerLoss: "none" | "dense" | "sparse"
}

export const stagePlan = (stage: TrainingStage): StagePlan => {
  switch (stage) {
    case "sft":
      return { selection: "topk", languageModel: true, indexerLoss: "none" }
    case "dense":
      return { selection: "dense", languageModel: true, indexerLoss: "none" }
    case "indexer-warmup":
      return { selection: "dense", languageModel: false, indexerLoss: "dense" }
    case "sparse":
      return { selection: "topk", languageModel: true, indexerLoss: "sparse" }
  }
}

const isIndexer = (name: string): boolean => name.includes(".indexer.")

/** Whether parameter `name` is trained (takes a gradient and has AdamW moments) in `stage`. */
export const isTrainedInStage = (stage: TrainingStage, name: string): boolean => {
  if (!isGradientTrained(name)) return false
  switch (stage) {
    case "sft":
    case "dense":
      return !isIndexer(name)
    case "indexer-warmup":
      return isIndexer(name)
    case "sparse":
      return true
  }
}
