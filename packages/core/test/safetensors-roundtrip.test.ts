/**
 * Safetensors writes: round trips for every writable dtype, tf tensors in and out, sharded checkpoints, atomic
 * replacement on failure, and the Effect wrappers.
 */
import { mkdir, readdir, readFile, stat } from "node:fs/promises"
import { join } from "node:path"
import { expect, it } from "@effect/vitest"
import * as tf from "@tensorflow/tfjs"
import { Effect, Exit } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe } from "vitest"
import { initBackend } from "../src/backend/backend.ts"
import { SafetensorsError } from "../src/errors.ts"
import { openCheckpointTensors, readCheckpointTensors } from "../src/safetensors/checkpoint.ts"
import type { TensorData } from "../src/safetensors/dtypes.ts"
import { Safetensors } from "../src/safetensors/effect.ts"
import { openSafetensors, readSafetensors } from "../src/safetensors/file.ts"
import { tensorData, toTensor } from "../src/safetensors/tensor.ts"
import { writeSafetensors, writeShardedSafetensors } from "../src/safetensors/write.ts"
import { fileBytes, i64, rejection, tempFolder, u8, writeBytes } from "./fixtures/safetensors/bytes.ts"

let folder: Awaited<ReturnType<typeof tempFolder>>
let fileCount = 0
const freshPath = () => join(folder.path, `t${fileCount++}.safetensors`)
beforeAll(async () => {
  await initBackend("cpu")
  folder = await tempFolder()
})
afterAll(() => folder.remove())

const roundTrip = async (tensors: Record<string, TensorData | tf.Tensor>, options = {}) => {
  const path = freshPath()
  await writeSafetensors(path, tensors, options)
  return readSafetensors(path)
}

/** Bit patterns of float32 values, so NaN and -0 compare exactly. */
const bits = (values: Float32Array) => [...new Uint32Array(Float32Array.from(values).buffer)]

const shapeFor = (length: number) => (length % 2 === 0 && length > 0 ? [2, length / 2] : [length])

describe("round trips", () => {
  it("F32 and I32 tensors, names and metadata come back exactly (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.string({ unit: "grapheme", maxLength: 12 }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.float32Array({ maxLength: 40 }), { minLength: 4, maxLength: 4 }),
        fc.array(fc.int32Array({ maxLength: 40 }), { minLength: 4, maxLength: 4 }),
        fc.dictionary(fc.string(), fc.string(), { maxKeys: 3 }),
        async (names, floats, ints, metadata) => {
          const usable = names.filter((name) => name !== "__metadata__")
          const written = new Map<string, TensorData>(
            usable.map((name, i) =>
              i % 2 === 0
                ? [name, { dtype: "F32", shape: shapeFor(floats[i]!.length), data: floats[i]! }]
                : [name, { dtype: "I32", shape: shapeFor(ints[i]!.length), data: ints[i]! }],
            ),
          )
          const path = freshPath()
          await writeSafetensors(path, written, { metadata })
          const file = await openSafetensors(path)
          expect(file.metadata).toEqual(metadata)
          expect(new Set(file.names)).toEqual(new Set(usable))
          for (const [name, tensor] of written) {
            const back = await file.read(name)
            expect({ dtype: back.dtype, shape: back.shape }).toEqual({ dtype: tensor.dtype, shape: tensor.shape })
            if (tensor.data instanceof Float32Array) expect(bits(back.data as Float32Array)).toEqual(bits(tensor.data))
            else expect([...back.data]).toEqual([...tensor.data])
          }
          await file.close()
        },
      ),
      { numRuns: 40 },
    )
  })

  it("F16 and BF16 round trips stay within half an ulp of their precision (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.float({ min: -60000, max: 60000, noNaN: true, noDefaultInfinity: true }), { maxLength: 50 }),
        async (values) => {
          const data = Float32Array.from(values)
          const back = await roundTrip({
            half: { dtype: "F16", shape: [data.length], data },
            brain: { dtype: "BF16", shape: [data.length], data },
          })
          const check = (name: string, mantissaBits: number, smallest: number) => {
            const got = back.get(name)!
            expect(got.dtype).toBe(name === "half" ? "F16" : "BF16")
            got.data.forEach((y, i) => {
              const x = data[i]!
              expect(Math.abs(Number(y) - x)).toBeLessThanOrEqual(
                Math.max(Math.abs(x) * 2 ** -(mantissaBits + 1), smallest / 2),
              )
            })
          }
          check("half", 10, 2 ** -24)
          check("brain", 7, 2 ** -133)
        },
      ),
      { numRuns: 40 },
    )
  })

  it("I64, U8 and BOOL round trip exactly, including I64 values beyond 2^53", async () => {
    const big = BigInt64Array.from([-(2n ** 63n), -1n, 0n, 2n ** 53n + 1n, 2n ** 63n - 1n])
    const back = await roundTrip({
      i64: { dtype: "I64", shape: [5], data: big },
      u8: { dtype: "U8", shape: [2, 2], data: u8([0, 1, 128, 255]) },
      mask: { dtype: "BOOL", shape: [3], data: u8([1, 0, 1]) },
    })
    expect([...back.get("i64")!.data]).toEqual([...big])
    expect(back.get("u8")).toMatchObject({ dtype: "U8", shape: [2, 2] })
    expect([...back.get("u8")!.data]).toEqual([0, 1, 128, 255])
    expect([...back.get("mask")!.data]).toEqual([1, 0, 1])
  })

  it("values convert between dtypes on request, and an unstorable value is refused", async () => {
    const back = await roundTrip(
      {
        counts: { dtype: "F32", shape: [3], data: Float32Array.from([-5, 0, 2 ** 40]) },
        small: { dtype: "I32", shape: [2], data: Int32Array.from([3, 250]) },
        flags: { dtype: "F32", shape: [2], data: Float32Array.from([1, 0]) },
      },
      { dtypes: { counts: "I64", small: "U8", flags: "BOOL" } },
    )
    expect([...back.get("counts")!.data]).toEqual([-5n, 0n, 2n ** 40n])
    expect(back.get("small")).toMatchObject({ dtype: "U8" })
    expect(back.get("flags")).toMatchObject({ dtype: "BOOL" })
    const path = freshPath()
    const error = await rejection(
      writeSafetensors(
        path,
        { x: { dtype: "F32", shape: [2], data: Float32Array.from([1, 0.5]) } },
        { dtypes: { x: "I32" } },
      ),
    )
    expect(error).toMatchObject({ _tag: "SafetensorsError", file: path, tensor: "x" })
    expect((error as SafetensorsError).reason).toMatch(/element 1 = 0.5 cannot be stored as I32/)
  })

  it("an F8_E4M3 tensor read from a file is written back as F32 with the same values", async () => {
    const source = await writeBytes(
      freshPath(),
      fileBytes({ q: { dtype: "F8_E4M3", shape: [3], data_offsets: [0, 3] } }, u8([0x38, 0x7e, 0x81])),
    )
    const q = (await readSafetensors(source)).get("q")!
    const back = (await roundTrip({ q })).get("q")!
    expect(back.dtype).toBe("F32")
    expect([...back.data]).toEqual([1, 448, -(2 ** -9)])
  })
})

describe("tf tensors", () => {
  it("tf tensors are written as F32 / I32 / BOOL by default and come back as equal tf tensors", async () => {
    const tensors = {
      w: tf.tensor2d([
        [1.5, -2],
        [0, 3],
      ]),
      ids: tf.tensor1d([7, -1], "int32"),
      mask: tf.tensor1d([true, false], "bool"),
    }
    const back = await roundTrip(tensors)
    expect([...back.values()].map((t) => t.dtype).sort()).toEqual(["BOOL", "F32", "I32"])
    const before = tf.memory().numTensors
    for (const [name, original] of Object.entries(tensors)) {
      const restored = toTensor(back.get(name)!)
      expect({ dtype: restored.dtype, shape: restored.shape }).toEqual({ dtype: original.dtype, shape: original.shape })
      expect([...restored.dataSync()]).toEqual([...original.dataSync()])
      restored.dispose()
    }
    expect(tf.memory().numTensors).toBe(before)
    tf.dispose(Object.values(tensors))
  })

  it("floatDtype stores every float tensor in that dtype; toTensor gives float32 / int32 for every stored dtype", async () => {
    const w = tf.tensor1d([1, -2.5])
    const back = await roundTrip(
      {
        w,
        i: { dtype: "I64", shape: [2], data: BigInt64Array.from([-3n, 4n]) },
        u: { dtype: "U8", shape: [1], data: u8([200]) },
      },
      { floatDtype: "BF16" },
    )
    expect(back.get("w")!.dtype).toBe("BF16")
    const converted = Object.fromEntries([...back].map(([name, t]) => [name, toTensor(t)]))
    expect(Object.fromEntries(Object.entries(converted).map(([n, t]) => [n, [t.dtype, [...t.dataSync()]]]))).toEqual({
      w: ["float32", [1, -2.5]],
      i: ["int32", [-3, 4]],
      u: ["int32", [200]],
    })
    tf.dispose([w, ...Object.values(converted)])
  })

  it("tensorData copies a tf tensor's values to the host with the matching dtype", async () => {
    const t = tf.tensor2d([[1, 2, 3]], [1, 3], "int32")
    expect(await tensorData(t)).toEqual({ dtype: "I32", shape: [1, 3], data: Int32Array.from([1, 2, 3]) })
    t.dispose()
  })
})

describe("sharded checkpoints", () => {
  const tensorsOfSizes = (floats: ReadonlyArray<number>) =>
    new Map<string, TensorData>(
      floats.map((n, i) => [
        `layers.${i}.w`,
        { dtype: "F32", shape: [n], data: Float32Array.from({ length: n }, (_, j) => i * 100 + j) },
      ]),
    )

  it("a sharded write splits by maxShardBytes, writes the index last, and reads back whole and lazily", async () => {
    const dir = join(folder.path, "sharded")
    const tensors = tensorsOfSizes([4, 4, 4, 20, 2, 2])
    const result = await writeShardedSafetensors(dir, tensors, { maxShardBytes: 40, metadata: { format: "pt" } })
    const names = ["00001", "00002", "00003", "00004"].map((i) => `model-${i}-of-00004.safetensors`)
    expect(result.shards).toEqual(names.map((n) => join(dir, n)))
    expect((await readdir(dir)).sort()).toEqual([...names, "model.safetensors.index.json"].sort())

    const index = JSON.parse(await readFile(result.index, "utf8"))
    expect(index.metadata.total_size).toBe(36 * 4)
    expect(index.weight_map).toEqual({
      "layers.0.w": names[0],
      "layers.1.w": names[0],
      "layers.2.w": names[1],
      "layers.3.w": names[2],
      "layers.4.w": names[3],
      "layers.5.w": names[3],
    })
    for (const shard of result.shards) {
      const file = await openSafetensors(shard)
      const bytes = file.names.reduce((n, name) => n + file.info(name).byteLength, 0)
      expect(bytes <= 40 || file.names.length === 1).toBe(true)
      expect(file.metadata).toEqual({ format: "pt" })
      await file.close()
    }

    for (const path of [dir, result.index]) expect(await readCheckpointTensors(path)).toEqual(tensors)
    const source = await openCheckpointTensors(dir)
    expect(source.info("layers.3.w").file).toBe(join(dir, names[2]!))
    expect(await source.read("layers.4.w")).toEqual(tensors.get("layers.4.w"))
    await source.close()
  })
})

describe("atomic writes", () => {
  const tempFilesIn = async (dir: string) => (await readdir(dir)).filter((name) => name.endsWith(".tmp"))

  it("a write that fails midway leaves the previous file intact and no temp file", async () => {
    const dir = join(folder.path, "atomic")
    const path = join(dir, "model.safetensors")
    await mkdir(dir)
    await writeSafetensors(path, { old: { dtype: "U8", shape: [1], data: u8([9]) } })
    const before = await readFile(path)
    const disposed = tf.tensor1d([1, 2])
    disposed.dispose()
    const fine = tf.zeros([1000])
    const error = await rejection(writeSafetensors(path, { fine, broken: disposed }))
    fine.dispose()
    expect(error).toMatchObject({ _tag: "SafetensorsError", file: path, tensor: "broken" })
    expect((error as SafetensorsError).reason).toMatch(/disposed/)
    expect(await readFile(path)).toEqual(before)
    expect(await tempFilesIn(dir)).toEqual([])
  })

  it("a write into a folder that does not exist fails without creating anything", async () => {
    const path = join(folder.path, "no-such-folder", "x.safetensors")
    const error = await rejection(writeSafetensors(path, { a: { dtype: "U8", shape: [1], data: u8([1]) } }))
    expect(error).toMatchObject({ _tag: "SafetensorsError", file: path })
    expect((error as SafetensorsError).reason).toMatch(/ENOENT/)
    await expect(stat(join(folder.path, "no-such-folder"))).rejects.toThrow()
  })

  it("a sharded write that fails in a later shard writes no index", async () => {
    const dir = join(folder.path, "atomic-sharded")
    const error = await rejection(
      writeShardedSafetensors(
        dir,
        {
          a: { dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) },
          b: { dtype: "F32", shape: [2], data: Float32Array.from([1, 0.5]) },
        },
        { maxShardBytes: 8, dtypes: { b: "I32" } },
      ),
    )
    expect(error).toMatchObject({
      _tag: "SafetensorsError",
      tensor: "b",
      file: join(dir, "model-00002-of-00002.safetensors"),
    })
    expect(await readdir(dir)).toEqual(["model-00001-of-00002.safetensors"])
  })

  it("writer inputs that cannot be stored are refused before a file is made", async () => {
    const path = freshPath()
    const cases: Array<[Parameters<typeof writeSafetensors>[1], Parameters<typeof writeSafetensors>[2], RegExp]> = [
      [{ a: { dtype: "F32", shape: [3], data: Float32Array.from([1]) } }, {}, /holds 1 values but shape \[3\] needs 3/],
      [{ __metadata__: { dtype: "U8", shape: [1], data: u8([1]) } }, {}, /reserved/],
      [{ a: { dtype: "U8", shape: [1], data: u8([1]) } }, { dtypes: { typo: "F32" } }, /not written/],
      [
        { a: { dtype: "U8", shape: [1], data: u8([1]) } },
        { dtypes: { a: "F8_E4M3" as "F32" } },
        /cannot write dtype F8_E4M3/,
      ],
      [
        [
          ["a", { dtype: "U8", shape: [1], data: u8([1]) }],
          ["a", { dtype: "U8", shape: [1], data: u8([2]) }],
        ],
        {},
        /given twice/,
      ],
    ]
    for (const [tensors, options, reason] of cases) {
      const error = await rejection(writeSafetensors(path, tensors, options))
      expect(error).toBeInstanceOf(SafetensorsError)
      expect((error as SafetensorsError).reason).toMatch(reason)
    }
    await expect(stat(path)).rejects.toThrow()
  })
})

describe("Effect wrappers", () => {
  it.effect("Safetensors.write then Safetensors.open in a scope reads the tensor back; a bad file fails typed", () =>
    Effect.gen(function* () {
      const path = freshPath()
      const x = yield* Effect.scoped(
        Effect.gen(function* () {
          yield* Safetensors.write(path, { x: { dtype: "I64", shape: [1], data: BigInt64Array.from([42n]) } })
          const source = yield* Safetensors.open(path)
          return yield* Safetensors.readTensor(source, "x")
        }),
      )
      expect([...x.data]).toEqual([42n])

      const bad = yield* Effect.promise(() => writeBytes(freshPath(), i64([1n]).subarray(0, 4)))
      const exit = yield* Effect.exit(Safetensors.read(bad))
      expect(Exit.isFailure(exit)).toBe(true)
      const failure = yield* Effect.flip(Safetensors.readCheckpoint(bad))
      expect(failure).toMatchObject({ _tag: "SafetensorsError", file: bad })
    }),
  )
})
