/**
 * Checkpoints: a folder with `config.json` (reference `ModelArgs` names, or Hugging Face names) and
 * `model.safetensors` — or shards listed by `model.safetensors.index.json` — holding the parameters under the
 * reference names (Hugging Face names are accepted on load; checkpoint-names.ts), plus `tokenizer.json` when the
 * model has a tokenizer.
 *
 * Loading checks the tensors against the model the config describes: missing, unexpected and mis-shaped tensors
 * are reported together in one `CheckpointError`. FP8 weights with `weight_scale_inv` (DeepSeek's release) are
 * dequantised block-wise (128 x 128) to float32; the multi-token-prediction layers of a Hugging Face checkpoint
 * (`num_nextn_predict_layers`) are skipped, as DeepSeek's `convert.py` does.
 *
 * Saving is atomic: everything is written to a temporary sibling folder which then replaces `dir` by rename, so a
 * reader never sees a half-written checkpoint.
 */
import { existsSync } from "node:fs"
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import {
  CheckpointError,
  ConfigError,
  InputError,
  openCheckpointTensors,
  SafetensorsError,
  type TensorData,
  type TensorSource,
  writeSafetensors,
  writeShardedSafetensors,
} from "@ds/core"
import * as tf from "@tensorflow/tfjs"
import { Effect, type Scope } from "effect"
import { layerOf, scaleSuffix, toReferenceName } from "./checkpoint-names.ts"
import { encodeModelConfig, isHuggingFaceConfig, type ModelConfig, parseModelConfig } from "./config.ts"
import { disposeParameters, isGradientTrained, type Parameters, parameterSpecs } from "./params.ts"
import { type TextTokenizer, tokenizerFromJson } from "./tokenizer/tokenizer.ts"

export interface Checkpoint {
  readonly config: ModelConfig
  readonly params: Parameters
  readonly tokenizer?: TextTokenizer
}

export type CheckpointLoadError = CheckpointError | ConfigError | InputError | SafetensorsError

const readJsonFile = (path: string): Effect.Effect<unknown, InputError> =>
  Effect.tryPromise({
    try: async () => JSON.parse(await readFile(path, "utf8")) as unknown,
    catch: (error) => new InputError({ source: path, reason: `cannot read JSON: ${String(error)}` }),
  })

const fileExists = (path: string): Effect.Effect<boolean> => Effect.sync(() => existsSync(path))

/** Reads and validates `DIR/config.json` (either naming). */
export const loadModelConfig = (dir: string): Effect.Effect<ModelConfig, ConfigError | InputError> =>
  Effect.flatMap(readJsonFile(join(dir, "config.json")), (raw) =>
    Effect.try({
      try: () => parseModelConfig(raw),
      catch: (e) => (e instanceof ConfigError ? e : new ConfigError({ field: "(root)", reason: String(e) })),
    }),
  )

/** W[i, j] = w[i, j] · s[⌊i/128⌋, ⌊j/128⌋] for a 2-D FP8 weight and its block scales. */
const dequantiseBlocks = (weight: TensorData, scale: TensorData): Float32Array => {
  const [rows, cols] = weight.shape as [number, number]
  const blockCols = scale.shape[1] as number
  const out = new Float32Array(rows * cols)
  const w = weight.data as Float32Array
  const s = scale.data as Float32Array
  for (let i = 0; i < rows; i++) {
    const scaleRow = Math.floor(i / 128) * blockCols
    for (let j = 0; j < cols; j++)
      out[i * cols + j] = (w[i * cols + j] as number) * (s[scaleRow + Math.floor(j / 128)] as number)
  }
  return out
}

interface Matched {
  readonly byReference: Map<string, string>
  readonly scales: Map<string, string>
  readonly unexpected: Array<string>
}

/** Maps the file's names to reference names; sorts out scales, skipped MTP layers and unknown tensors. */
const matchNames = (source: TensorSource, skipLayersFrom: number, skipLayersTo: number): Matched => {
  const byReference = new Map<string, string>()
  const scales = new Map<string, string>()
  const unexpected: Array<string> = []
  for (const name of source.names) {
    if (name.endsWith("rotary_emb.inv_freq")) continue
    const ref = toReferenceName(name)
    const layer = layerOf(ref)
    if (layer !== undefined && layer >= skipLayersFrom && layer < skipLayersTo) continue
    if (ref.endsWith(scaleSuffix)) scales.set(ref.slice(0, -scaleSuffix.length), name)
    else if (byReference.has(ref)) unexpected.push(`${name} (duplicate of ${byReference.get(ref)})`)
    else byReference.set(ref, name)
  }
  return { byReference, scales, unexpected }
}

const readParameters = async (dir: string, config: ModelConfig, mtpLayers: number): Promise<Parameters> => {
  const source = await openCheckpointTensors(dir)
  try {
    const { byReference, scales, unexpected } = matchNames(source, config.n_layers, config.n_layers + mtpLayers)
    const specs = parameterSpecs(config)
    const expected = new Set(specs.map((s) => s.name))
    const missing = specs.filter((s) => !byReference.has(s.name)).map((s) => s.name)
    for (const ref of byReference.keys()) if (!expected.has(ref)) unexpected.push(byReference.get(ref) as string)
    for (const [ref, name] of scales) if (!expected.has(ref)) unexpected.push(name)
    const misshaped: Array<string> = []
    for (const spec of specs) {
      const file = byReference.get(spec.name)
      if (file === undefined) continue
      const shape = source.info(file).shape
      if (shape.length !== spec.shape.length || shape.some((d, i) => d !== spec.shape[i]))
        misshaped.push(`${file}: expected [${spec.shape}], got [${shape}]`)
    }
    if (missing.length + unexpected.length + misshaped.length > 0)
      throw new CheckpointError({
        path: dir,
        reason: "the checkpoint does not match the model its config.json describes",
        missing,
        unexpected,
        misshaped,
      })
    const params: Parameters = new Map()
    try {
      for (const spec of specs) {
        const file = byReference.get(spec.name) as string
        const record = await source.read(file)
        const scaleName = scales.get(spec.name)
        const values = scaleName === undefined ? record.data : dequantiseBlocks(record, await source.read(scaleName))
        if (!(values instanceof Float32Array))
          throw new CheckpointError({
            path: dir,
            reason: `tensor ${file} has dtype ${record.dtype}; expected a floating dtype`,
          })
        const tensor = tf.tensor(values, [...spec.shape], "float32")
        params.set(spec.name, tf.variable(tensor, isGradientTrained(spec.name)))
        tensor.dispose()
      }
    } catch (error) {
      // A truncated or damaged file fails mid-way: free what was already loaded.
      disposeParameters(params)
      throw error
    }
    return params
  } finally {
    await source.close()
  }
}

const toLoadError =
  (dir: string) =>
  (error: unknown): CheckpointLoadError =>
    error instanceof CheckpointError ||
    error instanceof SafetensorsError ||
    error instanceof ConfigError ||
    error instanceof InputError
      ? error
      : new CheckpointError({ path: dir, reason: String(error) })

/** Loads a checkpoint folder (config, parameters, and the tokenizer when `tokenizer.json` is there). */
export const loadCheckpoint = (dir: string): Effect.Effect<Checkpoint, CheckpointLoadError> =>
  Effect.gen(function* () {
    const configPath = join(dir, "config.json")
    const raw = yield* readJsonFile(configPath)
    const config = yield* Effect.try({
      try: () => parseModelConfig(raw),
      catch: (error) =>
        error instanceof ConfigError && error.file === undefined
          ? new ConfigError({ field: error.field, reason: error.reason, file: configPath })
          : toLoadError(dir)(error),
    })
    const mtp = isHuggingFaceConfig(raw) ? Number((raw as Record<string, unknown>).num_nextn_predict_layers ?? 0) : 0
    // Uninterruptible: an interruption waits for the read to finish, then frees the parameters (onError below).
    const params = yield* Effect.uninterruptible(
      Effect.tryPromise({ try: () => readParameters(dir, config, mtp), catch: toLoadError(dir) }),
    )
    const tokenizerPath = join(dir, "tokenizer.json")
    const tokenizer = yield* Effect.gen(function* () {
      if (!(yield* fileExists(tokenizerPath))) return undefined
      const json = yield* readJsonFile(tokenizerPath)
      return yield* Effect.try({
        try: () => tokenizerFromJson(json as Record<string, unknown>),
        catch: (e) => new InputError({ source: tokenizerPath, reason: `not a usable tokenizer: ${String(e)}` }),
      })
    }).pipe(Effect.onError(() => Effect.sync(() => disposeParameters(params))))
    return tokenizer === undefined ? { config, params } : { config, params, tokenizer }
  })

/**
 * `loadCheckpoint` as a scoped resource: the parameters are freed when the scope closes, whether the program
 * using them succeeds, fails or is interrupted.
 */
export const acquireCheckpoint = (dir: string): Effect.Effect<Checkpoint, CheckpointLoadError, Scope.Scope> =>
  Effect.acquireRelease(loadCheckpoint(dir), (checkpoint) => Effect.sync(() => disposeParameters(checkpoint.params)))

export interface SaveOptions {
  /** Split the parameters into shards of at most this many bytes (with `model.safetensors.index.json`). */
  readonly maxShardBytes?: number
  /** Extra files written into the folder (name -> content), e.g. optimizer state. */
  readonly extraFiles?: ReadonlyMap<string, string | Uint8Array>
  /** Extra safetensors files written into the folder (file name -> tensors). */
  readonly extraTensors?: ReadonlyMap<string, ReadonlyMap<string, tf.Tensor | TensorData>>
}

const writeFolder = async (dir: string, checkpoint: Checkpoint, options: SaveOptions): Promise<void> => {
  await mkdir(dir, { recursive: true })
  await writeFile(join(dir, "config.json"), `${JSON.stringify(encodeModelConfig(checkpoint.config), null, 2)}\n`)
  const tensors = new Map<string, tf.Tensor>(
    parameterSpecs(checkpoint.config).map((s) => [s.name, checkpoint.params.get(s.name) as tf.Tensor]),
  )
  const missing = [...tensors].filter(([, t]) => t === undefined).map(([n]) => n)
  if (missing.length > 0)
    throw new CheckpointError({ path: dir, reason: "the model lacks parameters its config requires", missing })
  const metadata = { format: "pt", source: "@ds/model" }
  if (options.maxShardBytes !== undefined)
    await writeShardedSafetensors(dir, tensors, { metadata, maxShardBytes: options.maxShardBytes })
  else await writeSafetensors(join(dir, "model.safetensors"), tensors, { metadata })
  if (checkpoint.tokenizer !== undefined)
    await writeFile(join(dir, "tokenizer.json"), JSON.stringify(checkpoint.tokenizer.json))
  for (const [name, content] of options.extraFiles ?? []) await writeFile(join(dir, name), content)
  for (const [name, extra] of options.extraTensors ?? []) await writeSafetensors(join(dir, name), extra)
}

let saveCounter = 0

/** Writes `checkpoint` to `dir` atomically (temporary sibling folder, then rename over `dir`). */
export const saveCheckpoint = (
  dir: string,
  checkpoint: Checkpoint,
  options: SaveOptions = {},
): Effect.Effect<void, CheckpointError> =>
  Effect.tryPromise({
    try: async () => {
      const parent = dirname(dir)
      saveCounter += 1
      const stamp = `${process.pid}-${saveCounter}`
      const temp = join(parent, `.${basename(dir)}.tmp-${stamp}`)
      const old = join(parent, `.${basename(dir)}.old-${stamp}`)
      await mkdir(parent, { recursive: true })
      try {
        await writeFolder(temp, checkpoint, options)
        const hadOld = await rename(dir, old).then(
          () => true,
          (e: NodeJS.ErrnoException) => {
            if (e.code === "ENOENT") return false
            throw e
          },
        )
        await rename(temp, dir)
        if (hadOld) await rm(old, { recursive: true, force: true })
      } finally {
        await rm(temp, { recursive: true, force: true })
      }
    },
    catch: (error) =>
      error instanceof CheckpointError
        ? error
        : new CheckpointError({ path: dir, reason: `saving failed: ${String(error)}` }),
  })
