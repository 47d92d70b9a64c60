/**
 * `ds prove`, `ds verify` and `ds selfverify parse` as real processes against a real OpenAI-compatible HTTP server on
 * loopback. The server's answers are scripted from the exact oracle of @ds/selfverify's arithmetic proof domain: a
 * TEST DOUBLE for a strong prover (DeepSeekMath-V2 or an API behind a key), which cannot run here.
 */
import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { Rng } from "@ds/core"
import {
  correctProof,
  type DomainProblem,
  gradeAnalysis,
  gradeProof,
  makeProblems,
  mutateProof,
  parseVerification,
  referenceAnalysis,
  referenceGeneration,
  referenceMetaAnalysis,
  renderProof,
} from "@ds/selfverify"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { runDs } from "./run-ds.ts"

const problems: Array<DomainProblem> = makeProblems(Rng.make(3), 2, { minOps: 3, maxOps: 3 })

const section = (prompt: string, name: string): string => {
  const start = prompt.indexOf(`## ${name}\n`)
  if (start < 0) return ""
  const rest = prompt.slice(start + name.length + 4)
  const end = rest.search(/\n## [A-Z]/)
  return (end < 0 ? rest : rest.slice(0, end)).trim()
}

/** The oracle as each role would answer: first proofs are flawed (honestly self-graded), refinements correct. */
const answer = (prompt: string): string => {
  const problem = problems.find((p) => prompt.includes(p.statement))!
  if (prompt.includes("## Solution Evaluation")) {
    const proof = section(prompt, "Solution")
    const evaluation = section(prompt, "Solution Evaluation")
    const meta = gradeAnalysis(problem, proof, parseVerification(evaluation).score, evaluation)
    return referenceMetaAnalysis(meta, gradeProof(problem, proof).score)
  }
  if (prompt.includes("## Candidate Solutions to Refine")) return referenceGeneration(problem, correctProof(problem))
  if (prompt.startsWith("You are grading a proof"))
    return referenceAnalysis(gradeProof(problem, section(prompt, "Solution")))
  return referenceGeneration(problem, mutateProof(problem, "skipped-step", Rng.make(1))!)
}

let server: Server
let baseUrl = ""
let requests = 0

beforeAll(async () => {
  server = createServer((req, res) => {
    let raw = ""
    req.on("data", (c) => {
      raw += c
    })
    req.on("end", () => {
      requests++
      const body = JSON.parse(raw) as { messages: Array<{ content: string }> }
      const content = answer(body.messages.map((m) => m.content).join("\n"))
      res.writeHead(200, { "content-type": "application/json" })
      res.end(
        JSON.stringify({
          choices: [{ index: 0, message: { role: "assistant", content }, finish_reason: "stop" }],
          usage: { prompt_tokens: 100, completion_tokens: 10 },
        }),
      )
    })
  })
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done))
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`
})

afterAll(() => new Promise<void>((done) => server.close(() => done())))

const readLines = (file: string) =>
  readFileSync(file, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>)

/** Runs `ds` without blocking the event loop, so the loopback server in this process can answer it. */
const ds = (args: ReadonlyArray<string>) => runDs(args)

describe("ds prove / verify against an OpenAI-compatible loopback server", () => {
  it("ds prove refines until self-score 1, writes results and report, and a rerun asks nothing again", async () => {
    const work = mkdtempSync(join(tmpdir(), "ds-prove-"))
    const file = join(work, "problems.jsonl")
    writeFileSync(file, problems.map((p) => JSON.stringify({ id: p.id, question: p.statement })).join("\n"))
    const out = join(work, "out")
    const args = [
      "prove",
      "--problems",
      file,
      "--base-url",
      baseUrl,
      "--model",
      "oracle",
      "--out",
      out,
      "--iterations",
      "3",
    ]
    const first = await ds(args)
    expect(first.code, first.stderr).toBe(0)
    const results = readLines(join(out, "results.jsonl"))
    expect(results.map((r) => [r.id, r.self_score, r.iterations, r.stopped_by])).toEqual(
      problems.map((p) => [p.id, 1, 2, "self-score-1"]),
    )
    for (const [i, r] of results.entries()) expect(gradeProof(problems[i]!, r.proof as string).score).toBe(1)
    const report = readFileSync(join(out, "report.md"), "utf8")
    expect(report).toContain("| id | self_score | format_ok | iterations | stopped_by | status |")
    expect(report).toContain("4 asked in this run, 0 reused")
    const before = requests
    const second = await ds(args)
    expect(second.code, second.stderr).toBe(0)
    expect(requests).toBe(before)
    expect(second.stdout).toContain("0 calls asked, 4 reused")
  })

  it("ds verify --m auto-labels proofs with the oracle's grades", async () => {
    const work = mkdtempSync(join(tmpdir(), "ds-verify-"))
    const file = join(work, "proofs.jsonl")
    const proofs = [
      { problem: problems[0]!, text: renderProof(problems[0]!, correctProof(problems[0]!)) },
      { problem: problems[1]!, text: renderProof(problems[1]!, mutateProof(problems[1]!, "wrong-step", Rng.make(4))!) },
    ]
    writeFileSync(
      file,
      proofs
        .map((p, i) => JSON.stringify({ id: `proof-${i}`, question: p.problem.statement, proof: p.text }))
        .join("\n"),
    )
    const out = join(work, "out")
    const result = await ds([
      "verify",
      "--proofs",
      file,
      "--base-url",
      baseUrl,
      "--out",
      out,
      "--n",
      "3",
      "--m",
      "2",
      "--k",
      "2",
    ])
    expect(result.code, result.stderr).toBe(0)
    expect(readLines(join(out, "results.jsonl")).map((r) => r.label)).toEqual(
      proofs.map((p) => gradeProof(p.problem, p.text).score),
    )
  })

  it("without a model the command fails with one line saying what to give", async () => {
    const work = mkdtempSync(join(tmpdir(), "ds-nomodel-"))
    const result = await ds([
      "prove",
      "--problems",
      resolve(import.meta.dirname, "../../../packages/selfverify/data/imo2025-problems.json"),
      "--out",
      join(work, "out"),
    ])
    expect(result.code).not.toBe(0)
    expect(`${result.stdout}${result.stderr}`).toMatch(/--base-url URL --model NAME .* or --checkpoint DIR/)
  })

  it("ds selfverify parse adds {score, format_ok, error} to each line and passes other fields through", async () => {
    const input = [
      JSON.stringify({
        id: 1,
        completion:
          "<think>x</think>## Here is my evaluation of the solution:\nok\n**Based on my evaluation, the final overal score should be:** $\\boxed{0.5}$",
      }),
      JSON.stringify({ id: 2, completion: "\\boxed{7}" }),
    ].join("\n")
    const result = await new Promise<{ code: number; stdout: string }>((done) => {
      const child = execFile(
        resolve(import.meta.dirname, "../../../node_modules/.bin/tsx"),
        [
          "--conditions=@ds/source",
          resolve(import.meta.dirname, "../src/main.ts"),
          "selfverify",
          "parse",
          "--role",
          "verifier",
        ],
        (error, stdout) => done({ code: error === null ? 0 : 1, stdout }),
      )
      child.stdin!.end(input)
    })
    expect(result.code).toBe(0)
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines[0]).toMatchObject({ id: 1, score: 0.5, format_ok: true, error: null })
    expect(lines[1]).toMatchObject({ id: 2, score: null, format_ok: false })
    expect(lines[1]!.error).toContain('"7" is not one of 0, 0.5, 1')
  })
})
