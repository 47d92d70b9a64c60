/**
 * The one JSONL reader and writer: records come back with their line numbers, a malformed line fails naming
 * `file:line`, a torn last line (a writer killed mid-line) is dropped while every complete line before it is kept,
 * and the writers leave either the old file or the new one.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { expect, it } from "@effect/vitest"
import { Effect, Schema, Stream } from "effect"
import { afterEach, describe } from "vitest"
import { appendJsonl, InputError, parseJsonlText, readJsonl, streamJsonl, writeJsonlAtomic } from "../src/index.ts"

const Row = Schema.Struct({ id: Schema.String, n: Schema.Int })

const dirs: Array<string> = []
const tempFile = (name: string): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ds-jsonl-"))
  dirs.push(dir)
  return path.join(dir, name)
}
afterEach(() => {
  for (const dir of dirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true })
})

describe("JSONL reader", () => {
  it.effect("streams records with their 1-based line numbers; blank lines are skipped", () =>
    Effect.gen(function* () {
      const file = tempFile("a.jsonl")
      fs.writeFileSync(file, '{"id":"a","n":1}\n\n{"id":"b","n":2}\n')
      const records = yield* Stream.runCollect(streamJsonl(file, Row))
      expect(records).toEqual([
        { lineNumber: 1, value: { id: "a", n: 1 } },
        { lineNumber: 3, value: { id: "b", n: 2 } },
      ])
    }),
  )

  it.effect("a line that is not JSON fails with an InputError naming file:line", () =>
    Effect.gen(function* () {
      const file = tempFile("bad.jsonl")
      fs.writeFileSync(file, '{"id":"a","n":1}\n{"id": oops}\n{"id":"c","n":3}\n')
      const error = yield* Effect.flip(readJsonl(file, Row))
      expect(error).toBeInstanceOf(InputError)
      expect(error.source).toBe(`${file}:2`)
      expect(error.reason).toMatch(/^not JSON/)
    }),
  )

  it.effect("a line the schema rejects fails naming its line, even when it is the last one", () =>
    Effect.gen(function* () {
      const file = tempFile("schema.jsonl")
      fs.writeFileSync(file, '{"id":"a","n":1}\n{"id":"b","n":"two"}')
      const error = yield* Effect.flip(readJsonl(file, Row))
      expect(error.source).toBe(`${file}:2`)
    }),
  )

  it.effect("a torn last line is dropped and every complete line before it kept; 'fail' reports it instead", () =>
    Effect.gen(function* () {
      const file = tempFile("torn.jsonl")
      fs.writeFileSync(file, '{"id":"a","n":1}\n{"id":"b","n":2}\n{"id":"c","n"')
      expect((yield* readJsonl(file, Row)).map((r) => r.id)).toEqual(["a", "b"])
      const error = yield* Effect.flip(readJsonl(file, Row, { tornLastLine: "fail" }))
      expect(error.source).toBe(`${file}:3`)
    }),
  )

  it.effect("a complete last line without a newline is kept (hand-written files)", () =>
    Effect.gen(function* () {
      const file = tempFile("no-newline.jsonl")
      fs.writeFileSync(file, '{"id":"a","n":1}\n{"id":"b","n":2}')
      expect((yield* readJsonl(file, Row)).map((r) => r.id)).toEqual(["a", "b"])
    }),
  )

  it.effect("reads a file larger than one read chunk, line numbers intact", () =>
    Effect.gen(function* () {
      const file = tempFile("big.jsonl")
      const count = 5000
      const pad = "x".repeat(40)
      fs.writeFileSync(file, Array.from({ length: count }, (_, i) => `{"id":"${pad}${i}","n":${i}}\n`).join(""))
      const records = yield* Stream.runCollect(streamJsonl(file, Row))
      expect(records).toHaveLength(count)
      expect(records.every((r, i) => r.lineNumber === i + 1 && r.value.n === i)).toBe(true)
    }),
  )

  it.effect("a missing file fails with an InputError, or reads as empty when asked", () =>
    Effect.gen(function* () {
      const file = tempFile("absent.jsonl")
      const error = yield* Effect.flip(readJsonl(file, Row))
      expect(error.source).toBe(file)
      expect(error.reason).toMatch(/cannot read/)
      expect(yield* readJsonl(file, Row, { missingFile: "empty" })).toEqual([])
    }),
  )

  it("parseJsonlText applies the same rules to text in memory", () => {
    const decode = (value: unknown) => ({ ok: true as const, value })
    expect(parseJsonlText('{"a":1}\n{"a":', "mem", decode)).toEqual({
      records: [{ lineNumber: 1, value: { a: 1 } }],
      torn: { lineNumber: 2, text: '{"a":' },
    })
    expect(() => parseJsonlText('{"a":\n{"a":1}\n', "mem", decode)).toThrow("mem:1: not JSON")
  })
})

describe("JSONL writers", () => {
  it.effect("writeJsonlAtomic replaces the file whole and leaves no temporary file", () =>
    Effect.gen(function* () {
      const file = tempFile("out/w.jsonl")
      yield* writeJsonlAtomic(file, Row, [{ id: "a", n: 1 }])
      yield* writeJsonlAtomic(file, Row, [
        { id: "b", n: 2 },
        { id: "c", n: 3 },
      ])
      expect(fs.readFileSync(file, "utf8")).toBe('{"id":"b","n":2}\n{"id":"c","n":3}\n')
      expect(fs.readdirSync(path.dirname(file))).toEqual(["w.jsonl"])
    }),
  )

  it.effect("appendJsonl adds complete lines; after a torn write the reader still returns every whole record", () =>
    Effect.gen(function* () {
      const file = tempFile("log.jsonl")
      yield* appendJsonl(file, Row, [{ id: "a", n: 1 }])
      yield* appendJsonl(file, Row, [{ id: "b", n: 2 }])
      fs.appendFileSync(file, '{"id":"c"') // a kill in the middle of the next write
      expect(yield* readJsonl(file, Row)).toEqual([
        { id: "a", n: 1 },
        { id: "b", n: 2 },
      ])
    }),
  )

  it.effect("a write that cannot happen fails with an OutputError naming the file", () =>
    Effect.gen(function* () {
      const blocker = tempFile("blocker")
      fs.writeFileSync(blocker, "a file, not a folder")
      const target = path.join(blocker, "x.jsonl")
      const error = yield* Effect.flip(appendJsonl(target, Row, [{ id: "a", n: 1 }]))
      expect(error._tag).toBe("OutputError")
      expect(error.target).toBe(target)
    }),
  )
})
