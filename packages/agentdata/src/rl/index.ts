/**
 * `@ds/agentdata/rl`: the multi-turn tool environment for RL trainers (a separate entry point, since it loads
 * @ds/model's chat template and with it tfjs).
 */

export * from "./oracle-turns.ts"
export * from "./tool-env.ts"
