/**
 * Test fixtures: a tiny random-initialised checkpoint (the tiny preset, byte tokenizer, 4096 positions so the
 * tool preamble of the chat template fits) written with @ds/model's public API, and a server on a free loopback
 * port. Outputs are meaningless; the protocol around them is what the tests check.
 */
import { mkdtemp } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { initBackend } from "@ds/core"
import {
  byteTokenizer,
  decodeModelConfig,
  disposeParameters,
  initParameters,
  saveCheckpoint,
  tinyPreset,
} from "@ds/model"
import * as tf from "@tensorflow/tfjs"
import { Effect, Exit, Scope } from "effect"
import { type RunningServer, type ServeOptions, startServer } from "../src/index.ts"

export const makeCheckpoint = async (): Promise<string> => {
  await initBackend("wasm")
  const dir = join(await mkdtemp(join(tmpdir(), "ds-server-")), "tiny-chat")
  const tokenizer = byteTokenizer()
  const config = decodeModelConfig({ ...tinyPreset, vocab_size: tokenizer.vocabSize, max_seq_len: 4096 })
  const params = initParameters(config, 7)
  // Larger weights than the init, so that sampled text varies from token to token.
  for (const [name, p] of params) if (name.endsWith(".weight") && p.rank === 2) p.assign(tf.mul(p, 6))
  await Effect.runPromise(saveCheckpoint(dir, { config, params, tokenizer }))
  disposeParameters(params)
  return dir
}

export interface TestServer extends RunningServer {
  readonly close: () => Promise<void>
}

export const launch = async (options: ServeOptions): Promise<TestServer> => {
  const scope = Effect.runSync(Scope.make())
  const server = await Effect.runPromise(
    startServer({ port: 0, backend: "wasm", ...options }).pipe(Scope.provide(scope)),
  )
  return { ...server, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}
