/**
 * JSONL files of schema-checked records (ARCHITECTURE.md "Data formats"): one JSON object per line.
 *
 * - `writeJsonlAtomic` writes a whole file to `<path>.tmp-<pid>` and renames it over `path`: readers see the old
 *   file or the new one, never a torn one (one shard per step in the trainer).
 * - `appendJsonl` appends complete lines in one write and fsyncs; a crash can leave at most one partial last line,
 *   which `readJsonl` drops (it has no trailing newline), so a log stays readable after a kill.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { InputError, writeFileAtomicSync } from "@ds/core"
import { Effect, Schema } from "effect"
import { RunFileError } from "../errors.ts"

type JsonSchema<A> = Schema.Codec<A, unknown>

const failWrite = (file: string) => (error: unknown) =>
  new RunFileError({ path: file, reason: String(error instanceof Error ? error.message : error) })

const encodeLines = <A>(schema: JsonSchema<A>, records: ReadonlyArray<A>): string =>
  records.map((record) => `${JSON.stringify(Schema.encodeSync(schema)(record))}\n`).join("")

/** Replaces `file` with these records, atomically (temp file + rename). */
export const writeJsonlAtomic = <A>(file: string, schema: JsonSchema<A>, records: ReadonlyArray<A>) =>
  Effect.try({
    try: () => writeFileAtomic(file, encodeLines(schema, records)),
    catch: failWrite(file),
  })

/** Writes `text` to `file` through a temp file and a rename, creating the folder. Synchronous. */
export const writeFileAtomic = (file: string, text: string): void => {
  fs.mkdirSync(path.dirname(file), { recursive: true })
  writeFileAtomicSync(file, text)
}

/** Appends these records as complete lines (one write + fsync). */
export const appendJsonl = <A>(file: string, schema: JsonSchema<A>, records: ReadonlyArray<A>) =>
  Effect.try({
    try: () => {
      fs.mkdirSync(path.dirname(file), { recursive: true })
      const fd = fs.openSync(file, "a")
      try {
        fs.writeSync(fd, encodeLines(schema, records))
        fs.fsyncSync(fd)
      } finally {
        fs.closeSync(fd)
      }
    },
    catch: failWrite(file),
  })

/** Reads and validates every complete line; a missing file is an empty list. */
export const readJsonl = <A>(file: string, schema: JsonSchema<A>): Effect.Effect<Array<A>, InputError> =>
  Effect.try({
    try: () => {
      if (!fs.existsSync(file)) return []
      const text = fs.readFileSync(file, "utf8")
      const complete = text.endsWith("\n") ? text : text.slice(0, text.lastIndexOf("\n") + 1)
      return complete
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line, i) => {
          try {
            return Schema.decodeUnknownSync(schema)(JSON.parse(line))
          } catch (error) {
            throw new Error(`line ${i + 1}: ${error instanceof Error ? error.message : String(error)}`)
          }
        })
    },
    catch: (error) => new InputError({ source: file, reason: String(error instanceof Error ? error.message : error) }),
  })
