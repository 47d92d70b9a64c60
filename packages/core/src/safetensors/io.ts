/**
 * File I/O for safetensors: positioned reads and writes that loop over short transfers and over the 2 GiB limit of
 * a single call, atomic file replacement (temp file in the same folder + fsync + rename), and the mapping of
 * system errors to SafetensorsError.
 */
import { randomBytes } from "node:crypto"
import { type FileHandle, open, rename, rm } from "node:fs/promises"
import { basename, dirname, join } from "node:path"
import { SafetensorsError } from "../errors.ts"

/** Largest transfer of one read or write call (Node rejects more than 2 GiB - 1). */
const maxChunk = 1 << 30

/** Wraps a system error (or passes a SafetensorsError through) with the file, the tensor and what was being done. */
export const ioError = (error: unknown, file: string, action: string, tensor?: string): SafetensorsError => {
  if (error instanceof SafetensorsError) return error
  const code = (error as { code?: unknown }).code
  const message = error instanceof Error ? error.message : String(error)
  const reason = `${action} failed: ${typeof code === "string" && !message.includes(code) ? `${code}: ` : ""}${message}`
  return tensor === undefined ? new SafetensorsError({ file, reason }) : new SafetensorsError({ file, tensor, reason })
}

/** Reads `target.byteLength` bytes at `position`; returns how many were available (less only at end of file). */
export const readAt = async (handle: FileHandle, target: Uint8Array, position: number): Promise<number> => {
  let done = 0
  while (done < target.byteLength) {
    const length = Math.min(maxChunk, target.byteLength - done)
    const { bytesRead } = await handle.read(target, done, length, position + done)
    if (bytesRead === 0) break
    done += bytesRead
  }
  return done
}

/** Writes all of `bytes` at `position`. */
export const writeAt = async (handle: FileHandle, bytes: Uint8Array, position: number): Promise<void> => {
  let done = 0
  while (done < bytes.byteLength) {
    const length = Math.min(maxChunk, bytes.byteLength - done)
    const { bytesWritten } = await handle.write(bytes, done, length, position + done)
    done += bytesWritten
  }
}

/** Flushes a folder's entry table so a rename survives a crash; a no-op where folders cannot be opened. */
const syncFolder = async (folder: string): Promise<void> => {
  const handle = await open(folder, "r").catch(() => undefined)
  if (handle === undefined) return
  await handle.sync().catch(() => undefined)
  await handle.close()
}

/**
 * Creates `target` atomically: `write` fills a fresh temp file in the same folder, which is fsynced and renamed
 * over `target`. On any failure the temp file is removed, `target` is left as it was, and the error is rethrown
 * as a SafetensorsError naming `target`.
 */
export const writeFileAtomic = async (target: string, write: (handle: FileHandle) => Promise<void>): Promise<void> => {
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`)
  let handle: FileHandle | undefined
  try {
    handle = await open(temp, "wx", 0o644)
    await write(handle)
    await handle.sync()
    await handle.close()
    handle = undefined
    await rename(temp, target)
  } catch (error) {
    await handle?.close().catch(() => undefined)
    await rm(temp, { force: true }).catch(() => undefined)
    throw ioError(error, target, "writing")
  }
  await syncFolder(dirname(target))
}
