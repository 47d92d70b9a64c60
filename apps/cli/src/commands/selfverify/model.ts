/**
 * The model behind `ds prove | verify | meta-verify | refine | search`: an OpenAI-compatible endpoint
 * (`--base-url`, `--api-key`, `--model`: DeepSeek's API, vLLM or SGLang serving DeepSeekMath-V2, `ds serve`) or a
 * local checkpoint (`--checkpoint`). Shared flags and the layer they build (docs/selfverify.md §9).
 */
import { ConfigError, Progress } from "@ds/core"
import { type CheckpointLoadError, localLanguageModelLayer, OpenAiCompat } from "@ds/model"
import { Config, Effect, Layer, Option, type Redacted } from "effect"
import type { LanguageModel } from "effect/ai"
import { Flag } from "effect/cli"
import { backendFlag } from "../options.ts"
import { computeLayer } from "../run-compute.ts"

export const modelFlags = {
  baseUrl: Flag.String("base-url").pipe(
    Flag.withDescription("OpenAI-compatible endpoint up to the version, e.g. https://api.deepseek.com/v1"),
    Flag.withFallbackConfig(Config.String("DS_BASE_URL")),
    Flag.optional,
  ),
  apiKey: Flag.Redacted("api-key").pipe(
    Flag.withDescription("Bearer key of the endpoint (default: $OPENAI_API_KEY)"),
    Flag.withFallbackConfig(Config.Redacted("OPENAI_API_KEY")),
    Flag.optional,
  ),
  model: Flag.String("model").pipe(
    Flag.withDescription("Model name sent to the endpoint"),
    Flag.withDefault("deepseek-reasoner"),
  ),
  checkpoint: Flag.Directory("checkpoint", { mustExist: true }).pipe(
    Flag.withDescription("Use a local checkpoint folder instead of an endpoint"),
    Flag.optional,
  ),
  maxConcurrency: Flag.Int("max-concurrency").pipe(
    Flag.withDescription("Requests in flight at most"),
    Flag.withDefault(8),
  ),
  maxRetries: Flag.Int("max-retries").pipe(
    Flag.withDescription("Retries of a request on 429/5xx, transport errors and timeouts (exponential backoff)"),
    Flag.withDefault(4),
  ),
  timeoutSeconds: Flag.Int("timeout").pipe(Flag.withDescription("Seconds one attempt may take"), Flag.withDefault(600)),
  temperature: Flag.Finite("temperature").pipe(Flag.withDescription("Sampling temperature"), Flag.optional),
  topP: Flag.Finite("top-p").pipe(Flag.withDescription("Nucleus sampling mass"), Flag.optional),
  maxTokens: Flag.Int("max-tokens").pipe(Flag.withDescription("Tokens per answer at most"), Flag.optional),
  priceInput: Flag.Finite("price-input").pipe(
    Flag.withDescription("USD per million input tokens, for the report's cost line"),
    Flag.optional,
  ),
  priceOutput: Flag.Finite("price-output").pipe(
    Flag.withDescription("USD per million output tokens, for the report's cost line"),
    Flag.optional,
  ),
  backend: backendFlag,
}

type ModelLayerError = CheckpointLoadError | ConfigError | Layer.Error<ReturnType<typeof computeLayer>>

type FlagValue<F> = F extends Flag.Flag<infer A> ? A : never

type ModelFlags = { readonly [K in keyof typeof modelFlags]: FlagValue<(typeof modelFlags)[K]> }

/** The LanguageModel layer (plus progress bars, and the tensor backend for a checkpoint) the flags ask for. */
export const modelLayer = (flags: ModelFlags): Layer.Layer<LanguageModel.LanguageModel | Progress, ModelLayerError> => {
  const temperature = Option.getOrUndefined(flags.temperature)
  const topP = Option.getOrUndefined(flags.topP)
  const maxTokens = Option.getOrUndefined(flags.maxTokens)
  if (Option.isSome(flags.checkpoint))
    return Layer.mergeAll(
      localLanguageModelLayer(flags.checkpoint.value, {
        maxNewTokens: maxTokens ?? 512,
        ...(temperature === undefined ? {} : { temperature }),
        ...(topP === undefined ? {} : { topP }),
      }),
      Progress.layerTerminal(),
    ).pipe(Layer.provide(computeLayer(flags.backend)))
  if (Option.isNone(flags.baseUrl))
    return Layer.effectDiscard(
      Effect.fail(
        new ConfigError({
          field: "--base-url / --checkpoint",
          reason: "no model: give --base-url URL --model NAME (and --api-key or $OPENAI_API_KEY), or --checkpoint DIR",
        }),
      ),
    ) as Layer.Layer<LanguageModel.LanguageModel | Progress, ConfigError>
  const apiKey: Redacted.Redacted<string> | undefined = Option.getOrUndefined(flags.apiKey)
  return Layer.mergeAll(
    OpenAiCompat.layerFetch({
      baseUrl: flags.baseUrl.value,
      model: flags.model,
      maxConcurrency: flags.maxConcurrency,
      maxRetries: flags.maxRetries,
      timeout: `${flags.timeoutSeconds} seconds`,
      ...(apiKey === undefined ? {} : { apiKey }),
      ...(temperature === undefined ? {} : { temperature }),
      ...(topP === undefined ? {} : { topP }),
      ...(maxTokens === undefined ? {} : { maxTokens }),
    }),
    Progress.layerTerminal(),
  )
}

/** The cost prices, when both were given. */
export const pricesOf = (flags: ModelFlags) =>
  Option.isSome(flags.priceInput) && Option.isSome(flags.priceOutput)
    ? { pricePerMillion: { input: flags.priceInput.value, output: flags.priceOutput.value } }
    : {}
