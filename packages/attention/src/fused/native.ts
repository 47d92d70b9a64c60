/**
 * The native attention kernels of @ds/core's addon (packages/core/native/src/attention*.c), loaded once.
 * Absent (addon not built, DS_NATIVE=0, built without the attention module): `nativeAttention()` is undefined and
 * `nativeAttentionReason()` says why in one line; every fused path then declines and the references run.
 */
import { loadNativeAttention, type NativeAttentionAddon } from "@ds/core"

export type NativeAttentionKernels = NativeAttentionAddon

/** The addon's attention kernels (and its BLAS), or undefined when they are not available. */
export const nativeAttention = (): NativeAttentionKernels | undefined => loadNativeAttention().attention

/** Why the native attention kernels are not available (undefined when they are). */
export const nativeAttentionReason = (): string | undefined => loadNativeAttention().reason
