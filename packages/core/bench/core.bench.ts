/**
 * `pnpm --filter @ds/core bench`: the kernel benchmark (src/bench/kernel-bench.ts), written to bench-results/core.json.
 */
import { writeBenchResult } from "@ds/tooling/bench"
import { runKernelBenchmark } from "../src/bench/kernel-bench.ts"

const { record } = await runKernelBenchmark()
console.log(`\nwrote ${writeBenchResult("core.json", record)}`)
