/**
 * JSONL files: one JSON value per line (datasets, rollouts, `metrics.jsonl`). One reader and one writer for every
 * package.
 *
 * Reading (streaming, line by line, with 1-based line numbers):
 *   blank lines              skipped
 *   a malformed line         `InputError` whose source is `file:line` (not JSON, or not what the schema wants)
 *   a torn last line         the last line has no trailing newline and is not valid JSON: the writer died mid-line.
 *                            Every complete line before it is good, so it is dropped with a warning (or, with
 *                            `tornLastLine: "fail"`, an `InputError` like any malformed line)
 *   a last line without a    kept when it parses (hand-written files often lack the final newline)
 *   newline that parses
 *
 * Writing, so that a crash never leaves a file a reader cannot use:
 *   writeJsonlAtomic         the whole file to a temporary sibling, fsync, rename over the target
 *   appendJsonl              complete lines in one write + fsync: a crash leaves at most a torn last line
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { Effect, Result, Schema, Stream } from "effect"
import { InputError, OutputError } from "../errors.ts"
import { writeFileAtomicSync } from "../metrics/atomic-write.ts"

/** A schema from a JSON value (after `JSON.parse`) to the record type. */
export type JsonlSchema<A> = Schema.Codec<A, unknown>

/** One line of a file as read: its 1-based number, its text, and whether a newline ended it. */
export interface JsonlLine {
  readonly lineNumber: number
  readonly text: string
  readonly complete: boolean
}

/** The unfinished last line of a file whose writer died mid-line. */
export interface TornLine {
  /** 1-based line number. */
  readonly lineNumber: number
  readonly text: string
}

/** A decoded record and the line it came from. */
export interface JsonlRecord<A> {
  readonly lineNumber: number
  readonly value: A
}

export interface JsonlReadOptions {
  /** What a torn last line does: "drop" (default, with a warning) or "fail". */
  readonly tornLastLine?: "drop" | "fail"
  /** What a missing file does: "fail" (default) or "empty" (no records). */
  readonly missingFile?: "fail" | "empty"
}

const reasonOf = (error: unknown): string => (error instanceof Error ? error.message : String(error))

/** The lines of `text` (blank ones skipped). */
export const jsonlLinesOf = (text: string): Array<JsonlLine> => {
  const parts = text.split("\n")
  const out: Array<JsonlLine> = []
  parts.forEach((part, i) => {
    if (part.trim() !== "") out.push({ lineNumber: i + 1, text: part, complete: i < parts.length - 1 })
  })
  return out
}

/** What a decoder makes of one parsed JSON value: the record, or the reason it is not one. */
export type JsonlDecoded<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly reason: string }

/** The outcome of one line: a record, a torn last line, or the reason it is malformed. */
export type JsonlLineResult<A> =
  | { readonly _tag: "Record"; readonly value: A }
  | { readonly _tag: "Torn" }
  | { readonly _tag: "Malformed"; readonly reason: string }

/**
 * Parses one line: `JSON.parse`, then `decode`. A line without a newline that is not JSON is torn; every other
 * failure is malformed.
 */
export const parseJsonlLine = <A>(line: JsonlLine, decode: (value: unknown) => JsonlDecoded<A>): JsonlLineResult<A> => {
  let value: unknown
  try {
    value = JSON.parse(line.text)
  } catch (error) {
    return line.complete ? { _tag: "Malformed", reason: `not JSON: ${reasonOf(error)}` } : { _tag: "Torn" }
  }
  const decoded = decode(value)
  return decoded.ok ? { _tag: "Record", value: decoded.value } : { _tag: "Malformed", reason: decoded.reason }
}

/** Records of a whole JSONL text (synchronous); throws `InputError` (`source:line`) for a malformed line. */
export const parseJsonlText = <A>(
  text: string,
  source: string,
  decode: (value: unknown) => JsonlDecoded<A>,
): { readonly records: Array<JsonlRecord<A>>; readonly torn: TornLine | undefined } => {
  const records: Array<JsonlRecord<A>> = []
  let torn: TornLine | undefined
  for (const line of jsonlLinesOf(text)) {
    const result = parseJsonlLine(line, decode)
    if (result._tag === "Record") records.push({ lineNumber: line.lineNumber, value: result.value })
    else if (result._tag === "Torn") torn = { lineNumber: line.lineNumber, text: line.text }
    else throw new InputError({ source: `${source}:${line.lineNumber}`, reason: result.reason })
  }
  return { records, torn }
}

async function* readLines(file: string): AsyncGenerator<JsonlLine> {
  let rest = ""
  let lineNumber = 0
  for await (const chunk of fs.createReadStream(file, { encoding: "utf8" })) {
    const parts = (rest + (chunk as string)).split("\n")
    rest = parts.pop() as string
    for (const text of parts) {
      lineNumber += 1
      if (text.trim() !== "") yield { lineNumber, text, complete: true }
    }
  }
  if (rest.trim() !== "") yield { lineNumber: lineNumber + 1, text: rest, complete: false }
}

/** The non-blank lines of `file`, read in chunks (constant memory), with their numbers. */
export const jsonlLines = (file: string, options: JsonlReadOptions = {}): Stream.Stream<JsonlLine, InputError> =>
  Stream.unwrap(
    Effect.sync(() =>
      options.missingFile === "empty" && !fs.existsSync(file)
        ? Stream.empty
        : Stream.fromAsyncIterable(
            readLines(file),
            (error) => new InputError({ source: file, reason: `cannot read: ${reasonOf(error)}` }),
          ),
    ),
  )

/** A decoder from a schema: the record, or the schema's message. */
export const jsonlSchemaDecoder =
  <A>(schema: JsonlSchema<A>) =>
  (value: unknown): JsonlDecoded<A> => {
    const result = Schema.decodeUnknownResult(schema)(value)
    return Result.isSuccess(result)
      ? { ok: true, value: result.success }
      : { ok: false, reason: result.failure.message }
  }

/** The records of `file`, decoded with `schema`, streamed line by line (see the file comment for the rules). */
export const streamJsonl = <A>(
  file: string,
  schema: JsonlSchema<A>,
  options: JsonlReadOptions = {},
): Stream.Stream<JsonlRecord<A>, InputError> => {
  const decode = jsonlSchemaDecoder(schema)
  return jsonlLines(file, options).pipe(
    Stream.mapEffect((line) => {
      const result = parseJsonlLine(line, decode)
      if (result._tag === "Record") return Effect.succeed([{ lineNumber: line.lineNumber, value: result.value }])
      if (result._tag === "Torn" && options.tornLastLine !== "fail")
        return Effect.as(
          Effect.logWarning(`${file}:${line.lineNumber}: dropped a torn last line (its writer stopped mid-line)`),
          [],
        )
      const reason = result._tag === "Malformed" ? result.reason : "torn last line (no newline, not JSON)"
      return Effect.fail(new InputError({ source: `${file}:${line.lineNumber}`, reason }))
    }),
    Stream.flatMap((records) => Stream.fromIterable(records)),
  )
}

/** Every record of `file`, decoded with `schema` (see the file comment for the rules). */
export const readJsonl = <A>(
  file: string,
  schema: JsonlSchema<A>,
  options: JsonlReadOptions = {},
): Effect.Effect<Array<A>, InputError> =>
  Effect.map(Stream.runCollect(streamJsonl(file, schema, options)), (records) => records.map((r) => r.value))

const encodeLines = <A>(schema: JsonlSchema<A>, records: ReadonlyArray<A>): string =>
  records.map((record) => `${JSON.stringify(Schema.encodeSync(schema)(record))}\n`).join("")

const writeError = (file: string) => (error: unknown) => new OutputError({ target: file, reason: reasonOf(error) })

/** Writes `text` to `file` through a temporary sibling and a rename, creating the folder. Synchronous; throws. */
export const writeTextAtomicSync = (file: string, text: string): void => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  writeFileAtomicSync(file, text)
}

/** Replaces `file` with these records, atomically (temporary file + fsync + rename), creating the folder. */
export const writeJsonlAtomic = <A>(
  file: string,
  schema: JsonlSchema<A>,
  records: ReadonlyArray<A>,
): Effect.Effect<void, OutputError> =>
  Effect.try({ try: () => writeTextAtomicSync(file, encodeLines(schema, records)), catch: writeError(file) })

/** Appends these records as complete lines (one write + fsync), creating the file and its folder. */
export const appendJsonl = <A>(
  file: string,
  schema: JsonlSchema<A>,
  records: ReadonlyArray<A>,
): Effect.Effect<void, OutputError> =>
  Effect.try({
    try: () => {
      fs.mkdirSync(path.dirname(file), { recursive: true })
      const bytes = Buffer.from(encodeLines(schema, records), "utf8")
      const fd = fs.openSync(file, "a")
      try {
        let offset = 0
        while (offset < bytes.length) offset += fs.writeSync(fd, bytes, offset)
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
    },
    catch: writeError(file),
  })
