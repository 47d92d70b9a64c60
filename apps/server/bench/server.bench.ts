/**
 * `pnpm --filter @ds/server bench`: load on a real server over loopback, with the "small" preset (random weights,
 * byte vocabulary) on the default backend. For C = 1, 4, 16, 32 concurrent clients, each streams one chat
 * completion of exactly 128 tokens (`ignore_eos`; `logprobs` on, so every token is its own SSE chunk):
 *
 *   aggregate tokens/s = Σ tokens / wall time of the round
 *   TTFT               = request sent -> first token chunk;   ITL = gap between consecutive token chunks
 *   p50 / p99          over every request (TTFT) or every gap (ITL) of the round
 *
 * then a soak: 16 clients in a loop for DS_BENCH_SOAK_S seconds (default 300), sampling the process RSS, and
 * checking that no request was lost. The server runs in this process, so RSS includes the (small) clients.
 * Writes bench-results/server.json, with the machine's load average at the start and end.
 */

import { mkdtemp } from "node:fs/promises"
import { loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { initBackend } from "@ds/core"
import {
  byteTokenizer,
  decodeModelConfig,
  disposeParameters,
  initParameters,
  saveCheckpoint,
  smallPreset,
} from "@ds/model"
import { printTable, writeBenchResult } from "@ds/tooling/bench"
import * as tf from "@tensorflow/tfjs"
import { Effect, Exit, Scope } from "effect"
import { startServer } from "../src/index.ts"

const tokens = 128
const soakSeconds = Number(process.env.DS_BENCH_SOAK_S ?? 300)

const quantile = (xs: ReadonlyArray<number>, q: number): number => {
  if (xs.length === 0) return Number.NaN
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number
}

interface Sample {
  readonly tokens: number
  readonly ttft: number
  readonly gaps: Array<number>
  readonly ok: boolean
}

const stream = async (url: string, seed: number): Promise<Sample> => {
  const start = performance.now()
  const response = await fetch(`${url}/v1/chat/completions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      model: "small",
      messages: [{ role: "user", content: `Request ${seed}` }],
      max_tokens: tokens,
      ignore_eos: true,
      seed,
      stream: true,
      logprobs: true,
    }),
  })
  if (!response.ok || response.body === null) return { tokens: 0, ttft: Number.NaN, gaps: [], ok: false }
  const reader = response.body.getReader()
  const decoder = new TextDecoder()
  let buffer = ""
  let count = 0
  let last = start
  let ttft = Number.NaN
  let done = false
  const gaps: Array<number> = []
  for (;;) {
    const part = await reader.read()
    if (part.done) break
    buffer += decoder.decode(part.value, { stream: true })
    let at = buffer.indexOf("\n\n")
    while (at >= 0) {
      const event = buffer.slice(6, at)
      buffer = buffer.slice(at + 2)
      at = buffer.indexOf("\n\n")
      if (event === "[DONE]") {
        done = true
        continue
      }
      const chunk = JSON.parse(event) as { choices: Array<{ logprobs: { content: Array<unknown> } | null }> }
      const n = chunk.choices[0]?.logprobs?.content.length ?? 0
      if (n === 0) continue
      const now = performance.now()
      if (count === 0) ttft = now - start
      else gaps.push(now - last)
      last = now
      count += n
    }
  }
  return { tokens: count, ttft, gaps, ok: done && count === tokens }
}

const main = async () => {
  const loadBefore = loadavg()
  await initBackend("auto")
  const dir = join(await mkdtemp(join(tmpdir(), "ds-server-bench-")), "small")
  const tokenizer = byteTokenizer()
  const config = decodeModelConfig({ ...smallPreset, vocab_size: tokenizer.vocabSize })
  const params = initParameters(config, 1)
  await Effect.runPromise(saveCheckpoint(dir, { config, params, tokenizer }))
  disposeParameters(params)
  const scope = Effect.runSync(Scope.make())
  const server = await Effect.runPromise(
    startServer({ checkpoint: dir, port: 0, engine: { maxBatch: 32 } }).pipe(Scope.provide(scope)),
  )
  await stream(server.url, 0) // warm-up
  const rounds = []
  for (const clients of [1, 4, 16, 32]) {
    const start = performance.now()
    const samples = await Promise.all(Array.from({ length: clients }, (_, i) => stream(server.url, i + 1)))
    const seconds = (performance.now() - start) / 1000
    const total = samples.reduce((s, x) => s + x.tokens, 0)
    const gaps = samples.flatMap((s) => s.gaps)
    rounds.push({
      clients,
      tokensPerSecond: total / seconds,
      ttftP50Ms: quantile(
        samples.map((s) => s.ttft),
        0.5,
      ),
      ttftP99Ms: quantile(
        samples.map((s) => s.ttft),
        0.99,
      ),
      itlP50Ms: quantile(gaps, 0.5),
      itlP99Ms: quantile(gaps, 0.99),
      lost: samples.filter((s) => !s.ok).length,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    })
    console.log(`C=${clients}: ${(total / seconds).toFixed(1)} tok/s`)
  }
  const one = rounds[0]?.tokensPerSecond ?? Number.NaN
  const sixteen = rounds.find((r) => r.clients === 16)?.tokensPerSecond ?? Number.NaN
  const rss: Array<{ second: number; rssMiB: number; tensors: number }> = []
  let soakRequests = 0
  let soakLost = 0
  if (soakSeconds > 0) {
    const start = performance.now()
    const elapsed = () => (performance.now() - start) / 1000
    const sampler = setInterval(
      () =>
        rss.push({
          second: Math.round(elapsed()),
          rssMiB: process.memoryUsage().rss / 2 ** 20,
          tensors: tf.memory().numTensors,
        }),
      10_000,
    )
    await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        while (elapsed() < soakSeconds) {
          const s = await stream(server.url, 1000 + i * 10_000 + soakRequests)
          soakRequests += 1
          if (!s.ok) soakLost += 1
        }
      }),
    )
    clearInterval(sampler)
  }
  await Effect.runPromise(Scope.close(scope, Exit.void))
  printTable(
    rounds.map((r) => ({
      clients: r.clients,
      "tok/s": r.tokensPerSecond.toFixed(1),
      "TTFT p50 ms": r.ttftP50Ms.toFixed(0),
      "TTFT p99 ms": r.ttftP99Ms.toFixed(0),
      "ITL p50 ms": r.itlP50Ms.toFixed(1),
      "ITL p99 ms": r.itlP99Ms.toFixed(1),
      lost: r.lost,
      "RSS MiB": r.rssMiB.toFixed(0),
    })),
  )
  const result = {
    preset: "small",
    tokensPerRequest: tokens,
    rounds,
    speedup16over1: sixteen / one,
    soak: { seconds: soakSeconds, clients: 16, requests: soakRequests, lost: soakLost, rss },
    loadAverage: { before: loadBefore, after: loadavg() },
  }
  console.log(`16 streams / 1 stream aggregate tok/s: ${(sixteen / one).toFixed(2)}x`)
  if (rss.length > 0)
    console.log(
      `soak: ${soakRequests} requests, ${soakLost} lost; RSS ${rss[0]?.rssMiB.toFixed(0)} -> ${rss[rss.length - 1]?.rssMiB.toFixed(0)} MiB, live tensors ${rss[0]?.tensors} -> ${rss[rss.length - 1]?.tensors}`,
    )
  console.log(
    `load average before ${loadBefore.map((x) => x.toFixed(2)).join(" ")}, after ${loadavg()
      .map((x) => x.toFixed(2))
      .join(" ")}`,
  )
  console.log(writeBenchResult("server.json", result))
}

await main()
