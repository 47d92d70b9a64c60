/**
 * Safetensors against the format itself: hand-built bytes read back, the writer's bytes checked field by field,
 * the dtype codecs against known bit patterns, and every golden reference file read.
 */
import { readdir, readFile } from "node:fs/promises"
import { join } from "node:path"
import { goldenDir, goldenFile } from "@ds/tooling/fixtures"
import * as tf from "@tensorflow/tfjs"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { initBackend } from "../src/backend/backend.ts"
import { openCheckpointTensors, readCheckpointTensors } from "../src/safetensors/checkpoint.ts"
import { decodeTensor, encodeTensor } from "../src/safetensors/codec.ts"
import { openSafetensors, readSafetensors } from "../src/safetensors/file.ts"
import { toTensor } from "../src/safetensors/tensor.ts"
import { writeSafetensors } from "../src/safetensors/write.ts"
import { f32, fileBytes, i32, i64, tempFolder, u8, u16, writeBytes } from "./fixtures/safetensors/bytes.ts"

const golden = goldenDir
const origin = { file: "test", tensor: "t" }

let folder: Awaited<ReturnType<typeof tempFolder>>
beforeAll(async () => {
  await initBackend("cpu")
  folder = await tempFolder()
})
afterAll(() => folder.remove())

describe("hand-built files", () => {
  it("a file built byte by byte from the format reads back every dtype, shape and value", async () => {
    const data = [
      f32([1.5, -2]), // a: [0, 8)
      i64([-3n, 2n ** 40n]), // b: [8, 24)
      u16([0x3c00, 0xc000]), // c F16: [24, 28)
      u16([0x3f80, 0xc040]), // d BF16: [28, 32)
      u8([0x38, 0xfe, 0x7f]), // e F8_E4M3: [32, 35)
      u8([1, 0, 1]), // f BOOL: [35, 38)
      u8([255, 7]), // g U8: [38, 40)
      i32([-7]), // h scalar I32: [40, 44)
    ]
    const header = {
      __metadata__: { format: "pt", note: "hand built" },
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "I64", shape: [2, 1], data_offsets: [8, 24] },
      c: { dtype: "F16", shape: [2], data_offsets: [24, 28] },
      d: { dtype: "BF16", shape: [1, 2], data_offsets: [28, 32] },
      e: { dtype: "F8_E4M3", shape: [3], data_offsets: [32, 35] },
      f: { dtype: "BOOL", shape: [3], data_offsets: [35, 38] },
      g: { dtype: "U8", shape: [2], data_offsets: [38, 40] },
      h: { dtype: "I32", shape: [], data_offsets: [40, 44] },
      empty: { dtype: "F32", shape: [0, 3], data_offsets: [44, 44] },
    }
    // Unpadded header of odd length: the data section starts at an odd byte, so the reader must not assume alignment.
    const json = JSON.stringify(header)
    const bytes = fileBytes(
      json.length % 2 === 1 ? json : `${json} `,
      Uint8Array.from(data.flatMap((part) => [...part])),
    )
    expect((bytes.byteLength - 44) % 2).toBe(1)
    const path = await writeBytes(join(folder.path, "hand.safetensors"), bytes)

    const tensors = await readSafetensors(path)
    expect([...tensors.keys()]).toEqual(["a", "b", "c", "d", "e", "f", "g", "h", "empty"])
    const values = Object.fromEntries(
      [...tensors].map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape, data: [...t.data] }]),
    )
    expect(values).toEqual({
      a: { dtype: "F32", shape: [2], data: [1.5, -2] },
      b: { dtype: "I64", shape: [2, 1], data: [-3n, 2n ** 40n] },
      c: { dtype: "F16", shape: [2], data: [1, -2] },
      d: { dtype: "BF16", shape: [1, 2], data: [1, -3] },
      e: { dtype: "F8_E4M3", shape: [3], data: [1, -448, Number.NaN] },
      f: { dtype: "BOOL", shape: [3], data: [1, 0, 1] },
      g: { dtype: "U8", shape: [2], data: [255, 7] },
      h: { dtype: "I32", shape: [], data: [-7] },
      empty: { dtype: "F32", shape: [0, 3], data: [] },
    })
    const file = await openSafetensors(path)
    expect(file.metadata).toEqual({ format: "pt", note: "hand built" })
    expect(file.info("b")).toMatchObject({ dtype: "I64", dataOffsets: [8, 24], fileOffset: bytes.byteLength - 44 + 8 })
    await file.close()
  })

  it("the writer's bytes follow the format: LE length, space-padded JSON, data at a multiple of 8", async () => {
    const path = join(folder.path, "written.safetensors")
    await writeSafetensors(
      path,
      {
        flag: { dtype: "BOOL", shape: [3], data: Uint8Array.from([1, 0, 1]) },
        w: { dtype: "F32", shape: [2], data: Float32Array.from([1, -0.5]) },
        step: { dtype: "I64", shape: [1], data: BigInt64Array.from([5n]) },
      },
      { metadata: { origin: "test" } },
    )
    const bytes = new Uint8Array(await readFile(path))
    const length = Number(new DataView(bytes.buffer).getBigUint64(0, true))
    expect((8 + length) % 8).toBe(0)
    const json = new TextDecoder().decode(bytes.subarray(8, 8 + length))
    expect(json).toMatch(/^\{.*\} *$/)
    // Largest element size first, so every tensor starts at a multiple of its element size.
    expect(JSON.parse(json)).toEqual({
      __metadata__: { origin: "test" },
      step: { dtype: "I64", shape: [1], data_offsets: [0, 8] },
      w: { dtype: "F32", shape: [2], data_offsets: [8, 16] },
      flag: { dtype: "BOOL", shape: [3], data_offsets: [16, 19] },
    })
    expect([...bytes.subarray(8 + length)]).toEqual([...i64([5n]), ...f32([1, -0.5]), 1, 0, 1])
  })
})

describe("dtype codecs", () => {
  const decodeBits = (dtype: "F16" | "BF16", bits: ReadonlyArray<number>) =>
    [...decodeTensor(dtype, [bits.length], u16(bits), origin).data] as Array<number>
  const encodeBits = (dtype: "F16" | "BF16", values: ReadonlyArray<number>) => {
    const bytes = encodeTensor(dtype, Float32Array.from(values), origin)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    return values.map((_, i) => view.getUint16(2 * i, true))
  }

  it("F16 decodes the IEEE binary16 landmarks", () => {
    expect(decodeBits("F16", [0x3c00, 0xc000, 0x7bff, 0x0001, 0x0400, 0x3555, 0x7c00, 0xfc00, 0x8000])).toEqual([
      1,
      -2,
      65504,
      2 ** -24,
      2 ** -14,
      0.333251953125,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      -0,
    ])
    expect(decodeBits("F16", [0x7e00, 0xfc01])).toEqual([Number.NaN, Number.NaN])
  })

  it("F16 encoding inverts decoding for every one of the 65536 bit patterns except NaNs", () => {
    const all = Array.from({ length: 65536 }, (_, h) => h).filter((h) => (h & 0x7c00) !== 0x7c00 || (h & 0x3ff) === 0)
    expect(encodeBits("F16", decodeBits("F16", all))).toEqual(all)
  })

  it("F16 encoding rounds to nearest even, overflows to infinity and underflows to zero", () => {
    const ulp = 2 ** -10
    expect(
      encodeBits("F16", [
        1 + ulp / 2,
        1 + (3 * ulp) / 2,
        1 + ulp / 2 + 2 ** -20,
        65520,
        65519,
        2 ** -25,
        2 ** -25 + 2 ** -40,
      ]),
    ).toEqual([0x3c00, 0x3c02, 0x3c01, 0x7c00, 0x7bff, 0x0000, 0x0001])
    expect(encodeBits("F16", [Number.NaN])[0]! & 0x7fff).toBeGreaterThan(0x7c00)
  })

  it("BF16 decodes as the upper half of a float32 and encodes with round to nearest even", () => {
    expect(decodeBits("BF16", [0x3f80, 0xc040, 0x4049, 0x7f80])).toEqual([1, -3, 3.140625, Number.POSITIVE_INFINITY])
    const ulp = 2 ** -7
    expect(encodeBits("BF16", [1, 1 + ulp / 2, 1 + (3 * ulp) / 2, Math.PI, -0])).toEqual([
      0x3f80, 0x3f80, 0x3f82, 0x4049, 0x8000,
    ])
    expect(encodeBits("BF16", [Number.NaN])[0]! & 0x7fff).toBeGreaterThan(0x7f80)
  })

  it("F8_E4M3 (FN) has bias 7, subnormals, max 448, no infinities and NaN only at S.1111.111", () => {
    const decode = (codes: ReadonlyArray<number>) =>
      [...decodeTensor("F8_E4M3", [codes.length], u8(codes), origin).data] as Array<number>
    expect(decode([0x38, 0x3c, 0x40, 0x08, 0x01, 0x07, 0x78, 0x7e, 0xfe, 0x80])).toEqual([
      1,
      1.5,
      2,
      2 ** -6,
      2 ** -9,
      7 * 2 ** -9,
      256,
      448,
      -448,
      -0,
    ])
    const all = decode(Array.from({ length: 256 }, (_, b) => b))
    expect(all.flatMap((x, b) => (Number.isNaN(x) ? [b] : []))).toEqual([0x7f, 0xff])
    expect(all.every((x) => Number.isNaN(x) || Math.abs(x) <= 448)).toBe(true)
  })
})

describe("golden reference files", () => {
  it("every safetensors file under tooling/fixtures/golden reads in full", async () => {
    const files = (await readdir(join(golden, ".."), { recursive: true }))
      .filter((name) => name.endsWith(".safetensors"))
      .map((name) => join(golden, "..", name))
    expect(files.length).toBeGreaterThanOrEqual(2)
    for (const file of files) {
      const tensors = await readSafetensors(file)
      expect(tensors.size).toBeGreaterThan(0)
      for (const tensor of tensors.values()) expect(tensor.data.length).toBe(tensor.shape.reduce((n, d) => n * d, 1))
    }
  })

  it("model.safetensors holds the 106 F32 parameters with the shapes the README lists", async () => {
    const tensors = await readSafetensors(goldenFile("model.safetensors"))
    expect(tensors.size).toBe(106)
    expect(new Set([...tensors.values()].map((t) => t.dtype))).toEqual(new Set(["F32"]))
    expect(tensors.get("embed.weight")?.shape).toEqual([512, 64])
    expect(tensors.get("layers.0.attn.indexer.wq_b.weight")?.shape).toEqual([512, 32])
    expect(tensors.get("layers.2.ffn.gate.bias")?.shape).toEqual([8])
    expect(tensors.get("norm.weight")?.shape).toEqual([64])
  })

  it("golden.safetensors matches golden.json: decode0 logits bit for bit and the prefill expert choice", async () => {
    const json = JSON.parse(await readFile(goldenFile("golden.json"), "utf8")) as {
      calls: Array<{
        name: string
        logits: Array<Array<number>>
        layers: Array<{ layer: number; gate_indices?: Array<Array<number>> }>
      }>
    }
    const tensors = await readSafetensors(goldenFile("golden.safetensors"))
    expect(tensors.size).toBe(226)
    expect(new Set([...tensors.values()].map((t) => t.dtype))).toEqual(new Set(["F32", "I32"]))

    const decode0 = json.calls[1]!
    expect(decode0.name).toBe("decode0")
    const logits = tensors.get("decode0.logits")!
    expect(logits.shape).toEqual([2, 512])
    expect([...logits.data]).toEqual(decode0.logits.flat().map(Math.fround))

    const indices = tensors.get("prefill.layers.1.gate.indices")!
    expect(indices.dtype).toBe("I32")
    expect(indices.shape).toEqual([64, 2])
    expect([...indices.data]).toEqual(json.calls[0]!.layers.find((l) => l.layer === 1)!.gate_indices!.flat())
  })

  it("the golden folder opens as a checkpoint, lazily, and converts to tf tensors", async () => {
    expect((await readCheckpointTensors(golden)).size).toBe(106)
    const source = await openCheckpointTensors(golden)
    expect(source.names).toHaveLength(106)
    expect(source.info("head.weight")).toMatchObject({ dtype: "F32", shape: [512, 64], byteLength: 512 * 64 * 4 })
    const embed = await source.read("embed.weight")
    await source.close()
    const tensor = toTensor(embed)
    expect(tensor.dtype).toBe("float32")
    expect(tensor.shape).toEqual([512, 64])
    expect([...tensor.dataSync()]).toEqual([...embed.data])
    tf.dispose(tensor)
  })
})
