/**
 * `ds selfverify data`: cold-start training data of the three roles from the exact oracle of the arithmetic proof
 * domain (docs/selfverify.md §10), as chat JSONL that `ds train --data` reads.
 */
import { compactTemplates, writeColdStartData } from "@ds/selfverify"
import { Console, Effect } from "effect"
import { Command, Flag } from "effect/cli"

export const data = Command.make(
  "data",
  {
    out: Flag.Directory("out").pipe(
      Flag.withDescription("Folder for verifier.jsonl, meta.jsonl, generator.jsonl and all.jsonl"),
      Flag.withDefault("runs/selfverify-data"),
    ),
    perRole: Flag.Int("per-role").pipe(Flag.withDescription("Examples of each role"), Flag.withDefault(1000)),
    seed: Flag.Int("seed").pipe(Flag.withDefault(0)),
    fullPrompts: Flag.Boolean("full-prompts").pipe(
      Flag.withDescription("Use the full rubric prompts instead of the compact ones (for models with a long context)"),
      Flag.withDefault(false),
    ),
    maxOps: Flag.Int("max-ops").pipe(Flag.withDescription("Operations per problem at most"), Flag.withDefault(4)),
  },
  (flags) =>
    Effect.gen(function* () {
      const written = yield* writeColdStartData(flags.out, {
        perRole: flags.perRole,
        seed: flags.seed,
        problemOptions: { minOps: 1, maxOps: flags.maxOps },
        ...(flags.fullPrompts ? {} : { templates: compactTemplates }),
      })
      yield* Console.log(`${written.examples} examples:\n${Object.values(written.files).join("\n")}`)
    }),
).pipe(
  Command.withDescription(
    "Write cold-start SFT data for the verifier, meta-verifier and generator from the arithmetic domain's exact oracle",
  ),
  Command.withExamples([
    {
      command: "ds selfverify data --out runs/selfverify-data --per-role 200",
      description: "600 chat records (and all.jsonl, the three roles shuffled together)",
    },
  ]),
)
