/**
 * The synthesis run as an Effect program (docs/agentdata.md §7): load the runtimes, check or write the manifest,
 * generate every shard that is not intact (one bar per category on the `Progress` service), write the card.
 * `worker: {index, count}` restricts a process to shards with `n mod count = index`, so several processes can share
 * one run directory (each shard is written by exactly one of them, atomically).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { Progress } from "@ds/core"
import { Effect, Schema } from "effect"
import { loadSandbox } from "../env/sandbox.ts"
import { loadSqlite } from "../env/sqlite.ts"
import { collectStats, type DatasetStats, writeCard } from "./card.ts"
import { defaultFilterSolver, type PassFilter } from "./filter.ts"
import { type Plan, type PresetName, presets } from "./presets.ts"
import { allShards, intactShard, manifestPath, type RunManifest, sweepTemporaries, writeShard } from "./synthesize.ts"

export class AgentDataError extends Schema.TaggedError<AgentDataError>()("AgentDataError", {
  reason: Schema.String,
}) {
  override get message(): string {
    return this.reason
  }
}

/** Loads SQLite and QuickJS (wasm) once per process. */
export const loadRuntimes = Effect.tryPromise({
  try: () => Promise.all([loadSqlite(), loadSandbox()]),
  catch: (error) => new AgentDataError({ reason: `cannot load the SQLite or QuickJS wasm module: ${String(error)}` }),
})

export interface SynthOptions {
  readonly out: string
  readonly preset: PresetName
  /** Overrides the preset's counts (tests use tiny plans). */
  readonly plan?: Plan
  readonly seed: number
  readonly resume: boolean
  readonly worker?: { readonly index: number; readonly count: number }
  /** Write the card at the end (the parent of several workers does it once). */
  readonly card?: boolean
  /** Keep only tasks with pass@k > 0 under a solver, recording pass rates (pipeline/filter.ts). Default: off. */
  readonly filter?: PassFilter
}

export const synthesize = Effect.fn("agentdata.synthesize")(function* (options: SynthOptions) {
  yield* loadRuntimes
  const progress = yield* Progress
  const plan = options.plan ?? presets[options.preset]
  const filter = options.filter
  const manifest: RunManifest = {
    preset: options.preset,
    seed: options.seed,
    plan,
    ...(filter === undefined
      ? {}
      : { filter: { passK: filter.k, solver: filter.solverName ?? defaultFilterSolver.name } }),
  }
  const text = `${JSON.stringify(manifest, null, 2)}\n`
  const path = manifestPath(options.out)
  if (existsSync(path)) {
    if (readFileSync(path, "utf8") !== text)
      return yield* new AgentDataError({
        reason: `${options.out} holds a run with another preset, seed or filter; pick a new --out or delete the folder`,
      })
    if (!options.resume && options.worker === undefined)
      return yield* new AgentDataError({ reason: `${options.out} already holds a run; add --resume to continue it` })
  } else {
    mkdirSync(options.out, { recursive: true })
    writeFileSync(path, text)
  }
  sweepTemporaries(options.out)
  const shards = allShards(plan).filter(
    (_, n) => options.worker === undefined || n % options.worker.count === options.worker.index,
  )
  const done: Record<string, number> = {}
  for (const { category, shard } of shards) {
    const existing = intactShard(options.out, category, shard)
    const marker =
      existing ??
      (yield* Effect.try({
        try: () => writeShard(options.out, options.seed, category, plan[category], shard, filter),
        catch: (error) => new AgentDataError({ reason: error instanceof Error ? error.message : String(error) }),
      }))
    done[category] = (done[category] ?? 0) + marker.tasks
    yield* progress.update({ task: category, done: done[category] ?? 0, total: plan[category].tasks, unit: "task" })
  }
  for (const category of Object.keys(done)) yield* progress.finish(category)
  const stats: DatasetStats = options.card === false ? collectStats(options.out, plan) : writeCard(options.out)
  return stats
})
