/**
 * Byte-level BPE training (Sennrich et al. 2016; GPT-2's byte-level variant), producing a Hugging Face
 * `tokenizer.json` that `@huggingface/tokenizers` (and the Rust/Python `tokenizers`) load as is.
 *
 *   1. split the corpus into pre-tokens with the split pattern, map each pre-token's UTF-8 bytes to the
 *      byte-level alphabet (byte-level.ts), count identical pre-tokens;
 *   2. start from the 256 byte symbols; repeatedly merge the most frequent adjacent pair (ties: the
 *      lexicographically smallest pair, so training is deterministic) until the vocabulary has `vocabSize`
 *      entries or no pair occurs `minFrequency` times;
 *   3. ids: bytes 0..255 in byte order, merges in merge order, then the special tokens.
 *
 * Pair counts are updated incrementally: a merge only revisits the pre-tokens that contain the merged pair.
 * The default split pattern is GPT-2's with each digit its own pre-token (arithmetic-friendly, like the
 * single-digit splitting of LLaMA and DeepSeek-V3's 1-3 digit groups).
 */
import { byteToChar, toByteLevel } from "./byte-level.ts"
import { specialTokenList } from "./special-tokens.ts"

export interface BpeTrainOptions {
  /** Target vocabulary size including the 256 bytes and the special tokens. */
  readonly vocabSize: number
  /** Stop when the best pair occurs fewer times. Default 2. */
  readonly minFrequency?: number
  /** Pre-token split pattern (a JS regex source, `u` flag). */
  readonly pattern?: string
  /** Special tokens appended after the merges. Default: DeepSeek's (special-tokens.ts). */
  readonly specialTokens?: ReadonlyArray<string>
}

export const defaultSplitPattern = "'(?:[sdmt]|ll|ve|re)| ?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

interface Word {
  symbols: Array<string>
  readonly count: number
}

const pairKey = (a: string, b: string): string => `${a}\u0000${b}`

const countWords = (corpus: Iterable<string>, pattern: RegExp): Array<Word> => {
  const counts = new Map<string, number>()
  for (const text of corpus) {
    for (const match of text.matchAll(pattern)) {
      const piece = toByteLevel(match[0])
      counts.set(piece, (counts.get(piece) ?? 0) + 1)
    }
  }
  return [...counts.entries()]
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([piece, count]) => ({ symbols: [...piece], count }))
}

class PairStats {
  readonly counts = new Map<string, number>()
  readonly where = new Map<string, Set<number>>()

  add(words: ReadonlyArray<Word>, index: number, sign: 1 | -1): void {
    const word = words[index] as Word
    for (let i = 0; i + 1 < word.symbols.length; i++) {
      const key = pairKey(word.symbols[i] as string, word.symbols[i + 1] as string)
      this.counts.set(key, (this.counts.get(key) ?? 0) + sign * word.count)
      if (sign > 0) {
        const set = this.where.get(key)
        if (set === undefined) this.where.set(key, new Set([index]))
        else set.add(index)
      }
    }
  }

  best(): [string, number] | undefined {
    let bestKey: string | undefined
    let bestCount = 0
    for (const [key, count] of this.counts) {
      if (count > bestCount || (count === bestCount && count > 0 && bestKey !== undefined && key < bestKey)) {
        bestKey = key
        bestCount = count
      }
    }
    return bestKey === undefined ? undefined : [bestKey, bestCount]
  }
}

const mergeWord = (symbols: ReadonlyArray<string>, a: string, b: string): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < symbols.length; i++) {
    if (symbols[i] === a && symbols[i + 1] === b) {
      out.push(a + b)
      i++
    } else out.push(symbols[i] as string)
  }
  return out
}

export interface TrainedBpe {
  readonly vocab: ReadonlyMap<string, number>
  readonly merges: ReadonlyArray<readonly [string, string]>
  readonly specialTokens: ReadonlyArray<{ readonly id: number; readonly content: string }>
  readonly pattern: string
}

/** Learns merges from `corpus` (any iterable of documents). */
export const trainBpe = (corpus: Iterable<string>, options: BpeTrainOptions): TrainedBpe => {
  const pattern = options.pattern ?? defaultSplitPattern
  const specials = options.specialTokens ?? specialTokenList
  const minFrequency = options.minFrequency ?? 2
  const words = countWords(corpus, new RegExp(pattern, "gu"))
  const vocab = new Map<string, number>(byteToChar.map((c, i) => [c, i]))
  const merges: Array<readonly [string, string]> = []
  const stats = new PairStats()
  for (let i = 0; i < words.length; i++) stats.add(words, i, 1)
  while (vocab.size + specials.length < options.vocabSize) {
    const best = stats.best()
    if (best === undefined || best[1] < minFrequency) break
    const [a, b] = best[0].split("\u0000") as [string, string]
    merges.push([a, b])
    vocab.set(a + b, vocab.size)
    for (const index of stats.where.get(best[0]) ?? []) {
      const word = words[index] as Word
      stats.add(words, index, -1)
      word.symbols = mergeWord(word.symbols, a, b)
      stats.add(words, index, 1)
    }
    stats.counts.delete(best[0])
    stats.where.delete(best[0])
  }
  const specialTokens = specials.map((content, i) => ({ id: vocab.size + i, content }))
  return { vocab, merges, specialTokens, pattern }
}

/** The Hugging Face `tokenizer.json` of a trained byte-level BPE. */
export const toTokenizerJson = (bpe: TrainedBpe): Record<string, unknown> => ({
  version: "1.0",
  truncation: null,
  padding: null,
  added_tokens: bpe.specialTokens.map(({ id, content }) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  })),
  normalizer: null,
  pre_tokenizer: {
    type: "Sequence",
    pretokenizers: [
      { type: "Split", pattern: { Regex: bpe.pattern }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
    ],
  },
  post_processor: null,
  decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
  model: {
    type: "BPE",
    dropout: null,
    unk_token: null,
    continuing_subword_prefix: null,
    end_of_word_suffix: null,
    fuse_unk: false,
    byte_fallback: false,
    ignore_merges: false,
    vocab: Object.fromEntries(bpe.vocab),
    merges: bpe.merges.map(([a, b]) => [a, b]),
  },
})
