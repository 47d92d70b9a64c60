/**
 * The dataset card and `stats` (docs/agentdata.md §8): counts by category, difficulty and domain, read from the
 * shard markers only (never the shards, so it is instant at any scale), and SVG histograms drawn with @ds/core's
 * chart renderer.
 */
import { existsSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { renderLineChart, writeFileAtomicSync } from "@ds/core"
import { type Category, categories } from "../env/environment.ts"
import { type Plan, shardCount } from "./presets.ts"
import { intactShard, manifestPath, type RunManifest, type ShardMarker } from "./synthesize.ts"

export interface DatasetStats {
  readonly tasks: { readonly total: number; readonly by_category: Record<Category, number> }
  readonly environments: { readonly total: number; readonly by_category: Record<Category, number> }
  readonly pairs: number
  readonly verified: number
  readonly complete: boolean
  readonly by_difficulty: Record<Category, Record<string, number>>
  readonly by_domain: Record<Category, Record<string, number>>
  readonly tool_calls: Record<Category, ReadonlyArray<number>>
}

const zero = () => ({ general: 0, "code-interpreter": 0, search: 0, code: 0 }) as Record<Category, number>

export const readManifest = (out: string): RunManifest =>
  JSON.parse(readFileSync(manifestPath(out), "utf8")) as RunManifest

/** Aggregates the intact shards of a run directory. `verifyHashes: false` trusts markers (fast for huge runs). */
export const collectStats = (out: string, plan: Plan): DatasetStats => {
  const tasks = zero()
  const envs = zero()
  let verified = 0
  let complete = true
  const byDifficulty = {} as Record<Category, Record<string, number>>
  const byDomain = {} as Record<Category, Record<string, number>>
  const toolCalls = {} as Record<Category, Array<number>>
  for (const category of categories) {
    byDifficulty[category] = {}
    byDomain[category] = {}
    toolCalls[category] = new Array<number>(31).fill(0)
    for (let shard = 0; shard < shardCount(plan[category]); shard++) {
      const marker: ShardMarker | undefined = intactShard(out, category, shard)
      if (marker === undefined) {
        complete = false
        continue
      }
      tasks[category] += marker.tasks
      envs[category] += marker.units
      verified += marker.verified
      for (const [k, v] of Object.entries(marker.byDifficulty))
        byDifficulty[category][k] = (byDifficulty[category][k] ?? 0) + v
      for (const [k, v] of Object.entries(marker.byDomain)) byDomain[category][k] = (byDomain[category][k] ?? 0) + v
      marker.toolCalls.forEach((v, k) => {
        toolCalls[category][k] = (toolCalls[category][k] ?? 0) + v
      })
    }
  }
  const total = Object.values(tasks).reduce((a, b) => a + b, 0)
  return {
    tasks: { total, by_category: tasks },
    environments: { total: Object.values(envs).reduce((a, b) => a + b, 0), by_category: envs },
    pairs: total,
    verified,
    complete,
    by_difficulty: byDifficulty,
    by_domain: byDomain,
    tool_calls: toolCalls,
  }
}

const histogram = (title: string, xLabel: string, series: Array<{ name: string; counts: ReadonlyArray<number> }>) =>
  renderLineChart({
    title,
    x: { label: xLabel },
    y: { label: "records" },
    series: series.map(({ name, counts }) => ({
      name,
      // A step outline: each bin k is drawn flat from k - 0.5 to k + 0.5.
      points: counts.flatMap((c, k) => [
        [k - 0.5, c],
        [k + 0.5, c],
      ]) as Array<[number, number]>,
    })),
  })

export const writeCard = (out: string): DatasetStats => {
  const manifest = readManifest(out)
  const stats = collectStats(out, manifest.plan)
  writeFileAtomicSync(
    join(out, "tool-calls.svg"),
    histogram(
      "Tool calls per oracle trajectory",
      "tool calls (30 = 30 or more)",
      categories.map((c) => ({ name: c, counts: stats.tool_calls[c] })),
    ),
  )
  const levels = ["easy", "medium", "hard"]
  writeFileAtomicSync(
    join(out, "difficulty.svg"),
    histogram(
      "Tasks by difficulty (0 easy, 1 medium, 2 hard)",
      "difficulty",
      categories.map((c) => ({ name: c, counts: levels.map((l) => stats.by_difficulty[c][l] ?? 0) })),
    ),
  )
  const rows = categories.map(
    (c) =>
      `| ${c} | ${stats.environments.by_category[c]} | ${stats.tasks.by_category[c]} | ${levels.map((l) => stats.by_difficulty[c][l] ?? 0).join(" | ")} |`,
  )
  const domains = categories.map(
    (c) =>
      `- **${c}**: ${Object.entries(stats.by_domain[c])
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([d, n]) => `${d} ${n}`)
        .join(", ")}`,
  )
  const card = [
    `# Agentic tasks (preset \`${manifest.preset}\`, seed ${manifest.seed})`,
    "",
    "Synthesized by `@ds/agentdata` after DeepSeek-V3.2's agentic task synthesis. Every record is one line of OpenAI",
    "chat JSONL under `shards/<category>/`: the task prompt, the oracle's tool-calling trajectory, the tools as",
    "OpenAI function definitions, and metadata (environment id, category, difficulty, verifier result, the hash of the",
    "final state). `ds agentdata verify --in <this folder>` replays every record on a fresh copy of its environment.",
    "",
    `Status: ${stats.complete ? "complete" : "INCOMPLETE (run synth again with --resume)"}; ${stats.tasks.total} tasks, ${stats.verified} verified.`,
    "",
    "| category | environments | tasks | easy | medium | hard |",
    "|---|---|---|---|---|---|",
    ...rows,
    `| **total** | ${stats.environments.total} | ${stats.tasks.total} | ${levels.map((l) => categories.reduce((a, c) => a + (stats.by_difficulty[c][l] ?? 0), 0)).join(" | ")} |`,
    "",
    "## Domains",
    "",
    ...domains,
    "",
    "## Histograms",
    "",
    "![difficulty](difficulty.svg)",
    "",
    "![tool calls](tool-calls.svg)",
    "",
  ].join("\n")
  writeFileAtomicSync(join(out, "README.md"), card)
  writeFileAtomicSync(join(out, "stats.json"), `${JSON.stringify(stats, null, 2)}\n`)
  return stats
}

export const hasManifest = (out: string) => existsSync(manifestPath(out))
