/**
 * The built-in synthetic task of `ds train`: multi-digit addition.
 *
 *   prompt      "BOS 740+583="           a = 47, b = 385 for digits = 3: each operand zero-padded to `digits`
 *   completion  "2340" EOS               the sum 432, zero-padded to digits + 1
 *
 * Every number is written least-significant digit first (little-endian). Answer digit i then depends on a_i, b_i
 * and the carry from digit i − 1, which sit at the same relative offsets (2·digits + 1 and digits back) from every
 * answer position, so relative-position attention (RoPE) finds them with one head each (Lee et al., "Teaching
 * Arithmetic to Small Transformers", 2023, for reversed outputs). Tokens are bytes (byteTokenizer).
 *
 * Held-out split: a pair (a, b) is held out iff hash(a, b) mod 10 = 0 — a fixed tenth of all pairs that training
 * never samples, so the held-out accuracy measures generalisation, not recall. Held-out operands are uniform.
 */
import type { Rng } from "@ds/core"
import { specialTokens } from "../tokenizer/special-tokens.ts"
import type { TextTokenizer } from "../tokenizer/tokenizer.ts"

export interface AdditionExample {
  readonly a: number
  readonly b: number
  readonly prompt: string
  /** The sum, little-endian, without EOS. */
  readonly answer: string
}

/** MurmurHash3's 32-bit finaliser: every input bit affects every output bit (so no parity leaks into the split). */
const mix32 = (h0: number): number => {
  let h = h0 >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

/** Hash of the pair for the held-out split. */
const pairHash = (a: number, b: number): number => mix32(mix32(a) ^ Math.imul(b + 1, 0x9e3779b1))

export const isHeldOut = (a: number, b: number): boolean => pairHash(a, b) % 10 === 0

/** `value` zero-padded to `width` digits, least-significant digit first. */
export const littleEndian = (value: number, width: number): string =>
  String(value).padStart(width, "0").split("").reverse().join("")

export const additionExample = (a: number, b: number, digits: number): AdditionExample => ({
  a,
  b,
  prompt: `${littleEndian(a, digits)}+${littleEndian(b, digits)}=`,
  answer: littleEndian(a + b, digits + 1),
})

/** A training operand: each digit is 0 with probability ½, else uniform in 0..9. */
const sparseOperand = (rng: Rng, digits: number): number => {
  let value = 0
  for (let i = 0; i < digits; i++) value = value * 10 + (rng.float() < 0.5 ? 0 : rng.int(0, 10))
  return value
}

/**
 * One example, drawn with `rng`.
 *
 * - "train": half the examples as "heldout" draws them, half with digit-sparse operands (each digit 0 with
 *   probability ½). Where one operand's digit is 0
 *   the answer digit is a copy of the other's, a signal gradient descent picks up at once; it trains the attention
 *   to the two operand digits that the digit-sum table then needs (with uniform digits the table has no first-order
 *   signal and small models sit on a long plateau). Held-out pairs are never drawn.
 * - "heldout": operands uniform in [0, 10^digits), restricted to the held-out pairs.
 */
export const sampleAddition = (rng: Rng, digits: number, split: "train" | "heldout"): AdditionExample => {
  const limit = 10 ** digits
  for (;;) {
    const sparse = split === "train" && rng.float() < 0.5
    const a = sparse ? sparseOperand(rng, digits) : rng.int(0, limit)
    const b = sparse ? sparseOperand(rng, digits) : rng.int(0, limit)
    if (isHeldOut(a, b) === (split === "heldout")) return additionExample(a, b, digits)
  }
}

/** Token ids: prompt = BOS + prompt bytes; completion = answer bytes + EOS. */
export const encodeAddition = (
  tokenizer: TextTokenizer,
  example: AdditionExample,
): { prompt: Array<number>; completion: Array<number> } => ({
  prompt: tokenizer.encode(`${specialTokens.bos}${example.prompt}`),
  completion: tokenizer.encode(`${example.answer}${specialTokens.eos}`),
})

/** Longest prompt + completion of the task in tokens (BOS, operands, '+', '=', sum digits, EOS). */
export const additionSequenceLength = (digits: number): number => 1 + digits + 1 + digits + 1 + (digits + 1) + 1
