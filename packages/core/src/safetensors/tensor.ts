/**
 * TensorData <-> tf.Tensor.
 *
 *   F32, F16, BF16, F8_E4M3 -> float32      I32 -> int32      U8 -> int32      BOOL -> bool
 *   I64 -> int32 when every value fits in [-2^31, 2^31 - 1], else a SafetensorsError (the BigInt64Array in
 *          `data` keeps every value for callers that need them)
 */
import * as tf from "@tensorflow/tfjs"
import { SafetensorsError } from "../errors.ts"
import { int64Words } from "./codec.ts"
import type { TensorData } from "./dtypes.ts"

/** Where a record came from, for the error an out-of-range I64 value gives. */
export interface TensorOrigin {
  readonly file?: string
  readonly tensor?: string
}

const int64ToInt32 = (values: BigInt64Array, origin: TensorOrigin): Int32Array => {
  const words = new Int32Array(values.buffer, values.byteOffset, values.length * 2)
  const out = new Int32Array(values.length)
  for (let i = 0; i < values.length; i++) {
    const [low, high] = int64Words(words, i)
    if (high !== low >> 31) {
      const reason = `I64 element ${i} = ${values[i]} does not fit in int32; use the BigInt64Array in .data`
      throw new SafetensorsError({
        file: origin.file ?? "(in memory)",
        ...(origin.tensor === undefined ? {} : { tensor: origin.tensor }),
        reason,
      })
    }
    out[i] = low
  }
  return out
}

/** A tf.Tensor holding the record's values (the caller disposes it). */
export const toTensor = (record: TensorData, origin: TensorOrigin = {}): tf.Tensor => {
  const shape = [...record.shape]
  switch (record.dtype) {
    case "I32":
      return tf.tensor(record.data, shape, "int32")
    case "I64":
      return tf.tensor(int64ToInt32(record.data, origin), shape, "int32")
    case "U8":
      return tf.tensor(Int32Array.from(record.data), shape, "int32")
    case "BOOL":
      return tf.tensor(record.data, shape, "bool")
    default:
      return tf.tensor(record.data, shape, "float32")
  }
}

/** The host values of a tf.Tensor as a record (float32 -> F32, int32 -> I32, bool -> BOOL). */
export const tensorData = async (tensor: tf.Tensor): Promise<TensorData> => {
  const shape = [...tensor.shape]
  switch (tensor.dtype) {
    case "float32":
      return { dtype: "F32", shape, data: (await tensor.data()) as Float32Array }
    case "int32":
      return { dtype: "I32", shape, data: (await tensor.data()) as Int32Array }
    case "bool":
      return { dtype: "BOOL", shape, data: (await tensor.data()) as Uint8Array }
    default:
      throw new SafetensorsError({ file: "(in memory)", reason: `tf dtype ${tensor.dtype} has no safetensors dtype` })
  }
}
