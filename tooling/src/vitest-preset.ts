/**
 * The vitest settings every package shares: resolve workspace packages to their TypeScript source
 * (the `@ds/source` export condition), so tests never need a build.
 */
import { defaultServerConditions } from "vite"
import { defineProject, type UserWorkspaceConfig } from "vitest/config"

export const sourceConditions = ["@ds/source", ...defaultServerConditions]

export const dsProject = (name: string, overrides: UserWorkspaceConfig["test"] = {}) =>
  defineProject({
    resolve: { conditions: sourceConditions },
    ssr: { resolve: { conditions: sourceConditions } },
    test: {
      name,
      environment: "node",
      testTimeout: 60_000,
      hookTimeout: 60_000,
      pool: "forks",
      ...overrides,
    },
  })
