/**
 * A tokenizer for the proof domain (docs/selfverify.md §10): byte-level BPE whose pre-tokens are single digits or
 * whole runs of non-digit text within a line,
 *
 *   pre-tokens = \p{N} | [^\p{N}\n]+ | \n+
 *
 * so the key phrases of the output formats ("Based on my evaluation, the final overall score should be: \boxed{")
 * and the recurring sentences of the oracle's analyses become one token each, while numbers stay digit by digit
 * (what the model must compute). With @ds/model's default word-level split the same records are 3-4x longer, and a
 * tiny model's training step grows faster than linearly with the length (measured in docs/selfverify.md §10).
 */
import { encodeChat, type TextTokenizer, trainTokenizer } from "@ds/model"
import type { RoleExample } from "./data.ts"

export const domainSplitPattern = "\\p{N}|[^\\p{N}\\n]+|\\n+"

/** The chat-template text of a prompt as a user turn, ending where the assistant's answer starts. */
export const chatPromptText = (prompt: string): string => encodeChat([{ role: "user", content: prompt }])

/** Trains the domain tokenizer on the chat texts of `examples` (prompt and completion). */
export const domainTokenizer = (examples: ReadonlyArray<RoleExample>, vocabSize: number): TextTokenizer =>
  trainTokenizer(
    examples.map((e) =>
      encodeChat([
        { role: "user", content: e.prompt },
        { role: "assistant", content: e.completion },
      ]),
    ),
    { vocabSize, pattern: domainSplitPattern },
  )
