/**
 * The seeded random number generator every random choice in ds flows from (ARCHITECTURE.md, "Determinism").
 *
 * A generator is a 64-bit key and a cursor. The key comes from the seed, key = [seed mod 2³², ⌊seed / 2³²⌋], and
 * never changes; the cursor counts the 32-bit words drawn so far. Word p of the stream is word p mod 4 of
 * Philox4x32-10(counter = [⌊p/4⌋ mod 2³², ⌊p/4⌋ / 2³², 0, 0], key): a pure function of (seed, p), computed on the
 * host in 32-bit integer arithmetic, so the same seed gives the same numbers on every tensor backend and machine.
 *
 *   fork(i)     key' = Philox([i mod 2³², ⌊i / 2³²⌋, 0, FORK_INDEX], key)[0..1]
 *   fork(label) key' = absorb the UTF-8 bytes of the label, 8 bytes per Philox call (tag FORK_LABEL), then its
 *               length (tag FORK_LABEL_END)
 *
 * Forks depend on the parent's key only, never on its cursor, so `rng.fork("init")` is the same stream however
 * much the parent has drawn. Fork blocks use a nonzero fourth counter word, which stream blocks never do.
 *
 *   uniform   u = ⌊w / 2⁸⌋ · 2⁻²⁴                      ∈ [0, 1), exact in float32, one word each
 *   float     u = (⌊a / 2⁵⌋ · 2²⁶ + ⌊b / 2⁶⌋) · 2⁻⁵³   ∈ [0, 1), a double from two words
 *   normal    Box–Muller on a pair of words: r = √(−2 ln((a + 1) · 2⁻³²)), θ = 2π · b · 2⁻³²,
 *             z = (r cos θ, r sin θ); two normals per pair, an odd count discards the last sine
 *   int       rejection of w ≥ 2³² − (2³² mod range), then lo + w mod range: unbiased
 *
 * Draws are cut from one stream in order: `uniform(3)` then `uniform(5)` gives the same eight numbers as
 * `uniform(8)`. `state()` is plain JSON (key and cursor); `Rng.fromState` resumes exactly where it left off.
 */
import { Schema } from "effect"
import { InputError } from "../errors.ts"
import { fillStreamWords, philoxBlockInto } from "./philox.ts"

const TWO_POW_32 = 0x1_0000_0000
const UNIFORM_SCALE = 2 ** -24
const WORD_SCALE = 2 ** -32
const DOUBLE_SCALE = 2 ** -53
const TWO_PI = 2 * Math.PI

/** Fourth counter word of the blocks that derive child keys ("FRKI", "FRKL", "FRKE"); stream blocks use 0. */
const FORK_INDEX = 0x46524b49
const FORK_LABEL = 0x46524b4c
const FORK_LABEL_END = 0x46524b45

const Word = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffffffff }))

/** The serialisable state of a generator: its key and the number of 32-bit words drawn so far. */
export const RngState = Schema.Struct({
  key: Schema.Tuple([Word, Word]),
  position: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER })),
})
export type RngState = typeof RngState.Type

const decodeRngState = Schema.decodeUnknownSync(RngState)

const invalid = (argument: string, reason: string): InputError => new InputError({ source: `Rng.${argument}`, reason })

const requireSafeInteger = (argument: string, value: number, minimum: number): void => {
  if (!Number.isSafeInteger(value) || value < minimum) {
    throw invalid(argument, `expected a safe integer >= ${minimum}, got ${value}`)
  }
}

const utf8 = new TextEncoder()

/** Key of the child stream named `label`: the label's UTF-8 bytes absorbed 8 at a time, then its length. */
const labelKey = (k0: number, k1: number, label: string): [number, number] => {
  const bytes = utf8.encode(label)
  const padded = new Uint8Array(Math.ceil(bytes.length / 8) * 8)
  padded.set(bytes)
  const words = new DataView(padded.buffer)
  const out = new Uint32Array(4)
  let key0 = k0
  let key1 = k1
  for (let chunk = 0; chunk * 8 < padded.length; chunk++) {
    const w0 = words.getUint32(chunk * 8, true)
    const w1 = words.getUint32(chunk * 8 + 4, true)
    philoxBlockInto(w0, w1, chunk, FORK_LABEL, key0, key1, out, 0)
    key0 = out[0] as number
    key1 = out[1] as number
  }
  philoxBlockInto(bytes.length, 0, padded.length / 8, FORK_LABEL_END, key0, key1, out, 0)
  return [out[0] as number, out[1] as number]
}

/** Key of the child stream number `index`. */
const indexKey = (k0: number, k1: number, index: number): [number, number] => {
  const out = new Uint32Array(4)
  philoxBlockInto(index % TWO_POW_32, Math.floor(index / TWO_POW_32), 0, FORK_INDEX, k0, k1, out, 0)
  return [out[0] as number, out[1] as number]
}

export class Rng {
  /** The block the cursor is in, cached so that single draws cost one Philox call per four words. */
  private cachedBlock = -1
  private readonly blockWords = new Uint32Array(4)

  private constructor(
    /** The 64-bit key as two unsigned 32-bit words; fixed for the life of the generator. */
    readonly key: readonly [number, number],
    private cursor: number,
  ) {}

  /** A generator for `seed` (a non-negative safe integer), at the start of its stream. */
  static make(seed: number): Rng {
    requireSafeInteger("make(seed)", seed, 0)
    return new Rng([seed % TWO_POW_32, Math.floor(seed / TWO_POW_32)], 0)
  }

  /** Resumes a generator from `state()` (for example one read back from a checkpoint). Throws `InputError`. */
  static fromState(state: unknown): Rng {
    let decoded: RngState
    try {
      decoded = decodeRngState(state)
    } catch (error) {
      throw invalid("fromState(state)", error instanceof Error ? error.message : String(error))
    }
    return new Rng([decoded.key[0], decoded.key[1]], decoded.position)
  }

  /** Number of 32-bit words drawn so far. */
  get position(): number {
    return this.cursor
  }

  /** The key and cursor as plain JSON; `Rng.fromState(rng.state())` continues the same stream. */
  state(): RngState {
    return { key: [this.key[0], this.key[1]], position: this.cursor }
  }

  /** An independent child stream named by a label or a non-negative integer, at the start of its stream. */
  fork(name: string | number): Rng {
    if (typeof name === "string") return new Rng(labelKey(this.key[0], this.key[1], name), 0)
    requireSafeInteger("fork(index)", name, 0)
    return new Rng(indexKey(this.key[0], this.key[1], name), 0)
  }

  /** The next `n` raw 32-bit words. */
  words(n: number): Uint32Array {
    requireSafeInteger("words(n)", n, 0)
    const out = new Uint32Array(n)
    fillStreamWords(this.key[0], this.key[1], this.cursor, out)
    this.cursor += n
    return out
  }

  /** `n` floats uniform on [0, 1), 24 random bits each. */
  uniform(n: number): Float32Array {
    requireSafeInteger("uniform(n)", n, 0)
    const words = this.words(n)
    const out = new Float32Array(n)
    for (let i = 0; i < n; i++) out[i] = ((words[i] as number) >>> 8) * UNIFORM_SCALE
    return out
  }

  /** `n` floats from N(mean, std²) by Box–Muller; consumes 2·⌈n/2⌉ words. */
  normal(n: number, mean = 0, std = 1): Float32Array {
    requireSafeInteger("normal(n)", n, 0)
    const words = this.words(2 * Math.ceil(n / 2))
    const out = new Float32Array(n)
    for (let i = 0; i < n; i += 2) {
      const radius = Math.sqrt(-2 * Math.log(((words[i] as number) + 1) * WORD_SCALE))
      const angle = TWO_PI * (words[i + 1] as number) * WORD_SCALE
      out[i] = mean + std * radius * Math.cos(angle)
      if (i + 1 < n) out[i + 1] = mean + std * radius * Math.sin(angle)
    }
    return out
  }

  /** One double uniform on [0, 1), 53 random bits. */
  float(): number {
    const high = this.nextWord() >>> 5
    const low = this.nextWord() >>> 6
    return (high * 0x400_0000 + low) * DOUBLE_SCALE
  }

  /** An integer uniform on [lo, hi), unbiased; `hi − lo` may be at most 2³². */
  int(lo: number, hi: number): number {
    if (!Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || hi <= lo || hi - lo > TWO_POW_32) {
      throw invalid("int(lo, hi)", `expected safe integers with lo < hi <= lo + 2^32, got lo=${lo}, hi=${hi}`)
    }
    const range = hi - lo
    const limit = TWO_POW_32 - (TWO_POW_32 % range)
    let word = this.nextWord()
    while (word >= limit) word = this.nextWord()
    return lo + (word % range)
  }

  /** A uniformly random permutation of `items` (Fisher–Yates); the input is left as it was. */
  shuffle<T>(items: ReadonlyArray<T>): Array<T> {
    const out = items.slice()
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1)
      const held = out[i] as T
      out[i] = out[j] as T
      out[j] = held
    }
    return out
  }

  /** A uniformly random permutation of 0 … n−1. */
  permutation(n: number): Int32Array {
    requireSafeInteger("permutation(n)", n, 0)
    const out = new Int32Array(n)
    for (let i = 0; i < n; i++) out[i] = i
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(0, i + 1)
      const held = out[i] as number
      out[i] = out[j] as number
      out[j] = held
    }
    return out
  }

  /** One element of `items`, each equally likely. */
  choice<T>(items: ReadonlyArray<T>): T {
    if (items.length === 0) throw invalid("choice(items)", "expected a non-empty array")
    return items[this.int(0, items.length)] as T
  }

  /** An index drawn with probability proportional to `weights` (non-negative, finite, not all zero). */
  categorical(weights: ArrayLike<number>): number {
    let total = 0
    let lastPositive = -1
    for (let i = 0; i < weights.length; i++) {
      const weight = weights[i] as number
      if (!(weight >= 0) || weight === Number.POSITIVE_INFINITY) {
        throw invalid("categorical(weights)", `weight ${i} is ${weight}; expected a finite number >= 0`)
      }
      total += weight
      if (weight > 0) lastPositive = i
    }
    if (lastPositive < 0) throw invalid("categorical(weights)", "expected at least one positive weight")
    const target = this.float() * total
    let cumulative = 0
    for (let i = 0; i < lastPositive; i++) {
      cumulative += weights[i] as number
      if (target < cumulative) return i
    }
    return lastPositive
  }

  private nextWord(): number {
    const block = Math.floor(this.cursor / 4)
    if (block !== this.cachedBlock) {
      philoxBlockInto(
        block % TWO_POW_32,
        Math.floor(block / TWO_POW_32),
        0,
        0,
        this.key[0],
        this.key[1],
        this.blockWords,
        0,
      )
      this.cachedBlock = block
    }
    const word = this.blockWords[this.cursor - block * 4] as number
    this.cursor++
    return word
  }
}
