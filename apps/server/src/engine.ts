/**
 * Continuous batching (docs/server.md §2): one scheduler fiber owns the model and runs, per iteration,
 *
 *   1. drop      sequences whose client went away or that finished (their KV rows leave the batch at once)
 *   2. admit     waiting sequences while prefilling + running < maxBatch (the queue holds at most maxQueue: 429)
 *   3. prefill   one chunk of ≤ prefillChunk prompt tokens of the oldest prefilling sequence, in its own [1, ·]
 *                cache; after its last chunk the first token is sampled and the sequence joins the batch
 *                (batch-cache.ts), so a long prompt costs running streams one chunk of delay per step, not a stall
 *   4. decode    one batched forward of [B, 1] tokens, each row at its own position with its own KV rows, then
 *                per row: its own sampling parameters (temperature, top-k, top-p) and its own seeded stream
 *
 * and yields to the event loop between iterations so HTTP I/O runs between steps. A sequence's output depends
 * only on its prompt, its parameters and its seed: prefill is always alone, padding rows are masked, and each row
 * draws one uniform per token from `Rng.make(seed)`, so a request gives the same tokens alone or batched.
 *
 * Log-probabilities reported to clients are those of the model's raw distribution, log softmax(logits), as in
 * vLLM; the sampler's processed distribution (docs/model.md §6) decides the token.
 */
import type { Rng } from "@ds/core"
import {
  createModelCache,
  disposeForward,
  disposeModelCache,
  forward,
  LocalModel,
  type Model,
  type ModelCache,
  type SamplingOptions,
  sampleToken,
} from "@ds/model"
import * as tf from "@tensorflow/tfjs"
import { Cause, Clock, Context, Effect, Latch, Layer, Queue } from "effect"
import { joinCache, keepRows } from "./batch-cache.ts"
import { type ApiError, queueFull, serverError, shuttingDown } from "./errors.ts"
import { ServerMetrics } from "./metrics.ts"

export interface SequenceRequest {
  readonly prompt: ReadonlyArray<number>
  readonly maxTokens: number
  readonly sampling: SamplingOptions
  /** The sequence's own sampling stream (one uniform per sampled token). */
  readonly rng: Rng
  /** Sampled ids that end the sequence (EOS); they are reported, then the sequence finishes with "stop". */
  readonly stopTokens: ReadonlyArray<number>
  /** Report log-probabilities of each token and of this many most likely alternatives (undefined: none). */
  readonly topLogprobs?: number
}

export interface TopLogprob {
  readonly token: number
  readonly logprob: number
}

export type SequenceEvent =
  | {
      readonly _tag: "Token"
      readonly token: number
      readonly logprob?: number
      readonly top?: ReadonlyArray<TopLogprob>
    }
  | { readonly _tag: "Finish"; readonly reason: "stop" | "length" }

export interface SequenceHandle {
  readonly id: number
  /** Tokens, then one Finish event; fails with an ApiError when the engine fails or shuts down. */
  readonly events: Queue.Dequeue<SequenceEvent, ApiError | Cause.Done>
  /** Frees the sequence's slot and KV rows (at the next step boundary); idempotent. */
  readonly cancel: Effect.Effect<void>
}

export interface EngineOptions {
  /** Most sequences prefilling or decoding at once (the batch). Default 32. */
  readonly maxBatch?: number
  /** Most sequences waiting for a slot; more are answered 429. Default 256. */
  readonly maxQueue?: number
  /** Prompt tokens per prefill chunk. Default 128. */
  readonly prefillChunk?: number
}

export interface EngineShape {
  readonly model: Model
  readonly submit: (requests: ReadonlyArray<SequenceRequest>) => Effect.Effect<Array<SequenceHandle>, ApiError>
  /** Sequences waiting, prefilling, running. */
  readonly load: () => { readonly waiting: number; readonly prefilling: number; readonly running: number }
  /** Stop admitting new requests (503); running ones continue. */
  readonly close: Effect.Effect<void>
  /** True once `close` ran (the server is draining). */
  readonly closed: () => boolean
}

interface Sequence {
  readonly id: number
  readonly request: SequenceRequest
  readonly rng: Rng
  readonly queue: Queue.Queue<SequenceEvent, ApiError | Cause.Done>
  readonly submittedAt: number
  generated: number
  prefilled: number
  /** Own cache while prefilling. */
  cache: ModelCache | undefined
  /** The last sampled token, not yet in the cache. */
  next: number
  lastTokenAt: number
  cancelled: boolean
  finished: boolean
}

/** log softmax of one row: the chosen token's value and the k largest (ties: lower id first). */
const rowLogprobs = (row: ArrayLike<number>, token: number, k: number): { logprob: number; top: Array<TopLogprob> } => {
  let max = Number.NEGATIVE_INFINITY
  for (let i = 0; i < row.length; i++) if ((row[i] as number) > max) max = row[i] as number
  let sum = 0
  for (let i = 0; i < row.length; i++) sum += Math.exp((row[i] as number) - max)
  const lse = max + Math.log(sum)
  const top: Array<TopLogprob> = []
  if (k > 0) {
    const best: Array<number> = []
    for (let i = 0; i < row.length; i++) {
      if (best.length === k && (row[i] as number) <= (row[best[k - 1] as number] as number)) continue
      let at = best.length
      while (at > 0 && (row[i] as number) > (row[best[at - 1] as number] as number)) at--
      best.splice(at, 0, i)
      if (best.length > k) best.pop()
    }
    for (const id of best) top.push({ token: id, logprob: (row[id] as number) - lse })
  }
  return { logprob: (row[token] as number) - lse, top }
}

export class Engine extends Context.Service<Engine, EngineShape>()("@ds/server/Engine") {
  /** The scheduler over the LocalModel in context; stopped (every open sequence failed with 503) with the scope. */
  static readonly layer = (options: EngineOptions = {}): Layer.Layer<Engine, never, LocalModel | ServerMetrics> =>
    Layer.effect(Engine, makeEngine(options))
}

const makeEngine = Effect.fnUntraced(function* (options: EngineOptions) {
  const { model } = yield* LocalModel
  const metrics = yield* ServerMetrics
  const clock = yield* Clock.Clock
  const now = () => clock.currentTimeMillisUnsafe() / 1000
  const maxBatch = options.maxBatch ?? 32
  const maxQueue = options.maxQueue ?? 256
  const prefillChunk = options.prefillChunk ?? 128
  const capacity = model.config.max_seq_len
  const vocab = model.config.vocab_size

  let waiting: Array<Sequence> = []
  let prefilling: Array<Sequence> = []
  let running: Array<Sequence> = []
  let batch: ModelCache | undefined
  let nextId = 0
  let closed = false
  const wake = yield* Latch.make(false)

  const publishLoad = () => {
    metrics.queueDepth.set(waiting.length)
    metrics.running.set(prefilling.length + running.length)
  }

  const finish = (seq: Sequence, reason: "stop" | "length") => {
    seq.finished = true
    Queue.offerUnsafe(seq.queue, { _tag: "Finish", reason })
    Queue.endUnsafe(seq.queue)
  }

  /** Reports a sampled token; returns true when the sequence is finished. */
  const emit = (seq: Sequence, row: ArrayLike<number>): boolean => {
    const u = seq.rng.uniform(1)[0] as number
    const sampled = sampleToken(row, seq.request.sampling, u)
    const at = now()
    if (seq.generated === 0) metrics.timeToFirstToken.observe(at - seq.submittedAt)
    else metrics.interTokenLatency.observe(at - seq.lastTokenAt)
    seq.lastTokenAt = at
    seq.generated += 1
    seq.next = sampled.token
    metrics.generationTokens.inc()
    const k = seq.request.topLogprobs
    if (k === undefined) Queue.offerUnsafe(seq.queue, { _tag: "Token", token: sampled.token })
    else {
      const { logprob, top } = rowLogprobs(row, sampled.token, k)
      Queue.offerUnsafe(seq.queue, { _tag: "Token", token: sampled.token, logprob, top })
    }
    if (seq.request.stopTokens.includes(sampled.token)) finish(seq, "stop")
    else if (seq.generated >= seq.request.maxTokens || seq.request.prompt.length + seq.generated >= capacity)
      finish(seq, "length")
    return seq.finished
  }

  const dropFinished = () => {
    waiting = waiting.filter((s) => !s.cancelled)
    prefilling = prefilling.filter((s) => {
      if (!s.cancelled && !s.finished) return true
      if (s.cache !== undefined) disposeModelCache(s.cache)
      s.cache = undefined
      return false
    })
    if (running.some((s) => s.cancelled || s.finished)) {
      const keep = running.flatMap((s, row) => (s.cancelled || s.finished ? [] : [row]))
      running = keep.map((row) => running[row] as Sequence)
      batch = batch === undefined ? undefined : keepRows(batch, keep)
    }
  }

  const prefillStep = () => {
    const seq = prefilling[0]
    if (seq === undefined) return
    const prompt = seq.request.prompt
    const chunk = prompt.slice(seq.prefilled, seq.prefilled + prefillChunk)
    seq.cache ??= createModelCache(model.config, 1, capacity)
    const input = tf.tensor2d(Int32Array.from(chunk), [1, chunk.length], "int32")
    const result = forward(model, input, { cache: seq.cache, startPos: seq.prefilled })
    input.dispose()
    seq.prefilled += chunk.length
    metrics.promptTokens.inc({}, chunk.length)
    if (seq.prefilled < prompt.length) {
      disposeForward(result)
      // Round-robin between prefilling sequences, one chunk each.
      prefilling = [...prefilling.slice(1), seq]
      return
    }
    const row = result.logits.dataSync()
    disposeForward(result)
    prefilling = prefilling.slice(1)
    if (emit(seq, row)) {
      disposeModelCache(seq.cache)
      seq.cache = undefined
      return
    }
    batch = joinCache(batch, seq.cache)
    seq.cache = undefined
    running.push(seq)
  }

  const decodeStep = () => {
    if (running.length === 0 || batch === undefined) return
    const cache = batch
    metrics.batchSize.observe(running.length)
    const input = tf.tensor2d(
      Int32Array.from(running, (s) => s.next),
      [running.length, 1],
      "int32",
    )
    const startPos = running.map((_, row) => cache.layers[0]?.lengths[row] ?? 0)
    const result = forward(model, input, { cache, startPos })
    input.dispose()
    const logits = result.logits.dataSync()
    disposeForward(result)
    running.forEach((seq, row) => {
      if (!seq.cancelled) emit(seq, logits.subarray(row * vocab, (row + 1) * vocab))
    })
  }

  const failAll = (error: ApiError) => {
    for (const seq of [...waiting, ...prefilling, ...running]) {
      if (seq.cache !== undefined) disposeModelCache(seq.cache)
      seq.cache = undefined
      if (!seq.finished) Queue.failCauseUnsafe(seq.queue, Cause.fail(error))
      seq.finished = true
    }
    waiting = []
    prefilling = []
    running = []
    if (batch !== undefined) disposeModelCache(batch)
    batch = undefined
    publishLoad()
  }

  const step = () => {
    dropFinished()
    while (waiting.length > 0 && prefilling.length + running.length < maxBatch)
      prefilling.push(waiting.shift() as Sequence)
    prefillStep()
    decodeStep()
    dropFinished()
    publishLoad()
  }

  const idle = () => waiting.length === 0 && prefilling.length === 0 && running.length === 0

  /** Lets timers and socket I/O run between steps (a macrotask, after the poll phase). */
  const yieldToIo = Effect.callback<void>((resume) => {
    const handle = setImmediate(() => resume(Effect.void))
    return Effect.sync(() => clearImmediate(handle))
  })

  const loop = Effect.gen(function* () {
    for (;;) {
      if (idle()) {
        yield* wake.close
        if (idle()) yield* wake.await
      }
      yield* Effect.try({
        try: step,
        catch: (error) => serverError(`the model step failed: ${String(error)}`),
      }).pipe(
        Effect.catch((error) =>
          Effect.logError("engine step failed; failing the open sequences", error).pipe(
            Effect.andThen(Effect.sync(() => failAll(error))),
          ),
        ),
      )
      yield* yieldToIo
    }
  })

  yield* Effect.forkScoped(loop)
  yield* Effect.addFinalizer(() => Effect.sync(() => failAll(shuttingDown())))

  const submit = (requests: ReadonlyArray<SequenceRequest>) =>
    Effect.gen(function* () {
      if (closed) return yield* Effect.fail(shuttingDown())
      if (waiting.length + requests.length > maxQueue) return yield* Effect.fail(queueFull(maxQueue))
      const handles: Array<SequenceHandle> = []
      for (const request of requests) {
        const queue = yield* Queue.unbounded<SequenceEvent, ApiError | Cause.Done>()
        const seq: Sequence = {
          id: nextId++,
          request,
          rng: request.rng,
          queue,
          submittedAt: now(),
          generated: 0,
          prefilled: 0,
          cache: undefined,
          next: 0,
          lastTokenAt: 0,
          cancelled: false,
          finished: false,
        }
        waiting.push(seq)
        handles.push({
          id: seq.id,
          events: queue,
          cancel: Effect.sync(() => {
            if (seq.cancelled) return
            seq.cancelled = true
            // A waiting sequence leaves the queue now; a running one at the next step boundary.
            waiting = waiting.filter((s) => s !== seq)
            publishLoad()
            if (!seq.finished) Queue.endUnsafe(seq.queue)
          }),
        })
      }
      publishLoad()
      yield* wake.open
      return handles
    })

  return Engine.of({
    model,
    submit,
    load: () => ({ waiting: waiting.length, prefilling: prefilling.length, running: running.length }),
    close: Effect.sync(() => {
      closed = true
    }),
    closed: () => closed,
  })
})
