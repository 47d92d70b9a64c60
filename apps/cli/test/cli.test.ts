import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { describe, expect, it } from "vitest"
import { runDs } from "./run-ds.ts"

const pkg = JSON.parse(readFileSync(resolve(import.meta.dirname, "..", "package.json"), "utf8")) as { version: string }

describe("the ds command", () => {
  it("--help describes the tool and shows examples", async () => {
    const { code, stdout } = await runDs(["--help"])
    expect(code).toBe(0)
    expect(stdout).toContain("DeepSeek-V3.2")
    expect(stdout).toContain("EXAMPLES")
  })

  it("--version prints the package version", async () => {
    const { code, stdout } = await runDs(["--version"])
    expect(code).toBe(0)
    expect(stdout.trim()).toBe(`ds v${pkg.version}`)
  })

  it("an unknown command fails with a non-zero exit and says so", async () => {
    const { code, stdout, stderr } = await runDs(["no-such-command"])
    expect(code).not.toBe(0)
    expect(`${stdout}${stderr}`.toLowerCase()).toMatch(/unknown|not found|invalid|no-such-command/)
  })
})
