import { defineConfig } from "vitest/config"

// One run over every project; the summary reporter prints the `N passed, N failed, N skipped` line CI reads.
export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*", "tooling"],
    reporters: ["default", "./tooling/src/summary-reporter.ts"],
  },
})
