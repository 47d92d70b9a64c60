/**
 * A scripted `LanguageModel` layer: a TEST DOUBLE for a strong proof model (DeepSeekMath-V2, 685B parameters, or
 * an API behind a key), which cannot run on this machine. It answers each prompt with text computed by a script
 * (in these tests, usually from the exact oracle of the arithmetic domain), counts its calls, and reports usage as
 * characters / 4 so token accounting has something to add up. Everything else in the loops under test is real.
 */
import { Effect, Layer, Ref } from "effect"
import { AiError, LanguageModel, type Prompt } from "effect/ai"

export type Role = "generator" | "verifier" | "meta" | "refinement"

/** Which prompt is this? (by the section headers of the default templates) */
export const roleOf = (prompt: string): Role =>
  prompt.includes("## Solution Evaluation")
    ? "meta"
    : prompt.includes("## Candidate Solutions to Refine")
      ? "refinement"
      : prompt.startsWith("You are grading a proof")
        ? "verifier"
        : "generator"

/** The text of a section `## name` of a prompt, up to the next `## ` header. */
export const section = (prompt: string, name: string): string => {
  const start = prompt.indexOf(`## ${name}\n`)
  if (start < 0) return ""
  const rest = prompt.slice(start + name.length + 4)
  const end = rest.search(/\n## [A-Z]/)
  return (end < 0 ? rest : rest.slice(0, end)).trim()
}

const promptText = (prompt: Prompt.Prompt): string =>
  prompt.content
    .map((m) =>
      m.role === "system"
        ? m.content
        : m.role === "user" || m.role === "assistant"
          ? m.content.map((p) => (p.type === "text" ? p.text : "")).join("")
          : "",
    )
    .join("\n")

export interface Script {
  /** The answer to a prompt; a string "FAIL" makes the call fail with a provider error (an endpoint outage). */
  readonly respond: (prompt: string, role: Role, call: number) => string
}

export const scriptedModel = (script: Script, calls: Ref.Ref<Array<{ role: Role; prompt: string }>>) =>
  Layer.effect(
    LanguageModel.LanguageModel,
    LanguageModel.make({
      generateText: (options) =>
        Effect.gen(function* () {
          const prompt = promptText(options.prompt)
          const role = roleOf(prompt)
          const n = (yield* Ref.get(calls)).length
          yield* Ref.update(calls, (all) => [...all, { role, prompt }])
          const text = script.respond(prompt, role, n)
          if (text === "FAIL")
            return yield* AiError.make({
              module: "test/scripted-model",
              method: "generateText",
              reason: new AiError.InternalProviderError({ description: "scripted outage" }),
            })
          return [
            { type: "text" as const, text },
            {
              type: "finish" as const,
              reason: "stop" as const,
              usage: {
                inputTokens: { total: Math.ceil(prompt.length / 4) },
                outputTokens: { total: Math.ceil(text.length / 4) },
              },
            },
          ]
        }),
      streamText: () => {
        throw new Error("the scripted model does not stream")
      },
    }),
  )
