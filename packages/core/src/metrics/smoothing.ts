/**
 * Exponential moving average with TensorBoard's debiasing, for drawing a smoothed curve beside a noisy one.
 *
 *   m_t = w · m_{t−1} + (1 − w) · y_t,   m_0 = 0,   ŷ_t = m_t / (1 − wⁿ)     n = valid points so far
 *
 * w ∈ [0, 1) is the smoothing weight (0: the raw curve). Missing points (null, non-finite, or rejected by `valid`)
 * stay missing and do not enter the average, so a gap in the data is a gap in the smoothed curve too.
 */

export const emaSmooth = (
  values: ReadonlyArray<number | null>,
  weight: number,
  valid: (y: number) => boolean = Number.isFinite,
): Array<number | null> => {
  let average = 0
  let count = 0
  return values.map((y) => {
    if (y === null || !Number.isFinite(y) || !valid(y)) return null
    average = weight * average + (1 - weight) * y
    count++
    return average / (1 - weight ** count)
  })
}
