/**
 * Bytes <-> host typed arrays for every safetensors dtype, over whole buffers (typed-array views, lookup tables,
 * bit operations; no per-element allocation).
 *
 *   decode  F16 -> f32: 65536-entry table          BF16 -> f32: bits << 16          F8_E4M3 -> f32: 256-entry table
 *   encode  f32 -> F16: round to nearest even, overflow -> ±Inf, NaN kept     f32 -> BF16: round to nearest even
 *   integer targets (I32, I64, U8) accept only integers in range; BOOL accepts only 0 and 1 (a typed error otherwise).
 *
 * Files are little-endian; on a big-endian host the bytes are swapped once at the I/O boundary.
 */
import { SafetensorsError } from "../errors.ts"
import { dtypeBytes, type HostArray, type SafetensorsDtype, type TensorData, type WritableDtype } from "./dtypes.ts"

/** Where a value came from, for error messages. */
export interface Origin {
  readonly file: string
  readonly tensor: string
}

const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

const fail = (origin: Origin, reason: string): SafetensorsError =>
  new SafetensorsError({ file: origin.file, tensor: origin.tensor, reason })

/** Reverses every `size`-byte element in place (little-endian file <-> big-endian host). */
const swapBytes = (bytes: Uint8Array, size: number): void => {
  if (size === 1) return
  for (let i = 0; i < bytes.length; i += size) bytes.subarray(i, i + size).reverse()
}

/** `bytes` with its byte offset aligned to `size` (a copy only when it is not). */
const aligned = (bytes: Uint8Array, size: number): Uint8Array => (bytes.byteOffset % size === 0 ? bytes : bytes.slice())

let f16Table: Float32Array | undefined
const halfToFloat = (): Float32Array => {
  if (f16Table !== undefined) return f16Table
  const table = new Float32Array(65536)
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1
    const exponent = (h >> 10) & 0x1f
    const mantissa = h & 0x3ff
    table[h] =
      exponent === 0
        ? sign * mantissa * 2 ** -24
        : exponent === 31
          ? mantissa === 0
            ? sign * Number.POSITIVE_INFINITY
            : Number.NaN
          : sign * (1 + mantissa / 1024) * 2 ** (exponent - 15)
  }
  f16Table = table
  return table
}

let f8Table: Float32Array | undefined
const e4m3ToFloat = (): Float32Array => {
  if (f8Table !== undefined) return f8Table
  const table = new Float32Array(256)
  for (let b = 0; b < 256; b++) {
    const sign = b & 0x80 ? -1 : 1
    const exponent = (b >> 3) & 0xf
    const mantissa = b & 0x7
    table[b] =
      exponent === 15 && mantissa === 7
        ? Number.NaN
        : exponent === 0
          ? sign * mantissa * 2 ** -9
          : sign * (1 + mantissa / 8) * 2 ** (exponent - 7)
  }
  f8Table = table
  return table
}

const lookup = (codes: Uint8Array | Uint16Array, table: Float32Array): Float32Array => {
  const out = new Float32Array(codes.length)
  for (let i = 0; i < codes.length; i++) out[i] = table[codes[i]!]!
  return out
}

const bf16ToFloat = (codes: Uint16Array): Float32Array => {
  const bits = new Uint32Array(codes.length)
  for (let i = 0; i < codes.length; i++) bits[i] = codes[i]! << 16
  return new Float32Array(bits.buffer)
}

const checkBool = (bytes: Uint8Array, origin: Origin): Uint8Array => {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i]! > 1) throw fail(origin, `BOOL element ${i} is byte ${bytes[i]}, not 0 or 1`)
  }
  return bytes
}

/**
 * Decodes little-endian file bytes of `count` elements. `bytes` may be adopted (viewed, swapped in place): pass a
 * buffer the caller no longer needs.
 */
export const decodeTensor = (
  dtype: SafetensorsDtype,
  shape: ReadonlyArray<number>,
  bytes: Uint8Array,
  origin: Origin,
): TensorData => {
  const size = dtypeBytes[dtype]
  const own = aligned(bytes, size)
  if (!hostIsLittleEndian) swapBytes(own, size)
  const count = own.byteLength / size
  const view = <T>(ArrayType: new (buffer: ArrayBufferLike, offset: number, length: number) => T): T =>
    new ArrayType(own.buffer, own.byteOffset, count)
  switch (dtype) {
    case "F32":
      return { dtype, shape, data: view(Float32Array) }
    case "F16":
      return { dtype, shape, data: lookup(view(Uint16Array), halfToFloat()) }
    case "BF16":
      return { dtype, shape, data: bf16ToFloat(view(Uint16Array)) }
    case "F8_E4M3":
      return { dtype, shape, data: lookup(own, e4m3ToFloat()) }
    case "I32":
      return { dtype, shape, data: view(Int32Array) }
    case "I64":
      return { dtype, shape, data: view(BigInt64Array) }
    case "U8":
      return { dtype, shape, data: own }
    case "BOOL":
      return { dtype, shape, data: checkBool(own, origin) }
  }
}

/** float32 -> binary16 bits, round to nearest even; overflow gives ±Inf, NaN stays NaN. */
const floatToHalfBits = (floatBits: number): number => {
  const sign = (floatBits >>> 16) & 0x8000
  const exponent = (floatBits >>> 23) & 0xff
  const mantissa = floatBits & 0x7fffff
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa === 0 ? 0 : 0x200 | (mantissa >>> 13))
  const halfExponent = exponent - 127 + 15
  if (halfExponent >= 31) return sign | 0x7c00
  if (halfExponent <= 0) {
    if (halfExponent < -10) return sign
    const full = mantissa | 0x800000
    const shift = 14 - halfExponent
    const half = full >>> shift
    const rest = full & ((1 << shift) - 1)
    const halfway = 1 << (shift - 1)
    return sign | (half + (rest > halfway || (rest === halfway && (half & 1) === 1) ? 1 : 0))
  }
  const half = (halfExponent << 10) | (mantissa >>> 13)
  const rest = mantissa & 0x1fff
  // A carry out of the mantissa correctly bumps the exponent (up to Inf).
  return sign | (half + (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1) ? 1 : 0))
}

/** float32 -> bfloat16 bits, round to nearest even; NaN stays a (quiet) NaN. */
const floatToBf16Bits = (floatBits: number): number => {
  if ((floatBits & 0x7fffffff) > 0x7f800000) return ((floatBits >>> 16) | 0x40) & 0xffff
  return ((floatBits + 0x7fff + ((floatBits >>> 16) & 1)) >>> 16) & 0xffff
}

const asFloat32 = (values: HostArray): Float32Array => {
  if (values instanceof Float32Array) return values
  if (values instanceof BigInt64Array) {
    const out = new Float32Array(values.length)
    for (let i = 0; i < values.length; i++) out[i] = Number(values[i]!)
    return out
  }
  return Float32Array.from(values)
}

const mapBits = (floats: Float32Array, convert: (bits: number) => number): Uint16Array => {
  const bits = new Uint32Array(floats.buffer, floats.byteOffset, floats.length)
  const out = new Uint16Array(floats.length)
  for (let i = 0; i < bits.length; i++) out[i] = convert(bits[i]!)
  return out
}

/** Integers of `values` checked to lie in [lo, hi], written into `out`. */
const checkedIntegers = <T extends Int32Array | Uint8Array>(
  values: Float32Array | Int32Array | Uint8Array,
  out: T,
  lo: number,
  hi: number,
  target: string,
  origin: Origin,
): T => {
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!
    if (!Number.isInteger(x) || x < lo || x > hi) {
      throw fail(origin, `element ${i} = ${x} cannot be stored as ${target} (integers ${lo}..${hi})`)
    }
    out[i] = x
  }
  return out
}

const bigintsInRange = (
  values: BigInt64Array,
  lo: number,
  hi: number,
  target: string,
  origin: Origin,
): Float64Array => {
  const out = new Float64Array(values.length)
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!
    if (x < BigInt(lo) || x > BigInt(hi)) throw fail(origin, `element ${i} = ${x} cannot be stored as ${target}`)
    out[i] = Number(x)
  }
  return out
}

const toInt32 = (values: HostArray, origin: Origin): Int32Array => {
  if (values instanceof Int32Array) return values
  if (values instanceof BigInt64Array)
    return Int32Array.from(bigintsInRange(values, -(2 ** 31), 2 ** 31 - 1, "I32", origin))
  return checkedIntegers(values, new Int32Array(values.length), -(2 ** 31), 2 ** 31 - 1, "I32", origin)
}

const toUint8 = (values: HostArray, hi: number, target: string, origin: Origin): Uint8Array => {
  if (values instanceof Uint8Array && hi === 255) return values
  if (values instanceof BigInt64Array) return Uint8Array.from(bigintsInRange(values, 0, hi, target, origin))
  return checkedIntegers(values, new Uint8Array(values.length), 0, hi, target, origin)
}

/** Sign-extends int32 / checks safe integers into int64 words (low word first on a little-endian host). */
const toBigInt64 = (values: HostArray, origin: Origin): BigInt64Array => {
  if (values instanceof BigInt64Array) return values
  const out = new BigInt64Array(values.length)
  const words = new Int32Array(out.buffer)
  const [low, high] = hostIsLittleEndian ? [0, 1] : [1, 0]
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!
    if (!Number.isSafeInteger(x)) throw fail(origin, `element ${i} = ${x} cannot be stored as I64 (not a safe integer)`)
    const hi = Math.floor(x / 2 ** 32)
    words[2 * i + low] = x - hi * 2 ** 32
    words[2 * i + high] = hi
  }
  return out
}

const encodeHost = (dtype: WritableDtype, values: HostArray, origin: Origin): HostArray | Uint16Array => {
  switch (dtype) {
    case "F32":
      return asFloat32(values)
    case "F16":
      return mapBits(asFloat32(values), floatToHalfBits)
    case "BF16":
      return mapBits(asFloat32(values), floatToBf16Bits)
    case "I32":
      return toInt32(values, origin)
    case "I64":
      return toBigInt64(values, origin)
    case "U8":
      return toUint8(values, 255, "U8", origin)
    case "BOOL":
      return toUint8(values, 1, "BOOL", origin)
  }
}

/**
 * Encodes host values as little-endian `dtype` bytes. The result may be a view of `values` (no copy) when no
 * conversion is needed; treat it as read only.
 */
export const encodeTensor = (dtype: WritableDtype, values: HostArray, origin: Origin): Uint8Array => {
  const host = encodeHost(dtype, values, origin)
  const bytes = new Uint8Array(host.buffer, host.byteOffset, host.byteLength)
  if (hostIsLittleEndian) return bytes
  const copy = bytes.slice()
  swapBytes(copy, dtypeBytes[dtype])
  return copy
}

/** Low and high int32 words of element i of a host-order BigInt64Array viewed as Int32Array. */
export const int64Words = (words: Int32Array, i: number): readonly [number, number] =>
  hostIsLittleEndian ? [words[2 * i]!, words[2 * i + 1]!] : [words[2 * i + 1]!, words[2 * i]!]
