/**
 * What every route shares (docs/server.md §4): bearer authentication, request ids, the body-size cap and JSON
 * parsing, and the mapping of every failure to OpenAI's error JSON.
 */
import { randomBytes, timingSafeEqual } from "node:crypto"
import { ByteSize, Cause, Effect } from "effect"
import { HttpIncomingMessage, type HttpServerRequest, HttpServerResponse } from "effect/http"
import { Engine } from "./engine.ts"
import { ApiError, invalidRequest, serverError, tooLarge, unauthorized } from "./errors.ts"
import { ServerMetrics } from "./metrics.ts"
import { ServerConfig } from "./server-config.ts"

const sameKey = (a: string, b: string): boolean => {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

export const checkAuth = Effect.fnUntraced(function* (request: HttpServerRequest.HttpServerRequest) {
  const { apiKeys } = yield* ServerConfig
  if (apiKeys.length === 0) return
  const header = request.headers.authorization ?? ""
  const token = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim()
  if (token === undefined || !apiKeys.some((k) => sameKey(k, token))) return yield* Effect.fail(unauthorized())
})

const requestIdOf = (request: HttpServerRequest.HttpServerRequest): string => {
  const given = request.headers["x-request-id"]
  return given !== undefined && /^[\w.:-]{1,128}$/.test(given) ? given : `req_${randomBytes(12).toString("hex")}`
}

export const errorResponse = (error: ApiError) =>
  HttpServerResponse.jsonUnsafe(error.body, {
    status: error.status,
    ...(error.retryAfter === undefined ? {} : { headers: { "retry-after": String(error.retryAfter) } }),
  })

/** The body as JSON, within the size cap: 413 above it, 400 when it is not JSON. */
export const readJson = Effect.fnUntraced(function* (request: HttpServerRequest.HttpServerRequest) {
  const { maxBodyBytes } = yield* ServerConfig
  const declared = Number(request.headers["content-length"] ?? "0")
  if (declared > maxBodyBytes) return yield* Effect.fail(tooLarge(maxBodyBytes))
  // The cap also holds for a body without Content-Length (chunked): reading stops at the limit.
  const text = yield* request.text.pipe(
    Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(maxBodyBytes)),
    Effect.mapError((error) =>
      error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
        ? tooLarge(maxBodyBytes)
        : invalidRequest("The request body could not be read.", null),
    ),
  )
  if (Buffer.byteLength(text) > maxBodyBytes) return yield* Effect.fail(tooLarge(maxBodyBytes))
  return yield* Effect.try({
    try: (): unknown => JSON.parse(text),
    catch: (e) =>
      invalidRequest(
        `The request body is not valid JSON (${(e as Error).message}). Send a JSON object with Content-Type: application/json.`,
        null,
        "invalid_json",
      ),
  })
})

/**
 * Wraps a handler: request id, authentication, errors -> OpenAI JSON (defects -> 500 with the request id),
 * and the request counter.
 */
export const handler =
  <R>(
    route: string,
    f: (
      request: HttpServerRequest.HttpServerRequest,
    ) => Effect.Effect<HttpServerResponse.HttpServerResponse, ApiError, R>,
    options: { readonly open?: boolean } = {},
  ) =>
  (request: HttpServerRequest.HttpServerRequest) =>
    Effect.gen(function* () {
      const metrics = yield* ServerMetrics
      const engine = yield* Engine
      const requestId = requestIdOf(request)
      const response = yield* Effect.gen(function* () {
        if (options.open !== true) yield* checkAuth(request)
        return yield* f(request)
      }).pipe(
        Effect.catchCause((cause) => {
          if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause)
          const error = Cause.findErrorOption(cause)
          if (error._tag === "Some" && error.value instanceof ApiError)
            return Effect.succeed(errorResponse(error.value))
          return Effect.logError(`request ${requestId} failed`, cause).pipe(
            Effect.as(errorResponse(serverError(`Internal error (request ${requestId}); see the server log.`))),
          )
        }),
      )
      metrics.requests.inc({ route, status: String(response.status) })
      const withId = HttpServerResponse.setHeader(response, "x-request-id", requestId)
      // While draining, no connection is kept alive for another request.
      return engine.closed() ? HttpServerResponse.setHeader(withId, "connection", "close") : withId
    })
