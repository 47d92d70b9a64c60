/**
 * The server as a layer and as a program (docs/server.md §6): the routes on `effect/http`'s router, served by
 * Node's HTTP server, over the engine, the loaded checkpoint, the metrics registry and the settings.
 *
 * Shutdown (SIGTERM or SIGINT): the listening socket closes at once (new connections are refused), open requests
 * and streams get `shutdownTimeoutMs` to finish, then the rest are cut and the engine stops; the process exits 0.
 */
import { createServer } from "node:http"
import { basename, resolve } from "node:path"
import { Backend, type BackendChoice } from "@ds/core"
import { LocalModel } from "@ds/model"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Context, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { Engine, type EngineOptions } from "./engine.ts"
import { ServerMetrics } from "./metrics.ts"
import { routes } from "./routes.ts"
import { ServerConfig, type ServerSettings } from "./server-config.ts"

export interface ServeOptions extends Partial<ServerSettings> {
  /** Checkpoint folder (config.json, model.safetensors, tokenizer.json). */
  readonly checkpoint: string
  /** Default 8000; 0 picks a free port. */
  readonly port?: number
  /** Default 127.0.0.1. */
  readonly host?: string
  readonly engine?: EngineOptions
  /** Time open streams get to finish on shutdown. Default 10 s. */
  readonly shutdownTimeoutMs?: number
  /** Tensor backend. Default auto. */
  readonly backend?: BackendChoice
}

export const settingsOf = (options: ServeOptions): ServerSettings => ({
  modelName: options.modelName ?? basename(resolve(options.checkpoint)),
  apiKeys: options.apiKeys ?? [],
  maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
  maxTokensCap: options.maxTokensCap ?? 4096,
  defaultMaxTokens: options.defaultMaxTokens ?? 256,
  runsDir: options.runsDir ?? "runs",
})

/** The whole server; its output keeps the HttpServer (for the bound address) and the engine. */
export const serverLayer = (options: ServeOptions) => {
  const model = LocalModel.layer(options.checkpoint).pipe(Layer.provide(Backend.layerChoice(options.backend ?? "auto")))
  const services = Engine.layer(options.engine).pipe(
    Layer.provideMerge(Layer.mergeAll(model, ServerMetrics.layer, ServerConfig.layer(settingsOf(options)))),
  )
  const http = NodeHttpServer.layer(() => createServer(), {
    port: options.port ?? 8000,
    host: options.host ?? "127.0.0.1",
    gracefulShutdownTimeout: options.shutdownTimeoutMs ?? 10_000,
  })
  return HttpRouter.serve(routes, { disableListenLog: true, disableLogger: true }).pipe(
    Layer.provideMerge(services),
    Layer.provideMerge(http),
  )
}

export interface RunningServer {
  /** `http://host:port` */
  readonly url: string
  readonly port: number
  readonly engine: Context.Service.Shape<typeof Engine>
}

/** Starts the server in the current scope and returns its address. */
export const startServer = Effect.fnUntraced(function* (options: ServeOptions) {
  const context = yield* Layer.build(serverLayer(options))
  const server = Context.get(context, HttpServer.HttpServer)
  const engine = Context.get(context, Engine)
  const address = server.address
  if (address._tag === "UnixPathAddress") return yield* Effect.die(new Error("the server is not on TCP"))
  const host = options.host ?? "127.0.0.1"
  const shown = host.includes(":") ? `[${host}]` : host
  return { url: `http://${shown}:${address.port}`, port: address.port, engine } satisfies RunningServer
})

/** Resolves on the first SIGTERM or SIGINT. */
const shutdownSignal = Effect.callback<string>((resume) => {
  const on = (signal: string) => () => resume(Effect.succeed(signal))
  const term = on("SIGTERM")
  const int = on("SIGINT")
  process.once("SIGTERM", term)
  process.once("SIGINT", int)
  return Effect.sync(() => {
    process.off("SIGTERM", term)
    process.off("SIGINT", int)
  })
})

/**
 * `ds serve`: starts, logs the address, serves until SIGTERM/SIGINT, then drains and returns normally (exit 0).
 * Uninterruptible, so the runtime's own signal handling cannot cut the drain short.
 */
export const serveProgram = (
  options: ServeOptions,
  onListening: (url: string) => Effect.Effect<void> = () => Effect.void,
) =>
  Effect.uninterruptible(
    Effect.scoped(
      Effect.gen(function* () {
        const server = yield* startServer(options)
        yield* onListening(server.url)
        const signal = yield* shutdownSignal
        yield* Effect.logInfo(
          `${signal}: closing the listener; open requests get ${options.shutdownTimeoutMs ?? 10_000} ms`,
        )
        yield* server.engine.close
      }),
    ),
  )
