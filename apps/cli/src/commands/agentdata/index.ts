/**
 * `ds agentdata`: DeepSeek-V3.2's agentic task synthesis (docs/agentdata.md): synth, verify, export, stats, solve,
 * demo.
 */
import { fork } from "node:child_process"
import { createWriteStream } from "node:fs"
import { resolve } from "node:path"
import {
  AgentDataError,
  collectStats,
  loadRuntimes,
  noisyOracle,
  passAtK,
  presetNames,
  readManifest,
  readRecords,
  recordFiles,
  synthesize,
  synthesizeUnit,
  TaskRecordSchema,
  toTau2,
  UnitCache,
  verifyRecord,
  writeCard,
} from "@ds/agentdata"
import { Progress, Rng } from "@ds/core"
import { Console, Effect, Schema } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { seedFlag } from "../options.ts"
import { agentdataDemo } from "./demo.ts"

const outFlag = Flag.String("out").pipe(Flag.withDescription("Run directory (shards, manifest, README.md card)"))
const fail = (reason: string) => Effect.fail(new AgentDataError({ reason }))

const synth = Command.make(
  "synth",
  {
    preset: Flag.Literals("preset", presetNames).pipe(
      Flag.withDescription("quick (120 tasks), paper (85,267 tasks, Table 1), seed (850,000 pairs)"),
      Flag.withDefault("quick" as const),
    ),
    seed: seedFlag,
    out: outFlag,
    resume: Flag.Boolean("resume").pipe(
      Flag.withDescription("Continue a killed run (regenerates torn shards)"),
      Flag.withDefault(false),
    ),
    workers: Flag.Int("workers").pipe(Flag.withDescription("Processes sharing the shards"), Flag.withDefault(1)),
    worker: Flag.String("worker").pipe(Flag.withDescription("internal: i/n"), Flag.optional),
    passK: Flag.Int("pass-k").pipe(
      Flag.withDescription(
        "Keep only tasks the noisy-oracle baseline solves at least once in K attempts (pass@K > 0), drop duplicates, record pass rates; 0: off",
      ),
      Flag.withDefault(0),
    ),
  },
  ({ preset, seed, out, resume, workers, worker, passK }) =>
    Effect.gen(function* () {
      const dir = resolve(out)
      const filter = passK > 0 ? { filter: { k: passK } } : {}
      if (worker._tag === "Some") {
        const [index, count] = worker.value.split("/").map(Number) as [number, number]
        yield* synthesize({
          out: dir,
          preset,
          seed,
          resume: true,
          worker: { index, count },
          card: false,
          ...filter,
        }).pipe(Effect.provide(Progress.layerSilent))
        return
      }
      if (workers > 1) {
        // First pass writes the manifest and checks resume rules; then the workers split the shards.
        yield* synthesize({
          out: dir,
          preset,
          seed,
          resume,
          worker: { index: 0, count: workers },
          card: false,
          ...filter,
        }).pipe(
          Effect.provide(Progress.layerTerminal()),
          Effect.andThen(
            Effect.tryPromise({
              try: () =>
                Promise.all(
                  Array.from({ length: workers - 1 }, (_, i) => {
                    const child = fork(process.argv[1] as string, [
                      "agentdata",
                      "synth",
                      "--preset",
                      preset,
                      "--seed",
                      String(seed),
                      "--out",
                      dir,
                      "--worker",
                      `${i + 1}/${workers}`,
                      "--pass-k",
                      String(passK),
                    ])
                    return new Promise<void>((ok, ko) =>
                      child.on("exit", (code) => (code === 0 ? ok() : ko(new Error(`worker ${i + 1} exited ${code}`)))),
                    )
                  }),
                ),
              catch: (error) => new AgentDataError({ reason: String(error) }),
            }),
          ),
        )
        const stats = writeCard(dir)
        yield* Console.log(
          JSON.stringify({ tasks: stats.tasks, environments: stats.environments, verified: stats.verified }),
        )
        return
      }
      const stats = yield* synthesize({ out: dir, preset, seed, resume, ...filter }).pipe(
        Effect.provide(Progress.layerTerminal()),
      )
      yield* Console.log(
        `${stats.tasks.total} tasks in ${stats.environments.total} environments, ${stats.verified} verified; card: ${dir}/README.md`,
      )
    }),
).pipe(
  Command.withDescription("Synthesize verified agentic tasks into resumable shards (OpenAI chat JSONL)"),
  Command.withExamples([
    {
      command: "ds agentdata synth --preset quick --seed 1 --out runs/agentdata",
      description: "120 verified tasks (about a minute)",
    },
    {
      command: "ds agentdata synth --preset paper --seed 1 --out runs/paper --workers 2",
      description: "Table 1 counts",
    },
    {
      command: "ds agentdata synth --preset paper --seed 1 --out runs/paper --resume",
      description: "Continue after a kill",
    },
    {
      command: "ds agentdata synth --preset quick --seed 1 --out runs/agentdata-pass8 --pass-k 8",
      description: "Keep tasks with baseline pass@8 > 0, with pass rates",
    },
  ]),
)

const verify = Command.make(
  "verify",
  { input: Flag.String("in").pipe(Flag.withDescription("A JSONL file or a run directory")) },
  ({ input }) =>
    Effect.gen(function* () {
      yield* loadRuntimes
      const cache = new UnitCache()
      let checked = 0
      const failures: Array<string> = []
      for (const file of recordFiles(resolve(input))) {
        for (const line of readRecords(file)) {
          checked++
          if (line.error !== undefined) {
            failures.push(`${file}:${line.line}: ${line.error}`)
            continue
          }
          const failure = verifyRecord(line.value, cache)
          if (failure !== undefined) failures.push(`${file}:${line.line} ${failure.id}: ${failure.reasons.join("; ")}`)
        }
      }
      for (const f of failures.slice(0, 50)) yield* Console.error(`FAIL ${f}`)
      if (failures.length > 50) yield* Console.error(`… and ${failures.length - 50} more`)
      yield* Console.log(`${checked - failures.length}/${checked} records verified`)
      if (failures.length > 0) return yield* fail(`${failures.length} record(s) failed verification (listed above)`)
    }),
).pipe(
  Command.withDescription("Replay every record's tool calls on a fresh environment and run its verifier"),
  Command.withExamples([
    { command: "ds agentdata verify --in runs/agentdata", description: "Verify a whole run" },
    { command: "ds agentdata verify --in runs/agentdata/shards/code/00000.jsonl", description: "Verify one shard" },
  ]),
)

const exportCommand = Command.make(
  "export",
  {
    input: Flag.String("in").pipe(Flag.withDescription("A run directory or JSONL file")),
    out: Flag.String("out").pipe(Flag.withDescription("Output JSONL file")),
    format: Flag.Literals("format", ["openai", "tau2"] as const).pipe(Flag.withDefault("openai" as const)),
    category: Flag.String("category").pipe(Flag.optional),
  },
  ({ input, out, format, category }) =>
    Effect.gen(function* () {
      const decode = Schema.decodeUnknownSync(TaskRecordSchema)
      const sink = createWriteStream(resolve(out))
      let n = 0
      for (const file of recordFiles(resolve(input)))
        for (const line of readRecords(file)) {
          if (line.value === undefined) continue
          const record = decode(line.value)
          if (category._tag === "Some" && record.metadata.category !== category.value) continue
          sink.write(`${JSON.stringify(format === "openai" ? record : toTau2(record))}\n`)
          n++
        }
      yield* Effect.tryPromise({
        try: () => new Promise<void>((ok) => sink.end(ok)),
        catch: (error) => new AgentDataError({ reason: String(error) }),
      })
      yield* Console.log(`wrote ${n} ${format} records to ${out}`)
    }),
).pipe(
  Command.withDescription("Export records as OpenAI chat JSONL or tau2-bench-style task records"),
  Command.withExamples([
    { command: "ds agentdata export --in runs/agentdata --out tasks.jsonl", description: "OpenAI chat JSONL" },
    {
      command: "ds agentdata export --in runs/agentdata --format tau2 --category general --out tau2.jsonl",
      description: "tau2 tasks",
    },
  ]),
)

const stats = Command.make(
  "stats",
  { dir: Argument.String("dir"), json: Flag.Boolean("json").pipe(Flag.withDefault(false)) },
  ({ dir, json }) =>
    Effect.gen(function* () {
      const s = collectStats(resolve(dir), readManifest(resolve(dir)).plan)
      const brief = { tasks: s.tasks, environments: s.environments, pairs: s.pairs, verified: s.verified }
      yield* Console.log(
        json
          ? JSON.stringify(brief)
          : `${s.tasks.total} tasks, ${s.environments.total} environments, ${s.verified} verified${s.complete ? "" : " (incomplete)"}\n${JSON.stringify(s.tasks.by_category)}`,
      )
    }),
).pipe(
  Command.withDescription("Counts of a run directory (from its shard markers)"),
  Command.withExamples([
    { command: "ds agentdata stats runs/agentdata --json", description: "Machine-readable counts" },
  ]),
)

const solve = Command.make(
  "solve",
  {
    category: Flag.Literals("category", ["general", "code-interpreter", "search", "code"] as const).pipe(
      Flag.withDefault("general" as const),
    ),
    unit: Flag.Int("unit").pipe(Flag.withDefault(0)),
    seed: seedFlag,
    passK: Flag.Int("pass-k").pipe(
      Flag.withDescription("Also run the noisy-oracle baseline k times per task and print pass@k and the pass rate"),
      Flag.withDefault(0),
    ),
  },
  ({ category, unit, seed, passK }) =>
    Effect.gen(function* () {
      yield* loadRuntimes
      const tasks = category === "search" ? 25 : category === "general" ? 3 : 1
      const built = synthesizeUnit(seed, category, unit, tasks)
      for (const [i, task] of built.tasks.entries()) {
        const record = built.records[i]!
        yield* Console.log(`# ${task.id} (level ${task.level})\n${task.prompt}`)
        for (const m of record.messages)
          if (m.role === "assistant" && m.tool_calls)
            for (const c of m.tool_calls) yield* Console.log(`  -> ${c.function.name}(${c.function.arguments})`)
        yield* Console.log(
          `  answer: ${JSON.stringify(record.metadata.answer)}  verifier: ${record.metadata.verifier.passed ? "pass" : "FAIL"}\n`,
        )
        if (passK > 0) {
          const r = passAtK(built.env, task, noisyOracle(0.3), passK, Rng.make(seed).fork(task.id))
          yield* Console.log(
            `  baseline (noisy oracle, eps 0.3): pass@${passK} ${r.solvable ? 1 : 0}, pass rate ${r.rate.toFixed(2)}\n`,
          )
        }
        if (category === "search" && i >= 2) break
      }
    }),
).pipe(
  Command.withDescription("Synthesize one environment and show its tasks solved by the oracle"),
  Command.withExamples([
    { command: "ds agentdata solve --category general --unit 0 --seed 1", description: "A trip-planning environment" },
    { command: "ds agentdata solve --category code --unit 3", description: "A bug fixed by its gold patch" },
    { command: "ds agentdata solve --category general --unit 0 --pass-k 8", description: "With baseline pass rates" },
  ]),
)

export const agentdata = Command.make("agentdata").pipe(
  Command.withDescription("Agentic task synthesis (DeepSeek-V3.2): environments, tools, tasks, verifiers"),
  Command.withExamples([
    { command: "ds agentdata synth --preset quick --seed 1 --out runs/agentdata", description: "Make 120 tasks" },
  ]),
  Command.withSubcommands([synth, verify, exportCommand, stats, solve, agentdataDemo]),
)
