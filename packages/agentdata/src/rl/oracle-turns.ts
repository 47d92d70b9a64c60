/**
 * Supervised examples from an oracle trajectory (docs/agentdata.md §14): the oracle's assistant turns, written as
 * the model would write them (`renderAssistantTurn`), are replayed through a `ToolEnvironment`, and turn k becomes
 * one prompt/completion pair
 *
 *   prompt_k     = prompt ++ a_1 ++ o_1 ++ … ++ a_{k−1} ++ o_{k−1}      (no loss: tool results included)
 *   completion_k = a_k                                                  (loss)
 *
 * so the tool results are never trained on, exactly as in the multi-turn GRPO rollout over the same environment.
 */
import type { Environment, Task } from "../env/environment.ts"
import type { TaskRecord } from "../pipeline/record.ts"
import { AgentDataError } from "../pipeline/run.ts"
import { renderAssistantTurn, ToolEnvironment, type ToolEnvOptions } from "./tool-env.ts"

export interface TurnExample {
  readonly prompt: string
  readonly completion: string
}

/** One example per oracle turn; throws `AgentDataError` when the replayed oracle does not earn reward 1 (a synthesis bug). */
export const oracleTurnExamples = (
  env: Environment,
  task: Task,
  record: TaskRecord,
  options: ToolEnvOptions = {},
): Array<TurnExample> => {
  const episode = new ToolEnvironment(env, task, options)
  try {
    const turns = record.messages
      .filter((m) => m.role === "assistant" && m.tool_calls !== undefined)
      .map((m) => renderAssistantTurn(m as never, options.thinking))
    const examples: Array<TurnExample> = []
    let prompt = episode.prompt()
    for (const completion of turns) {
      examples.push({ prompt, completion })
      const step = episode.step(completion)
      prompt += completion + step.observation
    }
    if (!episode.done || episode.reward() !== 1)
      throw new AgentDataError({
        reason: `the oracle of ${task.id} does not pass when replayed as model turns (a synthesis or template bug; report it)`,
      })
    return examples
  } finally {
    episode.close()
  }
}
