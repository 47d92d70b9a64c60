/**
 * Progress of long work (training steps, rollouts, benchmark cases) as a service. Work reports events; the CLI
 * provides `Progress.layerTerminal`, which draws bars with rate and ETA on stderr; libraries and tests use
 * `Progress.layerSilent`. Timestamps come from `Clock`, so TestClock drives it in tests.
 */
import { Clock, Context, Effect, Layer } from "effect"
import { renderBar } from "./bar.ts"

export interface ProgressUpdate {
  /** Name of the task, e.g. "sft" or "grpo step". One bar per task. */
  readonly task: string
  /** Units done so far. */
  readonly done: number
  /** Units in all; absent for open-ended work (then no ETA). */
  readonly total?: number
  /** What a unit is, e.g. "step", "tok"; shown with the rate. */
  readonly unit?: string
  /** Short figures shown after the bar, e.g. { loss: 1.23 }. */
  readonly info?: Readonly<Record<string, number | string>>
}

export class Progress extends Context.Service<
  Progress,
  {
    readonly update: (update: ProgressUpdate) => Effect.Effect<void>
    /** Ends the task's bar (prints its final line). */
    readonly finish: (task: string) => Effect.Effect<void>
  }
>()("@ds/core/Progress") {
  /** Discards every event (libraries, tests, `--quiet`). */
  static readonly layerSilent = Layer.succeed(Progress, { update: () => Effect.void, finish: () => Effect.void })

  /**
   * Draws one bar per task on `stream` (stderr by default), redrawn at most every `intervalMs`, with rate and ETA.
   * On a non-TTY stream it prints a plain line at most every 5 s, so logs stay readable.
   */
  static readonly layerTerminal = (stream: NodeJS.WriteStream = process.stderr, intervalMs = 100) =>
    Layer.sync(Progress, () => {
      const started = new Map<string, number>()
      const lastDraw = new Map<string, number>()
      const last = new Map<string, ProgressUpdate>()
      const drawn = new Map<string, ProgressUpdate>()
      const tty = stream.isTTY === true
      const minGap = tty ? intervalMs : 5000
      const draw = (update: ProgressUpdate, now: number, final: boolean) => {
        drawn.set(update.task, update)
        const line = renderBar(
          update,
          (now - (started.get(update.task) ?? now)) / 1000,
          tty ? (stream.columns ?? 100) : 100,
        )
        stream.write(tty ? `\r\x1b[2K${line}${final ? "\n" : ""}` : `${line}\n`)
      }
      return {
        update: (update) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            if (!started.has(update.task)) started.set(update.task, now)
            last.set(update.task, update)
            const finished = update.total !== undefined && update.done >= update.total
            const previous = lastDraw.get(update.task) // undefined: never drawn, so draw now
            if (finished || previous === undefined || now - previous >= minGap) {
              lastDraw.set(update.task, now)
              draw(update, now, false)
            }
          }),
        finish: (task) =>
          Effect.map(Clock.currentTimeMillis, (now) => {
            const update = last.get(task)
            // A TTY line is redrawn to end it; a log line already shown is not repeated.
            if (update !== undefined && (tty || drawn.get(task) !== update)) draw(update, now, true)
            started.delete(task)
            last.delete(task)
            lastDraw.delete(task)
            drawn.delete(task)
          }),
      }
    })
}
