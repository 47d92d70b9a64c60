/**
 * Configuration schemas with defaults: a missing key takes its default, a bad value is a ConfigError naming the
 * field by its path, and unknown keys are refused.
 */
import { expect, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { describe } from "vitest"
import { ConfigError, decodeConfig, decodeConfigSync, withDefault } from "../src/index.ts"

const Options = Schema.Struct({
  steps: withDefault(Schema.Int, 100),
  optimizer: withDefault(Schema.Struct({ lr: withDefault(Schema.Finite, 0.001) }), {}),
  name: Schema.String,
})

describe("withDefault / decodeConfig", () => {
  it("fills a missing key with its default, nested ones too", () => {
    expect(decodeConfigSync(Options, { name: "run" })).toEqual({ steps: 100, optimizer: { lr: 0.001 }, name: "run" })
    expect(decodeConfigSync(Options, { name: "run", steps: 5, optimizer: { lr: 1 } })).toEqual({
      steps: 5,
      optimizer: { lr: 1 },
      name: "run",
    })
  })

  it("a bad value is a ConfigError naming the field by its path", () => {
    const call = () => decodeConfigSync(Options, { name: "run", optimizer: { lr: "fast" } })
    expect(call).toThrow(ConfigError)
    try {
      call()
    } catch (error) {
      expect(error).toMatchObject({ _tag: "ConfigError", field: "optimizer.lr" })
    }
  })

  it("an unknown key and a missing required key are refused", () => {
    expect(() => decodeConfigSync(Options, { name: "run", stpes: 3 })).toThrow(/stpes/)
    expect(() => decodeConfigSync(Options, {})).toThrow(/name/)
  })

  it.effect("decodeConfig fails typed instead of throwing", () =>
    Effect.gen(function* () {
      const error = yield* Effect.flip(decodeConfig(Options, { name: 3 }))
      expect(error).toMatchObject({ _tag: "ConfigError", field: "name" })
      expect(yield* decodeConfig(Options, { name: "x" })).toMatchObject({ steps: 100 })
    }),
  )
})
