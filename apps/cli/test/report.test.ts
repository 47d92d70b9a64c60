import { ConfigError, SafetensorsError } from "@ds/core"
import { additionExample } from "@ds/grpo"
import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit } from "effect"
import { parseAddition, readAdditionAnswer } from "../src/commands/generate.ts"
import { failureLine, wantsDebug } from "../src/report.ts"

describe("the failure line", () => {
  it("a typed error gives its own message (naming the file) and the next step of its tag, on one line", () => {
    const error = new SafetensorsError({ file: "/ck/model.safetensors", reason: "header length 9 reaches beyond" })
    const line = failureLine(Cause.fail(error))
    assert.strictEqual(line.split("\n").length, 1)
    assert.match(line, /^ds: \/ck\/model\.safetensors: header length 9 reaches beyond; the file is cut short/)
    assert.match(line, /--log-level debug/)
  })

  it("a multi-line message is joined into one line", () => {
    const error = new ConfigError({ field: "dim", reason: "Expected number\n  at [dim]", file: "/ck/config.json" })
    const line = failureLine(Cause.fail(error))
    assert.strictEqual(line.split("\n").length, 1)
    assert.match(line, /\/ck\/config\.json: config field "dim": Expected number; at \[dim\]; fix that field/)
  })

  it("a defect (a bug, not a user mistake) asks for a report with the debug output", () => {
    const line = failureLine(Cause.die(new TypeError("x is undefined")))
    assert.match(line, /^ds: unexpected error: x is undefined; run again with --log-level debug and report/)
  })

  it("--log-level debug, trace and all ask for the full cause; info and the flag's absence do not", () => {
    assert.isTrue(wantsDebug(["forward", "--log-level", "debug"]))
    assert.isTrue(wantsDebug(["--log-level=trace", "bench"]))
    assert.isTrue(wantsDebug(["--log-level", "all"]))
    assert.isFalse(wantsDebug(["--log-level", "info"]))
    assert.isFalse(wantsDebug(["forward", "--checkpoint", "debug"]))
  })
})

describe("ds generate --addition", () => {
  it.effect("a human sum becomes the task's own prompt (zero-padded, least-significant digit first)", () =>
    Effect.gen(function* () {
      const { a, b, example } = yield* parseAddition("12+34", 3)
      assert.deepStrictEqual([a, b], [12, 34])
      assert.strictEqual(example.prompt, "210+430=")
      assert.strictEqual(example.prompt, additionExample(12, 34, 3).prompt)
      assert.strictEqual((yield* parseAddition(" 7 + 8 = ", 2)).example.prompt, "70+80=")
    }),
  )

  it.effect(
    "an operand with more digits than the model adds, or no sum at all, is a typed error naming the input",
    () =>
      Effect.gen(function* () {
        const tooLong = yield* Effect.exit(parseAddition("1234+1", 3))
        assert.isTrue(Exit.isFailure(tooLong))
        const error = yield* Effect.flip(parseAddition("1234+1", 3))
        assert.strictEqual(error._tag, "AdditionPromptError")
        assert.match(error.message, /"1234\+1".*below 1000/)
        assert.match((yield* Effect.flip(parseAddition("twelve+34", 3))).message, /expected "A\+B"/)
      }),
  )

  it("the model's answer is read back the usual way round; anything else is not an answer", () => {
    assert.strictEqual(readAdditionAnswer(additionExample(12, 34, 3).answer, 3), 46)
    assert.strictEqual(readAdditionAnswer("9990", 3), 999)
    assert.strictEqual(readAdditionAnswer("64", 3), undefined)
    assert.strictEqual(readAdditionAnswer("64a0", 3), undefined)
  })
})
