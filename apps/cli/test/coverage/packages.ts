/** Rows for the commands of the packages' READMEs (packages/<name>/README.md) that are not `ds` commands. */
import type { CoverageTable } from "./types.ts"

const fromRegistry = (pkg: string) =>
  ({
    kind: "not run",
    why: `installs ${pkg} from the npm registry; packages/attention/test/npm-consumer.test.ts installs the packed tarballs with plain npm in a scratch project instead`,
  }) as const

export const packageRows: CoverageTable = {
  "pnpm tsx --conditions=@ds/source packages/attention/examples/decode.ts": { kind: "run", cwd: "repo", shows: /\S/ },
  "npm install @ds/attention": fromRegistry("@ds/attention"),
  "npm install @ds/core": fromRegistry("@ds/core"),
  "npm install @ds/grpo": fromRegistry("@ds/grpo"),
  "npm install @ds/model": fromRegistry("@ds/model"),
  "npm install @ds/selfverify": fromRegistry("@ds/selfverify"),
  "pnpm add @ds/core effect @tensorflow/tfjs @tensorflow/tfjs-backend-wasm": {
    kind: "not run",
    why: "adds dependencies to the project it runs in (a consumer's); the npm consumer test installs the same set with npm",
  },
  "pnpm vitest run --project @ds/grpo packages/grpo/test/trainer.test.ts": {
    kind: "run",
    cwd: "repo",
    shows: /\b[1-9]\d* passed\b/,
    timeoutMs: 300_000,
  },
  // About a minute alone; over 400 s on a loaded 2-core machine (the test's own timeout allows for that).
  'pnpm vitest run --project @ds/grpo test/addition.test.ts -t "learns 2-digit addition"': {
    kind: "run",
    cwd: "repo",
    shows: /\b[1-9]\d* passed\b/,
    timeoutMs: 600_000,
  },
}
