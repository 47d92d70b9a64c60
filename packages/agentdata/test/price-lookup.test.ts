import { Rng } from "@ds/core"
import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { Episode, loadRuntimes, priceLookup, synthesizeDomain } from "../src/index.ts"
import { oracleTurnExamples, ToolEnvironment } from "../src/rl/index.ts"

beforeAll(() => Effect.runPromise(loadRuntimes))

const unit = (u: number) => {
  const built = synthesizeDomain(
    priceLookup,
    Rng.make(7).fork(u),
    `prices-${u}`,
    { seed: 7, category: "general", unit: u, tasks: 1 },
    1,
  )
  if (built === undefined) throw new Error("no unit")
  return { built, task: built.tasks[0]!, record: built.records[0]! }
}

describe("the price-lookup domain (demo tasks for a tiny model)", () => {
  it("its verifier accepts the oracle's price and rejects every other one", () => {
    for (let u = 0; u < 10; u++) {
      const { built, task, record } = unit(u)
      expect(record.metadata.verifier.passed).toBe(true)
      const price = (record.metadata.answer as { price: number }).price
      const episode = new Episode(built.env)
      for (const wrong of [price + 1, price - 1, 0, -price])
        expect(task.verify({ price: wrong }, episode.db).ok).toBe(false)
      expect(task.verify({ price: String(price) }, episode.db).ok).toBe(false)
      expect(task.verify({ price }, episode.db).ok).toBe(true)
      episode.close()
    }
  })

  it("oracle turns become one SFT example each; the tool result sits in the next prompt, not in a completion", () => {
    const { built, task, record } = unit(3)
    const examples = oracleTurnExamples(built.env, task, record, { listTools: false })
    expect(examples.length).toBe(2)
    const price = String((record.metadata.answer as { price: number }).price)
    expect(examples[0]?.prompt).not.toContain("## Tools")
    expect(examples[0]?.completion).toContain('invoke name="price"')
    expect(examples[1]?.prompt).toContain(`<result>{"price":${price}}</result>`)
    expect(examples[1]?.completion).toContain('invoke name="submit"')
    for (const e of examples) expect(e.completion).not.toContain("<function_results>")
    // with the tools preamble the same episode starts from a prompt listing both tools
    const listed = new ToolEnvironment(built.env, task)
    expect(listed.prompt()).toContain("## Tools")
    listed.close()
  })
})
