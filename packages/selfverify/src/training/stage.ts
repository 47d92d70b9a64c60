/**
 * Resumable stages of the training driver (docs/selfverify.md §10): a stage writes its outputs (checkpoint,
 * metrics.jsonl, plots) in its own folder and, when it has finished, `done.json` with its record. A rerun returns
 * the record of a done stage without running it; a stage killed before `done.json` runs again and its trainer
 * resumes from the stage's last checkpoint (@ds/model `trainProgram` / @ds/grpo `runGrpo` resume).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { writeTextAtomicSync } from "@ds/core"
import { RunFileError } from "@ds/grpo"
import { Effect } from "effect"

export const doneFile = (dir: string): string => path.join(dir, "done.json")

const readDone = <A>(dir: string) =>
  Effect.try({
    try: () => {
      const file = doneFile(dir)
      return fs.existsSync(file) ? { record: JSON.parse(fs.readFileSync(file, "utf8")) as A } : undefined
    },
    catch: (error) =>
      new RunFileError({
        path: doneFile(dir),
        reason: `cannot read the stage's done marker (${String(error)}): delete it to rerun the stage`,
      }),
  })

/** Runs `run` unless `dir` holds a done marker; writes the marker with its record when it finishes. */
export const resumableStage = <A, E, R>(dir: string, name: string, run: Effect.Effect<A, E, R>) =>
  Effect.gen(function* () {
    const done = yield* readDone<A>(dir)
    if (done !== undefined) {
      yield* Effect.logInfo(`${name}: done before (${doneFile(dir)}), skipped`)
      return done.record
    }
    yield* Effect.logInfo(`${name}: running in ${dir}`)
    const record = yield* run
    yield* Effect.try({
      try: () => writeTextAtomicSync(doneFile(dir), `${JSON.stringify(record, null, 2)}\n`),
      catch: (error) => new RunFileError({ path: doneFile(dir), reason: String(error) }),
    })
    return record
  })
