import { Effect } from "effect"
import { beforeAll, describe, expect, it } from "vitest"
import { loadRuntimes, synthesizeUnit } from "../src/index.ts"
import { renderAssistantTurn, ToolEnvironment } from "../src/rl/index.ts"

beforeAll(() => Effect.runPromise(loadRuntimes))

describe("multi-turn tool environment (V3.2 chat format)", () => {
  const unit = () => synthesizeUnit(4, "general", 4, 2) // banking: the oracle writes state, then submits
  const oracleTurns = (index: number) => {
    const built = unit()
    const record = built.records[index]!
    const turns = record.messages.filter((m) => m.role === "assistant" && m.tool_calls !== undefined)
    return { built, task: built.tasks[index]!, completions: turns.map((m) => renderAssistantTurn(m as never)) }
  }

  it("the oracle's turns, written as the model would write them, earn reward 1; observations are masked", () => {
    const { built, task, completions } = oracleTurns(0)
    const env = new ToolEnvironment(built.env, task)
    expect(env.prompt()).toContain("## Tools")
    let last = { done: false, observation: "" }
    for (const completion of completions) {
      expect(env.done).toBe(false)
      last = env.step(completion)
      expect(last.observation).toContain("<function_results>")
    }
    expect(last.done).toBe(true)
    expect(env.reward()).toBe(1)
    const masked = env.segments.filter((s) => !s.trainable).map((s) => s.text)
    expect(masked.some((t) => t.includes("<result>"))).toBe(true)
    expect(env.segments.filter((s) => s.trainable).map((s) => s.text)).toEqual(completions)
    env.close()
  })

  it("a wrong answer earns 0; a bad call is an error result; unparsable text ends the episode", () => {
    const { built, task, completions } = oracleTurns(0)
    const wrong = new ToolEnvironment(built.env, task)
    const submit = completions[completions.length - 1] as string
    for (const completion of completions.slice(0, -1)) wrong.step(completion)
    const tampered = submit.replace(/(name="transferred" string="false">)[^<]*/, "$1-5")
    expect(tampered).not.toBe(submit)
    wrong.step(tampered)
    expect(wrong.done).toBe(true)
    expect(wrong.reward()).toBe(0)
    wrong.close()
    const bad = new ToolEnvironment(built.env, task)
    const step = bad.step(completions[0]!.replace(/invoke name="[a-z_]+"/, 'invoke name="drop_tables"'))
    expect(step.done).toBe(false)
    expect(step.observation).toContain("unknown tool")
    expect(bad.step("no tools, just talk").reason).toBe("no-tool-call")
    expect(bad.reward()).toBe(0)
    bad.close()
    const garbage = new ToolEnvironment(built.env, task, { maxTurns: 1 })
    expect(garbage.step("\n\n<｜DSML｜function_calls>oops").reason).toBe("unparsable")
    garbage.close()
  })
})
