#!/usr/bin/env node
/**
 * The `ds` command. `pnpm ds <command>` from the workspace root runs this file from source; the published
 * package exposes the built `dist/main.js` as the `ds` bin.
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import { Command } from "effect/cli"
import { ds, version } from "./cli.ts"

Command.run(ds, { version }).pipe(Effect.provide(NodeServices.layer), NodeRuntime.runMain)
