/**
 * Rows for the `ds` commands of @ds/selfverify (its README and the `--help` examples of `ds selfverify parse`,
 * `ds prove`, `ds verify`, `ds meta-verify`, `ds refine`, `ds search`). The examples against DeepSeek's API need
 * the network and a key; the same commands run here against the local checkpoint where the docs show that form.
 */
import { type CoverageTable, progressLine } from "./types.ts"

const deepseekApi = {
  kind: "not run",
  why: "calls DeepSeek's API (network and an API key); the local-checkpoint example of ds prove runs the same loop here",
} as const

const verifierLine = {
  kind: "run",
  shows: /"score":\s*1\b/,
  pendingCommand: "selfverify",
} as const

export const selfverifyRows: CoverageTable = {
  [String.raw`echo '{"completion":"Here is my evaluation of the solution: fine. Based on my evaluation, the final overall score should be: \\boxed{1}"}' | ds selfverify parse --role verifier`]:
    verifierLine,
  [String.raw`echo '{"completion": "Here is my evaluation of the solution: fine. Based on my evaluation, the final overall score should be: \\boxed{1}"}' | ds selfverify parse --role verifier`]:
    verifierLine,
  "ds prove --problems packages/selfverify/data/imo2025-problems.json --checkpoint runs/add/checkpoint --limit 1 --iterations 1 --max-tokens 16":
    { kind: "run", shows: /\S/, timeoutMs: 240_000, pendingCommand: "prove" },
  "ds prove --problems packages/selfverify/data/imo2025-problems.json --base-url https://api.deepseek.com/v1 --model deepseek-reasoner --limit 1":
    deepseekApi,
  "ds verify --proofs packages/selfverify/data/imo2025-proofs.jsonl --base-url https://api.deepseek.com/v1 --model deepseek-reasoner --n 8 --m 4 --k 2":
    deepseekApi,
  "ds meta-verify --proofs runs/verify/analyses.jsonl --base-url https://api.deepseek.com/v1 --model deepseek-reasoner":
    deepseekApi,
  "ds refine --proofs packages/selfverify/data/imo2025-proofs.jsonl --base-url https://api.deepseek.com/v1 --model deepseek-reasoner --limit 1":
    deepseekApi,
  "ds search --problems packages/selfverify/data/imo2025-problems.json --base-url https://api.deepseek.com/v1 --model deepseek-reasoner --limit 1 --initial-proofs 8 --verifications 4 --top 4 --rounds 2":
    deepseekApi,
  "ds search --problems packages/selfverify/data/imo2025-problems.json --base-url https://api.deepseek.com/v1 --variant paper --limit 1":
    deepseekApi,
  // Cold-start data from the oracle: no model involved, runs to the end.
  "ds selfverify data --out runs/selfverify-data --per-role 200": {
    kind: "run",
    shows: /\S/,
    timeoutMs: 240_000,
    pendingCommand: "selfverify",
  },
  // The training driver: the smoke config runs every stage (cold start, three GRPO stages, RFT, auto-labelling).
  "ds selfverify train --config packages/selfverify/data/train-smoke.json": {
    kind: "run",
    shows: /auto-labelling: agreement/,
    timeoutMs: 480_000,
    pendingCommand: "selfverify",
  },
  // The demo: a long run, stopped at its first cold-start progress line (the figures are in docs/selfverify.md §10).
  "ds selfverify demo --quick": {
    kind: "run",
    firstOutput: progressLine("cold start"),
    shows: progressLine("cold start"),
    timeoutMs: 240_000,
    pendingCommand: "selfverify",
  },
}
