/**
 * Rows for `ds agentdata`'s `--help` examples. The quick synthesis runs fully (under a minute) and makes
 * runs/agentdata, which verify, export and stats then read; the paper preset is stopped at its first progress line.
 */
import { type CoverageTable, progressLine } from "./types.ts"

const category = "general|search|code|code-interpreter"

export const agentdataRows: CoverageTable = {
  "ds agentdata synth --preset quick --seed 1 --out runs/agentdata": {
    kind: "run",
    shows: /\d+ tasks in \d+ environments, \d+ verified/,
    before: true,
    timeoutMs: 240_000,
    pendingCommand: "agentdata",
  },
  "ds agentdata synth --preset paper --seed 1 --out runs/paper --workers 2": {
    kind: "run",
    firstOutput: progressLine(category),
    shows: progressLine(category),
    timeoutMs: 240_000,
    pendingCommand: "agentdata",
  },
  "ds agentdata synth --preset paper --seed 1 --out runs/paper --resume": {
    kind: "run",
    firstOutput: progressLine(category),
    shows: progressLine(category),
    timeoutMs: 240_000,
    pendingCommand: "agentdata",
  },
  "ds agentdata synth --preset quick --seed 1 --out runs/agentdata-pass8 --pass-k 8": {
    kind: "run",
    shows: /\d+ tasks in \d+ environments, \d+ verified/,
    timeoutMs: 240_000,
    pendingCommand: "agentdata",
  },
  "ds agentdata verify --in runs/agentdata": {
    kind: "run",
    shows: /^(\d+)\/\1 records verified$/m,
    pendingCommand: "agentdata",
  },
  "ds agentdata verify --in runs/agentdata/shards/code/00000.jsonl": {
    kind: "run",
    shows: /^(\d+)\/\1 records verified$/m,
    pendingCommand: "agentdata",
  },
  "ds agentdata export --in runs/agentdata --out tasks.jsonl": {
    kind: "run",
    shows: /^wrote \d+ openai records to tasks\.jsonl$/m,
    pendingCommand: "agentdata",
  },
  "ds agentdata export --in runs/agentdata --format tau2 --category general --out tau2.jsonl": {
    kind: "run",
    shows: /^wrote \d+ tau2 records to tau2\.jsonl$/m,
    pendingCommand: "agentdata",
  },
  "ds agentdata stats runs/agentdata --json": { kind: "run", shows: /"tasks":\{"total":\d+/, pendingCommand: "agentdata" },
  "ds agentdata solve --category general --unit 0 --seed 1": {
    kind: "run",
    shows: /verifier: pass/,
    pendingCommand: "agentdata",
  },
  "ds agentdata solve --category general --unit 0 --pass-k 8": { kind: "run", shows: /\S/, pendingCommand: "agentdata" },
  "ds agentdata solve --category code --unit 3": { kind: "run", shows: /verifier: pass/, pendingCommand: "agentdata" },
  // The demo trains for many minutes: like `ds demo --quick`, the row checks that it starts and reaches SFT.
  "ds agentdata demo --quick": {
    kind: "run",
    firstOutput: progressLine("sft"),
    shows: progressLine("sft"),
    timeoutMs: 240_000,
    pendingCommand: "agentdata",
  },
  "ds agentdata demo --out runs/agentdata-demo-full": {
    kind: "run",
    firstOutput: progressLine("sft"),
    shows: progressLine("sft"),
    timeoutMs: 240_000,
    pendingCommand: "agentdata",
  },
}
