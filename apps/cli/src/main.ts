#!/usr/bin/env node
/**
 * The `ds` command. `pnpm ds <command>` from the workspace root runs this file from source; the published
 * package exposes the built `dist/main.js` as the `ds` bin.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Effect } from "effect"
import { Command } from "effect/cli"
import { ds, version } from "./cli.ts"

Command.run(ds, { version }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
