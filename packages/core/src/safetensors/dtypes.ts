/**
 * Safetensors element types and their host typed arrays.
 *
 *   F32, I32, I64, U8     stored as-is (little-endian)         -> Float32Array, Int32Array, BigInt64Array, Uint8Array
 *   F16   IEEE binary16  (1.5.10, bias 15)                      -> Float32Array (exact: every half is a float32)
 *   BF16  upper 16 bits of a float32 (1.8.7)                    -> Float32Array (exact)
 *   F8_E4M3  E4M3FN (1.4.3, bias 7, no infinities, S.1111.111 = NaN, max 448), read only -> Float32Array (exact)
 *   BOOL  one byte, 0 or 1                                      -> Uint8Array
 *
 * A `TensorData` keeps the dtype the bytes were stored in, so reading an F16 file and writing the record back
 * gives F16 again. Narrowing on `dtype` gives the array type.
 */

export const safetensorsDtypes = ["F32", "F16", "BF16", "I32", "I64", "U8", "BOOL", "F8_E4M3"] as const
export type SafetensorsDtype = (typeof safetensorsDtypes)[number]

/** Every dtype except F8_E4M3, which is read only. */
export const writableDtypes = ["F32", "F16", "BF16", "I32", "I64", "U8", "BOOL"] as const
export type WritableDtype = (typeof writableDtypes)[number]

export type FloatDtype = "F32" | "F16" | "BF16" | "F8_E4M3"

/** Bytes per element. */
export const dtypeBytes: Readonly<Record<SafetensorsDtype, number>> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  I32: 4,
  I64: 8,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
}

export const isSafetensorsDtype = (value: unknown): value is SafetensorsDtype =>
  typeof value === "string" && (safetensorsDtypes as ReadonlyArray<string>).includes(value)

export const isWritableDtype = (value: unknown): value is WritableDtype =>
  typeof value === "string" && (writableDtypes as ReadonlyArray<string>).includes(value)

export const isFloatDtype = (dtype: SafetensorsDtype): dtype is FloatDtype =>
  dtype === "F32" || dtype === "F16" || dtype === "BF16" || dtype === "F8_E4M3"

/** One tensor on the host: the stored dtype, the shape (C order) and the decoded values. */
export type TensorData =
  | { readonly dtype: FloatDtype; readonly shape: ReadonlyArray<number>; readonly data: Float32Array }
  | { readonly dtype: "I32"; readonly shape: ReadonlyArray<number>; readonly data: Int32Array }
  | { readonly dtype: "I64"; readonly shape: ReadonlyArray<number>; readonly data: BigInt64Array }
  | { readonly dtype: "U8" | "BOOL"; readonly shape: ReadonlyArray<number>; readonly data: Uint8Array }

export type HostArray = TensorData["data"]

/** Number of elements of a shape (1 for a scalar). */
export const elementCount = (shape: ReadonlyArray<number>): number => shape.reduce((n, d) => n * d, 1)
