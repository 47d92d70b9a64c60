/**
 * Where the repository's test fixtures live. The golden fixture (`tooling/fixtures/golden/base`, see
 * `tooling/fixtures/golden/README.md`) is the output of DeepSeek's reference model code at a tiny size; tests read it
 * from here, resolved from this module's own location so it works from any working directory and in a fresh clone.
 * A missing fixture file is an error that names the file, never a reason to skip a test.
 */
import { existsSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import { fileURLToPath } from "node:url"

const here = dirname(fileURLToPath(import.meta.url))

/** Absolute path of `tooling/fixtures`. */
export const fixturesDir: string = resolve(here, "..", "fixtures")

/** Absolute path of the golden fixture folder (`config.json`, `model.safetensors`, `inputs.json`, `golden.*`). */
export const goldenDir: string = join(fixturesDir, "golden", "base")

/**
 * Absolute path of one file of the golden fixture; throws an Error naming the missing file (and how to restore it)
 * when it is not there, so a test fails with that message instead of a later ENOENT or a skip.
 */
export const goldenFile = (name: string): string => {
  const path = join(goldenDir, name)
  if (!existsSync(path)) {
    throw new Error(
      `golden fixture file missing: ${path} (it is tracked in git under tooling/fixtures/golden/base; restore it with \`git checkout -- tooling/fixtures/golden/base\`)`,
    )
  }
  return path
}
