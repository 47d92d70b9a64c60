import { dsProject } from "./src/vitest-preset.js"

export default dsProject("@ds/tooling")
