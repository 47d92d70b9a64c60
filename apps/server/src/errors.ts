/**
 * Errors in OpenAI's wire shape (docs/server.md §4): every failure a client can see is an `ApiError` with the HTTP
 * status and the body `{ error: { message, type, param, code } }` that OpenAI's SDKs parse.
 */
import { Schema } from "effect"

export class ApiError extends Schema.TaggedError<ApiError>()("ApiError", {
  status: Schema.Number,
  detail: Schema.String,
  type: Schema.String,
  param: Schema.NullOr(Schema.String),
  code: Schema.NullOr(Schema.String),
  /** Seconds a client should wait before retrying, sent as `Retry-After` (OpenAI's SDKs and our provider honour it). */
  retryAfter: Schema.optional(Schema.Number),
}) {
  override get message(): string {
    return this.detail
  }

  /** The JSON body OpenAI's clients expect. */
  get body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.detail, type: this.type, param: this.param, code: this.code } }
  }
}

/** 400: the request is malformed (`param` names the offending field). */
export const invalidRequest = (detail: string, param: string | null = null, code: string | null = null): ApiError =>
  new ApiError({ status: 400, detail, type: "invalid_request_error", param, code })

export const unauthorized = (): ApiError =>
  new ApiError({
    status: 401,
    detail:
      "Missing or incorrect API key: send the header `Authorization: Bearer <key>` with a key the server was started with (--api-key or DS_API_KEYS).",
    type: "invalid_request_error",
    param: null,
    code: "invalid_api_key",
  })

export const notFound = (detail: string, code: string | null = null, param: string | null = null): ApiError =>
  new ApiError({ status: 404, detail, type: "invalid_request_error", param, code })

export const tooLarge = (limit: number): ApiError =>
  new ApiError({
    status: 413,
    detail: `The request body is larger than the server's limit of ${limit} bytes.`,
    type: "invalid_request_error",
    param: null,
    code: "request_too_large",
  })

export const queueFull = (limit: number): ApiError =>
  new ApiError({
    status: 429,
    detail: `The server's queue is full (${limit} waiting sequences); retry after a short delay.`,
    type: "rate_limit_exceeded",
    param: null,
    code: "queue_full",
    retryAfter: 1,
  })

export const shuttingDown = (): ApiError =>
  new ApiError({
    status: 503,
    detail: "The server is shutting down and accepts no new requests.",
    type: "server_error",
    param: null,
    code: "shutting_down",
  })

export const serverError = (detail: string): ApiError =>
  new ApiError({ status: 500, detail, type: "server_error", param: null, code: null })
