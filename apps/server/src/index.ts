/**
 * @ds/server — an OpenAI-compatible HTTP server for ds checkpoints (docs/server.md): chat and text completions
 * with continuous batching, tool calls in the V3.2 format, Prometheus metrics, and a dashboard of training runs.
 */
export { Engine, type EngineOptions, type SequenceEvent, type SequenceHandle, type SequenceRequest } from "./engine.ts"
export { ApiError } from "./errors.ts"
export { MetricsRegistry, ServerMetrics } from "./metrics.ts"
export { parseToolBlock, splitText } from "./output.ts"
export { type ChatRequest, type CompletionRequest, parseChatRequest, parseCompletionRequest } from "./protocol.ts"
export { type RunningServer, type ServeOptions, serveProgram, serverLayer, settingsOf, startServer } from "./server.ts"
export { ServerConfig, type ServerSettings } from "./server-config.ts"
