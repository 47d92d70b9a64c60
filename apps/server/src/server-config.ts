/**
 * What a running server was started with (docs/server.md §6): the served model's name, the API keys, the limits.
 */
import { Context, Layer } from "effect"

export interface ServerSettings {
  /** The name clients send as `model` (GET /v1/models lists it). */
  readonly modelName: string
  /** Accepted bearer tokens; empty = no authentication. */
  readonly apiKeys: ReadonlyArray<string>
  /** Largest request body in bytes (413 above it). Default 1 MiB. */
  readonly maxBodyBytes: number
  /** Largest `max_tokens` a request may ask for (400 above it). */
  readonly maxTokensCap: number
  /** Completion length when a request gives no `max_tokens`. */
  readonly defaultMaxTokens: number
  /** The folder of training runs the dashboard lists. */
  readonly runsDir: string
}

export class ServerConfig extends Context.Service<ServerConfig, ServerSettings>()("@ds/server/ServerConfig") {
  static readonly layer = (settings: ServerSettings) => Layer.succeed(ServerConfig, settings)
}
