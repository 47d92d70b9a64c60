// @ts-check
/**
 * The vitest settings every package shares: resolve workspace packages to their TypeScript source
 * (the `@ds/source` export condition), so tests never need a build. Plain JS: vitest loads config imports from
 * node_modules with Node itself, which cannot read TypeScript.
 */
import { defaultServerConditions } from "vite"
import { defineProject } from "vitest/config"

export const sourceConditions = ["@ds/source", ...defaultServerConditions]

/**
 * @param {string} name
 * @param {import("vitest/config").UserWorkspaceConfig["test"]} [overrides]
 */
export const dsProject = (name, overrides = {}) =>
  defineProject({
    resolve: { conditions: sourceConditions },
    ssr: { resolve: { conditions: sourceConditions } },
    test: {
      name,
      environment: "node",
      testTimeout: 120_000,
      hookTimeout: 120_000,
      pool: "forks",
      ...overrides,
    },
  })
