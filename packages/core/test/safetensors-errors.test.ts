/**
 * Bad safetensors files and indexes: each case gives a SafetensorsError naming the file and, where one is at fault,
 * the tensor. Lazy reads touch only the tensor asked for.
 */
import { mkdir, truncate, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { initBackend } from "../src/backend/backend.ts"
import { SafetensorsError } from "../src/errors.ts"
import { openCheckpointTensors, readCheckpointTensors } from "../src/safetensors/checkpoint.ts"
import { openSafetensors, readSafetensors } from "../src/safetensors/file.ts"
import { toTensor } from "../src/safetensors/tensor.ts"
import { writeSafetensors, writeShardedSafetensors } from "../src/safetensors/write.ts"
import {
  concat,
  f32,
  fileBytes,
  headerLength,
  i64,
  rejection,
  tempFolder,
  u8,
  writeBytes,
} from "./fixtures/safetensors/bytes.ts"

let folder: Awaited<ReturnType<typeof tempFolder>>
beforeAll(async () => {
  await initBackend("cpu")
  folder = await tempFolder()
})
afterAll(() => folder.remove())

const expectSafetensorsError = (error: unknown, file: string, tensor: string | undefined, reason: RegExp) => {
  expect(error).toBeInstanceOf(SafetensorsError)
  const e = error as SafetensorsError
  expect({ file: e.file, tensor: e.tensor }).toEqual({ file, tensor })
  expect(e.reason).toMatch(reason)
  expect(e.message).toContain(file)
  if (tensor !== undefined) expect(e.message).toContain(`"${tensor}"`)
}

const good = { dtype: "F32", shape: [2], data_offsets: [0, 8] }
const eightFloats = f32([1, 2, 3, 4, 5, 6, 7, 8])

interface BadFile {
  readonly law: string
  readonly bytes: Uint8Array
  readonly tensor?: string
  readonly reason: RegExp
}

const badFiles: ReadonlyArray<BadFile> = [
  { law: "a file shorter than 8 bytes", bytes: u8([1, 0, 0]), reason: /shorter than the 8-byte header length/ },
  {
    law: "a header length beyond the file",
    bytes: concat(headerLength(100n), u8([0x7b, 0x7d])),
    reason: /beyond the end/,
  },
  {
    law: "a garbage header length above the guard",
    bytes: concat(headerLength(2n ** 62n), u8([0x7b])),
    reason: /exceeds/,
  },
  { law: "a header that is not JSON", bytes: fileBytes("{not json"), reason: /not valid JSON/ },
  {
    law: "a header that is not UTF-8",
    bytes: fileBytes(String.fromCharCode(0x22)).map((b, i) => (i === 8 ? 0xff : b)),
    reason: /UTF-8/,
  },
  { law: "a header that is a JSON array", bytes: fileBytes([1, 2]), reason: /not an object/ },
  {
    law: "metadata that is not string -> string",
    bytes: fileBytes({ __metadata__: { n: 1 } }),
    reason: /not a string/,
  },
  { law: "an entry that is not an object", bytes: fileBytes({ w: 3 }), tensor: "w", reason: /not an object/ },
  {
    law: "an entry without dtype",
    bytes: fileBytes({ w: { shape: [2], data_offsets: [0, 8] } }, eightFloats),
    tensor: "w",
    reason: /no dtype/,
  },
  {
    law: "an entry without shape",
    bytes: fileBytes({ w: { dtype: "F32", data_offsets: [0, 8] } }, eightFloats),
    tensor: "w",
    reason: /no shape/,
  },
  {
    law: "an entry without data_offsets",
    bytes: fileBytes({ w: { dtype: "F32", shape: [2] } }, eightFloats),
    tensor: "w",
    reason: /no data_offsets/,
  },
  {
    law: "an unknown dtype",
    bytes: fileBytes({ ok: good, w: { dtype: "F64", shape: [1], data_offsets: [8, 16] } }, eightFloats),
    tensor: "w",
    reason: /unknown dtype "F64"/,
  },
  {
    law: "a negative shape",
    bytes: fileBytes({ w: { dtype: "F32", shape: [-2], data_offsets: [0, 8] } }, eightFloats),
    tensor: "w",
    reason: /shape\[0\] = -2/,
  },
  {
    law: "a non-integer shape",
    bytes: fileBytes({ w: { dtype: "F32", shape: [2, 1.5], data_offsets: [0, 12] } }, eightFloats),
    tensor: "w",
    reason: /shape\[1\] = 1.5/,
  },
  {
    law: "a byte length that does not match shape x dtype size",
    bytes: fileBytes({ w: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, eightFloats),
    tensor: "w",
    reason: /span 8 bytes but shape \[3\] of F32 needs 12/,
  },
  {
    law: "offsets that end before they begin",
    bytes: fileBytes({ w: { dtype: "F32", shape: [0], data_offsets: [8, 0] } }, eightFloats),
    tensor: "w",
    reason: /end before they begin/,
  },
  {
    law: "offsets out of range",
    bytes: fileBytes({ ok: good, w: { dtype: "F32", shape: [2], data_offsets: [4000, 4008] } }, eightFloats),
    tensor: "w",
    reason: /out of range/,
  },
  {
    law: "malformed offsets",
    bytes: fileBytes({ w: { dtype: "F32", shape: [2], data_offsets: [0] } }, eightFloats),
    tensor: "w",
    reason: /not \[begin, end\]/,
  },
  {
    law: "overlapping offsets",
    bytes: fileBytes(
      {
        a: { dtype: "F32", shape: [4], data_offsets: [0, 16] },
        b: { dtype: "F32", shape: [2], data_offsets: [12, 20] },
      },
      eightFloats,
    ),
    tensor: "b",
    reason: /overlap tensor "a"/,
  },
  {
    law: "truncated data",
    bytes: fileBytes({ ok: good, w: { dtype: "F32", shape: [8], data_offsets: [8, 40] } }, eightFloats),
    tensor: "w",
    reason: /truncated/,
  },
]

describe("bad files", () => {
  it.each(badFiles)(
    "$law gives a SafetensorsError naming the file and the tensor",
    async ({ law, bytes, tensor, reason }) => {
      const path = await writeBytes(join(folder.path, `${law.replaceAll(" ", "-")}.safetensors`), bytes)
      expectSafetensorsError(await rejection(openSafetensors(path)), path, tensor, reason)
      expectSafetensorsError(await rejection(readSafetensors(path)), path, tensor, reason)
    },
  )

  it("a missing file gives a SafetensorsError with the system's reason", async () => {
    const path = join(folder.path, "absent.safetensors")
    expectSafetensorsError(await rejection(readSafetensors(path)), path, undefined, /ENOENT/)
  })

  it("a header longer than the configured guard is refused before it is read", async () => {
    const path = await writeBytes(join(folder.path, "guard.safetensors"), fileBytes({ ok: good }, eightFloats))
    expectSafetensorsError(
      await rejection(openSafetensors(path, { maxHeaderBytes: 16 })),
      path,
      undefined,
      /16-byte limit/,
    )
  })

  it("asking an open file for a tensor it does not hold names that tensor", async () => {
    const path = await writeBytes(join(folder.path, "one.safetensors"), fileBytes({ ok: good }, eightFloats))
    const file = await openSafetensors(path)
    expectSafetensorsError(await rejection(file.read("missing")), path, "missing", /no such tensor/)
    await file.close()
    expectSafetensorsError(await rejection(file.read("ok")), path, "ok", /closed/)
  })

  it("an I64 value outside int32 gives a typed error when made a tf tensor, and stays exact in .data", async () => {
    const path = await writeBytes(
      join(folder.path, "big.safetensors"),
      fileBytes({ step: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, i64([1n, 2n ** 31n])),
    )
    const step = (await readSafetensors(path)).get("step")!
    expect([...step.data]).toEqual([1n, 2n ** 31n])
    expectSafetensorsError(
      await rejection(Promise.resolve().then(() => toTensor(step, { file: path, tensor: "step" }))),
      path,
      "step",
      /does not fit in int32/,
    )
  })
})

describe("lazy reads", () => {
  it("a corrupt tensor fails only when read: the other tensors of the file still read", async () => {
    const path = await writeBytes(
      join(folder.path, "corrupt-bool.safetensors"),
      fileBytes(
        { good, mask: { dtype: "BOOL", shape: [3], data_offsets: [8, 11] } },
        concat(f32([0.25, -4]), u8([1, 7, 0])),
      ),
    )
    const file = await openSafetensors(path)
    expect([...(await file.read("good")).data]).toEqual([0.25, -4])
    expectSafetensorsError(await rejection(file.read("mask")), path, "mask", /BOOL element 1 is byte 7/)
    await file.close()
    expectSafetensorsError(await rejection(readSafetensors(path)), path, "mask", /BOOL element 1/)
  })

  it("open reads only the header: cutting a later tensor off the open file spoils only that tensor", async () => {
    const path = await writeBytes(
      join(folder.path, "cut.safetensors"),
      fileBytes({ first: good, second: { dtype: "F32", shape: [6], data_offsets: [8, 32] } }, eightFloats),
    )
    const file = await openSafetensors(path)
    await truncate(path, file.dataStart + 16)
    expect([...(await file.read("first")).data]).toEqual([1, 2])
    expectSafetensorsError(await rejection(file.read("second")), path, "second", /truncated: read 8 of 24 bytes/)
    await file.close()
  })
})

describe("bad sharded checkpoints", () => {
  const shardedCheckpoint = async (name: string) => {
    const dir = join(folder.path, name)
    await writeShardedSafetensors(
      dir,
      {
        a: { dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) },
        b: { dtype: "F32", shape: [2], data: Float32Array.from([3, 4]) },
      },
      { maxShardBytes: 8 },
    )
    return dir
  }

  it("an index naming a missing shard names that shard and a tensor mapped to it", async () => {
    const dir = await shardedCheckpoint("missing-shard")
    const index = join(dir, "model.safetensors.index.json")
    await writeFile(
      index,
      JSON.stringify({ weight_map: { a: "model-00001-of-00002.safetensors", b: "gone.safetensors" } }),
    )
    expectSafetensorsError(await rejection(readCheckpointTensors(dir)), join(dir, "gone.safetensors"), "b", /missing/)
  })

  it("an index mapping a tensor to a shard that does not hold it names both", async () => {
    const dir = await shardedCheckpoint("wrong-shard")
    const index = join(dir, "model.safetensors.index.json")
    await writeFile(
      index,
      JSON.stringify({ weight_map: { a: "model-00002-of-00002.safetensors", b: "model-00002-of-00002.safetensors" } }),
    )
    expectSafetensorsError(
      await rejection(openCheckpointTensors(dir)),
      join(dir, "model-00002-of-00002.safetensors"),
      "a",
      /does not hold it/,
    )
  })

  it("an index that is not JSON, has no weight_map, or points outside its folder is refused", async () => {
    const dir = await shardedCheckpoint("bad-index")
    const index = join(dir, "model.safetensors.index.json")
    await writeFile(index, "{")
    expectSafetensorsError(await rejection(readCheckpointTensors(dir)), index, undefined, /not valid JSON/)
    await writeFile(index, JSON.stringify({ metadata: {} }))
    expectSafetensorsError(await rejection(readCheckpointTensors(index)), index, undefined, /weight_map/)
    await writeFile(index, JSON.stringify({ weight_map: { a: "../model.safetensors" } }))
    expectSafetensorsError(await rejection(readCheckpointTensors(dir)), index, "a", /inside the index's folder/)
  })

  it("a folder with both a single file and an index, or with neither, is refused", async () => {
    const dir = await shardedCheckpoint("both-layouts")
    await writeSafetensors(join(dir, "model.safetensors"), { a: { dtype: "U8", shape: [1], data: u8([1]) } })
    expectSafetensorsError(await rejection(readCheckpointTensors(dir)), dir, undefined, /both/)
    const empty = join(folder.path, "empty")
    await mkdir(empty)
    expectSafetensorsError(await rejection(readCheckpointTensors(empty)), empty, undefined, /no model.safetensors/)
  })
})
