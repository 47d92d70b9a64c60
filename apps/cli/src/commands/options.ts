/**
 * Flags shared by the commands that compute.
 */
import { backendChoices } from "@ds/core"
import { type AttentionPath, attentionPaths, describeAttentionPath, setDefaultAttentionPath } from "@ds/model"
import { Config, Effect, Schema } from "effect"
import { Flag } from "effect/cli"

/** `--backend auto|tensorflow|wasm|cpu`, falling back to DS_BACKEND, then auto. */
export const backendFlag = Flag.Literals("backend", backendChoices).pipe(
  Flag.withDescription("Tensor backend: auto (tensorflow when installed, else wasm), tensorflow, wasm or cpu"),
  Flag.withFallbackConfig(Config.schema(Schema.Literals(backendChoices), "DS_BACKEND")),
  Flag.withDefault("auto" as const),
)

/** `--checkpoint DIR` (required) for the commands that load a whole model: config, weights and tokenizer. */
export const checkpointFlag = Flag.Directory("checkpoint", { mustExist: true }).pipe(
  Flag.withDescription("Checkpoint folder with config.json, model.safetensors and tokenizer.json"),
)

/** `--seed N` (default 0) for the commands whose every random choice follows one seed. */
export const seedFlag = Flag.Int("seed").pipe(Flag.withDescription("Seed of every random choice"), Flag.withDefault(0))

/**
 * `--attention auto|fused|reference` (default auto) for the commands that run a model (docs/model.md §9); the help
 * line says what auto picks on this machine. Training runs the reference path whatever the flag says.
 */
export const attentionFlag = Flag.Literals("attention", attentionPaths).pipe(
  Flag.withDescription(
    `Attention path of inference: auto (fused when the native attention kernels are loaded, else reference; here: ${describeAttentionPath("auto").split(" ")[0]}), fused (native DSA over the in-place KV cache) or reference (plain tfjs). Training always runs the reference path`,
  ),
  Flag.withDefault("auto" as const),
)

/** Makes `path` the default of every model call of this command (other packages' included) and logs the choice. */
export const useAttention = (path: AttentionPath) =>
  Effect.gen(function* () {
    setDefaultAttentionPath(path)
    yield* Effect.logInfo(`attention: ${describeAttentionPath(path)}`)
  })
