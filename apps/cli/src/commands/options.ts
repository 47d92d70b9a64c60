/**
 * Flags shared by the commands that compute.
 */
import { backendChoices } from "@ds/core"
import { Config, Schema } from "effect"
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
