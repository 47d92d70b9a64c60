/**
 * @ds/model — the DeepSeek-V3.2 MoE transformer for tfjs (docs/model.md): config, DeepSeekMoE, the transformer
 * over @ds/attention's MLA + DSA, checkpoints in the reference format, inference with a KV cache, the sampler,
 * tokenizers and the V3.2 chat template, supervised training, and an `effect/ai` LanguageModel provider.
 */

export {
  type AttentionPath,
  attentionPaths,
  describeAttentionPath,
  prefersDense,
  resolveAttentionPath,
  setDefaultAttentionPath,
} from "./attention-path.ts"
export {
  acquireCheckpoint,
  type Checkpoint,
  type CheckpointLoadError,
  loadCheckpoint,
  loadModelConfig,
  type SaveOptions,
  saveCheckpoint,
} from "./checkpoint.ts"
export { toHuggingFaceName, toReferenceName } from "./checkpoint-names.ts"
export {
  decodeModelConfig,
  encodeModelConfig,
  fromHuggingFaceConfig,
  isHuggingFaceConfig,
  isMoeLayer,
  type ModelConfig,
  ModelConfigSchema,
  parseModelConfig,
  toHuggingFaceConfig,
} from "./config.ts"
export { type SwiGluWeights, swiGlu } from "./ffn.ts"
export { type GateConfig, type GateOutput, type GateWeights, routeTokens } from "./gate.ts"
export { type FinishReason, type GenerateOptions, type Generation, generate } from "./generate.ts"
export {
  LocalModel,
  type LocalModelOptions,
  localLanguageModelLayer,
  makeLocalLanguageModel,
  toChatMessages,
} from "./language-model.ts"
export { type DispatchPlan, type MoeOptions, type MoeOutput, type MoeWeights, moe, planDispatch } from "./moe.ts"
export {
  type AdamWConfig,
  type AdamWState,
  adamWStep,
  defaultAdamW,
  globalNorm,
  initAdamW,
} from "./optimizer.ts"
export {
  countParameters,
  disposeParameters,
  initParameters,
  isGradientTrained,
  type Parameters,
  type ParamSpec,
  parameterSpecs,
} from "./params.ts"
export { longPreset, type PresetName, presets, smallPreset, tinyPreset } from "./presets.ts"
export {
  type ForwardCall,
  ForwardInputs,
  type ForwardProgramOptions,
  forwardProgram,
  runForwardCall,
  runForwardCalls,
} from "./programs/forward-program.ts"
export {
  encodePrompt,
  type GenerateProgramOptions,
  type GenerateProgramResult,
  generateProgram,
  generateText,
} from "./programs/generate-program.ts"
export {
  type SupervisedTask,
  sftSettings,
  sftTrainer,
  type TrainError,
  type TrainEvent,
  type TrainOptions,
  type TrainSummary,
  trainProgram,
} from "./programs/train-program.ts"
export {
  makeOpenAiCompat,
  OpenAiCompat,
  type OpenAiCompatOptions,
  OpenAiCompatOverrides,
  toOpenAiMessages,
} from "./providers/openai-compat.ts"
export {
  keptTokens,
  logProbOverKept,
  type SampledToken,
  type SamplingOptions,
  sampleRows,
  sampleToken,
  tokenLogProbs,
} from "./sampler.ts"
export { learningRateAt, type ScheduleConfig } from "./schedule.ts"
export {
  type BpeTrainOptions,
  defaultSplitPattern,
  type TrainedBpe,
  toTokenizerJson,
  trainBpe,
} from "./tokenizer/bpe-trainer.ts"
export {
  ChatMessage,
  type EncodeChatOptions,
  encodeChat,
  parseCompletion,
  type ThinkingMode,
  ToolCall,
  ToolDefinition,
} from "./tokenizer/chat-template.ts"
export { specialTokenList, specialTokens } from "./tokenizer/special-tokens.ts"
export {
  byteTokenizer,
  loadTokenizer,
  streamingDecoder,
  type TextTokenizer,
  tokenizerFromJson,
  trainTokenizer,
} from "./tokenizer/tokenizer.ts"
export { type AnswerEvalOptions, answerAccuracy, answerRecall } from "./training/answer-eval.ts"
export {
  paddedLength,
  type SupervisedExample,
  splitMicroBatches,
  toPackedTokenBatch,
  toTokenBatch,
} from "./training/batches.ts"
export {
  type ExampleSource,
  encodeExample,
  parseRecord,
  readTextExamples,
  type TextExample,
  textSource,
} from "./training/data.ts"
export { crossEntropy, type LossOptions, type LossResult, languageModelLoss, type TokenBatch } from "./training/loss.ts"
export { type NeedleTaskOptions, needleExample, needleSource, needleTask } from "./training/needle-task.ts"
export {
  attentionRecallOf,
  recallRows,
  type StageLossOptions,
  type StageLossResult,
  stageLoss,
} from "./training/stage-loss.ts"
export {
  defaultStage,
  isTrainedInStage,
  type StagePlan,
  stagePlan,
  type TrainingStage,
  trainingStages,
} from "./training/stages.ts"
export {
  estimateStepBytes,
  StepMemoryError,
  stepMemoryError,
  wasmHeapLimitBytes,
} from "./training/step-memory.ts"
export { type TrainStepOptions, type TrainStepResult, trainStep, updateGateBiases } from "./training/train-step.ts"
export {
  configHash,
  freshOptimizer,
  loadTrainerCheckpoint,
  optimizerFile,
  type ResumeExpectation,
  readTrainerState,
  saveTrainerCheckpoint,
  type TrainerCheckpoint,
  type TrainerState,
  TrainerStateError,
  type TrainerStateInput,
  TrainerStateSchema,
  trainableParameters,
  trainerStateFile,
  trainerStateFormat,
} from "./training/trainer-state.ts"
export {
  cacheLengths,
  createModelCache,
  disposeForward,
  disposeModelCache,
  type ForwardOptions,
  type ForwardResult,
  forward,
  type LayerCapture,
  type LayerPath,
  type Model,
  type ModelCache,
  pickModelCacheRows,
} from "./transformer.ts"
