/**
 * Learning-rate schedule: linear warm-up, then cosine decay to a floor (the shape nanoGPT/nanochat and most SFT
 * recipes use; DeepSeek-V3 used warm-up then cosine decay of its own lengths).
 *
 *   lr(s) = peak · (s + 1) / W                                   s < W
 *   lr(s) = floor + (peak − floor) · ½ (1 + cos(π · (s − W) / max(1, S − W)))      W ≤ s < S
 *   lr(s) = floor                                                 s ≥ S
 *
 * s counts optimizer updates from 0, W = warm-up updates, S = total updates.
 */
export interface ScheduleConfig {
  readonly peak: number
  readonly floor: number
  readonly warmupSteps: number
  readonly totalSteps: number
}

export const learningRateAt = (step: number, c: ScheduleConfig): number => {
  if (step < c.warmupSteps) return (c.peak * (step + 1)) / c.warmupSteps
  if (step >= c.totalSteps) return c.floor
  const progress = (step - c.warmupSteps) / Math.max(1, c.totalSteps - c.warmupSteps)
  return c.floor + (c.peak - c.floor) * 0.5 * (1 + Math.cos(Math.PI * progress))
}
