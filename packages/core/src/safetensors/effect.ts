/**
 * The safetensors functions as Effects failing with SafetensorsError, for orchestration code. `open` is scoped:
 * the file handles close when the scope closes.
 */
import { Effect, type Scope } from "effect"
import { SafetensorsError } from "../errors.ts"
import { openCheckpointTensors, readCheckpointTensors } from "./checkpoint.ts"
import type { TensorData } from "./dtypes.ts"
import { type OpenOptions, readSafetensors, type TensorSource } from "./file.ts"
import {
  type ShardedWriteOptions,
  type ShardedWriteResult,
  type TensorEntries,
  type WriteOptions,
  writeSafetensors,
  writeShardedSafetensors,
} from "./write.ts"

const asSafetensorsError =
  (file: string) =>
  (error: unknown): SafetensorsError =>
    error instanceof SafetensorsError ? error : new SafetensorsError({ file, reason: String(error) })

const attempt = <A>(file: string, run: () => Promise<A>): Effect.Effect<A, SafetensorsError> =>
  Effect.tryPromise({ try: run, catch: asSafetensorsError(file) })

export const Safetensors = {
  /** Every tensor of one safetensors file. */
  read: (path: string, options: OpenOptions = {}): Effect.Effect<Map<string, TensorData>, SafetensorsError> =>
    attempt(path, () => readSafetensors(path, options)),

  /** Every tensor of a checkpoint: a folder, a single file or an index (sharded). */
  readCheckpoint: (path: string, options: OpenOptions = {}): Effect.Effect<Map<string, TensorData>, SafetensorsError> =>
    attempt(path, () => readCheckpointTensors(path, options)),

  /** A lazy source over a checkpoint (headers read now, tensors on demand), closed with the scope. */
  open: (path: string, options: OpenOptions = {}): Effect.Effect<TensorSource, SafetensorsError, Scope.Scope> =>
    Effect.acquireRelease(
      attempt(path, () => openCheckpointTensors(path, options)),
      // Closing can fail (the handle went away); the data was read already, so say so and go on.
      (source) =>
        attempt(path, () => source.close()).pipe(
          Effect.catch((error) => Effect.logWarning(`closing ${path} failed: ${error.message}`)),
        ),
    ),

  /** One tensor of an open source. */
  readTensor: (source: TensorSource, name: string): Effect.Effect<TensorData, SafetensorsError> =>
    attempt(source.path, () => source.read(name)),

  write: (path: string, tensors: TensorEntries, options: WriteOptions = {}): Effect.Effect<void, SafetensorsError> =>
    attempt(path, () => writeSafetensors(path, tensors, options)),

  writeSharded: (
    folder: string,
    tensors: TensorEntries,
    options: ShardedWriteOptions = {},
  ): Effect.Effect<ShardedWriteResult, SafetensorsError> =>
    attempt(folder, () => writeShardedSafetensors(folder, tensors, options)),
}
