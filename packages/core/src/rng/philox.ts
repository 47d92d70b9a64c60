/**
 * Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror & Shaw, "Parallel Random Numbers: As Easy as
 * 1, 2, 3" (SC11), as in Random123, cuRAND and PyTorch's CUDA generator.
 *
 *   out = R¹⁰(ctr, key)           ctr: 4 × u32, key: 2 × u32, out: 4 × u32
 *   R(x, k) = [hi(M1·x2) ⊕ x1 ⊕ k0,  lo(M1·x2),  hi(M0·x0) ⊕ x3 ⊕ k1,  lo(M0·x0)]
 *   k ← k + (W0, W1) between rounds (Weyl sequence)
 *
 * M0 = 0xD2511F53, M1 = 0xCD9E8D57, W0 = 0x9E3779B9 (golden ratio), W1 = 0xBB67AE85 (√3 − 1).
 * The output is a pure function of (ctr, key): no hidden state, so any block can be computed on its own, in any
 * order, by any implementation. Checked against Random123's `kat_vectors`.
 *
 * The 32 × 32 → 64-bit product is split into 16-bit halves so every partial product stays exact in a double;
 * `Math.imul` gives the low word directly.
 */

const M0 = 0xd2511f53
const M1 = 0xcd9e8d57
const M0_LO = M0 & 0xffff
const M0_HI = M0 >>> 16
const M1_LO = M1 & 0xffff
const M1_HI = M1 >>> 16
const W0 = 0x9e3779b9
const W1 = 0xbb67ae85
const ROUNDS = 10

/** High 32 bits of the 64-bit product `x · m`, with `m = mHi·2¹⁶ + mLo` (all unsigned). */
const mulHi = (x: number, mLo: number, mHi: number): number => {
  const xLo = x & 0xffff
  const xHi = x >>> 16
  const lolo = xLo * mLo
  const lohi = xLo * mHi
  const hilo = xHi * mLo
  const carry = ((lolo >>> 16) + (lohi & 0xffff) + (hilo & 0xffff)) >>> 16
  return (xHi * mHi + (lohi >>> 16) + (hilo >>> 16) + carry) >>> 0
}

/**
 * Writes the 4 output words of Philox4x32-10 for counter (c0, c1, c2, c3) and key (k0, k1) into `out[at..at+3]`.
 * Every argument is an unsigned 32-bit integer.
 */
export const philoxBlockInto = (
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
  at: number,
): void => {
  let x0 = c0 >>> 0
  let x1 = c1 >>> 0
  let x2 = c2 >>> 0
  let x3 = c3 >>> 0
  let key0 = k0 >>> 0
  let key1 = k1 >>> 0
  for (let round = 0; round < ROUNDS; round++) {
    const hi0 = mulHi(x0, M0_LO, M0_HI)
    const lo0 = Math.imul(x0, M0) >>> 0
    const hi1 = mulHi(x2, M1_LO, M1_HI)
    const lo1 = Math.imul(x2, M1) >>> 0
    x0 = (hi1 ^ x1 ^ key0) >>> 0
    x1 = lo1
    x2 = (hi0 ^ x3 ^ key1) >>> 0
    x3 = lo0
    key0 = (key0 + W0) >>> 0
    key1 = (key1 + W1) >>> 0
  }
  out[at] = x0
  out[at + 1] = x1
  out[at + 2] = x2
  out[at + 3] = x3
}

/** Philox4x32-10 of one counter block: `philox4x32([c0, c1, c2, c3], [k0, k1])` → 4 unsigned words. */
export const philox4x32 = (
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
): Uint32Array => {
  const out = new Uint32Array(4)
  philoxBlockInto(counter[0], counter[1], counter[2], counter[3], key[0], key[1], out, 0)
  return out
}

const TWO_POW_32 = 0x1_0000_0000
const scratch = new Uint32Array(4)

/**
 * Fills `out` with the stream of key (k0, k1) starting at word `position`: word p is word `p mod 4` of the block
 * with counter [⌊p/4⌋ mod 2³², ⌊p/4⌋ / 2³², 0, 0]. `position` is a non-negative safe integer.
 */
export const fillStreamWords = (k0: number, k1: number, position: number, out: Uint32Array): void => {
  const n = out.length
  let block = Math.floor(position / 4)
  let lane = position - block * 4
  let written = 0
  if (lane !== 0) {
    philoxBlockInto(block % TWO_POW_32, Math.floor(block / TWO_POW_32), 0, 0, k0, k1, scratch, 0)
    while (lane < 4 && written < n) out[written++] = scratch[lane++] as number
    block++
  }
  while (n - written >= 4) {
    philoxBlockInto(block % TWO_POW_32, Math.floor(block / TWO_POW_32), 0, 0, k0, k1, out, written)
    written += 4
    block++
  }
  if (written < n) {
    philoxBlockInto(block % TWO_POW_32, Math.floor(block / TWO_POW_32), 0, 0, k0, k1, scratch, 0)
    for (lane = 0; written < n; lane++) out[written++] = scratch[lane] as number
  }
}
