/**
 * Regression: `ds train --data chats.jsonl --preset small` aborted the wasm backend (`Aborted()`) at its first step.
 * JSONL rows were padded to the model's max_seq_len (256) whatever the examples' length, so 32 short chats made a
 * 32 × 256 step that needs ≈ 14 GiB, past the wasm heap's 4 GiB ceiling. Laws checked here: rows are padded to the
 * batch's longest example (training/batches.ts `paddedLength`), and a step that cannot fit fails BEFORE it runs
 * with a typed StepMemoryError that says what to lower (training/step-memory.ts), never with a dead backend.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { initBackend } from "@ds/core"
import { it as effectIt } from "@effect/vitest"
import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { decodeModelConfig } from "../src/config.ts"
import { smallPreset } from "../src/presets.ts"
import { trainProgram } from "../src/programs/train-program.ts"
import { byteTokenizer } from "../src/tokenizer/tokenizer.ts"
import { paddedLength, toTokenBatch } from "../src/training/batches.ts"
import { encodeExample, parseRecord } from "../src/training/data.ts"
import { estimateStepBytes, stepMemoryError, wasmHeapLimitBytes } from "../src/training/step-memory.ts"

const root = mkdtempSync(join(tmpdir(), "ds-model-step-memory-"))
const small = decodeModelConfig({ ...smallPreset, vocab_size: byteTokenizer().vocabSize })
/** ~3 M: the small preset's parameter count is a constant term of the estimate, not what decides here. */
const parameters = 3_000_000

/** The chats of `ds train --help`'s example (apps/cli's documented-commands test writes the same ones). */
const chat = (i: number) => ({
  messages: [
    { role: "user", content: `What is ${i} plus ${i}?` },
    { role: "assistant", content: `${i} plus ${i} is ${2 * i}.` },
  ],
})

beforeAll(async () => {
  await initBackend("wasm")
})

afterAll(() => rmSync(root, { recursive: true, force: true }))

describe("dynamic padding", () => {
  it("short chats are padded to the batch's longest example, not to max_seq_len", () => {
    const tokenizer = byteTokenizer()
    const examples = Array.from({ length: 32 }, (_, i) =>
      encodeExample(tokenizer, parseRecord(chat(i % 8), `chats.jsonl:${i + 1}`)),
    )
    const longest = Math.max(...examples.map((e) => e.prompt.length + e.completion.length))
    const length = paddedLength(examples, small.max_seq_len)
    expect(length).toBe(longest - 1)
    expect(length).toBeLessThan(64)
    // The batch keeps every target: the same supervised tokens as the max_seq_len-padded batch.
    const count = (targets: Int32Array) => targets.filter((t) => t >= 0).length
    expect(count(toTokenBatch(examples, length).targets)).toBe(count(toTokenBatch(examples, small.max_seq_len).targets))
  })

  it("is capped by maxLength and is at least 1", () => {
    expect(paddedLength([{ prompt: [1, 2, 3], completion: [4, 5, 6, 7] }], 4)).toBe(4)
    expect(paddedLength([{ prompt: [1], completion: [] }], 8)).toBe(1)
  })
})

describe("step memory", () => {
  it("the padded chat step fits the wasm heap; the max_seq_len-padded one does not, and says what to lower", () => {
    expect(stepMemoryError(small, parameters, 32, 36, "wasm")).toBeUndefined()
    const error = stepMemoryError(small, parameters, 32, small.max_seq_len, "wasm")
    expect(error?._tag).toBe("StepMemoryError")
    expect(error?.neededBytes).toBeGreaterThan(wasmHeapLimitBytes)
    // The batch it suggests fits, one more row does not.
    const fitting = error?.fittingBatch ?? 0
    expect(fitting).toBeGreaterThan(0)
    expect(fitting).toBeLessThan(32)
    expect(estimateStepBytes(small, parameters, fitting, 256)).toBeLessThanOrEqual(wasmHeapLimitBytes)
    expect(estimateStepBytes(small, parameters, fitting + 1, 256)).toBeGreaterThan(wasmHeapLimitBytes)
    expect(error?.message).toContain(`--batch-size to ${fitting}`)
  })

  it("grows linearly with the batch and faster than linearly with the length (the [T, T] scores)", () => {
    const at = (b: number, t: number) => estimateStepBytes(small, 0, b, t)
    expect(at(8, 64)).toBe(2 * at(4, 64))
    expect(at(4, 256) / at(4, 128)).toBeGreaterThan(2)
  })

  effectIt.effect("trainProgram fails with StepMemoryError before the first step, not with Aborted()", () =>
    Effect.gen(function* () {
      // 32 chats of ~300 tokens each: padded to 255, the step is the one that aborted.
      const file = join(root, "long-chats.jsonl")
      const long = (i: number) => ({
        messages: [
          { role: "user", content: `Say ${i} many times.` },
          { role: "assistant", content: `${i} `.repeat(150) },
        ],
      })
      writeFileSync(file, `${Array.from({ length: 32 }, (_, i) => JSON.stringify(long(i))).join("\n")}\n`)
      const out = join(root, "run")
      const error = yield* Effect.flip(trainProgram({ out, data: file, preset: "small", steps: 1, batchSize: 32 }))
      expect(error._tag).toBe("StepMemoryError")
      expect(error.message).toMatch(/--batch-size to \d+ or less/)
    }),
  )
})
