#!/usr/bin/env node
/**
 * The `ds` command. `pnpm ds <command>` from the workspace root runs this file from source; the published
 * package exposes the built `dist/main.js` as the `ds` bin.
 *
 * A failed command prints one line (the typed error's message and what to do next) and exits 1; the full cause
 * only with `--log-level debug` (`report.ts`). The runtime's own error log is off so nothing is printed twice.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect, Layer } from "effect"
import { Command } from "effect/cli"
import { ds, version } from "./cli.ts"
import { presenter, reportFailure } from "./report.ts"

Command.run(ds, { version }).pipe(
  Effect.catchCause(reportFailure),
  Effect.provide(Layer.mergeAll(NodeServices.layer, presenter)),
  NodeRuntime.runMain({ disableErrorReporting: true }),
)
