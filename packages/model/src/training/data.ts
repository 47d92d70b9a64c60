/**
 * Training data for `ds train`: a source of supervised examples that is a pure function of the step, so a resumed
 * run sees exactly the batches the uninterrupted run would have seen. Tasks (e.g. @ds/grpo's addition task) bring
 * their own `ExampleSource`; this file reads JSONL files.
 *
 *   JSONL      one record per line, any of
 *                {"text": "..."}                              language modelling on the whole text
 *                {"prompt": "...", "completion": "..."}       loss on the completion (TRL prompt-completion)
 *                {"messages": [...]}                          OpenAI chat; loss on the last assistant message,
 *                                                             rendered with the DeepSeek-V3.2 template
 *              records are held out for validation iff their index ≡ 0 (mod 20) (when there are ≥ 20); the
 *              rest is walked in epochs, each a fresh permutation from rng.fork("epoch").fork(e)
 */
import { InputError, type Rng, streamJsonl } from "@ds/core"
import { Effect, Schema, Stream } from "effect"
import { type ChatMessage, encodeChat } from "../tokenizer/chat-template.ts"
import { specialTokens } from "../tokenizer/special-tokens.ts"
import type { TextTokenizer } from "../tokenizer/tokenizer.ts"
import type { SupervisedExample } from "./batches.ts"

export interface ExampleSource {
  /** The `count` training examples of optimizer step `step` (deterministic). */
  readonly batch: (step: number, count: number) => Array<SupervisedExample>
  /** Validation examples (never in `batch`): what evaluations during training, and early stopping, read. */
  readonly validation: (count: number) => Array<SupervisedExample>
}

/** A parsed JSONL record as text pieces: the prompt (no loss) and the completion (loss). */
export interface TextExample {
  readonly prompt: string
  readonly completion: string
}

const lastAssistant = (messages: ReadonlyArray<ChatMessage>): number => {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.role === "assistant") return i
  return -1
}

/** One JSONL record -> prompt/completion text. Throws InputError naming the line. */
export const parseRecord = (record: unknown, where: string): TextExample => {
  if (typeof record !== "object" || record === null)
    throw new InputError({ source: where, reason: "expected a JSON object" })
  const r = record as Record<string, unknown>
  if (typeof r.text === "string") return { prompt: specialTokens.bos, completion: `${r.text}${specialTokens.eos}` }
  if (typeof r.prompt === "string" && typeof r.completion === "string")
    return { prompt: `${specialTokens.bos}${r.prompt}`, completion: `${r.completion}${specialTokens.eos}` }
  if (Array.isArray(r.messages)) {
    const messages = r.messages as Array<ChatMessage>
    const last = lastAssistant(messages)
    if (last < 0)
      throw new InputError({ source: where, reason: "a chat record needs an assistant message to learn from" })
    const prompt = encodeChat(messages.slice(0, last))
    const full = encodeChat(messages.slice(0, last + 1))
    return { prompt, completion: full.slice(prompt.length) }
  }
  throw new InputError({ source: where, reason: 'expected {"text"}, {"prompt","completion"} or {"messages"}' })
}

/**
 * Reads a JSONL file into text examples with core's JSONL reader: a malformed line fails naming `file:line`; a torn
 * last line (a writer killed mid-line) is dropped with a warning.
 */
export const readTextExamples = (path: string): Effect.Effect<Array<TextExample>, InputError> =>
  Effect.gen(function* () {
    const records = yield* Stream.runCollect(streamJsonl(path, Schema.Unknown))
    if (records.length === 0) return yield* Effect.fail(new InputError({ source: path, reason: "no records" }))
    return yield* Effect.try({
      try: () => records.map((record) => parseRecord(record.value, `${path}:${record.lineNumber}`)),
      catch: (e) => (e instanceof InputError ? e : new InputError({ source: path, reason: String(e) })),
    })
  })

export const encodeExample = (tokenizer: TextTokenizer, example: TextExample): SupervisedExample => ({
  prompt: tokenizer.encode(example.prompt),
  completion: tokenizer.encode(example.completion),
})

export const textSource = (tokenizer: TextTokenizer, examples: ReadonlyArray<TextExample>, rng: Rng): ExampleSource => {
  const encoded = examples.map((e) => encodeExample(tokenizer, e))
  const heldOutIndices = encoded.length >= 20 ? encoded.map((_, i) => i).filter((i) => i % 20 === 0) : []
  const held = new Set(heldOutIndices)
  const train = encoded.filter((_, i) => !held.has(i))
  const epochOrder = new Map<number, Int32Array>()
  const order = (epoch: number) => {
    let perm = epochOrder.get(epoch)
    if (perm === undefined) {
      perm = rng.fork("epoch").fork(epoch).permutation(train.length)
      epochOrder.clear()
      epochOrder.set(epoch, perm)
    }
    return perm
  }
  return {
    batch: (step, count) =>
      Array.from({ length: count }, (_, i) => {
        const position = step * count + i
        const epoch = Math.floor(position / train.length)
        return train[order(epoch)[position % train.length] as number] as SupervisedExample
      }),
    validation: (count) => heldOutIndices.slice(0, count).map((i) => encoded[i] as SupervisedExample),
  }
}
