/**
 * `ds serve`: an OpenAI-compatible HTTP server for a checkpoint (docs/server.md), with continuous batching, a
 * Prometheus `/metrics`, and the runs dashboard at `/`.
 */
import { serveProgram } from "@ds/server"
import { Config, Console, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlag, checkpointFlag } from "./options.ts"

export const serve = Command.make(
  "serve",
  {
    checkpoint: checkpointFlag,
    port: Flag.Int("port").pipe(Flag.withDescription("TCP port (0 picks a free one)"), Flag.withDefault(8000)),
    host: Flag.String("host").pipe(
      Flag.withDescription("Address to listen on (0.0.0.0 for every interface)"),
      Flag.withDefault("127.0.0.1"),
    ),
    apiKey: Flag.String("api-key").pipe(
      Flag.withDescription("Require `Authorization: Bearer KEY` (comma-separated for several; else DS_API_KEYS)"),
      Flag.withFallbackConfig(Config.String("DS_API_KEYS")),
      Flag.optional,
    ),
    modelName: Flag.String("model-name").pipe(
      Flag.withDescription("The model id clients send (default: the checkpoint folder's name)"),
      Flag.optional,
    ),
    maxBatch: Flag.Int("max-batch").pipe(
      Flag.withDescription("Sequences decoded together in one batched step"),
      Flag.withDefault(32),
    ),
    maxQueue: Flag.Int("max-queue").pipe(
      Flag.withDescription("Sequences that may wait for a batch slot; beyond it requests get 429"),
      Flag.withDefault(256),
    ),
    maxTokensCap: Flag.Int("max-tokens-cap").pipe(
      Flag.withDescription("Largest max_tokens a request may ask for (400 above it)"),
      Flag.withDefault(4096),
    ),
    runs: Flag.String("runs").pipe(Flag.withDescription("Runs folder the dashboard lists"), Flag.withDefault("runs")),
    shutdownTimeout: Flag.Int("shutdown-timeout").pipe(
      Flag.withDescription("Seconds open streams get to finish after SIGTERM"),
      Flag.withDefault(10),
    ),
    backend: backendFlag,
  },
  (options) => {
    const keys = Option.getOrUndefined(options.apiKey)
    const modelName = Option.getOrUndefined(options.modelName)
    return serveProgram(
      {
        checkpoint: options.checkpoint,
        port: options.port,
        host: options.host,
        backend: options.backend,
        apiKeys:
          keys === undefined
            ? []
            : keys
                .split(",")
                .map((k) => k.trim())
                .filter((k) => k !== ""),
        maxTokensCap: options.maxTokensCap,
        runsDir: options.runs,
        shutdownTimeoutMs: options.shutdownTimeout * 1000,
        engine: { maxBatch: options.maxBatch, maxQueue: options.maxQueue },
        ...(modelName === undefined ? {} : { modelName }),
      },
      (url) => Console.log(`ds serve: listening on ${url} (OpenAI API at ${url}/v1, dashboard at ${url}/)`),
    ).pipe(
      Effect.andThen(Console.log("ds serve: stopped")),
      // The drain finished: exit 0 now, before the runtime reports the signal as an interrupted run (130).
      Effect.andThen(Effect.sync(() => process.exit(0))),
      Effect.uninterruptible,
    )
  },
).pipe(
  Command.withDescription("Serve a checkpoint over OpenAI's HTTP API (chat, completions, streaming, tools)"),
  Command.withExamples([
    {
      command: "ds serve --checkpoint runs/demo/sft/checkpoint --port 8000",
      description: "Serve the demo's model; then point any OpenAI client at http://127.0.0.1:8000/v1",
    },
    {
      command: "DS_API_KEYS=secret ds serve --checkpoint runs/demo/sft/checkpoint --host 0.0.0.0",
      description: "Listen on every interface and require `Authorization: Bearer secret`",
    },
  ]),
)
