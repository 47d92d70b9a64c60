/**
 * Configuration as a `Schema` with defaults: a missing key decodes to its default (as Python's
 * `ModelArgs(**config)` or a TRL config dataclass does), and a bad value is a `ConfigError` naming the first bad
 * field by its path (`grpo.epsilon`, `task.rewards.0.weight`), so a user knows which line of the file to fix.
 *
 *   const Options = Schema.Struct({ steps: withDefault(Schema.Int, 100) })
 *   decodeConfigSync(Options, JSON.parse(text))      // { steps: 100 } for {}
 */
import { Effect, Result, Schema, SchemaIssue } from "effect"
import { ConfigError } from "../errors.ts"

/** `schema`, with `value` (an encoded value) filled in when the key is missing. */
export const withDefault = <S extends Schema.Top & { readonly Encoded: unknown }>(schema: S, value: S["Encoded"]) =>
  schema.pipe(Schema.withDecodingDefaultKey(Effect.succeed(value)))

const formatIssue = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * Decodes `input` with `schema` (defaults filled in, unknown keys rejected); throws `ConfigError` naming the first
 * bad field (`(root)` when the input itself is wrong).
 */
export const decodeConfigSync = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  input: unknown,
): S["Type"] => {
  const result = Schema.decodeUnknownResult(schema)(input, { errors: "all", onExcessProperty: "error" })
  if (Result.isFailure(result)) {
    const first = formatIssue(result.failure.issue).issues[0]
    const field = first?.path?.map(String).join(".") ?? ""
    throw new ConfigError({ field: field === "" ? "(root)" : field, reason: first?.message ?? "invalid value" })
  }
  return result.success
}

/** `decodeConfigSync` as an Effect failing with `ConfigError`. */
export const decodeConfig = <S extends Schema.Top & { readonly DecodingServices: never }>(
  schema: S,
  input: unknown,
): Effect.Effect<S["Type"], ConfigError> =>
  Effect.try({
    try: () => decodeConfigSync(schema, input),
    catch: (error) =>
      error instanceof ConfigError ? error : new ConfigError({ field: "(root)", reason: String(error) }),
  })
