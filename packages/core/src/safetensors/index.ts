export {
  indexFileName,
  openCheckpointTensors,
  readCheckpointTensors,
  readWeightMap,
  resolveCheckpoint,
  shardFileName,
  singleFileName,
} from "./checkpoint.ts"
export {
  dtypeBytes,
  elementCount,
  type FloatDtype,
  type HostArray,
  isSafetensorsDtype,
  type SafetensorsDtype,
  safetensorsDtypes,
  type TensorData,
  type WritableDtype,
  writableDtypes,
} from "./dtypes.ts"
export { Safetensors } from "./effect.ts"
export { type OpenOptions, openSafetensors, readSafetensors, type SafetensorsFile, type TensorSource } from "./file.ts"
export { defaultMaxHeaderBytes, type TensorInfo } from "./header.ts"
export { type TensorOrigin, tensorData, toTensor } from "./tensor.ts"
export {
  defaultMaxShardBytes,
  type ShardedWriteOptions,
  type ShardedWriteResult,
  type TensorEntries,
  type TensorInput,
  type WriteOptions,
  writeSafetensors,
  writeShardedSafetensors,
} from "./write.ts"
