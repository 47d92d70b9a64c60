/**
 * Units, shards and the resumable run (docs/agentdata.md §7).
 *
 * Unit u of category c is a pure function of (seed, c, u): its generator is `Rng.make(seed).fork(c).fork(u)`,
 * forked again per attempt when a draw is rejected. A shard is a contiguous range of units written as JSONL to a
 * temporary file and renamed into place, then described by a marker (counts and the SHA-256 of the shard's bytes).
 * On resume a shard whose marker is missing or whose bytes do not hash to the marker's value (a torn or corrupted
 * file) is generated again; the bytes are the same as an uninterrupted run's because they depend on nothing else.
 */
import { createHash } from "node:crypto"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { join } from "node:path"
import { Rng, writeFileAtomicSync } from "@ds/core"
import { synthesizers } from "../categories/index.ts"
import type { SynthesizedUnit } from "../categories/unit.ts"
import { type Category, categories } from "../env/environment.ts"
import { type FilterCounts, filterUnit, type PassFilter } from "./filter.ts"
import { type CategoryPlan, type Plan, shardCount, tasksOfUnit } from "./presets.ts"
import type { UnitSpec } from "./record.ts"

/** Attempts per unit before giving up (a category bug, reported as an error). */
export const ATTEMPTS = 32

export class SynthesisError extends Error {}

export const synthesizeUnit = (seed: number, category: Category, unit: number, tasks: number): SynthesizedUnit => {
  const spec: UnitSpec = { seed, category, unit, tasks }
  const base = Rng.make(seed).fork(category).fork(unit)
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const result = synthesizers[category].synthesize(base.fork(attempt), spec)
    if (result !== undefined) return result
  }
  throw new SynthesisError(`${category} unit ${unit} (seed ${seed}): no accepted draw in ${ATTEMPTS} attempts`)
}

export interface ShardMarker {
  readonly category: Category
  readonly shard: number
  readonly units: number
  readonly tasks: number
  readonly verified: number
  readonly sha256: string
  readonly bytes: number
  readonly byDifficulty: Readonly<Record<string, number>>
  readonly byDomain: Readonly<Record<string, number>>
  /** Tool calls per record: count of records with k calls, k = index (last bucket: >= 30). */
  readonly toolCalls: ReadonlyArray<number>
  /** Tasks the pass@k filter dropped (filtered runs only). */
  readonly filtered?: FilterCounts
}

export const shardPath = (out: string, category: Category, shard: number) =>
  join(out, "shards", category, `${String(shard).padStart(5, "0")}.jsonl`)
const markerPath = (out: string, category: Category, shard: number) =>
  join(out, "shards", category, `${String(shard).padStart(5, "0")}.done.json`)

const hash = (bytes: Uint8Array | string) => createHash("sha256").update(bytes).digest("hex")

/** The marker of a finished, intact shard, or undefined when the shard must be (re)generated. */
export const intactShard = (out: string, category: Category, shard: number): ShardMarker | undefined => {
  const marker = markerPath(out, category, shard)
  const file = shardPath(out, category, shard)
  if (!existsSync(marker) || !existsSync(file)) return undefined
  try {
    const parsed = JSON.parse(readFileSync(marker, "utf8")) as ShardMarker
    return hash(readFileSync(file)) === parsed.sha256 ? parsed : undefined
  } catch {
    return undefined
  }
}

const bump = (record: Record<string, number>, key: string) => {
  record[key] = (record[key] ?? 0) + 1
}

export const writeShard = (
  out: string,
  seed: number,
  category: Category,
  plan: CategoryPlan,
  shard: number,
  filter?: PassFilter,
): ShardMarker => {
  const first = shard * plan.unitsPerShard
  const last = Math.min(plan.units, first + plan.unitsPerShard)
  const lines: Array<string> = []
  const byDifficulty: Record<string, number> = {}
  const byDomain: Record<string, number> = {}
  const toolCalls = new Array<number>(31).fill(0)
  let verified = 0
  const seen = new Set<string>()
  const filtered: FilterCounts = { unsolvable: 0, duplicates: 0 }
  for (let unit = first; unit < last; unit++) {
    const result = synthesizeUnit(seed, category, unit, tasksOfUnit(plan, unit))
    const records = filter === undefined ? result.records : filterUnit(result, filter, seed, seen, filtered)
    for (const record of records) {
      lines.push(JSON.stringify(record))
      if (record.metadata.verifier.passed) verified++
      bump(byDifficulty, record.metadata.difficulty)
      bump(byDomain, record.metadata.domain)
      const calls = record.messages.filter((m) => m.role === "tool").length
      toolCalls[Math.min(30, calls)] = (toolCalls[Math.min(30, calls)] ?? 0) + 1
    }
    result.env.image.fill(0)
  }
  const text = lines.length === 0 ? "" : `${lines.join("\n")}\n`
  const file = shardPath(out, category, shard)
  mkdirSync(join(out, "shards", category), { recursive: true })
  writeFileAtomicSync(file, text)
  const marker: ShardMarker = {
    category,
    shard,
    units: last - first,
    tasks: lines.length,
    verified,
    sha256: hash(text),
    bytes: Buffer.byteLength(text),
    byDifficulty,
    byDomain,
    toolCalls,
    ...(filter === undefined ? {} : { filtered }),
  }
  writeFileAtomicSync(markerPath(out, category, shard), `${JSON.stringify(marker)}\n`)
  return marker
}

/** Removes temporary files a killed run left behind. */
export const sweepTemporaries = (out: string) => {
  for (const category of categories) {
    const dir = join(out, "shards", category)
    if (!existsSync(dir)) continue
    for (const name of readdirSync(dir)) if (/\.tmp(-\d+)?$/.test(name)) rmSync(join(dir, name), { force: true })
  }
}

export interface RunManifest {
  readonly preset: string
  readonly seed: number
  readonly plan: Plan
  /** Present when the run filters on pass@k. */
  readonly filter?: { readonly passK: number; readonly solver: string }
}

export const manifestPath = (out: string) => join(out, "manifest.json")

/** Every (category, shard) of a plan, in the order a run works through them. */
export const allShards = (plan: Plan): Array<{ category: Category; shard: number }> =>
  categories.flatMap((category) =>
    Array.from({ length: shardCount(plan[category]) }, (_, shard) => ({ category, shard })),
  )
