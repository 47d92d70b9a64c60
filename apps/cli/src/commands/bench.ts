/**
 * `ds bench`: measures the tensor kernels on this machine — matmul GFLOP/s, softmax, gather and top-k — for the
 * default configuration (wasm + fast kernels + native OpenBLAS), the fast kernels without native, stock wasm and
 * stock cpu, and writes the figures to `<out>/core.json`.
 *
 * `--backend` (or DS_BACKEND) is the backend the command starts first and reports, as on every command: it proves
 * that backend loads here (`DS_BACKEND=tensorflow ds bench` fails with one line when tfjs-node is not installed).
 * The table itself always compares the wasm configurations and stock cpu, which is what it measures.
 */
import { mkdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { Backend, describeBackend, runKernelBenchmark, writeFileAtomicSync } from "@ds/core"
import { Console, Effect, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { backendFlag } from "./options.ts"

/** The benchmark could not run or its figures could not be written. */
export class BenchError extends Schema.TaggedError<BenchError>()("BenchError", {
  step: Schema.String,
  reason: Schema.String,
}) {
  override get message(): string {
    return `ds bench (${this.step}): ${this.reason}`
  }
}

export const bench = Command.make(
  "bench",
  {
    out: Flag.Directory("out").pipe(
      Flag.withDescription("Folder for the results (core.json)"),
      Flag.withDefault("bench-results"),
    ),
    backend: backendFlag,
  },
  ({ out, backend }) =>
    Effect.gen(function* () {
      const info = yield* Backend
      yield* Console.log(`default backend: ${describeBackend(info)}`)
      const { record } = yield* Effect.tryPromise({
        try: () => runKernelBenchmark(),
        catch: (error) => new BenchError({ step: "measure", reason: String(error) }),
      })
      const dir = resolve(out)
      const path = join(dir, "core.json")
      yield* Effect.try({
        try: () => {
          mkdirSync(dir, { recursive: true })
          writeFileAtomicSync(path, `${JSON.stringify(record, null, 2)}\n`)
        },
        catch: (error) => new BenchError({ step: `write ${path}`, reason: String(error) }),
      })
      yield* Console.log(`\nwrote ${path}`)
    }).pipe(Effect.provide(Backend.layerChoice(backend))),
).pipe(
  Command.withDescription(
    "Measure the tensor kernels (matmul, softmax, gather, top-k): fast kernels and native OpenBLAS against stock tfjs",
  ),
  Command.withExamples([
    { command: "ds bench", description: "Run every case and write bench-results/core.json" },
    {
      command: "DS_BLAS_THREADS=1 ds bench --out /tmp/bench",
      description: "One OpenBLAS thread, results in /tmp/bench",
    },
    {
      command: "ds bench --backend tensorflow",
      description: "Check that the TensorFlow backend (tfjs-node or tfjs-node-gpu) loads, then run the table",
    },
  ]),
)
