/**
 * @ds/grpo — GRPO as scaled in DeepSeek-V3.2 (docs/grpo.md): rewards, group-relative advantages, the clipped
 * surrogate with the unbiased KL estimate and off-policy sequence masking, Keep Routing and Keep Sampling Mask,
 * rollout records (JSONL), tasks (the task interface, the addition task, JSONL tasks), the Effect trainer, and the
 * `ds grpo` program. Checkpoints use @ds/model's trainer state (`saveTrainerCheckpoint`).
 */
export * from "./advantages.ts"
export * from "./config.ts"
export * from "./errors.ts"
export * from "./loss/aggregate.ts"
export * from "./loss/grpo-loss.ts"
export * from "./loss/kl.ts"
export * from "./loss/off-policy-mask.ts"
export * from "./loss/surrogate.ts"
export { maskedMean, maskedRowMean } from "./loss/tensor-utils.ts"
export * from "./loss/token-log-probs.ts"
export * from "./program/grpo-program.ts"
export * from "./program/run-file.ts"
export * from "./rewards/format.ts"
export * from "./rewards/length-penalty.ts"
export * from "./rewards/numeric-answer.ts"
export * from "./rewards/reward-function.ts"
export * from "./rollout/collate.ts"
export * from "./rollout/multi-turn.ts"
export * from "./rollout/record.ts"
export * from "./rollout/rollouts.ts"
export * from "./tasks/addition.ts"
export * from "./tasks/jsonl-task.ts"
export * from "./tasks/task.ts"
export * from "./trainer/evaluate.ts"
export * from "./trainer/policy-log-probs.ts"
export * from "./trainer/trainer.ts"
export * from "./trainer/update.ts"
