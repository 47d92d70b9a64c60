/**
 * Rows for the root README, apps/cli/README.md and the `--help` examples of demo, train, generate, grpo, forward
 * and bench, plus the workspace's own commands.
 */
import { cpSync, existsSync } from "node:fs"
import { join } from "node:path"
import { type CoverageTable, progressLine } from "./types.ts"

/** The demo's SFT checkpoint, as the docs name it: the 2-step checkpoint of the `ds train` row stands in. */
export const demoCheckpoint = (work: string): void => {
  const target = join(work, "runs", "demo", "sft", "checkpoint")
  if (!existsSync(target)) cpSync(join(work, "runs", "add", "checkpoint"), target, { recursive: true })
}

const tensorflowOrOneLine = {
  kind: "run",
  firstOutput: /default backend: tensorflow/,
  shows: /default backend: tensorflow/,
  // Without @tensorflow/tfjs-node(-gpu) installed: the typed error's one line, which says what to do.
  orFailsWith: /^ds: backend "tensorflow" is unavailable.*--backend wasm/m,
} as const

export const cliRows: CoverageTable = {
  // Setting up and checking the workspace: the steps of .ci/run.
  "npm i -g pnpm@10.34.9 && pnpm install --frozen-lockfile": { kind: "ci" },
  "pnpm test": { kind: "ci" },
  "pnpm lint": { kind: "ci" },
  "pnpm typecheck": { kind: "ci" },
  "pnpm build": { kind: "ci" },
  "pnpm changeset": { kind: "not run", why: "interactive: asks a person which packages changed and how" },
  "npm i -g @ds/cli": {
    kind: "not run",
    why: "installs from the npm registry into the machine's global folder; the package's bin and files are checked by publint in .ci/run",
  },
  "pnpm add @tensorflow/tfjs-node-gpu@4.22.0": {
    kind: "not run",
    why: "adds the optional GPU backend to the workspace's dependencies (and its install script downloads libtensorflow)",
  },
  "pnpm approve-builds": { kind: "not run", why: "interactive, and only meaningful after adding tfjs-node-gpu" },
  "DS_BACKEND=tensorflow ds bench": tensorflowOrOneLine,
  "ds bench --backend tensorflow": tensorflowOrOneLine,
  "ds bench": { kind: "run", firstOutput: /^default backend: /m, shows: /^default backend: wasm/m },
  "DS_BLAS_THREADS=1 ds bench --out /tmp/bench": {
    kind: "run",
    firstOutput: /^default backend: /m,
    shows: /^default backend: wasm/m,
  },
  "pnpm bench": {
    kind: "run",
    cwd: "repo",
    // turbo prefixes each package's output with `<package>:bench:`; a line of it proves a benchmark started.
    firstOutput: /@ds\/\w+:bench: \S/,
    shows: /@ds\/\w+:bench: \S/,
    timeoutMs: 180_000,
  },
  // Training: the 800-step run with 2 steps; it makes runs/add/checkpoint, which the rows after it use.
  "ds train --out runs/add --steps 800": {
    kind: "run",
    as: "ds train --out runs/add --steps 2",
    shows: /trained 2 steps: loss \d/,
    before: true,
  },
  "ds train --out runs/add --steps 900 --resume": {
    kind: "run",
    as: "ds train --out runs/add --steps 3 --resume",
    shows: /trained 3 steps: loss \d/,
    before: true,
  },
  "ds train --data chats.jsonl --preset small --out runs/chat": {
    kind: "run",
    firstOutput: progressLine("train"),
    shows: progressLine("train"),
    timeoutMs: 240_000,
  },
  // The main job and its variants: long runs, stopped at their first SFT progress line.
  // The DSA stages on the needle task, 2 steps each on 64-token prompts; each row starts from the one before it.
  "ds train --data needle --stage dense --out runs/needle-dense --steps 400": {
    kind: "run",
    as: "ds train --data needle --stage dense --out runs/needle-dense --steps 2 --context 64",
    shows: /trained 2 steps: loss \d/,
    before: true,
  },
  "ds train --data needle --stage indexer-warmup --init runs/needle-dense/checkpoint --out runs/needle-warmup --steps 100":
    {
      kind: "run",
      as: "ds train --data needle --stage indexer-warmup --init runs/needle-dense/checkpoint --out runs/needle-warmup --steps 2 --context 64",
      shows: /trained 2 steps: loss \d/,
      before: true,
    },
  "ds train --data needle --stage sparse --init runs/needle-warmup/checkpoint --out runs/needle-sparse --steps 100": {
    kind: "run",
    as: "ds train --data needle --stage sparse --init runs/needle-warmup/checkpoint --out runs/needle-sparse --steps 2 --context 64",
    shows: /trained 2 steps: loss \d/,
    before: true,
  },
  // The DSA demo: a long run, stopped at its first progress line (the dense stage's).
  "ds dsa-demo --quick": {
    kind: "run",
    firstOutput: progressLine("dense"),
    shows: progressLine("dense"),
    timeoutMs: 240_000,
  },
  "ds dsa-demo": { kind: "run", firstOutput: progressLine("dense"), shows: progressLine("dense"), timeoutMs: 240_000 },
  "ds demo --quick": { kind: "run", firstOutput: progressLine("sft"), shows: progressLine("sft"), timeoutMs: 240_000 },
  "ds demo": { kind: "run", firstOutput: progressLine("sft"), shows: progressLine("sft"), timeoutMs: 240_000 },
  "ds demo --quick --out runs/try2 --seed 1": {
    kind: "run",
    firstOutput: progressLine("sft"),
    shows: progressLine("sft"),
    timeoutMs: 240_000,
  },
  'ds generate --checkpoint runs/add/checkpoint --addition "12+34"': { kind: "run", shows: /^12\+34=(\d+|\?)$/m },
  'ds generate --checkpoint runs/add/checkpoint --raw --prompt "210+430=" --temperature 0': {
    kind: "run",
    shows: /\[(stop|length)\S*: \d+ prompt \+ \d+ generated tokens\]/,
  },
  "ds grpo --config grpo.json": {
    kind: "run",
    firstOutput: progressLine("grpo"),
    shows: progressLine("grpo"),
    timeoutMs: 300_000,
  },
  "ds forward --checkpoint tooling/fixtures/golden/base --inputs tooling/fixtures/golden/base/inputs.json --out /tmp/out.safetensors":
    { kind: "run", shows: /^wrote \d+ tensors to \/tmp\/out\.safetensors$/m },
  "ds forward --attention reference --checkpoint tooling/fixtures/golden/base --inputs tooling/fixtures/golden/base/inputs.json --out /tmp/out-reference.safetensors":
    { kind: "run", shows: /^wrote \d+ tensors to \/tmp\/out-reference\.safetensors$/m },
}
