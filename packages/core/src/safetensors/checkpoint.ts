/**
 * Checkpoints as Hugging Face lays them out: one `model.safetensors`, or shards
 * `model-00001-of-0000N.safetensors` listed by `model.safetensors.index.json`
 * (`{"metadata": {"total_size": bytes}, "weight_map": {tensor: shard file}}`).
 *
 * `openCheckpointTensors` accepts a folder, a `.safetensors` file or an index file and gives one lazy TensorSource
 * over all shards. Opening reads every shard's header and checks the index against it: a missing shard, or a tensor
 * that is not in the shard the index names, is a SafetensorsError. A folder holding both layouts is refused rather
 * than guessed at.
 */
import { access, readFile, stat } from "node:fs/promises"
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path"
import { SafetensorsError } from "../errors.ts"
import type { TensorData } from "./dtypes.ts"
import { type OpenOptions, openSafetensors, readAllOf, type SafetensorsFile, type TensorSource } from "./file.ts"
import { ioError } from "./io.ts"

export const singleFileName = "model.safetensors"
export const indexFileName = "model.safetensors.index.json"

/** `model-00002-of-00005.safetensors` for shard 2 of 5 (1-based). */
export const shardFileName = (shard: number, shards: number, prefix = "model"): string =>
  `${prefix}-${String(shard).padStart(5, "0")}-of-${String(shards).padStart(5, "0")}.safetensors`

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  )

/** Which file to open for a folder, a safetensors file or an index file. */
export const resolveCheckpoint = async (
  path: string,
): Promise<{ readonly kind: "single" | "index"; readonly file: string }> => {
  const info = await stat(path).catch((error: unknown) => {
    throw ioError(error, path, "looking up the checkpoint")
  })
  if (info.isFile()) return { kind: path.endsWith(".json") ? "index" : "single", file: path }
  const index = join(path, indexFileName)
  const single = join(path, singleFileName)
  const [hasIndex, hasSingle] = await Promise.all([exists(index), exists(single)])
  if (hasIndex && hasSingle) {
    throw new SafetensorsError({
      file: path,
      reason: `holds both ${singleFileName} and ${indexFileName}; remove the stale one`,
    })
  }
  if (hasIndex) return { kind: "index", file: index }
  if (hasSingle) return { kind: "single", file: single }
  throw new SafetensorsError({ file: path, reason: `no ${singleFileName} or ${indexFileName} in this folder` })
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Parses an index file into tensor -> shard path (shards resolved next to the index, never outside its folder). */
export const readWeightMap = async (indexPath: string): Promise<Map<string, string>> => {
  const text = await readFile(indexPath, "utf8").catch((error: unknown) => {
    throw ioError(error, indexPath, "reading the index")
  })
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new SafetensorsError({ file: indexPath, reason: `index is not valid JSON: ${(error as Error).message}` })
  }
  if (!isRecord(json) || !isRecord(json.weight_map)) {
    throw new SafetensorsError({ file: indexPath, reason: 'index has no "weight_map" object' })
  }
  const folder = dirname(indexPath)
  const map = new Map<string, string>()
  for (const [tensor, shard] of Object.entries(json.weight_map)) {
    const inside = typeof shard === "string" ? relative(folder, resolve(folder, shard)) : ""
    if (inside === "" || inside.split(sep)[0] === ".." || isAbsolute(inside)) {
      throw new SafetensorsError({
        file: indexPath,
        tensor,
        reason: `weight_map entry ${JSON.stringify(shard)} is not a file name inside the index's folder`,
      })
    }
    map.set(tensor, join(folder, inside))
  }
  return map
}

const closeAll = (files: Iterable<SafetensorsFile>) => Promise.all([...files].map((file) => file.close()))

const openShards = async (
  indexPath: string,
  weightMap: ReadonlyMap<string, string>,
  options: OpenOptions,
): Promise<Map<string, SafetensorsFile>> => {
  const shards = new Map<string, SafetensorsFile>()
  try {
    for (const [tensor, shardPath] of weightMap) {
      let shard = shards.get(shardPath)
      if (shard === undefined) {
        if (!(await exists(shardPath))) {
          throw new SafetensorsError({
            file: shardPath,
            tensor,
            reason: `shard named by ${indexFileName} is missing`,
          })
        }
        shard = await openSafetensors(shardPath, options)
        shards.set(shardPath, shard)
      }
      if (!shard.has(tensor)) {
        throw new SafetensorsError({
          file: shardPath,
          tensor,
          reason: `${indexPath} maps this tensor to this shard, but the shard does not hold it`,
        })
      }
    }
  } catch (error) {
    await closeAll(shards.values())
    throw error
  }
  return shards
}

const openSharded = async (indexPath: string, options: OpenOptions): Promise<TensorSource> => {
  const weightMap = await readWeightMap(indexPath)
  const shards = await openShards(indexPath, weightMap, options)
  const shardOf = (name: string): SafetensorsFile => {
    const shard = shards.get(weightMap.get(name) ?? "")
    if (shard === undefined)
      throw new SafetensorsError({ file: indexPath, tensor: name, reason: "no such tensor in the index" })
    return shard
  }
  const source: TensorSource = {
    path: indexPath,
    names: [...weightMap.keys()],
    metadata: shards.values().next().value?.metadata ?? {},
    has: (name) => weightMap.has(name),
    info: (name) => shardOf(name).info(name),
    read: async (name) => shardOf(name).read(name),
    readAll: () => readAllOf(source),
    close: async () => {
      await closeAll(shards.values())
    },
  }
  return source
}

/** Opens a checkpoint (folder, single file or index) lazily: headers only. Close it when done. */
export const openCheckpointTensors = async (path: string, options: OpenOptions = {}): Promise<TensorSource> => {
  const { kind, file } = await resolveCheckpoint(path)
  return kind === "index" ? openSharded(file, options) : openSafetensors(file, options)
}

/** Reads every tensor of a checkpoint (folder, single file or index; single or sharded). */
export const readCheckpointTensors = async (
  path: string,
  options: OpenOptions = {},
): Promise<Map<string, TensorData>> => {
  const source = await openCheckpointTensors(path, options)
  try {
    return await source.readAll()
  } finally {
    await source.close()
  }
}
