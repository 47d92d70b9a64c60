/**
 * Text <-> token ids. Every tokenizer here is a Hugging Face `tokenizer.json` run by `@huggingface/tokenizers`
 * (pure JS, no dependencies): DeepSeek's own file loads as is, and the BPE this package trains is written in the
 * same format (bpe-trainer.ts), so one encoder serves both.
 *
 * Special tokens written in the text (e.g. `<｜User｜>` from the chat template) encode to their ids. Streaming
 * decode holds back a trailing U+FFFD, which marks a UTF-8 sequence split across tokens.
 */
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { InputError } from "@ds/core"
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers"
import { Effect } from "effect"
import { type BpeTrainOptions, toTokenizerJson, trainBpe } from "./bpe-trainer.ts"
import { specialTokens } from "./special-tokens.ts"

export interface TextTokenizer {
  /** Largest id + 1. */
  readonly vocabSize: number
  readonly bosId: number | undefined
  readonly eosId: number | undefined
  readonly padId: number | undefined
  /** Token ids of `text`; special tokens written in it are recognised. No BOS is added. */
  readonly encode: (text: string) => Array<number>
  readonly decode: (ids: ReadonlyArray<number>, options?: { readonly skipSpecialTokens?: boolean }) => string
  readonly tokenId: (token: string) => number | undefined
  /** The `tokenizer.json` content (to save next to a checkpoint). */
  readonly json: Record<string, unknown>
}

/** Wraps a parsed `tokenizer.json` (and optional `tokenizer_config.json`). */
export const tokenizerFromJson = (
  json: Record<string, unknown>,
  config: Record<string, unknown> = {},
): TextTokenizer => {
  const hf = new HfTokenizer(json, config)
  const vocab = hf.get_vocab(true)
  let vocabSize = 0
  for (const id of vocab.values()) vocabSize = Math.max(vocabSize, id + 1)
  const id = (token: string) => hf.token_to_id(token)
  return {
    vocabSize,
    bosId: id(specialTokens.bos),
    eosId: id(specialTokens.eos),
    padId: id(specialTokens.pad),
    encode: (text) => hf.encode(text, { add_special_tokens: false }).ids,
    decode: (ids, options = {}) =>
      ids.length === 0
        ? ""
        : hf.decode([...ids], {
            skip_special_tokens: options.skipSpecialTokens ?? false,
            clean_up_tokenization_spaces: false,
          }),
    tokenId: id,
    json,
  }
}

/** Trains a byte-level BPE on `corpus` and returns it ready to use. */
export const trainTokenizer = (corpus: Iterable<string>, options: BpeTrainOptions): TextTokenizer =>
  tokenizerFromJson(toTokenizerJson(trainBpe(corpus, options)))

/** A tokenizer with only the 256 bytes and the special tokens (no merges): every byte is one token. */
export const byteTokenizer = (): TextTokenizer => trainTokenizer([], { vocabSize: 0 })

const readJson = (path: string) =>
  Effect.tryPromise({
    try: async () => JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>,
    catch: (error) => new InputError({ source: path, reason: `cannot read JSON: ${String(error)}` }),
  })

/** Loads `DIR/tokenizer.json` (and `DIR/tokenizer_config.json` when present). */
export const loadTokenizer = (dir: string): Effect.Effect<TextTokenizer, InputError> =>
  Effect.gen(function* () {
    const json = yield* readJson(join(dir, "tokenizer.json"))
    const config = yield* readJson(join(dir, "tokenizer_config.json")).pipe(Effect.orElseSucceed(() => ({})))
    return yield* Effect.try({
      try: () => tokenizerFromJson(json, config),
      catch: (error) =>
        new InputError({ source: join(dir, "tokenizer.json"), reason: `not a usable tokenizer: ${String(error)}` }),
    })
  })

/** Decodes a growing id sequence incrementally: each call returns only the new, complete text. */
export const streamingDecoder = (tokenizer: TextTokenizer) => {
  const ids: Array<number> = []
  let emitted = ""
  return (id: number): string => {
    ids.push(id)
    const text = tokenizer.decode(ids, { skipSpecialTokens: true })
    if (text.endsWith("\uFFFD")) return ""
    const delta = text.startsWith(emitted) ? text.slice(emitted.length) : text
    emitted = text
    return delta
  }
}
