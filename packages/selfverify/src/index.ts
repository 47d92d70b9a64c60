/**
 * @ds/selfverify — DeepSeekMath-V2's generator / verifier / meta-verifier loop for any model behind `effect/ai`'s
 * `LanguageModel` (docs/selfverify.md): prompts, lenient parsers, the paper's rewards, a proof domain with an
 * exact oracle, scaled-verification auto-labelling, sequential refinement and pool search.
 */

export * from "./domain/expression.ts"
export * from "./domain/proofs.ts"
export * from "./loops/autolabel.ts"
export * from "./loops/search.ts"
export * from "./loops/store.ts"
export * from "./parse.ts"
export * from "./programs.ts"
export * from "./prompts.ts"
export * from "./rewards.ts"
export * from "./roles.ts"
export * from "./training/config.ts"
export * from "./training/data.ts"
export * from "./training/measure.ts"
export * from "./training/pipeline.ts"
export * from "./training/rft.ts"
export * from "./training/stage.ts"
export * from "./training/tasks.ts"
export * from "./training/tokenizer.ts"
