import { Rng } from "@ds/core"
import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { runTests } from "../src/categories/code.ts"
import { Db, Episode, loadRuntimes, runSandboxed, type SynthesizedUnit, synthesizeUnit } from "../src/index.ts"

/** The test file of a code-agent environment, read from its pristine state. */
const testsOf = (unit: SynthesizedUnit): string => {
  const db = Db.open(unit.env.image)
  const content = String(db.get("SELECT content FROM files WHERE path = 'test/lib.test.js'")?.content)
  db.close()
  return content
}

beforeAll(() => Effect.runPromise(loadRuntimes))

describe("tool calls", () => {
  it("a malformed call becomes an error message for the model, never an exception", () => {
    const unit = synthesizeUnit(3, "general", 1, 2) // the shop domain
    const episode = new Episode(unit.env)
    const cases: Array<[string, string, RegExp]> = [
      ["no_such_tool", "{}", /unknown tool/],
      ["get_order", "{not json", /not valid JSON/],
      ["get_order", '{"order_id": "seven"}', /must be an integer/],
      ["get_order", '{"order_id": 1, "extra": 2}', /not a known parameter/],
      ["get_order", "{}", /order_id is required/],
      ["get_order", '{"order_id": 99999}', /nothing found/],
      ["cancel_order", '{"order_id": 99999}', /no such order/],
    ]
    for (const [name, args, pattern] of cases) {
      const outcome = episode.call(name, args)
      expect(outcome.ok).toBe(false)
      expect(JSON.parse(outcome.content).error).toMatch(pattern)
    }
    episode.close()
  })

  it("each rollout gets an isolated copy of the state", () => {
    const unit = synthesizeUnit(3, "code", 0, 1)
    const a = new Episode(unit.env)
    const b = new Episode(unit.env)
    const before = b.stateHash()
    expect(a.call("write_file", JSON.stringify({ path: "src/lib.js", content: "oops" })).ok).toBe(true)
    expect(a.stateHash()).not.toBe(before)
    expect(b.stateHash()).toBe(before)
    expect(new Episode(unit.env).stateHash()).toBe(before)
    a.close()
    b.close()
  })
})

describe("sandbox", () => {
  it("stops an infinite loop at its deadline", () => {
    const result = runSandboxed("while (true) {}", { timeoutMs: 50, memoryBytes: 16 << 20 })
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.limit).toBe("time")
  })

  it("stops an allocation bomb at its memory limit", () => {
    const result = runSandboxed("const keep = []; for (let i = 0; ; i++) keep.push({ i, pad: [i, i, i, i] })", {
      // A deadline far beyond the time the heap takes to fill, so a loaded machine cannot turn this into a timeout.
      timeoutMs: 60_000,
      memoryBytes: 2 << 20,
    })
    expect(result.ok).toBe(false)
    if (!result.ok) expect(result.limit).toBe("memory")
  })

  it("returns the last expression and printed output; the host is out of reach", () => {
    const result = runSandboxed("print('hi'); typeof process + ':' + typeof require + ':' + (6 * 7)")
    expect(result).toEqual({ ok: true, value: "undefined:undefined:42", output: "hi\n" })
  })

  it("gives each evaluation a fresh deadline", () => {
    for (let i = 0; i < 3; i++)
      expect(
        runSandboxed("let s = 0; for (let i = 0; i < 1e4; i++) s += i; s", { timeoutMs: 200, memoryBytes: 16 << 20 })
          .ok,
      ).toBe(true)
  })
})

describe("code-agent acceptance", () => {
  it("the gold patch turns >= 1 test from failing to passing and none from passing to failing", () => {
    for (let unit = 0; unit < 4; unit++) {
      const built = synthesizeUnit(5, "code", unit, 1)
      const record = built.records[0]!
      const lib = JSON.parse(record.messages.find((m) => m.role === "tool")!.content).content as string
      const tests = built.env.tools.find((t) => t.name === "run_tests")!
      const before = runTests(lib, testsOf(built))
      const results = record.messages.filter((m) => m.role === "tool").map((m) => JSON.parse(m.content))
      const after = results.findLast((r) => "passed" in r) as { passed: Array<string>; failed: Array<{ name: string }> }
      expect(tests).toBeDefined()
      expect(before.failed.length).toBeGreaterThan(0)
      expect(after.failed).toEqual([])
      for (const name of before.passed) expect(after.passed).toContain(name)
      for (const { name } of before.failed) expect(after.passed).toContain(name)
    }
  })
})

it("Rng is the only source of randomness: the same unit twice gives the same record bytes", () => {
  const a = synthesizeUnit(11, "general", 0, 3).records
  const b = synthesizeUnit(11, "general", 0, 3).records
  expect(JSON.stringify(a)).toBe(JSON.stringify(b))
  expect(Rng.make(11).fork("general").fork(0).state()).toEqual(Rng.make(11).fork("general").fork(0).state())
})
