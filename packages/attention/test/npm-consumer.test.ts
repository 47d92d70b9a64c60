/**
 * The single-package consumer: an npm user outside this workspace installs `@ds/core`, `@ds/attention` and
 * `@ds/model` and computes a sparse attention step (docs/attention.md) and a tiny model forward from plain ESM.
 *
 * The law: the tarballs `pnpm pack` makes (its `prepack` builds `dist/` first) are complete packages. Installed
 * with plain `npm install <tarballs>` into a scratch project in the OS temp folder (its own package.json,
 * `"type": "module"`), they resolve their peers (effect, @tensorflow/tfjs, the wasm backend: npm 7+ installs
 * non-optional peers itself), import without TypeScript or the `@ds/source` condition, pick the wasm backend by
 * default, and sparse attention over the indexer's top-k equals dense attention over the same keys (and over
 * the causal keys when k >= the row length). It would fail on an empty or source-only tarball, a missing peer,
 * a wrong `exports`/`files` entry, or a `.ts` import left in `dist/`.
 *
 * Needs the network: npm fetches the peers (effect, @tensorflow/tfjs, @tensorflow/tfjs-backend-wasm) and
 * @ds/model's @huggingface/tokenizers from the npm registry, as it would for a user; hence the long timeout.
 * Leaves nothing behind: the tarballs and the scratch project live in one temp folder, removed at the end.
 */
import { execFile } from "node:child_process"
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"
import { afterAll, expect, it } from "vitest"

const run = promisify(execFile)
const root = fileURLToPath(new URL("../../..", import.meta.url))
const work = mkdtempSync(join(tmpdir(), "ds-npm-consumer-"))

/** The environment of a user's shell: nothing that pnpm or vitest set for this run (npm_config_*, VITEST, …). */
const userEnv = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => !/^(npm_|pnpm_|VITEST|NODE_OPTIONS$|NODE_ENV$|INIT_CWD$)/i.test(key)),
)

const sh = (command: string, args: ReadonlyArray<string>, cwd: string) =>
  run(command, [...args], { cwd, env: userEnv, maxBuffer: 64 * 1024 * 1024 })

afterAll(() => rmSync(work, { recursive: true, force: true }))

it("installs the packed @ds/core, @ds/attention and @ds/model with npm and runs sparse attention", async () => {
  const tarballs = join(work, "tarballs")
  for (const pkg of ["core", "attention", "model"]) {
    await sh("pnpm", ["pack", "--pack-destination", tarballs], join(root, "packages", pkg))
  }
  const files = readdirSync(tarballs).sort()
  expect(files.map((file) => file.replace(/-\d+\.\d+\.\d+.*$/, ""))).toEqual(["ds-attention", "ds-core", "ds-model"])

  const project = join(work, "project")
  mkdirSync(project)
  writeFileSync(
    join(project, "package.json"),
    `${JSON.stringify({ name: "consumer", private: true, type: "module" })}\n`,
  )
  copyFileSync(fileURLToPath(new URL("npm-consumer/consumer.mjs", import.meta.url)), join(project, "consumer.mjs"))
  await sh("npm", ["install", "--no-audit", "--no-fund", ...files.map((file) => join(tarballs, file))], project)

  const { stdout } = await sh("node", ["consumer.mjs"], project)
  const result = JSON.parse(stdout.trim().split("\n").at(-1) ?? "")
  expect(result.backend).toBe("wasm")
  expect(result.attention.topkShape).toEqual([1, 3, 4])
  expect(result.attention.outputShape).toEqual([1, 3, 2, 16])
  expect(result.attention.full).toBeLessThan(1e-5)
  expect(result.attention.topk).toBeLessThan(1e-5)
  expect(result.model).toEqual({ logitsShape: [1, 32], finite: true })
}, 900_000)
