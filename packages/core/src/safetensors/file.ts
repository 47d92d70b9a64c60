/**
 * Lazy reading of one safetensors file: `openSafetensors` reads and validates only the header (8-byte length, then
 * the JSON); each `read(name)` then reads that tensor's bytes with a positioned read on the open file handle, so a
 * large checkpoint is never loaded whole. `readSafetensors` reads every tensor of a file.
 */
import { type FileHandle, open } from "node:fs/promises"
import { SafetensorsError } from "../errors.ts"
import { decodeTensor } from "./codec.ts"
import type { TensorData } from "./dtypes.ts"
import { defaultMaxHeaderBytes, parseHeader, parseHeaderLength, type TensorInfo } from "./header.ts"
import { ioError, readAt } from "./io.ts"

/** Tensors that can be listed, described and read one at a time (a file or a sharded set). */
export interface TensorSource {
  /** The file, index or folder that was opened. */
  readonly path: string
  /** Tensor names in header (or index) order. */
  readonly names: ReadonlyArray<string>
  /** The `__metadata__` of the file (of the first shard, for a sharded set). */
  readonly metadata: Readonly<Record<string, string>>
  readonly has: (name: string) => boolean
  /** dtype, shape and location; throws SafetensorsError for an unknown name. */
  readonly info: (name: string) => TensorInfo
  /** Reads and decodes one tensor (only its bytes). */
  readonly read: (name: string) => Promise<TensorData>
  /** Reads every tensor, in `names` order. */
  readonly readAll: () => Promise<Map<string, TensorData>>
  readonly close: () => Promise<void>
}

export interface SafetensorsFile extends TensorSource {
  /** Byte position where the data section starts (8 + header length). */
  readonly dataStart: number
}

export interface OpenOptions {
  /** Guard against garbage: a header length above this is an error. Default 100 MB (as the reference library). */
  readonly maxHeaderBytes?: number
}

const readHeader = async (handle: FileHandle, path: string, maxHeaderBytes: number) => {
  const { size } = await handle.stat()
  const prefix = new Uint8Array(8)
  await readAt(handle, prefix, 0)
  const length = parseHeaderLength(prefix, size, path, maxHeaderBytes)
  const json = new Uint8Array(length)
  if ((await readAt(handle, json, 8)) < length) {
    throw new SafetensorsError({ file: path, reason: "file shrank while its header was read" })
  }
  return parseHeader(json, size, path)
}

/** Reads every tensor of a source, in `names` order. */
export const readAllOf = async (source: Pick<TensorSource, "names" | "read">): Promise<Map<string, TensorData>> => {
  const out = new Map<string, TensorData>()
  for (const name of source.names) out.set(name, await source.read(name))
  return out
}

/** Opens a safetensors file, reading and validating only its header. Close it when done. */
export const openSafetensors = async (path: string, options: OpenOptions = {}): Promise<SafetensorsFile> => {
  const handle = await open(path, "r").catch((error: unknown) => {
    throw ioError(error, path, "opening")
  })
  let header: Awaited<ReturnType<typeof readHeader>>
  try {
    header = await readHeader(handle, path, options.maxHeaderBytes ?? defaultMaxHeaderBytes)
  } catch (error) {
    await handle.close()
    throw ioError(error, path, "reading the header")
  }
  let closed = false
  const info = (name: string): TensorInfo => {
    const found = header.tensors.get(name)
    if (found === undefined)
      throw new SafetensorsError({ file: path, tensor: name, reason: "no such tensor in the file" })
    return found
  }
  const read = async (name: string): Promise<TensorData> => {
    const tensor = info(name)
    if (closed) throw new SafetensorsError({ file: path, tensor: name, reason: "the file was closed" })
    const bytes = new Uint8Array(tensor.byteLength)
    const got = await readAt(handle, bytes, tensor.fileOffset).catch((error: unknown) => {
      throw ioError(error, path, "reading", name)
    })
    if (got < tensor.byteLength) {
      throw new SafetensorsError({
        file: path,
        tensor: name,
        reason: `data truncated: read ${got} of ${tensor.byteLength} bytes at byte ${tensor.fileOffset}`,
      })
    }
    return decodeTensor(tensor.dtype, tensor.shape, bytes, { file: path, tensor: name })
  }
  const names = [...header.tensors.keys()]
  const file: SafetensorsFile = {
    path,
    names,
    metadata: header.metadata,
    dataStart: header.dataStart,
    has: (name) => header.tensors.has(name),
    info,
    read,
    readAll: () => readAllOf(file),
    close: async () => {
      if (closed) return
      closed = true
      await handle.close()
    },
  }
  return file
}

/** Reads every tensor of one safetensors file. */
export const readSafetensors = async (path: string, options: OpenOptions = {}): Promise<Map<string, TensorData>> => {
  const file = await openSafetensors(path, options)
  try {
    return await file.readAll()
  } finally {
    await file.close()
  }
}
