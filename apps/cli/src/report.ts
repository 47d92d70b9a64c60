/**
 * How `ds` tells a user that a command failed: ONE line on stderr — the typed error's own message (which names the
 * file, field or flag) and what to do next — then exit code 1. No stack trace and no Effect cause dump: those are
 * for `--log-level debug` (or trace/all), where the full cause follows the line.
 *
 *   ds: /tmp/run/checkpoint/model.safetensors: header length 10264 reaches beyond the end of the file (5000 bytes);
 *   the file is cut short or is not safetensors: copy or save it again (--log-level debug shows the full cause)
 *
 * Flag and argument mistakes (a missing file given to a flag that must exist, an unknown flag) are found by
 * effect/cli before a command runs; `presenter` prints them the same way instead of the whole help page.
 */
import { Cause, Console, Effect, Stdio } from "effect"
import { CliError, CliOutput } from "effect/cli"

/** What to do next, by error tag. The tags are those of @ds/core's errors and of the packages above it. */
const nextStep: Readonly<Record<string, string>> = {
  SafetensorsError: "the file is cut short or is not safetensors: copy or save it again",
  CheckpointError:
    "point --checkpoint at a folder written by `ds train` or in the reference format (config.json + model.safetensors)",
  ConfigError: "fix that field (its type and range are in the command's --help and the package README)",
  InputError: "check the input named at the start of this line (the command's --help describes what it takes)",
  OutputError: "check that the folder exists, is writable and has free space",
  RunFileError: "fix the run file (its fields are shown by `ds grpo --help`)",
  ShapeError: "the tensors do not match the model's config: check that config.json belongs to these weights",
  BackendUnavailableError: "or choose another one with --backend wasm",
  BenchError: "check that the --out folder is writable",
  AdditionPromptError: 'write the sum as digits, e.g. --addition "12+34", with operands below 10^--digits',
}

const debugLevels = new Set(["debug", "trace", "all"])

/** Whether the user asked for the full cause: `--log-level debug|trace|all` (or `--log-level=debug`). */
export const wantsDebug = (args: ReadonlyArray<string>): boolean =>
  args.some(
    (arg, i) =>
      (arg === "--log-level" && debugLevels.has(args[i + 1] ?? "")) ||
      (arg.startsWith("--log-level=") && debugLevels.has(arg.slice("--log-level=".length))),
  )

const oneLine = (text: string): string =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .join("; ")

const tagOf = (error: unknown): string | undefined =>
  typeof error === "object" && error !== null && "_tag" in error && typeof error._tag === "string"
    ? error._tag
    : undefined

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : typeof error === "string" ? error : JSON.stringify(error)

/**
 * The line printed for a failure. A typed error gives its message and the next step of its tag; anything else (a
 * defect: a bug, not a user mistake) gives its message and asks for a report with the debug output.
 */
export const failureLine = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const tag = tagOf(error)
  const step = tag === undefined ? undefined : nextStep[tag]
  const message = oneLine(messageOf(error))
  if (step !== undefined) return `ds: ${message}; ${step} (--log-level debug shows the full cause)`
  if (Cause.hasFails(cause) && tag !== undefined) return `ds: ${message} (--log-level debug shows the full cause)`
  return `ds: unexpected error: ${message}; run again with --log-level debug and report the output`
}

const isShowHelp = (cause: Cause.Cause<unknown>): boolean => {
  const error = Cause.squash(cause)
  return CliError.isCliError(error) && error._tag === "ShowHelp"
}

/**
 * Reports a failed run and fails again with the same cause (so the process exits non-zero), marked as reported
 * so that the runtime does not log it a second time. Interruption (Ctrl-C) passes through untouched.
 */
export const reportFailure = (cause: Cause.Cause<unknown>) =>
  Effect.gen(function* () {
    if (Cause.hasInterruptsOnly(cause)) return yield* Effect.failCause(cause)
    const args = yield* Stdio.Stdio.use((stdio) => stdio.args)
    // effect/cli has already printed a ShowHelp (through `presenter` below); others get their line here.
    if (!isShowHelp(cause)) yield* Console.error(failureLine(cause))
    if (wantsDebug(args)) yield* Console.error(Cause.pretty(cause))
    return yield* Effect.failCause(cause)
  })

/**
 * effect/cli's presenter, except that an invalid invocation prints its errors on one line with a pointer to
 * `--help` (stderr) instead of the whole help page followed by the errors. `--help` itself is unchanged.
 */
export const presenter = CliOutput.layerPresenter({
  present: (event) =>
    event._tag === "InvalidInvocation"
      ? Effect.gen(function* () {
          const formatter = yield* CliOutput.Formatter
          const errors = event.errors.map((error) => oneLine(formatter.formatCliError(error))).join("; ")
          yield* Console.error(
            `ds: ${errors}; see \`${event.commandPath.join(" ")} --help\` for the flags and examples`,
          )
        })
      : CliOutput.defaultPresenter.present(event),
})
