/**
 * `pnpm --filter @ds/core bench:slice`: the stock wasm Slice/SplitV against the fast ones (src/kernels/slice.ts),
 * interleaved in one process, so the ratio holds on a loaded machine (the absolute times do not).
 *
 * Cases: a [8, 8, 128, 128] float32 tensor sliced on the last axis (the concat/split gradient shape of the issue),
 * the same on a rank-5 view (stock goes element by element there), and a SplitV on the last axis.
 */
import { loadavg } from "node:os"
import * as tf from "@tensorflow/tfjs"
import { initBackend } from "../src/backend/backend.ts"
import { printTable, time } from "../src/bench/timing.ts"
import { registerFastKernels, restoreStockKernels } from "../src/kernels/index.ts"

await initBackend("wasm", { stockKernels: true })
const x4 = tf.randomNormal([8, 8, 128, 128])
const x5 = x4.reshape([8, 8, 128, 2, 64])

const cases: ReadonlyArray<{ readonly name: string; readonly run: () => void }> = [
  {
    name: "slice [8,8,128,128] -> [...,64] (last axis)",
    run: () => tf.slice(x4, [0, 0, 0, 32], [-1, -1, -1, 64]).dispose(),
  },
  {
    name: "slice [8,8,128,2,64] -> [...,32] (rank 5)",
    run: () => tf.slice(x5, [0, 0, 0, 0, 16], [-1, -1, -1, -1, 32]).dispose(),
  },
  { name: "split [8,8,128,128] -> 64+64 (last axis)", run: () => tf.dispose(tf.split(x4, [64, 64], 3)) },
]

const loadBefore = loadavg()[0] ?? 0
const rows = []
for (const c of cases) {
  const stock: Array<number> = []
  const fast: Array<number> = []
  for (let round = 0; round < 3; round++) {
    restoreStockKernels("wasm")
    stock.push((await time(c.run, { warmup: 1, repeats: 5, budgetMs: 4000 })).medianMs)
    registerFastKernels("wasm", { native: false })
    fast.push((await time(c.run, { warmup: 1, repeats: 5, budgetMs: 4000 })).medianMs)
  }
  const med = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[1] as number
  rows.push({
    case: c.name,
    "stock ms": med(stock).toFixed(2),
    "fast ms": med(fast).toFixed(2),
    "stock/fast": (med(stock) / med(fast)).toFixed(1),
  })
}
console.log(
  `\n@ds/core slice bench (3 interleaved rounds, median of medians); load average ${loadBefore.toFixed(1)} -> ${(loadavg()[0] ?? 0).toFixed(1)}`,
)
printTable(rows)
