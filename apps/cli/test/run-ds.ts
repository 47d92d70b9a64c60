/**
 * Runs the real `ds` command (from source, as `pnpm ds` does) in a child process and collects its output.
 */
import { execFile } from "node:child_process"
import { resolve } from "node:path"

const root = resolve(import.meta.dirname, "..", "..", "..")
const tsx = resolve(root, "node_modules", ".bin", "tsx")
const main = resolve(root, "apps", "cli", "src", "main.ts")

export interface DsResult {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

export const runDs = (args: ReadonlyArray<string>, env: Record<string, string> = {}, timeoutMs = 240_000) =>
  new Promise<DsResult>((done) => {
    execFile(
      tsx,
      ["--conditions=@ds/source", main, ...args],
      { cwd: root, env: { ...process.env, NO_COLOR: "1", ...env }, timeout: timeoutMs, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
        done({ code, stdout, stderr })
      },
    )
  })
