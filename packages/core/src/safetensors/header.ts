/**
 * The safetensors header: parse and validate, or build.
 *
 *   file = u64 little-endian N | N bytes of UTF-8 JSON | data
 *   JSON = { "__metadata__"?: {string: string}, name: { dtype, shape: [int >= 0], data_offsets: [begin, end] } }
 *
 * Offsets are relative to the start of the data (byte 8 + N). Validation (each failure a SafetensorsError naming the
 * file and the tensor): N within the file and under a size guard, valid UTF-8 JSON object, every field present and
 * well typed, a known dtype, end - begin = prod(shape) x dtype size, offsets inside the data, no two tensors
 * overlapping. Gaps between tensors are allowed. Writers pad the JSON with spaces so the data starts at a multiple
 * of 8, as the reference library does.
 */
import { SafetensorsError } from "../errors.ts"
import { dtypeBytes, elementCount, isSafetensorsDtype, type SafetensorsDtype, safetensorsDtypes } from "./dtypes.ts"

/** Where a tensor lives and what it holds. */
export interface TensorInfo {
  /** The safetensors file holding the tensor. */
  readonly file: string
  readonly dtype: SafetensorsDtype
  readonly shape: ReadonlyArray<number>
  /** [begin, end) in bytes, relative to the start of the data section. */
  readonly dataOffsets: readonly [number, number]
  /** Absolute byte position of the first element in the file. */
  readonly fileOffset: number
  readonly byteLength: number
}

export interface SafetensorsHeader {
  /** Byte position where the data section starts (8 + header length). */
  readonly dataStart: number
  readonly metadata: Readonly<Record<string, string>>
  /** Tensors in header order. */
  readonly tensors: ReadonlyMap<string, TensorInfo>
}

/** Default guard on the header length (the reference library's limit). */
export const defaultMaxHeaderBytes = 100_000_000

export const metadataKey = "__metadata__"

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

/** Validates the 8-byte prefix against the file size; returns the header length N. */
export const parseHeaderLength = (
  prefix: Uint8Array,
  fileSize: number,
  file: string,
  maxHeaderBytes: number,
): number => {
  if (fileSize < 8) {
    throw new SafetensorsError({ file, reason: `file is ${fileSize} bytes, shorter than the 8-byte header length` })
  }
  const length = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true)
  if (length > BigInt(maxHeaderBytes)) {
    throw new SafetensorsError({
      file,
      reason: `header length ${length} exceeds the ${maxHeaderBytes}-byte limit (not a safetensors file?)`,
    })
  }
  if (length > BigInt(fileSize - 8)) {
    throw new SafetensorsError({
      file,
      reason: `header length ${length} reaches beyond the end of the file (${fileSize} bytes)`,
    })
  }
  return Number(length)
}

const parseJson = (bytes: Uint8Array, file: string): Record<string, unknown> => {
  let text: string
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes)
  } catch {
    throw new SafetensorsError({ file, reason: "header is not valid UTF-8" })
  }
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch (error) {
    throw new SafetensorsError({ file, reason: `header is not valid JSON: ${(error as Error).message}` })
  }
  if (!isRecord(json)) throw new SafetensorsError({ file, reason: "header JSON is not an object" })
  return json
}

const parseMetadata = (value: unknown, file: string): Record<string, string> => {
  if (value === undefined) return {}
  if (!isRecord(value)) throw new SafetensorsError({ file, reason: `${metadataKey} is not an object` })
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== "string") {
      throw new SafetensorsError({
        file,
        reason: `${metadataKey}["${key}"] is not a string (metadata is string -> string)`,
      })
    }
  }
  return value as Record<string, string>
}

const isNonNegativeInteger = (x: unknown): x is number => typeof x === "number" && Number.isSafeInteger(x) && x >= 0

const parseEntry = (name: string, value: unknown, file: string, dataStart: number, dataLength: number): TensorInfo => {
  const bad = (reason: string) => new SafetensorsError({ file, tensor: name, reason })
  if (!isRecord(value)) throw bad("header entry is not an object")
  const { dtype, shape, data_offsets: offsets } = value
  if (dtype === undefined) throw bad("header entry has no dtype")
  if (!isSafetensorsDtype(dtype)) {
    throw bad(`unknown dtype ${JSON.stringify(dtype)} (readable: ${safetensorsDtypes.join(", ")})`)
  }
  if (shape === undefined) throw bad("header entry has no shape")
  if (!Array.isArray(shape)) throw bad(`shape ${JSON.stringify(shape)} is not an array`)
  shape.forEach((d, i) => {
    if (!isNonNegativeInteger(d)) throw bad(`shape[${i}] = ${JSON.stringify(d)} is not a non-negative integer`)
  })
  if (offsets === undefined) throw bad("header entry has no data_offsets")
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
    throw bad(`data_offsets ${JSON.stringify(offsets)} is not [begin, end] with non-negative integers`)
  }
  const [begin, end] = offsets as [number, number]
  if (begin > end) throw bad(`data_offsets [${begin}, ${end}] end before they begin`)
  const count = elementCount(shape as Array<number>)
  const expected = count * dtypeBytes[dtype]
  if (!Number.isSafeInteger(expected)) throw bad(`shape [${shape.join(", ")}] is too large`)
  if (end - begin !== expected) {
    throw bad(
      `data_offsets [${begin}, ${end}] span ${end - begin} bytes but shape [${shape.join(", ")}] of ${dtype} needs ${expected}`,
    )
  }
  if (end > dataLength) {
    throw bad(
      `data truncated or offsets out of range: the tensor ends at data byte ${end} but the file holds ${dataLength} data bytes`,
    )
  }
  return {
    file,
    dtype,
    shape: shape as Array<number>,
    dataOffsets: [begin, end],
    fileOffset: dataStart + begin,
    byteLength: expected,
  }
}

const checkNoOverlap = (tensors: ReadonlyMap<string, TensorInfo>, file: string): void => {
  const byStart = [...tensors]
    .filter(([, t]) => t.byteLength > 0)
    .sort(([, a], [, b]) => a.dataOffsets[0] - b.dataOffsets[0])
  for (let i = 1; i < byStart.length; i++) {
    const [previousName, previous] = byStart[i - 1]!
    const [name, current] = byStart[i]!
    if (current.dataOffsets[0] < previous.dataOffsets[1]) {
      throw new SafetensorsError({
        file,
        tensor: name,
        reason: `data_offsets [${current.dataOffsets.join(", ")}] overlap tensor "${previousName}" [${previous.dataOffsets.join(", ")}]`,
      })
    }
  }
}

/** Parses and validates the header JSON bytes of a file of `fileSize` bytes. */
export const parseHeader = (json: Uint8Array, fileSize: number, file: string): SafetensorsHeader => {
  const dataStart = 8 + json.byteLength
  const dataLength = fileSize - dataStart
  const record = parseJson(json, file)
  const metadata = parseMetadata(record[metadataKey], file)
  const tensors = new Map<string, TensorInfo>()
  for (const [name, value] of Object.entries(record)) {
    if (name !== metadataKey) tensors.set(name, parseEntry(name, value, file, dataStart, dataLength))
  }
  checkNoOverlap(tensors, file)
  return { dataStart, metadata, tensors }
}

/** One tensor as the writer lays it out. */
export interface HeaderEntry {
  readonly name: string
  readonly dtype: SafetensorsDtype
  readonly shape: ReadonlyArray<number>
  readonly byteLength: number
}

/**
 * Builds the 8-byte length prefix and the space-padded JSON for tensors stored back to back in the given order.
 * Returns the bytes before the data and each tensor's data offset.
 */
export const buildHeader = (
  entries: ReadonlyArray<HeaderEntry>,
  metadata: Readonly<Record<string, string>> | undefined,
): { readonly prefix: Uint8Array; readonly offsets: ReadonlyArray<number> } => {
  const fields: Array<[string, unknown]> = []
  if (metadata !== undefined && Object.keys(metadata).length > 0) fields.push([metadataKey, metadata])
  const offsets: Array<number> = []
  let offset = 0
  for (const entry of entries) {
    fields.push([
      entry.name,
      { dtype: entry.dtype, shape: entry.shape, data_offsets: [offset, offset + entry.byteLength] },
    ])
    offsets.push(offset)
    offset += entry.byteLength
  }
  // fromEntries defines own properties, so even a tensor named "__proto__" is written as a key.
  const text = new TextEncoder().encode(JSON.stringify(Object.fromEntries(fields)))
  const padded = Math.ceil(text.byteLength / 8) * 8
  const prefix = new Uint8Array(8 + padded).fill(0x20)
  new DataView(prefix.buffer).setBigUint64(0, BigInt(padded), true)
  prefix.set(text, 8)
  return { prefix, offsets }
}
