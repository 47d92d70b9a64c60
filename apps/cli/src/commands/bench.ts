/**
 * `ds bench`: measures the tensor kernels on this machine — matmul GFLOP/s, softmax, gather and top-k — for the
 * default configuration (wasm + fast kernels + native OpenBLAS), the fast kernels without native, stock wasm and
 * stock cpu, and writes the figures to `<out>/core.json`.
 */
import { mkdirSync } from "node:fs"
import { join, resolve } from "node:path"
import { describeBackend, initBackend, runKernelBenchmark, writeFileAtomicSync } from "@ds/core"
import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"

export const bench = Command.make(
  "bench",
  {
    out: Flag.Directory("out").pipe(
      Flag.withDescription("Folder for the results (core.json)"),
      Flag.withDefault("bench-results"),
    ),
  },
  ({ out }) =>
    Effect.gen(function* () {
      const info = yield* Effect.promise(() => initBackend("wasm"))
      yield* Console.log(`default backend: ${describeBackend(info)}`)
      const { record } = yield* Effect.promise(() => runKernelBenchmark())
      const dir = resolve(out)
      const path = join(dir, "core.json")
      yield* Effect.sync(() => {
        mkdirSync(dir, { recursive: true })
        writeFileAtomicSync(path, `${JSON.stringify(record, null, 2)}\n`)
      })
      yield* Console.log(`\nwrote ${path}`)
    }),
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
  ]),
)
