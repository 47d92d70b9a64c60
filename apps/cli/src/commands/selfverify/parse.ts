/**
 * `ds selfverify parse --role verifier|meta|generator`: the lenient parsers alone (docs/selfverify.md §3).
 * stdin: one `{"completion": "..."}` per line (other fields pass through); stdout: the same line plus
 * `{score, format_ok, error}` (score null when no valid score is found); the generator adds `self_score`, `proof`
 * and `self_evaluation`. A line that is not such an object comes out with `format_ok: false` and the reason.
 */
import * as fs from "node:fs"
import { InputError } from "@ds/core"
import { parseAs, type Role } from "@ds/selfverify"
import { Effect } from "effect"
import { Command, Flag } from "effect/cli"

const roles: ReadonlyArray<Role> = ["verifier", "meta", "generator"]

/** One output line for one input line. */
export const parseLine = (role: Role, line: string, lineNumber: number): string => {
  let record: unknown
  try {
    record = JSON.parse(line)
  } catch (error) {
    return JSON.stringify({
      score: null,
      format_ok: false,
      error: `line ${lineNumber} is not JSON: ${error instanceof Error ? error.message : String(error)}`,
    })
  }
  const completion = (record as { completion?: unknown } | null)?.completion
  if (typeof record !== "object" || record === null || Array.isArray(record) || typeof completion !== "string")
    return JSON.stringify({
      ...(typeof record === "object" && record !== null && !Array.isArray(record) ? record : {}),
      score: null,
      format_ok: false,
      error: `line ${lineNumber} has no "completion" string`,
    })
  return JSON.stringify({ ...record, ...parseAs(role, completion) })
}

export const parse = Command.make(
  "parse",
  {
    role: Flag.Literals("role", roles).pipe(
      Flag.withDescription("Which output format: verifier (analysis + score), meta (meta-verification) or generator"),
    ),
  },
  (options) =>
    Effect.gen(function* () {
      const input = yield* Effect.try({
        try: () => fs.readFileSync(0, "utf8"),
        catch: (error) => new InputError({ source: "stdin", reason: String(error) }),
      })
      const out = input
        .split("\n")
        .flatMap((line, i) => (line.trim() === "" ? [] : [parseLine(options.role, line, i + 1)]))
      yield* Effect.sync(() => process.stdout.write(out.length === 0 ? "" : `${out.join("\n")}\n`))
    }),
).pipe(
  Command.withDescription(
    "Parse model outputs as verifier, meta-verifier or generator: JSONL {completion} on stdin, the same lines plus {score, format_ok, error} on stdout",
  ),
  Command.withExamples([
    {
      command: `echo '{"completion": "Here is my evaluation of the solution: fine. Based on my evaluation, the final overall score should be: \\\\boxed{1}"}' | ds selfverify parse --role verifier`,
      description: "Prints the line with score 1, format_ok true, error null",
    },
  ]),
)
