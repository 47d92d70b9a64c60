/** Rows for `ds serve`'s `--help` examples (apps/server). */
import { demoCheckpoint } from "./cli.ts"
import type { CoverageTable } from "./types.ts"

export const serveRows: CoverageTable = {
  "ds serve --checkpoint runs/demo/sft/checkpoint": {
    kind: "run",
    prepare: demoCheckpoint,
    firstOutput: /^ds serve: listening on /m,
    shows: /^ds serve: listening on /m,
    pendingCommand: "serve",
  },
  "ds serve --checkpoint runs/demo/sft/checkpoint --port 8000": {
    kind: "run",
    prepare: demoCheckpoint,
    firstOutput: /^ds serve: listening on /m,
    shows: /^ds serve: listening on http:\/\/\S+:8000/m,
    pendingCommand: "serve",
  },
  "DS_API_KEYS=secret ds serve --checkpoint runs/demo/sft/checkpoint --host 0.0.0.0": {
    kind: "run",
    prepare: demoCheckpoint,
    firstOutput: /^ds serve: listening on /m,
    shows: /^ds serve: listening on /m,
    pendingCommand: "serve",
  },
}
