/**
 * Bench helpers for the workspace's `pnpm bench` scripts: the timing helpers of @ds/core, and where results go.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { fileURLToPath } from "node:url"

export { formatNumber, printTable, type TimeOptions, type Timing, time } from "../../packages/core/src/bench/timing.ts"

/** The workspace root (holds pnpm-workspace.yaml); bench results go to `<root>/bench-results`. */
export const workspaceRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..")

/** Writes `bench-results/<name>` atomically and returns its path. */
export const writeBenchResult = (name: string, content: unknown): string => {
  const path = resolve(workspaceRoot, "bench-results", name)
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.tmp-${process.pid}`
  writeFileSync(tmp, typeof content === "string" ? content : `${JSON.stringify(content, null, 2)}\n`)
  renameSync(tmp, path)
  return path
}
