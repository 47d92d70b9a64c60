/**
 * One row of the documented-commands table: how documented-commands.test.ts proves that a documented command works.
 *
 * - "run": runs the command line in bash as written — `ds` is the CLI from source (what `pnpm ds` runs), in a
 *   scratch folder that holds what the docs assume (`tooling/` and `packages/` of this repository, `grpo.json`,
 *   `chats.jsonl`, and what earlier rows made: `runs/add/checkpoint`, `runs/agentdata`) — to exit 0, or, for a
 *   long run, until its output matches `firstOutput` (then its process group gets SIGTERM). `as` is a smaller
 *   step count used instead, said in the test's name. `shows` is what stdout + stderr must contain.
 * - "ci": the command is a step of `.ci/run` (asserted), which CI runs on a fresh clone.
 * - "not run": installs software, changes the workspace's dependencies, needs the network, or waits for a
 *   person; `why` says which and, where there is one, what checks the same thing instead.
 */
export type Coverage =
  | {
      readonly kind: "run"
      /** The command actually run, when it differs from the documented one (a smaller step count). */
      readonly as?: string
      /** "work": the scratch folder (default); "repo": the repository root, for workspace scripts. */
      readonly cwd?: "work" | "repo"
      /** A long run: stop it once its combined output matches this. */
      readonly firstOutput?: RegExp
      /** What stdout + stderr must contain. */
      readonly shows: RegExp
      /** Also accept a non-zero exit when the output shows this (an optional component that is not installed). */
      readonly orFailsWith?: RegExp
      readonly timeoutMs?: number
      /** Runs before the other rows, in table order: later rows use what it makes. */
      readonly before?: true
      /** Files the docs assume beside the command, made in the scratch folder before it runs. */
      readonly prepare?: (work: string) => void
      /**
       * The `ds` subcommand this row needs, for a command documented before its CLI command is registered: until
       * `ds --help` lists it the row is skipped (and its name says so); afterwards it runs like any other.
       */
      readonly pendingCommand?: string
    }
  | { readonly kind: "ci" }
  | { readonly kind: "not run"; readonly why: string }

export type CoverageTable = Readonly<Record<string, Coverage>>

/** A progress line of the terminal bars (non-TTY form: one plain line per task every few seconds). */
export const progressLine = (task: string): RegExp => new RegExp(`^(?:${task})\\s{2}\\S`, "m")
