/**
 * Supervised examples -> fixed-shape token batches for `languageModelLoss`.
 *
 *   sequence s = prompt ++ completion (cut to length + 1 tokens)
 *   inputs[t]  = s[t],  targets[t] = s[t + 1] if t + 1 ≥ |prompt| else −1      t < |s| − 1
 *   rows are right-padded to `length` with token 0 and target −1; validLengths = |s| − 1
 *
 * So the loss covers the completion only (SFT); an example with an empty prompt is plain language modelling.
 */
import { InputError } from "@ds/core"
import type { TokenBatch } from "./loss.ts"

export interface SupervisedExample {
  readonly prompt: ReadonlyArray<number>
  readonly completion: ReadonlyArray<number>
}

/** Packs examples into one [B, length] batch (see the file comment). */
export const toTokenBatch = (examples: ReadonlyArray<SupervisedExample>, length: number): TokenBatch => {
  if (examples.length === 0) throw new InputError({ source: "batch", reason: "no examples" })
  const batch = examples.length
  const inputs = new Int32Array(batch * length)
  const targets = new Int32Array(batch * length).fill(-1)
  const validLengths = examples.map((example, b) => {
    const sequence = [...example.prompt, ...example.completion].slice(0, length + 1)
    const n = Math.max(1, sequence.length - 1)
    for (let t = 0; t < n; t++) {
      inputs[b * length + t] = sequence[t] ?? 0
      const next = sequence[t + 1]
      if (next !== undefined && t + 1 >= example.prompt.length) targets[b * length + t] = next
    }
    return n
  })
  return { batch, length, inputs, targets, validLengths }
}

/**
 * The row length of a batch of these examples: the longest sequence's inputs (|s| − 1), at most `maxLength`
 * (dynamic padding: rows are padded to the batch's longest example, not to the model's max_seq_len, which for
 * short chats would multiply the step's memory and time by max_seq_len / |s| or more).
 */
export const paddedLength = (examples: ReadonlyArray<SupervisedExample>, maxLength: number): number => {
  let longest = 1
  for (const e of examples) longest = Math.max(longest, e.prompt.length + e.completion.length - 1)
  return Math.max(1, Math.min(maxLength, longest))
}

/** Splits examples into `parts` micro-batches of near-equal size (none empty). */
export const splitMicroBatches = <T>(examples: ReadonlyArray<T>, parts: number): Array<ReadonlyArray<T>> => {
  const count = Math.max(1, Math.min(parts, examples.length))
  const size = Math.ceil(examples.length / count)
  return Array.from({ length: count }, (_, i) => examples.slice(i * size, (i + 1) * size)).filter((p) => p.length > 0)
}

/**
 * Packing (TRL `packing=True`): examples are laid end to end in rows of `length` + 1 tokens, each keeping its own
 * targets (completion only); an example that does not fit starts the next row, and one longer than a row is cut
 * to it (completion first). Positions after the last example of a row are padding (target −1).
 */
export const toPackedTokenBatch = (examples: ReadonlyArray<SupervisedExample>, length: number): TokenBatch => {
  const rows: Array<Array<SupervisedExample>> = [[]]
  let used = 0
  for (const whole of examples) {
    const prompt = whole.prompt.slice(0, length + 1)
    const example = { prompt, completion: whole.completion.slice(0, length + 1 - prompt.length) }
    const size = example.prompt.length + example.completion.length
    if (used + size > length + 1) {
      rows.push([])
      used = 0
    }
    ;(rows[rows.length - 1] as Array<SupervisedExample>).push(example)
    used += size
  }
  const batch = rows.length
  const inputs = new Int32Array(batch * length)
  const targets = new Int32Array(batch * length).fill(-1)
  const validLengths = rows.map((row, b) => {
    const tokens: Array<number> = []
    const isTarget: Array<boolean> = []
    for (const example of row) {
      for (const t of example.prompt) {
        tokens.push(t)
        isTarget.push(false)
      }
      for (const t of example.completion) {
        tokens.push(t)
        isTarget.push(true)
      }
    }
    const n = Math.max(1, Math.min(length, tokens.length - 1))
    for (let t = 0; t < n; t++) {
      inputs[b * length + t] = tokens[t] ?? 0
      if (isTarget[t + 1] === true) targets[b * length + t] = tokens[t + 1] as number
    }
    return n
  })
  return { batch, length, inputs, targets, validLengths }
}
