/**
 * `ds agentdata` end to end in real processes: synth, stats --json, verify (and its failure on a tampered record),
 * export, and every --help.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { runDs } from "./run-ds.ts"

const dir = mkdtempSync(join(tmpdir(), "ds-agentdata-"))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe("ds agentdata", () => {
  it("synth --preset quick, stats --json, verify, export; verify fails on a tampered record", async () => {
    const out = join(dir, "run")
    const synth = await runDs(["agentdata", "synth", "--preset", "quick", "--seed", "1", "--out", out], {}, 800_000)
    expect(synth.code, synth.stderr).toBe(0)
    const stats = await runDs(["agentdata", "stats", out, "--json"])
    expect(JSON.parse(stats.stdout)).toEqual({
      tasks: { total: 120, by_category: { general: 40, "code-interpreter": 20, search: 40, code: 20 } },
      environments: { total: 58, by_category: { general: 16, "code-interpreter": 20, search: 2, code: 20 } },
      pairs: 120,
      verified: 120,
    })
    const shard = join(out, "shards", "code", "00000.jsonl")
    const ok = await runDs(["agentdata", "verify", "--in", shard])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toContain("10/10 records verified")
    const lines = readFileSync(shard, "utf8").trim().split("\n")
    const record = JSON.parse(lines[0] as string)
    record.metadata.final_state_sha256 = "0".repeat(64)
    const tampered = join(dir, "tampered.jsonl")
    writeFileSync(tampered, `${[JSON.stringify(record), ...lines.slice(1)].join("\n")}\n`)
    const bad = await runDs(["agentdata", "verify", "--in", tampered])
    expect(bad.code).not.toBe(0)
    expect(bad.stderr).toContain("final state hash differs")
    const exported = await runDs([
      "agentdata",
      "export",
      "--in",
      out,
      "--format",
      "tau2",
      "--out",
      join(dir, "tau2.jsonl"),
    ])
    expect(exported.code, exported.stderr).toBe(0)
    expect(readFileSync(join(dir, "tau2.jsonl"), "utf8").trim().split("\n")).toHaveLength(120)
  }, 900_000)

  it("--help lists the subcommands and shows examples", async () => {
    const help = await runDs(["agentdata", "--help"])
    expect(help.code, help.stderr).toBe(0)
    for (const sub of ["synth", "verify", "export", "stats", "solve", "demo"]) expect(help.stdout).toContain(sub)
    const synthHelp = await runDs(["agentdata", "synth", "--help"])
    expect(synthHelp.stdout).toContain("ds agentdata synth --preset quick --seed 1 --out runs/agentdata")
    expect(synthHelp.stdout).toContain("--pass-k")
    const demoHelp = await runDs(["agentdata", "demo", "--help"])
    expect(demoHelp.stdout).toContain("ds agentdata demo --quick")
  }, 600_000)
})
