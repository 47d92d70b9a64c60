/**
 * Writing safetensors files, single or sharded, atomically.
 *
 * The header is built from shapes and dtypes alone; tensor data is then fetched, encoded and written one tensor at a
 * time, so peak memory is one tensor's bytes. Tensors are laid out by element size, largest first (stable), so with
 * the data section starting at a multiple of 8 every tensor starts at a multiple of its element size. Each file is a
 * temp file renamed into place; the sharded writer writes the index last, so a reader never sees an index naming
 * shards that are not complete.
 *
 * Dtype of each tensor: `dtypes[name]`, else `floatDtype` for floating tensors, else the source's own
 * (tf float32 -> F32, int32 -> I32, bool -> BOOL; a TensorData keeps its dtype, F8_E4M3 (read only) becomes F32).
 */
import { mkdir } from "node:fs/promises"
import { join } from "node:path"
import * as tf from "@tensorflow/tfjs"
import { SafetensorsError } from "../errors.ts"
import { indexFileName, shardFileName } from "./checkpoint.ts"
import { encodeTensor } from "./codec.ts"
import {
  dtypeBytes,
  elementCount,
  type HostArray,
  isFloatDtype,
  isWritableDtype,
  type SafetensorsDtype,
  type TensorData,
  type WritableDtype,
  writableDtypes,
} from "./dtypes.ts"
import { buildHeader, metadataKey } from "./header.ts"
import { ioError, writeAt, writeFileAtomic } from "./io.ts"

export type TensorInput = tf.Tensor | TensorData

export type TensorEntries =
  | ReadonlyMap<string, TensorInput>
  | Iterable<readonly [string, TensorInput]>
  | Readonly<Record<string, TensorInput>>

export interface WriteOptions {
  /** String -> string pairs stored as `__metadata__`. */
  readonly metadata?: Readonly<Record<string, string>>
  /** Dtype per tensor name; names not among the tensors are an error. */
  readonly dtypes?: Readonly<Record<string, WritableDtype>>
  /** Dtype for every floating tensor not named in `dtypes` (e.g. "BF16" for a half-size checkpoint). */
  readonly floatDtype?: "F32" | "F16" | "BF16"
}

export interface ShardedWriteOptions extends WriteOptions {
  /** Largest shard in bytes of tensor data; a bigger tensor gets a shard of its own. Default 5 GB (as transformers). */
  readonly maxShardBytes?: number
  /** Shard file prefix: `${prefix}-00001-of-0000N.safetensors`. Default "model". */
  readonly prefix?: string
}

export interface ShardedWriteResult {
  readonly index: string
  readonly shards: ReadonlyArray<string>
}

/** transformers' default `max_shard_size` ("5GB"). */
export const defaultMaxShardBytes = 5_000_000_000

interface PlannedTensor {
  readonly name: string
  readonly dtype: WritableDtype
  readonly shape: ReadonlyArray<number>
  readonly byteLength: number
  readonly input: TensorInput
}

const entriesOf = (tensors: TensorEntries, file: string): Array<readonly [string, TensorInput]> => {
  const entries =
    Symbol.iterator in tensors ? [...(tensors as Iterable<readonly [string, TensorInput]>)] : Object.entries(tensors)
  const seen = new Set<string>()
  for (const [name] of entries) {
    if (seen.has(name)) throw new SafetensorsError({ file, tensor: name, reason: "tensor name given twice" })
    if (name === metadataKey) throw new SafetensorsError({ file, tensor: name, reason: `"${metadataKey}" is reserved` })
    seen.add(name)
  }
  return entries
}

/** The stored dtype a tf dtype maps to, or a float marker. */
const sourceDtype = (input: TensorInput, bad: (reason: string) => SafetensorsError): SafetensorsDtype => {
  if (!(input instanceof tf.Tensor)) return input.dtype
  switch (input.dtype) {
    case "float32":
      return "F32"
    case "int32":
      return "I32"
    case "bool":
      return "BOOL"
    default:
      throw bad(`tf dtype ${input.dtype} cannot be stored in safetensors`)
  }
}

const checkShape = (input: TensorInput, bad: (reason: string) => SafetensorsError): void => {
  input.shape.forEach((d, i) => {
    if (!Number.isSafeInteger(d) || d < 0) throw bad(`shape[${i}] = ${d} is not a non-negative integer`)
  })
  if (!(input instanceof tf.Tensor) && input.data.length !== elementCount(input.shape)) {
    throw bad(
      `data holds ${input.data.length} values but shape [${input.shape.join(", ")}] needs ${elementCount(input.shape)}`,
    )
  }
}

const chooseDtype = (
  name: string,
  source: SafetensorsDtype,
  options: WriteOptions,
  bad: (reason: string) => SafetensorsError,
): WritableDtype => {
  const chosen = options.dtypes?.[name] ?? (isFloatDtype(source) ? (options.floatDtype ?? source) : source)
  if (chosen === "F8_E4M3" && options.dtypes?.[name] === undefined) return "F32"
  if (!isWritableDtype(chosen))
    throw bad(`cannot write dtype ${String(chosen)} (writable: ${writableDtypes.join(", ")})`)
  return chosen
}

const plan = (tensors: TensorEntries, options: WriteOptions, file: string): Array<PlannedTensor> => {
  const entries = entriesOf(tensors, file)
  const names = new Set(entries.map(([name]) => name))
  for (const name of Object.keys(options.dtypes ?? {})) {
    if (!names.has(name))
      throw new SafetensorsError({ file, tensor: name, reason: "dtypes names a tensor that is not written" })
  }
  for (const [key, value] of Object.entries(options.metadata ?? {})) {
    if (typeof value !== "string") throw new SafetensorsError({ file, reason: `metadata["${key}"] is not a string` })
  }
  const planned = entries.map(([name, input]): PlannedTensor => {
    const bad = (reason: string) => new SafetensorsError({ file, tensor: name, reason })
    checkShape(input, bad)
    const dtype = chooseDtype(name, sourceDtype(input, bad), options, bad)
    return { name, dtype, shape: [...input.shape], byteLength: elementCount(input.shape) * dtypeBytes[dtype], input }
  })
  return planned.sort((a, b) => dtypeBytes[b.dtype] - dtypeBytes[a.dtype])
}

const hostValues = async (input: TensorInput): Promise<HostArray> =>
  input instanceof tf.Tensor ? ((await input.data()) as HostArray) : input.data

const writePlanned = (
  path: string,
  planned: ReadonlyArray<PlannedTensor>,
  metadata: Readonly<Record<string, string>> | undefined,
): Promise<void> =>
  writeFileAtomic(path, async (handle) => {
    const { prefix, offsets } = buildHeader(planned, metadata)
    await writeAt(handle, prefix, 0)
    for (const [i, tensor] of planned.entries()) {
      try {
        const bytes = encodeTensor(tensor.dtype, await hostValues(tensor.input), { file: path, tensor: tensor.name })
        await writeAt(handle, bytes, prefix.byteLength + offsets[i]!)
      } catch (error) {
        throw ioError(error, path, "writing", tensor.name)
      }
    }
  })

/**
 * Writes tensors (tf tensors or TensorData records) to one safetensors file, atomically: on failure the file at
 * `path` is unchanged and no temp file is left. The folder must exist.
 */
export const writeSafetensors = async (
  path: string,
  tensors: TensorEntries,
  options: WriteOptions = {},
): Promise<void> => writePlanned(path, plan(tensors, options, path), options.metadata)

/** Greedy split in layout order: a tensor starts a new shard when it would push the current one past the limit. */
const splitShards = (planned: ReadonlyArray<PlannedTensor>, maxShardBytes: number): Array<Array<PlannedTensor>> => {
  const shards: Array<Array<PlannedTensor>> = []
  let current: Array<PlannedTensor> = []
  let bytes = 0
  for (const tensor of planned) {
    if (current.length > 0 && bytes + tensor.byteLength > maxShardBytes) {
      shards.push(current)
      current = []
      bytes = 0
    }
    current.push(tensor)
    bytes += tensor.byteLength
  }
  if (current.length > 0) shards.push(current)
  return shards
}

/**
 * Writes a sharded checkpoint into `folder` (created if missing): shards `model-0000i-of-0000N.safetensors` of at
 * most `maxShardBytes` data bytes each (every shard gets `metadata`), then `model.safetensors.index.json` last.
 * Always writes the sharded layout, even for one shard. Shards of an earlier, differently split save are not removed.
 */
export const writeShardedSafetensors = async (
  folder: string,
  tensors: TensorEntries,
  options: ShardedWriteOptions = {},
): Promise<ShardedWriteResult> => {
  const maxShardBytes = options.maxShardBytes ?? defaultMaxShardBytes
  const indexPath = join(folder, indexFileName)
  if (!(maxShardBytes > 0))
    throw new SafetensorsError({ file: indexPath, reason: `maxShardBytes ${maxShardBytes} is not positive` })
  await mkdir(folder, { recursive: true }).catch((error: unknown) => {
    throw ioError(error, folder, "creating the folder")
  })
  const shards = splitShards(plan(tensors, options, indexPath), maxShardBytes)
  const names = shards.map((_, i) => shardFileName(i + 1, shards.length, options.prefix))
  const weightMap: Array<[string, string]> = []
  for (const [i, shard] of shards.entries()) {
    await writePlanned(join(folder, names[i]!), shard, options.metadata)
    for (const tensor of shard) weightMap.push([tensor.name, names[i]!])
  }
  weightMap.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const totalSize = shards.flat().reduce((sum, tensor) => sum + tensor.byteLength, 0)
  const index = `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: Object.fromEntries(weightMap) }, null, 2)}\n`
  await writeFileAtomic(indexPath, (handle) => writeAt(handle, new TextEncoder().encode(index), 0))
  return { index: indexPath, shards: names.map((name) => join(folder, name)) }
}
