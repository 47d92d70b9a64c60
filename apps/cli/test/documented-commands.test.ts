/**
 * Every command the documentation shows works as written: each line of a README's shell blocks, each command in
 * a README's command table, and each `ds <command> --help` example (extracted mechanically, documented-commands.ts)
 * has a row in the coverage table (coverage/*.ts, one module per area) that says how this file proves it, and a
 * documented command without a row fails — as does a row whose command the docs no longer show.
 *
 * How a row proves its command is described in coverage/types.ts: "run" (as written, in a scratch folder, to
 * exit 0 or to its first progress line for long runs, or with a smaller documented step count), "ci" (a step of
 * .ci/run) or "not run" (with the reason). New commands add a module under coverage/ and a line in its index; a row
 * with `pendingCommand` waits (skipped, and named so) until that subcommand is registered in src/cli.ts.
 */
import { spawn } from "node:child_process"
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ds } from "../src/cli.ts"
import { coverage, listedTwice } from "./coverage/index.ts"
import { type CommandNode, type DocumentedCommand, helpExamples, readmeCommands } from "./documented-commands.ts"

const root = resolve(import.meta.dirname, "..", "..", "..")

const tree = ds as unknown as CommandNode
const fromHelp = helpExamples(tree)
const registered = new Set(tree.subcommands.flatMap((group) => group.commands.map((command) => command.name)))
const documented: Array<DocumentedCommand> = [...readmeCommands(root), ...fromHelp]
const distinct = [...new Map(documented.map((entry) => [entry.command, entry])).values()]

interface ShellResult {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
  /** Stopped on purpose after `firstOutput` appeared. */
  readonly stopped: boolean
  readonly timedOut: boolean
}

/** Runs `command` in bash in its own process group; stops the group once the output matches `firstOutput`. */
const shell = (
  command: string,
  options: { cwd: string; env: NodeJS.ProcessEnv; firstOutput?: RegExp | undefined; timeoutMs: number },
) =>
  new Promise<ShellResult>((done) => {
    const child = spawn("bash", ["-c", command], { cwd: options.cwd, env: options.env, detached: true })
    let stdout = ""
    let stderr = ""
    let stopped = false
    let timedOut = false
    const signal = (name: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, name)
      } catch {
        // The group has already exited.
      }
    }
    const check = () => {
      if (options.firstOutput !== undefined && !stopped && options.firstOutput.test(`${stdout}\n${stderr}`)) {
        stopped = true
        signal("SIGTERM")
        setTimeout(() => signal("SIGKILL"), 10_000).unref()
      }
    }
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString()
      check()
    })
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString()
      check()
    })
    const timer = setTimeout(() => {
      timedOut = true
      signal("SIGKILL")
    }, options.timeoutMs)
    child.on("close", (code) => {
      clearTimeout(timer)
      done({ code, stdout, stderr, stopped, timedOut })
    })
  })

/** The scratch folder the `ds` rows run in, and a PATH whose `ds` is the CLI from source. */
const work = mkdtempSync(join(tmpdir(), "ds-documented-"))
const bin = join(work, ".bin")
const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: "1", PATH: `${bin}:${process.env.PATH ?? ""}` }
delete env.DS_BACKEND

afterAll(() => rmSync(work, { recursive: true, force: true }))

beforeAll(() => {
  mkdirSync(bin, { recursive: true })
  const tsx = join(root, "node_modules", ".bin", "tsx")
  const main = join(root, "apps", "cli", "src", "main.ts")
  writeFileSync(join(bin, "ds"), `#!/bin/sh\nexec "${tsx}" --conditions=@ds/source "${main}" "$@"\n`)
  chmodSync(join(bin, "ds"), 0o755)
  // The repository paths the docs use (the golden fixture), as they are from the repository root.
  symlinkSync(join(root, "tooling"), join(work, "tooling"))
  symlinkSync(join(root, "packages"), join(work, "packages"))
  // The run file `ds grpo --help` shows, taken from its example's description so that the two cannot differ.
  const grpoExample = fromHelp.find((example) => example.command === "ds grpo --config grpo.json")
  const runFile = /grpo\.json = (\{.*\})\s*$/.exec(grpoExample?.description ?? "")?.[1]
  expect(runFile, "the ds grpo --help example shows grpo.json's content").toBeDefined()
  writeFileSync(join(work, "grpo.json"), runFile ?? "")
  // The chat data `ds train --data chats.jsonl` expects: OpenAI-format chats, one per line.
  const chats = Array.from({ length: 8 }, (_, i) =>
    JSON.stringify({
      messages: [
        { role: "user", content: `What is ${i} plus ${i}?` },
        { role: "assistant", content: `${i} plus ${i} is ${2 * i}.` },
      ],
    }),
  )
  writeFileSync(join(work, "chats.jsonl"), `${chats.join("\n")}\n`)
})

describe("documented commands", () => {
  it("every command shown in a README or a --help example has a row in the coverage table", () => {
    const missing = distinct.filter((entry) => coverage[entry.command] === undefined)
    expect(
      missing.map((entry) => `${entry.source}: ${entry.command}`),
      "add a row for each (run it, or say why it cannot run)",
    ).toEqual([])
    // And the table lists nothing the docs no longer show (a stale row would hide a renamed command).
    const shown = new Set(distinct.map((entry) => entry.command))
    expect(Object.keys(coverage).filter((command) => !shown.has(command))).toEqual([])
    expect(listedTwice, "commands listed by two coverage modules").toEqual([])
  })

  it("the extraction finds the docs' commands (the READMEs' tables and blocks, and every command's --help)", () => {
    const sources = new Set(documented.map((entry) => entry.source.split(":")[0]))
    expect(sources).toContain("README.md")
    expect(sources).toContain("apps/cli/README.md")
    for (const command of ["demo", "train", "generate", "grpo", "forward", "bench"])
      expect(sources, command).toContain(`ds ${command} --help`)
  })

  const ci = readFileSync(join(root, ".ci", "run"), "utf8")
  for (const [command, row] of Object.entries(coverage)) {
    if (row.kind === "ci")
      it(`${command}: a step of .ci/run`, () => {
        for (const part of command.split(" && ")) expect(ci).toContain(part)
      })
  }

  // Rows marked `before` first (in table order: later rows use what they make), then the rest in table order.
  const ordered = Object.entries(coverage).sort(
    ([, a], [, b]) => Number(!(a.kind === "run" && a.before)) - Number(!(b.kind === "run" && b.before)),
  )
  for (const [command, row] of ordered) {
    if (row.kind !== "run") continue
    const label = row.as === undefined ? command : `${command} (run as: ${row.as})`
    const mode = row.firstOutput === undefined ? "runs to exit 0" : "starts (first progress output)"
    const pending = row.pendingCommand !== undefined && !registered.has(row.pendingCommand)
    const test = pending ? it.skip : it
    const title = pending ? `${label}: pending until ds ${row.pendingCommand} is registered` : `${label}: ${mode}`
    test(title, { timeout: (row.timeoutMs ?? 120_000) + 20_000 }, async () => {
      if (/runs\/(add|demo)\/|grpo\.json/.test(command))
        expect(existsSync(join(work, "runs", "add", "checkpoint", "config.json")), "made by the ds train row").toBe(
          true,
        )
      row.prepare?.(work)
      const result = await shell(row.as ?? command, {
        cwd: row.cwd === "repo" ? root : work,
        env,
        firstOutput: row.firstOutput,
        timeoutMs: row.timeoutMs ?? 120_000,
      })
      const output = `${result.stdout}\n${result.stderr}`
      const context = `${label}\n--- stdout\n${result.stdout.slice(-3000)}\n--- stderr\n${result.stderr.slice(-3000)}`
      expect(result.timedOut, context).toBe(false)
      if (row.orFailsWith !== undefined && result.code !== 0 && !result.stopped) {
        expect(output, context).toMatch(row.orFailsWith)
        expect(output, "one line, no stack trace").not.toMatch(/^\s+at /m)
        return
      }
      if (!result.stopped) expect(result.code, context).toBe(0)
      expect(output, context).toMatch(row.shows)
    })
  }
})
