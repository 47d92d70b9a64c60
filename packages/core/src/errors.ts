/**
 * Tagged error types shared by every ds package.
 *
 * Each is a `Schema.TaggedError`: a real `Error` (so synchronous numeric code can `throw` it) that Effect code can
 * also `yield*` and match by `_tag`. Messages say what went wrong and what to do next.
 */
import { Schema } from "effect"

/** A tensor argument has the wrong rank, shape or dtype. Thrown at the entry of numeric functions. */
export class ShapeError extends Schema.TaggedError<ShapeError>()("ShapeError", {
  argument: Schema.String,
  expected: Schema.String,
  actual: Schema.String,
}) {
  override get message(): string {
    return `${this.argument}: expected ${this.expected}, got ${this.actual}`
  }
}

/** A configuration value is missing, malformed or inconsistent with another one; `file` names where it was read. */
export class ConfigError extends Schema.TaggedError<ConfigError>()("ConfigError", {
  field: Schema.String,
  reason: Schema.String,
  file: Schema.optional(Schema.String),
}) {
  override get message(): string {
    return `${this.file === undefined ? "" : `${this.file}: `}config field "${this.field}": ${this.reason}`
  }
}

/** The requested compute backend cannot be used here; `hint` says how to make it available. */
export class BackendUnavailableError extends Schema.TaggedError<BackendUnavailableError>()("BackendUnavailableError", {
  backend: Schema.String,
  reason: Schema.String,
  hint: Schema.String,
}) {
  override get message(): string {
    return `backend "${this.backend}" is unavailable: ${this.reason}\n${this.hint}`
  }
}

/** A safetensors file (or sharded index) is malformed. Names the file and, where known, the tensor. */
export class SafetensorsError extends Schema.TaggedError<SafetensorsError>()("SafetensorsError", {
  file: Schema.String,
  tensor: Schema.optional(Schema.String),
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.file}${this.tensor === undefined ? "" : ` (tensor "${this.tensor}")`}: ${this.reason}`
  }
}

/** A checkpoint folder does not match the model: missing, unexpected or mis-shaped parameters. */
export class CheckpointError extends Schema.TaggedError<CheckpointError>()("CheckpointError", {
  path: Schema.String,
  reason: Schema.String,
  missing: Schema.optional(Schema.Array(Schema.String)),
  unexpected: Schema.optional(Schema.Array(Schema.String)),
  misshaped: Schema.optional(Schema.Array(Schema.String)),
}) {
  override get message(): string {
    const list = (label: string, xs: ReadonlyArray<string> | undefined) =>
      xs !== undefined && xs.length > 0
        ? `\n  ${label}: ${xs.slice(0, 20).join(", ")}${xs.length > 20 ? ` … (${xs.length})` : ""}`
        : ""
    return `${this.path}: ${this.reason}${list("missing", this.missing)}${list("unexpected", this.unexpected)}${list("mis-shaped", this.misshaped)}`
  }
}

/** A file or input a user supplied could not be read or parsed. */
export class InputError extends Schema.TaggedError<InputError>()("InputError", {
  source: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.source}: ${this.reason}`
  }
}

/** A file the program writes (a record, a log, a summary) could not be written. Names the file. */
export class OutputError extends Schema.TaggedError<OutputError>()("OutputError", {
  target: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `${this.target}: ${this.reason}`
  }
}
