/**
 * Whole-file writes that a crash cannot leave half done: write a temporary file beside the target, fsync it, then
 * rename it over the target (atomic within one file system on POSIX). A failed write removes the temporary file.
 */
import * as fs from "node:fs"
import * as path from "node:path"

export const writeFileAtomicSync = (target: string, data: string | Uint8Array): void => {
  const temporary = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`)
  try {
    const fd = fs.openSync(temporary, "w")
    try {
      fs.writeFileSync(fd, data)
      fs.fsyncSync(fd)
    } finally {
      fs.closeSync(fd)
    }
    fs.renameSync(temporary, target)
  } catch (error) {
    fs.rmSync(temporary, { force: true })
    throw error
  }
}
