/**
 * `POST /v1/verify` (docs/server.md §9): a problem and a proof -> the verifier's analysis and its score in
 * {0, 0.5, 1}, with @ds/selfverify's verifier prompt and parser (docs/selfverify.md), sampled by this server's
 * engine like any chat request (so it is batched with the others).
 *
 *   request:  { problem, proof, max_tokens?, temperature?, seed? }
 *   answer:   { object: "verification", analysis, score, format_ok, error, usage }
 */
import { parseVerification, verifierPrompt } from "@ds/selfverify"
import { Effect } from "effect"
import { chatCompletion } from "./completions.ts"
import { invalidRequest } from "./errors.ts"
import type { ChatRequest } from "./protocol.ts"
import { ServerConfig } from "./server-config.ts"

const field = (body: Record<string, unknown>, name: string): string | undefined =>
  typeof body[name] === "string" && body[name] !== "" ? (body[name] as string) : undefined

const optionalNumber = (body: Record<string, unknown>, name: string, min: number, max: number, integer: boolean) => {
  const v = body[name]
  if (v === undefined || v === null) return { ok: true as const, value: undefined }
  if (typeof v !== "number" || v < min || v > max || (integer && !Number.isInteger(v)))
    return {
      ok: false as const,
      error: invalidRequest(`Invalid value for '${name}': expected a number in [${min}, ${max}].`, name),
    }
  return { ok: true as const, value: v }
}

export const verify = Effect.fnUntraced(function* (body: unknown) {
  const config = yield* ServerConfig
  if (typeof body !== "object" || body === null || Array.isArray(body))
    return yield* Effect.fail(invalidRequest("The body must be a JSON object {problem, proof}.", "body"))
  const json = body as Record<string, unknown>
  const problem = field(json, "problem")
  const proof = field(json, "proof")
  if (problem === undefined)
    return yield* Effect.fail(invalidRequest("'problem' must be a non-empty string.", "problem"))
  if (proof === undefined) return yield* Effect.fail(invalidRequest("'proof' must be a non-empty string.", "proof"))
  const maxTokens = optionalNumber(json, "max_tokens", 1, config.maxTokensCap, true)
  const temperature = optionalNumber(json, "temperature", 0, 2, false)
  const seed = optionalNumber(json, "seed", 0, Number.MAX_SAFE_INTEGER, true)
  for (const r of [maxTokens, temperature, seed]) if (!r.ok) return yield* Effect.fail(r.error)
  const request: ChatRequest = {
    model: config.modelName,
    messages: [{ role: "user", content: verifierPrompt(problem, proof) }],
    n: 1,
    temperature: temperature.ok ? (temperature.value ?? 0.6) : 0.6,
    topP: 1,
    topK: 0,
    maxTokens: maxTokens.ok ? maxTokens.value : undefined,
    stop: [],
    seed: seed.ok ? seed.value : undefined,
    topLogprobs: undefined,
    stream: false,
    includeUsage: false,
    ignoreEos: false,
    tools: [],
    toolChoice: "none",
    thinking: false,
  }
  const answer = yield* chatCompletion(request)
  const completion = ("json" in answer ? answer.json : { choices: [], usage: null }) as {
    choices: Array<{ message: { content: string | null } }>
    usage: unknown
  }
  const analysis = completion.choices[0]?.message.content ?? ""
  const parsed = parseVerification(analysis)
  return {
    object: "verification",
    model: config.modelName,
    analysis,
    score: parsed.score,
    format_ok: parsed.format_ok,
    error: parsed.error,
    usage: completion.usage,
  }
})
