/**
 * The documented-commands table: one module per area, so that a helper adding a command adds a file and one line
 * here. A command listed by two modules is an error (which row would prove it?).
 */
import { agentdataRows } from "./agentdata.ts"
import { cliRows } from "./cli.ts"
import { packageRows } from "./packages.ts"
import { selfverifyRows } from "./selfverify.ts"
import { serveRows } from "./serve.ts"
import type { Coverage } from "./types.ts"

export type { Coverage, CoverageTable } from "./types.ts"

// biome-ignore format: one area per line, so that adding one is a one-line change
const tables = [
  cliRows,
  packageRows,
  serveRows,
  agentdataRows,
  selfverifyRows,
]

/** The rows of every area, and the commands that more than one area lists. */
export const coverage: Record<string, Coverage> = {}
export const listedTwice: Array<string> = []
for (const table of tables)
  for (const [command, row] of Object.entries(table)) {
    if (command in coverage) listedTwice.push(command)
    coverage[command] = row
  }
