/**
 * The HTTP surface (docs/server.md §1, §4, §5) on `effect/http`'s router: every route answers either its result or
 * OpenAI's error JSON with the right status, never a bare 500 page; every answer carries `x-request-id` (the
 * client's own when it sent a sane one); `/health` and the dashboard page are open, the rest needs a bearer key
 * when the server has keys.
 */
import { LocalModel } from "@ds/model"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { type Answer, chatCompletion, textCompletion } from "./completions.ts"
import { dashboardRoutes } from "./dashboard.ts"
import { Engine } from "./engine.ts"
import { notFound } from "./errors.ts"
import { handler, readJson } from "./handler.ts"
import { ServerMetrics } from "./metrics.ts"
import { parseChatRequest, parseCompletionRequest } from "./protocol.ts"
import { ServerConfig } from "./server-config.ts"
import { verify } from "./verify.ts"

const answer = (result: Answer) =>
  result.stream !== undefined
    ? HttpServerResponse.stream(result.stream, {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-cache", connection: "keep-alive", "x-accel-buffering": "no" },
      })
    : HttpServerResponse.jsonUnsafe(result.json)

const chat = handler("/v1/chat/completions", (request) =>
  Effect.gen(function* () {
    const body = yield* readJson(request)
    const { maxTokensCap } = yield* ServerConfig
    const parsed = parseChatRequest(body, maxTokensCap)
    if (!parsed.ok) return yield* Effect.fail(parsed.error)
    return answer(yield* chatCompletion(parsed.value))
  }),
)

const completions = handler("/v1/completions", (request) =>
  Effect.gen(function* () {
    const body = yield* readJson(request)
    const { maxTokensCap } = yield* ServerConfig
    const parsed = parseCompletionRequest(body, maxTokensCap)
    if (!parsed.ok) return yield* Effect.fail(parsed.error)
    return answer(yield* textCompletion(parsed.value))
  }),
)

const verifyRoute = handler("/v1/verify", (request) =>
  Effect.gen(function* () {
    const body = yield* readJson(request)
    return HttpServerResponse.jsonUnsafe(yield* verify(body))
  }),
)

const models = handler("/v1/models", () =>
  Effect.gen(function* () {
    const { modelName } = yield* ServerConfig
    const { model } = yield* LocalModel
    return HttpServerResponse.jsonUnsafe({
      object: "list",
      data: [{ id: modelName, object: "model", created: 0, owned_by: "ds", max_model_len: model.config.max_seq_len }],
    })
  }),
)

const model = handler("/v1/models/:id", (request) =>
  Effect.gen(function* () {
    const { modelName } = yield* ServerConfig
    const id = decodeURIComponent(new URL(request.url, "http://x").pathname.slice("/v1/models/".length))
    if (id !== modelName)
      return yield* Effect.fail(notFound(`The model '${id}' does not exist.`, "model_not_found", "model"))
    return HttpServerResponse.jsonUnsafe({ id: modelName, object: "model", created: 0, owned_by: "ds" })
  }),
)

const health = handler(
  "/health",
  () =>
    Effect.gen(function* () {
      const engine = yield* Engine
      // 503 while draining, so that load balancers stop sending work here.
      return engine.closed()
        ? HttpServerResponse.jsonUnsafe({ status: "shutting_down", ...engine.load() }, { status: 503 })
        : HttpServerResponse.jsonUnsafe({ status: "ok", ...engine.load() })
    }),
  { open: true },
)

const metricsRoute = handler("/metrics", () =>
  Effect.gen(function* () {
    const metrics = yield* ServerMetrics
    return HttpServerResponse.text(metrics.render(), { contentType: "text/plain; version=0.0.4; charset=utf-8" })
  }),
)

const unknownRoute = handler("unknown", (request) =>
  Effect.fail(
    notFound(`Unknown route: ${request.method} ${new URL(request.url, "http://x").pathname}.`, "unknown_route"),
  ),
)

/** Every route of the server. */
export const routes = Layer.mergeAll(
  HttpRouter.add("POST", "/v1/chat/completions", chat),
  HttpRouter.add("POST", "/v1/completions", completions),
  HttpRouter.add("POST", "/v1/verify", verifyRoute),
  HttpRouter.add("GET", "/v1/models", models),
  HttpRouter.add("GET", "/v1/models/:id", model),
  HttpRouter.add("GET", "/health", health),
  HttpRouter.add("GET", "/metrics", metricsRoute),
  dashboardRoutes,
  HttpRouter.add("*", "*", unknownRoute),
)
