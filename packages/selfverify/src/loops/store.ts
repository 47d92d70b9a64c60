/**
 * Resumable work for the loops (docs/selfverify.md §7.4): every model call is a unit with a deterministic key
 * (`IMO2025-1/r0/p3/v12`), and its answer is appended to a JSONL state file the moment it arrives. On a rerun the
 * file is read first and every unit already there is reused: a killed run repeats no call it had finished and loses
 * none (a torn last line, the one being written when the process died, is dropped and redone).
 *
 * A call that fails after the provider's retries is NOT written: it is reported with its key and retried on the
 * next run, while the other units go on.
 */
import * as fs from "node:fs"
import { appendJsonl, OutputError, Progress, readJsonl } from "@ds/core"
import { Effect, Option, Schema } from "effect"
import type { AiError, LanguageModel } from "effect/ai"
import { addUsage, noUsage, type RoleOutput, type TokenUsage } from "../roles.ts"

const StateLine = Schema.Struct({ key: Schema.String, value: Schema.Unknown })

export interface UnitFailure {
  readonly key: string
  readonly message: string
}

export interface WorkStore {
  /** Runs `effect` unless `key` is already done; appends its output. None when the call failed (recorded). */
  readonly unit: <P extends RoleOutput["parse"]>(
    key: string,
    effect: Effect.Effect<RoleOutput<P>, AiError.AiError, LanguageModel.LanguageModel>,
  ) => Effect.Effect<Option.Option<RoleOutput<P>>, never, LanguageModel.LanguageModel>
  /** Units answered from the state file (not asked again). */
  readonly reused: () => number
  /** Units asked in this run. */
  readonly asked: () => number
  readonly failures: () => ReadonlyArray<UnitFailure>
  /** Tokens of every unit in the state (this run and earlier ones). */
  readonly usage: () => TokenUsage
  /** Tokens of the calls made in this run. */
  readonly usageThisRun: () => TokenUsage
  /** Counts one finished call of `task` on its progress bar (when a `Progress` service is provided). */
  readonly tick: (task: string) => Effect.Effect<void>
  /** Ends every bar this store drew. */
  readonly finishProgress: () => Effect.Effect<void>
}

/**
 * Cuts a torn last line (the reader dropped it) off the file, so the next append starts on a fresh line instead of
 * gluing a record onto the torn text.
 */
const dropTornTail = (file: string) =>
  Effect.try({
    try: () => {
      if (!fs.existsSync(file)) return
      const text = fs.readFileSync(file)
      if (text.length === 0 || text[text.length - 1] === 0x0a) return
      fs.truncateSync(file, text.lastIndexOf(0x0a) + 1)
    },
    catch: (error) => new OutputError({ target: file, reason: `cannot repair the torn last line: ${String(error)}` }),
  })

/** Opens the state file (creating nothing until the first unit finishes); `undefined` keeps state in memory only. */
export const openStore = (file: string | undefined) =>
  Effect.gen(function* () {
    const done = new Map<string, RoleOutput>()
    if (file !== undefined) {
      const lines = yield* readJsonl(file, StateLine, { missingFile: "empty" })
      for (const line of lines) done.set(line.key, line.value as RoleOutput)
      yield* dropTornTail(file)
    }
    const progress = yield* Effect.serviceOption(Progress)
    const counts = new Map<string, number>()
    let reused = 0
    let asked = 0
    let usageThisRun = noUsage
    const failures: Array<UnitFailure> = []
    const unit = <P extends RoleOutput["parse"]>(
      key: string,
      effect: Effect.Effect<RoleOutput<P>, AiError.AiError, LanguageModel.LanguageModel>,
    ): Effect.Effect<Option.Option<RoleOutput<P>>, never, LanguageModel.LanguageModel> => {
      const known = done.get(key)
      if (known !== undefined) {
        reused++
        return Effect.succeed(Option.some(known as RoleOutput<P>))
      }
      return effect.pipe(
        Effect.tap((output) =>
          Effect.gen(function* () {
            asked++
            usageThisRun = addUsage(usageThisRun, output.usage)
            done.set(key, output)
            if (file !== undefined) yield* appendJsonl(file, StateLine, [{ key, value: output }]).pipe(Effect.orDie)
          }),
        ),
        Effect.map(Option.some),
        Effect.catch((error: AiError.AiError) =>
          Effect.sync(() => {
            failures.push({ key, message: error.message })
            return Option.none<RoleOutput<P>>()
          }),
        ),
      )
    }
    const store: WorkStore = {
      unit,
      reused: () => reused,
      asked: () => asked,
      failures: () => failures,
      usage: () => [...done.values()].reduce((total, output) => addUsage(total, output.usage), noUsage),
      usageThisRun: () => usageThisRun,
      tick: (task) =>
        Option.match(progress, {
          onNone: () => Effect.void,
          onSome: (p) => {
            const n = (counts.get(task) ?? 0) + 1
            counts.set(task, n)
            return p.update({ task, done: n, unit: "call" })
          },
        }),
      finishProgress: () =>
        Option.match(progress, {
          onNone: () => Effect.void,
          onSome: (p) => Effect.forEach([...counts.keys()], (task) => p.finish(task), { discard: true }),
        }),
    }
    return store
  })
