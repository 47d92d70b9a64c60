/** Number formats the commands print. */

/** A share in [0, 1] as a percentage with one decimal: 0.953 -> "95.3%". */
export const percent = (x: number): string => `${(100 * x).toFixed(1)}%`
